"""Frames for the simulated camera: one renderer interface, a registry of implementations.

``mesh``: the project's renderer (``training/render``: textured Anny bodies, OpenGL/EGL) over the ray-cast room;
``auto`` (the suite's default) picks it when GL works. ``procedural`` (always available, fast): the floor and walls are ray-cast from the camera's actual pose (a
tiled floor, a ring of panelled walls), and each person is drawn with the project's synthetic-scene painter
(:class:`pose_estimation_ros.synthetic_scene.SyntheticScene`: capsule limbs, torso polygon, head, clothes
colours), far to near.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Protocol

import cv2
import numpy as np

from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.synthetic_scene import SyntheticScene


@dataclass(frozen=True)
class PersonView:
    """What a renderer needs about one person (world frame, z up).

    Attributes:
        joints: (24, 3) world joint positions.
        orient: (3, 3) body frame (x left, y up, z forward) -> world rotation of the pelvis.
        local_rotmats: (24, 3, 3) local joint rotations (joint 0 relative to the heading).
    """

    joints: np.ndarray
    orient: np.ndarray
    local_rotmats: np.ndarray


class FrameRenderer(Protocol):
    intrinsics: Intrinsics

    def render(self, camera_from_world: np.ndarray, people: list[PersonView]) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame seen by a camera whose (4, 4) world -> optical transform is given."""


class ProceduralRenderer:
    """Ray-cast floor and walls + the synthetic-scene person painter (deterministic from ``seed``).

    Args:
        intrinsics: camera intrinsics.
        seed: colours of floor tiles, wall panels; the per-frame sensor noise pattern.
        room_radius: distance of the wall ring from the world origin (m).
        noise_std: Gaussian pixel noise (0 = none); the same noise image every frame (seeded).
    """

    TILE = 0.6

    def __init__(self, intrinsics: Intrinsics, seed: int = 0, room_radius: float = 25.0,
                 noise_std: float = 2.0) -> None:
        self.intrinsics = intrinsics
        w, h = intrinsics.width, intrinsics.height
        rng = np.random.default_rng(seed)
        # The background is ray-cast at a quarter of the resolution, then resized (it is smooth; the person,
        # drawn at full resolution, is not): ~4x cheaper on a shared CPU.
        self._bg_size = (max(w // 4, 1), max(h // 4, 1))
        u, v = np.meshgrid((np.arange(self._bg_size[0]) + 0.5) * w / self._bg_size[0],
                           (np.arange(self._bg_size[1]) + 0.5) * h / self._bg_size[1])
        self._rays = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy,
                               np.ones_like(u)], -1).reshape(-1, 3).astype(np.float32)   # (hw, 3) optical frame
        self._cache: tuple[bytes, np.ndarray] | None = None
        self._tile_colors = rng.uniform(95, 165, size=(64, 3)) * np.array([1.0, 0.95, 0.85])
        self._panel_colors = rng.uniform(120, 215, size=(97, 3))
        self._noise = rng.normal(0.0, noise_std, size=(h, w, 3)) if noise_std > 0 else None
        self.room_radius = float(room_radius)
        self._painter = SyntheticScene(width=w, height=h, fx=intrinsics.fx, fy=intrinsics.fy, cx=intrinsics.cx,
                                       cy=intrinsics.cy, seed=seed)

    def _background(self, camera_from_world: np.ndarray) -> np.ndarray:
        """(H, W, 3) float: the floor (z = 0) and the wall ring around the origin seen from the camera."""
        key = np.round(camera_from_world, 6).tobytes()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        w2c = camera_from_world.astype(np.float32)
        r_wc = w2c[:3, :3].T
        origin = -r_wc @ w2c[:3, 3]
        d = self._rays @ r_wc.T                                                 # (HW, 3) world directions
        # wall ring: |origin_xy + s d_xy| = R, s > 0
        a = d[:, 0] ** 2 + d[:, 1] ** 2
        b = 2 * (origin[0] * d[:, 0] + origin[1] * d[:, 1])
        c = origin[0] ** 2 + origin[1] ** 2 - self.room_radius ** 2
        s_wall = (-b + np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))) / np.maximum(2 * a, 1e-12)
        with np.errstate(divide="ignore"):
            s_floor = np.where(d[:, 2] < -1e-9, -origin[2] / d[:, 2], np.inf)
        floor = s_floor < s_wall
        s = np.where(floor, s_floor, s_wall)
        p = origin + s[:, None] * d
        out = np.empty_like(d)
        # floor tiles (colour per tile index, grout lines, fade with distance)
        ix, iy = np.floor(p[:, 0] / self.TILE), np.floor(p[:, 1] / self.TILE)
        tile = self._tile_colors[((ix * 7 + iy * 13) % 64).astype(int)]
        fx, fy = p[:, 0] / self.TILE - ix, p[:, 1] / self.TILE - iy
        grout = (np.minimum(fx, 1 - fx) < 0.03) | (np.minimum(fy, 1 - fy) < 0.03)
        fade = np.clip(s / 20.0, 0, 1)[:, None]
        floor_rgb = np.where(grout[:, None], tile * 0.7, tile) * (1 - fade) + 120 * fade
        # wall panels by azimuth and height; skirting board at the bottom
        az = np.arctan2(p[:, 1], p[:, 0])
        panel = self._panel_colors[((az / (2 * np.pi) * 97).astype(int)) % 97]
        edge = (np.abs(((az / (2 * np.pi) * 97) % 1.0) - 0.5) > 0.47) | (np.abs((p[:, 2] % 1.0) - 0.5) > 0.48)
        wall_rgb = np.where(edge[:, None], panel * 0.8, panel)
        wall_rgb = np.where((p[:, 2] < 0.12)[:, None], np.array([90.0, 80.0, 70.0]), wall_rgb)
        wall_rgb = np.where((p[:, 2] > 3.0)[:, None], np.array([225.0, 228.0, 232.0]), wall_rgb)
        out[:] = np.where(floor[:, None], floor_rgb, wall_rgb)
        small = out.reshape(self._bg_size[1], self._bg_size[0], 3)
        full = cv2.resize(small, (self.intrinsics.width, self.intrinsics.height), interpolation=cv2.INTER_LINEAR)
        self._cache = (key, full)
        return full

    def render(self, camera_from_world: np.ndarray, people: list[PersonView]) -> np.ndarray:
        img = self._background(camera_from_world)
        if self._noise is not None:
            img = img + self._noise
        img = np.clip(img, 0, 255).astype(np.uint8)
        r, t = camera_from_world[:3, :3], camera_from_world[:3, 3]
        cams = []
        for pv in people:
            jc = pv.joints @ r.T + t
            if (jc[:, 2] < 0.15).any():       # behind or touching the lens: the painter cannot project it
                continue
            cams.append((float(jc[0, 2]), jc, r @ pv.orient))
        for _, jc, orient in sorted(cams, key=lambda c: -c[0]):
            self._painter._draw_person(img, {"joints_cam": jc, "global_orient": orient})
        return img


