"""Per-frame and temporal models on a chosen body model: the joints-only body forward inside the exported
ONNX graphs (anny, synthetic SMPL), metadata, checkpoints choosing the body, the runtime refusing a
per-frame / temporal pair on different bodies, and the default skeleton path unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import roma
import torch

from pose_estimation_ros.perception import metadata as model_meta
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.perception.metadata import ModelMetadataError, normalize_body_model
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline, default_model_dir
from training import export
from training.body import SkeletonBody, SkeletonFK, make_body_model
from training.geometry.rotations import rot6d_to_rotmat
from training.models.posebert import PoseBERT
from training.models.spin import PerFrameRegressor
from training.posebert.checkpoint import build_model
from training.posebert.config import config_from_dict
from training.posebert.train import train

ROOT = Path(__file__).resolve().parents[1]
CKPTS = {"posebert.onnx": ROOT / "runs/posebert_causal_v6a/ckpt_best.pt",   # stage 3, posebert_causal.yaml
         "posebert_lag4.onnx": ROOT / "runs/posebert_lag4/ckpt_best.pt"}
T = 8   # window of the small exported temporal models
SMALL = ["--input-size", "64", "--window", str(T), "--temporal-layers", "1", "--temporal-dim", "32",
         "--temporal-heads", "2", "--temporal-ffn", "64"]
SMALL_ARCH = {"lag": 0, "num_layers": 1, "dim": 32, "heads": 2, "ffn_dim": 64}
ATOL = 1e-4   # metres


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def anny_body():
    pytest.importorskip("anny")
    return make_body_model("anny")          # ~1 s with Anny's on-disk cache


@pytest.fixture(scope="module")
def anny_models(tmp_path_factory, anny_body):
    out = tmp_path_factory.mktemp("anny_models")
    assert export.main(["--out", str(out), "--body", "anny", *SMALL]) == 0    # includes onnx-vs-torch checks
    return out




@pytest.fixture(scope="module")
def skeleton_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("skeleton_models")
    assert export.main(["--out", str(out), "--body", "skeleton", *SMALL]) == 0
    return out


def _run(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def _rotmat_6d(pose6d) -> torch.Tensor:
    """6D -> rotation matrix independently of the model code (roma's Gram-Schmidt, columns a1, a2)."""
    x = torch.as_tensor(pose6d, dtype=torch.float32)
    return roma.special_gramschmidt(torch.stack((x[..., :3], x[..., 3:]), dim=-1))


def _temporal_feeds(model, seed=0, shape_std=0.3):
    pose, _, valid = export.temporal_example_inputs(model, batch=2, seed=seed)
    betas = shape_std * torch.randn(2, model.window, model.num_betas, generator=torch.Generator().manual_seed(seed))
    return dict(zip(model_meta.TEMPORAL_INPUTS, (pose, betas, valid)))


def _check_temporal(path, model, body):
    """onnxruntime joints == torch joints == body.joints(6D -> R of the ONNX poses, betas), at the read-out slot
    (the exported graph's ``joints`` hold that slot only: metadata ``joints_frames: readout``)."""
    feeds = _temporal_feeds(model)
    pose_out, joints = _run(path, {k: v.numpy() for k, v in feeds.items()})
    i = model.readout_index
    assert joints.shape == (2, 1, 24, 3)
    with torch.no_grad():
        ref_pose, ref_joints = model(*feeds.values())
        ref_joints = ref_joints[:, i:i + 1]
        rot = _rotmat_6d(pose_out[:, i])
        betas = feeds["betas"][:, i]
        indep = body.joints(rot, betas).reshape(joints.shape).numpy()
        rest_only = body.joints(rot, torch.zeros_like(betas)).reshape(joints.shape).numpy()
    np.testing.assert_allclose(pose_out, ref_pose.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(joints, ref_joints.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(joints, indep, atol=ATOL, rtol=0)
    assert np.abs(joints - rest_only).max() > 1e-2          # the shape input really reaches the joints


def _check_meta(folder, body_name, num_betas):
    for f in (export.PER_FRAME_FILE, export.TEMPORAL_FILE):
        meta = model_meta.load_metadata(folder / f)
        assert meta.num_betas == num_betas and meta.architecture["body_model"] == body_name, f


# ------------------------------------------------------------------------------------ anny export
def test_anny_export_joints_are_the_body_joints(anny_models, anny_body):
    _check_meta(anny_models, "anny", anny_body.num_shape)
    # per-frame: the CLI's model is the seeded one built here
    spin = export.build_per_frame("resnet18", seed=0, body=anny_body)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    pose6d, betas, cam, joints = _run(anny_models / export.PER_FRAME_FILE, {"image": images.numpy()})
    assert betas.shape == (2, 6) and joints.shape == (2, 24, 3)
    with torch.no_grad():
        ref = spin(images)
        indep = anny_body.joints(_rotmat_6d(pose6d), torch.as_tensor(betas)).numpy()
    for got, want in zip((pose6d, betas, cam, joints), ref):
        np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(joints, indep, atol=ATOL, rtol=0)
    # the neutral body's bone lengths (body_scale neutral) are those of the exported graph with zero shape
    from pose_estimation_ros import skeleton
    bones = model_meta.load_metadata(anny_models / export.PER_FRAME_FILE).architecture["neutral_bones_m"]
    with torch.no_grad():
        rest = anny_body.joints(torch.eye(3).expand(1, 24, 3, 3), torch.zeros(1, anny_body.num_shape))[0].numpy()
    np.testing.assert_allclose(bones, [np.linalg.norm(rest[j] - rest[p]) for j, p in skeleton.BONES], atol=1e-4)
    assert 0.4 < bones[skeleton.BONES.index((4, 1))] < 0.5          # a thigh of an adult
    # temporal: betas are a graph input, so the anny shape path is exercised with real shapes
    bert = export.build_temporal(T, seed=0, body=anny_body, **SMALL_ARCH)
    _check_temporal(anny_models / export.TEMPORAL_FILE, bert, anny_body)


def test_synthetic_smpl_export(tmp_path, smpl_dir):
    out = tmp_path / "smpl"
    assert export.main(["--out", str(out), "--body", "smpl", "--smpl-model-path", str(smpl_dir), *SMALL]) == 0
    _check_meta(out, "smpl", 10)
    body = make_body_model("smpl", model_path=smpl_dir)
    bert = export.build_temporal(T, seed=0, body=body, **SMALL_ARCH)
    _check_temporal(out / export.TEMPORAL_FILE, bert, body)
    assert not any(k.startswith("body.") for k in bert.state_dict())   # the SMPL data stays out of checkpoints


# ------------------------------------------------------------------------------ runtime consistency
def test_runtime_refuses_per_frame_and_temporal_on_different_bodies(tmp_path, anny_models, skeleton_models):
    anny_pf, anny_tm = anny_models / export.PER_FRAME_FILE, anny_models / export.TEMPORAL_FILE
    skel_pf, skel_tm = skeleton_models / export.PER_FRAME_FILE, skeleton_models / export.TEMPORAL_FILE
    with pytest.raises(ModelMetadataError, match="different body models.*'skeleton'.*'anny'"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(anny_pf), temporal_model=str(skel_tm), window=T))
    with pytest.raises(ModelMetadataError, match="different body models.*'anny'.*'skeleton'"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(skel_pf), temporal_model=str(anny_tm), window=T))
    # The anny pair runs end to end: 6 betas go through the window into the temporal model.
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(anny_pf), temporal_model=str(anny_tm), window=T,
                                               crop="full"))
    res = pipe.process(np.zeros((48, 64, 3), np.uint8), 1_000_000, Intrinsics(64, 48, 60.0, 60.0, 32.0, 24.0))
    assert res.outcome == "ok" and res.estimates[0].temporal
    # 'skeleton' (new exports) == 'skeleton_fk_linear_scale' (older metadata) ...
    assert normalize_body_model("skeleton_fk_linear_scale") == normalize_body_model(None) == "skeleton"
    skel = PoseBERT(window=16, num_layers=1, dim=32, heads=2, ffn_dim=64, attention="causal").eval()
    path = export.export_temporal(skel, tmp_path / "skel.onnx")
    model_meta.write_metadata(path, export.temporal_metadata(skel, export.DEFAULT_OPSET, seed=0))
    assert model_meta.load_metadata(path).architecture["body_model"] == "skeleton"
    PerceptionPipeline(PerceptionConfig(per_frame_model=str(skel_pf), temporal_model=str(path)))
    # ... but the same body with another shape size is refused too
    skel12 = PoseBERT(window=16, num_layers=1, dim=32, heads=2, ffn_dim=64, attention="causal", num_betas=12).eval()
    path = export.export_temporal(skel12, tmp_path / "skel12.onnx")
    model_meta.write_metadata(path, export.temporal_metadata(skel12, export.DEFAULT_OPSET, seed=0))
    with pytest.raises(ModelMetadataError, match=r"'skeleton' \(12 shape parameters\).*'skeleton' \(10\)"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(skel_pf), temporal_model=str(path)))
    # and the committed pair agrees on its body
    committed = default_model_dir()
    PerceptionPipeline(PerceptionConfig(per_frame_model=str(committed / "mocap_spin.onnx"),
                                        temporal_model=str(committed / "posebert.onnx")))


