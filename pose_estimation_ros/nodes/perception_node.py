"""Perception node: any image topic in, every person's 3D pose out.

Subscribes ``image`` (sensor_msgs/Image; remap it, e.g. to a Gazebo bridge topic) or, with
``image_transport: compressed``, ``image/compressed`` (sensor_msgs/CompressedImage, decoded with OpenCV),
and ``camera_info``. Publishes ``poses`` (pose_estimation_msgs/HumanPose3DArray stamped with the stamp of
the image the poses describe; ``ended_ids`` lists tracks that ended), ``pose_markers``
(visualization_msgs/MarkerArray), ``perception_latency``, ``/diagnostics`` and, when ``hri_msgs`` is
installed, the REP-155 body topics (``nodes/rep155.py``). With ``body_scale: floor`` and ``floor.base_frame`` it
also subscribes ``/tf_static`` (tf2_msgs/TFMessage, latched) for the camera's mount above the floor. The work is done
by :class:`PerceptionPipeline`.
"""
from __future__ import annotations

import sys
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from pose_estimation_msgs.msg import HumanPose3DArray, PerceptionLatency

from ..camera_model import Intrinsics
from ..perception.codec import ERROR_KINDS, ImageEncodingError, compressed_to_rgb8, msg_to_numpy, to_rgb8
from ..perception.crop import CROP_MODES
from ..perception.detect import DEFAULT_DETECTOR, DetectorError
from ..perception.floor import floor_from_mount
from ..perception.inference import PROVIDERS
from ..perception.intrinsics import checked_intrinsics, intrinsics_for_image
from ..perception.metadata import ModelMetadataError
from ..perception.pipeline import BODY_SCALES, FLOOR_SOLE_HEIGHT, KEYPOINT_FITS, REDETECT_EVERY, PerceptionConfig, \
    PerceptionPipeline
from ..perception.window import StampError, stamp_fields_to_ns
from ..ros_conversions import human_msg, ns_to_stamp, skeleton_markers, tf_edges
from ..ros_params import declare
from ..safety.geometry import chain_transform
from .entry import run_node
from .rep155 import Rep155Output

try:    # tf2_msgs is not always installed (it is not a wheel in the development venv)
    from tf2_msgs.msg import TFMessage
except ImportError:     # pragma: no cover - depends on the installation
    TFMessage = None

IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Kinds of rejected input, each rate-limited on its own (a fixed set: bounded bookkeeping).
REJECT_KINDS = ERROR_KINDS + ("stamp",)
REJECT_LOG_PERIOD_S = 2.0


