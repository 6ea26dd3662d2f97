"""Robot models of the simulator: a mobile base that integrates the controller's ``cmd_vel_out`` and an arm
cell that scales its speed by ``arm_speed_fraction``; each carries a camera mount.

World frame: x, y on the floor, z up (metres). Robot poses are planar ``(x, y, yaw)``; the camera mount uses
the same ``camera_xyz`` / ``camera_rpy`` convention as the controller's zones files (camera optical frame ->
robot base frame), so the controller and the simulator agree on where the camera is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pose_estimation_ros.safety.geometry import camera_to_base, make_transform


class RobotModelError(ValueError):
    """A robot model that cannot be simulated (e.g. no camera)."""


@dataclass(frozen=True)
class CameraMount:
    """A pinhole camera rigidly mounted on the robot.

    Attributes:
        xyz, rpy: camera optical frame in the robot base frame (zones-file convention).
        width, height: image size in pixels.
        hfov_deg: horizontal field of view.
    """

    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]
    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0

    def base_from_camera(self) -> np.ndarray:
        """(4, 4) transform: camera optical frame -> robot base frame."""
        return camera_to_base(self.xyz, self.rpy)


def planar_transform(x: float, y: float, yaw: float) -> np.ndarray:
    """(4, 4) transform of a planar pose: robot base -> world."""
    c, s = math.cos(yaw), math.sin(yaw)
    return make_transform(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), (x, y, 0.0))


@dataclass
class RobotState:
    """Planar pose and speeds; ``progress`` is the work done (metres driven / metres of TCP path)."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0
    v: float = 0.0          # base: linear speed (m/s); arm: TCP speed (m/s)
    w: float = 0.0          # base: yaw rate (rad/s)
    progress: float = 0.0


@dataclass
class RobotModel:
    """Common part: kind ("mobile_base" | "arm"), body radius (footprint / reach envelope), camera, limits.

    Attributes:
        name: registry name.
        kind: "mobile_base" integrates a Twist; "arm" scales ``nominal_speed`` by a fraction.
        radius: robot body radius around the base origin (footprint or reach envelope), metres.
        camera: the mounted camera (required).
        zones_file: controller zones file that describes this robot (config/).
        nominal_speed: speed at command 1.0 (arm) or the commanded cruise speed (base), m/s.
        accel, decel: speed change limits (m/s^2); ``decel`` matches the SSM stopping time.
    """

    name: str
    kind: str
    radius: float
    camera: CameraMount | None
    zones_file: str
    nominal_speed: float
    accel: float
    decel: float
    state: RobotState = field(default_factory=RobotState)

    def __post_init__(self) -> None:
        if self.camera is None:
            raise RobotModelError(f"robot model '{self.name}' has no camera: the closed loop needs a camera "
                                  "mounted on the robot (give camera=CameraMount(xyz, rpy, ...))")
        if self.kind not in ("mobile_base", "arm"):
            raise RobotModelError(f"robot model '{self.name}': unknown kind '{self.kind}' (mobile_base | arm)")
        if not (self.radius > 0 and self.nominal_speed > 0 and self.accel > 0 and self.decel > 0):
            raise RobotModelError(f"robot model '{self.name}': radius, nominal_speed, accel and decel must be > 0")

    # --------------------------------------------------------------------------------------- geometry
    def world_from_base(self) -> np.ndarray:
        """(4, 4) robot base -> world at the current state."""
        return planar_transform(self.state.x, self.state.y, self.state.yaw)

    def world_from_camera(self) -> np.ndarray:
        """(4, 4) camera optical frame -> world at the current state."""
        return self.world_from_base() @ self.camera.base_from_camera()

    def separation(self, points_world: np.ndarray) -> float:
        """Planar distance (m) from the robot body (circle of ``radius``) to the nearest of (N, 3) points;
        negative inside the body/reach envelope; +inf for no points."""
        if len(points_world) == 0:
            return math.inf
        d = np.hypot(points_world[:, 0] - self.state.x, points_world[:, 1] - self.state.y)
        return float(d.min() - self.radius)

    # --------------------------------------------------------------------------------------- dynamics
    def _approach(self, current: float, target: float, dt: float) -> float:
        """``current`` moved toward ``target`` within the accel/decel limits over ``dt``."""
        limit = (self.accel if abs(target) > abs(current) else self.decel) * dt
        return current + max(-limit, min(limit, target - current))

    def step(self, dt: float, linear: float, angular: float = 0.0) -> None:
        """Advance ``dt`` seconds toward the commanded speeds.

        Args:
            linear: base: cmd_vel_out.linear.x (m/s); arm: TCP speed = nominal_speed * arm_speed_fraction.
            angular: base only: cmd_vel_out.angular.z (rad/s).
        """
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        s = self.state
        s.v = self._approach(s.v, linear, dt)
        s.progress += abs(s.v) * dt
        if self.kind == "mobile_base":
            s.w = self._approach(s.w, angular, dt) if angular or s.w else 0.0
            s.yaw += s.w * dt
            s.x += s.v * math.cos(s.yaw) * dt
            s.y += s.v * math.sin(s.yaw) * dt


# Mounts matching config/zones_mobile_base.yaml and config/zones_arm.yaml.
BASE_CAMERA = CameraMount((0.1, 0.0, 1.2), (-1.5707963, 0.0, -1.5707963))
ARM_CAMERA = CameraMount((1.8, 0.0, 1.7), (-2.0071286, 0.0, 1.5707963))


def mobile_base(camera: CameraMount | None = BASE_CAMERA) -> RobotModel:
    """Differential-drive base, 0.3 m footprint radius, cruise 1.0 m/s, brakes 1.0 -> 0 in 0.3 s."""
    return RobotModel("mobile_base", "mobile_base", 0.3, camera, "zones_mobile_base.yaml", 1.0,
                      accel=1.0, decel=1.0 / 0.3)


def arm_cell(camera: CameraMount | None = ARM_CAMERA) -> RobotModel:
    """Cobot cell, 0.85 m reach envelope, TCP 0.5 m/s at full override, stops in 0.25 s."""
    return RobotModel("arm_cell", "arm", 0.85, camera, "zones_arm.yaml", 0.5, accel=2.0, decel=0.5 / 0.25)


ROBOTS: dict[str, Callable[[], RobotModel]] = {"mobile_base": mobile_base, "arm_cell": arm_cell}


def make_robot(name: str, **kwargs) -> RobotModel:
    """Robot model by registry name; unknown names raise KeyError listing the known ones."""
    if name not in ROBOTS:
        raise KeyError(f"unknown robot model '{name}' (known: {', '.join(sorted(ROBOTS))})")
    return ROBOTS[name](**kwargs)
