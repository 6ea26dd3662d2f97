"""Controller node: human proximity -> actuator commands, every control cycle (rclpy glue only).

All decisions come from the ROS-free :class:`pose_estimation_ros.safety.SafetyMonitor`; on any doubt: STOP.

Subscribes:
  ``poses``        pose_estimation_msgs/HumanPose3DArray (camera optical frame, image stamps)
  ``cmd_vel_in``   geometry_msgs/Twist (vehicle mode: the command to filter)
  ``safety_reset`` std_msgs/Empty (clears a latched stop once its cause is gone; std_srvs is not available)
  ``/tf_static``   tf2_msgs/TFMessage, only when tf2_msgs is importable and ``use_tf_static`` is true
Publishes:
  ``cmd_vel_out``        geometry_msgs/Twist, vehicle mode: cmd_vel_in scaled by the speed fraction (zero on STOP)
  ``arm_speed_fraction`` std_msgs/Float32 in [0, 1] (both modes; the arm's speed override)
  ``safety_status``      pose_estimation_msgs/SafetyStatus, every cycle
  ``/diagnostics``       diagnostic_msgs/DiagnosticArray
  ``safety_markers``     visualization_msgs/MarkerArray: every zone, coloured by the state it triggers

Parameters are declared with descriptions and ranges; every ``set_parameters`` is validated as a whole new
configuration (:func:`pose_estimation_ros.safety.validate`). A rejected set keeps the old configuration and
commands FAULT (zero speed) for ``param_reject_hold`` seconds. See docs/safety.md.
"""
from __future__ import annotations

import math
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Twist
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from std_msgs.msg import ColorRGBA, Empty, Float32, Header
from visualization_msgs.msg import Marker, MarkerArray

from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus

from ..ros_conversions import humans_from_msg, pose_array_count, stamp_to_ns, tf_edges
from ..ros_params import declare
from ..safety import SafetyConfig, SafetyMonitor, State, apply_params, load_yaml, param_specs, validate
from ..safety.geometry import chain_transform, circle_outline
from ..stack import resolve_zones_file
from .entry import run_node

try:    # tf2_msgs is not always installed (it is not a wheel in the development venv)
    from tf2_msgs.msg import TFMessage
except ImportError:     # pragma: no cover - depends on the installation
    TFMessage = None

# Node-only parameters: name -> (default, description, lo, hi, read_only)
NODE_PARAMS = {
    "control_rate_hz": (50.0, "Control cycle rate (Hz); a pose message is also acted on at once.", 1.0, 1000.0, True),
    "cmd_vel_timeout": (0.5, "Incoming cmd_vel older than this is treated as zero (s).", 0.01, 10.0, False),
    "diagnostics_rate_hz": (2.0, "/diagnostics publication rate (Hz).", 0.1, 100.0, True),
    "markers_rate_hz": (5.0, "safety_markers publication rate (Hz).", 0.1, 100.0, True),
    "base_frame": ("base_link", "Robot base frame: status/markers frame and /tf_static target.", None, None, True),
    "use_tf_static": (True, "Take the camera->base transform from /tf_static when tf2_msgs is available.",
                      None, None, True),
    "zones_file": ("", "YAML with zones and other controller parameters used as defaults (absolute, or relative "
                   "to the package config/ folder); explicit parameters override it.", None, None, True),
}

_STATE_COLOURS = {
    State.NORMAL: (0.2, 0.8, 0.2), State.SLOWDOWN: (1.0, 0.6, 0.0), State.LIMIT: (1.0, 0.9, 0.0),
    State.APPROACH: (0.8, 0.2, 0.9), State.STOP: (0.9, 0.0, 0.0), State.FAULT: (0.5, 0.0, 0.0),
}
_ACTION_STATE = {"stop": State.STOP, "slowdown": State.SLOWDOWN, "limit": State.LIMIT, "approach": State.APPROACH}


def _colour(state: State, alpha: float) -> ColorRGBA:
    r, g, b = _STATE_COLOURS[state]
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


def twist_components(msg: Twist) -> tuple[float, float, float, float, float, float]:
    """(linear x, y, z, angular x, y, z): all six, so a non-finite value in any of them is seen."""
    return (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z)