class PerceptionNode(Node):
    def __init__(self) -> None:
        super().__init__("perception")
        lag = declare(self, "temporal_lag", 0,
                      "Temporal mode: 0 = causal (estimate for the newest frame); k = lagged, the estimate for "
                      "the frame k slots back, using k frames of look-ahead (needs a model exported for lag k).",
                      lo=0, hi=255, read_only=True)
        rate = declare(self, "expected_rate_hz", 0.0, "Nominal camera rate for gap detection (0 = estimate).",
                       lo=0.0, hi=1000.0, read_only=True)
        cfg = PerceptionConfig(
            per_frame_model=declare(self, "per_frame_model", "",
                                    "Per-frame ONNX model ('' = packaged mocap_spin.onnx).", read_only=True),
            temporal_model=declare(self, "temporal_model", "",
                                   "Temporal ONNX model ('' = packaged posebert.onnx for temporal_lag 0, "
                                   "posebert_lag<k>.onnx for temporal_lag k; 'none' = per-frame only).",
                                   read_only=True),
            provider=declare(self, "provider", "cpu", "ONNX Runtime execution provider (falls back to CPU).",
                             choices=tuple(PROVIDERS), read_only=True),
            threads=declare(self, "threads", 0, "ONNX Runtime intra-op threads (0 = default).", lo=0, hi=64,
                            read_only=True),
            window=declare(self, "window", 16, "Temporal window length in frames (must match the model).",
                           lo=1, hi=256, read_only=True),
            frame_period_ns=int(1e9 / rate) if rate > 0 else 0,
            temporal_lag=lag,
            crop=declare(self, "crop", "detect", "Person crops: detect = detector + tracker (every person); "
                         "full = the whole frame is one person (no detector, testing only).", choices=CROP_MODES,
                         read_only=True),
            min_valid_frames=declare(self, "min_valid_frames", 1,
                                     "Valid window entries needed before the temporal model runs.", lo=1, hi=256,
                                     read_only=True),
            detector=declare(self, "detector", "", f"Person detector ('' = {DEFAULT_DETECTOR}); falls back to "
                             "'hog' with a warning when its model files are missing.", read_only=True),
            detector_model=declare(self, "detector_model", "", "The detector's model file or folder ('' = its "
                                   "packaged one; the yolo_onnx detector needs a YOLO .onnx file).", read_only=True),
            detector_threads=declare(self, "detector_threads", 0, "CPU threads of the person detector (0 = the "
                                     "backend's default: 2 LiteRT threads for blazepose; onnxruntime for yolo_onnx, OpenCV's "
                                     "process-wide setting for hog).", lo=0, hi=64, read_only=True),
            detect_every=declare(self, "detect_every", 3, "Run the detector every N frames (tracks follow the "
                                 "model's projection in between, within bounds).", lo=1, hi=100, read_only=True),
            redetect_every=declare(self, "redetect_every", REDETECT_EVERY,
                                   "Detectors that follow people between runs (blazepose): run the detector at least "
                                   "every N frames to find new people (also at once when nobody is followed or a "
                                   "followed person is lost); detect_every applies to the others.", lo=1, hi=1000,
                                   read_only=True),
            background_search=declare(self, "background_search", True,
                                      "Detectors that follow people and split their detector pass (blazepose): the "
                                      "periodic search's detector pass of a frame runs in a worker thread beside the "
                                      "models, its new people are measured on the next frame.", read_only=True),
            max_people=declare(self, "max_people", 5, "Most people estimated per frame (the best-scored).",
                               lo=1, hi=64, read_only=True),
            track_lost_frames=declare(self, "track_lost_frames", 10,
                                      "A person unseen for this many x detect_every frames ends their track.",
                                      lo=1, hi=1000, read_only=True),
            translation_window=declare(self, "translation_window", 12,
                                       "Window slots of the root-translation fit of the temporal path (<= 2: off).",
                                       lo=0, hi=256, read_only=True),
            keypoint_fit=declare(self, "keypoint_fit", "limbs",
                                 "Fit the output to the detector's 2D keypoints of the frame: off; limbs = elbows, "
                                 "wrists, knees and ankles turned towards their keypoints at the model's bone "
                                 "lengths; camera_limbs = first refit the model's weak-perspective camera to the "
                                 "keypoints (keypoint-input models; moves the distance), then limbs.",
                                 choices=KEYPOINT_FITS, read_only=True),
            body_scale=declare(self, "body_scale", "model",
                               "How far away a person is, given their 2D size: model = at the body size the per-frame "
                               "model estimated (about 0.87 of the average adult's whatever the person: average "
                               "adults are placed ~13 % too close, small people about right); neutral = every "
                               "person at the average adult's size (right for them; smaller people are placed too "
                               "far, the unsafe direction); floor = at the size at which their feet stand on the "
                               "floor, from the camera mount floor.* (a flat floor; each track keeps the median size "
                               "its visible feet measured, the model's until they are seen; people on stairs or a "
                               "platform are placed too far).", choices=BODY_SCALES, read_only=True),
            floor_camera_height=declare(self, "floor.camera_height", 0.0,
                                        "body_scale floor: height of the camera's optical centre above the floor (m; "
                                        "camera_xyz z of the controller's mount when base_link is on the floor).",
                                        lo=0.0, hi=20.0, read_only=True),
            floor_camera_pitch_deg=declare(self, "floor.camera_pitch_deg", 0.0,
                                           "body_scale floor: tilt of the optical axis below the horizon (degrees; "
                                           "positive = looking down).", lo=-90.0, hi=90.0, read_only=True),
            floor_camera_roll_deg=declare(self, "floor.camera_roll_deg", 0.0,
                                          "body_scale floor: roll of the camera about its optical axis (degrees).",
                                          lo=-180.0, hi=180.0, read_only=True),
            floor_sole_height=declare(self, "floor.sole_height", FLOOR_SOLE_HEIGHT,
                                      "body_scale floor: height of the foot joint above the floor when the foot is "
                                      "flat (m; the packaged body's).", lo=0.0, hi=0.3, read_only=True),
            floor_base_frame=declare(self, "floor.base_frame", "",
                                     "body_scale floor: '' = the mount floor.camera_*; a frame (e.g. base_link) = "
                                     "the mount from /tf_static (that frame <- the images' frame_id, z up, the floor "
                                     "at floor.floor_z), floor.camera_* until it arrives (needs tf2_msgs).",
                                     read_only=True),
            flip_test=declare(self, "flip_test", False,
                              "Also run the per-frame model on the mirrored crops and average the two answers "
                              "(more accurate, twice the per-frame model's time).", read_only=True),
            max_stamp_ahead_s=declare(self, "max_stamp_ahead_s", 2.0,
                                      "Image stamps further ahead of the node clock are rejected.", lo=0.001,
                                      hi=3600.0, read_only=True),
        )
        self.floor_z = declare(self, "floor.floor_z", 0.0, "body_scale floor with floor.base_frame: the floor's z in "
                               "that frame (m; 0 when it is on the floor, as base_footprint).", lo=-100.0, hi=100.0,
                               read_only=True)
        self.transport = declare(self, "image_transport", "raw", "Image input: raw (sensor_msgs/Image on 'image') "
                                 "or compressed (sensor_msgs/CompressedImage on 'image/compressed').",
                                 choices=("raw", "compressed"), read_only=True)
        if self.transport not in ("raw", "compressed"):
            raise ValueError(f"image_transport must be 'raw' or 'compressed', got '{self.transport}'")
        self.hfov = declare(self, "fallback_hfov_deg", 60.0,
                            "Field of view assumed until camera_info arrives.", lo=1.0, hi=179.0)
        self.publish_markers = declare(self, "publish_markers", True, "Publish RViz skeleton markers.")
        rep155 = declare(self, "publish_rep155", True,
                         "Publish REP-155 body topics and body_<id> TF frames when hri_msgs is installed.",
                         read_only=True)
        diag_hz = declare(self, "diagnostics_rate_hz", 1.0, "/diagnostics publication rate (Hz).", lo=0.1,
                          hi=50.0, read_only=True)

        self.pipeline = PerceptionPipeline(cfg)
        log = self.get_logger()
        for w in filter(None, [self.pipeline.per_frame.provider_warning, self.pipeline.detector_warning,
                               self.pipeline.body_scale_warning]):
            log.warning(w)
        for path in self.pipeline.untrained_models:
            log.warning(f"model {path} has UNTRAINED weights (metadata trained=false): "
                        "poses are placeholders for testing the plumbing only")
        self.intr: Intrinsics | None = None
        self.info_error: str | None = None      # why the last camera_info was refused (None: none refused)
        self._info_logged = -1e9
        self.rejected = {k: 0 for k in REJECT_KINDS}
        self._reject_logged = {k: -1e9 for k in REJECT_KINDS}
        self._frames = deque(maxlen=256)         # (monotonic time, total ms, people) of processed frames
        self._last_status = "no image yet"
        self._faults = 0
        self._last_pub_ns: int | None = None      # published stamps strictly increase
        self._pending_ended: list[int] = []       # ended ids not yet published
        self.pub_poses = self.create_publisher(HumanPose3DArray, "poses", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "pose_markers", 10)
        self.pub_latency = self.create_publisher(PerceptionLatency, "perception_latency", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.rep155 = Rep155Output(self) if rep155 else None
        if self.rep155 is not None and not self.rep155.available:
            log.info(f"REP-155 output off: {self.rep155.reason}")
        self.create_subscription(CameraInfo, "camera_info", self._on_info, IMAGE_QOS)
        if self.transport == "compressed":
            self.create_subscription(CompressedImage, "image/compressed", self._on_compressed, IMAGE_QOS)
        else:
            self.create_subscription(Image, "image", self._on_image, IMAGE_QOS)
        self._tf_edges: dict = {}                # /tf_static: child frame -> (parent frame, (4, 4) transform)
        self._floor_frame: str | None = None    # the camera frame whose /tf_static mount the pipeline uses
        self.floor_mount = (f"floor.camera_height {cfg.floor_camera_height:g} m, pitch {cfg.floor_camera_pitch_deg:g}"
                            f" deg, roll {cfg.floor_camera_roll_deg:g} deg" if self.pipeline.floor is not None
                            else "none: people keep the model's size") if cfg.body_scale == "floor" else "off"
        if cfg.body_scale == "floor" and cfg.floor_base_frame:
            if TFMessage is None:
                log.warning(f"floor.base_frame {cfg.floor_base_frame}: tf2_msgs is not installed, so no /tf_static; "
                            f"floor mount: {self.floor_mount}")
            else:
                qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                 reliability=ReliabilityPolicy.RELIABLE)
                self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, qos)
        self.create_timer(1.0 / diag_hz, self._publish_diagnostics)
        cadence = (f"on demand and every {cfg.redetect_every} frames (people followed in between)"
                   if self.pipeline.following else f"every {cfg.detect_every} frames")
        log.info(f"perception: per-frame {self.pipeline.per_frame_path} ({self.pipeline.per_frame.providers[0]}), "
                 f"temporal {self.pipeline.temporal_path or 'off'} (window {cfg.window}, lag {cfg.temporal_lag}), "
                 f"crop {cfg.crop}, detector {self.pipeline.detector_name} {cadence}, "
                 f"max {cfg.max_people} people, input {self.transport}")

    # ------------------------------------------------------------------ inputs
    def destroy_node(self) -> None:
        """Stop the pipeline's background search worker, then the node."""
        pipe = getattr(self, "pipeline", None)
        if pipe is not None:
            pipe.close()
        super().destroy_node()

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self.intr = checked_intrinsics(msg.width, msg.height, msg.k)
            self.info_error = None
        except (ValueError, TypeError) as e:
            reason = f"camera_info refused: {e}"
            kept = "keeping the last good one" if self.intr is not None else "no good camera_info yet: poses ok=false"
            now = time.monotonic()
            if reason != self.info_error or now - self._info_logged >= 5.0:   # a new reason at once, repeats every 5 s
                self._info_logged = now
                self.get_logger().warning(f"{reason} ({kept})")
            self.info_error = reason

    def _on_tf_static(self, msg) -> None:    # tf2_msgs/TFMessage
        self._tf_edges.update(tf_edges(msg))
        self._floor_frame = None                 # resolve again with the next image

    def _update_floor_mount(self, camera_frame: str) -> None:
        """``floor.base_frame``: the mount of ``camera_frame`` from /tf_static into the pipeline (once per change)."""
        base = self.pipeline.cfg.floor_base_frame
        if not self._tf_edges or not camera_frame or camera_frame == self._floor_frame:
            return
        t = chain_transform(self._tf_edges, base, camera_frame)
        if t is None:
            return
        self._floor_frame = camera_frame
        try:
            p = floor_from_mount(t, self.floor_z)
            self.pipeline.set_floor_mount(p["camera_height"], p["camera_pitch_deg"], p["camera_roll_deg"])
        except ValueError as e:
            self.get_logger().warning(f"floor mount from /tf_static {base} <- {camera_frame} refused: {e} "
                                      f"(kept: {self.floor_mount})")
            return
        self.floor_mount = (f"/tf_static {base} <- {camera_frame}: camera_height {p['camera_height']:.3f} m, pitch "
                            f"{p['camera_pitch_deg']:.1f} deg, roll {p['camera_roll_deg']:.1f} deg")
        self.get_logger().info(f"floor mount: {self.floor_mount}")

    def _reject(self, kind: str, reason: str) -> None:
        """Count a rejected image; log each kind at once, repeats of that kind at most every 2 s."""
        kind = kind if kind in self.rejected else "other"
        self.rejected[kind] += 1
        now = time.monotonic()
        if now - self._reject_logged[kind] >= REJECT_LOG_PERIOD_S:
            self._reject_logged[kind] = now
            self.get_logger().warning(f"rejected image ({kind}, {self.rejected[kind]} so far): {reason}")

    def _on_image(self, msg: Image) -> None:
        t0 = time.perf_counter()
        try:
            rgb = to_rgb8(msg_to_numpy(msg), msg.encoding)
        except ImageEncodingError as e:
            self._reject(e.kind, str(e))
            return
        self._handle(rgb, msg.header, t0)

    def _on_compressed(self, msg: CompressedImage) -> None:
        t0 = time.perf_counter()
        try:
            rgb = compressed_to_rgb8(msg.format, msg.data)
        except ImageEncodingError as e:
            self._reject(e.kind, str(e))
            return
        self._handle(rgb, msg.header, t0)

    # ------------------------------------------------------------------ work
    def _handle(self, rgb, header: Header, t0: float) -> None:
        try:
            stamp_ns = stamp_fields_to_ns(header.stamp.sec, header.stamp.nanosec)
        except StampError as e:
            self._reject("stamp", str(e))
            return
        if self.pipeline.cfg.floor_base_frame:
            self._update_floor_mount(header.frame_id)
        t1 = time.perf_counter()
        h, w = rgb.shape[:2]
        intr, info_problem = self._intrinsics(w, h)
        now_ns = self.get_clock().now().nanoseconds
        if info_problem is not None:
            # No usable intrinsics: nothing can be placed in metres. Say so (ok=false); never guess.
            result = None
            out_stamp, ok, status, humans_est, ended = header.stamp, False, info_problem, [], []
            if self.pipeline.guard.admit(stamp_ns, now_ns).accepted is False:
                return
        else:
            result = self.pipeline.process(rgb, stamp_ns, intr, now_ns=now_ns)
            if result.stream_reset:
                self._last_pub_ns = None   # the stream restarted on an older clock: stamps start over
            if result.outcome in ("dropped", "warming"):
                if result.outcome == "dropped":
                    self._reject("stamp", result.status)
                # nothing to claim for this frame (an empty ok=true message would say "nobody"): ended ids
                # ride on the next published message
                self._pending_ended = (self._pending_ended + result.ended_ids)[-256:]
                return
            for note in result.notes:
                self.get_logger().warning(note, throttle_duration_sec=2.0)
            out_stamp = ns_to_stamp(result.stamp_ns) if result.stamp_ns is not None else header.stamp
            ok, status = result.outcome == "ok", result.status
            humans_est, ended = result.estimates, result.ended_ids
        t2 = time.perf_counter()
        out_ns = stamp_fields_to_ns(out_stamp.sec, out_stamp.nanosec)
        ended = self._pending_ended + list(ended)
        if self._last_pub_ns is not None and out_ns <= self._last_pub_ns:
            # e.g. a fault stamped with the newest image while lagged outputs are older: never go back in
            # time; ended ids ride on the next message
            self._pending_ended = ended[-256:]
            return
        self._pending_ended = []
        self._last_pub_ns = out_ns
        if not ok:
            self._faults += 1
            self.get_logger().warning(f"poses ok=false: {status}", throttle_duration_sec=2.0)
        out_header = Header(stamp=out_stamp, frame_id=header.frame_id)
        out = HumanPose3DArray(header=out_header, ok=ok, status=status)
        out.humans = [human_msg(out_header, e.person_id, e.joints_cam, e.confidence, e.score, e.temporal)
                      for e in humans_est]
        out.ended_ids = [int(i) for i in ended]
        self.pub_poses.publish(out)
        if self.publish_markers:
            self.pub_markers.publish(skeleton_markers(
                out_header, [(e.person_id, e.joints_cam, e.temporal) for e in humans_est]))
        if self.rep155 is not None and self.rep155.available:
            self.rep155.publish(out_header, humans_est, ended, w, h)
        t3 = time.perf_counter()
        age_ns = self.get_clock().now().nanoseconds - stamp_ns
        tm = result.timings_ms if result is not None else {}
        total_ms = (t3 - t0) * 1e3
        self.pub_latency.publish(PerceptionLatency(
            header=Header(stamp=header.stamp, frame_id=header.frame_id),
            convert_ms=(t1 - t0) * 1e3,
            crop_ms=sum(tm.get(k, 0.0) for k in ("crop_ms", "detect_ms", "follow_ms", "track_ms")),
            per_frame_ms=tm.get("per_frame_ms", 0.0), temporal_ms=tm.get("temporal_ms", 0.0),
            publish_ms=(t3 - t2) * 1e3, total_ms=total_ms, age_ms=age_ns / 1e6))
        self._frames.append((time.monotonic(), total_ms, len(humans_est)))
        self._last_status = status

    def _intrinsics(self, width: int, height: int) -> tuple[Intrinsics | None, str | None]:
        """Intrinsics for this image, or the reason there are none usable."""
        if self.intr is None:
            if self.info_error is not None:
                return None, f"{self.info_error}; no good camera_info received"
            return Intrinsics.from_fov(width, height, self.hfov), None
        try:
            return intrinsics_for_image(self.intr, width, height), None
        except ValueError as e:
            return None, str(e)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        recent = [f for f in self._frames if now - f[0] <= 5.0]
        rate = (len(recent) - 1) / (recent[-1][0] - recent[0][0]) if len(recent) > 1 and recent[-1][0] > recent[0][0] \
            else 0.0
        lat = sorted(f[1] for f in recent)
        people = recent[-1][2] if recent else 0
        untrained = self.pipeline.untrained_models
        if not recent:
            level, message = DiagnosticStatus.WARN, "no image processed in the last 5 s"
        elif self._last_status != "ok":
            level, message = DiagnosticStatus.WARN, self._last_status
        elif untrained or self.pipeline.detector_warning:
            level, message = DiagnosticStatus.WARN, ("untrained model(s) loaded" if untrained
                                                     else self.pipeline.detector_warning)
        else:
            level, message = DiagnosticStatus.OK, "ok"
        kv = {
            "rate_hz": f"{rate:.2f}",
            "latency_mean_ms": f"{sum(lat) / len(lat):.2f}" if lat else "nan",
            "latency_max_ms": f"{lat[-1]:.2f}" if lat else "nan",
            "people": str(people),
            "tracks": str(len(self.pipeline.tracks)),
            "detector": self.pipeline.detector_name,
            "per_frame_model": self.pipeline.per_frame_path,
            "temporal_model": self.pipeline.temporal_path or "off",
            "provider": self.pipeline.per_frame.providers[0],
            "models_trained": "no: " + ", ".join(untrained) if untrained else "yes",
            "faults": str(self._faults),
            "floor_mount": self.floor_mount,
            "camera_info": self.info_error or ("ok" if self.intr is not None else f"none (fallback hfov {self.hfov})"),
            **{f"rejected_{k}": str(v) for k, v in self.rejected.items() if v},
        }
        st = DiagnosticStatus(level=level, name="perception: pose estimation", message=message,
                              hardware_id=self.get_fully_qualified_name())
        st.values = [KeyValue(key=k, value=v) for k, v in kv.items()]
        arr = DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()))
        arr.status = [st]
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    return run_node(PerceptionNode, "perception", (ModelMetadataError, ValueError, DetectorError), args)


if __name__ == "__main__":
    sys.exit(main())
