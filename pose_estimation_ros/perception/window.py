"""Sliding window of per-frame pose estimates for the temporal model.

The window holds the last ``length`` frame *slots* on a nominal frame period. A frame that never
arrived (dropped by the camera, the transport or a failed per-frame estimate) occupies its slot as a
masked entry: the temporal model sees the gap where it happened, entries are never silently shifted
together. Out-of-order and duplicate stamps are rejected, not inserted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PushResult:
    """Outcome of :meth:`PoseWindow.push`."""

    accepted: bool
    gap_frames: int = 0      # masked slots inserted before this frame
    reset: bool = False      # gap longer than the window: every older entry is now masked
    reason: str = ""


class PoseWindow:
    """Fixed-length window of per-frame results keyed by image stamp.

    Args:
        length: number of slots T (PoseBERT's window, 16 by default).
        num_joints, rot_dim, num_betas, extra_dim: per-entry array sizes (extra holds e.g. the
            camera translation (3,) that the temporal output needs back).
        frame_period_ns: nominal time between frames. ``0`` estimates it from the median of the
            recent accepted intervals (until two frames arrive no gap can be detected).
        gap_tolerance: a frame counts as ``k`` slots after the previous one when the interval is
            within ``(k ± gap_tolerance) * period``; default 0.5 rounds to the nearest slot.
    """

    def __init__(self, length: int = 16, *, num_joints: int = 24, rot_dim: int = 6, num_betas: int = 10,
                 extra_dim: int = 3, frame_period_ns: int = 0, gap_tolerance: float = 0.5) -> None:
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        if frame_period_ns < 0:
            raise ValueError(f"frame period must be >= 0 ns, got {frame_period_ns}")
        if not 0.0 < gap_tolerance <= 0.5:
            raise ValueError(f"gap_tolerance must be in (0, 0.5], got {gap_tolerance}")
        self.length = length
        self.frame_period_ns = int(frame_period_ns)
        self.gap_tolerance = gap_tolerance
        self.pose = np.zeros((length, num_joints, rot_dim), np.float32)
        self.betas = np.zeros((length, num_betas), np.float32)
        self.extra = np.zeros((length, extra_dim), np.float32)
        self.valid = np.zeros(length, bool)
        self.stamps = np.full(length, -1, np.int64)   # -1 for slots no frame ever filled
        self._last_stamp: int | None = None
        self._intervals: list[int] = []

    # ------------------------------------------------------------------ state
    @property
    def last_stamp_ns(self) -> int | None:
        return self._last_stamp

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    def period_ns(self) -> int:
        """Nominal frame period in use (configured, else the median recent interval, else 0)."""
        if self.frame_period_ns > 0:
            return self.frame_period_ns
        if self._intervals:
            return int(np.median(self._intervals))
        return 0

    def clear(self) -> None:
        """Forget everything (e.g. when the stream restarts)."""
        self.valid[:] = False
        self.stamps[:] = -1
        self._last_stamp = None
        self._intervals.clear()

    # ------------------------------------------------------------------ update
    def _shift(self, n: int) -> None:
        """Advance by ``n`` slots: oldest ``n`` fall out, ``n`` masked slots appear at the end."""
        n = min(n, self.length)
        for arr, fill in ((self.pose, 0), (self.betas, 0), (self.extra, 0), (self.valid, False), (self.stamps, -1)):
            arr[:-n] = arr[n:].copy() if n < self.length else arr[:0]
            arr[-n:] = fill

    def slots_since_last(self, stamp_ns: int) -> int:
        """How many slots after the last accepted frame ``stamp_ns`` falls (1 = the next frame)."""
        if self._last_stamp is None:
            return 1
        period = self.period_ns()
        dt = stamp_ns - self._last_stamp
        if period <= 0:
            return 1
        k = dt / period
        slots = int(np.floor(k + 0.5))
        # within tolerance of an integer slot, else round up (a late frame never overwrites a slot)
        if abs(k - slots) > self.gap_tolerance:
            slots = int(np.ceil(k))
        return max(slots, 1)

    def _advance(self, stamp_ns: int, slots: int | None) -> int:
        """Move to the slot of ``stamp_ns`` (``slots`` after the last, or computed); returns the slot count."""
        if slots is None:
            slots = self.slots_since_last(stamp_ns)
        slots = max(int(slots), 1)
        if self._last_stamp is not None:
            self._intervals.append(int((stamp_ns - self._last_stamp) / slots))
            self._intervals = self._intervals[-31:]
        self._shift(slots)
        self.stamps[-1] = stamp_ns
        self._last_stamp = stamp_ns
        return slots

    def push(self, stamp_ns: int, pose: np.ndarray, betas: np.ndarray, extra: np.ndarray | None = None,
             slots: int | None = None) -> PushResult:
        """Append the per-frame result of the image stamped ``stamp_ns``.

        Args:
            stamp_ns: image stamp, nanoseconds.
            pose: (J, R) per-frame rotations. betas: (B,). extra: (E,) or None.
            slots: slots after the last frame (several windows sharing one slot clock pass it), None = from stamps.
        Returns:
            PushResult; ``accepted=False`` for a stamp not newer than the last one (nothing changes).
        """
        if self._last_stamp is not None and stamp_ns <= self._last_stamp:
            what = "duplicate" if stamp_ns == self._last_stamp else "out-of-order"
            return PushResult(False, reason=f"{what} stamp {stamp_ns} <= last {self._last_stamp}")
        if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(betas))):
            return PushResult(False, reason="non-finite per-frame estimate")
        first = self._last_stamp is None
        slots = self._advance(stamp_ns, slots)
        self.pose[-1] = pose
        self.betas[-1] = betas
        self.extra[-1] = 0 if extra is None else extra
        self.valid[-1] = True
        gap = 0 if first else slots - 1
        return PushResult(True, gap_frames=gap, reset=gap >= self.length - 1 and gap > 0)

    def mark_missing(self, stamp_ns: int, slots: int | None = None) -> PushResult:
        """Record that the frame stamped ``stamp_ns`` arrived but produced no estimate (masked slot)."""
        if self._last_stamp is not None and stamp_ns <= self._last_stamp:
            return PushResult(False, reason=f"out-of-order stamp {stamp_ns} <= last {self._last_stamp}")
        slots = self._advance(stamp_ns, slots)
        return PushResult(True, gap_frames=slots)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model inputs: pose (1,T,J,R) float32, betas (1,T,B) float32, valid (1,T) bool."""
        return self.pose[None], self.betas[None], self.valid[None]


NS_PER_S = 1_000_000_000


class StampError(ValueError):
    """An image stamp that cannot be used (invalid nanosec, negative, too far ahead of the clock)."""


def stamp_fields_to_ns(sec: int, nanosec: int) -> int:
    """``builtin_interfaces/Time`` fields -> nanoseconds; an invalid ``nanosec`` (>= 1e9) is refused.

    Raises:
        StampError: ``nanosec`` outside [0, 1e9) or ``sec`` negative.
    """
    sec, nanosec = int(sec), int(nanosec)
    if not 0 <= nanosec < NS_PER_S:
        raise StampError(f"invalid stamp: nanosec {nanosec} is outside [0, 1e9)")
    if sec < 0:
        raise StampError(f"invalid stamp: negative sec {sec}")
    return sec * NS_PER_S + nanosec


@dataclass(frozen=True)
class StampVerdict:
    """Outcome of :meth:`StampGuard.admit`: ``accepted``; ``reset`` when a run of rejections restarted the stream."""

    accepted: bool
    reason: str = ""
    reset: bool = False


class StampGuard:
    """The one gate every image stamp passes before any window sees it (shared by all tracks).

    Rejects a stamp that is not newer than the last accepted one, or more than ``max_ahead_ns`` ahead of
    the caller's clock (when the clock is known, ``now_ns > 0``). A run of ``reset_after`` consecutive
    rejections means the stream restarted or one bad stamp got in before the clock was known: the guard
    forgets its last stamp and accepts the next one with ``reset=True`` (the caller clears its windows),
    so a single stamp far in the future can never block the stream for good.

    Args:
        max_ahead_ns: how far ahead of ``now_ns`` a stamp may be (default 2 s; clock skew between machines).
        reset_after: consecutive rejections that restart the stream (default 5).
    """

    def __init__(self, max_ahead_ns: int = 2 * NS_PER_S, reset_after: int = 5) -> None:
        if max_ahead_ns <= 0 or reset_after < 1:
            raise ValueError(f"max_ahead_ns must be > 0 and reset_after >= 1, got {max_ahead_ns}, {reset_after}")
        self.max_ahead_ns = int(max_ahead_ns)
        self.reset_after = int(reset_after)
        self.last_ns: int | None = None
        self.rejected_run = 0

    def clear(self) -> None:
        self.last_ns = None
        self.rejected_run = 0

    def admit(self, stamp_ns: int, now_ns: int | None = None) -> StampVerdict:
        """Accept or reject ``stamp_ns`` (nanoseconds); ``now_ns``: the receiver's clock, None/0 if unknown."""
        if now_ns is not None and now_ns > 0 and stamp_ns > now_ns + self.max_ahead_ns:
            self.rejected_run += 1   # never becomes the last stamp: later frames are judged without it
            return StampVerdict(False, f"stamp {stamp_ns / 1e9:.3f} s is {(stamp_ns - now_ns) / 1e9:.3f} s ahead "
                                       f"of the clock (max {self.max_ahead_ns / 1e9:g} s)")
        if self.last_ns is not None and stamp_ns <= self.last_ns:
            self.rejected_run += 1
            if self.rejected_run < self.reset_after:
                what = "duplicate" if stamp_ns == self.last_ns else "out-of-order"
                return StampVerdict(False, f"{what} stamp {stamp_ns} <= last {self.last_ns}")
            self.last_ns, self.rejected_run = stamp_ns, 0
            return StampVerdict(True, f"{self.reset_after} stamps in a row older than the last one: stream "
                                      "restarted, windows reset", reset=True)
        self.last_ns, self.rejected_run = stamp_ns, 0
        return StampVerdict(True)
