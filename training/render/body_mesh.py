"""A body model prepared for rasterisation: seam-split vertices, UVs, part labels, batched posing.

:class:`BodyMesh` wraps a :class:`~training.body.base.BodyModel` with a mesh (Anny by default). It
is built once per process (Anny's construction is the slow part) and then poses batches:

* render topology: a mesh vertex used with two different UVs (a UV seam) is split, so the GL vertex
  buffer has ``N >= V`` vertices, ``corner_vertex[n]`` the mesh vertex of render vertex ``n``;
* ``vertex_joint`` (V,): the canonical joint (0..23) each mesh vertex follows, from its dominant
  skinning bone (Anny bones map to canonical joints through ``AnnyBody.follow``);
* :meth:`pose` -> joints (B, 24, 3) and render-vertex positions (B, N, 3) in whatever frame
  ``rotmats[:, 0]`` and ``transl`` put the body (the camera optical frame in this package).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose_estimation_ros import skeleton

__all__ = ["BodyMesh", "PosedBodies"]


@dataclass
class PosedBodies:
    """Result of :meth:`BodyMesh.pose` (numpy float32)."""

    joints: np.ndarray        # (B, 24, 3) canonical joints
    coco17: np.ndarray        # (B, 17, 3) COCO keypoints (mesh regressor, or body joints + face guesses)
    vertices: np.ndarray      # (B, N, 3) render vertices (seam-split)
    normals: np.ndarray | None = None   # (B, N, 3) unit normals (rest normals turned by the dominant bone)


class BodyMesh:
    """Render-ready wrapper of a mesh body model.

    Args:
        body: a BodyModel with a mesh and UVs (``forward(..., with_mesh=True)`` fills ``uvs``), or
            None for the default Anny body (constructed here, once).
        uvs: per-corner UVs (F, 3, 2) for a model without its own (e.g. a user's UV file for SMPL).
    Raises:
        ValueError: the body model has no mesh, or no UVs (naming the model).
    """

    def __init__(self, body=None, uvs: np.ndarray | None = None) -> None:
        if body is None:
            from training.body.registry import make_body_model
            body = make_body_model("anny")
        self.body = body.eval()
        self.name = getattr(body, "name", type(body).__name__)
        self.num_shape = int(body.num_shape)
        with torch.no_grad():
            rest = body(torch.eye(3).expand(1, 24, 3, 3).contiguous(), torch.zeros(1, self.num_shape),
                        with_mesh=True)
        if rest.vertices is None or rest.faces is None:
            raise ValueError(f"body model {self.name!r} has no mesh: the renderer needs a mesh body (anny, smpl)")
        corner_uv = uvs if uvs is not None else (None if rest.uvs is None else rest.uvs.cpu().numpy())
        if corner_uv is None:
            raise ValueError(f"body model {self.name!r} has no UV coordinates: the renderer textures bodies on "
                             "their UV map (give per-corner UVs (F, 3, 2) with uvs=..., or use the anny body)")
        faces = rest.faces.cpu().numpy().astype(np.int64)
        corner_uv = np.asarray(corner_uv, np.float32)
        if corner_uv.shape != faces.shape + (2,):
            raise ValueError(f"UVs of {self.name!r} must be per corner {faces.shape + (2,)}, got {corner_uv.shape}")
        self.num_mesh_vertices = int(rest.vertices.shape[1])
        # Split vertices on UV seams: one render vertex per distinct (mesh vertex, uv) pair.
        key = np.concatenate([faces.reshape(-1, 1).astype(np.float64),
                              np.round(corner_uv.reshape(-1, 2).astype(np.float64) * 1e6)], axis=1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        self.corner_vertex = uniq[:, 0].astype(np.int64)                         # (N,)
        self.uv = (uniq[:, 1:] / 1e6).astype(np.float32)                        # (N, 2)
        self.faces = inv.reshape(-1, 3).astype(np.uint32)                       # (F, 3) render indices
        self.mesh_faces = faces                                                 # (F, 3) mesh indices
        self.face_uv = corner_uv                                                # (F, 3, 2)
        w = rest.skin_weights.cpu().numpy()                                     # (V, K)
        dominant = w.argmax(axis=1)
        follow = np.asarray(getattr(body, "follow", np.arange(w.shape[1])), np.int64)
        if follow.shape[0] != w.shape[1]:
            follow = np.arange(w.shape[1]) if w.shape[1] == skeleton.NUM_JOINTS else np.zeros(w.shape[1], np.int64)
        self.vertex_joint = follow[dominant].astype(np.int64)                   # (V,)
        self.rest_vertices = rest.vertices[0].cpu().numpy().astype(np.float32)  # (V, 3) T-pose, y up
        self.rest_joints = rest.joints[0].cpu().numpy().astype(np.float32)      # (24, 3)
        # Normals: rest normals (render topology) turned by each vertex's dominant bone (cheap LBS normals).
        from training.render.rasterizer import vertex_normals
        rest_render = self.rest_vertices[self.corner_vertex]
        self._rest_normals = torch.as_tensor(vertex_normals(rest_render, self.faces))            # (N, 3)
        self._dominant = torch.as_tensor(dominant[self.corner_vertex], dtype=torch.long)          # (N,)
        self._rest_bone_rot = rest.bone_transforms[0, :, :3, :3].detach() if rest.bone_transforms is not None \
            else None
        try:
            self._coco = body.keypoint_regressor("coco17")
        except Exception:  # noqa: BLE001 - optional
            self._coco = None

    @property
    def num_render_vertices(self) -> int:
        return int(self.corner_vertex.shape[0])

    def face_joint(self) -> np.ndarray:
        """(F,) canonical joint per face: the majority of its three vertices' joints (first on ties)."""
        j = self.vertex_joint[self.mesh_faces]                                  # (F, 3)
        same12 = j[:, 1] == j[:, 2]
        return np.where(same12 & (j[:, 0] != j[:, 1]), j[:, 1], j[:, 0])

    @torch.no_grad()
    def pose(self, rotmats: np.ndarray, shape: np.ndarray, transl: np.ndarray) -> PosedBodies:
        """Pose B bodies.

        Args:
            rotmats: (B, 24, 3, 3) local rotations (joint 0 = orientation in the target frame).
            shape: (B, num_shape).
            transl: (B, 3) pelvis position in the target frame.
        Returns:
            :class:`PosedBodies`.
        """
        r = torch.as_tensor(np.asarray(rotmats, np.float32))
        s = torch.as_tensor(np.asarray(shape, np.float32)).reshape(r.shape[0], self.num_shape)
        t = torch.as_tensor(np.asarray(transl, np.float32)).reshape(r.shape[0], 3)
        out = self.body(r, s, t, with_mesh=True)
        verts = out.vertices
        if self._coco is not None:
            coco = self._coco(verts)
        else:
            from training.body.keypoints import coco17_from_joints
            coco, _ = coco17_from_joints(out.joints)
        v = verts.cpu().numpy().astype(np.float32)
        normals = None
        if out.bone_transforms is not None and self._rest_bone_rot is not None:
            # rest pose -> posed: R_posed @ R_rest^T of the dominant bone, applied to the rest normal
            rel = out.bone_transforms[:, :, :3, :3].float() @ self._rest_bone_rot.float().transpose(-1, -2)
            n = torch.einsum("bnij,nj->bni", rel[:, self._dominant], self._rest_normals.float())
            normals = torch.nn.functional.normalize(n, dim=-1).cpu().numpy()
        return PosedBodies(out.joints.cpu().numpy().astype(np.float32), coco.cpu().numpy().astype(np.float32),
                           np.ascontiguousarray(v[:, self.corner_vertex]), normals)
