"""Every fault => zero speed at once (no enter hysteresis), the watchdog bound, rejected parameters, recovery."""
import math
from dataclasses import replace

import numpy as np
import pytest

from pose_estimation_ros.safety import HysteresisConfig, SafetyConfig, SafetyMonitor, State
from pose_estimation_ros.safety.scenarios import feed

FAR = np.tile([5.0, 0.0, 1.0], (24, 1))


def healthy(**kw):
    kw.setdefault("hysteresis", HysteresisConfig(enter_count=5, exit_count=3, min_dwell=0.0, ramp_rate=100.0))
    m = SafetyMonitor(SafetyConfig(**kw))
    for k in range(5):
        feed(m, 10.0 + 0.05 * k, [(1, FAR)])
    assert m.step(10.21).state == State.NORMAL
    return m


def inject(m, fault, t):
    if fault == "stale":
        feed(m, t, [(1, FAR)], stamp=t - 2.0)
    elif fault == "future":
        feed(m, t, [(1, FAR)], stamp=t + 1.0)
    elif fault == "nan_joint":
        bad = FAR.copy()
        bad[21, 0] = np.nan
        feed(m, t, [(1, bad)])
    elif fault == "inf_joint":
        bad = FAR.copy()
        bad[3, 2] = np.inf
        feed(m, t, [(1, bad)])
    elif fault == "nan_stamp":
        feed(m, t, [(1, FAR)], stamp=math.nan)
    elif fault == "perception_not_ok":
        feed(m, t, [], ok=False, status="camera timeout")
    elif fault == "param_rejected":
        m.reject_parameters(t, "zones.stop.radius: stop zone must lie inside a slowdown zone")


@pytest.mark.parametrize("fault,zone", [
    ("stale", "stale"), ("future", "future"), ("nan_joint", "invalid"), ("inf_joint", "invalid"),
    ("nan_stamp", "invalid"), ("perception_not_ok", "perception_fault"), ("param_rejected", "param_rejected")])
def test_each_fault_stops_at_once_despite_enter_count(fault, zone):
    m = healthy()
    inject(m, fault, 10.3)
    d = m.step(10.3)
    assert (d.state, d.zone, d.speed_fraction) == (State.FAULT, zone, 0.0)


def test_non_finite_command_is_a_fault():
    m = healthy()
    d = m.step(10.22, (math.nan, 0.0, 0.0))
    assert (d.state, d.zone, d.speed_fraction) == (State.FAULT, "invalid_cmd", 0.0)


def test_watchdog_stops_within_timeout_plus_one_cycle():
    rate, timeout = 50.0, 0.5
    m = healthy(watchdog_timeout=timeout)
    last_pose = 10.2
    t = last_pose
    while True:
        t = round(t + 1.0 / rate, 9)
        d = m.step(t)
        if d.speed_fraction == 0.0:
            break
    assert d.zone == "watchdog" and d.state == State.STOP
    assert timeout < t - last_pose <= timeout + 1.0 / rate + 1e-9


def test_stale_stamp_detected_between_messages():
    m = healthy(watchdog_timeout=5.0, max_stamp_age=0.3)
    d = m.step(10.2 + 0.31)
    assert (d.state, d.zone) == (State.FAULT, "stale")


def test_rejected_parameters_hold_then_release_or_end_on_a_valid_set():
    m = healthy(param_reject_hold=1.0)
    m.reject_parameters(10.3, "bad")
    for k in range(9):
        feed(m, 10.3 + 0.1 * k, [(1, FAR)])
        assert m.step(10.3 + 0.1 * k).zone == "param_rejected"
    feed(m, 11.31, [(1, FAR)])
    assert m.step(11.31).state == State.NORMAL
    # a valid configuration accepted in the meantime ends the hold at once
    m.reject_parameters(11.4, "bad")
    assert m.step(11.4).zone == "param_rejected"
    m.reconfigure(replace(m.cfg, min_confidence=0.4))
    feed(m, 11.45, [(1, FAR)])
    assert m.step(11.45).state == State.NORMAL
    # hold 0 disables it
    m.reconfigure(replace(m.cfg, param_reject_hold=0.0))
    m.reject_parameters(11.5, "bad")
    assert m.step(11.5).state == State.NORMAL


def test_recovery_needs_exit_count_good_messages():
    m = healthy()
    inject(m, "nan_joint", 10.3)
    assert m.step(10.3).zone == "invalid"
    for k in range(2):
        feed(m, 10.35 + 0.05 * k, [(1, FAR)])
        d = m.step(10.35 + 0.05 * k)
        assert d.speed_fraction == 0.0 and d.zone == "invalid" and "recovering" in d.reason
    feed(m, 10.45, [(1, FAR)])
    assert m.step(10.45).state == State.NORMAL


def test_watchdog_recovery_reports_watchdog_stop():
    m = healthy(watchdog_timeout=0.5)
    assert m.step(10.8).zone == "watchdog"
    feed(m, 10.9, [(1, FAR)])
    d = m.step(10.9)
    assert (d.state, d.zone) == (State.STOP, "watchdog") and "recovering" in d.reason


NEAR = np.tile([0.4, 0.0, 1.0], (24, 1))      # 0.4 m from the camera: inside the default stop zone


def near_person_stops():
    m = healthy()
    for k in range(5):      # enter_count = 5
        feed(m, 10.3 + 0.05 * k, [(1, NEAR)])
    return m.step(10.5)


