"""ISO/TS 15066 speed-and-separation monitoring: the formula against hand-computed values, and the SSM zone."""
import numpy as np
import pytest

from pose_estimation_ros.safety import (HysteresisConfig, ReachConfig, SafetyConfig, SafetyMonitor, SsmConfig, State,
                                        ZoneConfig, allowed_speed, protective_distance)
from pose_estimation_ros.safety.scenarios import feed, person_joints
from pose_estimation_ros.safety.ssm import surface_speed

FAST = HysteresisConfig(enter_count=1, exit_count=1, min_dwell=0.0, release_margin=0.0, ramp_rate=100.0)
BASE = SsmConfig(enabled=True, human_speed=1.6, reaction_time=0.1, stopping_time=0.3, stopping_distance=0.0,
                 intrusion_distance=0.1, human_uncertainty=0.1, robot_uncertainty=0.02, robot_radius=0.3)


@pytest.mark.parametrize("cfg,v_r,expected", [
    # S_h = 1.6 * (0.1 + 0.3) = 0.64; C + Z_d + Z_r = 0.22
    (BASE, 0.0, 0.64 + 0.22),
    # + S_r = 1.0 * 0.1, S_s = 1.0 * 0.3 / 2
    (BASE, 1.0, 0.64 + 0.1 + 0.15 + 0.22),
    # fixed stopping distance 0.25 m: S_s does not scale with v_r
    (SsmConfig(**{**BASE.__dict__, "stopping_distance": 0.25}), 0.5, 0.64 + 0.05 + 0.25 + 0.22),
    # arm reach: v_h = 2.0, T_r = 0.1, T_s = 0.25, v_r = 0.5 -> 0.7 + 0.05 + 0.0625 + 0.22
    (SsmConfig(**{**BASE.__dict__, "human_speed": 2.0, "stopping_time": 0.25}), 0.5, 1.0325),
])
def test_protective_distance_matches_hand_computation(cfg, v_r, expected):
    assert protective_distance(cfg, v_r) == pytest.approx(expected)


def test_allowed_speed_is_the_inverse_of_the_formula():
    # separation 1.0: slack = 1.0 - 0.64 - 0.22 = 0.14 m for v_r T_r + v_r T_s / 2 = 0.25 v_r -> 0.56 m/s
    assert allowed_speed(BASE, 1.0) == pytest.approx(0.56)
    assert protective_distance(BASE, 0.56) == pytest.approx(1.0)
    assert allowed_speed(BASE, 0.85) == 0.0           # closer than S_p(0) = 0.86: stop
    fixed = SsmConfig(**{**BASE.__dict__, "stopping_distance": 0.1})
    assert allowed_speed(fixed, 1.0) == pytest.approx((0.14 - 0.1) / 0.1)
    assert surface_speed(0.2, -2.0, 0.3) == pytest.approx(0.8)


def column(x: float) -> np.ndarray:
    """All joints at planar distance x from the base origin."""
    return np.tile([x, 0.0, 1.0], (24, 1))


def ssm_monitor(**kw):
    kw.setdefault("ssm", BASE)
    return SafetyMonitor(SafetyConfig(zones=(ZoneConfig("stop", "stop", radius=0.1),), hysteresis=FAST, **kw))


@pytest.mark.parametrize("distance,command,state,fraction", [
    (1.5, (1.0, 0.0, 0.0), State.NORMAL, 1.0),      # separation 1.2 > S_p(1.0) = 1.11
    (1.3, (1.0, 0.0, 0.0), State.LIMIT, 0.56),      # separation 1.0: allowed 0.56 m/s of the 1.0 requested
    (1.3, (0.5, 0.0, 0.0), State.NORMAL, 1.0),      # asking for 0.5 m/s is within what 1.0 m allows
    (1.1, (1.0, 0.0, 0.0), State.STOP, 0.0),        # separation 0.8 < S_p(0) = 0.86
    (1.1, (0.0, 0.0, 0.0), State.STOP, 0.0),        # even parked
    (1.3, (0.0, 0.0, 1.0), State.NORMAL, 1.0),      # turning: surface speed 0.3 m/s
    (1.3, (0.0, 0.0, 4.0), State.LIMIT, 0.56 / 1.2),  # turning fast: surface speed 1.2 m/s
])
def test_ssm_zone_in_the_monitor(distance, command, state, fraction):
    m = ssm_monitor()
    feed(m, 10.0, [(3, column(distance))])
    d = m.step(10.01, command)
    assert d.state == state and d.speed_fraction == pytest.approx(fraction)
    if state != State.NORMAL:
        assert d.zone == "ssm" and d.person_id == 3 and "S_p" in d.reason


def test_ssm_radius_grows_with_the_requested_speed():
    m = ssm_monitor()
    feed(m, 10.0, [])
    m.step(10.01, (0.0, 0.0, 0.0))
    assert m.ssm_radius == pytest.approx(0.86 + 0.3)
    m.step(10.02, (1.0, 0.0, 0.0))
    assert m.ssm_radius == pytest.approx(1.11 + 0.3) and m.ssm_stop_radius == pytest.approx(1.16)


def test_ssm_arm_mode_uses_nominal_speed():
    m = ssm_monitor(mode="arm", nominal_speed=1.0)
    feed(m, 10.0, [(1, column(1.3))])
    assert m.step(10.01).speed_fraction == pytest.approx(0.56)


def test_measured_human_speed_raises_the_protective_distance():
    def run(use):
        m = ssm_monitor(ssm=SsmConfig(**{**BASE.__dict__, "use_measured_human_speed": use}))
        for k in range(4):      # approaching at 3 m/s (faster than the 1.6 m/s default)
            feed(m, 10.0 + 0.05 * k, [(1, column(2.05 - 0.15 * k))])
        return m.step(10.16, (0.0, 0.0, 0.0))
    assert run(False).state == State.NORMAL        # separation 1.3 > 0.86
    assert run(True).state == State.STOP           # 3 m/s * 0.4 s + 0.22 = 1.42 > 1.3


def test_reaching_person_counts_closer_for_ssm():
    cfg = dict(reach=ReachConfig(enabled=True, margin=0.3))
    body = person_joints(1.9, 0.0, pose="reach")          # hand ~1.3 m from the base origin
    stand = person_joints(1.9, 0.0, pose="stand")
    m = ssm_monitor(**cfg)
    feed(m, 10.0, [(1, stand)])
    assert m.step(10.01, (1.0, 0.0, 0.0)).state == State.NORMAL
    m = ssm_monitor(**cfg)
    feed(m, 10.0, [(1, body)])
    d = m.step(10.01, (1.0, 0.0, 0.0))
    assert d.state == State.STOP and d.zone == "ssm"
