"""Camera sampling: Tait-Bryan viewpoints around the person (the seed's ranges) and a robot preset.

World frame: y up, the person stands on the floor ``y = 0`` (the canonical body frame, see
:mod:`training.body.base`). A camera is ``(R, t)`` with ``x_cam = R @ x_world + t`` in the optical
frame (x right, y down, z forward) plus pinhole intrinsics of a ``width x height`` image.

Orientation (:func:`camera_rotation`): at ``yaw = pitch = roll = 0`` the optical axis is horizontal
(world +z) and the image is upright; then ``R = R_z(roll) @ R_x(pitch) @ R_base @ R_y(-yaw)``, the
optical axis in world coordinates is ``(sin yaw cos pitch, -sin pitch, cos yaw cos pitch)``: yaw turns the camera about the vertical, pitch tilts the optical axis down
(positive = looking down), roll turns the image about the optical axis. The camera looks at the
person (a point near the pelvis); its distance and focal length come from ranges.

Presets (:data:`CAMERA_PRESETS`): ``seed`` yaw ±180°, pitch ±45°, roll ±15°, distance 2–8 m;
``robot`` camera 0.5–2 m above the floor, person 1–8 m away, nearly level (pitch −10..+25°, roll
±5°), the person anywhere in the field of view.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

__all__ = ["CameraConfig", "Camera", "CAMERA_PRESETS", "camera_rotation", "camera_angles", "sample_camera"]

_R_BASE = np.diag([-1.0, -1.0, 1.0])      # world (y up, looking along +z) -> optical frame


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) world -> optical rotation for Tait-Bryan angles in radians (see module docstring)."""
    return _rz(roll) @ _rx(pitch) @ _R_BASE @ _ry(-yaw)


def camera_angles(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`camera_rotation`: (yaw, pitch, roll) in radians, pitch in [-90°, 90°]."""
    z = R[2]                                 # optical axis in world coordinates
    pitch = math.asin(max(-1.0, min(1.0, -z[1])))
    yaw = math.atan2(z[0], z[2])
    r0 = camera_rotation(yaw, pitch, 0.0)
    d = R @ r0.T                             # = Rz(roll)
    roll = math.atan2(d[1, 0], d[0, 0])
    return yaw, pitch, roll


@dataclass
class CameraConfig:
    """Ranges a camera is drawn from (angles in degrees, distances in metres)."""

    yaw_deg: tuple[float, float] = (-180.0, 180.0)
    pitch_deg: tuple[float, float] = (-45.0, 45.0)
    roll_deg: tuple[float, float] = (-15.0, 15.0)
    distance_m: tuple[float, float] = (2.0, 8.0)        # camera centre to the look-at point
    hfov_deg: tuple[float, float] = (40.0, 80.0)        # horizontal field of view (sets the focal length)
    width: int = 640
    height: int = 480
    height_m: tuple[float, float] | None = None         # camera height above the floor (robot preset)
    look_at_jitter_m: float = 0.25                      # look-at point offset around the pelvis
    person_anywhere: bool = False                       # aim away from the person (still in view)

    def __post_init__(self) -> None:
        for name in ("yaw_deg", "pitch_deg", "roll_deg", "distance_m", "hfov_deg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"camera {name}: low {lo} > high {hi}")
        if self.distance_m[0] <= 0.1:
            raise ValueError(f"camera distance_m must be > 0.1 m, got {self.distance_m}")
        if not 1.0 <= self.hfov_deg[0] and self.hfov_deg[1] < 170.0:
            raise ValueError(f"camera hfov_deg must lie in [1, 170), got {self.hfov_deg}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")

    def to_dict(self) -> dict:
        return asdict(self)


CAMERA_PRESETS: dict[str, CameraConfig] = {
    "seed": CameraConfig(),
    "robot": CameraConfig(pitch_deg=(-10.0, 25.0), roll_deg=(-5.0, 5.0), distance_m=(1.0, 8.0),
                          hfov_deg=(55.0, 90.0), height_m=(0.5, 2.0), person_anywhere=True),
}


@dataclass
class Camera:
    """A sampled camera: ``x_cam = R @ x_world + t``; ``K`` of the full ``width x height`` image."""

    R: np.ndarray
    t: np.ndarray
    K: np.ndarray
    width: int
    height: int
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        """World (..., 3) -> optical frame (..., 3)."""
        return p @ self.R.T + self.t

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        """Optical-frame points (..., 3) -> pixels (..., 2)."""
        z = np.maximum(p_cam[..., 2:3], 1e-6)
        return (p_cam[..., :2] / z) * np.diag(self.K)[:2] + self.K[:2, 2]

    def meta(self) -> dict:
        return {"yaw_deg": math.degrees(self.yaw), "pitch_deg": math.degrees(self.pitch),
                "roll_deg": math.degrees(self.roll), "R": self.R.tolist(), "t": self.t.tolist(),
                "K": self.K.tolist(), "width": self.width, "height": self.height, **self.extra}


def _intrinsics(hfov_deg: float, width: int, height: int) -> np.ndarray:
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], np.float64)


def sample_camera(cfg: CameraConfig, rng: np.random.Generator, target: np.ndarray) -> Camera:
    """Draw a camera looking at (near) ``target`` (3,) world point, e.g. the pelvis.

    With ``cfg.height_m`` the camera centre is at a drawn height above the floor and the distance is
    the horizontal distance to the target; the pitch is then the drawn tilt (not forced to aim at
    the target), and with ``person_anywhere`` the yaw aims up to ~0.4 hfov beside the person.
    """
    d2r = math.radians
    yaw = d2r(rng.uniform(*cfg.yaw_deg))
    roll = d2r(rng.uniform(*cfg.roll_deg))
    hfov = rng.uniform(*cfg.hfov_deg)
    dist = rng.uniform(*cfg.distance_m)
    K = _intrinsics(hfov, cfg.width, cfg.height)
    aim = np.asarray(target, np.float64) + rng.uniform(-1, 1, 3) * cfg.look_at_jitter_m
    if cfg.height_m is None:
        pitch = d2r(rng.uniform(*cfg.pitch_deg))
        R = camera_rotation(yaw, pitch, roll)
        center = aim - dist * R[2]
    else:
        h = rng.uniform(*cfg.height_m)
        # Place the camera on a circle of radius dist around the target at height h, facing it.
        R0 = camera_rotation(yaw, 0.0, 0.0)
        center = aim - dist * R0[2]
        center[1] = h
        to = aim - center
        pitch_aim = math.atan2(-to[1], math.hypot(to[0], to[2]))
        pitch = float(np.clip(pitch_aim + d2r(rng.uniform(-8, 8)), d2r(cfg.pitch_deg[0]), d2r(cfg.pitch_deg[1])))
        if cfg.person_anywhere:
            yaw = yaw + d2r(rng.uniform(-0.35, 0.35) * hfov)
        R = camera_rotation(yaw, pitch, roll)
    t = -R @ center
    return Camera(R, t, K, cfg.width, cfg.height, yaw, pitch, roll,
                  {"hfov_deg": float(hfov), "distance_m": float(dist)})


def preset(name: str, **overrides) -> CameraConfig:
    """A named preset with field overrides (``preset("robot", width=320, height=240)``)."""
    if name not in CAMERA_PRESETS:
        raise ValueError(f"unknown camera preset {name!r}; expected one of {tuple(CAMERA_PRESETS)}")
    return replace(CAMERA_PRESETS[name], **overrides)
