"""The body renderer: body mesh + GL rasteriser + garment layout, built once per process.

:class:`BodyRenderer` poses people with the body model and rasterises them (textured, lit) into
:class:`~training.render.rasterizer.Layers` for given intrinsics. Use :func:`get_renderer` to share
one instance per process (and per worker process: each gets its own GL context).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from training.render.appearance import GarmentLayout
from training.render.body_mesh import BodyMesh, PosedBodies
from training.render.gl import create_context
from training.render.rasterizer import Layers, Light, MeshRasterizer

__all__ = ["BodyRenderer", "PersonState", "get_renderer"]


@dataclass
class PersonState:
    """One person to draw, in the camera optical frame."""

    rotmats: np.ndarray     # (24, 3, 3) local rotations, joint 0 = orientation in the camera frame
    shape: np.ndarray       # (num_shape,)
    transl: np.ndarray      # (3,) pelvis position, camera frame
    texture: np.ndarray     # (T, T, 3) uint8 UV texture


class BodyRenderer:
    """Pose + rasterise bodies.

    Args:
        body: a mesh BodyModel with UVs (None: Anny).
        texture_size: side of the UV atlas (garment layout resolution).
        require_gpu: refuse a software GL renderer.
    """

    def __init__(self, body=None, texture_size: int = 512, require_gpu: bool = False,
                 uvs: np.ndarray | None = None) -> None:
        self.mesh = BodyMesh(body, uvs)            # torch/anny first (see gl._preload_llvm_users)
        self.ctx = create_context(require_gpu=require_gpu)
        self.layout = GarmentLayout(self.mesh, texture_size)
        self.raster = MeshRasterizer(self.ctx, self.mesh.faces, self.mesh.uv,
                                     self.mesh.vertex_joint[self.mesh.corner_vertex])
        self.pid = os.getpid()

    @property
    def num_shape(self) -> int:
        return self.mesh.num_shape

    def pose(self, people: list[PersonState]) -> PosedBodies:
        """Batched posing of all people (one body-model call)."""
        return self.mesh.pose(np.stack([p.rotmats for p in people]), np.stack([p.shape for p in people]),
                              np.stack([p.transl for p in people]))

    def draw(self, posed: PosedBodies, textures: list[np.ndarray], K: np.ndarray, width: int, height: int,
             light: Light | None = None, supersample: int = 1, order: list[int] | None = None) -> Layers:
        """Rasterise posed people (person index = position in ``posed``) into one image."""
        idx = list(range(posed.vertices.shape[0])) if order is None else list(order)
        normals = None if posed.normals is None else [posed.normals[i] for i in idx]
        return self.raster.render([posed.vertices[i] for i in idx], [textures[i] for i in idx], K, width, height,
                                  light, supersample, ids=idx, normals=normals)


_RENDERERS: dict[tuple, BodyRenderer] = {}


def load_uv_file(path: str) -> np.ndarray:
    """Per-corner UVs (F, 3, 2) from an ``.npz`` (key ``uvs``) or ``.npy`` file, for a body without UVs."""
    try:
        data = np.load(path, allow_pickle=False)
        uvs = data["uvs"] if hasattr(data, "files") else data
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"cannot read per-corner UVs from {path}: {e}") from e
    return np.asarray(uvs, np.float32)


def get_renderer(body_name: str = "anny", texture_size: int = 512, require_gpu: bool = False,
                 uv_file: str | None = None) -> BodyRenderer:
    """One :class:`BodyRenderer` per (process, body, texture size): Anny is built once per process.

    ``body_name`` is a :func:`training.body.registry.make_body_model` name; a body without its own
    UVs (SMPL) needs ``uv_file`` (per-corner UVs (F, 3, 2) matching its faces).
    """
    key = (os.getpid(), body_name, texture_size, require_gpu, uv_file)
    if key not in _RENDERERS:
        body = None
        if body_name != "anny":
            from training.body.registry import make_body_model
            body = make_body_model(body_name)
        uvs = load_uv_file(uv_file) if uv_file else None
        _RENDERERS[key] = BodyRenderer(body, texture_size, require_gpu, uvs)
    return _RENDERERS[key]
