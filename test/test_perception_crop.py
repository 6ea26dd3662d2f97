"""Person crops: SPIN-style boxes from detections, clamping, and bounded following with a bad model."""
import numpy as np
import pytest

from perception_fixtures import ScriptedDetector, write_batch_per_frame
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.perception.crop import (BoundedFollower, CropBox, CropLimits, box_from_keypoints,
                                                 box_from_xyxy, clamp_box)
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

HW = (480, 640)


def test_spin_box_is_square_centred_and_scaled():
    b = box_from_xyxy(np.array([100, 50, 180, 350]), HW)
    assert (b.cx, b.cy) == (140.0, 200.0) and b.size == pytest.approx(1.2 * 300)
    kp = np.array([[100, 100, 1.0], [200, 100, 1.0], [150, 300, 1.0], [150, 200, 0.9], [0, 0, 0.0]])
    b = box_from_keypoints(kp, HW)   # the zero-confidence point is ignored
    assert (b.cx, b.cy) == (150.0, 200.0) and b.size == pytest.approx(1.3 * 200)
    assert box_from_keypoints(kp[:3], HW) is None   # fewer than 4 confident points


def test_clamp_keeps_size_and_centre_sane():
    lim = CropLimits()
    assert clamp_box(CropBox(-500, 9000, 1e6), HW).as_xyxy() == pytest.approx(
        (0 - 384, 480 - 384, 384, 480 + 384))   # side capped at 1.2 * 640, centre on the image border
    assert clamp_box(CropBox(10, 10, 0.5), HW).size == pytest.approx(lim.min_size_frac * 640)
    full = clamp_box(CropBox(np.nan, 1, 1), HW)
    assert (full.cx, full.cy, full.size) == (320, 240, 640)


def test_follower_limits_each_step_and_reports_lost():
    f = BoundedFollower(max_frames=5)
    f.anchor(CropBox(320, 240, 200))
    far = np.tile([[630.0, 470.0]], (24, 1)) + np.random.default_rng(0).normal(0, 5, (24, 2))
    b = f.follow(far, HW)
    assert abs(b.cx - 320) <= 0.2 * 200 + 1e-6 and abs(b.cy - 240) <= 0.2 * 200 + 1e-6
    assert b.size >= 200 / 1.15 - 1e-6
    assert f.follow(np.full((24, 2), -50.0), HW) is None and f.lost   # all joints outside the image
    f.anchor(CropBox(320, 240, 200))
    ok = np.random.default_rng(1).uniform([250, 150], [390, 330], (24, 2))
    assert all(f.follow(ok, HW) is not None for _ in range(5))
    assert f.follow(ok, HW) is None   # max_frames steps since the detector box


def test_crop_never_leaves_sane_bounds_over_300_frames_with_a_bad_model(tmp_path):
    """The issue's run-away crop: a model whose translation and joints jump with every crop."""
    p = tmp_path / "bad.onnx"
    # answers move with the crop's mean brightness m (about -2..2): scale 0.5..1.3, the root 0.6 crop
    # half-widths either way, every joint 0.6 m: the crop would run away if nothing bounded it.
    write_batch_per_frame(p, joints=np.random.default_rng(0).normal(0, 0.3, (24, 3)), cam=(0.9, 0.0, 0.0),
                          cam_gain=(0.2, 0.3, -0.3), joints_gain=0.3)
    det = ScriptedDetector(boxes=[([280, 120, 360, 420], 0.9)])
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model="none", detect_every=30),
                              detector=det)
    intr = Intrinsics.from_fov(640, 480, 60.0)
    rng = np.random.default_rng(2)
    lim = pipe.limits
    sizes, lost_frames = [], 0
    for k in range(300):
        img = np.full((480, 640, 3), rng.integers(0, 256), np.uint8)
        res = pipe.process(img, (k + 1) * 33 * 1_000_000, intr)
        for b in res.boxes.values():
            assert 0 <= b.cx <= 640 and 0 <= b.cy <= 480, b
            assert lim.min_size_frac * 640 - 1e-6 <= b.size <= lim.max_size_frac * 640 + 1e-6, b
            # drift from the detector box (side 1.2 * 300 = 360) is bounded too
            assert 360 / lim.max_drift - 1e-6 <= b.size <= 360 * lim.max_drift + 1e-6, b
            sizes.append(b.size)
        lost_frames += not res.estimates
    assert det.calls == 10   # the fixed detector cadence (every 30 frames), whatever the model does
    assert len(sizes) > 100 and np.ptp(sizes) > 50   # the follower did move the crop, within the bounds