@pytest.mark.parametrize("people,why", [
    ([(1, NEAR, np.full(24, -1.0))], "confidence outside"),
    ([(1, np.zeros((0, 3)), np.zeros(0))], "no joints"),
    ([(1, np.tile([1e30, -1e30, 1e30], (24, 1)), np.ones(24))], "max_joint_distance"),
    ([(1, NEAR, np.full(24, 1.5))], "confidence outside"),
    ([(1, FAR, np.ones(24)), (2, NEAR[:5], np.ones(24))], "malformed"),
])
def test_a_person_that_cannot_be_used_is_a_fault_not_nobody(people, why):
    # the same person, usable, gives STOP (hand-checked: 0.4 m < the default 0.5 m stop radius)
    assert near_person_stops().state == State.STOP
    m = healthy()
    m.on_poses(10.3, 10.3, people)      # camera frame: what a message holds
    d = m.step(10.3)
    assert (d.state, d.zone, d.speed_fraction) == (State.FAULT, "invalid", 0.0)
    assert why in d.reason


def test_a_person_without_any_confident_joint_is_still_seen():
    m = healthy(min_confidence=0.5)
    for k in range(5):
        feed(m, 10.3 + 0.05 * k, [(1, NEAR)], conf=0.1)
    assert m.step(10.5).state == State.STOP


def test_more_people_than_max_people_is_a_fault():
    m = healthy(max_people=3)
    m.on_poses(10.3, 10.3, [(k, FAR, np.ones(24)) for k in range(3)])
    assert m.step(10.3).state != State.FAULT
    m.on_poses(10.35, 10.35, [(k, FAR, np.ones(24)) for k in range(4)], count=5000)
    d = m.step(10.35)
    assert (d.state, d.zone) == (State.FAULT, "invalid") and "5000 people" in d.reason


@pytest.mark.parametrize("axis", range(6))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_twist_component_is_checked(axis, bad):
    m = healthy()
    cmd = [0.5, 0.0, 0.0, 0.0, 0.0, 0.1]
    assert m.step(10.22, tuple(cmd)).state == State.NORMAL
    cmd[axis] = bad
    d = m.step(10.23, tuple(cmd))
    assert (d.state, d.zone, d.speed_fraction) == (State.FAULT, "invalid_cmd", 0.0)


def test_pose_array_count_reads_the_number_of_people_without_deserializing():
    from rclpy.serialization import serialize_message

    from pose_estimation_ros.ros_conversions import pose_array_count
    from pose_estimation_ros.tools.fault_injection import pose_array
    for n, frame in [(0, ""), (3, "cam"), (7, "camera_optical_frame"), (2, "abcd")]:
        msg = pose_array(123, [(k, FAR, np.ones(24)) for k in range(n)], frame_id=frame)
        assert pose_array_count(serialize_message(msg)) == n
    with pytest.raises(ValueError, match="too short"):
        pose_array_count(b"\x00\x01\x00\x00")


def _stopped_by_near_person(**kw):
    m = healthy(**kw)
    for k in range(5):
        feed(m, 10.3 + 0.05 * k, [(1, NEAR)])
    assert m.step(10.5).state == State.STOP
    return m


def test_a_person_who_stopped_the_robot_and_vanished_holds_the_stop():
    m = _stopped_by_near_person(vanish_hold=2.0, vanish_near_distance=0.0)   # the near-field rule off: below
    decisions = []
    for k in range(40):                              # nobody seen for 4 s: too close for the camera, not gone
        t = 10.55 + 0.1 * k
        feed(m, t, [])
        decisions.append((t, m.step(t)))
    # the stop zone releases after its exit hysteresis; the person's STOP is then held for vanish_hold
    last_zone_stop = max(t for t, d in decisions if d.zone == "stop")
    held = [(t, d) for t, d in decisions if last_zone_stop < t <= last_zone_stop + 2.0 - 1e-6]
    assert held and all((d.state, d.zone, d.speed_fraction) == (State.STOP, "vanished", 0.0) for _, d in held)
    after = [d for t, d in decisions if t > last_zone_stop + 2.05]
    assert after and all(d.state != State.STOP for d in after), after[:2]


def test_a_person_who_vanished_next_to_the_robot_holds_the_stop_for_vanish_hold_near():
    """Last seen within vanish_near_distance of the robot body: the camera's near-field blind spot (a forward camera
    loses a person who walks up to the stopped robot), so the STOP is held for vanish_hold_near, not vanish_hold."""
    m = _stopped_by_near_person(vanish_hold=2.0, vanish_near_distance=1.0, vanish_hold_near=6.0)
    decisions = []
    for k in range(90):
        t = 10.55 + 0.1 * k
        feed(m, t, [])
        decisions.append((t, m.step(t)))
    last_zone_stop = max(t for t, d in decisions if d.zone == "stop")
    held = [d for t, d in decisions if last_zone_stop < t <= last_zone_stop + 5.9]
    assert held and all((d.state, d.zone) == (State.STOP, "vanished") for d in held)
    assert "vanish_hold_near 6 s" in held[-1].reason and "m from the robot" in held[-1].reason
    after = [d for t, d in decisions if t > last_zone_stop + 6.1]
    assert after and all(d.state != State.STOP for d in after), after[:2]


def test_a_person_seen_again_outside_releases_without_the_vanish_hold():
    m = _stopped_by_near_person(vanish_hold=30.0)
    for k in range(6):
        t = 10.55 + 0.05 * k
        feed(m, t, [(1, FAR)])
        d = m.step(t)
    assert d.zone != "vanished" and d.state == State.NORMAL


def test_vanish_hold_zero_releases_as_before():
    m = _stopped_by_near_person(vanish_hold=0.0, vanish_hold_near=0.0)   # both holds off
    for k in range(6):
        t = 10.55 + 0.05 * k
        feed(m, t, [])
        d = m.step(t)
    assert d.state == State.NORMAL
