"""Backgrounds: photos from a folder, or indoor rooms ray-cast from floor/wall/furniture textures.

Both are produced directly for the crop being rendered (intrinsics ``K`` of a ``w x h`` image and
the camera ``R, t``), so no full-size image is made:

* :class:`PhotoBackgrounds`: a random crop of a photo (scale, flip) placed over the camera's full
  image, warped into the crop; photos come from an :class:`~training.render.images.ImageLibrary`
  (split by source photo), or procedural gradients/noise when no folder is given.
* :func:`render_room`: a box room around the person (floor ``y = 0``, four walls, ceiling) with a
  few furniture boxes against the walls, textured with tiled material images (wood, tile, stone,
  carpet for floors; plaster, brick, paper, stone for walls) and simply shaded; the camera is
  always inside the room and the person stands on its floor, so feet touch the floor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from training.render.images import ImageLibrary

__all__ = ["PhotoBackgrounds", "RoomSpec", "sample_room", "render_room", "procedural_photo"]

FLOOR_CATEGORIES = ("wood", "tile", "stone", "carpet", "ground")
WALL_CATEGORIES = ("plaster", "brick", "paper", "stone", "tile", "wood")
FURNITURE_CATEGORIES = ("wood", "leather", "fabric", "metal")


def procedural_photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """(h, w, 3) uint8 stand-in photo: a smooth colour field with blobs and texture noise."""
    lo = rng.uniform(0, 1, (4, 4, 3)).astype(np.float32)
    img = cv2.resize(lo, (w, h), interpolation=cv2.INTER_CUBIC) * 200 + 25
    for _ in range(int(rng.integers(3, 9))):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        ax = (int(rng.integers(w // 20 + 1, w // 3 + 2)), int(rng.integers(h // 20 + 1, h // 3 + 2)))
        col = tuple(float(v) for v in rng.uniform(20, 235, 3))
        if rng.uniform() < 0.5:
            cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (c[0] - ax[0], c[1] - ax[1]), (c[0] + ax[0], c[1] + ax[1]), col, -1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class PhotoBackgrounds:
    """Background crops from photos (or procedural stand-ins when ``library`` is None)."""

    def __init__(self, library: ImageLibrary | None, split: str = "train") -> None:
        self.library = library
        self.split = split

    def sample(self, rng: np.random.Generator, full_w: int, full_h: int, M: np.ndarray, out_w: int,
               out_h: int) -> tuple[np.ndarray, dict]:
        """A background for an ``out_w x out_h`` crop of a ``full_w x full_h`` image.

        Args:
            M: (2, 3) affine full image -> crop (``u' = s (u - x0)``).
        Returns:
            (out_h, out_w, 3) uint8 and meta (``{"kind": "photo", "id": ..., "split": ...}``).
        """
        if self.library is None:
            img, meta = procedural_photo(rng, 256, 192), {"kind": "procedural_photo", "id": "", "split": "builtin"}
        else:
            e, img = self.library.sample(rng, self.split)
            meta = {"kind": "photo", "id": e.id, "group": e.group, "split": e.split}
        ih, iw = img.shape[:2]
        # Photo -> full image: cover the full image, random zoom (1..1.6) and offset, optional flip.
        zoom = rng.uniform(1.0, 1.6)
        s = zoom * max(full_w / iw, full_h / ih)
        ox = rng.uniform(0, iw * s - full_w)
        oy = rng.uniform(0, ih * s - full_h)
        A = np.array([[s, 0, -ox], [0, s, -oy], [0, 0, 1]], np.float64)
        if rng.uniform() < 0.5:
            A = np.array([[-1, 0, full_w - 1], [0, 1, 0], [0, 0, 1]], np.float64) @ A
        B = np.vstack([M, [0, 0, 1]]) @ A
        scale = abs(B[0, 0])
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        if scale < 0.5:       # strong minification: pre-shrink so the warp does not alias
            f = max(scale * 1.5, 1e-3)
            img = cv2.resize(img, (max(1, int(iw * f)), max(1, int(ih * f))), interpolation=cv2.INTER_AREA)
            B = B @ np.diag([1 / f, 1 / f, 1])
            interp = cv2.INTER_LINEAR
        out = cv2.warpAffine(img, B[:2], (out_w, out_h), flags=interp, borderMode=cv2.BORDER_REFLECT)
        return out, meta


@dataclass
class RoomSpec:
    """A box room (world metres, y up) with furniture boxes; textures are RGB uint8 images."""

    x: tuple[float, float]
    z: tuple[float, float]
    height: float
    floor: np.ndarray
    wall: np.ndarray
    ceiling: np.ndarray
    floor_tile_m: float
    wall_tile_m: float
    boxes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # (lo, hi, texture)
    meta: dict = field(default_factory=dict)


def _material(rng, library: ImageLibrary | None, cats: tuple[str, ...], split: str) -> tuple[np.ndarray, str]:
    if library is not None:
        def where(e):
            return e.info.get("category", e.path.stem.split("_")[0]) in cats
        pool = library.select(split, where)
        if pool:
            for _ in range(4):
                e = pool[int(rng.integers(len(pool)))]
                img = library.load(e)
                if img is not None:
                    if str(e.info.get("grey", "0")) == "1":
                        tint = rng.uniform(90, 230, 3)
                        img = np.clip(img.astype(np.float32).mean(2, keepdims=True) / 160 * tint, 0, 255)
                        img = img.astype(np.uint8)
                    return img, e.id
    from training.render.appearance import _pattern, _random_color
    kind = str(rng.choice(["checks", "noise", "stripes", "solid"]))
    c = np.array(_random_color(rng), np.float32) * 0.6 + 80
    return _pattern(kind, c, c * rng.uniform(0.6, 0.9), 64, 128, rng), f"procedural:{kind}"


def sample_room(rng: np.random.Generator, camera_center: np.ndarray, person_xz: np.ndarray,
                library: ImageLibrary | None = None, split: str = "train") -> RoomSpec:
    """A room containing the camera and the person, with 0-3 furniture boxes out of their way."""
    pts = np.array([camera_center[[0, 2]], person_xz])
    lo = pts.min(0) - rng.uniform(0.8, 3.0, 2)
    hi = pts.max(0) + rng.uniform(0.8, 3.0, 2)
    height = max(rng.uniform(2.4, 3.4), float(camera_center[1]) + 0.3)
    floor, fid = _material(rng, library, FLOOR_CATEGORIES, split)
    wall, wid = _material(rng, library, WALL_CATEGORIES, split)
    ceil = np.full((8, 8, 3), int(rng.integers(200, 245)), np.uint8)
    room = RoomSpec((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), float(height), floor, wall, ceil,
                    float(rng.uniform(0.4, 1.2)), float(rng.uniform(0.8, 2.0)),
                    meta={"kind": "room", "floor": fid, "wall": wid})
    cam = np.asarray(camera_center, np.float64)
    for _ in range(int(rng.integers(0, 4))):
        size = np.array([rng.uniform(0.4, 1.8), rng.uniform(0.4, 2.0), rng.uniform(0.4, 0.9)])
        side = int(rng.integers(4))
        if side < 2:     # against a wall of constant x
            x = lo[0] + size[2] / 2 if side == 0 else hi[0] - size[2] / 2
            c = np.array([x, size[1] / 2, rng.uniform(lo[1], hi[1])])
            half = np.array([size[2], size[1], size[0]]) / 2
        else:
            z = lo[1] + size[2] / 2 if side == 2 else hi[1] - size[2] / 2
            c = np.array([rng.uniform(lo[0], hi[0]), size[1] / 2, z])
            half = np.array([size[0], size[1], size[2]]) / 2
        # Keep the segment camera -> person free.
        p = np.array([person_xz[0], 1.0, person_xz[1]])
        seg = p - cam
        tt = np.clip(np.dot(c - cam, seg) / max(np.dot(seg, seg), 1e-9), 0, 1)
        if np.linalg.norm((cam + tt * seg - c)[[0, 2]]) < np.linalg.norm(half[[0, 2]]) + 0.6:
            continue
        if np.linalg.norm((p - c)[[0, 2]]) < np.linalg.norm(half[[0, 2]]) + 0.8:
            continue
        tex, tid = _material(rng, library, FURNITURE_CATEGORIES, split)
        room.boxes.append((c - half, c + half, tex))
        room.meta.setdefault("furniture", []).append(tid)
    return room


def _sample(tex: np.ndarray, s: np.ndarray, t: np.ndarray, tile_m: float) -> np.ndarray:
    """Sample ``tex`` tiled every ``tile_m`` metres at surface coordinates (s, t) (metres)."""
    th, tw = tex.shape[:2]
    mx = (s / tile_m * tw).astype(np.float32)
    my = (t / tile_m * th).astype(np.float32)
    return cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def render_room(room: RoomSpec, R: np.ndarray, t: np.ndarray, K: np.ndarray, w: int, h: int,
                light_rgb: np.ndarray | None = None) -> np.ndarray:
    """Ray-cast the room for camera ``x_cam = R x_world + t`` and intrinsics K: (h, w, 3) uint8."""
    c = -R.T @ t
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    d = rays_cam @ R                                                       # world directions (h, w, 3)
    best = np.full((h, w), np.inf)
    hit_id = np.full((h, w), -1, np.int32)
    planes = [(1, 0.0, 0), (1, room.height, 1), (0, room.x[0], 2), (0, room.x[1], 3), (2, room.z[0], 4),
              (2, room.z[1], 5)]
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis, val, pid in planes:
            tt = (val - c[axis]) / d[..., axis]
            ok = (tt > 1e-6) & (tt < best)
            best = np.where(ok, tt, best)
            hit_id = np.where(ok, pid, hit_id)
        for bi, (lo, hi, _) in enumerate(room.boxes):
            t0 = (lo - c) / d
            t1 = (hi - c) / d
            tmin = np.nanmax(np.minimum(t0, t1), axis=-1)
            tmax = np.nanmin(np.maximum(t0, t1), axis=-1)
            ok = (tmax >= tmin) & (tmin > 1e-6) & (tmin < best)
            best = np.where(ok, tmin, best)
            hit_id = np.where(ok, 6 + bi, hit_id)
    best = np.where(np.isfinite(best), best, 0.0)
    p = c + d * best[..., None]
    out = np.zeros((h, w, 3), np.float32)
    shade = {0: 1.0, 1: 0.95, 2: 0.82, 3: 0.78, 4: 0.9, 5: 0.86}
    floor = _sample(room.floor, p[..., 0], p[..., 2], room.floor_tile_m)
    m = hit_id == 0
    out[m] = floor[m] * shade[0]
    m = hit_id == 1
    out[m] = room.ceiling[0, 0].astype(np.float32) * shade[1]
    for pid, (sa, sb) in {2: (2, 1), 3: (2, 1), 4: (0, 1), 5: (0, 1)}.items():
        m = hit_id == pid
        if m.any():
            wall = _sample(room.wall, p[..., sa], room.height - p[..., sb], room.wall_tile_m)
            out[m] = wall[m] * shade[pid]
    for bi, (lo, hi, tex) in enumerate(room.boxes):
        m = hit_id == 6 + bi
        if m.any():
            img = _sample(tex, p[..., 0] + p[..., 2], p[..., 1], 0.6)
            top = np.abs(p[..., 1] - hi[1]) < 1e-4
            out[m] = img[m] * np.where(top[m], 1.0, 0.75)[:, None]
    # Soft ambient occlusion near the floor/wall junctions and distance falloff.
    dist_floor = np.clip(p[..., 1] / 0.4, 0, 1)
    wall_m = (hit_id >= 2) & (hit_id <= 5)
    out[wall_m] *= (0.8 + 0.2 * dist_floor[wall_m])[:, None]
    out *= (1.0 - 0.25 * np.clip(best / 15.0, 0, 1))[..., None]
    if light_rgb is not None:
        out *= np.asarray(light_rgb, np.float32)[None, None]
    return np.clip(out, 0, 255).astype(np.uint8)
