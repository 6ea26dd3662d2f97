"""Photometric variation of rendered samples: lighting, camera noise, blur, JPEG, occluders.

All functions take a ``numpy.random.Generator`` and are deterministic given it. Parameters live in
:class:`AugmentConfig` (ranges; a probability of 0 switches an effect off).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from training.render.rasterizer import Light

__all__ = ["AugmentConfig", "kelvin_to_rgb", "sample_light", "add_occluders", "degrade", "match_resolution"]


@dataclass
class AugmentConfig:
    """Ranges of the photometric effects."""

    ambient: tuple[float, float] = (0.25, 0.7)        # ambient intensity
    directional: tuple[float, float] = (0.2, 0.9)     # directional intensity
    kelvin: tuple[float, float] = (2700.0, 9000.0)    # light colour temperature
    specular: tuple[float, float] = (0.0, 0.12)
    noise_std: tuple[float, float] = (0.0, 6.0)       # Gaussian sensor noise (0..255 units)
    blur_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    motion_blur_prob: float = 0.1
    jpeg_prob: float = 0.5
    jpeg_quality: tuple[int, int] = (30, 95)
    occluder_prob: float = 0.25
    occluder_size: tuple[float, float] = (0.15, 0.45)  # fraction of the crop side

    def to_dict(self) -> dict:
        return asdict(self)


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """(3,) RGB multiplier of a black body at ``kelvin`` (normalised to max 1; 6500 K ~ white).

    Tanner Helland's fit of the Planckian locus (1000-40000 K).
    """
    t = float(np.clip(kelvin, 1000.0, 40000.0)) / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    rgb = np.clip(np.array([r, g, b]), 0, 255) / 255.0
    return rgb / rgb.max()


def sample_light(rng: np.random.Generator, cfg: AugmentConfig) -> tuple[Light, dict]:
    """Ambient + directional light from the camera's side (camera frame), and its meta."""
    col = kelvin_to_rgb(rng.uniform(*cfg.kelvin))
    amb = rng.uniform(*cfg.ambient)
    dirl = rng.uniform(*cfg.directional)
    # Light travels mostly away from the camera (+z), from above (+y down = travelling down).
    d = np.array([rng.uniform(-1, 1), rng.uniform(0.0, 1.2), rng.uniform(0.3, 1.5)])
    d /= np.linalg.norm(d)
    light = Light(tuple((amb * col).tolist()), tuple(d.tolist()), tuple((dirl * col).tolist()),
                  float(rng.uniform(*cfg.specular)))
    return light, {"ambient": float(amb), "directional": float(dirl), "direction": d.tolist(),
                   "rgb": col.tolist()}


def add_occluders(img: np.ndarray, rng: np.random.Generator, box: np.ndarray, cfg: AugmentConfig,
                  patches=None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Paste 1-2 occluders (photo patch or simple shape) overlapping ``box`` (x0, y0, x1, y1) of ``img``.

    Args:
        patches: callable ``rng -> (h, w, 3) uint8`` giving a photo to cut a patch from, or None.
    Returns:
        image, (H, W) bool occluder mask, list of occluder meta.
    """
    h, w = img.shape[:2]
    out = img.copy()
    occ = np.zeros((h, w), bool)
    metas = []
    bw, bh = box[2] - box[0], box[3] - box[1]
    side = min(h, w)
    for _ in range(int(rng.integers(1, 3))):
        ow = int(max(4, rng.uniform(*cfg.occluder_size) * side))
        oh = int(max(4, rng.uniform(*cfg.occluder_size) * side))
        cx = int(rng.uniform(box[0] + 0.1 * bw, box[2] - 0.1 * bw))
        cy = int(rng.uniform(box[1] + 0.1 * bh, box[3] - 0.1 * bh))
        x0, y0 = max(0, cx - ow // 2), max(0, cy - oh // 2)
        x1, y1 = min(w, x0 + ow), min(h, y0 + oh)
        if x1 <= x0 or y1 <= y0:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        kind = str(rng.choice(["rect", "ellipse", "poly"]))
        if kind == "rect":
            m[:] = 1
        elif kind == "ellipse":
            cv2.ellipse(m, ((x1 - x0) // 2, (y1 - y0) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1, -1)
        else:
            pts = np.stack([rng.uniform(0, x1 - x0, 6), rng.uniform(0, y1 - y0, 6)], -1).astype(np.int32)
            cv2.fillPoly(m, [cv2.convexHull(pts)], 1)
        mb = m.astype(bool)
        src = "shape"
        if patches is not None and rng.uniform() < 0.6:
            photo = patches(rng)
            ph, pw = photo.shape[:2]
            sx, sy = int(rng.integers(0, max(1, pw - (x1 - x0)))), int(rng.integers(0, max(1, ph - (y1 - y0))))
            patch = photo[sy:sy + (y1 - y0), sx:sx + (x1 - x0)]
            if patch.shape[:2] != mb.shape:
                patch = cv2.resize(photo, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
            src = "photo"
        else:
            col = rng.integers(0, 256, 3).astype(np.uint8)
            patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
            patch[:] = col
        region = out[y0:y1, x0:x1]
        region[mb] = patch[mb]
        occ[y0:y1, x0:x1] |= mb
        metas.append({"kind": kind, "source": src, "box": [x0, y0, x1, y1]})
    return out, occ, metas


def match_resolution(img: np.ndarray, source_px: float) -> np.ndarray:
    """Downscale to ``source_px`` (the crop's side in the full image) and back: a small person stays blurry."""
    h, w = img.shape[:2]
    if source_px >= 0.9 * w:
        return img
    s = max(int(round(source_px)), 8)
    small = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def degrade(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, dict]:
    """Blur, sensor noise and JPEG compression (each by its probability/range)."""
    meta: dict = {}
    out = img
    if rng.uniform() < cfg.blur_prob:
        s = float(rng.uniform(*cfg.blur_sigma))
        out = cv2.GaussianBlur(out, (0, 0), s)
        meta["blur_sigma"] = s
    if rng.uniform() < cfg.motion_blur_prob:
        k = int(rng.integers(3, 9))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kern = cv2.warpAffine(kern, m, (k, k))
        kern /= max(kern.sum(), 1e-6)
        out = cv2.filter2D(out, -1, kern)
        meta["motion_blur"] = k
    sd = float(rng.uniform(*cfg.noise_std))
    if sd > 0:
        out = np.clip(out.astype(np.float32) + rng.normal(0, sd, out.shape).astype(np.float32), 0, 255)
        out = out.astype(np.uint8)
        meta["noise_std"] = sd
    if rng.uniform() < cfg.jpeg_prob:
        q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, enc = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1]
            meta["jpeg_quality"] = q
    return np.ascontiguousarray(out), meta
