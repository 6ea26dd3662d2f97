"""PoseBERT losses: rotation loss and 3D keypoint loss through the body model's forward kinematics.

* rotation: squared Frobenius distance between the decoded output rotation matrices and the ground
  truth, per joint (``||R_pred - R_gt||_F^2 = 4 - 4 cos(angle)`` for rotations: a smooth geodesic proxy);
* keypoints: mean per-joint Euclidean distance (metres) between root-relative joints of the output
  and of the ground truth, both through the same :class:`~training.body.base.BodyModel` with the
  ground-truth shape (so the loss sees how rotation errors move the limbs, end effectors most).

* acceleration (optional, ``w_accel``): mean per-joint norm of the second temporal difference of the
  joint error inside the window (``a_t = e_{t-1} - 2 e_t + e_{t+1}``, metres/frame^2): the training
  counterpart of the accel-error metric, penalising jitter the other two losses tolerate.

All are averaged over frames with per-frame weights (the trainer up-weights the frame the runtime
reads and zeroes frames whose receptive field holds no valid input).
"""
from __future__ import annotations

import torch
from torch import nn

from training.body.base import BodyModel, SkeletonBody, forward_kinematics
from training.geometry.rotations import rot6d_to_rotmat

__all__ = ["rotation_loss", "keypoint_loss", "accel_loss", "PoseBERTLoss"]


def _weighted_mean(per_frame: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_frame.mean()
    return (per_frame * weight).sum() / weight.sum().clamp_min(1e-8)


def rotation_loss(pred_rotmats: torch.Tensor, gt_rotmats: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, J, 3, 3) each; weight (B, T) or None. Mean over joints of ``||R - R_gt||_F^2``."""
    per_frame = ((pred_rotmats - gt_rotmats) ** 2).sum(dim=(-1, -2)).mean(-1)
    return _weighted_mean(per_frame, weight)


def keypoint_loss(pred_joints: torch.Tensor, gt_joints: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, J, 3) root-relative joints (metres); mean per-joint position error."""
    per_frame = torch.linalg.vector_norm(pred_joints - gt_joints, dim=-1).mean(-1)
    return _weighted_mean(per_frame, weight)


def accel_loss(pred_joints: torch.Tensor, gt_joints: torch.Tensor,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, J, 3); mean per-joint ``||(e_{t-1} - 2 e_t + e_{t+1})||`` with ``e = pred - gt`` over
    triplets whose three frames all have a positive weight (weighted by their smallest weight)."""
    e = pred_joints - gt_joints
    a = torch.linalg.vector_norm(e[:, :-2] - 2 * e[:, 1:-1] + e[:, 2:], dim=-1).mean(-1)   # (B, T-2)
    w = None if weight is None else torch.minimum(torch.minimum(weight[:, :-2], weight[:, 1:-1]), weight[:, 2:])
    return _weighted_mean(a, w)


class PoseBERTLoss(nn.Module):
    """``w_rot * rotation_loss + w_kp * keypoint_loss + w_accel * accel_loss`` with FK through ``body``
    (default: SkeletonBody)."""

    def __init__(self, w_rot: float = 1.0, w_kp: float = 1.0, body: BodyModel | None = None,
                 w_accel: float = 0.0) -> None:
        super().__init__()
        self.w_rot = w_rot
        self.w_kp = w_kp
        self.w_accel = w_accel
        self.body = body if body is not None else SkeletonBody()

    def joints(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        lead = rotmats.shape[:-3]
        if rotmats.dim() == 5 and betas.dim() == 3 and torch.equal(betas, betas[:, :1].expand_as(betas)):
            # one shape per window: rest joints once per window (Anny's shape model is the costly part)
            try:
                rest = self.body.rest_joints(betas[:, 0]).to(rotmats.dtype)             # (B, 24, 3)
                return forward_kinematics(rotmats, rest[:, None])                          # pelvis at 0
            except NotImplementedError:
                pass
        j = self.body.joints(rotmats.reshape(-1, *rotmats.shape[-3:]), betas.reshape(-1, betas.shape[-1]))
        j = j - j[..., :1, :]                                   # root-relative whatever the backend
        return j.reshape(*lead, *j.shape[-2:])

    def forward(self, pred_pose6d: torch.Tensor, gt_rotmats: torch.Tensor, gt_betas: torch.Tensor,
                weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Args: pred_pose6d (B, T, 24, 6); gt_rotmats (B, T, 24, 3, 3); gt_betas (B, T, NB); weight (B, T).
        Returns: (total loss, {"rot", "kp", "accel"} detached parts)."""
        pred_rot = rot6d_to_rotmat(pred_pose6d)
        l_rot = rotation_loss(pred_rot, gt_rotmats, weight)
        pj, gj = self.joints(pred_rot, gt_betas), self.joints(gt_rotmats, gt_betas)
        l_kp = keypoint_loss(pj, gj, weight)
        total = self.w_rot * l_rot + self.w_kp * l_kp
        parts = {"rot": l_rot.detach(), "kp": l_kp.detach()}
        if self.w_accel > 0:
            l_acc = accel_loss(pj, gj, weight)
            total = total + self.w_accel * l_acc
            parts["accel"] = l_acc.detach()
        return total, parts
