"""Tests of pose_estimation_ros.synthetic_scene."""
import time

import numpy as np
import pytest

from pose_estimation_ros.kinematics import project_points
from pose_estimation_ros.skeleton import BONES, JOINT_NAMES, REST_JOINTS
from pose_estimation_ros.synthetic_scene import SHIRT, TROUSERS, SyntheticScene

J = {n: i for i, n in enumerate(JOINT_NAMES)}
PERIOD = 10.0


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene(640, 480, period_s=PERIOD, seed=0)


def _person_mask(scene, t, shadow=True):
    img, gt = scene.render(t, shadow=shadow)
    diff = np.abs(img.astype(int) - scene.background().astype(int)).max(axis=-1)
    return img, gt, diff > 20


def _px(gt, name):
    u, v = gt["joints_2d"][J[name]]
    return int(round(v)), int(round(u))


@pytest.mark.parametrize("t", [0.25 * PERIOD, 0.4 * PERIOD, 0.75 * PERIOD, 0.1 * PERIOD])
def test_person_covers_pelvis_and_head(scene, t):
    img, gt, mask = _person_mask(scene, t)
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    for name in ("pelvis", "head", "spine2", "neck"):
        v, u = _px(gt, name)
        assert 0 <= v < 480 and 0 <= u < 640
        assert mask[v, u], f"{name} pixel at t={t} is background"
    # The chest is shirt-coloured (allowing shading), near the shirt more than the trousers.
    v, u = _px(gt, "spine2")
    chest = img[v, u].astype(float)
    assert np.linalg.norm(chest - SHIRT) < np.linalg.norm(chest - TROUSERS)
    v, u = _px(gt, "left_knee")
    if 0 <= v < 480:
        knee = img[v, u].astype(float)
        assert np.linalg.norm(knee - TROUSERS) < np.linalg.norm(knee - SHIRT)


def test_visible_joints_inside_bbox_and_mask_within_bbox(scene):
    _, gt, mask = _person_mask(scene, 0.3 * PERIOD, shadow=False)
    x0, y0, x1, y1 = gt["bbox"]
    inside = (gt["joints_2d"][:, 1] < 480)
    uv = gt["joints_2d"][inside]
    assert np.all(uv[:, 0] >= x0) and np.all(uv[:, 0] <= x1)
    assert np.all(uv[:, 1] >= y0) and np.all(uv[:, 1] <= y1)
    ys, xs = np.nonzero(mask)
    # Without the floor shadow, every changed pixel lies inside the bbox, and the bbox is tight.
    assert xs.min() >= x0 - 2 and xs.max() <= x1 + 2 and ys.min() >= y0 - 2 and ys.max() <= y1 + 2
    assert xs.min() <= x0 + 3 and xs.max() >= x1 - 3 and ys.min() <= y0 + 3 and ys.max() >= y1 - 3
    # The shadow only darkens the floor below the body.
    img_s, _ = scene.render(0.3 * PERIOD)
    img_n, _ = scene.render(0.3 * PERIOD, shadow=False)
    darker = np.nonzero((img_s.astype(int) - img_n.astype(int)).min(axis=-1) < -5)[0]
    assert darker.size and darker.min() > gt["joints_2d"][J["pelvis"], 1]


def test_nearer_is_larger(scene):
    _, far, far_mask = _person_mask(scene, 0.05 * PERIOD)
    _, near, near_mask = _person_mask(scene, 0.45 * PERIOD)
    assert near["joints_cam"][0, 2] < far["joints_cam"][0, 2]
    assert near_mask.sum() > 3 * far_mask.sum()
    height = lambda gt: gt["bbox"][3] - gt["bbox"][1]
    assert height(near) > 2 * height(far)


def test_depth_follows_walk(scene):
    ts = np.linspace(0.0, PERIOD, 101)
    depths = np.array([scene.pose(t)["joints_cam"][0, 2] for t in ts])
    assert depths.max() == pytest.approx(6.0, abs=1e-6)
    assert depths.min() == pytest.approx(1.5, abs=1e-6)
    assert depths[0] == pytest.approx(6.0) and depths[50] == pytest.approx(1.5)
    assert np.all(np.diff(depths[:51]) <= 1e-12) and np.all(np.diff(depths[50:]) >= -1e-12)


def test_ground_truth_geometry(scene):
    gt = scene.pose(0.3 * PERIOD)
    jc = gt["joints_cam"]
    assert jc.shape == (24, 3) and gt["joints_2d"].shape == (24, 2)
    np.testing.assert_allclose(
        gt["joints_2d"], project_points(jc, scene.fx, scene.fy, scene.cx, scene.cy))
    # Bone lengths are those of the rest skeleton (rigid FK).
    for j, p in BONES:
        assert np.linalg.norm(jc[j] - jc[p]) == pytest.approx(
            np.linalg.norm(REST_JOINTS[j] - REST_JOINTS[p]), abs=1e-9)
    # Upright: the head is above the pelvis (camera y is down); feet near the floor (y = 1.2).
    assert jc[J["head"], 1] < jc[J["pelvis"], 1] - 0.5
    assert 1.05 < jc[[J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]], 1].max() < 1.2
    # Approaching (first half period) the person faces the camera: their left is on image right.
    assert jc[J["left_shoulder"], 0] > jc[J["right_shoulder"], 0]


