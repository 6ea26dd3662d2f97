"""Rasterise textured, lit meshes with moderngl: colour, camera depth, person id and body-part label.

Everything is in the camera optical frame (x right, y down, z forward, metres) with pinhole
intrinsics ``K``; pixel ``(u, v)`` of the output is row ``v``, column ``u`` (OpenCV convention,
pixel centres at integers), so ``u = fx x / z + cx`` lands exactly on the rendered pixel.

Outputs (:class:`Layers`) are premultiplied: ``rgb`` is colour x coverage and ``alpha`` the
coverage in [0, 1]; with ``supersample > 1`` the image is rendered larger and box-filtered, which
anti-aliases edges (fractional alpha) while depth/id/part come from one sub-sample per pixel.
:func:`composite` puts the layers over a background: ``out = rgb + (1 - alpha) * background``, so
pixels with ``alpha == 0`` are exactly the background.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Light", "Layers", "MeshRasterizer", "composite", "projection_from_K", "vertex_normals"]

_VS = """#version 330
uniform mat4 proj;
in vec3 in_pos; in vec3 in_nrm; in vec2 in_uv; in float in_part;
out vec2 uv; out vec3 nrm; out float zcam; flat out float part;
void main() {
    uv = in_uv; nrm = in_nrm; zcam = in_pos.z; part = in_part;
    gl_Position = proj * vec4(in_pos, 1.0);
}"""

_FS = """#version 330
uniform sampler2D tex;
uniform vec3 ambient; uniform vec3 light_dir; uniform vec3 light_col; uniform float specular;
uniform float person;
in vec2 uv; in vec3 nrm; in float zcam; flat in float part;
layout(location=0) out vec4 color; layout(location=1) out vec2 aux;
void main() {
    vec3 albedo = texture(tex, uv).rgb;
    vec3 n = normalize(nrm);
    if (!gl_FrontFacing) n = -n;
    vec3 view = vec3(0.0, 0.0, -1.0);                 // towards the camera in the optical frame
    if (dot(n, view) < 0.0) n = -n;                    // light the side we see
    float diff = max(dot(n, -light_dir), 0.0);
    vec3 h = normalize(-light_dir + view);
    float spec = specular * pow(max(dot(n, h), 0.0), 24.0);
    vec3 c = albedo * (ambient + diff * light_col) + spec * light_col;
    color = vec4(clamp(c, 0.0, 1.0), 1.0);
    aux = vec2(zcam, person * 64.0 + part + 1.0);   // zcam > 0 marks covered pixels
}"""


@dataclass
class Light:
    """Ambient + one directional light (camera frame), linear RGB in [0, ~1.5]."""

    ambient: tuple[float, float, float] = (0.45, 0.45, 0.45)
    direction: tuple[float, float, float] = (0.3, 0.6, 1.0)   # where the light travels (camera frame)
    color: tuple[float, float, float] = (0.65, 0.65, 0.65)
    specular: float = 0.05


@dataclass
class Layers:
    """Rendered layers of one image (row 0 = top)."""

    rgb: np.ndarray      # (H, W, 3) float32 premultiplied colour in [0, 1]
    alpha: np.ndarray    # (H, W) float32 coverage in [0, 1]
    depth: np.ndarray    # (H, W) float32 camera z of the nearest surface, 0 where empty
    person: np.ndarray   # (H, W) int16 person index, -1 where empty
    part: np.ndarray     # (H, W) int16 canonical joint whose skin the pixel shows, -1 where empty


def projection_from_K(K: np.ndarray, width: int, height: int, near: float = 0.05,
                      far: float = 100.0) -> np.ndarray:
    """(4, 4) GL projection of optical-frame points for OpenCV intrinsics ``K`` (3, 3).

    Maps ``u = fx x/z + cx`` (pixel centres at integers) onto window x, and image row ``v`` onto
    GL row ``H - 1 - v`` (the read-back is flipped to row 0 = top).
    """
    fx, fy, cx, cy, s = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    a = (far + near) / (far - near)
    b = -2.0 * far * near / (far - near)
    return np.array([
        [2 * fx / width, 2 * s / width, 2 * (cx + 0.5) / width - 1, 0],
        [0, -2 * fy / height, 1 - 2 * (cy + 0.5) / height, 0],
        [0, 0, a, b],
        [0, 0, 1, 0]], np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals.

    Args:
        vertices: (N, 3); faces: (F, 3) int.
    Returns:
        (N, 3) float32 unit normals (zero for unused vertices).
    """
    v = vertices.astype(np.float32, copy=False)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    order, starts, used = _corner_groups(faces, v.shape[0])
    n = np.zeros_like(v)
    n[used] = np.add.reduceat(fn[order // 3], starts, axis=0)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return n


_GROUPS: dict[tuple, tuple] = {}


def _corner_groups(faces: np.ndarray, n: int):
    """Face corners sorted by vertex (cached per topology): order, group starts, vertices used."""
    key = (faces.ctypes.data, faces.shape, n)
    if key not in _GROUPS:
        idx = faces.reshape(-1)
        order = np.argsort(idx, kind="stable")
        used, starts = np.unique(idx[order], return_index=True)
        _GROUPS[key] = (order, starts, used)
    return _GROUPS[key]


class MeshRasterizer:
    """Draws meshes sharing one topology (faces, UVs, part labels) with per-draw vertices/textures.

    Args:
        ctx: a moderngl context (:func:`training.render.gl.create_context`).
        faces: (F, 3) uint32 render-vertex indices; uv: (N, 2); part: (N,) int canonical joint per vertex.
    """

    def __init__(self, ctx, faces: np.ndarray, uv: np.ndarray, part: np.ndarray) -> None:
        import moderngl

        self._mgl = moderngl
        self.ctx = ctx
        self.faces = np.ascontiguousarray(faces, np.uint32)
        n = int(uv.shape[0])
        self.num_vertices = n
        self.prog = ctx.program(vertex_shader=_VS, fragment_shader=_FS)
        self.vbo_pos = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_nrm = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_uv = ctx.buffer(np.ascontiguousarray(uv, np.float32).tobytes())
        self.vbo_part = ctx.buffer(np.ascontiguousarray(part, np.float32).tobytes())
        self.ibo = ctx.buffer(self.faces.tobytes())
        self.vao = ctx.vertex_array(self.prog, [(self.vbo_pos, "3f", "in_pos"), (self.vbo_nrm, "3f", "in_nrm"),
                                                (self.vbo_uv, "2f", "in_uv"), (self.vbo_part, "1f", "in_part")],
                                    index_buffer=self.ibo, index_element_size=4)
        self._fbos: dict[tuple[int, int], object] = {}
        self._textures: dict[tuple[int, int], object] = {}

    def _fbo(self, w: int, h: int):
        if (w, h) not in self._fbos:
            mgl = self.ctx
            self._fbos[(w, h)] = mgl.framebuffer(
                color_attachments=[mgl.renderbuffer((w, h), 4), mgl.renderbuffer((w, h), 2, dtype="f4")],
                depth_attachment=mgl.depth_renderbuffer((w, h)))
        return self._fbos[(w, h)]

    def _texture(self, img: np.ndarray, slot: int):
        h, w = img.shape[:2]
        key = (w, h, slot)
        if key not in self._textures:
            t = self.ctx.texture((w, h), 3)
            t.filter = (self._mgl.LINEAR, self._mgl.LINEAR)
            t.repeat_x = t.repeat_y = False
            self._textures[key] = t
        t = self._textures[key]
        t.write(np.ascontiguousarray(img[::-1], np.uint8).tobytes())       # row 0 of the upload = v = 0
        return t

    def render(self, vertices: list[np.ndarray], textures: list[np.ndarray], K: np.ndarray, width: int,
               height: int, light: Light | None = None, supersample: int = 1,
               ids: list[int] | None = None, normals: list[np.ndarray] | None = None) -> Layers:
        """Render people (one vertex array + texture each) into one image.

        Args:
            vertices: per person (N, 3) float32 render-vertex positions in the camera frame.
            textures: per person (T, T', 3) uint8 RGB texture on the UV map (row 0 = v = 1).
            K: (3, 3) intrinsics of the (width, height) image.
            light: lighting (camera frame), default :class:`Light`.
            supersample: render at this factor and box-filter colour/alpha down (anti-aliasing).
            ids: person id written for each entry (default 0, 1, ...).
            normals: per person (N, 3) unit normals (default: area-weighted, computed here).
        Returns:
            :class:`Layers`.
        """
        if len(vertices) != len(textures):
            raise ValueError(f"{len(vertices)} vertex arrays but {len(textures)} textures")
        with self.ctx:      # make our context current (another context may have been created since)
            return self._render(vertices, textures, K, width, height, light, supersample, ids, normals)

    def _render(self, vertices, textures, K, width, height, light, supersample, ids, normals) -> Layers:
        ss = max(1, int(supersample))
        w, h = int(width) * ss, int(height) * ss
        Ks = np.asarray(K, np.float64).copy()
        if ss > 1:   # pixel centres: u_ss = ss * u + (ss - 1) / 2
            Ks[:2] *= ss
            Ks[0, 2] += (ss - 1) / 2.0
            Ks[1, 2] += (ss - 1) / 2.0
        light = light or Light()
        p = self.prog
        p["proj"].write(projection_from_K(Ks, w, h).T.copy().tobytes())
        d = np.asarray(light.direction, np.float32)
        p["light_dir"].value = tuple((d / (np.linalg.norm(d) + 1e-12)).tolist())
        p["ambient"].value = tuple(float(x) for x in light.ambient)
        p["light_col"].value = tuple(float(x) for x in light.color)
        p["specular"].value = float(light.specular)
        p["tex"].value = 0
        fbo = self._fbo(w, h)
        fbo.use()
        fbo.viewport = (0, 0, w, h)
        self.ctx.enable(self._mgl.DEPTH_TEST)
        self.ctx.disable(self._mgl.CULL_FACE)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        for i, (v, tex) in enumerate(zip(vertices, textures)):
            v = np.ascontiguousarray(v, np.float32)
            if v.shape != (self.num_vertices, 3):
                raise ValueError(f"person {i}: vertices must be ({self.num_vertices}, 3), got {v.shape}")
            self.vbo_pos.write(v.tobytes())
            nrm = normals[i] if normals is not None else vertex_normals(v, self.faces)
            self.vbo_nrm.write(np.ascontiguousarray(nrm, np.float32).tobytes())
            self._texture(tex, 0).use(0)
            p["person"].value = float(i if ids is None else ids[i])
            self.vao.render(self._mgl.TRIANGLES)
        rgba = np.frombuffer(fbo.read(components=4, attachment=0), np.uint8).reshape(h, w, 4)[::-1]
        aux = np.frombuffer(fbo.read(components=2, attachment=1, dtype="f4"), np.float32).reshape(h, w, 2)[::-1]
        a = rgba[..., 3].astype(np.float32) * (1.0 / 255.0)
        rgb = rgba[..., :3].astype(np.float32) * (1.0 / 255.0)     # already premultiplied (clear colour 0)
        code = aux[..., 1].astype(np.int32) - 1                 # person * 64 + part, -1 where empty
        depth = np.ascontiguousarray(aux[..., 0])
        person = np.where(code >= 0, code // 64, -1).astype(np.int16)
        part = np.where(code >= 0, code % 64, -1).astype(np.int16)
        if ss > 1:
            rgb = cv2.resize(rgb, (int(width), int(height)), interpolation=cv2.INTER_AREA)
            a = cv2.resize(a, (int(width), int(height)), interpolation=cv2.INTER_AREA)
            o = ss // 2
            depth, person, part = depth[o::ss, o::ss], person[o::ss, o::ss], part[o::ss, o::ss]
        return Layers(np.ascontiguousarray(rgb), np.ascontiguousarray(a), np.ascontiguousarray(depth),
                      np.ascontiguousarray(person), np.ascontiguousarray(part))


def composite(layers: Layers, background: np.ndarray) -> np.ndarray:
    """Premultiplied over: ``rgb + (1 - alpha) * background``.

    Args:
        layers: rendered layers (H, W).
        background: (H, W, 3) uint8.
    Returns:
        (H, W, 3) uint8; pixels with alpha 0 equal ``background`` exactly.
    """
    if background.shape[:2] != layers.alpha.shape:
        raise ValueError(f"background {background.shape[:2]} does not match the render {layers.alpha.shape}")
    a = layers.alpha
    edge = (a > 0.0) & (a < 1.0)
    out = background.copy()
    full = a >= 1.0
    out[full] = np.clip(np.rint(255.0 * layers.rgb[full]), 0, 255).astype(np.uint8)
    if edge.any():
        e = background[edge].astype(np.float32) * (1.0 - a[edge, None]) + 255.0 * layers.rgb[edge]
        out[edge] = np.clip(np.rint(e), 0, 255).astype(np.uint8)
    return out
