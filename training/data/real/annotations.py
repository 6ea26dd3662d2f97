"""One annotation format for real images: per-person boxes and whatever labels the dataset has.

Everything is in the canonical 24-joint order (:mod:`pose_estimation_ros.skeleton`); joints a dataset
does not annotate have visibility 0. 2D keypoints are full-image pixels; 3D joints are metres in the
camera optical frame (x right, y down, z forward); ``rotmats`` are SMPL-order local rotations with
joint 0 the global orientation in the camera frame (SMPL's y-up template, as the model predicts).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RealAnnotations", "RealDataError", "concat_annotations", "require_keys"]

NJ = 24


class RealDataError(ValueError):
    """A dataset file that cannot be read as its format (the message names the file and the key)."""


def require_keys(container, keys: tuple[str, ...], source: str, fmt: str) -> None:
    """Raise :class:`RealDataError` naming the first of ``keys`` missing from ``container``."""
    have = set(container.keys()) if hasattr(container, "keys") else set(container)
    for k in keys:
        if k not in have:
            raise RealDataError(f"{source}: missing key '{k}' (a {fmt} file needs {', '.join(keys)}; "
                                f"found {', '.join(sorted(map(str, have))) or 'nothing'})")


@dataclass
class RealAnnotations:
    """N person instances.

    Attributes:
        image_paths: N image file paths.
        center: (N, 2) float32 box centre, image pixels.
        box_size: (N,) float32 side of the square person box, pixels.
        kp2d: (N, 24, 2) float32 image-pixel keypoints.
        kp2d_vis: (N, 24) float32 in [0, 1] (0 = not annotated).
        joints3d: (N, 24, 3) float32 camera-frame metres, or None.
        has_3d: (N,) bool (rows with 3D joints).
        rotmats: (N, 24, 3, 3) float32 SMPL-order local rotations, or None.
        has_pose: (N,) bool.
        betas: (N, B) float32 SMPL betas, or None (only usable with the SMPL body).
        coco17: (N, 17, 3) float32 (x, y, visibility) COCO keypoints when the source has them, or None.
        source: dataset name / file for the training-data description.
    """

    image_paths: list[str]
    center: np.ndarray
    box_size: np.ndarray
    kp2d: np.ndarray
    kp2d_vis: np.ndarray
    joints3d: np.ndarray | None = None
    has_3d: np.ndarray | None = None
    rotmats: np.ndarray | None = None
    has_pose: np.ndarray | None = None
    betas: np.ndarray | None = None
    coco17: np.ndarray | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.image_paths)
        self.center = np.asarray(self.center, np.float32).reshape(n, 2)
        self.box_size = np.asarray(self.box_size, np.float32).reshape(n)
        self.kp2d = np.asarray(self.kp2d, np.float32)
        self.kp2d_vis = np.asarray(self.kp2d_vis, np.float32)
        checks = {"kp2d": (self.kp2d, (n, NJ, 2)), "kp2d_vis": (self.kp2d_vis, (n, NJ))}
        if self.joints3d is not None:
            self.joints3d = np.asarray(self.joints3d, np.float32)
            checks["joints3d"] = (self.joints3d, (n, NJ, 3))
            self.has_3d = np.ones(n, bool) if self.has_3d is None else np.asarray(self.has_3d, bool).reshape(n)
        if self.rotmats is not None:
            self.rotmats = np.asarray(self.rotmats, np.float32)
            checks["rotmats"] = (self.rotmats, (n, NJ, 3, 3))
            self.has_pose = np.ones(n, bool) if self.has_pose is None else np.asarray(self.has_pose, bool).reshape(n)
        if self.coco17 is not None:
            self.coco17 = np.asarray(self.coco17, np.float32)
            checks["coco17"] = (self.coco17, (n, 17, 3))
        for name, (arr, shape) in checks.items():
            if arr.shape != shape:
                raise RealDataError(f"{self.source or 'annotations'}: {name} must be {shape}, got {arr.shape}")
        if n and np.any(self.box_size <= 0):
            raise RealDataError(f"{self.source or 'annotations'}: box sizes must be > 0 "
                                f"(row {int(np.argmin(self.box_size))})")

    def __len__(self) -> int:
        return len(self.image_paths)


def concat_annotations(parts: list[RealAnnotations]) -> RealAnnotations:
    """Rows of several annotation sets; a label missing in one part is marked absent for its rows."""
    if not parts:
        raise RealDataError("no annotations to concatenate")
    if len(parts) == 1:
        return parts[0]
    n = [len(p) for p in parts]

    def opt(attr: str, shape: tuple[int, ...], flag: str | None):
        if all(getattr(p, attr) is None for p in parts):
            return None, None
        vals = [getattr(p, attr) if getattr(p, attr) is not None else np.zeros((k, *shape), np.float32)
                for p, k in zip(parts, n)]
        flags = None
        if flag:
            flags = np.concatenate([getattr(p, flag) if getattr(p, attr) is not None else np.zeros(k, bool)
                                    for p, k in zip(parts, n)])
        return np.concatenate(vals), flags

    j3, h3 = opt("joints3d", (NJ, 3), "has_3d")
    rm, hp = opt("rotmats", (NJ, 3, 3), "has_pose")
    c17, _ = opt("coco17", (17, 3), None)
    return RealAnnotations(sum((p.image_paths for p in parts), []), np.concatenate([p.center for p in parts]),
                           np.concatenate([p.box_size for p in parts]), np.concatenate([p.kp2d for p in parts]),
                           np.concatenate([p.kp2d_vis for p in parts]), j3, h3, rm, hp, None, c17,
                           "+".join(p.source for p in parts))