def test_walk_cycle_moves_limbs(scene):
    a = scene.pose(0.20 * PERIOD)["joints_cam"]
    b = scene.pose(0.23 * PERIOD)["joints_cam"]
    rel = lambda jc, n: jc[J[n]] - jc[0]
    assert np.linalg.norm(rel(a, "left_ankle") - rel(b, "left_ankle")) > 0.05
    assert np.linalg.norm(rel(a, "right_wrist") - rel(b, "right_wrist")) > 0.02


def test_deterministic(scene):
    img1, gt1 = scene.render(3.7)
    img2, gt2 = SyntheticScene(640, 480, period_s=PERIOD, seed=0).render(3.7)
    np.testing.assert_array_equal(img1, img2)
    np.testing.assert_array_equal(gt1["joints_cam"], gt2["joints_cam"])
    np.testing.assert_array_equal(gt1["bbox"], gt2["bbox"])
    img3, _ = scene.render(3.8)
    assert np.any(img3 != img1)


def test_background_only(scene):
    bg, gt = scene.render(2.0, draw_person=False)
    np.testing.assert_array_equal(bg, scene.background())
    assert gt["bbox"].shape == (4,)
    assert bg.std() > 10          # textured, not flat


def test_custom_intrinsics_and_size():
    s = SyntheticScene(320, 240, fx=300.0, fy=310.0, cx=150.0, cy=130.0, period_s=5.0)
    img, gt = s.render(1.0)
    assert img.shape == (240, 320, 3)
    np.testing.assert_allclose(gt["joints_2d"], project_points(gt["joints_cam"], 300.0, 310.0,
                                                               150.0, 130.0))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="period_s"):
        SyntheticScene(period_s=0)
    with pytest.raises(ValueError, match="near_m"):
        SyntheticScene(near_m=7.0, far_m=6.0)


def test_render_is_fast(scene):
    scene.render(0.0)
    n = 30
    t0 = time.perf_counter()
    for i in range(n):
        scene.render(i / 30.0)
    per_frame = (time.perf_counter() - t0) / n
    assert per_frame < 0.02, f"{per_frame * 1000:.1f} ms per frame"


# ---------------------------------------------------------------- rendered clip (demo scene)
def _fake_clip(folder, n=4, width=64, height=48, fps=2.0, period=2.0):
    """A clip folder as training.render.demo_scene writes it (frames are flat colours here)."""
    import json

    import cv2
    from pose_estimation_ros.synthetic_scene import CLIP_FORMAT
    (folder / "frames").mkdir(parents=True)
    base = SyntheticScene(width, height, period_s=period)
    gts = [base.pose(i / fps) for i in range(n)]
    for i in range(n):
        cv2.imwrite(str(folder / "frames" / f"{i:06d}.jpg"), np.full((height, width, 3), 40 * i, np.uint8))
    cv2.imwrite(str(folder / "background.jpg"), np.full((height, width, 3), 200, np.uint8))
    np.savez(folder / "ground_truth.npz", t=np.arange(n) / fps,
             joints_cam=np.stack([g["joints_cam"] for g in gts]) + 0.01,
             joints_2d=np.stack([g["joints_2d"] for g in gts]), bbox=np.zeros((n, 4)),
             local_rotmats=np.stack([g["local_rotmats"] for g in gts]),
             **{k: np.array([g[k] for g in gts]) for k in ("depth", "heading", "gait_phase", "gait_amplitude")},
             others_joints_cam=np.zeros((n, 0, 24, 3)))
    (folder / "meta.json").write_text(json.dumps({
        "format": CLIP_FORMAT, "width": width, "height": height, "fx": base.fx, "fy": base.fy, "cx": base.cx,
        "cy": base.cy, "fps": fps, "period_s": period, "frames": n}))
    return base


def test_rendered_clip_is_played_with_its_ground_truth(tmp_path):
    base = _fake_clip(tmp_path / "clip")
    s = SyntheticScene(64, 48, period_s=2.0, clip=tmp_path / "clip")
    assert s.clip is not None
    img, gt = s.render(1.0)                                     # t = 1 s -> frame 2 at 2 fps
    assert gt["clip_frame"] == 2 and abs(int(img.mean()) - 80) <= 2
    np.testing.assert_allclose(gt["joints_cam"], base.pose(1.0)["joints_cam"] + 0.01)
    assert s.render(2.0)[1]["clip_frame"] == 0                  # loops over the period
    assert s.pose(0.5)["clip_frame"] == 1 and gt["local_rotmats"].shape == (24, 3, 3)
    bg, _ = s.render(1.0, draw_person=False)
    assert np.all(np.abs(bg.astype(int) - 200) <= 2)


def test_rendered_clip_mismatch_or_absent_falls_back_to_drawing(tmp_path, monkeypatch):
    _fake_clip(tmp_path / "clip")
    with pytest.warns(RuntimeWarning, match="other parameters .*width 64 != 80"):
        s = SyntheticScene(80, 48, period_s=2.0, clip=tmp_path / "clip")
    assert s.clip is None
    monkeypatch.setenv("POSE_DEMO_SCENE", str(tmp_path / "missing"))
    with pytest.warns(RuntimeWarning, match="no usable rendered clip .*missing.*training.render.demo_scene"):
        s = SyntheticScene(64, 48, clip="auto")
    img, gt = s.render(1.0)
    assert img.shape == (48, 64, 3) and "clip_frame" not in gt
    (tmp_path / "clip" / "frames" / "000003.jpg").unlink()
    with pytest.warns(RuntimeWarning, match="frame files missing"):
        assert SyntheticScene(64, 48, period_s=2.0, clip=tmp_path / "clip").clip is None
