"""Scenario harness: generated pose sequences replayed through the core; the command stream is checked."""
from dataclasses import replace
from pathlib import Path

import pytest

from pose_estimation_ros.safety import config_from_yaml
from pose_estimation_ros.safety import scenarios as sc
from pose_estimation_ros.safety.ssm import protective_distance

CONFIG = Path(__file__).resolve().parents[1] / "config"
BASE = config_from_yaml(CONFIG / "zones_mobile_base.yaml")
ARM = config_from_yaml(CONFIG / "zones_arm.yaml")
RATE = 15.0
CONTROL = 50.0


def walk_in_and_out(cfg, near=0.4):
    frames = sc.empty(0.5, RATE)
    t = sc.end_time(frames) + 1 / RATE
    frames += sc.walk(cfg, (6.0, 0.3), (near, 0.0), 1.2, RATE, t0=t)
    t = sc.end_time(frames) + 1 / RATE
    frames += sc.hold(cfg, (near, 0.0), 1.0, RATE, t0=t)
    t = sc.end_time(frames) + 1 / RATE
    frames += sc.walk(cfg, (near, 0.0), (6.0, -0.3), 1.2, RATE, t0=t)
    t = sc.end_time(frames) + 1 / RATE
    return frames + sc.empty(3.0, RATE, t0=t)


def test_person_walking_in_and_leaving_mobile_base():
    frames = walk_in_and_out(BASE)
    out = sc.run(BASE, frames, CONTROL, command=(1.0, 0.0, 0.0))
    states = [s for _, s in sc.transitions(out)]
    assert states[0] == "STOP" and states[1] == "NORMAL"            # start-up watchdog, then clear
    assert "LIMIT" in states and "SLOWDOWN" in states and "STOP" in states[2:]
    assert out[-1].state == "NORMAL" and out[-1].speed_fraction == 1.0
    # walking in: the allowed speed only goes down (no flapping) until the person turns round
    t_turn = frames[[i for i, f in enumerate(frames) if f.people][0]].t + (6.0 - 0.4) / 1.2 + 1.0
    inbound = [c for c in out if out[0].t + 1.0 < c.t < t_turn and c.state != "NORMAL"]
    fr = [c.speed_fraction for c in inbound]
    assert all(b <= a + 1e-9 for a, b in zip(fr, fr[1:]))
    # stopped before anyone is inside the protective distance at standstill (+ robot radius)
    stop_radius = protective_distance(BASE.ssm, 0.0) + BASE.ssm.robot_radius
    assert all(c.speed_fraction == 0.0 for c in out if c.min_distance < stop_radius and c.t > out[0].t + 1.0)
    # leaving: ramps back up at the configured rate, no oscillation
    t_stop_end = max(c.t for c in out if c.speed_fraction == 0.0)
    t_full = min(c.t for c in out if c.t > t_stop_end and c.speed_fraction == 1.0)
    assert t_full - t_stop_end >= 1.0 / BASE.hysteresis.ramp_rate - 0.05
    assert len(states) <= 12, states


def test_person_reaching_toward_the_arm_stops_it_earlier():
    def run(cfg, pose):
        frames = sc.empty(0.5, RATE) + sc.hold(cfg, (2.45, 0.0), 1.0, RATE, t0=0.5, pose=pose)
        return sc.run(cfg, frames, CONTROL)[-1]
    stand = run(ARM, "stand")
    assert stand.state == "SLOWDOWN" and stand.zone == "slowdown"
    reach = run(ARM, "reach")
    assert reach.state == "STOP" and reach.zone == "ssm" and "S_p" in reach.reason
    no_reach = run(replace(ARM, reach=replace(ARM.reach, enabled=False)), "reach")
    assert no_reach.state == "LIMIT" and no_reach.speed_fraction == pytest.approx(0.5)   # hand in the station


def test_stop_gesture_in_front_of_the_arm():
    frames = sc.empty(0.5, RATE) + sc.hold(ARM, (2.2, 0.8), 0.4, RATE, t0=0.5)
    frames += sc.hold(ARM, (2.2, 0.8), 1.0, RATE, t0=0.5 + 0.4, pose="palm")
    frames += sc.hold(ARM, (2.2, 0.8), 1.0, RATE, t0=1.9)
    out = sc.run(ARM, frames, CONTROL)
    gesture = [c for c in out if c.zone == "gesture"]
    assert gesture and all(c.state == "STOP" for c in gesture)
    t_first = gesture[0].t - 0.03
    assert t_first - 0.9 >= ARM.gesture.hold_time - 1e-6       # held for hold_time before it counted
    assert out[-1].state in ("SLOWDOWN", "LIMIT") and out[-1].speed_fraction > 0   # hand down: zones only


def test_perception_dropout_stops_within_watchdog_plus_one_cycle_and_recovers():
    frames = sc.empty(1.0, RATE)
    t_last = sc.end_time(frames)
    frames += sc.empty(2.0, RATE, t0=t_last + 1.2)              # 1.2 s without pose messages
    out = sc.run(BASE, frames, CONTROL)
    arrival_last = t_last + 0.03
    stop = next(c for c in out if c.t > arrival_last and c.zone == "watchdog")
    assert stop.state == "STOP" and stop.speed_fraction == 0.0
    assert stop.t - arrival_last <= BASE.watchdog_timeout + 1.0 / CONTROL + 1e-9
    assert out[-1].state == "NORMAL" and out[-1].speed_fraction == 1.0


def test_perception_fault_messages_stop_the_robot():
    frames = sc.empty(1.0, RATE)
    bad = sc.empty(0.5, RATE, t0=1.0 + 1 / RATE)
    for f in bad:
        f.ok, f.status = False, "inference failed"
    frames += bad + sc.empty(2.0, RATE, t0=1.6)
    out = sc.run(BASE, frames, CONTROL)
    faults = [c for c in out if c.zone == "perception_fault"]
    assert faults and all(c.state == "FAULT" and c.speed_fraction == 0.0 for c in faults)
    assert "inference failed" in faults[0].reason
    assert out[-1].state == "NORMAL"


def test_recorded_sequence_replays_identically(tmp_path):
    frames = walk_in_and_out(BASE)[::3]
    sc.save(tmp_path / "seq.json", frames)
    again = sc.load(tmp_path / "seq.json")
    a = sc.run(BASE, frames, CONTROL)
    b = sc.run(BASE, again, CONTROL)
    assert [(c.t, c.state, c.speed_fraction) for c in a] == [(c.t, c.state, c.speed_fraction) for c in b]
