"""Joint velocities from consecutive poses of the same person (same track id), pure numpy."""
from __future__ import annotations

import numpy as np

from .config import VelocityConfig


class JointVelocityTracker:
    """Finite differences of base-frame joints between a person's consecutive poses, EMA-smoothed.

    Uses the pose (image) stamps, not arrival times. A joint unconfident in either pose gets zero
    velocity; a gap longer than ``max_dt`` (or a new person) gives no velocity for that person.
    """

    def __init__(self) -> None:
        self._prev: dict[int, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}

    def update(self, stamp: float, people: list[tuple[int, np.ndarray, np.ndarray]], cfg: VelocityConfig,
               min_conf: float) -> dict[int, np.ndarray]:
        """``people``: [(id, joints (J, 3) base frame, confidence (J,))] -> {id: velocity (J, 3) m/s}."""
        out: dict[int, np.ndarray] = {}
        cur = {}
        for pid, joints, conf in people:
            ok = conf >= min_conf
            prev = self._prev.get(pid)
            vel = None
            if prev is not None and prev[1].shape == joints.shape:
                t0, j0, ok0, v0 = prev
                dt = stamp - t0
                if 0.0 < dt <= cfg.max_dt:
                    raw = (joints - j0) / dt
                    raw[~(ok & ok0)] = 0.0
                    vel = cfg.smoothing * v0 + (1.0 - cfg.smoothing) * raw if v0 is not None else raw
            cur[pid] = (stamp, joints, ok, vel)
            if vel is not None:
                out[pid] = vel
        self._prev = cur
        return out

    def reset(self) -> None:
        self._prev.clear()
