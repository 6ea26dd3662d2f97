"""ROS-free safety core of the controller: people's joints in, allowed speed out.

Pure logic, testable without ROS (the node in ``nodes/controller_node.py`` is glue only):

* :func:`camera_to_base` builds the camera-optical-frame -> robot-base transform from parameters.
* :func:`nearest_joint` finds the closest *joint* of any person (hands and feet count), ignoring
  joints below a confidence threshold.
* :class:`SafetyMonitor` keeps the latest observation and decides, every control cycle, the state and
  speed fraction. Any doubt means STOP: no pose message within the watchdog timeout, a stamp that is
  too old or from the future, non-finite values, perception reporting a fault.

This is not a certified safety function; it must sit behind a rated one (see README).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class State(IntEnum):
    """Controller states (values match pose_estimation_msgs/SafetyStatus)."""

    NORMAL = 0
    SLOWDOWN = 1
    LIMIT = 2
    STOP = 3
    APPROACH = 4
    FAULT = 5


@dataclass
class SafetyConfig:
    """Zones and timing. Distances in metres, times in seconds."""

    stop_distance: float = 0.8
    slowdown_distance: float = 2.0
    slowdown_ratio: float = 0.4
    watchdog_timeout: float = 0.5
    max_stamp_age: float = 1.0
    max_future: float = 0.1
    min_confidence: float = 0.3
    planar: bool = True                      # distance in the base's x-y plane (mobile base)
    camera_xyz: tuple[float, float, float] = (0.0, 0.0, 1.2)
    camera_rpy: tuple[float, float, float] = (-math.pi / 2, 0.0, -math.pi / 2)

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        if not self.stop_distance > 0:
            raise ValueError(f"stop_distance must be > 0, got {self.stop_distance}")
        if not self.slowdown_distance > self.stop_distance:
            raise ValueError(f"slowdown_distance ({self.slowdown_distance}) must exceed stop_distance "
                             f"({self.stop_distance}): the stop zone must lie inside the slowdown zone")
        if not 0.0 <= self.slowdown_ratio <= 1.0:
            raise ValueError(f"slowdown_ratio must be in [0, 1], got {self.slowdown_ratio}")
        for name in ("watchdog_timeout", "max_stamp_age", "max_future"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number of seconds, got {v}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not all(math.isfinite(v) for v in (*self.camera_xyz, *self.camera_rpy)):
            raise ValueError("camera_xyz / camera_rpy must be finite")


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll), the ROS (tf2) fixed-axis convention. Returns (3, 3)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def camera_to_base(xyz: tuple[float, float, float], rpy: tuple[float, float, float]) -> np.ndarray:
    """(4, 4) transform taking points in the camera optical frame to the robot base frame."""
    t = np.eye(4)
    t[:3, :3] = rpy_to_matrix(*rpy)
    t[:3, 3] = xyz
    return t


@dataclass
class PersonObservation:
    """One person's joints in the robot base frame."""

    person_id: int
    joints: np.ndarray        # (J, 3) metres
    confidence: np.ndarray    # (J,)


def to_base(joints_cam: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(J, 3) camera-frame points -> (J, 3) base-frame points."""
    return joints_cam @ transform[:3, :3].T + transform[:3, 3]


def nearest_joint(people: list[PersonObservation], min_confidence: float, planar: bool) -> tuple[float, int, int]:
    """Closest confident joint of any person to the base origin.

    Returns:
        (distance m, person_id, joint index); (inf, -1, -1) when no joint is confident enough.
    """
    best = (math.inf, -1, -1)
    for p in people:
        pts = p.joints[:, :2] if planar else p.joints
        d = np.linalg.norm(pts, axis=1)
        d = np.where(p.confidence >= min_confidence, d, np.inf)
        j = int(np.argmin(d))
        if d[j] < best[0]:
            best = (float(d[j]), p.person_id, j)
    return best


@dataclass
class Decision:
    """The controller's output for one cycle."""

    state: State
    speed_fraction: float
    zone: str = ""
    person_id: int = -1
    min_distance: float = math.inf
    reason: str = ""


@dataclass
class _Latest:
    received_at: float
    stamp: float
    people: list[PersonObservation] = field(default_factory=list)
    ok: bool = True
    status: str = ""


class SafetyMonitor:
    """Latest observation + zones -> :class:`Decision`, with a watchdog. Times are seconds (node clock)."""

    def __init__(self, cfg: SafetyConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.transform = camera_to_base(cfg.camera_xyz, cfg.camera_rpy)
        self._latest: _Latest | None = None

    def reconfigure(self, cfg: SafetyConfig) -> None:
        """Swap in a new configuration; an invalid one raises and leaves the old one in place."""
        cfg.validate()
        self.cfg = cfg
        self.transform = camera_to_base(cfg.camera_xyz, cfg.camera_rpy)

    def on_poses(self, now: float, stamp: float, people_cam: list[tuple[int, np.ndarray, np.ndarray]],
                 ok: bool = True, status: str = "") -> None:
        """Record a pose message: ``people_cam`` = [(id, joints (J,3) camera frame, confidence (J,))]."""
        people = [PersonObservation(pid, to_base(np.asarray(j, float), self.transform), np.asarray(c, float))
                  for pid, j, c in people_cam]
        self._latest = _Latest(now, stamp, people, ok, status)

    def step(self, now: float) -> Decision:
        """Decide the state for the control cycle at time ``now``."""
        cfg, last = self.cfg, self._latest
        if last is None:
            return Decision(State.STOP, 0.0, "watchdog", reason="no pose message received yet")
        silence = now - last.received_at
        if silence > cfg.watchdog_timeout:
            return Decision(State.STOP, 0.0, "watchdog",
                            reason=f"no pose message for {silence:.3f} s (timeout {cfg.watchdog_timeout} s)")
        if not last.ok:
            return Decision(State.FAULT, 0.0, "perception_fault", reason=f"perception fault: {last.status}")
        age = now - last.stamp
        if age > cfg.max_stamp_age:
            return Decision(State.FAULT, 0.0, "stale", reason=f"pose stamp {age:.3f} s old (max {cfg.max_stamp_age})")
        if age < -cfg.max_future:
            return Decision(State.FAULT, 0.0, "future", reason=f"pose stamp {-age:.3f} s in the future")
        for p in last.people:
            if not (np.all(np.isfinite(p.joints)) and np.all(np.isfinite(p.confidence))):
                return Decision(State.FAULT, 0.0, "invalid", person_id=p.person_id,
                                reason=f"non-finite joints for person {p.person_id}")
        dist, pid, joint = nearest_joint(last.people, cfg.min_confidence, cfg.planar)
        if dist <= cfg.stop_distance:
            return Decision(State.STOP, 0.0, "stop", pid, dist, f"joint {joint} at {dist:.2f} m")
        if dist <= cfg.slowdown_distance:
            return Decision(State.SLOWDOWN, cfg.slowdown_ratio, "slowdown", pid, dist, f"joint {joint} at {dist:.2f} m")
        return Decision(State.NORMAL, 1.0, "", pid, dist, "clear")


def is_stop(decision: Decision) -> bool:
    """True when the decision commands zero motion (STOP and FAULT both stop the robot)."""
    return decision.speed_fraction == 0.0
