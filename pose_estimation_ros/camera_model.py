"""Pinhole camera intrinsics shared by the camera node (CameraInfo out) and perception (CameraInfo in)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx} fy={self.fy}")

    @staticmethod
    def from_fov(width: int, height: int, hfov_deg: float = 60.0) -> "Intrinsics":
        """Square pixels, principal point at the centre, horizontal field of view ``hfov_deg``."""
        if not 1.0 < hfov_deg < 179.0:
            raise ValueError(f"horizontal field of view must be in (1, 179) degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return Intrinsics(width, height, f, f, width / 2.0, height / 2.0)

    @staticmethod
    def from_params(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                    hfov_deg: float = 60.0) -> "Intrinsics":
        """Explicit values; fx/fy <= 0 means "derive from hfov", cx/cy < 0 means "image centre"."""
        base = Intrinsics.from_fov(width, height, hfov_deg)
        return Intrinsics(width, height, fx if fx > 0 else base.fx, fy if fy > 0 else base.fy,
                          cx if cx >= 0 else base.cx, cy if cy >= 0 else base.cy)

    @staticmethod
    def from_camera_info(msg) -> "Intrinsics":
        """From a ``sensor_msgs/CameraInfo`` (duck-typed: width, height, k[9])."""
        k = list(msg.k)
        return Intrinsics(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]))

    def k_matrix(self) -> list[float]:
        """Row-major 3x3 K as CameraInfo.k."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    def p_matrix(self) -> list[float]:
        """Row-major 3x4 P as CameraInfo.p (monocular: no baseline)."""
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    def scaled_to(self, width: int, height: int) -> "Intrinsics":
        """The same camera for an image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)