class MeshRenderer(ProceduralRenderer):
    """The project's mesh renderer (``training/render``: textured, lit Anny bodies rasterised with OpenGL/EGL)
    over the same ray-cast room. Needs the training extra and GL (``scripts/setup_gl.sh``); one seeded outfit per
    person slot. The person's pelvis and orientation come from the simulator; the mesh is then moved along the
    world's up axis so that its lowest vertex touches the floor (Anny's proportions differ from the skeleton's).
    """

    def __init__(self, intrinsics: Intrinsics, seed: int = 0, supersample: int = 1, **kw) -> None:
        super().__init__(intrinsics, seed, **kw)
        import torch
        from training.render.appearance import AppearanceSampler
        from training.render.rasterizer import Light, composite
        from training.render.renderer import PersonState, get_renderer

        torch.set_num_threads(1)
        self._r = get_renderer("anny", 512)
        self._person_state, self._composite = PersonState, composite
        self._app = AppearanceSampler(self._r.layout, None, "all")
        self._rng = np.random.default_rng(seed)
        self._textures: list[np.ndarray] = []
        self._light = Light((0.55, 0.54, 0.52), (0.25, 0.7, 0.65), (0.6, 0.58, 0.55), 0.05)
        self._K = np.array([[intrinsics.fx, 0, intrinsics.cx], [0, intrinsics.fy, intrinsics.cy], [0, 0, 1.0]])
        self.supersample = supersample

    def _texture(self, i: int) -> np.ndarray:
        while len(self._textures) <= i:
            self._textures.append(self._app.paint(self._app.sample(self._rng), self._rng))
        return self._textures[i]

    def render(self, camera_from_world: np.ndarray, people: list[PersonView]) -> np.ndarray:
        bg = self._background(camera_from_world)
        if self._noise is not None:
            bg = bg + self._noise
        bg = np.clip(bg, 0, 255).astype(np.uint8)
        r, t = camera_from_world[:3, :3], camera_from_world[:3, 3]
        states, tex = [], []
        for i, pv in enumerate(people):
            jc = pv.joints @ r.T + t
            if (jc[:, 2] < 0.15).any():
                continue
            rots = np.array(pv.local_rotmats, np.float32)
            rots[0] = r @ pv.orient
            states.append(self._person_state(rots, np.zeros(self._r.num_shape, np.float32),
                                             jc[0].astype(np.float32), self._texture(i)))
            tex.append(self._texture(i))
        if not states:
            return bg
        posed = self._r.pose(states)
        up = r @ np.array([0.0, 0.0, 1.0])                     # world up in the camera frame
        for k in range(len(states)):
            world_z = (posed.vertices[k].reshape(-1, 3) - t) @ r          # rows: world coordinates
            dz = -float(world_z[:, 2].min())
            posed.vertices[k] += (dz * up).astype(np.float32)
        depth = [float(s.transl[2]) for s in states]
        order = sorted(range(len(states)), key=lambda k: -depth[k])
        layers = self._r.draw(posed, tex, self._K, self.intrinsics.width, self.intrinsics.height, self._light,
                              self.supersample, order)
        return self._composite(layers, bg)


