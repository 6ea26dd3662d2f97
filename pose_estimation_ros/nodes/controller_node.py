"""Controller node: human proximity -> actuator commands, every control cycle.

Subscribes ``poses`` (pose_estimation_msgs/HumanPose3DArray) and ``cmd_vel_in`` (geometry_msgs/Twist);
publishes ``cmd_vel_out`` (the incoming command scaled by the allowed speed fraction, zero on STOP),
``arm_speed_fraction`` (std_msgs/Float32 in [0, 1]) and ``safety_status``
(pose_estimation_msgs/SafetyStatus). Decisions come from :class:`SafetyMonitor`; on any doubt: STOP.
"""
from __future__ import annotations

import math
import sys
from dataclasses import replace

import rclpy
from geometry_msgs.msg import Twist
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import Float32, Header

from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus

from ..ros_conversions import humans_from_msg, stamp_to_ns
from ..ros_params import declare
from ..safety_core import SafetyConfig, SafetyMonitor

# ROS parameter name -> (SafetyConfig field, description, lo, hi)
ZONE_PARAMS = {
    "stop_distance": ("stop_distance", "Stop if any confident joint is this close (m).", 0.05, 50.0),
    "slowdown_distance": ("slowdown_distance", "Slow down inside this distance (m).", 0.05, 100.0),
    "slowdown_ratio": ("slowdown_ratio", "Speed fraction inside the slowdown zone.", 0.0, 1.0),
    "watchdog_timeout": ("watchdog_timeout", "STOP when no pose message arrives for this long (s).", 0.01, 10.0),
    "max_stamp_age": ("max_stamp_age", "FAULT when the pose's image stamp is older than this (s).", 0.01, 10.0),
    "max_future": ("max_future", "FAULT when the pose stamp is this far in the future (s).", 0.001, 10.0),
    "min_confidence": ("min_confidence", "Joints below this confidence are ignored.", 0.0, 1.0),
}


class ControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("controller")
        d = SafetyConfig()
        values = {name: declare(self, name, float(getattr(d, f)), desc, lo=lo, hi=hi)
                  for name, (f, desc, lo, hi) in ZONE_PARAMS.items()}
        planar = declare(self, "planar_distance", d.planar, "Measure distance in the base x-y plane (mobile base).")
        xyz = declare(self, "camera_xyz", list(d.camera_xyz), "Camera optical frame origin in the base frame (m).")
        rpy = declare(self, "camera_rpy", list(d.camera_rpy),
                      "Camera optical frame orientation in the base frame (roll, pitch, yaw; rad).")
        self.rate = declare(self, "control_rate_hz", 50.0, "Control cycle rate.", lo=1.0, hi=1000.0, read_only=True)
        self.cmd_timeout = declare(self, "cmd_vel_timeout", 0.5, "Incoming cmd_vel older than this is zeroed (s).",
                                   lo=0.01, hi=10.0)
        cfg = SafetyConfig(**{ZONE_PARAMS[k][0]: v for k, v in values.items()}, planar=planar,
                           camera_xyz=tuple(xyz), camera_rpy=tuple(rpy))
        self.monitor = SafetyMonitor(cfg)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.cmd_in: Twist | None = None
        self.cmd_in_time = -math.inf
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel_out", 10)
        self.pub_arm = self.create_publisher(Float32, "arm_speed_fraction", 10)
        self.pub_status = self.create_publisher(SafetyStatus, "safety_status", 10)
        self.create_subscription(HumanPose3DArray, "poses", self._on_poses, 10)
        self.create_subscription(Twist, "cmd_vel_in", self._on_cmd, 10)
        self.create_timer(1.0 / self.rate, self._cycle)
        self.get_logger().info(f"controller: stop {cfg.stop_distance} m, slowdown {cfg.slowdown_distance} m, "
                               f"watchdog {cfg.watchdog_timeout} s, {self.rate} Hz")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate the whole configuration with the change applied; reject it (keeping the old) if invalid."""
        changes = {}
        for p in params:
            if p.name in ZONE_PARAMS:
                changes[ZONE_PARAMS[p.name][0]] = float(p.value)
            elif p.name == "planar_distance":
                changes["planar"] = bool(p.value)
            elif p.name in ("camera_xyz", "camera_rpy"):
                if len(p.value) != 3:
                    return SetParametersResult(successful=False, reason=f"{p.name} needs 3 values")
                changes[p.name] = tuple(float(v) for v in p.value)
            elif p.name == "cmd_vel_timeout":
                self.cmd_timeout = float(p.value)
        if not changes:
            return SetParametersResult(successful=True)
        try:
            self.monitor.reconfigure(replace(self.monitor.cfg, **changes))
        except ValueError as e:
            self.get_logger().warning(f"rejected parameter change: {e}")
            return SetParametersResult(successful=False, reason=str(e))
        return SetParametersResult(successful=True)

    def _on_poses(self, msg: HumanPose3DArray) -> None:
        self.monitor.on_poses(self._now(), stamp_to_ns(msg.header.stamp) * 1e-9, humans_from_msg(msg),
                              ok=msg.ok, status=msg.status)
        self._cycle()   # react to fresh data at once, not one timer period later

    def _on_cmd(self, msg: Twist) -> None:
        self.cmd_in, self.cmd_in_time = msg, self._now()

    def _cycle(self) -> None:
        now = self._now()
        dec = self.monitor.step(now)
        out = Twist()
        if self.cmd_in is not None and now - self.cmd_in_time <= self.cmd_timeout and dec.speed_fraction > 0:
            f = dec.speed_fraction
            out.linear.x, out.linear.y, out.linear.z = (self.cmd_in.linear.x * f, self.cmd_in.linear.y * f,
                                                        self.cmd_in.linear.z * f)
            out.angular.x, out.angular.y, out.angular.z = (self.cmd_in.angular.x * f, self.cmd_in.angular.y * f,
                                                           self.cmd_in.angular.z * f)
        self.pub_cmd.publish(out)
        self.pub_arm.publish(Float32(data=float(dec.speed_fraction)))
        self.pub_status.publish(SafetyStatus(
            header=Header(stamp=self.get_clock().now().to_msg(), frame_id="base_link"), state=int(dec.state),
            state_name=dec.state.name, zone=dec.zone, person_id=int(dec.person_id),
            min_distance=float(dec.min_distance), speed_fraction=float(dec.speed_fraction), reason=dec.reason))


def main(args=None) -> int:
    rclpy.init(args=args)
    try:
        node = ControllerNode()
    except ValueError as e:
        print(f"[controller] ERROR: invalid configuration: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
