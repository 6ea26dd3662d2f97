"""The demo scene pre-render (training.render.demo_scene) and its playback by the runtime scene."""
import numpy as np
import pytest

from render_helpers import require_render_stack

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_demo_clip_renders_walk_with_exact_ground_truth(tmp_path):
    require_render_stack()
    from pose_estimation_ros.kinematics import project_points
    from pose_estimation_ros.synthetic_scene import SyntheticScene
    from training.render.demo_scene import render_demo_scene
    out = render_demo_scene(tmp_path / "clip", width=160, height=120, fps=2.0, period_s=4.0, supersample=1)
    f = 80.0 / np.tan(np.radians(30))
    scene = SyntheticScene(160, 120, fx=f, fy=f, cx=80.0, cy=60.0, period_s=4.0, clip=out)
    assert scene.clip is not None
    drawn = SyntheticScene(160, 120, fx=f, fy=f, cx=80.0, cy=60.0, period_s=4.0)
    bg = scene.background()
    depths = []
    for t in (0.5, 1.5, 3.0):
        img, gt = scene.render(t)
        jc = gt["joints_cam"]
        np.testing.assert_allclose(gt["joints_2d"], project_points(jc, f, f, 80.0, 60.0), atol=1e-6)
        # Same walk as the drawn scene: pelvis depth, heading; feet on the floor (y = camera height).
        ref = drawn.pose(t)
        assert abs(jc[0, 2] - ref["depth"]) < 1e-6 and gt["heading"] == pytest.approx(ref["heading"])
        assert 1.05 < jc[[7, 8, 10, 11], 1].max() < 1.2
        # Body pixels at the projected torso joints differ from the background.
        changed = np.abs(img.astype(int) - bg.astype(int)).max(-1) > 25
        for j in (0, 3, 6, 9, 12):
            u, v = np.rint(gt["joints_2d"][j]).astype(int)
            if 0 <= u < 160 and 0 <= v < 120:
                assert changed[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].any(), (t, j)
        depths.append(jc[0, 2])
    assert depths[1] < depths[0] and depths[2] > depths[1]
