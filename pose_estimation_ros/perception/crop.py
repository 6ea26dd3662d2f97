"""Person crop: which square of the image the per-frame model looks at.

Croppers are replaceable components behind one small interface (:class:`Cropper`):
``box(image_shape)`` gives the square to crop for the next image, ``update(joints_2d)`` feeds back
where the person was found. :class:`FullFrameCropper` always looks at the whole frame (letterboxed);
Detector crops are SPIN-style squares (:func:`box_from_xyxy`, :func:`box_from_keypoints`) clamped to
:class:`CropLimits`; between detector runs :class:`BoundedFollower` moves them from the model's projected
joints within those limits and reports when it loses the person.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class CropBox:
    """Square crop in pixels: centre (cx, cy) and side length ``size`` (may extend past the image)."""

    cx: float
    cy: float
    size: float

    def as_xyxy(self) -> tuple[float, float, float, float]:
        h = self.size / 2.0
        return (self.cx - h, self.cy - h, self.cx + h, self.cy + h)


class Cropper(Protocol):
    """Interface of a crop strategy."""

    def box(self, image_hw: tuple[int, int]) -> CropBox: ...

    def update(self, joints_2d: np.ndarray | None, image_hw: tuple[int, int]) -> None: ...


class FullFrameCropper:
    """The whole image, letterboxed to a square (side = the longer image side)."""

    def box(self, image_hw: tuple[int, int]) -> CropBox:
        h, w = image_hw
        return CropBox(w / 2.0, h / 2.0, float(max(h, w)))

    def update(self, joints_2d: np.ndarray | None, image_hw: tuple[int, int]) -> None:
        return None


@dataclass(frozen=True)
class CropLimits:
    """Sane bounds of a person crop, as fractions of the longer image side ``L``.

    Attributes:
        min_size_frac, max_size_frac: side in ``[min, max] * L``.
        spin_scale: SPIN's box scale: side = ``spin_scale`` * longer side of the person's box.
        joints_scale: side = ``joints_scale`` * longer side of the projected joints' box (joints sit
            inside the silhouette: no head top, no feet soles).
        max_shift_frac: between detector runs the centre moves at most this fraction of the side per frame.
        max_growth: between detector runs the side changes at most by this factor per frame, and stays
            within ``[1/max_drift, max_drift]`` times the side of the last detector box.
        max_drift: see ``max_growth``.
        min_visible: fraction of projected joints that must lie inside the image for a follow step.
    """

    min_size_frac: float = 0.08
    max_size_frac: float = 1.2
    spin_scale: float = 1.2
    joints_scale: float = 1.3
    max_shift_frac: float = 0.2
    max_growth: float = 1.15
    max_drift: float = 1.5
    min_visible: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 < self.min_size_frac <= self.max_size_frac:
            raise ValueError(f"crop size bounds must satisfy 0 < min <= max, got {self.min_size_frac}, "
                             f"{self.max_size_frac}")
        if self.spin_scale < 1.0 or self.joints_scale < 1.0 or self.max_growth < 1.0 or self.max_drift < 1.0:
            raise ValueError("crop scales, max_growth and max_drift must be >= 1")


def clamp_box(box: CropBox, image_hw: tuple[int, int], limits: CropLimits = CropLimits()) -> CropBox:
    """``box`` with its side in the limits and its centre inside the image (non-finite -> full frame)."""
    h, w = image_hw
    long_side = float(max(h, w))
    if not (np.isfinite(box.cx) and np.isfinite(box.cy) and np.isfinite(box.size)):
        return FullFrameCropper().box(image_hw)
    size = float(np.clip(box.size, limits.min_size_frac * long_side, limits.max_size_frac * long_side))
    return CropBox(float(np.clip(box.cx, 0.0, w)), float(np.clip(box.cy, 0.0, h)), size)


def box_from_xyxy(xyxy: np.ndarray, image_hw: tuple[int, int], limits: CropLimits = CropLimits()) -> CropBox:
    """SPIN-style square crop of a person box ``(4,)`` xyxy pixels: same centre, side = spin_scale * max(w, h)."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    side = limits.spin_scale * max(x1 - x0, y1 - y0)
    return clamp_box(CropBox((x0 + x1) / 2.0, (y0 + y1) / 2.0, side), image_hw, limits)