class CachedRenderer:
    """Another renderer's frames memoised by their exact inputs (camera pose and every person's joints,
    orientation and local rotations, bit for bit): runs of one scenario under different zone settings see the
    same frames until their robots' paths part, so those are rendered once. A hit returns the very frame the
    wrapped (deterministic) renderer made for the same inputs; least recently used frames go past ``max_bytes``.
    """

    def __init__(self, inner: FrameRenderer, max_bytes: float = 400e6) -> None:
        self.inner = inner
        self.intrinsics = inner.intrinsics
        self.max_bytes = float(max_bytes)
        self._frames: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(camera_from_world: np.ndarray, people: list[PersonView]) -> bytes:
        """Digest of everything a frame depends on."""
        h = hashlib.blake2b(np.ascontiguousarray(camera_from_world, np.float64).tobytes(), digest_size=20)
        for pv in people:
            for a in (pv.joints, pv.orient, pv.local_rotmats):
                h.update(np.ascontiguousarray(a, np.float64).tobytes())
        return h.digest()

    def render(self, camera_from_world: np.ndarray, people: list[PersonView]) -> np.ndarray:
        k = self.key(camera_from_world, people)
        img = self._frames.get(k)
        if img is not None:
            self._frames.move_to_end(k)
            self.hits += 1
            return img.copy()
        self.misses += 1
        img = self.inner.render(camera_from_world, people)
        self._frames[k] = img.copy()
        self._bytes += img.nbytes
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            self._bytes -= self._frames.popitem(last=False)[1].nbytes
        return img


RENDERERS: dict[str, Callable[..., FrameRenderer]] = {"procedural": ProceduralRenderer, "mesh": MeshRenderer}


def make_renderer(name: str, intrinsics: Intrinsics, seed: int = 0) -> FrameRenderer:
    """Renderer by registry name, or 'auto' (the mesh renderer when GL and the training extra work, else the
    procedural one, with a warning); unknown names raise KeyError listing the known ones."""
    if name == "auto":
        try:
            return MeshRenderer(intrinsics, seed=seed)
        except Exception as e:  # noqa: BLE001 - any GL / import failure falls back to the drawn people
            import warnings
            warnings.warn(f"mesh renderer unavailable ({type(e).__name__}: {e}); using the procedural renderer")
            return ProceduralRenderer(intrinsics, seed=seed)
    if name not in RENDERERS:
        raise KeyError(f"unknown renderer '{name}' (known: {', '.join(RENDERERS)})")
    return RENDERERS[name](intrinsics, seed=seed)


def camera_intrinsics(width: int, height: int, hfov_deg: float) -> Intrinsics:
    """Square pixels, centred principal point (what the perception node assumes without camera_info, too)."""
    return Intrinsics.from_fov(width, height, hfov_deg)


__all__ = ["PersonView", "FrameRenderer", "ProceduralRenderer", "MeshRenderer", "CachedRenderer", "RENDERERS",
           "make_renderer", "camera_intrinsics"]
