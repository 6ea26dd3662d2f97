"""Rotations, forward kinematics and camera geometry for the canonical skeleton (numpy only).

Conventions:
    * Rotation matrices act on column vectors: ``v' = R @ v``.
    * 6D rotation = the first two COLUMNS of the matrix, flattened ``[a1(3), a2(3)]``
      (Zhou et al. 2019); decoding is Gram-Schmidt.
    * Forward kinematics follows SMPL: joint ``j`` has a local rotation ``R_j`` relative to its
      parent; the root's (joint 0) rotation is the global orientation. Global rotation
      ``G_j = G_parent @ R_j`` and position ``p_j = p_parent + G_parent @ offset_j``; the root is
      at the origin (root-relative joints).
    * Camera: optical frame (x right, y down, z forward), pinhole ``u = fx * X / Z + cx``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .skeleton import NUM_JOINTS, PARENTS

_EPS = 1e-8


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues formula.

    Args:
        rotvec: (..., 3) axis * angle (radians).

    Returns:
        (..., 3, 3) float64 rotation matrices (identity for a zero vector).
    """
    rotvec = np.asarray(rotvec, dtype=np.float64)
    if rotvec.shape[-1:] != (3,):
        raise ValueError(f"rotvec must have shape (..., 3), got {rotvec.shape}")
    theta = np.linalg.norm(rotvec, axis=-1)[..., None, None]  # (..., 1, 1)
    x, y, z = rotvec[..., 0], rotvec[..., 1], rotvec[..., 2]
    zeros = np.zeros_like(x)
    k = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(
        rotvec.shape[:-1] + (3, 3))  # skew(rotvec), unnormalised
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1-cos(t))/t^2 with Taylor expansions near 0.
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + a * k + b * (k @ k)


def rot6d_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """6D representation -> rotation matrix by Gram-Schmidt.

    Args:
        rot6d: (..., 6) = ``[a1(3), a2(3)]``, the (unnormalised) first two columns.

    Returns:
        (..., 3, 3) float64 with columns ``b1 = a1/|a1|``, ``b2`` = normalised component of ``a2``
        orthogonal to ``b1``, ``b3 = b1 x b2``. Degenerate inputs (zero or parallel columns) do not
        raise; norms are clamped at 1e-8 so the result stays finite.
    """
    rot6d = np.asarray(rot6d, dtype=np.float64)
    if rot6d.shape[-1:] != (6,):
        raise ValueError(f"rot6d must have shape (..., 6), got {rot6d.shape}")
    a1, a2 = rot6d[..., 0:3], rot6d[..., 3:6]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), _EPS)
    a2p = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = a2p / np.maximum(np.linalg.norm(a2p, axis=-1, keepdims=True), _EPS)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def matrix_to_rot6d(rotmat: np.ndarray) -> np.ndarray:
    """Rotation matrix -> 6D representation.

    Args:
        rotmat: (..., 3, 3).

    Returns:
        (..., 6) = ``[R[:, 0], R[:, 1]]`` (first two columns).
    """
    rotmat = np.asarray(rotmat, dtype=np.float64)
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError(f"rotmat must have shape (..., 3, 3), got {rotmat.shape}")
    return np.concatenate([rotmat[..., :, 0], rotmat[..., :, 1]], axis=-1)


def orthonormal_rot6d(rot6d: np.ndarray) -> np.ndarray:
    """(..., 6) any 6D rotations -> (..., 6) the same rotations with orthonormal columns (float64).

    The per-frame model outputs raw 6D vectors (column norms 0.3-5.4, 12° off orthogonal on average on the
    held-out renders); its body reads them through Gram-Schmidt, so this is the rotation it means. The temporal
    model was trained on orthonormal 6D (rotations of motion capture) and needs them in that form.
    """
    return matrix_to_rot6d(rot6d_to_matrix(rot6d))


