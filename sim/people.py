"""People in the simulator: an actor plays motions along a scripted path.

A script is a list of segments: :class:`Walk` to a point at a speed, or :class:`Hold` a motion in place
('stand', 'reach', 'sit', or a mocap clip) for a duration, facing a direction or a point. Everything is a pure
function of time: :meth:`Actor.joints_world` gives the (24, 3) world joint positions (x, y on the floor, z up).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pose_estimation_ros import kinematics as kin
from pose_estimation_ros.skeleton import JOINT_NAMES, rest_offsets

from .motions import Motion, get_motion

_FEET = [JOINT_NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
SOLE_M = 0.045           # the lowest foot joint sits this far above the floor (shoe sole)


@dataclass(frozen=True)
class Walk:
    """Walk in a straight line to ``to`` (x, y) at ``speed`` m/s."""

    to: tuple[float, float]
    speed: float = 1.3
    motion: str = "walk"


@dataclass(frozen=True)
class Hold:
    """Play ``motion`` in place for ``duration`` s, facing ``face``: a yaw (rad), an (x, y) point, or None (keep)."""

    duration: float
    motion: str = "stand"
    face: float | tuple[float, float] | None = None


@dataclass(frozen=True)
class _Piece:
    t0: float
    t1: float
    p0: np.ndarray
    p1: np.ndarray
    heading: float
    motion: Motion
    walk0: float            # distance walked before this piece


def body_to_world(heading: float) -> np.ndarray:
    """(3, 3) rotation: body frame (x left, y up, z forward) of a person facing yaw ``heading`` -> world (z up)."""
    c, s = math.cos(heading), math.sin(heading)
    return np.array([[-s, 0.0, c], [c, 0.0, s], [0.0, 1.0, 0.0]])


@dataclass
class Actor:
    """One person: start point and heading, script, and the motions it uses (names resolve via
    :func:`sim.motions.get_motion`; ``motions`` overrides a name, e.g. {'walk': a mocap clip}).

    Attributes:
        name: label in reports.
        start: (x, y) world position at t = 0.
        heading: yaw at t = 0 (rad; 0 = facing +x).
        script: segments played one after the other; after the last one the person holds its last pose.
    """

    name: str
    start: tuple[float, float]
    heading: float
    script: tuple[Walk | Hold, ...]
    motions: dict[str, Motion] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._offsets = rest_offsets()
        self._pieces = self._timeline()

    def _motion(self, name: str) -> Motion:
        return self.motions[name] if name in self.motions else get_motion(name)

    def _timeline(self) -> list[_Piece]:
        pieces, t, walked = [], 0.0, 0.0
        p = np.asarray(self.start, float)
        heading = float(self.heading)
        for seg in self.script:
            if isinstance(seg, Walk):
                q = np.asarray(seg.to, float)
                d = float(np.linalg.norm(q - p))
                if seg.speed <= 0:
                    raise ValueError(f"actor {self.name}: walk speed must be > 0, got {seg.speed}")
                if d > 1e-6:
                    heading = math.atan2(q[1] - p[1], q[0] - p[0])
                pieces.append(_Piece(t, t + d / seg.speed, p, q, heading, self._motion(seg.motion), walked))
                t, walked, p = t + d / seg.speed, walked + d, q
            elif isinstance(seg, Hold):
                if seg.duration < 0:
                    raise ValueError(f"actor {self.name}: hold duration must be >= 0, got {seg.duration}")
                if isinstance(seg.face, (int, float)):
                    heading = float(seg.face)
                elif seg.face is not None:
                    heading = math.atan2(seg.face[1] - p[1], seg.face[0] - p[0])
                pieces.append(_Piece(t, t + seg.duration, p, p, heading, self._motion(seg.motion), walked))
                t += seg.duration
            else:
                raise TypeError(f"actor {self.name}: script entries must be Walk or Hold, got {type(seg).__name__}")
        if not pieces:
            pieces.append(_Piece(0.0, math.inf, p, p, heading, self._motion("stand"), 0.0))
        return pieces

    @property
    def duration(self) -> float:
        return self._pieces[-1].t1

    def state(self, t: float) -> tuple[np.ndarray, float, np.ndarray]:
        """(position (2,), heading, local rotations (24, 3, 3)) at time ``t``."""
        piece = next((q for q in self._pieces if t < q.t1), self._pieces[-1])
        span = piece.t1 - piece.t0
        a = 1.0 if not math.isfinite(span) or span <= 0 else min(max((t - piece.t0) / span, 0.0), 1.0)
        pos = piece.p0 + a * (piece.p1 - piece.p0)
        travelled = piece.walk0 + float(np.linalg.norm(pos - piece.p0))
        return pos, piece.heading, piece.motion.pose(max(t - piece.t0, 0.0), travelled)

    def joints_and_orientation(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(24, 3) world joint positions (feet on the floor z = 0) and the (3, 3) body->world orientation."""
        pos, heading, rots = self.state(t)
        rel = kin.forward_kinematics(rots, self._offsets)            # (24, 3) body frame, pelvis at 0
        r = body_to_world(heading)
        orient = r @ rots[0]
        j = rel @ r.T
        j[:, 0] += pos[0]
        j[:, 1] += pos[1]
        j[:, 2] += SOLE_M - j[_FEET, 2].min()
        return j, orient

    def joints_world(self, t: float) -> np.ndarray:
        """(24, 3) world joint positions at ``t``."""
        return self.joints_and_orientation(t)[0]
