"""Flip test: run the per-frame model on each crop and on its mirror image, mirror the second answer back, average.

A standard test-time augmentation of pose estimators (SPIN, HMR and most 2D keypoint detectors evaluate this way): the
model's errors on an image and on its mirror image are partly independent, so their mean is better than either. The
mirror is about the crop's vertical centre line; in the camera's optical frame (x right) it is the reflection
``M = diag(-1, 1, 1)`` together with swapping every left joint with its right one (the body is mirror-symmetric).

Conventions (those of the exported per-frame model, ``training.models.spin``):

* crop pixels: a pixel's centre is at its index, so mirroring maps ``x -> S - 1 - x``; the keypoint input is
  ``u = 2 x / S - 1``, mirrored ``u -> -u - 2 / S`` (confidence 0 = missing, left as it is);
* ``pose6d`` (N, 24, 6) = the first two columns ``[a1, a2]`` of each rotation: a mirrored rotation is ``M R M``, whose
  columns are ``-M a1`` and ``M a2``;
* ``cam = (s, tx, ty)`` with ``u = s (X + tx)``: mirrored ``(s, -tx - 2 / (S s), ty)``;
* ``joints`` (N, 24, 3): ``M`` applied, left and right swapped; ``betas``: unchanged.
"""
from __future__ import annotations

import numpy as np

from .. import skeleton
from ..kinematics import orthonormal_rot6d

__all__ = ["COCO_MIRROR", "JOINT_MIRROR", "average_outputs", "mirror_inputs", "mirror_outputs"]


COCO_MIRROR: list[int] = list(skeleton.mirror_index(skeleton.COCO17_NAMES))
JOINT_MIRROR: list[int] = list(skeleton.JOINT_MIRROR)


def mirror_inputs(x: np.ndarray, kp: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The mirrored model inputs: ``x`` (N, 3, S, S) normalised crops, ``kp`` (N, 17, 3) keypoint input or None."""
    xf = np.ascontiguousarray(x[..., ::-1])
    if kp is None:
        return xf, None
    kf = np.asarray(kp, np.float32)[:, COCO_MIRROR].copy()
    given = kf[..., 2] > 0
    kf[..., 0] = np.where(given, -kf[..., 0] - 2.0 / size, 0.0)
    return xf, kf


def mirror_outputs(pose6d: np.ndarray, betas: np.ndarray, cam: np.ndarray, joints: np.ndarray,
                   size: int) -> tuple[np.ndarray, ...]:
    """The per-frame outputs of a mirrored crop expressed for the original crop (and vice versa: an involution)."""
    p = np.asarray(pose6d, np.float64)[:, JOINT_MIRROR].copy()
    p[..., 1:3] *= -1.0              # -M a1 = (a1x, -a1y, -a1z)
    p[..., 3] *= -1.0                # M a2 = (-a2x, a2y, a2z)
    c = np.asarray(cam, np.float64).copy()
    c[:, 1] = -c[:, 1] - 2.0 / (size * c[:, 0])
    j = np.asarray(joints, np.float64)[:, JOINT_MIRROR] * np.array([-1.0, 1.0, 1.0])
    return p, np.asarray(betas, np.float64), c, j


def average_outputs(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Mean of two ``(pose6d, betas, cam, joints)`` answers for the same crop; the mean 6D rotations are made
    orthonormal again (Gram-Schmidt, as the model's own 6D -> rotation step). float32 arrays."""
    pose = orthonormal_rot6d((np.asarray(a[0], np.float64) + b[0]) / 2.0)
    rest = [(np.asarray(u, np.float64) + v) / 2.0 for u, v in zip(a[1:], b[1:])]
    return tuple(np.asarray(t, np.float32) for t in (pose, *rest))