def forward_kinematics(local_rotmats: np.ndarray, offsets: np.ndarray,
                       parents: Sequence[int] = PARENTS) -> np.ndarray:
    """Root-relative joint positions from local joint rotations.

    Args:
        local_rotmats: (..., J, 3, 3) rotation of each joint relative to its parent; joint 0's is
            the global orientation.
        offsets: (J, 3) or (..., J, 3) rest offset of each joint from its parent
            (``skeleton.rest_offsets()``); row 0 is ignored (the root is at the origin).
        parents: (J,) parent indices, -1 for the root, each parent before its children.

    Returns:
        (..., J, 3) float64 joint positions with the root at the origin.
    """
    local_rotmats = np.asarray(local_rotmats, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    n = len(parents)
    if local_rotmats.shape[-3:] != (n, 3, 3):
        raise ValueError(f"local_rotmats must have shape (..., {n}, 3, 3), got {local_rotmats.shape}")
    if offsets.shape[-2:] != (n, 3):
        raise ValueError(f"offsets must have shape ({n}, 3) or (..., {n}, 3), got {offsets.shape}")
    batch = np.broadcast_shapes(local_rotmats.shape[:-3], offsets.shape[:-2])
    glob = np.empty(batch + (n, 3, 3))
    pos = np.empty(batch + (n, 3))
    for j, p in enumerate(parents):
        if p < 0:
            if j != 0:
                raise ValueError(f"joint {j} has no parent; only joint 0 may be the root")
            glob[..., 0, :, :] = local_rotmats[..., 0, :, :]
            pos[..., 0, :] = 0.0
            continue
        if p >= j:
            raise ValueError(f"parent {p} of joint {j} must come before it")
        glob[..., j, :, :] = glob[..., p, :, :] @ local_rotmats[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + np.einsum(
            "...ab,...b->...a", glob[..., p, :, :], offsets[..., j, :])
    return pos


def identity_pose(batch_shape: tuple[int, ...] = ()) -> np.ndarray:
    """(…, 24, 3, 3) identity local rotations (the rest pose)."""
    return np.broadcast_to(np.eye(3), batch_shape + (NUM_JOINTS, 3, 3)).copy()


def weak_perspective_to_translation(cam: np.ndarray, box_center: np.ndarray, box_size: np.ndarray,
                                    fx: float, fy: float, cx: float, cy: float,
                                    min_scale: float = 1e-3) -> np.ndarray:
    """Perspective root translation equivalent to the model's weak-perspective camera.

    Weak-perspective model (root-relative joints ``(X, Y, Z)`` in the camera optical frame, a
    square crop of side ``b = box_size`` px centred at ``(bx, by) = box_center``)::

        x_n = s * (X + tx),  y_n = s * (Y + ty)          (in [-1, 1] over the crop)
        u = bx + b/2 * x_n,  v = by + b/2 * y_n

    Perspective model for the translated joints ``X + T``::

        u = fx * (X + Tx) / (Z + Tz) + cx

    Matching the two for joints near the root (``Z << Tz``, so ``u ~ fx (X + Tx) / Tz + cx``):

        * scale:  ``fx / Tz = b s / 2``                        ->  ``Tz = 2 fx / (b s)``
        * root pixel (X = Y = 0):
          ``bx + b s tx / 2 = fx Tx / Tz + cx``                ->  ``Tx = Tz (bx - cx + b s tx / 2) / fx``
          ``by + b s ty / 2 = fy Ty / Tz + cy``                ->  ``Ty = Tz (by - cy + b s ty / 2) / fy``

    (``Tx`` simplifies to ``tx + Tz (bx - cx) / fx``.) The root then projects exactly to the
    weak-perspective root pixel; with ``fx == fy`` the image scale around it matches too.

    Args:
        cam: (..., 3) ``(s, tx, ty)``; ``s`` is clamped to at least ``min_scale`` so an untrained
            or failing model yields a far-away but finite translation.
        box_center: (..., 2) crop centre in pixels.
        box_size: (...) crop side in pixels (> 0).
        fx, fy, cx, cy: pinhole intrinsics in pixels.

    Returns:
        (..., 3) translation ``(Tx, Ty, Tz)`` in metres (camera optical frame).
    """
    cam = np.asarray(cam, dtype=np.float64)
    box_center = np.asarray(box_center, dtype=np.float64)
    box_size = np.asarray(box_size, dtype=np.float64)
    if cam.shape[-1:] != (3,):
        raise ValueError(f"cam must have shape (..., 3), got {cam.shape}")
    if box_center.shape[-1:] != (2,):
        raise ValueError(f"box_center must have shape (..., 2), got {box_center.shape}")
    if np.any(box_size <= 0):
        raise ValueError("box_size must be > 0")
    s = np.maximum(cam[..., 0], min_scale)
    half_bs = 0.5 * box_size * s
    tz = fx / half_bs
    tx = tz * (box_center[..., 0] - cx + half_bs * cam[..., 1]) / fx
    ty = tz * (box_center[..., 1] - cy + half_bs * cam[..., 2]) / fy
    return np.stack(np.broadcast_arrays(tx, ty, tz), axis=-1)


def project_points(points: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole projection.

    Args:
        points: (..., N, 3) in the camera optical frame (metres).

    Returns:
        (..., N, 2) pixels ``(u, v)``; NaN for points at or behind the camera plane (Z <= 1e-9).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (..., N, 3), got {points.shape}")
    z = points[..., 2]
    inv_z = np.where(z > 1e-9, 1.0 / np.where(z > 1e-9, z, 1.0), np.nan)
    u = fx * points[..., 0] * inv_z + cx
    v = fy * points[..., 1] * inv_z + cy
    return np.stack([u, v], axis=-1)
