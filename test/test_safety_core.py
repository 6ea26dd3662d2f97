"""Safety core basics: frames, distances from every joint, zones, and STOP on every kind of doubt."""
import math
from dataclasses import replace

import numpy as np
import pytest

from pose_estimation_ros.safety import (HysteresisConfig, PersonObservation, SafetyConfig, SafetyMonitor, State,
                                        basic_zones, camera_to_base, nearest_joint, rpy_to_matrix, to_base)

FAST = HysteresisConfig(enter_count=1, exit_count=1, min_dwell=0.0, release_margin=0.0, ramp_rate=100.0)


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
    m = SafetyMonitor(SafetyConfig(zones=basic_zones(0.8, 2.0, 0.4), hysteresis=FAST))
    for k, (z, state, frac) in enumerate(((5.0, State.NORMAL, 1.0), (1.5, State.SLOWDOWN, 0.4),
                                          (0.5, State.STOP, 0.0))):
        t = 10.0 + k
        m.on_poses(t, t, [(1, person_at(z), np.ones(24))])
        d = m.step(t + 0.01)
        assert (d.state, d.speed_fraction) == (state, frac), z
        assert d.min_distance == pytest.approx(z)


def test_nobody_seen_is_normal():
    m = SafetyMonitor(SafetyConfig(hysteresis=FAST))
    m.on_poses(1.0, 1.0, [])
    assert m.step(1.01).state == State.NORMAL


@pytest.mark.parametrize("case,expect_zone", [
    ("never", "watchdog"), ("silent", "watchdog"), ("stale", "stale"), ("future", "future"),
    ("nan", "invalid"), ("inf_conf", "invalid"), ("malformed", "invalid"), ("fault", "perception_fault")])
def test_every_doubt_stops(case, expect_zone):
    cfg = SafetyConfig(watchdog_timeout=0.5, max_stamp_age=1.0, max_future=0.1)
    m = SafetyMonitor(cfg)
    now = 100.0
    far = person_at(6.0)
    for k in range(5):      # healthy first: the fault must take the monitor out of NORMAL
        m.on_poses(now - 1.0 + 0.1 * k, now - 1.0 + 0.1 * k, [(1, far, np.ones(24))])
    if case != "never":
        assert m.step(now - 0.6 + 0.01).state == State.NORMAL
    else:
        m = SafetyMonitor(cfg)
    if case == "silent":
        pass    # last message at now - 0.6
    elif case == "stale":
        m.on_poses(now, now - 1.5, [(1, far, np.ones(24))])
    elif case == "future":
        m.on_poses(now, now + 0.5, [(1, far, np.ones(24))])
    elif case == "nan":
        bad = far.copy()
        bad[5, 1] = np.nan
        m.on_poses(now, now, [(1, bad, np.ones(24))])
    elif case == "inf_conf":
        c = np.ones(24)
        c[3] = np.inf
        m.on_poses(now, now, [(1, far, c)])
    elif case == "malformed":
        m.on_poses(now, now, [(1, far, np.ones(23))])
    elif case == "fault":
        m.on_poses(now, now, [], ok=False, status="camera lost")
    d = m.step(now)
    assert d.speed_fraction == 0.0 and d.state in (State.STOP, State.FAULT)
    assert d.zone == expect_zone


def test_watchdog_boundary():
    m = SafetyMonitor(SafetyConfig(watchdog_timeout=0.5, hysteresis=FAST))
    m.on_poses(10.0, 10.0, [(1, person_at(6.0), np.ones(24))])
    assert m.step(10.49).state == State.NORMAL
    d = m.step(10.51)
    assert (d.state, d.zone, d.speed_fraction) == (State.STOP, "watchdog", 0.0)


@pytest.mark.parametrize("kw,msg", [
    (dict(zones=basic_zones(2.5, 2.0)), "must lie inside a slowdown zone"),
    (dict(zones=basic_zones(0.8, 2.0, 1.5)), "slowdown_ratio"),
    (dict(watchdog_timeout=0.0), "watchdog_timeout"),
    (dict(min_confidence=-0.1), "min_confidence"),
])
def test_invalid_configuration_is_rejected_and_old_kept(kw, msg):
    m = SafetyMonitor(SafetyConfig())
    old = m.cfg
    with pytest.raises(ValueError, match=msg):
        m.reconfigure(replace(SafetyConfig(), **kw))
    assert m.cfg is old


def test_quaternion_and_static_transform_chain():
    from pose_estimation_ros.safety import chain_transform, quaternion_to_matrix
    from pose_estimation_ros.safety.geometry import make_transform
    s = math.sqrt(0.5)
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, s, s), rpy_to_matrix(0, 0, math.pi / 2), atol=1e-12)
    with pytest.raises(ValueError):
        quaternion_to_matrix(0, 0, 0, 0)
    # base_link -> mast (up 1 m) -> camera_optical_frame (default optical rotation); compare with the parameters
    mast = make_transform(np.eye(3), (0.1, 0.0, 1.0))
    optical = camera_to_base((0.0, 0.0, 0.2), (-math.pi / 2, 0.0, -math.pi / 2))
    edges = {"mast": ("base_link", mast), "camera_optical_frame": ("mast", optical)}
    t = chain_transform(edges, "base_link", "camera_optical_frame")
    np.testing.assert_allclose(t, camera_to_base((0.1, 0.0, 1.2), (-math.pi / 2, 0.0, -math.pi / 2)), atol=1e-12)
    # target below the common ancestor, and unconnected frames
    edges["odom_child"] = ("odom", np.eye(4))
    t2 = chain_transform(edges, "mast", "camera_optical_frame")
    np.testing.assert_allclose(t2, optical, atol=1e-12)
    assert chain_transform(edges, "base_link", "odom_child") is None


def test_monitor_uses_an_external_transform():
    m = SafetyMonitor(SafetyConfig(hysteresis=FAST))
    shifted = camera_to_base((-5.0, 0.0, 1.2), (-math.pi / 2, 0.0, -math.pi / 2))   # camera 5 m behind the base
    m.set_transform(shifted, "tf_static test")
    m.on_poses(1.0, 1.0, [(1, person_at(5.5), np.ones(24))])     # 5.5 m in front of the camera = 0.5 m from base
    assert m.step(1.0).state == State.STOP and m.transform_source == "tf_static test"
    m.set_transform(None)
    assert m.transform_source == "parameters"
