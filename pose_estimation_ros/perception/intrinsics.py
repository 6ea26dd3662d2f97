"""Checking camera intrinsics before they place anyone in metres (``camera_info`` in, :class:`Intrinsics` out).

A pinhole camera whose ``fx = inf``, ``cx = NaN`` or ``fx = 1e30`` would put every person at a non-finite
or absurd distance; such a ``camera_info`` is refused with its reason (the node keeps the last good one).
"""
from __future__ import annotations

import math

from ..camera_model import Intrinsics

# Focal length bounds relative to the longer image side: horizontal fields of view between ~0.6 deg
# (f = 100 L) and ~178.9 deg (f = 0.01 L) cover telephoto to fisheye-cropped pinholes.
MAX_FOCAL_PER_SIDE = 100.0
MIN_FOCAL_PER_SIDE = 0.01
MAX_SIDE_PX = 16384


def checked_intrinsics(width: int, height: int, k: list[float] | tuple[float, ...]) -> Intrinsics:
    """Intrinsics from a CameraInfo's ``width``, ``height`` and row-major ``k`` (9), or ValueError naming the problem.

    Refused: a size of 0 or above 16384 px, ``k`` not 9 numbers, a non-finite entry, ``fx``/``fy`` <= 0 or
    outside ``[0.01, 100] * max(width, height)``, a principal point outside ``[-w, 2w] x [-h, 2h]``.
    """
    width, height = int(width), int(height)
    if not (0 < width <= MAX_SIDE_PX and 0 < height <= MAX_SIDE_PX):
        raise ValueError(f"image size {width}x{height} outside 1..{MAX_SIDE_PX} px")
    k = list(k)
    if len(k) != 9:
        raise ValueError(f"K must have 9 entries, got {len(k)}")
    fx, fy, cx, cy = (float(k[i]) for i in (0, 4, 2, 5))
    for name, v in (("fx", fx), ("fy", fy), ("cx", cx), ("cy", cy)):
        if not math.isfinite(v):
            raise ValueError(f"{name} = {v} is not finite")
    long_side = max(width, height)
    for name, f in (("fx", fx), ("fy", fy)):
        if f <= 0:
            raise ValueError(f"{name} = {f} must be > 0")
        if not MIN_FOCAL_PER_SIDE * long_side <= f <= MAX_FOCAL_PER_SIDE * long_side:
            raise ValueError(f"{name} = {f:g} px is absurd for a {width}x{height} image (allowed "
                             f"{MIN_FOCAL_PER_SIDE * long_side:g}..{MAX_FOCAL_PER_SIDE * long_side:g})")
    if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
        raise ValueError(f"principal point ({cx:g}, {cy:g}) is far outside the {width}x{height} image")
    return Intrinsics(width, height, fx, fy, cx, cy)


def intrinsics_for_image(intr: Intrinsics, width: int, height: int, tol: float = 0.01) -> Intrinsics:
    """``intr`` for an image of ``width`` x ``height``: the same size as is, a resized stream scaled, else ValueError.

    A different aspect ratio (more than ``tol`` relative) means the camera_info belongs to another stream.
    """
    if (intr.width, intr.height) == (width, height):
        return intr
    if abs((width / height) / (intr.width / intr.height) - 1.0) > tol:
        raise ValueError(f"camera_info is for {intr.width}x{intr.height} but the image is {width}x{height} "
                         "(different aspect ratio)")
    return intr.scaled_to(width, height)
