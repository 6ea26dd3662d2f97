"""The one body-model interface everything downstream uses.

A body model maps per-joint local rotations of the canonical skeleton
(:mod:`pose_estimation_ros.skeleton`: 24 joints, SMPL names/order/parents, joint 0 = global
orientation) plus shape parameters to joint positions, and optionally to a mesh.

Conventions: the rest pose is a T-pose in a y-up frame (x = the body's left, z = forward); returned
joints are relative to the pelvis (joint 0 at the origin) plus ``transl`` when given.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BodyOutput:
    """Result of a body-model forward pass."""

    joints: torch.Tensor                       # (B, 24, 3) metres
    vertices: torch.Tensor | None = None       # (B, V, 3) metres, same frame as joints
    faces: torch.Tensor | None = None          # (F, 3) int64
    uvs: torch.Tensor | None = None            # (V, 2) or per-corner UVs, backend-defined (documented there)


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
