"""COCO-17 and canonical-24 keypoints from a body model's mesh (where the backend provides a regressor).

A keypoint regressor is linear in the vertices, ``kp[b, k] = sum_v W[k, v] * vertices[b, v]``
(rows of ``W`` sum to 1), so it works in any frame the vertices are expressed in.

What each backend provides (``BodyModel.keypoint_regressor(kind)``):

=============  ==============================================  =======================================
backend        ``coco17``                                      ``canonical24``
=============  ==============================================  =======================================
skeleton       none (no mesh)                                  none (no mesh): use ``out.joints``
anny           Anny's own COCO regressor (``anny/data/         none: the 24 joints are Anny's posed
               keypoints/coco.pth``, first 17 labels)          bone heads, i.e. ``out.joints``
smpl           face: SMPL vertex ids (nose 332, eyes 2800 /    the model file's ``J_regressor`` on the
               6260, ears 583 / 4071, as in ``smplx``);        posed mesh
               body: ``J_regressor`` rows of the matching
               canonical joints (SMPL joint centres, not
               COCO's surface hips/shoulders)
=============  ==============================================  =======================================

:func:`body_keypoints` applies the regressor to a ``BodyOutput`` with vertices, falling back to the
joints for ``canonical24``. :func:`coco17_from_joints` gives the 12 COCO body keypoints from the
canonical joints (face keypoints marked invalid) for mesh-less backends.
"""
from __future__ import annotations

import torch
from torch import nn

from pose_estimation_ros import skeleton

__all__ = [
    "COCO17_NAMES", "COCO17_FROM_CANONICAL", "KINDS", "VertexKeypointRegressor",
    "body_keypoints", "coco17_from_joints",
]

COCO17_NAMES: tuple[str, ...] = skeleton.COCO17_NAMES

# COCO body keypoint -> canonical joint with the same name (approximately the same anatomical point:
# the canonical/SMPL joints are joint centres, COCO's are annotated on the surface).
COCO17_FROM_CANONICAL: dict[str, str] = {
    n: n for n in COCO17_NAMES[5:]
}

KINDS = ("coco17", "canonical24")


class VertexKeypointRegressor(nn.Module):
    """``(B, V, 3) vertices -> (B, K, 3) keypoints`` with a dense (K, V) weight matrix."""

    def __init__(self, weights: torch.Tensor, names: tuple[str, ...] | list[str]) -> None:
        super().__init__()
        if weights.dim() != 2 or weights.shape[0] != len(names):
            raise ValueError(f"weights must be (K={len(names)}, V), got {tuple(weights.shape)}")
        self.names = tuple(names)
        self.register_buffer("weights", weights, persistent=False)

    def forward(self, vertices: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.weights.to(vertices.dtype), vertices)


def body_keypoints(body, out, kind: str = "coco17") -> torch.Tensor:
    """Keypoints of ``kind`` for a forward result ``out`` of ``body``.

    Args:
        body: a :class:`~training.body.base.BodyModel`.
        out: its ``BodyOutput`` (with vertices for a mesh regressor: ``with_mesh=True``).
        kind: "coco17" or "canonical24".
    Returns:
        (B, 17, 3) or (B, 24, 3), same frame as ``out.joints``.
    Raises:
        ValueError: no regressor for ``kind`` on this backend, or ``out`` has no vertices.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown keypoint kind {kind!r}; expected one of {KINDS}")
    reg = body.keypoint_regressor(kind)
    if reg is not None and out.vertices is not None:
        return reg(out.vertices)
    if kind == "canonical24":
        return out.joints
    if reg is None:
        raise ValueError(f"body model {body.name!r} has no {kind} vertex regressor; "
                         "use coco17_from_joints(out.joints) for the 12 body keypoints")
    raise ValueError(f"{kind} keypoints need the mesh: call the body model with with_mesh=True")


def coco17_from_joints(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """COCO-17 from canonical joints: the 12 body keypoints, face keypoints invalid.

    Args:
        joints: (..., 24, 3).
    Returns:
        keypoints (..., 17, 3) (face rows are zeros) and valid (17,) bool.
    """
    idx = [skeleton.JOINT_NAMES.index(COCO17_FROM_CANONICAL[n]) for n in COCO17_NAMES[5:]]
    body = joints[..., idx, :]
    face = torch.zeros_like(body[..., :5, :])
    valid = torch.tensor([False] * 5 + [True] * 12, device=joints.device)
    return torch.cat((face, body), dim=-2), valid
