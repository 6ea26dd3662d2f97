"""Zone shapes and each zone type (stop, slowdown, limit, approach), every joint counted, most restrictive wins."""
import math

import numpy as np
import pytest

from pose_estimation_ros.safety import (Circle, HysteresisConfig, Polygon, SafetyConfig, SafetyMonitor, State,
                                        ZoneConfig)
from pose_estimation_ros.safety.scenarios import feed, person_joints

FAST = HysteresisConfig(enter_count=1, exit_count=1, min_dwell=0.0, release_margin=0.0, ramp_rate=100.0)
SQUARE = (-1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0)


def monitor(*zones, mode="vehicle", **kw):
    zones = zones or (ZoneConfig("stop", "stop", radius=0.5),)
    if not any(z.action == "stop" for z in zones):
        zones = (ZoneConfig("stop", "stop", radius=0.05, center=(-50.0, -50.0)),) + tuple(zones)
    kw.setdefault("hysteresis", FAST)
    return SafetyMonitor(SafetyConfig(mode=mode, zones=tuple(zones), **kw))


def decide(m, people, t=10.0, command=(1.0, 0.0, 0.0), conf=0.9):
    feed(m, t, people, conf)
    return m.step(t + 0.001, command)


def test_circle_signed_distance_and_entry_time():
    c = Circle((1.0, 0.0), 0.5)
    np.testing.assert_allclose(c.signed_distance(np.array([[1.0, 0.0], [2.0, 0.0], [1.0, 0.3]])), [-0.5, 0.5, -0.2])
    xy = np.array([[3.0, 0.0], [3.0, 0.0], [1.2, 0.0], [3.0, 2.0]])
    vel = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    t = c.entry_time(xy, vel, np.zeros(4), horizon=5.0)
    assert t[0] == pytest.approx(1.5) and t[1] == math.inf and t[2] == 0.0 and t[3] == math.inf
    # a margin enlarges the circle; the horizon cuts late entries
    assert c.entry_time(xy[:1], vel[:1], np.array([0.5]), 5.0)[0] == pytest.approx(1.0)
    assert c.entry_time(xy[:1], vel[:1], np.zeros(1), 1.0)[0] == math.inf


def test_polygon_signed_distance_convex_and_concave():
    sq = Polygon(np.array(SQUARE).reshape(-1, 2))
    np.testing.assert_allclose(sq.signed_distance(np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [2.0, 2.0]])),
                               [-1.0, -0.5, 2.0, math.sqrt(2)])
    # L shape: the notch (0.5, 0.5) is outside
    ell = Polygon(np.array([[0, 0], [1, 0], [1, 0.4], [0.4, 0.4], [0.4, 1], [0, 1]], float))
    sd = ell.signed_distance(np.array([[0.2, 0.2], [0.7, 0.7], [0.2, 0.8]]))
    assert sd[0] < 0 and sd[1] > 0 and sd[2] < 0


def test_polygon_entry_time_is_sampled_at_50ms():
    sq = Polygon(np.array(SQUARE).reshape(-1, 2))
    t = sq.entry_time(np.array([[3.0, 0.0], [3.0, 0.0]]), np.array([[-1.0, 0.0], [0.0, 1.0]]), np.zeros(2), 5.0)
    assert t[0] == pytest.approx(2.0, abs=Polygon.TTC_STEP) and t[1] == math.inf


def test_stop_polygon_zone():
    m = monitor(ZoneConfig("front", "stop", "polygon", points=(0.0, -0.5, 1.5, -0.5, 1.5, 0.5, 0.0, 0.5)))
    d = decide(m, [(4, person_joints(1.2, 0.0))])
    assert (d.state, d.speed_fraction, d.zone, d.person_id) == (State.STOP, 0.0, "front", 4)
    d = decide(m, [(4, person_joints(1.2, 1.5))], t=11.0)      # beside the box
    assert d.state == State.NORMAL


def test_slowdown_zone_with_offset_centre():
    m = monitor(ZoneConfig("stop", "stop", radius=0.3, center=(1.0, 0.0)),
                ZoneConfig("slow", "slowdown", radius=1.5, center=(1.0, 0.0), slowdown_ratio=0.3))
    d = decide(m, [(1, person_joints(2.0, 0.0))])
    assert (d.state, d.speed_fraction, d.zone) == (State.SLOWDOWN, 0.3, "slow")
    assert decide(m, [(1, person_joints(-1.0, 0.0))], t=11.0).state == State.NORMAL   # 2 m from the centre


def test_limit_zone_caps_linear_and_angular_speed_in_vehicle_mode():
    m = monitor(ZoneConfig("lim", "limit", radius=3.0, linear_limit=0.4, angular_limit=0.5))
    d = decide(m, [(1, person_joints(2.0, 0.0))], command=(1.0, 0.0, 0.0))
    assert (d.state, d.zone) == (State.LIMIT, "lim") and d.speed_fraction == pytest.approx(0.4)
    d = m.step(10.01, (0.2, 0.0, 2.0))         # slow but turning fast: the angular cap decides
    assert d.speed_fraction == pytest.approx(0.25)
    m.step(10.02, (0.2, 0.0, 0.1))             # below both caps: LIMIT zone active, nothing to cut ...
    d = m.step(10.03, (0.2, 0.0, 0.1))         # ... (after the one-cycle start of the speed ramp)
    assert d.state == State.LIMIT and d.speed_fraction == pytest.approx(1.0)


