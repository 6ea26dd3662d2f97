"""SPIN losses on the per-frame model's outputs, each where its label exists.

Targets (a batch of the sample dicts of :mod:`training.spin.data`, collated):
``joints2d`` (B, 24, 2) crop px with ``visibility`` (B, 24); ``joints3d`` (B, 24, 3) metres (camera
frame, any origin: both sides are made root-relative) with ``has_3d`` (B,); ``rotmats`` (B, 24, 3, 3)
with ``has_pose`` (B,); ``shape`` (B, S) with ``has_shape`` (B,) (only for the model's own body).

2D: the model's root-relative joints through its weak-perspective camera (:func:`project_weak`)
against the keypoints normalised to [-1, 1] over the crop (``2 uv / S - 1``).
"""
from __future__ import annotations

import torch
from torch import nn

from training.geometry.rotations import rot6d_to_rotmat
from training.spin.config import LossConfig

__all__ = ["project_weak", "normalize_keypoints", "SpinLoss"]


def project_weak(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Weak-perspective projection (the runtime's convention, ``kinematics.weak_perspective_to_translation``).

    Args:
        joints: (B, J, 3) root-relative joints, camera optical frame.
        cam: (B, 3) ``(s, tx, ty)``.
    Returns:
        (B, J, 2) ``s * (X + tx), s * (Y + ty)`` in [-1, 1] over the crop.
    """
    return cam[:, None, :1] * (joints[..., :2] + cam[:, None, 1:])


def normalize_keypoints(uv: torch.Tensor, size: int) -> torch.Tensor:
    """(..., 2) crop pixels -> [-1, 1] over a crop of side ``size``."""
    return 2.0 * uv / size - 1.0


def _masked_mean(err: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (err * w).sum() / w.sum().clamp_min(1.0)


class SpinLoss(nn.Module):
    """Weighted sum of the SPIN terms; ``forward`` returns (total, {term: value}).

    Args:
        cfg: loss weights.
        input_size: crop side S of the images the keypoints are given in.
    """

    def __init__(self, cfg: LossConfig, input_size: int) -> None:
        super().__init__()
        self.cfg, self.size = cfg, input_size

    def forward(self, pred: tuple[torch.Tensor, ...], target: dict[str, torch.Tensor],
                sample_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """
        Args:
            pred: the model's ``(pose6d (B,24,6), betas (B,S), cam (B,3), joints (B,24,3))``.
            target: collated labels (see module docstring).
            sample_weight: (B,) optional per-sample weights.
        """
        c = self.cfg
        pose6d, betas, cam, joints = pred
        b = joints.shape[0]
        sw = torch.ones(b, device=joints.device) if sample_weight is None else sample_weight
        parts: dict[str, torch.Tensor] = {}
        # 2D reprojection.
        gt2d = normalize_keypoints(target["joints2d"], self.size)
        vis = target["visibility"].float() * sw[:, None]
        err2d = (project_weak(joints, cam) - gt2d).abs().sum(-1)                # (B, 24)
        parts["kp2d"] = _masked_mean(err2d, vis)
        # 3D keypoints, root-relative.
        has3d = target["has_3d"].float() * sw
        gt3d = target["joints3d"] - target["joints3d"][:, :1]
        err3d = (joints - joints[:, :1] - gt3d).abs().sum(-1).mean(-1)          # (B,)
        parts["kp3d"] = _masked_mean(err3d, has3d)
        # Pose: rotation matrices.
        haspose = target["has_pose"].float() * sw
        err_rot = (rot6d_to_rotmat(pose6d) - target["rotmats"]).square().sum((-1, -2)).mean(-1)
        parts["pose"] = _masked_mean(err_rot, haspose)
        # Shape.
        if "shape" in target and target["shape"].shape[-1] == betas.shape[-1]:
            hs = target["has_shape"].float() * sw
            parts["shape"] = _masked_mean((betas - target["shape"]).square().mean(-1), hs)
        else:
            parts["shape"] = joints.new_zeros(())
        parts["cam"] = torch.relu(c.cam_scale_min - cam[:, 0]).mean()
        total = (c.w_kp2d * parts["kp2d"] + c.w_kp3d * parts["kp3d"] + c.w_pose * parts["pose"]
                 + c.w_shape * parts["shape"] + c.w_cam * parts["cam"])
        return total, parts
