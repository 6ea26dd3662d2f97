"""Rotation representations: continuous 6D (Zhou et al., CVPR 2019), rotation matrices, axis-angle.

6D convention (used by every model and ONNX file of this package):
    the 6D vector of a rotation matrix ``R`` is its first two COLUMNS, concatenated:
    ``r6 = [R[:, 0], R[:, 1]] = [R00, R10, R20, R01, R11, R21]``.
    Decoding applies Gram-Schmidt to ``(a1, a2) = (r6[0:3], r6[3:6])`` and completes the frame
    with ``a1 x a2`` (same result as ``roma.special_gramschmidt``).

Note that this is NOT the memory layout used by the SPIN / HMR2 code bases
(``R[:, :2].reshape(6)``, i.e. rows interleaved); convert when loading their weights.

Matrices act on column vectors (``x' = R @ x``), as in roma.
"""
from __future__ import annotations

import math

import roma
import torch

__all__ = [
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
    "axis_angle_to_rotmat",
    "rotmat_to_axis_angle",
    "rotation_about_axis",
]


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over the last dimension with elementary ops (exports to any ONNX opset).

    Args:
        a, b: (..., 3).
    Returns:
        (..., 3) ``a x b``.
    """
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack((ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx), dim=-1)


def rot6d_to_rotmat(rot6d: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """6D representation -> rotation matrix by Gram-Schmidt (see module docstring for the layout).

    Equivalent to ``roma.special_gramschmidt(torch.stack((a1, a2), -1))`` but written with
    elementary ops so that it traces to plain ONNX (no ``linalg_cross``).

    Args:
        rot6d: (..., 6) ``[a1(3), a2(3)]``, need not be normalised.
        eps: clamp on the vector norms (avoids NaN for degenerate input).
    Returns:
        (..., 3, 3) rotation matrices whose first two columns span ``a1, a2``.
    """
    a1 = rot6d[..., 0:3]
    a2 = rot6d[..., 3:6]
    b1 = a1 / torch.clamp_min(torch.linalg.vector_norm(a1, dim=-1, keepdim=True), eps)
    a2 = a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1
    b2 = a2 / torch.clamp_min(torch.linalg.vector_norm(a2, dim=-1, keepdim=True), eps)
    b3 = _cross(b1, b2)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> 6D representation (first two columns, column-major).

    Args:
        rotmat: (..., 3, 3).
    Returns:
        (..., 6) ``[R[:, 0], R[:, 1]]``.
    """
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*rotmat.shape[:-2], 6)


def axis_angle_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle (rotation vector, radians) -> rotation matrix (Rodrigues, via roma).

    Args:
        rotvec: (..., 3) axis * angle.
    Returns:
        (..., 3, 3).
    """
    return roma.rotvec_to_rotmat(rotvec)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> axis-angle (rotation vector, angle in [0, pi]) via roma.

    Args:
        rotmat: (..., 3, 3).
    Returns:
        (..., 3).
    """
    return roma.rotmat_to_rotvec(rotmat)


def rotation_about_axis(axis: str, angle_deg: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rotation matrix about a coordinate axis, for building constants and tests.

    Args:
        axis: "x", "y" or "z".
        angle_deg: angle in degrees (right-handed).
    Returns:
        (3, 3) rotation matrix.
    """
    idx = "xyz".index(axis)
    rotvec = torch.zeros(3, dtype=torch.float64)
    rotvec[idx] = math.radians(angle_deg)
    return roma.rotvec_to_rotmat(rotvec).to(dtype)
