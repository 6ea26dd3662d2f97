"""Person crop: which square of the image the per-frame model looks at.

Croppers are replaceable components behind one small interface (:class:`Cropper`):
``box(image_shape)`` gives the square to crop for the next image, ``update(joints_2d)`` feeds back
where the person was found. :class:`FullFrameCropper` always looks at the whole frame (letterboxed);
:class:`TrackingCropper` follows the previous frame's 2D joints and falls back to the full frame when
tracking is lost. A detector-based cropper can be added the same way.
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


class TrackingCropper:
    """Crop around the previous frame's 2D joints, enlarged by ``scale``.

    Args:
        scale: box side = scale * longer side of the joints' bounding box.
        min_size_frac: lower bound of the side as a fraction of the longer image side.
        min_visible: fraction of joints that must project inside the image for the track to hold.
    """

    def __init__(self, scale: float = 1.4, min_size_frac: float = 0.25, min_visible: float = 0.5) -> None:
        if scale < 1.0:
            raise ValueError(f"tracking crop scale must be >= 1, got {scale}")
        if not 0.0 < min_size_frac <= 1.0:
            raise ValueError(f"min_size_frac must be in (0, 1], got {min_size_frac}")
        self.scale = scale
        self.min_size_frac = min_size_frac
        self.min_visible = min_visible
        self._box: CropBox | None = None
        self._full = FullFrameCropper()

    @property
    def tracking(self) -> bool:
        return self._box is not None

    def box(self, image_hw: tuple[int, int]) -> CropBox:
        return self._box if self._box is not None else self._full.box(image_hw)

    def update(self, joints_2d: np.ndarray | None, image_hw: tuple[int, int]) -> None:
        """Set the next box from ``joints_2d`` (N, 2) pixels; None or too few visible joints ⇒ lost."""
        if joints_2d is None or not np.all(np.isfinite(joints_2d)):
            self._box = None
            return
        h, w = image_hw
        inside = (joints_2d[:, 0] >= 0) & (joints_2d[:, 0] < w) & (joints_2d[:, 1] >= 0) & (joints_2d[:, 1] < h)
        if inside.mean() < self.min_visible:
            self._box = None
            return
        lo, hi = joints_2d.min(axis=0), joints_2d.max(axis=0)
        side = max(float((hi - lo).max()) * self.scale, self.min_size_frac * max(h, w))
        c = (lo + hi) / 2.0
        self._box = CropBox(float(c[0]), float(c[1]), side)


def make_cropper(kind: str) -> Cropper:
    """``'full'`` or ``'tracking'``."""
    if kind == "full":
        return FullFrameCropper()
    if kind == "tracking":
        return TrackingCropper()
    raise ValueError(f"unknown crop mode '{kind}' (valid: full, tracking)")


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