def test_limit_zone_in_arm_mode_uses_nominal_speed():
    m = monitor(ZoneConfig("lim", "limit", radius=3.0, linear_limit=0.25), mode="arm", nominal_speed=0.5)
    d = decide(m, [(1, person_joints(2.0, 0.0))], command=(0.0, 0.0, 0.0))
    assert d.state == State.LIMIT and d.speed_fraction == pytest.approx(0.5)


def test_approach_zone_uses_joint_velocities():
    z = ZoneConfig("app", "approach", radius=0.5, time_horizon=1.5, slowdown_ratio=0.2)
    # walking in at 1.2 m/s from 2.3 m: the leading joints reach 0.5 m in ~1.4 s -> APPROACH
    m = monitor(z)
    for k in range(3):
        feed(m, 10.0 + 0.1 * k, [(1, person_joints(2.3 - 0.12 * k, 0.0))])
    d = m.step(10.21, (0.0, 0.0, 0.0))
    assert (d.state, d.zone, d.speed_fraction) == (State.APPROACH, "app", 0.2)
    assert "enters in" in d.reason
    # the same person standing still: no approach
    m = monitor(z)
    for k in range(3):
        feed(m, 10.0 + 0.1 * k, [(1, person_joints(2.3, 0.0))])
    assert m.step(10.21, (0.0, 0.0, 0.0)).state == State.NORMAL
    # ... walking away: no approach
    m = monitor(z)
    for k in range(3):
        feed(m, 10.0 + 0.1 * k, [(1, person_joints(1.2 + 0.12 * k, 0.0))])
    assert m.step(10.21, (0.0, 0.0, 0.0)).state == State.NORMAL


def test_approach_zone_counts_the_robots_own_motion():
    z = ZoneConfig("app", "approach", radius=0.5, time_horizon=1.5, slowdown_ratio=0.2)
    m = monitor(z)
    m.step(9.9, (1.0, 0.0, 0.0))                 # driving forward at 1 m/s toward a standing person
    for k in range(3):
        feed(m, 10.0 + 0.1 * k, [(1, person_joints(1.8, 0.0))])
    assert m.step(10.21, (1.0, 0.0, 0.0)).state == State.APPROACH


def test_hands_and_feet_count_not_only_the_hip():
    m = monitor(ZoneConfig("stop", "stop", radius=1.0))
    body = person_joints(1.6, 0.0, pose="reach")       # pelvis at 1.6 m, right wrist/hand ~1.0 m
    d = decide(m, [(2, body)])
    assert d.state == State.STOP and "right_" in d.reason
    feet = person_joints(1.6, 0.0)
    feet[[10, 11]] = [[0.9, 0.1, 0.05], [0.9, -0.1, 0.05]]  # feet stretched in
    d = decide(m, [(2, feet)], t=11.0)
    assert d.state == State.STOP and "foot" in d.reason


def test_unconfident_joints_are_ignored():
    m = monitor(ZoneConfig("stop", "stop", radius=1.0), min_confidence=0.5)
    body = person_joints(1.6, 0.0, pose="reach")
    conf = np.full(24, 0.9)
    conf[[19, 21, 23]] = 0.2                    # right elbow, wrist, hand unsure
    d = decide(m, [(2, body)], conf=conf)
    assert d.state == State.NORMAL


def test_most_restrictive_zone_wins():
    slow = ZoneConfig("slow", "slowdown", radius=3.0, slowdown_ratio=0.5)
    stop = ZoneConfig("stop", "stop", radius=0.6)
    tight = ZoneConfig("lim", "limit", radius=3.0, linear_limit=0.3)
    loose = ZoneConfig("lim", "limit", radius=3.0, linear_limit=0.8)
    person = [(1, person_joints(2.0, 0.0))]
    assert decide(monitor(stop, slow, tight), person).zone == "lim"        # 0.3 < 0.5
    assert decide(monitor(stop, slow, loose), person).zone == "slow"       # 0.5 < 0.8
    d = decide(monitor(stop, slow, tight), [(1, person_joints(2.0, 0.0)), (2, person_joints(0.3, 0.2))])
    assert (d.state, d.zone, d.person_id) == (State.STOP, "stop", 2)


def test_disabled_zone_is_ignored():
    m = monitor(ZoneConfig("stop", "stop", radius=0.5),
                ZoneConfig("slow", "slowdown", radius=3.0, slowdown_ratio=0.5, enabled=False))
    assert decide(m, [(1, person_joints(2.0, 0.0))]).state == State.NORMAL


def test_zone_views_mark_occupied_and_winning_zone():
    m = monitor(ZoneConfig("stop", "stop", radius=0.5), ZoneConfig("slow", "slowdown", radius=3.0))
    decide(m, [(1, person_joints(2.0, 0.0))])
    views = {v.name: v for v in m.zone_views()}
    assert views["slow"].occupied and views["slow"].winner and not views["stop"].occupied
    assert views["stop"].outline.shape[1] == 2
