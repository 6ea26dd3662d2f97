"""Perception pipeline on real ONNX files: stamps, translation, lag, faults, dropped frames."""
import numpy as np
import pytest

from onnx_fixtures import write_constant_per_frame
from pose_estimation_ros import skeleton
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.kinematics import project_points
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline, default_model_dir
from pose_estimation_ros.synthetic_scene import SyntheticScene

MS = 1_000_000
LAG = 4
INTR = Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)


@pytest.fixture(scope="module")
def default_models():
    d = default_model_dir()
    if not (d / "mocap_spin.onnx").is_file():
        pytest.fail("default models missing: run `make setup`")
    return d


def const_pipeline(tmp_path, joints=None, cam=(1.0, 0.0, 0.0), temporal="", **kw) -> PerceptionPipeline:
    p = tmp_path / "const.onnx"
    write_constant_per_frame(p, size=32, joints=joints, cam=cam, with_metadata=True)
    return PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model=temporal, crop="full", **kw))


def test_translation_from_weak_perspective_matches_hand_computation(tmp_path):
    joints = np.zeros((24, 3))
    pipe = const_pipeline(tmp_path, joints=joints, cam=(0.5, 0.2, -0.1))
    res = pipe.process(np.zeros((240, 320, 3), np.uint8), 5 * MS, INTR)
    est = res.estimates[0]
    # full-frame box: centre (160, 120), side 320 -> Tz = 2*300/(320*0.5) = 3.75 m;
    # the root projects to u = 160 + 160*0.5*0.2 = 176, v = 120 + 160*0.5*(-0.1) = 112
    assert est.joints_cam[0, 2] == pytest.approx(3.75, rel=1e-5)
    uv = project_points(est.joints_cam[:1], INTR.fx, INTR.fy, INTR.cx, INTR.cy)[0]
    np.testing.assert_allclose(uv, [176.0, 112.0], atol=1e-3)
    assert est.stamp_ns == 5 * MS and not est.temporal and res.outcome == "ok"
    assert np.all(est.confidence == 1.0)


def test_joints_outside_the_image_get_low_confidence(tmp_path):
    joints = np.zeros((24, 3))
    joints[20] = [5.0, 0.0, 0.0]       # far to the right: projects outside the image
    pipe = const_pipeline(tmp_path, joints=joints)
    est = pipe.process(np.zeros((240, 320, 3), np.uint8), 0, INTR).estimates[0]
    assert est.confidence[20] < 0.5 and est.confidence[0] == 1.0


def test_non_finite_model_output_is_a_fault_not_an_empty_scene(tmp_path):
    joints = np.zeros((24, 3))
    joints[3, 1] = np.nan
    pipe = const_pipeline(tmp_path, joints=joints)
    res = pipe.process(np.zeros((240, 320, 3), np.uint8), 0, INTR)
    assert res.outcome == "fault" and res.estimates == []
    assert not pipe.window.valid[-1]


def test_duplicate_stamp_is_dropped(tmp_path):
    pipe = const_pipeline(tmp_path)
    img = np.zeros((240, 320, 3), np.uint8)
    assert pipe.process(img, 100 * MS, INTR).outcome == "ok"
    res = pipe.process(img, 100 * MS, INTR)
    assert res.outcome == "dropped" and "duplicate" in res.status


def test_temporal_model_runs_over_the_window_and_lag_publishes_the_older_stamp(tmp_path, default_models):
    pb = str(default_models / "posebert.onnx")
    scene = SyntheticScene(320, 240)
    intr = Intrinsics(320, 240, scene.fx, scene.fy, scene.cx, scene.cy)
    causal = PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                                 temporal_model=pb, frame_period_ns=100 * MS))
    lagged = PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                                 temporal_model=str(default_models / "posebert_lag4.onnx"),
                                                 frame_period_ns=100 * MS, temporal_lag=LAG))
    assert lagged.temporal.meta.architecture["readout_index"] == 15 - LAG
    for i in range(7):
        rgb, _ = scene.render(i * 0.1)
        c = causal.process(rgb, i * 100 * MS, intr)
        lg = lagged.process(rgb, i * 100 * MS, intr)
        assert c.estimates[0].temporal and c.estimates[0].stamp_ns == i * 100 * MS
        if i >= LAG:
            assert lg.estimates[0].temporal and lg.estimates[0].stamp_ns == (i - LAG) * 100 * MS
        else:   # the lagged slot holds no frame yet: per-frame estimate of the newest frame
            assert not lg.estimates[0].temporal and lg.estimates[0].stamp_ns == i * 100 * MS
        assert c.timings_ms["temporal_ms"] > 0 and c.estimates[0].joints_cam.shape == (24, 3)


def test_temporal_model_for_another_lag_is_refused(default_models):
    with pytest.raises(Exception, match="exported for a look-ahead of 0 frames but temporal_lag is 4"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_model=str(default_models / "posebert.onnx"), temporal_lag=4))


def test_invalid_configuration_is_refused(default_models):
    with pytest.raises(ValueError, match="temporal_lag"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_lag=16))
    with pytest.raises(Exception, match="window length 16 differs from configured window 8"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_model=str(default_models / "posebert.onnx"), window=8))


def test_untrained_models_are_reported(default_models):
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx")))
    assert pipe.untrained_models == [str(default_models / "mocap_spin.onnx")] or pipe.per_frame.meta.trained
    assert list(pipe.per_frame.meta.joint_names) == list(skeleton.JOINT_NAMES)