# ------------------------------------------------------------------------------ default: unchanged
def test_default_skeleton_body_is_the_old_fk_bit_for_bit():
    torch.manual_seed(0)
    spin = PerFrameRegressor("resnet18").eval()
    assert isinstance(spin.body, SkeletonBody) and spin.num_betas == spin.body.num_shape == 10
    assert not any(k.startswith("body") for k in spin.state_dict())
    torch.manual_seed(1)
    bert = PoseBERT(window=T, num_layers=1, dim=32, heads=2, ffn_dim=64, attention="causal").eval()
    torch.nn.init.normal_(bert.regressor[-1].weight, std=0.05)
    fk = SkeletonFK()
    with torch.no_grad():
        pose6d, betas, _, joints = spin(torch.randn(2, 3, 64, 64))
        assert torch.equal(joints, fk(rot6d_to_rotmat(pose6d), betas))
        feeds = export.temporal_example_inputs(bert, batch=2, seed=4)
        pose_out, joints = bert(*feeds)
        assert torch.equal(joints, fk(rot6d_to_rotmat(pose_out), feeds[1]))      # the old (B, T) FK call


@pytest.mark.parametrize("fname", sorted(CKPTS))
def test_committed_checkpoints_load_strictly_and_reexport_identically(tmp_path, fname):
    ckpt = CKPTS[fname]
    if not ckpt.is_file():
        pytest.skip(f"{ckpt} not present")
    committed = default_model_dir() / fname
    meta = model_meta.load_metadata(committed)
    body = export.checkpoint_body(ckpt)
    if body != normalize_body_model(meta.architecture["body_model"]):
        pytest.skip(f"{ckpt} is from another run than the committed {fname} (body {body})")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model = build_model(state["model_config"]).eval()
    model.load_state_dict(state["model"], strict=True)
    assert normalize_body_model(meta.architecture["body_model"]) == model.body.name
    path = export.export_temporal(export.build_temporal(16, seed=0, ckpt=ckpt), tmp_path / fname)
    feeds = {k: v.numpy() for k, v in _temporal_feeds(model, seed=2, shape_std=1.0).items()}
    for new, old in zip(_run(path, feeds), _run(committed, feeds)):
        np.testing.assert_allclose(new, old, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------ checkpoints choose the body
def test_trained_anny_checkpoint_exports_with_its_body(tmp_path, anny_body):
    cfg = config_from_dict({
        "name": "anny", "model": {"window": T, "num_layers": 1, "dim": 32, "heads": 4, "ffn_dim": 64,
                                  "body_model": "anny", "num_betas": 6},
        "data": {"synthetic": True, "synthetic_sequences": 6, "synthetic_frames": 30},
        "train": {"steps": 2, "batch_size": 4, "val_every": 2, "ckpt_every": 2, "log_every": 1, "warmup_steps": 1}})
    train(cfg, tmp_path / "run", progress=False)
    ckpt = tmp_path / "run" / "ckpt_best.pt"
    assert export.checkpoint_body(ckpt) == "anny"
    assert not any(k.startswith("body.") for k in torch.load(ckpt, weights_only=True)["model"])
    out = tmp_path / "models"
    assert export.main(["--out", str(out), "--temporal-ckpt", str(ckpt), *SMALL]) == 0   # no --body: from ckpt
    _check_meta(out, "anny", 6)
    assert model_meta.load_metadata(out / export.TEMPORAL_FILE).trained
    # --missing-only keeps models made for this body and re-exports those made for another one
    assert export._usable(out / export.PER_FRAME_FILE, model_meta.KIND_PER_FRAME, anny_body)
    assert not export._usable(out / export.PER_FRAME_FILE, model_meta.KIND_PER_FRAME, SkeletonBody())
    # an explicit --body contradicting a checkpoint is an error, before anything is built
    with pytest.raises(SystemExit):
        export.main(["--out", str(out), "--temporal-ckpt", str(ckpt), "--body", "skeleton"])
    # a config whose num_betas does not fit the body is refused with the reason
    with pytest.raises(ValueError, match="num_betas=10 but the 'anny' body model has 6"):
        build_model({"window": T, "num_layers": 1, "dim": 32, "heads": 4, "ffn_dim": 64, "body_model": "anny"},
                    body=anny_body)
    with pytest.raises(ValueError, match="body_model 'skeleton'"):
        build_model({"window": T, "num_layers": 1, "dim": 32, "heads": 4, "ffn_dim": 64}, body=anny_body)
    json.loads((out / "posebert.json").read_text())   # metadata stays plain JSON
