"""Pose awareness from one person's joints in the base frame (z up), pure functions.

* :func:`reaching_toward` - an arm extended (nearly straight) and pointing at the robot's vertical axis:
  the person then counts as closer by ``reach.margin``.
* :func:`raised_palm` - a hand raised above the shoulder with the forearm near vertical (the "stop"
  sign); :class:`GestureTimer` tracks how long each person has held it.

Joints follow :mod:`pose_estimation_ros.skeleton` (SMPL-24); other skeletons get no pose cues.
"""
from __future__ import annotations

import math

from .. import skeleton
from .config import GestureConfig, ReachConfig

_J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
# (side, shoulder, elbow, wrist)
ARMS = (("left", _J["left_shoulder"], _J["left_elbow"], _J["left_wrist"]),
        ("right", _J["right_shoulder"], _J["right_elbow"], _J["right_wrist"]))


def _confident(conf, idx, min_conf: float) -> bool:
    return all(conf[i] >= min_conf for i in idx)


def reaching_toward(joints: list, conf: list, cfg: ReachConfig, min_conf: float,
                    robot_xy: tuple[float, float] = (0.0, 0.0)) -> str:
    """Side ("left"/"right") of an arm extended toward the robot, "" when none.

    ``joints``: (J, 3) base-frame rows as lists (x forward, z up); ``conf``: (J,) confidences.
    Extended: |wrist - shoulder| >= min_straightness * (|elbow - shoulder| + |wrist - elbow|).
    Toward: angle between (wrist - shoulder) and the horizontal direction from the shoulder to the
    robot's vertical axis <= max_angle_deg.
    """
    if not cfg.enabled or len(joints) != skeleton.NUM_JOINTS:
        return ""
    cos_max = math.cos(math.radians(cfg.max_angle_deg))
    for side, s, e, w in ARMS:
        if not _confident(conf, (s, e, w), min_conf):
            continue
        S, E, W = joints[s], joints[e], joints[w]
        upper = math.dist(S, E)
        fore = math.dist(E, W)
        arm = (W[0] - S[0], W[1] - S[1], W[2] - S[2])
        span = math.sqrt(arm[0] ** 2 + arm[1] ** 2 + arm[2] ** 2)
        if upper + fore < 1e-6 or span < cfg.min_straightness * (upper + fore):
            continue
        tx, ty = robot_xy[0] - S[0], robot_xy[1] - S[1]
        tn = math.hypot(tx, ty)
        if tn < 1e-6:
            return side                     # shoulder above the robot's axis: as close as it gets
        if (arm[0] * tx + arm[1] * ty) / (span * tn) >= cos_max:
            return side
    return ""


def raised_palm(joints: list, conf: list, cfg: GestureConfig, min_conf: float) -> str:
    """Side of a raised palm (wrist >= min_raise above the shoulder, forearm within max_tilt of vertical)."""
    if not cfg.enabled or len(joints) != skeleton.NUM_JOINTS:
        return ""
    cos_max = math.cos(math.radians(cfg.max_tilt_deg))
    for side, s, e, w in ARMS:
        if not _confident(conf, (s, e, w), min_conf):
            continue
        S, E, W = joints[s], joints[e], joints[w]
        if W[2] - S[2] < cfg.min_raise:
            continue
        fz = W[2] - E[2]
        fn = math.dist(E, W)
        if fn > 1e-6 and fz / fn >= cos_max:
            return side
    return ""


class GestureTimer:
    """Per person: since when (pose stamp) the gesture has been held without interruption."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}

    def update(self, stamp: float, present: dict[int, bool]) -> dict[int, float]:
        """``present``: person id -> gesture seen in this message. Returns id -> held duration (s).

        A person missing from a message, or seen without the gesture, restarts the timer.
        """
        since = {}
        held = {}
        for pid, on in present.items():
            if on:
                since[pid] = self._since.get(pid, stamp)
                held[pid] = stamp - since[pid]
        self._since = since
        return held

    def reset(self) -> None:
        self._since.clear()
