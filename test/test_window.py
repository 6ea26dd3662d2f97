"""Sliding window: gaps become masked slots in place, out-of-order/duplicate stamps are refused."""
import numpy as np
import pytest

from pose_estimation_ros.perception.window import PoseWindow

MS = 1_000_000
PERIOD = 100 * MS


def pose(v: float) -> np.ndarray:
    return np.full((24, 6), v, np.float32)


def push(w: PoseWindow, t_ms: int, v: float):
    return w.push(t_ms * MS, pose(v), np.zeros(10, np.float32), np.array([0, 0, v], np.float32))


def test_fills_in_order_and_keeps_newest_last():
    w = PoseWindow(4, frame_period_ns=PERIOD)
    for i in range(6):
        assert push(w, 100 * i, i).accepted
    p, b, valid = w.arrays()
    assert p.shape == (1, 4, 24, 6) and b.shape == (1, 4, 10) and valid.shape == (1, 4)
    assert valid.all()
    assert [float(x) for x in p[0, :, 0, 0]] == [2, 3, 4, 5]
    assert list(w.stamps) == [200 * MS, 300 * MS, 400 * MS, 500 * MS]


def test_gap_inserts_masked_slots_where_frames_are_missing():
    w = PoseWindow(6, frame_period_ns=PERIOD)
    push(w, 0, 0)
    push(w, 100, 1)
    r = push(w, 400, 4)          # frames at 200 and 300 ms never arrived
    assert r.accepted and r.gap_frames == 2
    valid = w.arrays()[2][0]
    assert list(valid) == [False, False, True, True, False, False, True][-6:]
    assert list(w.pose[:, 0, 0][valid]) == [0, 1, 4]
    assert w.stamps[-1] == 400 * MS and w.stamps[-2] == -1


def test_jittered_frame_is_not_a_gap():
    w = PoseWindow(4, frame_period_ns=PERIOD)
    push(w, 0, 0)
    r = push(w, 140, 1)          # 1.4 periods: still the next slot
    assert r.gap_frames == 0
    r = push(w, 300, 2)          # 1.6 periods later: one slot missed
    assert r.gap_frames == 1


def test_long_gap_resets_the_window():
    w = PoseWindow(4, frame_period_ns=PERIOD)
    for i in range(4):
        push(w, 100 * i, i)
    r = push(w, 2000, 9)
    assert r.accepted and r.reset
    assert list(w.valid) == [False, False, False, True]


@pytest.mark.parametrize("stamp_ms,word", [(200, "duplicate"), (150, "out-of-order")])
def test_out_of_order_and_duplicate_are_rejected_without_change(stamp_ms, word):
    w = PoseWindow(4, frame_period_ns=PERIOD)
    push(w, 100, 1)
    push(w, 200, 2)
    before = (w.pose.copy(), w.valid.copy(), w.stamps.copy())
    r = push(w, stamp_ms, 7)
    assert not r.accepted and word in r.reason
    assert np.array_equal(before[0], w.pose) and np.array_equal(before[1], w.valid)
    assert np.array_equal(before[2], w.stamps)


def test_period_estimated_from_stamps_when_not_configured():
    w = PoseWindow(8)
    for i in range(5):
        push(w, 50 * i, i)
    assert w.period_ns() == 50 * MS
    r = push(w, 350, 7)          # 200, 250, 300 missing
    assert r.gap_frames == 2


def test_missing_estimate_marks_its_slot():
    w = PoseWindow(4, frame_period_ns=PERIOD)
    push(w, 0, 0)
    w.mark_missing(100 * MS)
    push(w, 200, 2)
    assert list(w.valid) == [False, True, False, True]


def test_non_finite_estimate_is_rejected():
    w = PoseWindow(4, frame_period_ns=PERIOD)
    bad = pose(0)
    bad[3, 2] = np.nan
    assert not w.push(0, bad, np.zeros(10, np.float32)).accepted
    assert w.num_valid == 0


def test_invalid_configuration_is_refused():
    with pytest.raises(ValueError, match="window length"):
        PoseWindow(0)
    with pytest.raises(ValueError, match="gap_tolerance"):
        PoseWindow(4, gap_tolerance=0.9)


# ---------------------------------------------------------------- the stamp gate (issue 16, item 4)
from pose_estimation_ros.perception.window import StampError, StampGuard, stamp_fields_to_ns  # noqa: E402

NOW = 1_700_000_000 * 1_000_000_000


def test_one_far_future_stamp_does_not_block_later_frames():
    g = StampGuard()
    assert g.admit(NOW - 30 * MS, NOW).accepted
    far = (2**31 - 1) * 1_000_000_000
    v = g.admit(far, NOW)
    assert not v.accepted and "ahead of the clock" in v.reason
    # every later normal frame is accepted at once: the far stamp never became "the last one"
    assert all(g.admit(NOW + k * 33 * MS, NOW + k * 33 * MS).accepted for k in range(1, 10))


def test_a_future_stamp_that_got_in_without_a_clock_is_undone_by_a_run_of_rejections():
    g = StampGuard(reset_after=5)
    assert g.admit((2**31 - 1) * 1_000_000_000, None).accepted   # no clock known: cannot judge "ahead"
    verdicts = [g.admit(NOW + k * 33 * MS, None) for k in range(1, 8)]
    assert [v.accepted for v in verdicts] == [False] * 4 + [True] * 3
    assert verdicts[4].reset and not verdicts[5].reset


def test_invalid_nanosec_is_refused_at_once_and_later_frames_pass():
    with pytest.raises(StampError, match="nanosec"):
        stamp_fields_to_ns(100, 1_000_000_000)
    with pytest.raises(StampError, match="negative"):
        stamp_fields_to_ns(-1, 0)
    assert stamp_fields_to_ns(100, 999_999_999) == 100_999_999_999
    g = StampGuard()
    assert g.admit(stamp_fields_to_ns(100, 5), None).accepted   # nothing of the invalid one reached the guard


def test_duplicates_and_out_of_order_are_rejected_until_the_run_resets():
    g = StampGuard(reset_after=3)
    assert g.admit(1000, None).accepted
    assert "duplicate" in g.admit(1000, None).reason
    assert "out-of-order" in g.admit(999, None).reason
    assert g.admit(998, None).reset   # third in a row: the stream restarted
    assert g.admit(1001, None).accepted and not g.admit(1001, None).accepted
