"""REP-155 (ROS4HRI) body outputs from our estimates, without ROS: ids, normalised ROI, 18-point skeleton, body frame.

REP-155 names each body with a string id; topics live under ``/humans/bodies/<id>/`` and the body's TF frame
is ``body_<id>``. ROS 2 name tokens must not start with a digit, so track 7 becomes the id ``b7``.
``hri_msgs/Skeleton2D`` uses the 18 OpenPose points (constants NOSE=0 ... RIGHT_EAR=17) in image coordinates
normalised to [0, 1].
"""
from __future__ import annotations

import numpy as np

from .. import skeleton

_J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
# Skeleton2D index -> SMPL-24 joint (None: no such joint in our skeleton, published with confidence 0).
# NOSE takes the SMPL head joint (centre of the head), the closest point we estimate.
SKELETON2D_FROM_SMPL: tuple[int | None, ...] = (
    _J["head"], _J["neck"], _J["right_shoulder"], _J["right_elbow"], _J["right_wrist"], _J["left_shoulder"],
    _J["left_elbow"], _J["left_wrist"], _J["right_hip"], _J["right_knee"], _J["right_ankle"], _J["left_hip"],
    _J["left_knee"], _J["left_ankle"], None, None, None, None,
)


def body_id(track_id: int) -> str:
    """REP-155 body id of a track (a valid ROS 2 name token): ``b<track_id>``."""
    return f"b{int(track_id)}"


def body_frame(track_id: int) -> str:
    """TF frame of a body: ``body_<id>``."""
    return f"body_{body_id(track_id)}"


def skeleton2d_points(joints_2d: np.ndarray, confidence: np.ndarray, width: int, height: int) -> np.ndarray:
    """(24, 2) pixels + (24,) confidence -> (18, 3) normalised ``(x, y, c)``; points outside the image get c = 0."""
    out = np.zeros((18, 3), np.float32)
    for i, j in enumerate(SKELETON2D_FROM_SMPL):
        if j is None:
            continue
        u, v = joints_2d[j]
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        x, y = u / width, v / height
        inside = 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        out[i] = (np.clip(x, 0, 1), np.clip(y, 0, 1), float(confidence[j]) if inside else 0.0)
    return out


def normalized_roi(box_xyxy: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """Pixel box xyxy -> ``(xmin, ymin, xmax, ymax)`` in [0, 1] (clipped to the image)."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    return (float(np.clip(x0 / width, 0, 1)), float(np.clip(y0 / height, 0, 1)),
            float(np.clip(x1 / width, 0, 1)), float(np.clip(y1 / height, 0, 1)))


def hip_midpoint(joints_cam: np.ndarray) -> np.ndarray:
    """(24, 3) camera-frame joints -> (3,) midpoint of the left and right hip (origin of ``body_<id>``)."""
    return (np.asarray(joints_cam[_J["left_hip"]], float) + np.asarray(joints_cam[_J["right_hip"]], float)) / 2.0
