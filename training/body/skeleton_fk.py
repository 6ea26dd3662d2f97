"""Forward kinematics on the canonical 24-joint skeleton (:mod:`pose_estimation_ros.skeleton`).

Placeholder body model: the rest skeleton is the hand-measured template ``REST_JOINTS`` and the
shape parameters act through a linear scale model (documented on :class:`SkeletonFK`). A later body
model (Anny / SMPL) replaces it behind the same interface ``joints = fk(rotmats, betas)``.
"""
from __future__ import annotations

import torch
from torch import nn

from pose_estimation_ros import skeleton

__all__ = ["SkeletonFK", "LIMB_JOINTS", "SHAPE_SCALE_PER_UNIT"]

# Joints whose bone (joint minus parent) counts as a limb bone for betas[..., 1]:
# thigh, shin, foot (hip->knee, knee->ankle, ankle->foot) and upper arm, forearm, hand
# (shoulder->elbow, elbow->wrist, wrist->hand), both sides.
LIMB_JOINTS: tuple[str, ...] = (
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
# Relative length change per unit of beta.
SHAPE_SCALE_PER_UNIT = 0.05


class SkeletonFK(nn.Module):
    """Forward kinematics with a linear scale shape model.

    Shape model (bone offsets ``o_j = REST_JOINTS[j] - REST_JOINTS[parent(j)]``)::

        o_j(betas) = o_j * (1 + 0.05 * betas[..., 0]) * (1 + 0.05 * betas[..., 1] * limb_j)

    with ``limb_j = 1`` for the bones ending at :data:`LIMB_JOINTS` (arm and leg bones), else 0.
    ``betas[..., 2:]`` are accepted and ignored.

    Kinematics: ``G_0 = R_0`` (global orientation), ``G_j = G_parent @ R_j``,
    ``p_0 = 0``, ``p_j = p_parent + G_parent @ o_j``. The loop runs over the 24 joints in fixed
    parent order (traced into a static graph), never over the batch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parents: tuple[int, ...] = tuple(skeleton.PARENTS)
        self.num_joints = skeleton.NUM_JOINTS
        offsets = torch.as_tensor(skeleton.rest_offsets(), dtype=torch.float32)
        offsets[0] = 0.0
        limb = torch.zeros(self.num_joints, dtype=torch.float32)
        for name in LIMB_JOINTS:
            limb[skeleton.JOINT_NAMES.index(name)] = 1.0
        self.register_buffer("offsets", offsets, persistent=False)   # (24, 3)
        self.register_buffer("limb_mask", limb, persistent=False)    # (24,)

    def bone_offsets(self, betas: torch.Tensor) -> torch.Tensor:
        """Shape-dependent parent-to-child offsets.

        Args:
            betas: (..., NB), NB >= 1 (a missing betas[..., 1] counts as 0).
        Returns:
            (..., 24, 3) offsets in the rest (y-up) frame; row 0 is zero.
        """
        k = SHAPE_SCALE_PER_UNIT
        scale = (1.0 + k * betas[..., 0:1]) * torch.ones_like(self.limb_mask)   # (..., 24)
        if betas.shape[-1] > 1:
            scale = scale * (1.0 + k * betas[..., 1:2] * self.limb_mask)
        return self.offsets * scale.unsqueeze(-1)

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """Joint positions from local rotations and shape.

        Args:
            rotmats: (..., 24, 3, 3) local rotations, joint 0 = global orientation.
            betas: (..., NB) shape parameters, same leading dims as ``rotmats``.
        Returns:
            (..., 24, 3) joint positions, root-relative (pelvis at the origin), expressed in the
            frame the global orientation maps to (e.g. the camera frame).
        """
        offsets = self.bone_offsets(betas).unsqueeze(-1)                      # (..., 24, 3, 1)
        glob = [rotmats[..., 0, :, :]]                                       # (..., 3, 3)
        pos = [torch.zeros_like(offsets[..., 0, :, :])]                      # (..., 3, 1)
        for j in range(1, self.num_joints):
            p = self.parents[j]
            pos.append(pos[p] + torch.matmul(glob[p], offsets[..., j, :, :]))
            glob.append(torch.matmul(glob[p], rotmats[..., j, :, :]))
        return torch.stack(pos, dim=-3).squeeze(-1)                          # (..., 24, 3)
