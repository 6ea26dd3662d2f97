"""The one body-model interface everything downstream uses.

A body model maps per-joint local rotations of the canonical skeleton
(:mod:`pose_estimation_ros.skeleton`: 24 joints, SMPL names/order/parents, joint 0 = global
orientation) plus shape parameters to joint positions, and optionally to a mesh.

Conventions: the rest pose is a T-pose in a y-up frame (x = the body's left, z = forward); returned
joints are relative to the pelvis (joint 0 at the origin) plus ``transl`` when given.

Backends (:func:`training.body.registry.make_body_model`): ``skeleton`` (:class:`SkeletonBody`,
below), ``anny`` (:mod:`training.body.anny_body`) and ``smpl`` (:mod:`training.body.smpl_body`).
Every backend's joints are canonical forward kinematics (:func:`forward_kinematics`) on its own
shape-dependent rest joints (:meth:`BodyModel.rest_joints`), so ``joints()`` is cheap, batched,
differentiable and ONNX-exportable for all of them (:mod:`training.body.export_joints`).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import nn

from pose_estimation_ros import skeleton


@dataclass
class BodyOutput:
    """Result of a body-model forward pass.

    Only ``joints`` is always set. With ``with_mesh=True`` a mesh backend also fills the mesh and
    the skinning-ready fields, defined by linear blend skinning in the joints' frame::

        vertices[b, v] ~= sum_k skin_weights[v, k] * (bone_transforms[b, k] @ [rest_vertices[b, v]; 1])

    (exact for Anny; for SMPL up to its pose-corrective blend shapes, see ``smpl_body``).
    """

    joints: torch.Tensor                       # (B, 24, 3) metres
    vertices: torch.Tensor | None = None       # (B, V, 3) metres, same frame as joints
    faces: torch.Tensor | None = None          # (F, 3) int64
    uvs: torch.Tensor | None = None            # (V, 2) or per-corner UVs, backend-defined (documented there)
    rest_vertices: torch.Tensor | None = None  # (B, V, 3) shaped mesh in the backend's rest pose, same axes
    skin_weights: torch.Tensor | None = None   # (V, K) dense skinning weights over the backend's K bones
    bone_transforms: torch.Tensor | None = None  # (B, K, 4, 4) rest -> posed rigid transforms of the K bones


def forward_kinematics(rotmats: torch.Tensor, rest_joints: torch.Tensor,
                       return_global: bool = False):
    """Canonical FK: local rotations + rest joint positions -> posed joints.

    ``G_0 = R_0``, ``G_j = G_parent @ R_j``; ``p_0 = 0``,
    ``p_j = p_parent + G_parent @ (r_j - r_parent)`` with ``r`` the rest joints (T-pose). The loop
    runs over the 24 joints in fixed parent order (a static graph for ONNX), never over the batch.

    Args:
        rotmats: (..., 24, 3, 3) local rotations, joint 0 = global orientation.
        rest_joints: (..., 24, 3) rest joints (same leading dims, or broadcastable).
        return_global: also return the global rotations ``G``.
    Returns:
        (..., 24, 3) joints with the pelvis at the origin; and (..., 24, 3, 3) ``G`` if asked.
    """
    rest = rest_joints.unsqueeze(-1)                                        # (..., 24, 3, 1)
    glob = [rotmats[..., 0, :, :]]
    pos = [torch.zeros_like(glob[0][..., :, :1] + rest[..., 0, :, :])]     # broadcast (..., 3, 1)
    for j in range(1, skeleton.NUM_JOINTS):
        p = skeleton.PARENTS[j]
        pos.append(pos[p] + torch.matmul(glob[p], rest[..., j, :, :] - rest[..., p, :, :]))
        glob.append(torch.matmul(glob[p], rotmats[..., j, :, :]))
    joints = torch.stack(pos, dim=-3).squeeze(-1)
    if return_global:
        return joints, torch.stack(glob, dim=-3)
    return joints


class BodyModel(nn.Module, abc.ABC):
    """Abstract body model. Subclasses set ``name`` and ``num_shape`` and implement :meth:`forward`."""

    name: str = "abstract"
    num_shape: int = 0

    @abc.abstractmethod
    def forward(self, rotmats: torch.Tensor, shape: torch.Tensor, transl: torch.Tensor | None = None,
                with_mesh: bool = False) -> BodyOutput:
        """Pose the body.

        Args:
            rotmats: (B, 24, 3, 3) local joint rotations, joint 0 = global orientation.
            shape: (B, num_shape) shape parameters (backend-specific meaning).
            transl: (B, 3) root translation in metres, or None.
            with_mesh: also return vertices/faces (not needed for joints, and not ONNX-exportable
                for every backend).
        """

    def joints(self, rotmats: torch.Tensor, shape: torch.Tensor, transl: torch.Tensor | None = None) -> torch.Tensor:
        """Joints-only forward: (B, 24, 3). Must stay ONNX-exportable."""
        return self.forward(rotmats, shape, transl, with_mesh=False).joints

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        """Rest (identity-rotation) joints for ``shape``: (B, 24, 3), pelvis at the origin.

        ``joints(R, shape) == forward_kinematics(R, rest_joints(shape))`` for every backend that
        implements it (all built-in ones do).
        """
        raise NotImplementedError(f"{type(self).__name__} does not expose its rest joints")

    def keypoint_regressor(self, kind: str):
        """Linear vertex regressor for ``kind`` ("coco17" | "canonical24"), or None (no mesh /
        none provided). See :mod:`training.body.keypoints`."""
        return None


class SkeletonBody(BodyModel):
    """The hand-measured canonical skeleton as a body model (no mesh): fast, dependency-free FK."""

    name = "skeleton"

    def __init__(self, num_shape: int = 10) -> None:
        super().__init__()
        from training.body.skeleton_fk import SkeletonFK
        self.num_shape = num_shape
        self.fk = SkeletonFK()

    def forward(self, rotmats, shape, transl=None, with_mesh=False) -> BodyOutput:
        j = self.fk(rotmats, shape)
        if transl is not None:
            j = j + transl.unsqueeze(-2)
        return BodyOutput(joints=j)

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        off = self.fk.bone_offsets(shape)                                    # (..., 24, 3)
        pos = [off[..., 0, :]]
        for j in range(1, skeleton.NUM_JOINTS):
            pos.append(pos[skeleton.PARENTS[j]] + off[..., j, :])
        return torch.stack(pos, dim=-2)
