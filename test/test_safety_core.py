"""Safety core: distances from every joint, zones, and STOP on every kind of doubt."""
import math

import numpy as np
import pytest

from pose_estimation_ros.safety_core import (SafetyConfig, SafetyMonitor, State, camera_to_base, nearest_joint,
                                             PersonObservation, rpy_to_matrix, to_base)


def person_at(z: float, x: float = 0.0) -> np.ndarray:
    """24 joints spread around (x, 0, z) in the camera optical frame."""
    j = np.zeros((24, 3))
    j[:, 0] = x
    j[:, 2] = z
    j[:, 1] = np.linspace(-0.5, 0.8, 24)
    return j


def test_default_camera_transform_maps_optical_axes_to_base():
    t = camera_to_base((0.0, 0.0, 1.2), (-math.pi / 2, 0.0, -math.pi / 2))
    # optical z (forward) -> base x; optical x (right) -> base -y; optical y (down) -> base -z
    pts = np.array([[0, 0, 2.0], [1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_allclose(to_base(pts, t), [[2.0, 0, 1.2], [0, -1.0, 1.2], [0, 0, 0.2]], atol=1e-12)


def test_rpy_is_orthonormal():
    r = rpy_to_matrix(0.3, -0.7, 2.1)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)


def test_nearest_joint_counts_hands_and_ignores_unconfident_joints():
    body = np.tile([3.0, 0.0, 0.0], (24, 1))
    body[20] = [1.0, 0.2, 0.0]           # left wrist reaching out
    conf = np.ones(24)
    d, pid, j = nearest_joint([PersonObservation(7, body, conf)], 0.3, planar=True)
    assert (pid, j) == (7, 20) and d == pytest.approx(math.hypot(1.0, 0.2))
    conf[20] = 0.1
    d, _, j = nearest_joint([PersonObservation(7, body, conf)], 0.3, planar=True)
    assert j != 20 and d == pytest.approx(3.0)


def test_zones():
    m = SafetyMonitor(SafetyConfig(stop_distance=0.8, slowdown_distance=2.0, slowdown_ratio=0.4))
    for z, state, frac in ((5.0, State.NORMAL, 1.0), (1.5, State.SLOWDOWN, 0.4), (0.5, State.STOP, 0.0)):
        m.on_poses(10.0, 10.0, [(1, person_at(z), np.ones(24))])
        d = m.step(10.01)
        assert (d.state, d.speed_fraction) == (state, frac), z
        assert d.min_distance == pytest.approx(z)


def test_nobody_seen_is_normal():
    m = SafetyMonitor(SafetyConfig())
    m.on_poses(1.0, 1.0, [])
    assert m.step(1.01).state == State.NORMAL


@pytest.mark.parametrize("case,expect_zone", [
    ("never", "watchdog"), ("silent", "watchdog"), ("stale", "stale"), ("future", "future"),
    ("nan", "invalid"), ("fault", "perception_fault")])
def test_every_doubt_stops(case, expect_zone):
    cfg = SafetyConfig(watchdog_timeout=0.5, max_stamp_age=1.0, max_future=0.1)
    m = SafetyMonitor(cfg)
    now = 100.0
    far = person_at(6.0)
    if case == "silent":
        m.on_poses(now - 0.6, now - 0.6, [(1, far, np.ones(24))])
    elif case == "stale":
        m.on_poses(now, now - 1.5, [(1, far, np.ones(24))])
    elif case == "future":
        m.on_poses(now, now + 0.5, [(1, far, np.ones(24))])
    elif case == "nan":
        bad = far.copy()
        bad[5, 1] = np.nan
        m.on_poses(now, now, [(1, bad, np.ones(24))])
    elif case == "fault":
        m.on_poses(now, now, [], ok=False, status="camera lost")
    d = m.step(now)
    assert d.speed_fraction == 0.0 and d.state in (State.STOP, State.FAULT)
    assert d.zone == expect_zone


def test_watchdog_boundary():
    m = SafetyMonitor(SafetyConfig(watchdog_timeout=0.5))
    m.on_poses(10.0, 10.0, [(1, person_at(6.0), np.ones(24))])
    assert m.step(10.49).state == State.NORMAL
    assert m.step(10.51).state == State.STOP


@pytest.mark.parametrize("kw,msg", [
    (dict(stop_distance=2.5, slowdown_distance=2.0), "stop zone must lie inside"),
    (dict(slowdown_ratio=1.5), "slowdown_ratio"),
    (dict(watchdog_timeout=0.0), "watchdog_timeout"),
    (dict(min_confidence=-0.1), "min_confidence"),
])
def test_invalid_configuration_is_rejected_and_old_kept(kw, msg):
    m = SafetyMonitor(SafetyConfig())
    old = m.cfg
    with pytest.raises(ValueError, match=msg):
        m.reconfigure(SafetyConfig(**kw))
    assert m.cfg is old
