"""Perception node: any image topic in, 3D human poses out.

Subscribes ``image`` (remap it, e.g. to a Gazebo bridge topic) and ``camera_info``; publishes ``poses``
(pose_estimation_msgs/HumanPose3DArray stamped with the *image's* stamp), ``pose_markers``
(visualization_msgs/MarkerArray skeletons for RViz) and ``perception_latency``
(pose_estimation_msgs/PerceptionLatency). The work is done by :class:`PerceptionPipeline`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from pose_estimation_msgs.msg import HumanPose3DArray, PerceptionLatency

from ..camera_model import Intrinsics
from ..perception.codec import ImageEncodingError, msg_to_numpy, to_rgb8
from ..perception.inference import PROVIDERS
from ..perception.metadata import ModelMetadataError
from ..perception.pipeline import PerceptionConfig, PerceptionPipeline, default_model_dir
from ..ros_conversions import human_msg, ns_to_stamp, skeleton_markers, stamp_to_ns
from ..ros_params import declare
from .entry import run_node

IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)


def resolve_model(value: str, default_name: str) -> str:
    """'' -> the default model file; 'none' -> disabled (''); else the given path."""
    if value.strip().lower() == "none":
        return ""
    if not value:
        return str(default_model_dir() / default_name)
    return str(Path(value).expanduser())


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("perception")
        per_frame = declare(self, "per_frame_model", "", "Per-frame ONNX model ('' = packaged mocap_spin.onnx).",
                            read_only=True)
        temporal = declare(self, "temporal_model", "",
                           "Temporal ONNX model ('' = packaged posebert.onnx for temporal_lag 0, "
                           "posebert_lag<k>.onnx for temporal_lag k; 'none' = per-frame only).", read_only=True)
        lag = declare(self, "temporal_lag", 0,
                      "Temporal mode: 0 = causal (estimate for the newest frame); k = lagged, the estimate for "
                      "the frame k slots back, using k frames of look-ahead (needs a model exported for lag k).",
                      lo=0, hi=255, read_only=True)
        rate = declare(self, "expected_rate_hz", 0.0, "Nominal camera rate for gap detection (0 = estimate).",
                       lo=0.0, hi=1000.0, read_only=True)
        cfg = PerceptionConfig(
            per_frame_model=resolve_model(per_frame, "mocap_spin.onnx"),
            temporal_model=resolve_model(temporal, "posebert.onnx" if lag == 0 else f"posebert_lag{lag}.onnx"),
            provider=declare(self, "provider", "cpu", "ONNX Runtime execution provider (falls back to CPU).",
                             choices=tuple(PROVIDERS), read_only=True),
            threads=declare(self, "threads", 0, "ONNX Runtime intra-op threads (0 = default).", lo=0, hi=64,
                            read_only=True),
            window=declare(self, "window", 16, "Temporal window length in frames (must match the model).",
                           lo=1, hi=256, read_only=True),
            frame_period_ns=int(1e9 / rate) if rate > 0 else 0,
            temporal_lag=lag,
            crop=declare(self, "crop", "tracking", "Person crop strategy.", choices=("full", "tracking"),
                         read_only=True),
            min_valid_frames=declare(self, "min_valid_frames", 1,
                                     "Valid window entries needed before the temporal model runs.", lo=1, hi=256,
                                     read_only=True),
        )
        self.hfov = declare(self, "fallback_hfov_deg", 60.0,
                            "Field of view assumed until camera_info arrives.", lo=1.0, hi=179.0)
        self.publish_markers = declare(self, "publish_markers", True, "Publish RViz skeleton markers.")
        self.pipeline = PerceptionPipeline(cfg)
        for w in filter(None, [self.pipeline.per_frame.provider_warning]):
            self.get_logger().warning(w)
        for path in self.pipeline.untrained_models:
            self.get_logger().warning(f"model {path} has UNTRAINED weights (metadata trained=false): "
                                      "poses are placeholders for testing the plumbing only")
        self.intr: Intrinsics | None = None
        self.rejected = 0
        self._rejection_logged: dict[str, float] = {}
        self.pub_poses = self.create_publisher(HumanPose3DArray, "poses", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "pose_markers", 10)
        self.pub_latency = self.create_publisher(PerceptionLatency, "perception_latency", 10)
        self.create_subscription(CameraInfo, "camera_info", self._on_info, IMAGE_QOS)
        self.create_subscription(Image, "image", self._on_image, IMAGE_QOS)
        self.get_logger().info(
            f"perception: per-frame {cfg.per_frame_model} ({self.pipeline.per_frame.providers[0]}), temporal "
            f"{cfg.temporal_model or 'off'} (window {cfg.window}, lag {cfg.temporal_lag}), crop {cfg.crop}")

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self.intr = Intrinsics.from_camera_info(msg)
        except ValueError as e:
            self.get_logger().warning(f"ignoring camera_info: {e}", throttle_duration_sec=5.0)

    def _warn_rejected(self, reason: str) -> None:
        """Log each distinct rejection reason at once, repeats of it at most every 2 s."""
        now = time.monotonic()
        if now - self._rejection_logged.get(reason, -1e9) >= 2.0:
            self._rejection_logged[reason] = now
            self.get_logger().warning(f"rejected image ({self.rejected} so far): {reason}")

    def _on_image(self, msg: Image) -> None:
        t0 = time.perf_counter()
        try:
            rgb = to_rgb8(msg_to_numpy(msg), msg.encoding)
        except ImageEncodingError as e:
            self.rejected += 1
            self._warn_rejected(str(e))
            return
        t1 = time.perf_counter()
        h, w = rgb.shape[:2]
        intr = self.intr if self.intr is not None else Intrinsics.from_fov(w, h, self.hfov)
        stamp_ns = stamp_to_ns(msg.header.stamp)
        result = self.pipeline.process(rgb, stamp_ns, intr)
        t2 = time.perf_counter()
        if result.outcome == "dropped":   # duplicate / out-of-order stamp: not a new observation
            self.get_logger().warning(f"image not used: {result.status}", throttle_duration_sec=2.0)
            return

        stamp = ns_to_stamp(result.estimates[0].stamp_ns) if result.estimates else msg.header.stamp
        header = Header(stamp=stamp, frame_id=msg.header.frame_id)
        # ok=False tells the controller the image could not be interpreted (it stops), as opposed to
        # ok=True with no humans (nobody seen).
        out = HumanPose3DArray(header=header, ok=result.outcome == "ok", status=result.status)
        out.humans = [human_msg(header, e.person_id, e.joints_cam, e.confidence, e.score, e.temporal)
                      for e in result.estimates]
        self.pub_poses.publish(out)
        if self.publish_markers:
            self.pub_markers.publish(skeleton_markers(
                header, [(e.person_id, e.joints_cam, e.temporal) for e in result.estimates]))
        t3 = time.perf_counter()
        age_ns = self.get_clock().now().nanoseconds - stamp_to_ns(msg.header.stamp)
        tm = result.timings_ms
        self.pub_latency.publish(PerceptionLatency(
            header=Header(stamp=msg.header.stamp, frame_id=msg.header.frame_id),
            convert_ms=(t1 - t0) * 1e3, crop_ms=tm.get("crop_ms", 0.0), per_frame_ms=tm.get("per_frame_ms", 0.0),
            temporal_ms=tm.get("temporal_ms", 0.0), publish_ms=(t3 - t2) * 1e3, total_ms=(t3 - t0) * 1e3,
            age_ms=age_ns / 1e6))


def main(args=None) -> int:
    return run_node(PerceptionNode, "perception", (ModelMetadataError, ValueError), args)


if __name__ == "__main__":
    sys.exit(main())
