"""A fixed "other camera" applied to rendered crops: the domain-shift benchmark of site adaptation.

``site_camera`` imitates a dim, cool-tinted, soft, noisy camera (the robot's own camera at a site, as
opposed to the renders' look): exposure x0.55, gamma 1.25, colour gains (0.85, 0.95, 1.2), Gaussian
blur sigma 1.0 px, sensor noise sigma 6 (of 255) from a fixed seed per image index. Deterministic, so
the benchmark (held-out test renders through this camera) and the adaptation frames (other renders
through the same camera, labels unused) are reproducible.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SHIFTS", "apply_shift"]

SHIFTS = ("none", "site_camera")


def apply_shift(images: np.ndarray, kind: str = "site_camera", seed: int = 0) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB -> the same images through camera ``kind`` (see module docstring)."""
    import cv2

    if kind not in SHIFTS:
        raise ValueError(f"unknown domain shift '{kind}'; expected one of {list(SHIFTS)}")
    if kind == "none":
        return images
    x = images.astype(np.float32) / 255.0
    x = np.clip(0.55 * x, 0, 1) ** 1.25 * np.array([0.85, 0.95, 1.2], np.float32)
    out = np.empty_like(images)
    for i in range(x.shape[0]):
        img = cv2.GaussianBlur(x[i], (0, 0), 1.0)
        img = img + np.random.default_rng((seed, i)).normal(0, 6.0 / 255.0, img.shape).astype(np.float32)
        out[i] = np.clip(255.0 * img, 0, 255).astype(np.uint8)
    return out