class ControllerNode(Node):
    WATCHDOG_EPS = 0.001    # s after watchdog_timeout at which the re-armed watchdog timer fires

    def __init__(self) -> None:
        super().__init__("controller")
        zones_file = self._declare_node_param("zones_file", "")
        file_values: dict = {}
        cfg = SafetyConfig()
        if zones_file:
            path = resolve_zones_file(zones_file)
            file_values = load_yaml(path)
            cfg = apply_params(cfg, {k: v for k, v in file_values.items() if k not in NODE_PARAMS})
        self.node_values = {n: self._declare_node_param(n, file_values.get(n)) for n in NODE_PARAMS
                            if n != "zones_file"}
        self.node_values["zones_file"] = zones_file
        # Zone names, then each zone's shape (both fixed at start-up), then everything else.
        specs = {s.name: s for s in param_specs(cfg)}
        names = self._declare_spec(specs["zone_names"], "string_array")
        cfg = apply_params(cfg, {"zone_names": list(names or [])})
        for z in cfg.zones:
            s = param_specs(cfg)
            spec = next(p for p in s if p.name == f"zones.{z.name}.shape")
            cfg = apply_params(cfg, {spec.name: self._declare_spec(spec)})
        values = {}
        for spec in param_specs(cfg):
            if spec.name == "zone_names" or spec.name.endswith(".shape"):
                continue
            values[spec.name] = self._declare_spec(spec, "double_array" if spec.name.endswith(".points") else None)
        cfg = apply_params(cfg, values)
        validate(cfg)           # ValueError -> main() exits with the reason
        self.monitor = SafetyMonitor(cfg)
        self.rate = float(self.node_values["control_rate_hz"])
        self.cmd_timeout = float(self.node_values["cmd_vel_timeout"])
        self.base_frame = str(self.node_values["base_frame"])
        self.vehicle = cfg.mode == "vehicle"
        self.add_pre_set_parameters_callback(self._pre_set_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.cmd_in: Twist | None = None
        self.cmd_in_time = -math.inf
        self.camera_frame = ""
        self._tf_edges: dict = {}
        self.pub_cmd = self.create_publisher(Twist, "cmd_vel_out", 10) if self.vehicle else None
        self.pub_arm = self.create_publisher(Float32, "arm_speed_fraction", 10)
        self.pub_status = self.create_publisher(SafetyStatus, "safety_status", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "safety_markers", 1)
        # Raw subscription: the size of a message is checked before rclpy turns it into Python objects (thousands
        # of people take seconds to deserialize, with the last command standing meanwhile).
        self.create_subscription(HumanPose3DArray, "poses", self._on_poses_raw, 10, raw=True)
        if self.vehicle:
            self.create_subscription(Twist, "cmd_vel_in", self._on_cmd, 10)
        self.create_subscription(Empty, "safety_reset", self._on_reset, 10)
        self.tf_static_active = False
        if self.node_values["use_tf_static"]:
            if TFMessage is not None:
                qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                 reliability=ReliabilityPolicy.RELIABLE)
                self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, qos)
                self.tf_static_active = True
            else:
                self.get_logger().info("tf2_msgs not installed: camera transform from camera_xyz/camera_rpy only")
        # One periodic timer drives the control cycle and, at their own rates, diagnostics and markers (fewer
        # executor entities = less overhead between a pose message and the command it causes).
        self._diag_period = 1.0 / float(self.node_values["diagnostics_rate_hz"])
        self._marker_period = 1.0 / float(self.node_values["markers_rate_hz"])
        self._next_diag = self._next_markers = 0.0
        self.create_timer(1.0 / self.rate, self._tick)
        # Watchdog: a timer re-armed by every pose message fires just after watchdog_timeout of silence, so the
        # STOP does not wait for the next control cycle.
        self._wd_timer = self.create_timer(cfg.watchdog_timeout + self.WATCHDOG_EPS, self._cycle)
        self.get_logger().info(
            f"controller: mode {cfg.mode}, zones {[z.name for z in cfg.zones]}, SSM {cfg.ssm.enabled}, "
            f"watchdog {cfg.watchdog_timeout} s, {self.rate} Hz" + (f", zones file {zones_file}" if zones_file else ""))

    # ---------------------------------------------------------------------------------------- parameters
    def _declare_node_param(self, name: str, file_default=None):
        default, desc, lo, hi, ro = NODE_PARAMS[name]
        if file_default is not None:
            default = type(default)(file_default)
        return declare(self, name, default, desc, lo=lo, hi=hi, read_only=ro)

    def _declare_spec(self, spec, array_type: str | None = None):
        if isinstance(spec.default, list) and not spec.default:
            # rclpy cannot infer an array type from an empty list: declare the type explicitly
            t = Parameter.Type.STRING_ARRAY if array_type == "string_array" else Parameter.Type.DOUBLE_ARRAY
            v = self.declare_parameter(spec.name, t, ParameterDescriptor(description=spec.description,
                                                                         read_only=spec.read_only)).value
            return list(v) if v is not None else []
        v = declare(self, spec.name, spec.default, spec.description, lo=spec.lo, hi=spec.hi,
                    read_only=spec.read_only, choices=spec.choices)
        return list(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else v

    def _check(self, params) -> tuple[SetParametersResult, SafetyConfig | None, dict]:
        """Validate a parameter set as a whole new configuration; returns (result, new config, node changes)."""
        changes, node_changes = {}, {}
        for p in params:
            if not self.has_parameter(p.name):
                return SetParametersResult(successful=False, reason=f"unknown parameter {p.name}"), None, {}
            if self.describe_parameter(p.name).read_only:
                return SetParametersResult(successful=False,
                                           reason=f"{p.name} is read-only (set it at start-up)"), None, {}
            current = self.get_parameter(p.name)
            if current.type_ != Parameter.Type.NOT_SET and p.type_ != current.type_:
                return SetParametersResult(successful=False, reason=f"{p.name}: wrong type {p.type_.name}, "
                                           f"expected {current.type_.name}"), None, {}
            if p.name in NODE_PARAMS:
                _, _, lo, hi, _ = NODE_PARAMS[p.name]
                if lo is not None and not (lo <= p.value <= hi):
                    return SetParametersResult(successful=False,
                                               reason=f"{p.name} must be in [{lo}, {hi}], got {p.value}"), None, {}
                node_changes[p.name] = p.value
            elif p.name == "use_sim_time" or p.name.startswith("qos_overrides."):
                continue
            else:
                changes[p.name] = list(p.value) if p.type_.name.endswith("ARRAY") else p.value
        try:
            new = apply_params(self.monitor.cfg, changes)
            validate(new)
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e)), None, {}
        return SetParametersResult(successful=True), new, node_changes

    def _pre_set_parameters(self, params):
        """Runs before rclpy's own checks: a set that will be rejected (by us or by rclpy) => FAULT hold."""
        result, _, _ = self._check(params)
        if not result.successful:
            self.get_logger().warning(f"rejected parameter change: {result.reason}")
            self.monitor.reject_parameters(self._now(), result.reason)
            self._cycle()
        return params

    def _on_set_parameters(self, params) -> SetParametersResult:
        result, new, node_changes = self._check(params)
        if result.successful:
            old_timeout = self.monitor.cfg.watchdog_timeout
            self.monitor.reconfigure(new)
            if new.watchdog_timeout != old_timeout:
                self.destroy_timer(self._wd_timer)
                self._wd_timer = self.create_timer(new.watchdog_timeout + self.WATCHDOG_EPS, self._cycle)
            if "cmd_vel_timeout" in node_changes:
                self.cmd_timeout = float(node_changes["cmd_vel_timeout"])
            self.get_logger().info(f"parameters updated: {', '.join(p.name for p in params)}")
        return result

    # ----------------------------------------------------------------------------------------- callbacks
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_poses_raw(self, data: bytes) -> None:
        """Count the people before deserializing: a flood is refused (FAULT) for the cost of reading 4 bytes."""
        now = self._now()
        try:
            count = pose_array_count(data)
        except ValueError as e:
            self.monitor.on_poses(now, now, [], ok=False, status=f"undecodable pose message: {e}")
        else:
            if count <= self.monitor.cfg.max_people:
                self._on_poses(deserialize_message(data, HumanPose3DArray))
                return
            self.monitor.on_poses(now, now, [], count=count)
        self._wd_timer.reset()
        self._cycle()

    def _on_poses(self, msg: HumanPose3DArray) -> None:
        if msg.header.frame_id != self.camera_frame:
            self.camera_frame = msg.header.frame_id
            self._update_tf()
        self.monitor.on_poses(self._now(), stamp_to_ns(msg.header.stamp) * 1e-9, humans_from_msg(msg),
                              ok=msg.ok, status=msg.status)
        self._wd_timer.reset()
        self._cycle()   # react to fresh data at once, not one timer period later

    def _on_cmd(self, msg: Twist) -> None:
        self.cmd_in, self.cmd_in_time = msg, self._now()

    def _on_reset(self, _msg: Empty) -> None:
        ok, why = self.monitor.reset()
        # One call site per severity: rclpy refuses a call site whose severity changes between calls.
        if ok:
            self.get_logger().info(f"safety_reset: {why}")
        else:
            self.get_logger().warning(f"safety_reset refused: {why}")
        self._cycle()

    def _on_tf_static(self, msg) -> None:   # tf2_msgs/TFMessage
        self._tf_edges.update(tf_edges(msg))
        self._update_tf()

    def _update_tf(self) -> None:
        if not self.tf_static_active or not self.camera_frame:
            return
        t = chain_transform(self._tf_edges, self.base_frame, self.camera_frame)
        if t is not None:
            self.monitor.set_transform(t, f"/tf_static {self.base_frame} <- {self.camera_frame}")

    def _tick(self) -> None:
        self._cycle()
        t = time.monotonic()
        if t >= self._next_diag:
            self._next_diag = t + self._diag_period
            self._publish_diagnostics()
        if t >= self._next_markers:
            self._next_markers = t + self._marker_period
            self._publish_markers()

    def on_callback_error(self, exc: BaseException) -> None:
        """A callback raised (``nodes.entry`` keeps the node running): command zero speed at once, as FAULT."""
        self._publish_command(self.get_clock().now(), None, 0.0, State.FAULT, "internal_error", -1, math.nan,
                              f"controller callback failed: {exc!r}"[:200])

    def _cycle(self) -> None:
        now_t = self.get_clock().now()
        now = now_t.nanoseconds * 1e-9
        cmd = self.cmd_in
        fresh = cmd is not None and now - self.cmd_in_time <= self.cmd_timeout
        command = twist_components(cmd) if fresh else (0.0,) * 6
        dec = self.monitor.step(now, command)
        self._publish_command(now_t, command if fresh else None, dec.speed_fraction, dec.state, dec.zone,
                              dec.person_id, dec.min_distance, dec.reason)

    def _publish_command(self, now_t, command: tuple[float, ...] | None, f: float, state: State, zone: str,
                         person_id: int, min_distance: float, reason: str) -> None:
        """cmd_vel_out (vehicle: every component of ``command`` scaled by ``f``; zero without a fresh command or
        at f = 0), arm_speed_fraction and safety_status, every cycle."""
        if self.pub_cmd is not None:
            out = Twist()
            if command is not None and f > 0.0:
                (out.linear.x, out.linear.y, out.linear.z,
                 out.angular.x, out.angular.y, out.angular.z) = (v * f for v in command)
            self.pub_cmd.publish(out)
        self.pub_arm.publish(Float32(data=float(f)))
        self.pub_status.publish(SafetyStatus(
            header=Header(stamp=now_t.to_msg(), frame_id=self.base_frame), state=int(state),
            state_name=state.name, zone=zone, person_id=int(person_id),
            min_distance=float(min_distance), speed_fraction=float(f), reason=reason))

    # ------------------------------------------------------------------------------------------- outputs
    def _publish_diagnostics(self) -> None:
        dec = self.monitor.last
        if dec is None:
            return
        if dec.state == State.FAULT or dec.zone == "watchdog":
            level = DiagnosticStatus.ERROR
        elif dec.state == State.NORMAL:
            level = DiagnosticStatus.OK
        else:
            level = DiagnosticStatus.WARN
        values = {"state": dec.state.name, "zone": dec.zone or "-", "person_id": str(dec.person_id),
                  "min_distance_m": f"{dec.min_distance:.3f}", "speed_fraction": f"{dec.speed_fraction:.3f}",
                  "reason": dec.reason, **self.monitor.summary()}
        st = DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: human-aware safety",
                              message=f"{dec.state.name}: {dec.reason}"[:200], hardware_id="pose_estimation_ros",
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self.pub_diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[st]))

    def _publish_markers(self) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.base_frame)
        arr = MarkerArray()
        arr.markers.append(Marker(header=header, ns="safety_zones", action=Marker.DELETEALL))
        dec = self.monitor.last
        mid = 0

        def outline(ns: str, pts, colour: ColorRGBA, width: float) -> None:
            nonlocal mid
            m = Marker(header=header, ns=ns, id=mid, type=Marker.LINE_STRIP, action=Marker.ADD, color=colour)
            m.pose.orientation.w = 1.0
            m.scale.x = width
            m.points = [Point(x=float(x), y=float(y), z=0.02) for x, y in pts] + \
                       [Point(x=float(pts[0][0]), y=float(pts[0][1]), z=0.02)]
            arr.markers.append(m)
            mid += 1

        for z in self.monitor.zone_views():
            state = _ACTION_STATE[z.action] if z.occupied else State.NORMAL
            outline("safety_zones", z.outline.tolist(), _colour(state, 1.0 if z.occupied else 0.5),
                    0.06 if z.winner else 0.02)
        if not math.isnan(self.monitor.ssm_radius):
            active = dec is not None and dec.zone == "ssm"
            state = dec.state if active else State.NORMAL
            outline("safety_zones", circle_outline((0.0, 0.0), self.monitor.ssm_radius).tolist(),
                    _colour(state, 1.0 if active else 0.5), 0.06 if active else 0.02)
            outline("safety_zones", circle_outline((0.0, 0.0), self.monitor.ssm_stop_radius).tolist(),
                    _colour(State.STOP if active and state == State.STOP else State.NORMAL, 0.3), 0.01)
        if dec is not None:
            t = Marker(header=header, ns="safety_zones", id=mid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                       color=_colour(dec.state, 1.0), text=f"{dec.state.name} {dec.zone} {dec.speed_fraction:.2f}")
            t.pose.position.z = 2.0
            t.pose.orientation.w = 1.0
            t.scale.z = 0.25
            arr.markers.append(t)
        self.pub_markers.publish(arr)


def main(args=None) -> int:
    return run_node(ControllerNode, "controller", (ValueError, OSError), args)


if __name__ == "__main__":
    sys.exit(main())
