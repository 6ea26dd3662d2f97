"""Thin ROS driver: the real perception and controller nodes (separate processes, loopback DDS, started with
:class:`pose_estimation_ros.runner.Stack`) in lock-step with the simulator on simulated time.

The sim node owns ``/clock`` and publishes the rendered image + camera_info on ``/sim/camera/*`` (the perception
node's ``image`` and ``camera_info`` are remapped there, as with a Gazebo bridge) and ``cmd_vel_in`` (the request);
it consumes ``cmd_vel_out`` (base) or ``arm_speed_fraction`` (arm), ``safety_status`` and ``perception_latency``.
Both nodes run with ``use_sim_time``. One frame, with ``t_k`` its simulated time:

1. publish ``cmd_vel_in`` and ``/clock = t_k``; wait for the controller's timer cycle stamped ``t_k`` (so the
   controller's own cycle at ``t_k`` is done before the image's poses arrive: the clock is frozen, no other timer
   cycle can follow);
2. publish camera_info + image stamped ``t_k``; wait for ``perception_latency`` of that image and the controller's
   second status stamped ``t_k`` (the one its pose callback published), plus the matching ``cmd_vel_out`` /
   ``arm_speed_fraction``;
3. that decision is the frame's command. The wall time from publishing the image to that status is the latency
   seen in the loop (recorded, not fed back: results do not depend on how fast the CPU is).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose_estimation_ros.runner import Stack, loopback_env
from pose_estimation_ros.stack import config_dir, node_by_name

from .robots import RobotModel
from .world import Command, Frame

IMAGE_TOPIC = "/sim/camera/image"
INFO_TOPIC = "/sim/camera/camera_info"
T0 = 10.0                   # simulated ROS time of the scenario's t = 0 (s); warm-up frames come before it


class LoopSyncError(RuntimeError):
    """The nodes did not answer a frame (a node died or is stuck)."""


@dataclass
class _Inbox:
    """Messages received since the last reset, keyed by stamp (ns) where they have one."""

    status: dict[int, list] = field(default_factory=dict)
    latency: dict[int, object] = field(default_factory=dict)
    cmd_out: list = field(default_factory=list)
    arm: list = field(default_factory=list)


@dataclass
class _InFlight:
    """One frame handed to the nodes and not answered yet."""

    frame: Frame
    t_ros: float
    request: float
    ns: int                 # the frame's stamp (= /clock) in ns
    n_cmd: int              # cmd_vel_out / arm_speed_fraction messages received before it
    n_arm: int
    before: int             # statuses stamped ``ns`` before the image went out (the timer cycle's)
    t_pub_ns: int           # wall time (time.time_ns) the image was published
    stamps: list[int]       # image stamps sent for it (a resend gets the next nanosecond)
    resend: float           # s between resends


def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class NodeBrain:
    """Runs perception + controller nodes and answers :meth:`decide` for each frame (a :class:`sim.world.Brain`).

    Args:
        robot: the simulated robot (its zones file configures the controller).
        overrides: controller parameter overrides (a zone setting).
        frame_rate: camera rate (Hz), given to perception as ``expected_rate_hz``.
        per_frame_model: path of the per-frame ONNX model ('' = the packaged default).
        log_dir: each node's output goes to ``log_dir/<node>.log``.
        warmup_frames: frames of the initial scene fed before t = 0 (camera already on, robot standing).
        timeout: wall seconds to wait for one frame's answer (the image is resent every RESEND s meanwhile).
    """

    RESEND = 2.0
    RESEND_WARMUP = 1.0

    def __init__(self, robot: RobotModel, overrides: dict | None = None, frame_rate: float = 15.0,
                 per_frame_model: str = "", log_dir: Path | None = None, warmup_frames: int = 8,
                 timeout: float = 30.0, perception_sets: dict | None = None) -> None:
        self.robot = robot
        self.frame_rate = frame_rate
        self.warmup_frames = warmup_frames
        self.timeout = timeout
        self.log_dir = log_dir
        sets = {
            "perception": {"use_sim_time": "true", "threads": "1", "expected_rate_hz": str(float(frame_rate)),
                           **({"per_frame_model": per_frame_model} if per_frame_model else {}),
                           **{k: str(v) for k, v in (perception_sets or {}).items()}},
            "controller": {"use_sim_time": "true", "zones_file": robot.zones_file,
                           **{k: str(v) for k, v in (overrides or {}).items()}},
        }
        self.sets = sets
        self.remaps = {"perception": [("image", IMAGE_TOPIC), ("camera_info", INFO_TOPIC)]}
        self.stack: Stack | None = None
        self.node = None
        self.inbox = _Inbox()
        self.sync_misses = 0
        self.resends = 0
        self.mismatches = 0
        self._inflight: _InFlight | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self, first: Frame) -> None:
        """Start the node processes and the sim node; feed ``warmup_frames`` copies of the first frame's scene."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from geometry_msgs.msg import Twist
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Float32

        from pose_estimation_msgs.msg import PerceptionLatency, SafetyStatus

        os.environ.update(loopback_env())
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        specs = [node_by_name("perception"), node_by_name("controller")]
        self.stack = Stack(specs, config_dir(), self.sets, self.remaps, log_dir=self.log_dir)
        if not rclpy.ok():
            rclpy.init()
        self.node = Node("sim")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        n = self.node
        img_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub_clock = n.create_publisher(Clock, "/clock", 10)
        self.pub_image = n.create_publisher(Image, IMAGE_TOPIC, img_qos)
        self.pub_info = n.create_publisher(CameraInfo, INFO_TOPIC, img_qos)
        self.pub_cmd = n.create_publisher(Twist, "cmd_vel_in", 10)
        self._msgs = (Clock, Image, CameraInfo, Twist)
        n.create_subscription(SafetyStatus, "safety_status", self._on_status, 100)
        n.create_subscription(PerceptionLatency, "perception_latency", self._on_latency, 100)
        n.create_subscription(Twist, "cmd_vel_out", lambda m: self.inbox.cmd_out.append(m), 100)
        n.create_subscription(Float32, "arm_speed_fraction", lambda m: self.inbox.arm.append(m), 100)
        # Wait until both nodes are up: perception subscribes to the image, the controller publishes status.
        self._publish_clock(T0 - (self.warmup_frames + 2) / self.frame_rate)
        # ... and both subscribe to /clock: a clock message sent before that match is lost (volatile), and a node
        # whose clock never moved rejects every image as stamped in the future (max_stamp_ahead_s).
        ok = self._spin_until(lambda: self.pub_image.get_subscription_count() > 0
                              and self.pub_info.get_subscription_count() > 0
                              and self.pub_clock.get_subscription_count() >= 2
                              and n.count_publishers("perception_latency") > 0
                              and n.count_publishers("safety_status") > 0, 60.0)
        if not ok:
            raise LoopSyncError(f"nodes did not come up within 60 s (exited: {self.stack.failed()}); "
                                f"see {self.log_dir or 'their output'}")
        for i in range(self.warmup_frames, 0, -1):       # short resends: the first image is often lost
            self._exchange(first, T0 - i / self.frame_rate, first.t, resend=self.RESEND_WARMUP)

    def stop(self) -> dict[str, int]:
        codes = self.stack.stop() if self.stack else {}
        if self.node is not None:
            self.executor.shutdown()
            self.node.destroy_node()
            self.node = None
        return codes

    # ------------------------------------------------------------------------------------------ messages
    def _on_status(self, msg, info) -> None:
        """Keep (wall time it was received, ns since the epoch, message) by stamp. The middleware's reception
        time is used when it is plausible: the simulator may be rendering when a status arrives."""
        now = time.time_ns()
        recv = int(info["received_timestamp"]) if info else 0
        arrival = recv if 0 <= now - recv < 60_000_000_000 else now
        self.inbox.status.setdefault(_ns(msg.header.stamp), []).append((arrival, msg))

    def _on_latency(self, msg) -> None:
        self.inbox.latency[_ns(msg.header.stamp)] = msg

    def _spin_until(self, pred, timeout: float) -> bool:
        from pose_estimation_ros.spin import spin_until
        return spin_until(self.executor, pred, timeout, step=0.002)

    def _publish_clock(self, t: float) -> int:
        Clock = self._msgs[0]
        ns = int(round(t * 1e9))
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        self.pub_clock.publish(msg)
        return ns

    def _publish_frame(self, frame: Frame, ns: int) -> None:
        _, Image, CameraInfo, _ = self._msgs
        intr = frame.intrinsics
        h, w = frame.image.shape[:2]
        img = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3)
        img.header.stamp.sec, img.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        img.header.frame_id = "sim_camera_optical_frame"
        img.data = np.ascontiguousarray(frame.image).tobytes()
        info = CameraInfo(height=h, width=w, distortion_model="plumb_bob")
        info.header = img.header
        info.k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
        info.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.d = [0.0] * 5
        self.pub_info.publish(info)
        self.pub_image.publish(img)

    def _send(self, frame: Frame, t_ros: float, request: float, resend: float | None = None) -> _InFlight:
        """Steps 1-2 of the module docstring for one frame at ROS time ``t_ros``: returns once the image is out."""
        Twist = self._msgs[3]
        if self.robot.kind == "mobile_base":
            cmd = Twist()
            cmd.linear.x = float(request)
            self.pub_cmd.publish(cmd)
        n_cmd, n_arm = len(self.inbox.cmd_out), len(self.inbox.arm)
        ns = self._publish_clock(t_ros)
        got_status = lambda: len(self.inbox.status.get(ns, [])) >= 1      # noqa: E731
        if not self._spin_until(got_status, 1.0):
            self._publish_clock(t_ros)          # a clock message can be lost (best effort under load): once more
            if not self._spin_until(got_status, 4.0):
                self.sync_misses += 1
        fl = _InFlight(frame, t_ros, float(request), ns, n_cmd, n_arm, len(self.inbox.status.get(ns, [])),
                       time.time_ns(), [ns], self.RESEND if resend is None else resend)
        self._publish_frame(frame, ns)
        return fl

    def _receive(self, fl: _InFlight) -> Command:
        """Step 3: wait for the answer to ``fl`` (resending its image meanwhile) and return the frame's command."""
        ns, stamps = fl.ns, fl.stamps

        def answered() -> bool:
            return any(s in self.inbox.latency for s in stamps) and len(self.inbox.status.get(ns, [])) > fl.before

        # A best-effort image can be lost (e.g. the first one after discovery), and perception may also
        # publish nothing for one it got (a lagged slot warming up): resend it every RESEND s, stamped 1 ns
        # later each time, so perception never drops the resent copy as a duplicate of an image it has.
        deadline = time.monotonic() + self.timeout
        while not self._spin_until(answered, min(fl.resend, max(deadline - time.monotonic(), 0.0))):
            if time.monotonic() >= deadline or self.stack.failed():
                raise LoopSyncError(f"no answer for the frame at t={fl.t_ros:.3f} s within {self.timeout:.0f} s "
                                    f"(exited nodes: {self.stack.failed()}; logs: {self.log_dir})")
            self.resends += 1
            stamps.append(stamps[-1] + 1)
            self._publish_clock(fl.ns / 1e9)      # the frame's clock again (a lost clock message blocks every image)
            self._publish_frame(fl.frame, stamps[-1])
        arrival_ns, status = self.inbox.status[ns][-1]
        f = float(status.speed_fraction)
        linear = 0.0
        if self.robot.kind == "mobile_base":
            want = fl.request * f
            self._spin_until(lambda: len(self.inbox.cmd_out) >= fl.n_cmd + 2
                             and abs(self.inbox.cmd_out[-1].linear.x - want) < 1e-6, 2.0)
            last = self.inbox.cmd_out[-1] if self.inbox.cmd_out else None
            if last is None or abs(last.linear.x - want) > 1e-6:
                self.mismatches += 1
            linear = float(last.linear.x) if last is not None else 0.0
            angular = float(last.angular.z) if last is not None else 0.0
        else:
            self._spin_until(lambda: len(self.inbox.arm) >= fl.n_arm + 2
                             and abs(self.inbox.arm[-1].data - f) < 1e-6, 2.0)
            if not self.inbox.arm or abs(self.inbox.arm[-1].data - f) > 1e-6:
                self.mismatches += 1
            f = float(self.inbox.arm[-1].data) if self.inbox.arm else 0.0
            angular = 0.0
        lat = next(self.inbox.latency.pop(s) for s in stamps if s in self.inbox.latency)
        for s in stamps:
            self.inbox.latency.pop(s, None)
        for k in [k for k in self.inbox.status if k < ns]:
            del self.inbox.status[k]
        return Command(linear, angular, f, status.state_name, status.zone, (arrival_ns - fl.t_pub_ns) / 1e6,
                       float(lat.total_ms))

    def _exchange(self, frame: Frame, t_ros: float, request: float, resend: float | None = None) -> Command:
        """Steps 1-3 of the module docstring for one frame at ROS time ``t_ros``."""
        return self._receive(self._send(frame, t_ros, request, resend))

    def decide(self, frame: Frame, request: float) -> Command:
        self.submit(frame, request)
        return self.collect()

    def submit(self, frame: Frame, request: float) -> None:
        """Hand ``frame`` to the nodes (starting them on the first call) and return without waiting for the
        answer (:meth:`collect`); the simulator renders the next frame meanwhile."""
        if self.node is None:
            self.start(frame)
        if self._inflight is not None:
            raise RuntimeError("submit() twice without collect(): one frame in flight at a time")
        self._inflight = self._send(frame, T0 + frame.t, request)

    def collect(self) -> Command:
        """The command for the frame last submitted (waits for the nodes)."""
        if self._inflight is None:
            raise RuntimeError("collect() without submit()")
        fl, self._inflight = self._inflight, None
        return self._receive(fl)

    def report(self) -> str:
        return (f"sync: {self.sync_misses} clock-cycle waits timed out, {self.resends} images resent, "
                f"{self.mismatches} command/status mismatches")


__all__ = ["NodeBrain", "LoopSyncError", "IMAGE_TOPIC", "INFO_TOPIC", "T0"]
