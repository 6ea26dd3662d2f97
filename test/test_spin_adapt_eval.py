"""MoCap-SPIN site adaptation (BN statistics from unlabeled frames -> new ONNX) and evaluation metrics."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pose_estimation_ros.perception import metadata as model_meta
from training.body.base import SkeletonBody
from training.spin import adapt
from training.spin import data as spin_data
from training.spin.config import config_from_dict
from training.spin.evaluate import PerFrameRunner, frame_metrics, pck, source_split_metrics
from training.spin.finetune import bn_modules
from training.spin.losses import project_weak
from training.spin.train import train

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SIZE = 64


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.set_num_threads(1)
    cfg = config_from_dict({"name": "t", "model": {"backbone": "mobilenet_v3_small", "input_size": SIZE, "hidden": 64,
                                                   "body_model": "skeleton"},
                            "data": {"source": "stick", "val_samples": 0},
                            "train": {"batch_size": 4, "steps": 1, "threads": 1}})
    out = tmp_path_factory.mktemp("spin_run")
    train(cfg, out, progress=False)
    return out / "ckpt_last.pt"


def test_bn_statistics_are_the_frames_statistics_and_nothing_else_changes(ckpt):
    from training.spin.checkpoint import load_model

    model, _ = load_model(ckpt)
    params = {k: v.clone() for k, v in model.named_parameters()}
    first = bn_modules(model)[0]
    seen = []
    h = first.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (6, SIZE, SIZE, 3), dtype=np.uint8))
    n = adapt.adapt_bn_statistics(model, images, batch=3)       # two batches: a cumulative average
    h.remove()
    assert n == len(bn_modules(model)) and len(seen) == 2
    x = torch.cat(seen)                                       # (6, C, H, W) inputs of the first BN layer
    torch.testing.assert_close(first.running_mean, x.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)
    for k, v in model.named_parameters():
        assert torch.equal(v, params[k]), k
    assert not model.training


def test_adapt_cli_writes_onnx_with_the_adaptation_recorded(ckpt, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        cv2.imwrite(str(frames / f"f{i}.png"), rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
    rc = adapt.main(["--ckpt", str(ckpt), "--images", str(frames), "--out", str(tmp_path / "site"), "--threads", "1"])
    assert rc == 0
    meta = model_meta.load_metadata(tmp_path / "site" / "mocap_spin.onnx")
    assert "site-adapted" in meta.training_data and "4 unlabeled frames" in meta.training_data
    assert "image folder" in meta.training_data and meta.trained
    runner = PerFrameRunner(tmp_path / "site" / "mocap_spin.onnx", threads=1)
    out = runner(torch.zeros(2, SIZE, SIZE, 3, dtype=torch.uint8))
    assert out["joints"].shape == (2, 24, 3)
    with pytest.raises(FileNotFoundError, match="no images"):
        adapt.main(["--ckpt", str(ckpt), "--images", str(tmp_path / "site"), "--out", str(tmp_path / "x")])


def test_frame_metrics_by_hand():
    ds = spin_data.StickFigureDataset(SkeletonBody(10), SIZE, 3, seed=2)
    batch = spin_data.collate([spin_data.standardize(ds[i], 10) for i in range(3)])
    gt = batch["joints3d"] - batch["joints3d"][:, :1]
    cam = torch.tensor([[0.5, 0.0, 0.0]]).repeat(3, 1)
    out = {"joints": gt.clone(), "cam": cam, "pose6d": torch.zeros(3, 24, 6), "betas": torch.zeros(3, 10)}
    batch["joints2d"] = (project_weak(gt, cam) + 1) * SIZE / 2
    r = frame_metrics(out, batch)
    assert r["mpjpe"] == pytest.approx(0.0, abs=1e-6) and r["pa_mpjpe"] == pytest.approx(0.0, abs=1e-3)
    assert r["pck@0.1"] == 1.0
    shifted = dict(out, joints=gt + torch.tensor([0.0, 0.0, 0.05]) * (torch.arange(24)[None, :, None] > 0))
    r = frame_metrics(shifted, batch)
    assert r["mpjpe"] == pytest.approx(50.0 * 23 / 24, rel=1e-4)   # 5 cm on 23 of 24 joints
    assert pck(torch.zeros(1, 2, 2), torch.tensor([[[0.0, 6.0], [0.0, 7.0]]]), torch.ones(1, 2), SIZE) == 0.5



def test_metrics_split_by_whether_the_2d_source_found_the_person():
    ds = spin_data.StickFigureDataset(SkeletonBody(10), SIZE, 4, seed=3)
    batch = spin_data.collate([spin_data.standardize(ds[i], 10) for i in range(4)])
    gt = batch["joints3d"] - batch["joints3d"][:, :1]
    cam = torch.tensor([[0.5, 0.0, 0.0]]).repeat(4, 1)
    # samples 0 and 2 exact; 1 and 3 off by 4 cm on every joint but the root
    off = torch.tensor([0.0, 0.04, 0.0]) * (torch.arange(24)[None, :, None] > 0) * torch.tensor([0, 1, 0, 1])[:, None, None]
    out = {"joints": gt + off, "cam": cam, "pose6d": torch.zeros(4, 24, 6), "betas": torch.zeros(4, 10)}
    kp = torch.zeros(4, 17, 3)
    kp[[0, 1, 3], 5, 2] = 0.9                   # the source found people 0, 1 and 3 (one confident keypoint is enough)
    r = source_split_metrics(out, batch, kp)
    assert r["source found"]["n"] == 3 and r["source missed"]["n"] == 1
    assert r["source found"]["mpjpe"] == pytest.approx(40.0 * 23 / 24 * 2 / 3, rel=1e-4)   # two of three off
    assert r["source missed"]["mpjpe"] == pytest.approx(0.0, abs=1e-6)                    # person 2, exact
    kp[:, 5, 2] = 0.9
    assert list(source_split_metrics(out, batch, kp)) == ["source found"]     # an empty subset is left out


def test_video_predictions_feed_posebert_evaluation_and_the_noise_fit(ckpt, tmp_path):
    """The per-frame estimates of rendered clips (``--video-preds``) are what PoseBERT's evaluation and the fitted
    noise model read: one sequence per clip, frames in time order, the ground truth beside the estimates."""
    import roma

    from training.geometry.rotations import rotmat_to_rot6d
    from training.posebert.evaluate import clips_from_predictions
    from training.posebert.noise_model import fit_noise_model
    from training.spin.evaluate import video_predictions

    class Fixed:     # a "per-frame model" whose estimate is the truth turned by 10 deg about x at every joint
        def __init__(self):
            self.turn = roma.rotvec_to_rotmat(torch.tensor([np.radians(10.0), 0.0, 0.0], dtype=torch.float32))

        def __call__(self, images, rot):
            pred = rot @ self.turn
            return {"pose6d": rotmat_to_rot6d(pred), "betas": torch.zeros(len(rot), 10)}

    g = torch.Generator().manual_seed(0)
    clips = [{"image": torch.zeros(n, SIZE, SIZE, 3, dtype=torch.uint8),
              "rotmats": roma.random_rotmat(n * 24, generator=g).reshape(n, 24, 3, 3),
              "shape": torch.full((10,), 0.5), "sequence": f"clip_a@{k}"} for k, n in enumerate((5, 7))]
    model = Fixed()
    outs = [model(c["image"], c["rotmats"]) for c in clips]
    z = video_predictions(clips, None, outs)
    assert z["pred_pose6d"].shape == (12, 24, 6) and z["gt_rotmats"].shape == (12, 24, 3, 3)
    assert list(z["sequence"][:5]) == ["clip_a@0#0"] * 5 and list(z["sequence"][5:]) == ["clip_a@1#1"] * 7
    assert z["valid"].all() and np.allclose(z["gt_betas"], 0.5)
    np.savez(tmp_path / "preds.npz", **z)
    back = clips_from_predictions(tmp_path / "preds.npz")
    assert [len(c.valid) for c in back] == [5, 7]
    fit = fit_noise_model(z["pred_pose6d"], z["gt_rotmats"], z["sequence"])
    np.testing.assert_allclose(np.degrees(fit.mean[:, 0]), 10.0, atol=1e-3)    # the constant 10 deg turn, as a bias
    np.testing.assert_allclose(fit.mean[:, 1:], 0.0, atol=1e-6)


def test_keypoint_fit_rows_use_the_runtimes_fit_on_crops():
    """``--keypoint-fit``: a model whose left wrist is 0.16 m off (the rest exact) and keypoints that show the true body
    (the crop projection of the ground truth): the limb fit brings the wrist back (exactly: the forearm turned at the
    wrist's depth), the bones keep their lengths; with the camera refit first (camera_limbs) to ~3 cm, since the camera
    fit also sees the wrong wrist."""
    from pose_estimation_ros import skeleton
    from training.spin.evaluate import keypoint_fit_outputs

    size = 128
    body = torch.as_tensor(skeleton.REST_JOINTS * np.array([1.0, -1.0, 1.0]), dtype=torch.float32)[None]
    cam = torch.tensor([[1.5, 0.0, 0.0]])
    wrist, elbow = skeleton.JOINT_NAMES.index("left_wrist"), skeleton.JOINT_NAMES.index("left_elbow")
    pred = body.clone()
    d = pred[0, wrist] - pred[0, elbow]
    pred[0, wrist] = pred[0, elbow] + torch.stack([d[0] * 0.8, d.norm() * 0.6, d[2]])   # same length, turned down
    uv = (project_weak(body, cam) + 1) * size / 2                                          # crop px of the truth
    kp = np.zeros((1, 17, 3), np.float32)
    for c, name in ((5, "left_shoulder"), (6, "right_shoulder"), (7, "left_elbow"), (9, "left_wrist"),
                    (11, "left_hip"), (12, "right_hip")):
        kp[0, c] = (*uv[0, skeleton.JOINT_NAMES.index(name)].numpy(), 0.9)
    out = {"joints": pred, "cam": cam, "pose6d": torch.zeros(1, 24, 6), "betas": torch.zeros(1, 10)}
    bones = lambda j: torch.stack([(j[0, a] - j[0, p]).norm() for a, p in skeleton.BONES])  # noqa: E731
    before = float((pred[0, wrist] - body[0, wrist]).norm())
    assert before > 0.15
    fitted = keypoint_fit_outputs(out, kp, size)
    assert float((fitted["joints"][0, wrist] - body[0, wrist]).norm()) < 0.01
    torch.testing.assert_close(fitted["cam"], cam)                          # limbs only: the model's camera
    torch.testing.assert_close(bones(fitted["joints"]), bones(pred), atol=1e-5, rtol=0)
    fitted = keypoint_fit_outputs(out, kp, size, camera=True)
    after = float((fitted["joints"][0, wrist] - body[0, wrist]).norm())
    assert after < 0.25 * before, (before, after)
    torch.testing.assert_close(bones(fitted["joints"]), bones(pred), atol=1e-5, rtol=0)
    torch.testing.assert_close(fitted["cam"], cam, atol=0.1, rtol=0)        # the keypoints mostly agree with it