def box_from_keypoints(kp: np.ndarray, image_hw: tuple[int, int], limits: CropLimits = CropLimits(),
                       min_conf: float = 0.3) -> CropBox | None:
    """SPIN-style crop from 2D keypoints ``(K, 3)`` (x, y, conf) or ``(K, 2)``; None with fewer than 4 confident."""
    kp = np.asarray(kp, np.float64)
    pts = kp[:, :2] if kp.shape[1] == 2 else kp[kp[:, 2] >= min_conf, :2]
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if len(pts) < 4:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    c = (lo + hi) / 2.0
    return clamp_box(CropBox(float(c[0]), float(c[1]), limits.joints_scale * float((hi - lo).max())), image_hw,
                     limits)


class BoundedFollower:
    """Moves one person's crop between detector runs from the model's own projected joints, within bounds.

    ``anchor(box)`` sets the box found by the detector; ``follow(joints_2d)`` proposes the next box from
    the projected joints and limits its change (centre shift, growth per frame, drift from the anchor);
    with too few joints in the image, a non-finite projection or ``max_frames`` steps since the anchor it
    reports ``lost`` and keeps the last box (the caller then runs the detector). A bad model can therefore
    never move the crop outside :class:`CropLimits`.
    """

    def __init__(self, limits: CropLimits = CropLimits(), max_frames: int = 30) -> None:
        if max_frames < 0:
            raise ValueError(f"max_frames must be >= 0, got {max_frames}")
        self.limits = limits
        self.max_frames = max_frames
        self.box: CropBox | None = None
        self._anchor_size = 0.0
        self.frames_since_anchor = 0
        self.lost = True

    def anchor(self, box: CropBox) -> None:
        """A detector box for this person (already clamped)."""
        self.box, self._anchor_size, self.frames_since_anchor, self.lost = box, box.size, 0, False

    def follow(self, joints_2d: np.ndarray | None, image_hw: tuple[int, int]) -> CropBox | None:
        """Next box from (N, 2) projected joints; returns it, or None (and ``lost``) when it cannot follow."""
        if self.box is None:
            self.lost = True
            return None
        self.frames_since_anchor += 1
        h, w = image_hw
        ok = joints_2d is not None and len(joints_2d) > 0 and bool(np.all(np.isfinite(joints_2d)))
        if ok:
            j = np.asarray(joints_2d, np.float64)
            inside = (j[:, 0] >= 0) & (j[:, 0] < w) & (j[:, 1] >= 0) & (j[:, 1] < h)
            ok = inside.mean() >= self.limits.min_visible
        if not ok or self.frames_since_anchor > self.max_frames:
            self.lost = True
            return None
        want = box_from_keypoints(j, image_hw, self.limits)
        if want is None:
            self.lost = True
            return None
        lim, prev = self.limits, self.box
        step = lim.max_shift_frac * prev.size
        cx = prev.cx + float(np.clip(want.cx - prev.cx, -step, step))
        cy = prev.cy + float(np.clip(want.cy - prev.cy, -step, step))
        size = float(np.clip(want.size, prev.size / lim.max_growth, prev.size * lim.max_growth))
        size = float(np.clip(size, self._anchor_size / lim.max_drift, self._anchor_size * lim.max_drift))
        self.box = clamp_box(CropBox(cx, cy, size), image_hw, lim)
        return self.box


CROP_MODES = ("detect", "full")


def make_cropper(kind: str) -> Cropper:
    """``'full'`` (the whole frame, letterboxed; no detector). ``'detect'`` crops come from the pipeline."""
    if kind == "full":
        return FullFrameCropper()
    raise ValueError(f"unknown crop mode '{kind}' (valid: {', '.join(CROP_MODES)})")


def crop_affine(box: CropBox, out_size: int) -> np.ndarray:
    """2x3 affine matrix mapping image pixels into the ``out_size``² crop of ``box``."""
    s = out_size / box.size
    return np.array([[s, 0.0, out_size / 2.0 - s * box.cx],
                     [0.0, s, out_size / 2.0 - s * box.cy]], np.float64)


def crop_and_resize(rgb: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Crop ``box`` out of ``rgb`` (H, W, 3) and resize to (out_size, out_size, 3); outside is black."""
    return cv2.warpAffine(rgb, crop_affine(box, out_size), (out_size, out_size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def normalize(crop_rgb: np.ndarray, mean: np.ndarray, std: np.ndarray, scale: float = 1.0 / 255.0) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (1, 3, S, S) float32 ``(x*scale - mean) / std``."""
    x = crop_rgb.astype(np.float32) * np.float32(scale)
    x = (x - mean.astype(np.float32)) / std.astype(np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
