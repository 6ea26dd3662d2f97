"""Shared fixtures of the renderer tests: one renderer (GL context + Anny) per test process."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest


def require_render_stack():
    """Skip (with the reason) unless moderngl, anny and an EGL context are available."""
    pytest.importorskip("moderngl", reason="the renderer needs moderngl (requirements/training.txt)")
    pytest.importorskip("anny", reason="the renderer tests use the anny body model")
    from training.render.gl import GLUnavailableError
    try:
        return renderer()
    except GLUnavailableError as e:
        pytest.skip(f"no OpenGL: {e}")


@functools.lru_cache(maxsize=None)
def renderer():
    import torch
    torch.set_num_threads(1)
    from training.render.renderer import get_renderer
    return get_renderer("anny", 256)


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def standing(heading: float = 0.0, arms_down: bool = True) -> np.ndarray:
    """(24, 3, 3) rotations of a person standing upright in the camera frame, turned by ``heading``
    (0 = facing the camera), arms lowered from the T-pose."""
    from pose_estimation_ros.synthetic_scene import SyntheticScene
    s = SyntheticScene(64, 48)
    r = s.local_rotations(0.0, 0.0, heading)        # standing still, facing the camera at heading 0
    if not arms_down:
        r[16] = np.eye(3)
        r[17] = np.eye(3)
    return r.astype(np.float32)


def K_of(size: int, f: float) -> np.ndarray:
    return np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]], np.float64)


def project(j: np.ndarray, K: np.ndarray) -> np.ndarray:
    return j[:, :2] / j[:, 2:3] * np.diag(K)[:2] + K[:2, 2]
