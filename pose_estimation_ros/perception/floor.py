"""The floor as a ruler: a person's distance from where their feet meet the floor (``body_scale: floor``).

One camera cannot tell a small person near from a big one far: the per-frame model's 3D joints and root
translation can be scaled by any factor ``k`` about the camera centre without changing the image. The body size
the model estimates barely follows the person (about 0.87 of the average adult's for everyone), so by default an
average adult is placed ~13 % too close. When the camera's height above a flat floor and its tilt are known (a
robot's camera mount: the ``camera_xyz`` / ``camera_rpy`` the controller reads, :func:`floor_from_mount` and
``tools.floor_params``), a standing or
walking person's lowest foot touches the floor, and that fixes ``k``::

    floor plane in the camera optical frame:   up . X = -h          (up: the world's up vector, h: camera height)
    lowest foot joint  p  (model units), sole  s  below the joint:   up . (k p) = -h + s
    =>  k = (s - h) / (up . p)

This is the ground-plane constraint of monocular pedestrian localisation. It needs the foot seen (its keypoint
confident and inside the image) and clearly below the camera (its ray at least ``min_depression_deg`` below the
horizon: near the horizon a pixel of foot error moves the person far). Because a person's size does not change,
the pipeline keeps, per track, the body sizes these frames measured (``size = k x`` the sum of the model's bone
lengths) and scales every frame, feet seen or not, to their median (:class:`FloorScale`); a track that has not yet
shown its feet keeps the model's size.

Wrong on: a camera mount that is not the real one (the error in ``h`` is the error in distance, in proportion),
people on stairs, a platform or a slope (a foot above the floor places the person *farther*, the unsafe
direction), jumps (brief: the median over many frames absorbs them).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .. import skeleton

__all__ = ["FOOT_JOINTS", "ANKLE_KEYPOINTS", "FLOOR_HISTORY", "camera_up_vector", "pitch_roll_from_up",
           "floor_from_mount", "floor_scale", "size_factor", "FloorScale"]

# SMPL-24 joints that can touch the floor (toes / ball of the foot) and the COCO-17 keypoints that show them.
FOOT_JOINTS: tuple[int, ...] = (skeleton.JOINT_NAMES.index("left_foot"), skeleton.JOINT_NAMES.index("right_foot"))
ANKLE_KEYPOINTS: tuple[int, ...] = (skeleton.COCO17_NAMES.index("left_ankle"),
                                    skeleton.COCO17_NAMES.index("right_ankle"))
# Body sizes a track remembers (frames that showed its feet); every frame is scaled to their median.
FLOOR_HISTORY = 90


def camera_up_vector(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """The world's up direction in the camera optical frame (x right, y down, z forward), ``(3,)`` unit vector.

    Args:
        pitch_deg: tilt of the optical axis below the horizon (positive = looking down; 90 = straight down).
        roll_deg: rotation of the camera about its optical axis after the tilt, right-handed about +z (the image's
            x axis turns towards its y axis).
    """
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    up_pitched = np.array([0.0, -np.cos(p), -np.sin(p)])     # a level camera: (0, -1, 0); looking down: -z tilts in
    c, s = np.cos(r), np.sin(r)
    roll = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return roll @ up_pitched


def pitch_roll_from_up(up: np.ndarray) -> tuple[float, float]:
    """Inverse of :func:`camera_up_vector`: ``(pitch_deg, roll_deg)`` of a camera whose frame sees the world's up
    as ``up`` (3,) (normalised here)."""
    u = np.asarray(up, np.float64)
    u = u / np.linalg.norm(u)
    pitch = float(np.degrees(np.arcsin(np.clip(-u[2], -1.0, 1.0))))
    roll = float(np.degrees(np.arctan2(-u[0], -u[1])))
    return pitch, roll


def floor_from_mount(base_from_camera: np.ndarray, floor_z: float = 0.0) -> dict[str, float]:
    """``floor.*`` perception parameters of a camera mount: the controller's ``camera_xyz`` / ``camera_rpy`` as the
    (4, 4) transform camera optical frame -> robot base frame (``safety.geometry.camera_to_base``), with the base
    frame's z axis up and the floor at ``z = floor_z`` in it (0 for a base_link on the floor).

    Returns:
        ``{"camera_height": m, "camera_pitch_deg": deg, "camera_roll_deg": deg}``.
    """
    t = np.asarray(base_from_camera, np.float64)
    up = t[:3, :3].T @ np.array([0.0, 0.0, 1.0])          # base z (up) in the camera frame
    pitch, roll = pitch_roll_from_up(up)
    height = float(t[2, 3] - floor_z)
    if not height > 0:
        raise ValueError(f"floor: the camera is {height:.3f} m above the floor (camera z {t[2, 3]:.3f}, floor z "
                         f"{floor_z:.3f}): it must be above it")
    return {"camera_height": height, "camera_pitch_deg": pitch, "camera_roll_deg": roll}


def floor_scale(joints_cam: np.ndarray, up: np.ndarray, camera_height: float, sole_height: float,
                min_depression_deg: float = 3.0) -> float | None:
    """The factor ``k`` that puts the lowest foot of ``joints_cam`` on the floor, or None when it cannot.

    Args:
        joints_cam: (24, 3) joints in the camera optical frame, metres (any positive scale: the model's).
        up: (3,) world up in the camera frame (:func:`camera_up_vector`).
        camera_height: camera optical centre above the floor, metres (> 0).
        sole_height: height of the foot joint above the floor when the foot is flat, metres (< camera_height).
        min_depression_deg: the foot's viewing ray must point at least this far below the horizon.

    Returns:
        ``k > 0`` such that ``up . (k p) = sole_height - camera_height`` for the lowest foot joint ``p``, or None
        (foot in front of the camera plane, at or above the horizon, or not finite).
    """
    feet = np.asarray(joints_cam, np.float64)[list(FOOT_JOINTS)]
    heights = feet @ up
    if not np.all(np.isfinite(heights)):
        return None
    p = feet[int(np.argmin(heights))]
    dist = float(np.linalg.norm(p))
    if p[2] <= 0 or dist <= 1e-9:
        return None
    if float(p @ up) / dist > -np.sin(np.radians(min_depression_deg)):
        return None
    k = (sole_height - camera_height) / float(p @ up)
    return k if np.isfinite(k) and k > 0 else None


def size_factor(joints: np.ndarray, target: float, limits: tuple[float, float]) -> float | None:
    """The factor that gives ``joints`` (24, 3) the body size ``target`` (sum of bone lengths, m), clamped to
    ``limits``; None when ``joints`` has no finite, non-zero size."""
    size = skeleton.body_size(joints)
    return None if size is None else float(np.clip(target / size, *limits))


@dataclass
class FloorScale:
    """The floor's geometry: measures a track's body size on frames that show its feet, and the factor of each frame.

    A track's memory is a ``deque(maxlen=FLOOR_HISTORY)`` of measured body sizes (m, sum of bone lengths):
    :meth:`measure` adds this frame's when the feet are seen; :meth:`factor` scales a frame to the memory's median,
    clamped to ``limits`` (None while nothing was measured).
    """

    up: np.ndarray
    camera_height: float
    sole_height: float = 0.03
    min_depression_deg: float = 3.0
    min_confidence: float = 0.5
    limits: tuple[float, float] = (0.67, 1.5)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.camera_height) and self.camera_height > 0):
            raise ValueError(f"floor: camera height must be > 0 m, got {self.camera_height}")
        if not 0 <= self.sole_height < self.camera_height:
            raise ValueError(f"floor: sole height must be in [0, camera height {self.camera_height}), "
                             f"got {self.sole_height}")
        self.up = np.asarray(self.up, np.float64)

    def feet_seen(self, joints_cam: np.ndarray, keypoints: np.ndarray | None, width: int, height: int,
                  fx: float, fy: float, cx: float, cy: float) -> bool:
        """True when an ankle keypoint of this frame is confident and the lowest foot joint projects into the image."""
        if keypoints is None or np.shape(keypoints) != (17, 3):
            return False
        if not float(np.max(np.asarray(keypoints)[list(ANKLE_KEYPOINTS), 2])) >= self.min_confidence:
            return False
        feet = np.asarray(joints_cam, np.float64)[list(FOOT_JOINTS)]
        if not np.all(np.isfinite(feet)):
            return False
        p = feet[int(np.argmin(feet @ self.up))]
        if p[2] <= 0:
            return False
        u, v = fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy
        return bool(0 <= u < width and 0 <= v < height)

    def measure(self, sizes: deque, joints_cam: np.ndarray, seen: bool) -> None:
        """When ``seen``, add to the memory ``sizes`` the body size at which the lowest foot of ``joints_cam``
        (24, 3, camera frame, the model's size) stands on the floor."""
        size = skeleton.body_size(joints_cam)
        if seen and size is not None:
            k = floor_scale(joints_cam, self.up, self.camera_height, self.sole_height, self.min_depression_deg)
            if k is not None:
                sizes.append(k * size)

    def factor(self, sizes: deque, joints: np.ndarray) -> float | None:
        """The factor that gives ``joints`` (24, 3) the median body size of the memory ``sizes`` (None: empty)."""
        return size_factor(joints, float(np.median(sizes)), self.limits) if sizes else None
