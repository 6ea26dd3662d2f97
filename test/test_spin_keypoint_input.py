"""Keypoint-input MoCap-SPIN: keypoint conventions, noise model, lifting batches, training, export and runtime feed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pose_estimation_ros.perception import metadata as model_meta
from pose_estimation_ros.perception.crop import CropBox
from pose_estimation_ros.perception.inference import ModelMetadataError, load_per_frame
from pose_estimation_ros.perception.keypoint_input import keypoints_in_crop
from pose_estimation_ros import skeleton
from training import export
from training.body.base import SkeletonBody
from training.models.spin import PerFrameRegressor, widen_fc1
from training.spin import data as spin_data
from training.spin.config import config_from_dict
from training.spin.keypoints import (COCO17_FLIP, KeypointNoise, fit_noise, flip_keypoints_px, keypoint_input_tensor,
                                     normalize_keypoints_px)
from training.spin.lifting import LiftingBatches
from training.spin.losses import SpinLoss
from training.spin.shard_keypoints import crop_intrinsics
from training.spin.train import training_step

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SIZE = 64


def test_keypoints_in_crop_hand_computed():
    box = CropBox(cx=100.0, cy=50.0, size=200.0)          # x 0..200, y -50..150
    kp = np.zeros((17, 3))
    kp[0] = [100, 50, 0.9]        # centre -> (0, 0)
    kp[1] = [0, -50, 1.0]         # top-left corner -> (-1, -1)
    kp[2] = [150, 100, 2.0]       # -> (0.5, 0.5), confidence clipped to 1
    kp[3] = [np.nan, 10, 0.8]     # non-finite -> missing
    kp[4] = [10, 10, np.nan]
    out = keypoints_in_crop(kp, box, 128)
    assert out.shape == (1, 17, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [0, 0, 0.9], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [-1, -1, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[0, 2], [0.5, 0.5, 1.0], atol=1e-6)
    assert np.all(out[0, 3:] == 0)        # kp 3, 4 missing; 5.. confidence 0
    assert np.all(keypoints_in_crop(None, box, 128) == 0)
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        keypoints_in_crop(np.zeros((33, 3)), box, 128)


def test_training_and_runtime_keypoint_conventions_agree():
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, SIZE, (5, 17, 2)), rng.uniform(0, 1, (5, 17, 1))], -1).astype(np.float32)
    kp[0, 3, 2] = 0.0
    a = normalize_keypoints_px(kp, SIZE)
    b = keypoint_input_tensor(torch.from_numpy(kp), SIZE).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.all(a[0, 3] == 0)
    # the runtime's crop of the identity box gives the same input as training's crop pixels
    box = CropBox(cx=SIZE / 2, cy=SIZE / 2, size=SIZE)
    np.testing.assert_allclose(keypoints_in_crop(kp[1], box, SIZE)[0], a[1], atol=1e-5)


def test_flip_keypoints_swaps_sides_and_is_an_involution():
    kp = np.random.default_rng(1).uniform(0, SIZE, (17, 3)).astype(np.float32)
    f = flip_keypoints_px(kp, SIZE)
    assert COCO17_FLIP[5] == 6 and COCO17_FLIP[0] == 0            # left_shoulder <-> right_shoulder, nose
    np.testing.assert_allclose(f[6, 0], SIZE - 1 - kp[5, 0])
    np.testing.assert_allclose(flip_keypoints_px(f, SIZE), kp, atol=1e-5)


def test_noise_model_fit_recovers_bias_std_and_miss_rate_and_samples_them():
    rng = np.random.default_rng(2)
    n, side = 4000, 128.0
    truth = rng.uniform(20, 100, (n, 17, 2))
    bias = np.linspace(-0.03, 0.03, 34).reshape(17, 2)
    pred = truth + (bias + 0.02 * rng.standard_normal((n, 17, 2))) * side
    conf = rng.uniform(0.5, 1.0, (n, 17, 1))
    kp = np.concatenate([pred, conf], -1)
    kp[: n // 10] = 0.0                                           # 10% missed
    noise = fit_noise(kp, truth, side, "synthetic")
    assert abs(noise.miss_rate - 0.1) < 1e-6 and noise.n == n - n // 10
    np.testing.assert_allclose(noise.bias, bias, atol=0.002)
    np.testing.assert_allclose(noise.std, 0.02, atol=0.002)
    draw = noise.sample(truth[:2000], side, rng)
    hit = draw[..., 2].max(-1) > 0
    assert 0.05 < 1 - hit.mean() < 0.15
    off = (draw[hit, :, :2] - truth[:2000][hit]) / side
    np.testing.assert_allclose(off.mean(0), bias, atol=0.004)
    with pytest.raises(ValueError, match="found keypoints in only"):
        fit_noise(np.zeros((5, 17, 3)), truth[:5], side, "none")


def test_crop_intrinsics_are_recovered_exactly():
    rng = np.random.default_rng(3)
    j3 = np.concatenate([rng.uniform(-0.8, 0.8, (4, 24, 2)), rng.uniform(3, 6, (4, 24, 1))], -1)
    f, c = np.array([300.0, 200, 250, 410]), np.array([[60, 70], [50, 40], [64, 64], [10, 90]])
    j2 = f[:, None, None] * j3[..., :2] / j3[..., 2:] + c[:, None]
    sol, res = crop_intrinsics(j3, j2)
    np.testing.assert_allclose(sol[:, 0], f, rtol=1e-9)
    np.testing.assert_allclose(sol[:, 1:], c, atol=1e-6)
    assert res < 1e-6


def _kp_model(seed: int = 0) -> PerFrameRegressor:
    torch.manual_seed(seed)
    return PerFrameRegressor("mobilenet_v3_small", hidden=64, dropout=0.0, body=SkeletonBody(10),
                             keypoint_input="coco17", keypoint_hidden=32).eval()


def test_widened_image_only_checkpoint_gives_the_image_only_outputs():
    torch.manual_seed(0)
    old = PerFrameRegressor("mobilenet_v3_small", hidden=64, dropout=0.0, body=SkeletonBody(10)).eval()
    for p in old.parameters():               # non-trivial decoders so that the outputs depend on the input
        p.data += 0.01 * torch.randn_like(p)
    new = _kp_model(1)
    new.load_state_dict(widen_fc1(old.state_dict(), new))
    x = torch.randn(2, 3, SIZE, SIZE)
    kp = torch.rand(2, 17, 3)
    with torch.no_grad():
        a, b = old(x), new(x, kp)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)
    with pytest.raises(ValueError, match="keypoint_input"):
        PerFrameRegressor("mobilenet_v3_small", body=SkeletonBody(10), keypoint_input="coco33")


def test_imageless_rows_follow_and_depend_only_on_their_keypoints():
    m = _kp_model()
    for p in m.parameters():
        p.data += 0.01 * torch.randn_like(p)
    x = torch.randn(2, 3, SIZE, SIZE)
    kp, extra = torch.rand(2, 17, 3), torch.rand(3, 17, 3)
    with torch.no_grad():
        out = m(x, kp, imageless_keypoints=extra)
        alone = m.regress(torch.zeros(3, m.feat_dim), extra)
        other_images = m(torch.randn(2, 3, SIZE, SIZE), kp, imageless_keypoints=extra)
        moved = m(x, kp, imageless_keypoints=extra + 0.2)
    assert out[3].shape == (5, 24, 3)
    torch.testing.assert_close(out[3][2:], alone[3])
    torch.testing.assert_close(out[3][2:], other_images[3][2:])
    assert not torch.allclose(out[3][2:], moved[3][2:])


BODY_KP = [skeleton.JOINT_NAMES.index(n) for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                                                     "left_wrist", "right_wrist", "left_hip", "right_hip",
                                                     "left_knee", "right_knee", "left_ankle", "right_ankle")]


def _table(path, n: int = 64, seed: int = 0) -> None:
    """Bodies in random poses; COCO body keypoints = the canonical joints of the same name, face = head."""
    import roma
    g = torch.Generator().manual_seed(seed)
    body = SkeletonBody(10)
    rot = roma.rotvec_to_rotmat(0.4 * torch.randn(n, 24, 3, generator=g))
    with torch.no_grad():
        j = body.joints(rot, torch.zeros(n, 10)).numpy() + np.array([0, 0, 4.0])
    j2 = 300 * j[..., :2] / j[..., 2:] + 64
    coco = np.concatenate([np.repeat(j2[:, [skeleton.JOINT_NAMES.index("head")]], 5, 1), j2[:, BODY_KP]], 1)
    np.savez(path, joints2d=j2.astype(np.float32), coco2d=coco.astype(np.float32), joints3d=j.astype(np.float32),
             rotmats=rot.numpy(), shape=np.zeros((n, 10), np.float32), size=np.asarray(128))


def test_lifting_keypoints_stay_on_their_joints_through_the_mirror(tmp_path):
    _table(tmp_path / "t.npz")
    exact = KeypointNoise(bias=np.zeros((17, 2)).tolist(), std=np.zeros((17, 2)).tolist(),
                          gross_rate=np.zeros(17).tolist(), conf=np.ones((17, 3)).tolist(), miss_rate=0.0)
    b = LiftingBatches(tmp_path / "t.npz", exact, 128, seed=1).batch(40)
    # about half of them are mirrored (flip_sample): their keypoints must be mirrored with them, exactly once
    np.testing.assert_allclose(b["keypoints"][:, 5:, :2], b["joints2d"][:, BODY_KP], atol=1e-4)


def test_lifting_batches_and_a_training_step_with_imageless_samples(tmp_path):
    _table(tmp_path / "t.npz")
    noise = KeypointNoise()
    lb = LiftingBatches(tmp_path / "t.npz", noise, SIZE, seed=0)
    b = lb.batch(6)
    assert b["keypoints"].shape == (6, 17, 3) and not bool(b["has_image"].any())
    assert float(b["joints2d"].max()) < 128            # rescaled from the table's 128 px to 64 px crops
    cfg = config_from_dict({"model": {"backbone": "mobilenet_v3_small", "input_size": SIZE, "hidden": 64,
                                      "dropout": 0.0, "body_model": "skeleton", "keypoint_input": "coco17",
                                      "keypoint_hidden": 32},
                            "data": {"source": "stick", "lifting_per_batch": 5, "keypoint_dropout": 0.0}})
    ds = spin_data.StickFigureDataset(SkeletonBody(10), SIZE, 4, seed=0)
    batch = spin_data.collate([spin_data.standardize(ds[i], 10) for i in range(4)])
    assert batch["keypoints"].shape == (4, 17, 3)
    model = _kp_model().train()
    seen = {}
    orig = model.forward

    def spy(*args, **kw):
        seen.update(n_img=args[0].shape[0], n_extra=kw["imageless_keypoints"].shape[0])
        return orig(*args, **kw)

    model.forward = spy
    loss, parts = training_step(model, SpinLoss(cfg.loss, SIZE), batch, cfg, lifting=lb)
    assert seen == {"n_img": 4, "n_extra": 5} and torch.isfinite(loss)
    loss.backward()
    assert model.kp_fc1.weight.grad is not None and float(model.kp_fc1.weight.grad.abs().sum()) > 0
    # keypoint-only steps: lifting_only_batch image-less samples, no backbone pass
    model.zero_grad(set_to_none=True)
    seen.clear()
    cfg.data.lifting_only_batch = 7
    loss, _ = training_step(model, SpinLoss(cfg.loss, SIZE), batch, cfg, lifting=lb, lifting_only=True)
    loss.backward()
    assert seen == {"n_img": 0, "n_extra": 7}
    assert all(p.grad is None for p in model.encoder.parameters()) and model.fc1.weight.grad is not None
    with pytest.raises(FileNotFoundError, match="lifting table"):
        LiftingBatches(tmp_path / "missing.npz", noise, SIZE)


def test_keypoint_model_exports_and_the_runtime_checks_its_inputs(tmp_path):
    m = _kp_model()
    for p in m.parameters():
        p.data += 0.01 * torch.randn_like(p)
    path = export.export_per_frame(m, tmp_path / "kp.onnx", SIZE)
    meta = export.per_frame_metadata(m, SIZE, export.DEFAULT_OPSET, 0)
    assert meta.keypoint_input == "coco17"
    model_meta.write_metadata(path, meta)
    inputs = export.per_frame_example_inputs(m, SIZE, 2, torch.Generator().manual_seed(0))
    assert list(inputs) == [model_meta.PER_FRAME_INPUT, model_meta.PER_FRAME_KEYPOINTS]
    diffs = export.compare_onnx(m, path, inputs, model_meta.PER_FRAME_OUTPUTS)
    assert max(diffs.values()) < 1e-4, diffs
    rt = load_per_frame(path, joint_names=list(skeleton.JOINT_NAMES))
    assert rt.per_frame_inputs == ("image", "keypoints")
    a = rt.run({k: v.numpy() for k, v in inputs.items()})[3]
    moved = dict(inputs, keypoints=inputs["keypoints"] * 0.5)
    assert not np.allclose(a, rt.run({k: v.numpy() for k, v in moved.items()})[3])
    # metadata that hides the keypoint input is refused (graph tensors differ from the interface)
    meta.keypoint_input = "none"
    model_meta.write_metadata(path, meta)
    with pytest.raises(ModelMetadataError, match="interface"):
        load_per_frame(path, joint_names=list(skeleton.JOINT_NAMES))
    meta.keypoint_input = "coco33"
    model_meta.write_metadata(path, meta)
    with pytest.raises(ModelMetadataError, match="keypoint_input 'coco33'"):
        load_per_frame(path, joint_names=list(skeleton.JOINT_NAMES))


class _OnePerson:
    """A detector (no following) that finds one person with keypoints on every call."""

    name = "one person"

    def __init__(self, box, kp) -> None:
        self.box, self.kp, self.calls = np.asarray(box, np.float32), np.asarray(kp, np.float32), 0

    def detect(self, rgb, known=()):
        from pose_estimation_ros.perception.detectors import Detection
        self.calls += 1
        return [Detection(self.box, 0.9, self.kp)]


def test_pipeline_feeds_this_frames_keypoints_in_the_crop_and_none_between_detector_runs(tmp_path):
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    m = _kp_model()
    path = export.export_per_frame(m, tmp_path / "kp.onnx", SIZE)
    model_meta.write_metadata(path, export.per_frame_metadata(m, SIZE, export.DEFAULT_OPSET, 0))
    box = (120, 40, 200, 200)
    t = np.linspace(0.1, 0.9, 17)
    kp = np.stack([120 + 80 * t, 40 + 160 * t[::-1], np.full(17, 0.8)], 1)
    det = _OnePerson(box, kp)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(path), temporal_model="none", detect_every=3),
                              detector=det)
    fed = []
    run = pipe.per_frame.run
    pipe.per_frame.run = lambda feeds: fed.append({k: v.copy() for k, v in feeds.items()}) or run(feeds)
    intr = Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)
    img = np.full((240, 320, 3), 90, np.uint8)
    for k in range(3):
        pipe.process(img, (k + 1) * 33_000_000, intr)
    assert det.calls == 1 and len(fed) == 3
    first = fed[0]["keypoints"]
    assert first.shape == (1, 17, 3)
    from pose_estimation_ros.perception.crop import box_from_keypoints
    crop = box_from_keypoints(kp.astype(np.float32), (240, 320), pipe.limits)      # the crop of the detector frame
    np.testing.assert_allclose(first, keypoints_in_crop(kp, crop, SIZE), atol=1e-5)
    assert np.all(first[0, :, 2] == np.float32(0.8)) and np.all(np.abs(first[0, :, :2]) < 1)
    # between detector runs (crop followed from the model's projection) the model gets no keypoints
    assert np.all(fed[1]["keypoints"] == 0) and np.all(fed[2]["keypoints"] == 0)


def test_train_with_keypoint_only_then_joint_steps_and_resume(tmp_path):
    from training.spin.train import train

    _table(tmp_path / "t.npz")
    KeypointNoise().save(tmp_path / "noise.json")
    cfg = config_from_dict({"name": "kp", "model": {"backbone": "mobilenet_v3_small", "input_size": SIZE, "hidden": 64,
                                                    "dropout": 0.0, "body_model": "skeleton",
                                                    "keypoint_input": "coco17", "keypoint_hidden": 32},
                            "data": {"source": "stick", "val_samples": 0, "lifting_table": str(tmp_path / "t.npz"),
                                     "keypoint_noise": str(tmp_path / "noise.json"), "lifting_per_batch": 3,
                                     "lifting_only_steps": 1, "lifting_only_batch": 5},
                            "train": {"batch_size": 2, "threads": 1, "warmup_steps": 1, "steps": 2, "ckpt_every": 1}})
    s = train(cfg, tmp_path / "run", progress=False)
    assert s["steps"] == 2 and "keypoint input" in s["training_data"] and "image-less" in s["training_data"]
    cfg.train.steps = 3
    assert train(cfg, tmp_path / "run", progress=False)["steps"] == 3         # resumed


class _RecordingLandmarks:
    """Stands in for the BlazePose detector: records the ROI, answers 33 landmarks at the ROI's unit-square centre."""

    def __init__(self, flag: float) -> None:
        self.flag, self.rois = flag, []

    def _landmarks(self, rgb, roi):
        self.rois.append(np.asarray(roi, np.float64))
        centre = roi[:, :2] @ np.array([0.5, 0.5]) + roi[:, 2]
        lm = np.concatenate([np.tile(centre, (33, 1)), np.full((33, 2), 0.9)], 1).astype(np.float32)
        return self.flag, lm, np.zeros((2, 2), np.float32)


