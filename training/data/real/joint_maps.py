"""Joint orders of the public datasets mapped onto the canonical 24 joints (SMPL names and order).

Only anatomically matching points are mapped (SPIN's ``pelvis`` is the Human3.6M / LSP pelvis, close to
SMPL's; head-top, thorax, jaw and face points have no canonical joint). Unmapped canonical joints get
visibility 0.
"""
from __future__ import annotations

import numpy as np

from pose_estimation_ros import skeleton
from training.body.keypoints import COCO17_NAMES

__all__ = ["SPIN24_NAMES", "SPIN24_TO_CANONICAL", "COCO17_TO_CANONICAL", "remap"]

# SPIN / EFT ``part`` and ``S`` order (the 24 "ground-truth" joints of SPIN's constants.py).
SPIN24_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
    "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top", "pelvis", "thorax", "spine", "jaw", "head",
    "nose", "l_eye", "r_eye", "l_ear", "r_ear",
)
SPIN24_TO_CANONICAL: dict[str, str] = {
    "r_ankle": "right_ankle", "r_knee": "right_knee", "r_hip": "right_hip", "l_hip": "left_hip",
    "l_knee": "left_knee", "l_ankle": "left_ankle", "r_wrist": "right_wrist", "r_elbow": "right_elbow",
    "r_shoulder": "right_shoulder", "l_shoulder": "left_shoulder", "l_elbow": "left_elbow",
    "l_wrist": "left_wrist", "neck": "neck", "pelvis": "pelvis", "head": "head",
}
COCO17_TO_CANONICAL: dict[str, str] = {n: n for n in COCO17_NAMES[5:]}


def remap(values: np.ndarray, names: tuple[str, ...], mapping: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Scatter a dataset's joints into the canonical order.

    Args:
        values: (N, K, D) joints in the dataset order ``names``.
        mapping: dataset name -> canonical name.
    Returns:
        (N, 24, D) values (zeros where unmapped) and (24,) bool mask of the mapped canonical joints.
    """
    n, k, d = values.shape
    if k != len(names):
        raise ValueError(f"expected {len(names)} joints, got {k}")
    out = np.zeros((n, skeleton.NUM_JOINTS, d), np.float32)
    mask = np.zeros(skeleton.NUM_JOINTS, bool)
    for i, name in enumerate(names):
        if name in mapping:
            j = skeleton.JOINT_NAMES.index(mapping[name])
            out[:, j] = values[:, i]
            mask[j] = True
    return out, mask
