"""Hysteresis (enter/exit counts, release margin, minimum dwell), ramp-up after a stop, latched stop + reset."""
import numpy as np
import pytest

from pose_estimation_ros.safety import HysteresisConfig, SafetyConfig, SafetyMonitor, State, basic_zones
from pose_estimation_ros.safety.scenarios import feed

RATE = 15.0


def column(x: float) -> np.ndarray:
    return np.tile([x, 0.0, 1.0], (24, 1))


def monitor(**h):
    hyst = dict(enter_count=1, exit_count=3, min_dwell=0.0, release_margin=0.1, ramp_rate=100.0)
    hyst.update(h)
    latch = hyst.pop("latch", False)
    return SafetyMonitor(SafetyConfig(zones=basic_zones(0.8, 2.0, 0.4), hysteresis=HysteresisConfig(**hyst),
                                      latch_stop=latch))


def drive(m, distances, t0=10.0, command=(1.0, 0.0, 0.0)):
    """One pose message per distance at RATE, a step after each; returns the decisions."""
    out = []
    for k, x in enumerate(distances):
        t = t0 + k / RATE
        feed(m, t, [(1, column(x))] if x is not None else [])
        out.append(m.step(t + 0.001, command))
    return out


def changes(decisions):
    states = [d.state for d in decisions]
    return sum(a != b for a, b in zip(states, states[1:]))


def settle(m, t0=9.0):
    drive(m, [5.0] * 5, t0=t0)


def test_no_flapping_on_a_distance_oscillating_around_a_boundary():
    wobble = [2.0 + 0.03 * (-1) ** k for k in range(45)]        # 1.97, 2.03, ... around the 2.0 m slowdown edge
    m = monitor()
    settle(m)
    d = drive(m, wobble)
    assert changes(d) == 1 and d[-1].state == State.SLOWDOWN           # entered once, stayed
    # exit counts alone (no release margin) also hold it
    m = monitor(release_margin=0.0)
    settle(m)
    assert changes(drive(m, wobble)) == 1
    # without any hysteresis the same input flaps: the test input is meaningful
    m = monitor(release_margin=0.0, exit_count=1)
    settle(m)
    assert changes(drive(m, wobble)) > 20


def test_release_margin_and_exit_count():
    m = monitor(release_margin=0.1, exit_count=3)
    settle(m)
    d = drive(m, [1.9, 2.05, 2.05, 2.05, 2.05])
    assert all(x.state == State.SLOWDOWN for x in d)                    # 2.05 is within the 0.1 m margin
    d = drive(m, [2.15, 2.15, 2.15, 2.15], t0=11.0)
    assert [x.state for x in d] == [State.SLOWDOWN, State.SLOWDOWN, State.NORMAL, State.NORMAL]


def test_enter_count():
    m = monitor(enter_count=3)
    settle(m)
    d = drive(m, [1.5, 5.0, 1.5, 1.5, 1.5])
    assert [x.state for x in d] == [State.NORMAL] * 4 + [State.SLOWDOWN]


def test_minimum_dwell_holds_the_restrictive_state():
    m = monitor(min_dwell=1.0, exit_count=1, release_margin=0.0)
    settle(m)
    d = drive(m, [1.5] + [5.0] * 20)      # in for one message, then gone
    t_in = 10.0
    for k, x in enumerate(d):
        t = t_in + k / RATE
        assert x.state == (State.SLOWDOWN if t - t_in < 1.0 - 1e-6 else State.NORMAL), (k, t)


def test_ramp_up_after_stop():
    m = monitor(ramp_rate=0.5, exit_count=1, release_margin=0.0)
    settle(m)
    drive(m, [0.5] * 3)                   # STOP
    assert m.step(10.3, (1.0, 0.0, 0.0)).speed_fraction == 0.0
    fr = []
    for k in range(120):                  # gone; poses keep coming at ~17 Hz, control at 50 Hz
        t = 10.4 + 0.02 * k
        if k % 3 == 0:
            feed(m, t, [(1, column(5.0))])
        fr.append(m.step(t, (1.0, 0.0, 0.0)))
    fracs = [d.speed_fraction for d in fr]
    assert fr[0].state == State.NORMAL and fracs[0] == pytest.approx(0.0)
    assert all(b >= a for a, b in zip(fracs, fracs[1:]))
    assert fracs[50] == pytest.approx(0.5 * 1.0)                        # 1 s after release at 0.5 / s
    assert fracs[100] == pytest.approx(1.0) and "ramping" not in fr[110].reason
    assert "ramping" in fr[10].reason
    # slowing down is immediate
    feed(m, 12.9, [(1, column(1.5))])
    assert m.step(12.9, (1.0, 0.0, 0.0)).speed_fraction == pytest.approx(0.4)


def test_ramp_applies_after_slowdown_too():
    m = monitor(ramp_rate=1.0, exit_count=1, release_margin=0.0)
    settle(m)
    drive(m, [1.5] * 2)
    feed(m, 10.5, [(1, column(5.0))])
    assert m.step(10.5).speed_fraction == pytest.approx(0.4, abs=0.01)
    assert m.step(10.8).speed_fraction == pytest.approx(0.7, abs=0.01)


def test_latched_stop_needs_a_reset_once_the_cause_is_gone():
    m = monitor(latch=True, exit_count=1, release_margin=0.0)
    assert m.step(9.0).state == State.STOP and m.latched              # start-up (no poses yet) latches too
    settle(m)
    assert m.step(9.5).state == State.STOP
    assert m.reset()[0] and not m.latched
    drive(m, [0.5])                       # into the stop zone
    d = drive(m, [5.0] * 3, t0=10.5)      # gone again: still stopped
    assert all(x.state == State.STOP and x.latched for x in d) and "safety_reset" in d[-1].reason
    drive(m, [0.5], t0=11.0)              # back inside: a reset is refused
    ok, why = m.reset()
    assert not ok and "still present" in why
    drive(m, [5.0], t0=11.5)
    ok, _ = m.reset()
    assert ok
    assert m.step(11.6).state == State.NORMAL
