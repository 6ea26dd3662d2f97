"""Perception pipeline on real ONNX files: stamps, translation, lag, faults, dropped frames, model parameters."""
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


def const_pipeline(tmp_path, joints=None, cam=(1.0, 0.0, 0.0), temporal="none", **kw) -> PerceptionPipeline:
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
    assert not pipe.tracks[1].window.valid[-1]


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
                                                 temporal_model=pb, frame_period_ns=100 * MS, crop="full"))
    lagged = PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                                 temporal_model=str(default_models / "posebert_lag4.onnx"),
                                                 frame_period_ns=100 * MS, temporal_lag=LAG, crop="full"))
    assert lagged.temporal.meta.architecture["readout_index"] == 15 - LAG
    for i in range(7):
        rgb, _ = scene.render(i * 0.1)
        c = causal.process(rgb, i * 100 * MS, intr)
        lg = lagged.process(rgb, i * 100 * MS, intr)
        assert c.estimates[0].temporal and c.estimates[0].stamp_ns == i * 100 * MS == c.stamp_ns
        if i >= LAG:
            assert lg.estimates[0].temporal and lg.estimates[0].stamp_ns == (i - LAG) * 100 * MS == lg.stamp_ns
        else:   # the lagged slot holds no frame yet: nothing to publish (not the newest frame, stamps would go back)
            assert lg.outcome == "warming" and lg.estimates == [] and lg.stamp_ns is None
        assert c.timings_ms["temporal_ms"] > 0 and c.estimates[0].joints_cam.shape == (24, 3)


def test_lagged_stamps_strictly_increase_after_start_reset_and_gaps(tmp_path):
    """The lag-4 bug: frames 0,1,2,3 were published again (0,1,2,3,0,1,2,3). Stamps must only go up."""
    from perception_fixtures import write_batch_per_frame
    p = tmp_path / "b.onnx"
    write_batch_per_frame(p, joints=np.zeros((24, 3)))
    lag4 = str(default_model_dir() / "posebert_lag4.onnx")
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model=lag4, temporal_lag=LAG,
                                               crop="full", frame_period_ns=100 * MS))
    img = np.full((240, 320, 3), 90, np.uint8)
    published = []
    stamps = [i * 100 for i in range(12)] + [1500 + i * 100 for i in range(6)]   # a gap of 4 frames
    stamps += [50 + i for i in range(6)]   # the stream restarts with old stamps: 5 rejected -> reset
    stamps += [60 + i * 100 for i in range(8)]
    for s in stamps:
        r = pipe.process(img, s * MS, INTR)
        if r.stamp_ns is not None and r.outcome in ("ok", "fault"):
            published.append(r.stamp_ns)
    # 12 frames -> 8 (the first 4 fill the lag); the 4-frame gap: 1 + 2; after the restart 6 of 8 + 2 old
    assert len(published) == 17, published
    increasing_runs = np.split(np.array(published), np.nonzero(np.diff(published) <= 0)[0] + 1)
    # exactly one drop: the deliberate stream restart; within each run strictly increasing
    assert len(increasing_runs) == 2, published
    assert all(np.all(np.diff(r) > 0) for r in increasing_runs)
    assert increasing_runs[1][0] < increasing_runs[0][-1]   # the restart (old clock) began a new run


def test_temporal_model_parameter_has_one_meaning(tmp_path):
    """'' = the packaged model (for the lag), 'none' = off: the same in the core as in the node and YAML."""
    p = tmp_path / "b.onnx"
    from perception_fixtures import write_batch_per_frame
    write_batch_per_frame(p, joints=np.zeros((24, 3)))
    default = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model="", crop="full"))
    assert default.temporal is not None and default.temporal_path.endswith("posebert.onnx")
    lagged = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model="", temporal_lag=4,
                                                 crop="full"))
    assert lagged.temporal_path.endswith("posebert_lag4.onnx")
    off = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model="none", crop="full"))
    assert off.temporal is None and off.temporal_path == ""
    off2 = PerceptionPipeline(PerceptionConfig(per_frame_model=str(p), temporal_model=" None ", crop="full"))
    assert off2.temporal is None


