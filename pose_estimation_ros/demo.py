"""Demo monitor: listens to the running stack and summarises what flowed (used by ``pose_stack demo``)."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo

from pose_estimation_msgs.msg import HumanPose3DArray, PerceptionLatency, SafetyStatus

from .ros_conversions import humans_from_msg, stamp_to_ns


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def root_relative_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (same units as inputs) after aligning the roots (joint 0). (J,3),(J,3)."""
    return float(np.linalg.norm((pred - pred[0]) - (gt - gt[0]), axis=-1).mean())


def root_position_error(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Error of the root joint's position (joint 0) in the camera optical frame. (J,3),(J,3) metres.

    Returns:
        ``(distance, depth)``: the root's 3D position error ``|p0 - g0|`` and its signed depth error
        ``p0_z - g0_z`` (positive: the person is estimated farther than they are), in the inputs' units.
    """
    return float(np.linalg.norm(pred[0] - gt[0])), float(pred[0, 2] - gt[0, 2])


@dataclass
class Summary:
    duration_s: float
    frames: int
    pose_msgs: int
    poses: int
    stamps_matched: int
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    states: Counter = field(default_factory=Counter)
    mpjpe_mm: list[float] = field(default_factory=list)
    root_err_mm: list[float] = field(default_factory=list)      # |root position error|, camera frame
    depth_err_mm: list[float] = field(default_factory=list)     # signed root depth error (+ = too far)

    def healthy(self) -> bool:
        return self.frames > 0 and self.poses > 0

    def table(self) -> str:
        rows = [("duration", f"{self.duration_s:.1f} s"), ("frames published (camera_info)", str(self.frames)),
                ("pose messages out", str(self.pose_msgs)), ("people estimated", str(self.poses)),
                ("pose stamps equal to a frame stamp", f"{self.stamps_matched}/{self.pose_msgs}")]
        for key in ("age_ms", "total_ms", "per_frame_ms", "temporal_ms"):
            v = self.latency_ms.get(key, [])
            rows.append((f"latency {key[:-3]} mean / p95", f"{np.mean(v) if v else float('nan'):.1f} / "
                                                          f"{percentile(v, 95):.1f} ms"))
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "none"
        rows.append(("controller states (cycles)", states))
        if self.mpjpe_mm:
            rows.append(("root-relative MPJPE vs synthetic ground truth", f"{np.mean(self.mpjpe_mm):.0f} mm "
                                                                          f"(n={len(self.mpjpe_mm)})"))
        if self.root_err_mm:
            d = np.asarray(self.depth_err_mm)
            rows.append(("root position error vs ground truth", f"{np.mean(self.root_err_mm):.0f} mm; depth "
                                                               f"{np.mean(d):+.0f} mm signed, {np.mean(np.abs(d)):.0f}"
                                                               f" mm absolute (+ = estimated too far)"))
        w = max(len(r[0]) for r in rows)
        lines = ["", "| " + "metric".ljust(w) + " | value |", "|" + "-" * (w + 2) + "|-------|"]
        lines += [f"| {k.ljust(w)} | {v} |" for k, v in rows]
        return "\n".join(lines)


class DemoMonitor:
    """An rclpy node in the runner's process counting frames, poses, latencies and controller states."""

    def __init__(self, namespace: str = "") -> None:
        if not rclpy.ok():
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)   # the runner owns SIGINT/SIGTERM
        self.node = Node("pose_stack_monitor", namespace=namespace or None)
        self.image_stamps: set[int] = set()       # kept across reset(): poses of earlier frames still match
        self.gt: dict[int, np.ndarray] = {}
        self.reset()
        n = self.node
        # Frames are counted on camera_info (same stamp as each image, a few hundred bytes): a third subscriber
        # to multi-megabyte images over shared memory lost them part-way in some runs and made the summary
        # contradict itself (fewer frames in than poses out).
        # Deep histories: a monitor starved of CPU for a moment (a loaded machine) must not drop the stamps it counts.
        deep_sensor = QoSProfile(depth=200, reliability=qos_profile_sensor_data.reliability,
                                 durability=qos_profile_sensor_data.durability)
        n.create_subscription(CameraInfo, "camera_info", self._on_frame, deep_sensor)
        n.create_subscription(HumanPose3DArray, "poses", self._on_poses, 200)
        n.create_subscription(HumanPose3DArray, "ground_truth_poses", self._on_gt, 200)
        n.create_subscription(PerceptionLatency, "perception_latency", self._on_latency, 10)
        n.create_subscription(SafetyStatus, "safety_status", self._on_status, 50)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def reset(self) -> None:
        """Start counting afresh (the runner calls it at the first pose message: start-up is not measured)."""
        self.frames = 0
        self.pose_msgs = 0
        self.poses = 0
        # (stamp, first person's joints or None) of every pose message, matched against the frame stamps when the
        # summary is made: a pose message can reach this monitor before its frame's camera_info (two topics, two
        # readers), so matching on arrival counted such messages as unmatched
        self.pose_stamps: list[tuple[int, np.ndarray | None]] = []
        self.latency: dict[str, list[float]] = {k: [] for k in ("age_ms", "total_ms", "per_frame_ms", "temporal_ms")}
        self.states: Counter = Counter()

    def _on_frame(self, msg: CameraInfo) -> None:
        self.frames += 1
        self.image_stamps.add(stamp_to_ns(msg.header.stamp))

    def _on_gt(self, msg: HumanPose3DArray) -> None:
        for _, joints, _ in humans_from_msg(msg)[:1]:
            self.gt[stamp_to_ns(msg.header.stamp)] = joints
        self.image_stamps.add(stamp_to_ns(msg.header.stamp))

    def _on_poses(self, msg: HumanPose3DArray) -> None:
        self.pose_msgs += 1
        self.poses += len(msg.humans)
        humans = humans_from_msg(msg)
        self.pose_stamps.append((stamp_to_ns(msg.header.stamp), humans[0][1] if humans else None))

    def _on_latency(self, msg: PerceptionLatency) -> None:
        for k in self.latency:
            self.latency[k].append(float(getattr(msg, k)))

    def _on_status(self, msg: SafetyStatus) -> None:
        self.states[msg.state_name] += 1

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=left)

    def summary(self, duration_s: float) -> Summary:
        matched = sum(stamp in self.image_stamps for stamp, _ in self.pose_stamps)
        pairs = [(joints, self.gt[stamp]) for stamp, joints in self.pose_stamps
                 if joints is not None and stamp in self.gt]
        mpjpe = [1000.0 * root_relative_mpjpe(p, g) for p, g in pairs]
        root = [root_position_error(p, g) for p, g in pairs]
        return Summary(duration_s, self.frames, self.pose_msgs, self.poses, matched, self.latency,
                       self.states, mpjpe, [1000.0 * r for r, _ in root], [1000.0 * z for _, z in root])

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()