def test_landmark_labels_use_a_padded_roi_and_zero_a_missed_person():
    from training.spin.shard_keypoints import LABEL_ROI_SCALE, landmark_keypoints

    im = np.zeros((100, 100, 3), np.uint8)
    det = _RecordingLandmarks(flag=0.9)
    kp = landmark_keypoints(det, im, roi_scale=1.3)
    # unit square -> image px: side 130 px, centred on the crop's centre: corners at -15 and 115 px
    np.testing.assert_allclose(det.rois[-1], [[130, 0, -15], [0, 130, -15]], atol=1e-4)
    np.testing.assert_allclose(kp[:, :2], 50.0, atol=1e-4)
    np.testing.assert_allclose(kp[:, 2], 0.9, atol=1e-6)
    landmark_keypoints(det, im)
    np.testing.assert_allclose(det.rois[-1][0, 0], 100 * LABEL_ROI_SCALE, atol=1e-4)
    assert not landmark_keypoints(_RecordingLandmarks(flag=0.3), im).any()
    with pytest.raises(ValueError, match="roi_scale"):
        landmark_keypoints(det, im, roi_scale=0.0)


def test_shard_loader_refuses_keypoint_files_of_two_roi_scales(tmp_path):
    rng = np.random.default_rng(0)
    for k, scale in enumerate((1.3, 1.0)):
        np.savez(tmp_path / f"shard_{k:05d}.npz", image=rng.integers(0, 255, (2, SIZE, SIZE, 3), dtype=np.uint8),
                 joints2d=np.zeros((2, 24, 2), np.float32), visibility=np.ones((2, 24), np.float32),
                 joints3d=np.zeros((2, 24, 3), np.float32), rotmats=np.tile(np.eye(3, dtype=np.float32), (2, 24, 1, 1)),
                 shape=np.zeros((2, 10), np.float32))
        kw = {"roi_scale": np.float32(scale)} if k == 0 else {}      # a file of before the key: the whole crop
        np.savez(tmp_path / f"kp_{k:05d}.npz", keypoints=np.zeros((2, 17, 3), np.float32),
                 coco2d=np.zeros((2, 17, 2), np.float32), **kw)
    with pytest.raises(ValueError, match="ROI scale 1, the shards before it with 1.3"):
        spin_data.ShardDataset([tmp_path])
    (tmp_path / "kp_00001.npz").unlink()
    np.savez(tmp_path / "kp_00001.npz", keypoints=np.zeros((2, 17, 3), np.float32),
             coco2d=np.zeros((2, 17, 2), np.float32), roi_scale=np.float32(1.3))
    ds = spin_data.ShardDataset([tmp_path])
    assert ds.loaded == 4 and ds.keypoint_roi_scale == pytest.approx(1.3)