def test_root_translation_is_smoothed_over_the_window_without_lag_bias(tmp_path):
    """A person moving at constant speed with noisy per-frame depth: the temporal path's translation has
    >= 3x less frame-to-frame acceleration jitter and no lag (the fit is unbiased for a constant velocity)."""
    from pose_estimation_ros.perception.pipeline import smooth_translation
    rng = np.random.default_rng(0)
    T = 16
    truth = np.stack([np.linspace(0, 1.5, 60), np.zeros(60), np.linspace(6, 3, 60)], axis=1)
    noisy = truth + rng.normal(0, 0.05, truth.shape)
    out = []
    for k in range(T, 60):
        win = noisy[k - T + 1:k + 1]
        out.append(smooth_translation(win, np.ones(T, bool), T - 1, 8))
    out = np.array(out)
    raw = noisy[T:60]
    acc = lambda x: np.linalg.norm(np.diff(x, 2, axis=0), axis=1).mean()  # noqa: E731
    assert acc(raw) / acc(out) >= 3.0
    bias = (out - truth[T:60]).mean(axis=0)
    assert np.all(np.abs(bias) < 0.02), bias
    # masked slots are skipped; fewer than 3 valid slots: no fit (the caller keeps the raw value)
    valid = np.zeros(T, bool)
    valid[[3, 15]] = True
    assert smooth_translation(noisy[:T], valid, 15, 8) is None


def test_ty_uses_fy_not_fx(tmp_path):
    """fx != fy: the root must project back to the weak-perspective root pixel in v as well (Ty / fy)."""
    intr = Intrinsics(320, 240, 300.0, 450.0, 160.0, 120.0)
    pipe = const_pipeline(tmp_path, joints=np.zeros((24, 3)), cam=(0.5, 0.2, -0.3))
    est = pipe.process(np.zeros((240, 320, 3), np.uint8), 5 * MS, intr).estimates[0]
    # full-frame box: centre (160, 120), side 320: root pixel u = 160 + 160*0.5*0.2 = 176, v = 120 - 160*0.5*0.3 = 96
    uv = project_points(est.joints_cam[:1], intr.fx, intr.fy, intr.cx, intr.cy)[0]
    np.testing.assert_allclose(uv, [176.0, 96.0], atol=1e-3)
    from pose_estimation_ros.kinematics import weak_perspective_to_translation
    t = weak_perspective_to_translation(np.array([0.5, 0.2, -0.3]), np.array([160.0, 120.0]), 320.0,
                                        300.0, 450.0, 160.0, 120.0)
    tz = 2 * 300.0 / (320 * 0.5)
    assert t[1] == pytest.approx(tz * (120.0 - 120.0 + 80.0 * -0.3) / 450.0)


def test_temporal_model_for_another_lag_is_refused(default_models):
    with pytest.raises(Exception, match="exported for a look-ahead of 0 frames but temporal_lag is 4"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_model=str(default_models / "posebert.onnx"), temporal_lag=4))


def test_invalid_configuration_is_refused(default_models):
    with pytest.raises(ValueError, match="temporal_lag"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_lag=16, crop="full"))
    with pytest.raises(Exception, match="window length 16 differs from configured window 8"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                            temporal_model=str(default_models / "posebert.onnx"), window=8))


def test_untrained_models_are_reported(default_models):
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(default_models / "mocap_spin.onnx"),
                                               crop="full"))
    assert pipe.untrained_models == [str(default_models / "mocap_spin.onnx")] or pipe.per_frame.meta.trained
    assert list(pipe.per_frame.meta.joint_names) == list(skeleton.JOINT_NAMES)
