"""Canonical body skeleton shared by the models, the runtime and the controller.

24 joints with SMPL-compatible names, order and parents (global orientation = joint 0, the pelvis).
The rest template is a hand-measured adult T-pose (metres, y up, x towards the body's left,
z forward); body models (``training/body``) may replace it with their own rest joints, keeping
names, order and parents.
"""
from __future__ import annotations

import numpy as np

SKELETON_ID = "smpl24"

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

NUM_JOINTS = len(JOINT_NAMES)

# Rest (T-pose) joint positions relative to the pelvis, metres; y up, x = body's left, z forward.
REST_JOINTS = np.array([
    [0.000, 0.000, 0.000],    # pelvis
    [0.070, -0.090, 0.000],   # left_hip
    [-0.070, -0.090, 0.000],  # right_hip
    [0.000, 0.110, -0.020],   # spine1
    [0.100, -0.470, 0.000],   # left_knee
    [-0.100, -0.470, 0.000],  # right_knee
    [0.000, 0.240, 0.000],    # spine2
    [0.080, -0.870, -0.040],  # left_ankle
    [-0.080, -0.870, -0.040], # right_ankle
    [0.000, 0.300, 0.010],    # spine3
    [0.120, -0.930, 0.080],   # left_foot
    [-0.120, -0.930, 0.080],  # right_foot
    [0.000, 0.520, -0.010],   # neck
    [0.080, 0.420, 0.000],    # left_collar
    [-0.080, 0.420, 0.000],   # right_collar
    [0.000, 0.600, 0.040],    # head
    [0.180, 0.450, -0.010],   # left_shoulder
    [-0.180, 0.450, -0.010],  # right_shoulder
    [0.430, 0.430, -0.030],   # left_elbow
    [-0.430, 0.430, -0.030],  # right_elbow
    [0.680, 0.440, -0.030],   # left_wrist
    [-0.680, 0.440, -0.030],  # right_wrist
    [0.760, 0.430, -0.040],   # left_hand
    [-0.760, 0.430, -0.040],  # right_hand
], dtype=np.float64)

# Bones drawn for visualisation: (child, parent) for every non-root joint.
BONES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(PARENTS) if p >= 0)

# The COCO-17 keypoints (2D detectors, the per-frame model's keypoint input), in COCO order.
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def mirror_index(names: tuple[str, ...]) -> tuple[int, ...]:
    """Index in ``names`` of each name's left/right mirror (``left_x`` <-> ``right_x``; others map to themselves)."""
    return tuple(names.index(n.replace("left", "\0").replace("right", "left").replace("\0", "right")) for n in names)


# Each joint's left/right mirror (a mirror image swaps the sides of a mirror-symmetric body).
JOINT_MIRROR: tuple[int, ...] = mirror_index(JOINT_NAMES)


def rest_offsets() -> np.ndarray:
    """Offsets of each joint from its parent in the rest pose.

    Returns:
        (24, 3) float64, row 0 is the root position (zeros).
    """
    off = REST_JOINTS.copy()
    for j, p in enumerate(PARENTS):
        if p >= 0:
            off[j] = REST_JOINTS[j] - REST_JOINTS[p]
    return off


_BONE_CHILD = np.array([c for c, _ in BONES])
_BONE_PARENT = np.array([p for _, p in BONES])


def body_size(joints: np.ndarray) -> float | None:
    """Sum of the bone lengths of ``joints`` (24, 3), metres (the size a body is scaled by); None when not finite
    or zero."""
    j = np.asarray(joints, np.float64)
    size = float(np.linalg.norm(j[_BONE_CHILD] - j[_BONE_PARENT], axis=1).sum())
    return size if np.isfinite(size) and size > 1e-6 else None
