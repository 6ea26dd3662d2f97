"""3D pose metrics on root-relative joints (inputs in metres, results in millimetres).

* MPJPE: mean per-joint position error.
* PA-MPJPE: MPJPE after a per-frame Procrustes alignment (rotation, translation, scale;
  ``roma.rigid_points_registration``) of the prediction onto the ground truth.
* accel error (as in HMMR / VIBE / PoseBERT): mean over joints of ``||a_pred - a_gt||`` with
  ``a_t = x_{t-1} - 2 x_t + x_{t+1}`` (mm/frame^2), i.e. the second difference of the error
  ``x = pred - gt``; only over triplets of consecutive frames of one sequence.
* accel: the same second difference of the prediction alone (its jitter; ``accel`` of the ground
  truth is the floor of natural motion).
"""
from __future__ import annotations

import roma
import torch

__all__ = ["mpjpe", "pa_mpjpe", "accel_error", "accel", "procrustes_align"]


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(N, J, 3) pred aligned per frame onto gt with rotation, translation and scale."""
    pred, gt = _t(pred), _t(gt)
    r, t, s = roma.rigid_points_registration(pred, gt, compute_scaling=True)
    return s[..., None, None] * pred @ r.transpose(-1, -2) + t[..., None, :]


def mpjpe(pred, gt) -> torch.Tensor:
    """(N, J, 3) each -> (N,) per-frame mean joint error in mm."""
    return 1000.0 * torch.linalg.vector_norm(_t(pred) - _t(gt), dim=-1).mean(-1)


def pa_mpjpe(pred, gt) -> torch.Tensor:
    """(N, J, 3) each -> (N,) per-frame PA-MPJPE in mm."""
    return mpjpe(procrustes_align(pred, gt), gt)


def _second_diff(x: torch.Tensor) -> torch.Tensor:
    return x[:-2] - 2 * x[1:-1] + x[2:]


def accel_error(pred, gt) -> torch.Tensor:
    """(N, J, 3) consecutive frames of one sequence -> (N-2,) accel error in mm/frame^2."""
    return 1000.0 * torch.linalg.vector_norm(_second_diff(_t(pred)) - _second_diff(_t(gt)), dim=-1).mean(-1)


def accel(x) -> torch.Tensor:
    """(N, J, 3) -> (N-2,) mean acceleration magnitude in mm/frame^2."""
    return 1000.0 * torch.linalg.vector_norm(_second_diff(_t(x)), dim=-1).mean(-1)
