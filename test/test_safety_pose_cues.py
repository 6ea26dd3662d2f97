"""Pose awareness: reaching toward the robot (counts closer), raised-palm stop gesture held for a time."""
import math

import numpy as np
import pytest

from pose_estimation_ros.safety import (GestureConfig, HysteresisConfig, ReachConfig, SafetyConfig, SafetyMonitor,
                                        State, ZoneConfig, basic_zones)
from pose_estimation_ros.safety.pose_cues import GestureTimer, raised_palm, reaching_toward
from pose_estimation_ros.safety.scenarios import _arm, feed, person_joints
from pose_estimation_ros import skeleton

REACH = ReachConfig(enabled=True, margin=0.3, min_straightness=0.9, max_angle_deg=35.0)
GESTURE = GestureConfig(enabled=True, hold_time=0.5, range=3.0, min_raise=0.1, max_tilt_deg=30.0)
ONES = [1.0] * 24


def reach(j, cfg=REACH, conf=ONES):
    return reaching_toward(j.tolist(), list(conf), cfg, 0.3)


def palm(j, cfg=GESTURE, conf=ONES):
    return raised_palm(j.tolist(), list(conf), cfg, 0.3)


def test_arm_extended_toward_the_robot_is_a_reach():
    assert reach(person_joints(2.0, 0.5, pose="reach", side="left")) == "left"
    assert reach(person_joints(2.0, 0.0, pose="reach")) == "right"


@pytest.mark.parametrize("joints", [
    person_joints(2.0, 0.0, pose="stand"),                          # arms down
    person_joints(2.0, 0.0, pose="tpose"),                          # arms sideways
    person_joints(2.0, 0.0, pose="palm"),                           # hand raised
    person_joints(2.0, 0.0, facing=0.0, pose="reach"),              # reaching away from the robot
    person_joints(2.0, 0.0, facing=math.pi / 2, pose="reach"),      # reaching sideways
])
def test_other_poses_are_not_a_reach(joints):
    assert reach(joints) == ""


def test_bent_arm_is_not_extended():
    j = skeleton.REST_JOINTS.copy()
    _arm(j, "left", (0.0, -1.0, 0.0), (0.0, -1.0, 0.0))
    _arm(j, "right", (0.0, 0.0, 1.0), (0.0, 1.0, 0.0))    # upper arm forward, forearm up: 90 deg elbow
    # person frame -> base frame facing -x at (2, 0)
    base = np.array([2.0, 0.0, 0.95]) + j[:, :1] * [0, -1, 0] + j[:, 1:2] * [0, 0, 1] + j[:, 2:3] * [-1, 0, 0]
    assert reach(base) == ""


def test_reach_angle_and_switch_and_confidence():
    off = person_joints(2.0, 0.0, facing=math.pi + math.radians(30), pose="reach")
    assert reach(off) != ""
    assert reach(off, ReachConfig(max_angle_deg=20.0)) == ""
    j = person_joints(2.0, 0.0, pose="reach")
    assert reach(j, ReachConfig(enabled=False)) == ""
    conf = np.ones(24)
    conf[21] = 0.1                                          # right wrist unsure
    assert reach(j, conf=conf) == ""


def test_raised_palm():
    assert palm(person_joints(2.0, 0.0, pose="palm")) == "right"
    assert palm(person_joints(2.0, 0.0, pose="palm", side="left")) == "left"
    for pose in ("stand", "reach", "tpose"):
        assert palm(person_joints(2.0, 0.0, pose=pose)) == ""
    assert palm(person_joints(2.0, 0.0, pose="palm"), GestureConfig(enabled=False)) == ""
    assert palm(person_joints(2.0, 0.0, pose="palm"), GestureConfig(min_raise=0.5)) == ""


def test_gesture_timer_restarts_on_interruption():
    g = GestureTimer()
    assert g.update(1.0, {1: True, 2: False}) == {1: 0.0}
    assert g.update(1.4, {1: True, 2: True}) == {1: pytest.approx(0.4), 2: 0.0}
    assert g.update(1.5, {1: False, 2: True}) == {2: pytest.approx(0.1)}
    assert g.update(1.6, {1: True}) == {1: 0.0}              # person 2 out of view: forgotten


FAST = HysteresisConfig(enter_count=1, exit_count=2, min_dwell=0.0, release_margin=0.1, ramp_rate=100.0)


def gesture_monitor(gesture=GESTURE):
    return SafetyMonitor(SafetyConfig(zones=basic_zones(0.5, 1.0, 0.5), gesture=gesture, hysteresis=FAST))


def warm_up(m, t0=10.0):
    for k in range(3):          # leave the start-up watchdog state (exit_count good messages)
        feed(m, t0 - 0.3 + 0.1 * k, [])


def run(m, frames, rate=15.0, t0=10.0):
    warm_up(m, t0)
    out = []
    for k, (x, pose) in enumerate(frames):
        t = t0 + k / rate
        feed(m, t, [(5, person_joints(x, 0.0, pose=pose))])
        out.append(m.step(t))
    return out


def test_gesture_held_for_hold_time_stops_within_range():
    d = run(gesture_monitor(), [(2.5, "palm")] * 12)
    held = [k / 15.0 for k in range(12)]
    for x, h in zip(d, held):
        assert x.state == (State.STOP if h >= 0.5 else State.NORMAL), h
    assert d[-1].zone == "gesture" and d[-1].person_id == 5
    # hand lowered: released after exit_count messages
    d = run(gesture_monitor(), [(2.5, "palm")] * 10 + [(2.5, "stand")] * 3)
    assert [x.state for x in d[-3:]] == [State.STOP, State.NORMAL, State.NORMAL]


def test_gesture_interrupted_or_out_of_range_or_off_does_not_stop():
    flicker = [(2.5, "palm"), (2.5, "palm"), (2.5, "palm"), (2.5, "stand")] * 4
    assert all(x.state == State.NORMAL for x in run(gesture_monitor(), flicker))
    assert all(x.state == State.NORMAL for x in run(gesture_monitor(), [(4.0, "palm")] * 15))
    off = GestureConfig(enabled=False)
    assert all(x.state == State.NORMAL for x in run(gesture_monitor(off), [(2.5, "palm")] * 15))


def test_reaching_person_counts_closer_for_zones():
    def state(reach_cfg):
        m = SafetyMonitor(SafetyConfig(zones=(ZoneConfig("stop", "stop", radius=1.0),
                                              ZoneConfig("slow", "slowdown", radius=3.0)),
                                       reach=reach_cfg, hysteresis=FAST))
        warm_up(m)
        feed(m, 10.0, [(1, person_joints(1.78, 0.0, pose="reach"))])      # hand ~1.2 m from the base
        return m.step(10.0)
    d = state(REACH)
    assert d.state == State.STOP and "reaching right arm" in d.reason
    assert state(ReachConfig(enabled=False)).state == State.SLOWDOWN
