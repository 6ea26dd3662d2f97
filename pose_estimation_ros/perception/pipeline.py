"""ROS-free perception pipeline: RGB image -> people -> crops -> per-frame model -> windows -> temporal model.

One call of :meth:`PerceptionPipeline.process` per image:

1. the image stamp passes the shared :class:`~.window.StampGuard` (not newer / far ahead of the clock:
   dropped; a run of rejections restarts the stream);
2. people. With a detector that can follow people (:class:`~.detectors.FollowingDetector`: ``blazepose``),
   MediaPipe's way: each tracked person is followed into the new frame by the landmark model on the ROI
   predicted from their last landmarks (fresh box and COCO-17 keypoints every frame, no detector pass); the
   detector runs only when nobody is followed, when a followed person's landmark flag drops (same frame) and
   every ``redetect_every`` frames to find new people. The boxes of every frame go through ByteTrack
   (:class:`~.track.PersonTracker`) for stable ids. With another detector (``hog``, ``yolo_onnx``) the detector
   runs every ``detect_every`` frames (a fixed cadence: the tracker's motion model steps once per run) and
   between runs each track's crop follows the model's own projection within :class:`~.crop.CropLimits`
   (:class:`~.crop.BoundedFollower`). At most ``max_people`` (best scores) either way;
3. the per-frame model runs once on the batch of all crops; each track has its own sliding window
   (all windows share the frame slots); the temporal model runs once on the batch of all windows;
4. the output describes the frame ``temporal_lag`` slots back: every person seen then, with the temporal
   joints (or the per-frame ones where the temporal model cannot run) placed at the root translation
   smoothed over the window (a local linear fit that uses only frames already in the window: no latency
   beyond ``temporal_lag``). Output stamps therefore strictly increase; nothing is published while the
   first ``temporal_lag`` frames after a start or reset fill the window.

The node (``nodes/perception_node.py``) converts messages and publishes; everything measurable lives here.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import skeleton
from ..camera_model import Intrinsics
from ..kinematics import orthonormal_rot6d, project_points, weak_perspective_to_translation
from .crop import CROP_MODES, BoundedFollower, CropBox, CropLimits, box_from_keypoints, box_from_xyxy, \
    crop_and_resize, normalize
from .detect import DEFAULT_DETECTOR, Detection, Detector, DetectorError, build_detector, limit_people
from .detectors import can_follow
from .detectors.base import can_search_in_background
from .detectors.boxes import iou
from .flip_test import average_outputs, mirror_inputs, mirror_outputs
from .floor import FLOOR_HISTORY, FloorScale, camera_up_vector, size_factor
from .inference import OnnxModel, load_per_frame, load_temporal
from .keypoint_fit import CameraFit, confident_limbs, fit_limbs, fit_weak_camera
from .keypoint_input import keypoints_in_crop
from .metadata import PER_FRAME_INPUT, PER_FRAME_KEYPOINTS, TEMPORAL_INPUTS, check_same_body, temporal_joints_slot
from .track import PersonTracker
from .window import PoseWindow, StampGuard

NUM_JOINTS = skeleton.NUM_JOINTS
# Confidence given to a joint that projects outside the image (the model saw no pixels of it).
OUTSIDE_IMAGE_CONFIDENCE = 0.3
# SMPL-24 joint <- COCO-17 keypoint whose detector confidence it takes (when the detector gives keypoints).
SMPL_FROM_COCO = {1: 11, 2: 12, 4: 13, 5: 14, 7: 15, 8: 16, 15: 0, 16: 5, 17: 6, 18: 7, 19: 8, 20: 9, 21: 10}
# Per window slot: root translation (3) + per-frame root-relative joints (24*3) + that frame's COCO-17 keypoints
# (17*3: x px, y px, confidence; confidence 0 = none measured on that frame), for the limb fit of the output slot.
_KP0 = 3 + NUM_JOINTS * 3
_EXTRA = _KP0 + 17 * 3
KEYPOINT_FITS = ("off", "limbs", "camera_limbs")
BODY_SCALES = ("model", "neutral", "floor")
# body_scale neutral: the factor that brings a person to the neutral body's size is clamped to this range (a model
# that fails gives a finite, bounded answer).
BODY_SCALE_LIMITS = (0.67, 1.5)
# body_scale floor: height of the foot joint (left_foot / right_foot) above the floor when the foot is flat, m
# (the packaged Anny body's neutral shape: lowest vertex 0.027 m below the foot joint).
FLOOR_SOLE_HEIGHT = 0.03
PACKAGED_PER_FRAME = "mocap_spin.onnx"
# Frames between detector runs while every person is followed by a FollowingDetector (chosen by measurement:
# docs/perception.md "Detector on demand"); the detector also runs at once when a followed person is lost.
REDETECT_EVERY = 10
# Two followed people whose boxes overlap this much are one person (the ROI slid onto a neighbour).
FOLLOW_DUPLICATE_IOU = 0.7
_CANDIDATE_ID = 1 << 40   # ordering key of a not-yet-confirmed detection (real tracks win duplicates)


def default_model_dir() -> Path:
    """models/ of a source checkout, else the installed share/pose_estimation_ros/models."""
    here = Path(__file__).resolve().parents[2] / "models"
    if here.is_dir():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("pose_estimation_ros")) / "models"
    except Exception:  # ament index absent or package not installed through colcon
        return here


def packaged_temporal_name(lag: int) -> str:
    """File name of the packaged temporal model for ``temporal_lag`` = ``lag``."""
    return "posebert.onnx" if lag == 0 else f"posebert_lag{lag}.onnx"


def resolve_model(value: str, default_name: str) -> str:
    """The ONE meaning of a model parameter: ``''`` -> the packaged ``default_name``; ``'none'`` -> off
    (returns ``''``); anything else is a path (``~`` expanded)."""
    value = (value or "").strip()
    if value.lower() == "none":
        return ""
    if not value:
        return str(default_model_dir() / default_name)
    return str(Path(value).expanduser())


@dataclass
class PerceptionConfig:
    """Parameters of :class:`PerceptionPipeline` (the node declares each as a ROS parameter).

    ``per_frame_model`` / ``temporal_model``: ``''`` = the packaged model (for the temporal model the one
    exported for ``temporal_lag``), ``'none'`` = off (temporal only), else a path — the same meaning in
    this class, the node and ``config/perception.yaml``.
    """

    per_frame_model: str = ""
    temporal_model: str = ""           # '' = packaged posebert(_lag<k>).onnx, 'none' = per-frame only
    provider: str = "cpu"              # cpu | cuda | tensorrt
    threads: int = 0                   # onnxruntime intra-op threads, 0 = default
    window: int = 16
    frame_period_ns: int = 0           # 0: estimate from incoming stamps
    temporal_lag: int = 0              # 0 = causal (newest frame); k = estimate for the frame k slots back
    crop: str = "detect"               # detect (detector + tracker) | full (whole frame = one person, no detector)
    min_valid_frames: int = 1          # temporal model runs once this many window slots hold estimates
    detector: str = ""                 # '' = DEFAULT_DETECTOR; falls back to 'hog' when its files are missing
    detector_model: str = ""           # the detector's file/folder ('' = its packaged one; yolo_onnx needs one)
    detector_threads: int = 0          # the detector's CPU threads (0 = the backend's default: 2 for blazepose)
    detect_every: int = 3              # detector period in frames for detectors that cannot follow people
    redetect_every: int = REDETECT_EVERY   # following detectors: detector at least every N frames (new people)
    background_search: bool = True     # following detectors: the periodic search's detector pass of frame k runs
    #                                    beside the models (a worker thread), its people confirmed on frame k+1
    max_people: int = 5
    track_lost_frames: int = 10        # unmatched for this x detect_every frames: the track ends
    translation_window: int = 12       # slots of the root-translation fit (<= 2: no smoothing)
    keypoint_fit: str = "limbs"        # off | limbs | camera_limbs: fit the output to the frame's keypoints
    body_scale: str = "model"          # model | neutral | floor: each person at the model's body size, the neutral
    #                                    body's, or the size at which their feet stand on the floor (floor.py)
    floor_camera_height: float = 0.0   # body_scale floor: camera optical centre above the floor, m
    floor_camera_pitch_deg: float = 0.0  # body_scale floor: optical axis below the horizon, degrees
    floor_camera_roll_deg: float = 0.0   # body_scale floor: camera roll about its optical axis, degrees
    floor_sole_height: float = FLOOR_SOLE_HEIGHT   # body_scale floor: foot joint above the floor, m
    floor_base_frame: str = ""         # body_scale floor: '' = the mount above; a frame = the node takes the mount
    #                                    from /tf_static (set_floor_mount), floor_camera_* until it arrives
    flip_test: bool = False            # also run the per-frame model on the mirrored crops and average (flip_test.py)
    max_stamp_ahead_s: float = 2.0     # stamps further ahead of the clock are rejected

    def validate(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 0 <= self.temporal_lag < self.window:
            raise ValueError(f"temporal_lag must be in [0, window-1={self.window - 1}], got {self.temporal_lag}")
        if not 1 <= self.min_valid_frames <= self.window:
            raise ValueError(f"min_valid_frames must be in [1, {self.window}], got {self.min_valid_frames}")
        if self.frame_period_ns < 0:
            raise ValueError(f"frame_period_ns must be >= 0, got {self.frame_period_ns}")
        if self.body_scale not in BODY_SCALES:
            raise ValueError(f"unknown body_scale '{self.body_scale}' (valid: {', '.join(BODY_SCALES)})")
        if self.body_scale == "floor":
            if not (np.isfinite(self.floor_camera_height) and self.floor_camera_height >= 0):
                raise ValueError(f"floor.camera_height must be >= 0 m, got {self.floor_camera_height}")
            if not (self.floor_camera_height > 0 or self.floor_base_frame):
                raise ValueError("body_scale floor needs floor.camera_height > 0 m (the camera's height above the "
                                 f"floor), got {self.floor_camera_height}, or floor.base_frame (the mount from "
                                 "/tf_static)")
            if not -90.0 <= self.floor_camera_pitch_deg <= 90.0:
                raise ValueError(f"floor.camera_pitch_deg must be in [-90, 90], got {self.floor_camera_pitch_deg}")
            if not -180.0 <= self.floor_camera_roll_deg <= 180.0:
                raise ValueError(f"floor.camera_roll_deg must be in [-180, 180], got {self.floor_camera_roll_deg}")
            if not 0.0 <= self.floor_sole_height < (self.floor_camera_height or np.inf):
                raise ValueError(f"floor.sole_height must be in [0, camera_height), got {self.floor_sole_height}")
        if self.keypoint_fit not in KEYPOINT_FITS:
            raise ValueError(f"unknown keypoint_fit '{self.keypoint_fit}' (valid: {', '.join(KEYPOINT_FITS)})")
        if self.crop not in CROP_MODES:
            raise ValueError(f"unknown crop mode '{self.crop}' (valid: {', '.join(CROP_MODES)})")
        for name, lo in (("detect_every", 1), ("redetect_every", 1), ("max_people", 1), ("track_lost_frames", 1),
                         ("translation_window", 0), ("detector_threads", 0)):
            if getattr(self, name) < lo:
                raise ValueError(f"{name} must be >= {lo}, got {getattr(self, name)}")
        if not self.max_stamp_ahead_s > 0:
            raise ValueError(f"max_stamp_ahead_s must be > 0, got {self.max_stamp_ahead_s}")


@dataclass
class PoseEstimate:
    """One person's 3D joints for the image stamped ``stamp_ns``."""

    stamp_ns: int
    joints_cam: np.ndarray      # (24, 3) metres, camera optical frame
    confidence: np.ndarray      # (24,) in [0, 1]
    joints_2d: np.ndarray       # (24, 2) pixels
    temporal: bool              # from the temporal model (True) or per-frame only (False)
    person_id: int = 1
    score: float = 1.0          # the detector's score of this person (1.0 in crop mode 'full')
    box: CropBox | None = None  # the crop the per-frame model saw
    det_box: np.ndarray | None = None   # (4,) xyxy pixels: the person's box at the last detector run


@dataclass
class FrameResult:
    """What processing one image produced.

    ``outcome``: "ok" (estimates valid, possibly none: nobody there); "fault" (the image was processed but
    the model failed for someone: consumers must not read it as "nobody"); "dropped" (stamp rejected: not
    a new observation, publish nothing); "warming" (a lagged output has no frame yet: publish nothing).
    ``stamp_ns`` is the stamp of the frame the output describes (None when nothing is to be published).
    """

    estimates: list[PoseEstimate]
    timings_ms: dict[str, float] = field(default_factory=dict)
    stamp_ns: int | None = None
    ended_ids: list[int] = field(default_factory=list)
    status: str = "ok"
    outcome: str = "ok"
    boxes: dict[int, CropBox] = field(default_factory=dict)
    detector_ran: bool = False
    followed: int = 0            # people followed into this frame without a detector pass (FollowingDetector)
    keypoints: dict[int, np.ndarray] = field(default_factory=dict)   # track id -> (17, 3) COCO-17 of THIS frame
    notes: list[str] = field(default_factory=list)   # e.g. more people than max_people, stream reset
    stream_reset: bool = False   # a run of refused stamps restarted the stream: stamps start over from here


@dataclass
class _Track:
    """One tracked person: crop follower, window (slots shared with every other track), last detection."""

    track_id: int
    window: PoseWindow
    follower: BoundedFollower
    score: float = 0.0
    keypoints: np.ndarray | None = None
    det_box: np.ndarray | None = None
    active: bool = False       # matched at the last detector run (or followed into this frame) and followable
    det: Detection | None = None   # its detection in the last frame (what a FollowingDetector follows)
    fresh: bool = False        # box + keypoints measured on this frame (following / detector), not projected
    # body_scale floor: body sizes measured from the floor (FloorScale.measure)
    floor_sizes: deque = field(default_factory=lambda: deque(maxlen=FLOOR_HISTORY))


class _DetectorFault(RuntimeError):
    """The detector raised while running on a frame."""


def neutral_body_size(meta) -> float | None:
    """Sum of the neutral body's bone lengths (m) from a per-frame model's metadata, or None when it has none."""
    bones = (meta.architecture or {}).get("neutral_bones_m")
    try:
        arr = np.asarray(bones, np.float64)
    except (TypeError, ValueError):
        return None
    if arr.shape != (len(skeleton.BONES),) or not np.all(np.isfinite(arr)) or arr.sum() <= 0:
        return None
    return float(arr.sum())


def _drop_duplicates(followed: list[tuple[int, Detection]]) -> list[tuple[int, Detection]]:
    """Followed (track id, detection) pairs without duplicates: where two boxes overlap by IoU >
    ``FOLLOW_DUPLICATE_IOU`` (one ROI slid onto the other person) the older track (lower id) keeps it."""
    kept: list[tuple[int, Detection]] = []
    for tid, d in sorted(followed, key=lambda p: p[0]):
        if all(iou(d.box, k.box[None])[0] <= FOLLOW_DUPLICATE_IOU for _, k in kept):
            kept.append((tid, d))
    return kept


def smooth_translation(transl: np.ndarray, valid: np.ndarray, idx: int, span: int) -> np.ndarray | None:
    """Root translation at slot ``idx`` from a least-squares line over the newest ``span`` window slots.

    Args:
        transl: (T, 3) per-slot translations; valid: (T,) bool; idx: the slot to evaluate (valid).
        span: slots of the fit, ending at the newest slot T-1 (so a lagged ``idx`` uses its look-ahead
            frames, a causal one only the past: no added latency).
    Returns:
        (3,) float64, or None with fewer than 3 valid slots in the span (caller keeps the raw value).
    """
    t_len = len(valid)
    lo = max(0, t_len - span)
    lo = min(lo, idx)
    slots = np.nonzero(valid[lo:])[0] + lo
    if len(slots) < 3:
        return None
    x = slots.astype(np.float64) - idx
    a = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(a, transl[slots].astype(np.float64), rcond=None)
    return coef[0]


class PerceptionPipeline:
    """Multi-person per-frame + temporal 3D pose estimation on numpy images, timed per stage.

    Args:
        cfg: configuration (validated).
        detector: a ready detector object (tests, custom backends); None builds ``cfg.detector``.
        per_frame_runner: replaces the per-frame model's session (benchmarks with a simulated model):
            ``(N, 3, S, S) float32 -> (pose6d, betas, cam, joints)``; the model file still gives the metadata.
    """

    def __init__(self, cfg: PerceptionConfig, detector: Detector | None = None, per_frame_runner=None) -> None:
        cfg.validate()
        self.cfg = cfg
        names = skeleton.JOINT_NAMES
        self.per_frame_path = resolve_model(cfg.per_frame_model, PACKAGED_PER_FRAME)
        if not self.per_frame_path:
            raise ValueError("per_frame_model cannot be 'none': the per-frame model is required")
        self.temporal_path = resolve_model(cfg.temporal_model, packaged_temporal_name(cfg.temporal_lag))
        self.per_frame: OnnxModel = load_per_frame(self.per_frame_path, joint_names=names,
                                                   provider=cfg.provider, threads=cfg.threads)
        self.temporal: OnnxModel | None = None
        if self.temporal_path:
            self.temporal = load_temporal(self.temporal_path, joint_names=names, window=cfg.window,
                                          lag=cfg.temporal_lag, provider=cfg.provider, threads=cfg.threads)
            check_same_body(self.per_frame.meta, self.temporal.meta, str(self.per_frame.path),
                            str(self.temporal.path))
        meta = self.per_frame.meta
        self.input_size = int(meta.input_size[0])
        norm = meta.normalization
        self._mean = np.asarray(norm.mean, np.float32)
        self._std = np.asarray(norm.std, np.float32)
        self._scale = float(norm.scale)
        self._bgr = norm.color_order.lower() == "bgr"
        self._camera_fit = CameraFit()
        self.body_scale_warning: str | None = None
        self._neutral_size = neutral_body_size(meta)
        if cfg.body_scale == "neutral" and self._neutral_size is None:
            self.body_scale_warning = (f"body_scale neutral: {self.per_frame.path} has no neutral body in its metadata "
                                       "(architecture.neutral_bones_m, written by training.export since 2026-12-01); "
                                       "people keep the model's body size")
        self.floor: FloorScale | None = None      # body_scale floor with a known mount (else None: the model's size)
        self._num_betas = meta.num_betas
        self._per_frame_runner = per_frame_runner
        self.clock = time.perf_counter   # stage timer (benchmarks on a loaded machine use time.thread_time)
        self.limits = CropLimits()
        self.detector_warning: str | None = None
        self.detector: Detector | None = None
        if cfg.crop == "detect":
            if detector is None:
                detector, self.detector_warning = build_detector(cfg.detector or DEFAULT_DETECTOR,
                                                                 model=cfg.detector_model,
                                                                 **({"num_threads": cfg.detector_threads}
                                                                    if cfg.detector_threads else {}))
            self.detector = detector
        # A following detector updates the tracker every frame, others every detect_every frames (one detector
        # run): ByteTrack's lost buffer counts updates, so when following it is scaled to the same time,
        # track_lost_frames x detect_every frames.
        self.following = self.detector is not None and can_follow(self.detector)
        self.tracker = PersonTracker(lost_frames=cfg.track_lost_frames * (cfg.detect_every if self.following else 1))
        self._since_detect = 0        # frames since the last detector run (following mode)
        self._followed_count = 0      # people followed into the current frame
        self._candidates: list[Detection] = []   # unconfirmed new detections, followed into the next frame
        self._scan: int | None = None  # next detector window of a periodic search spread over frames
        # background search: a one-worker pool running the detector pass of a search window beside the models
        self.background = self.following and cfg.background_search and can_search_in_background(self.detector)
        self._search_pool: ThreadPoolExecutor | None = None
        self._search: Future | None = None
        self._ended: list[int] = []
        self.guard = StampGuard(max_ahead_ns=int(cfg.max_stamp_ahead_s * 1e9))
        self.slots = self._new_window()          # frame slots of the stream (stamps only)
        self.tracks: dict[int, _Track] = {}
        self._frame_index = 0
        if cfg.body_scale == "floor" and cfg.floor_camera_height > 0:
            self.set_floor_mount(cfg.floor_camera_height, cfg.floor_camera_pitch_deg, cfg.floor_camera_roll_deg)

    # ------------------------------------------------------------------ state
    def set_floor_mount(self, camera_height: float, pitch_deg: float, roll_deg: float) -> None:
        """``body_scale floor``: the camera's height above the floor (m) and its tilt (degrees, :mod:`.floor`); a
        new mount forgets the body sizes measured under the old one. Raises ValueError for an impossible mount."""
        if self.cfg.body_scale != "floor":
            raise ValueError(f"set_floor_mount needs body_scale floor (this pipeline: {self.cfg.body_scale})")
        if not all(np.isfinite([camera_height, pitch_deg, roll_deg])):
            raise ValueError(f"floor mount not finite: height {camera_height}, pitch {pitch_deg}, roll {roll_deg}")
        self.floor = FloorScale(camera_up_vector(pitch_deg, roll_deg), float(camera_height),
                                self.cfg.floor_sole_height, limits=BODY_SCALE_LIMITS)
        for tr in self.tracks.values():
            tr.floor_sizes.clear()

    def _new_window(self) -> PoseWindow:
        return PoseWindow(self.cfg.window, num_betas=self._num_betas, extra_dim=_EXTRA,
                          frame_period_ns=self.cfg.frame_period_ns)

    @property
    def detector_name(self) -> str:
        return getattr(self.detector, "name", "none") if self.detector is not None else "none (crop full)"

    @property
    def untrained_models(self) -> list[str]:
        """Paths of loaded models whose metadata says they are untrained."""
        models = [self.per_frame] + ([self.temporal] if self.temporal else [])
        return [str(m.path) for m in models if not m.meta.trained]

    def reset(self) -> list[int]:
        """Forget the stream (windows, tracks, stamps); returns the ids of the tracks that ended."""
        ended = self.tracker.reset()
        ended = sorted(set(ended) | set(self.tracks))
        self.tracks.clear()
        self.slots.clear()
        self.guard.clear()
        self._frame_index = 0
        self._since_detect = 0
        self._candidates = []
        self._scan = None
        self._drop_search()
        return ended

    def close(self) -> None:
        """Stop the background search worker (waits for a detector pass in flight); the pipeline stays usable and
        starts a new worker when it needs one."""
        self._drop_search()
        if self._search_pool is not None:
            self._search_pool.shutdown(wait=True)
            self._search_pool = None

    def _start_search(self, rgb: np.ndarray, window: int) -> None:
        """Run detector window ``window`` on (a copy of) this frame in the worker; collected next frame."""
        if self._search_pool is None:
            self._search_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="person-search")
        self._search = self._search_pool.submit(self.detector.detect_rois, rgb.copy(), window)

    def _collect_search(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The ROIs of the background search started on the previous frame (waits for it), or None."""
        fut, self._search = self._search, None
        if fut is None:
            return None
        try:
            return fut.result()
        except DetectorError as e:
            raise _DetectorFault(f"detector '{self.detector_name}' failed: {e}") from e

    def _drop_search(self) -> None:
        fut, self._search = self._search, None
        if fut is not None:
            try:
                fut.result()
            except Exception:   # noqa: BLE001 -- a search whose result nobody wants any more
                pass

    # ------------------------------------------------------------------ main entry
    def process(self, rgb: np.ndarray, stamp_ns: int, intr: Intrinsics, now_ns: int | None = None) -> FrameResult:
        """Estimate the people in the (H, W, 3) uint8 RGB image stamped ``stamp_ns`` (``now_ns``: receiver clock)."""
        t: dict[str, float] = {}
        verdict = self.guard.admit(int(stamp_ns), now_ns)
        if not verdict.accepted:
            return FrameResult([], t, None, status=f"frame dropped: {verdict.reason}", outcome="dropped")
        notes: list[str] = []
        ended: list[int] = []
        if verdict.reset:
            ended += self._restart_windows()
            notes.append(verdict.reason)
        hw = rgb.shape[:2]
        if (intr.width, intr.height) != (hw[1], hw[0]):
            intr = intr.scaled_to(hw[1], hw[0])
        slots = self.slots.slots_since_last(stamp_ns)
        self.slots.mark_missing(stamp_ns, slots=slots)   # the stream's slot clock (stamps only)

        t0 = self.clock()
        try:
            people, detector_ran, det_ended = self._people(rgb, hw, notes, t)
        except _DetectorFault as e:   # nobody can be claimed either way: a fault, not an empty scene
            for tr in self.tracks.values():
                tr.window.mark_missing(stamp_ns, slots=slots)
                tr.active = False
            self._frame_index += 1
            lagged = int(self.slots.stamps[self.cfg.window - 1 - self.cfg.temporal_lag])
            return FrameResult([], t, lagged if lagged >= 0 else None, ended, status=str(e), outcome="fault",
                               detector_ran=True, notes=notes, stream_reset=verdict.reset)
        ended += det_ended
        t1 = self.clock()
        t["track_ms"] = self._track_ms
        if self.following:   # _people timed its detector and follow parts
            t.setdefault("detect_ms", 0.0)
            t.setdefault("follow_ms", 0.0)
        else:
            t["detect_ms"] = max(0.0, (t1 - t0) * 1e3 - self._track_ms) if detector_ran else 0.0
            t["follow_ms"] = 0.0

        faults: list[str] = []
        boxes: dict[int, CropBox] = {}
        if people:
            crops = []
            for tr in people:
                crop = crop_and_resize(rgb, tr.follower.box, self.input_size)
                crops.append(crop[..., ::-1] if self._bgr else crop)
            x = np.concatenate([normalize(c, self._mean, self._std, self._scale) for c in crops], axis=0)
            kp = None
            if self.per_frame.meta.keypoint_input != "none":   # this frame's keypoints, or none (image only)
                kp = np.concatenate([keypoints_in_crop(tr.keypoints if tr.fresh else None, tr.follower.box,
                                                       self.input_size) for tr in people], axis=0)
            t2 = self.clock()
            t["crop_ms"] = (t2 - t1) * 1e3
            pose6d, betas, cam, joints = self._run_per_frame(x, kp)
            if self.cfg.flip_test and len(x):
                xf, kf = mirror_inputs(x, kp, self.input_size)
                mirrored = mirror_outputs(*self._run_per_frame(xf, kf), self.input_size)
                pose6d, betas, cam, joints = average_outputs((pose6d, betas, cam, joints), mirrored)
            # The temporal model reads orthonormal 6D (what it was trained on); the model's raw 6D is not.
            pose6d = orthonormal_rot6d(pose6d).astype(np.float32)
            if kp is not None and self.cfg.keypoint_fit == "camera_limbs":
                cam = np.array([fit_weak_camera(joints[i], cam[i], kp[i], self._camera_fit)[0]
                                if tr.fresh else cam[i] for i, tr in enumerate(people)], np.float32)
            t3 = self.clock()
            t["per_frame_ms"] = (t3 - t2) * 1e3
        else:
            t["crop_ms"] = t["per_frame_ms"] = 0.0
        seen: set[int] = set()
        for i, tr in enumerate(people):
            box = tr.follower.box
            ok = (np.all(np.isfinite(joints[i])) and np.all(np.isfinite(pose6d[i])) and np.all(np.isfinite(betas[i]))
                  and np.all(np.isfinite(cam[i])) and cam[i][0] > 1e-6)
            transl = None
            if ok:
                transl = weak_perspective_to_translation(cam[i], np.array([box.cx, box.cy]), box.size,
                                                         intr.fx, intr.fy, intr.cx, intr.cy)
                ok = bool(np.all(np.isfinite(transl)) and transl[2] > 0)
            if not ok:
                faults.append(f"person {tr.track_id}: per-frame model gave no valid estimate")
                tr.follower.lost, tr.active = True, False
                continue
            kp_img = tr.keypoints if (tr.fresh and tr.keypoints is not None
                                      and np.shape(tr.keypoints) == (17, 3)) else np.zeros((17, 3))
            if self.floor is not None:       # the feet of this frame measure the track's body size
                self._measure_floor(tr, joints[i] + transl, kp_img, intr)
            if k := self._body_scale(joints[i], tr):    # the neutral / floor-measured body size sets the distance
                joints[i], transl = joints[i] * k, transl * k
            extra = np.concatenate([transl, joints[i].reshape(-1), np.reshape(kp_img, -1)]).astype(np.float32)
            tr.window.push(stamp_ns, pose6d[i], betas[i], extra, slots=slots)
            seen.add(tr.track_id)
            boxes[tr.track_id] = box
            if self.detector is not None and not self.following:   # follow with the model's projection (bounded)
                uv = project_points(joints[i] + transl, intr.fx, intr.fy, intr.cx, intr.cy)
                if tr.follower.follow(uv, hw) is None:
                    tr.active = False
        for tid, tr in self.tracks.items():
            if tid not in seen:
                tr.window.mark_missing(stamp_ns, slots=slots)

        t4 = self.clock()
        out_stamp, estimates = self._outputs(intr)
        t["temporal_ms"] = (self.clock() - t4) * 1e3
        self._frame_index += 1
        status = "; ".join(faults + notes) if (faults or notes) else "ok"
        followed = self._followed_count
        kps = {tr.track_id: tr.keypoints for tr in people if tr.fresh and tr.keypoints is not None}
        if out_stamp is None:
            return FrameResult([], t, None, ended, status=status if faults else "no frame in the lagged slot yet (start, reset or gap)",
                               outcome="fault" if faults else "warming", boxes=boxes, detector_ran=detector_ran,
                               followed=followed, keypoints=kps, notes=notes, stream_reset=verdict.reset)
        return FrameResult(estimates, t, out_stamp, ended, status=status, outcome="fault" if faults else "ok",
                           boxes=boxes, detector_ran=detector_ran, followed=followed, keypoints=kps, notes=notes,
                           stream_reset=verdict.reset)

    # ------------------------------------------------------------------ steps
    def _restart_windows(self) -> list[int]:
        ended = self.tracker.reset()
        ended = sorted(set(ended) | set(self.tracks))
        self.tracks.clear()
        self.slots.clear()
        self._since_detect = 0
        self._candidates = []
        self._scan = None
        return ended

    def _people(self, rgb: np.ndarray, hw: tuple[int, int], notes: list[str],
                timings: dict[str, float]) -> tuple[list[_Track], bool, list[int]]:
        """Tracks to run the model on this frame (their follower boxes set), detector ran?, ended ids."""
        for tr in self.tracks.values():
            tr.fresh = False
        self._followed_count = 0
        self._track_ms = 0.0
        if self.following:
            return self._people_following(rgb, hw, notes, timings)
        if self.detector is None:   # crop 'full': the whole frame is one person
            tr = self.tracks.get(1)
            if tr is None:
                tr = self.tracks[1] = _Track(1, self._new_window(), BoundedFollower(self.limits), score=1.0)
            tr.follower.box = CropBox(hw[1] / 2.0, hw[0] / 2.0, float(max(hw)))
            tr.det_box = np.array([0.0, 0.0, hw[1], hw[0]], np.float32)
            tr.active = True
            return [tr], False, []
        # A fixed cadence: ByteTrack's Kalman filter predicts one step per detector run, so the runs must be
        # evenly spaced. A track that lost its crop in between waits (at most detect_every - 1 frames) unpublished.
        if self._frame_index % self.cfg.detect_every:
            return [tr for tr in self.tracks.values() if tr.active], False, []
        try:
            found = self.detector.detect(rgb)
        except DetectorError as e:   # e.g. a user's YOLO file whose output layout shows only at the first frame
            raise _DetectorFault(f"detector '{self.detector_name}' failed: {e}") from e
        return self._track(found, hw, notes, max_frames=self.cfg.detect_every), True, self._ended

    def _track(self, found: list[Detection], hw: tuple[int, int], notes: list[str], max_frames: int) -> list[_Track]:
        """This frame's detections (at most ``max_people``) -> ByteTrack -> the matched tracks, crops anchored on
        their boxes/keypoints; unmatched tracks inactive, ended ones removed (their ids in ``self._ended``)."""
        dets, msg = limit_people(found, self.cfg.max_people)
        if msg:
            notes.append(msg)
        t0 = self.clock()
        upd = self.tracker.update(dets)
        self._track_ms = (self.clock() - t0) * 1e3
        for tr in self.tracks.values():
            tr.active = False
        for tid, det in upd.matched:
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = _Track(tid, self._new_window(),
                                               BoundedFollower(self.limits, max_frames=max_frames))
            tr.follower.anchor(self._box_of(det, hw))
            tr.score, tr.keypoints, tr.det_box, tr.active = float(det.score), det.keypoints, det.box, True
            tr.det, tr.fresh = det, True
        for tid in upd.ended:
            self.tracks.pop(tid, None)
        self._ended = list(upd.ended)
        return [self.tracks[tid] for tid, _ in upd.matched]

    def _people_following(self, rgb: np.ndarray, hw: tuple[int, int], notes: list[str],
                          timings: dict[str, float]) -> tuple[list[_Track], bool, list[int]]:
        """MediaPipe's loop for a FollowingDetector: follow every active track with the landmark model; run the
        detector when nobody is followed, when someone was lost (this frame) or ``redetect_every`` frames after
        the last run; every frame's boxes go to ByteTrack."""
        t0 = self.clock()
        rois = self._collect_search()   # the previous frame's background search (its detector pass only)
        followed: list[tuple[int, Detection]] = []
        lost = 0
        try:
            for tid, tr in self.tracks.items():
                if not tr.active or tr.det is None:
                    continue
                if tr.det.hint is None:   # a detection the backend cannot follow: find it again
                    lost += 1
                    continue
                d = self.detector.follow(rgb, tr.det)
                if d is None:
                    lost += 1
                else:
                    followed.append((tid, d))
        except (DetectorError, ValueError) as e:
            raise _DetectorFault(f"detector '{self.detector_name}' failed following a person: {e}") from e
        kept = _drop_duplicates(followed)
        lost += len(followed) - len(kept)
        # Detections of the last detector run that ByteTrack has not confirmed yet (a new track needs a second
        # matched frame): followed once more so that they are confirmed now.
        cand = []
        for k, d in enumerate(c for c in self._candidates if c.hint is not None):
            try:
                f = self.detector.follow(rgb, d)
            except (DetectorError, ValueError) as e:
                raise _DetectorFault(f"detector '{self.detector_name}' failed following a person: {e}") from e
            if f is not None:
                cand.append((_CANDIDATE_ID + k, f))
        self._candidates = []
        both = _drop_duplicates(kept + cand)
        t1 = self.clock()
        timings["follow_ms"] = (t1 - t0) * 1e3
        self._since_detect += 1
        urgent = not kept or lost > 0
        if not urgent and self._scan is None and self._since_detect >= self.cfg.redetect_every:
            self._since_detect = 0
            n = self._windows(hw)
            if n > 1:   # a periodic search: one detector window per frame (no latency spike)
                self._scan = 0
            else:
                urgent = True
        window = None
        if not urgent and self._scan is not None:
            window = self._scan
            self._scan = self._scan + 1 if self._scan + 1 < self._windows(hw) else None
        dets = [d for _, d in both]
        due = False
        try:
            if urgent:            # nobody followed / someone lost: every window now (a search in flight is moot)
                dets = self.detector.detect(rgb, known=dets)
                self._since_detect, self._scan, due = 0, None, True
            else:
                if rois is not None:   # last frame's search: its new people measured in this frame
                    dets = self.detector.detect_from_rois(rgb, rois[0], rois[1], known=dets)
                    due = True
                if window is not None:
                    if self.background:
                        self._start_search(rgb, window)
                    else:
                        dets = self.detector.detect(rgb, known=dets, window=window)
                        due = True
        except DetectorError as e:
            raise _DetectorFault(f"detector '{self.detector_name}' failed: {e}") from e
        timings["detect_ms"] = (self.clock() - t1) * 1e3
        self._followed_count = len(kept)
        people = self._track(dets, hw, notes, max_frames=0)
        if due:   # new people of this run that ByteTrack did not confirm yet: follow them into the next frame
            matched = {id(tr.det) for tr in people}
            followed_ids = {id(d) for _, d in both}
            self._candidates = [d for d in dets if id(d) not in matched and id(d) not in followed_ids]
        return people, due, self._ended

    def _windows(self, hw: tuple[int, int]) -> int:
        """Detector windows of one full pass (1 when the backend cannot run them one at a time)."""
        nw = getattr(self.detector, "num_windows", None)
        return int(nw(hw[1], hw[0])) if callable(nw) else 1

    def _box_of(self, det: Detection, hw: tuple[int, int]) -> CropBox:
        if det.keypoints is not None:
            box = box_from_keypoints(det.keypoints, hw, self.limits)
            if box is not None:
                return box
        return box_from_xyxy(det.box, hw, self.limits)

    def _run_per_frame(self, x: np.ndarray, kp: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(N, 3, S, S) [+ keypoints (N, 17, 3) for a keypoint-input model] -> pose6d (N,24,6), betas (N,B),
        cam (N,3), joints (N,24,3); one batch when the graph allows."""
        if self._per_frame_runner is not None:
            return tuple(self._per_frame_runner(x))

        def feeds(sl: slice) -> dict[str, np.ndarray]:
            f = {PER_FRAME_INPUT: x[sl]}
            if kp is not None:
                f[PER_FRAME_KEYPOINTS] = kp[sl]
            return f

        if self.per_frame.dynamic_batch or len(x) == 1:
            outs = tuple(self.per_frame.run(feeds(slice(None))))
            if all(o.shape[0] == len(x) for o in outs):
                return outs
            self.per_frame.dynamic_batch = False   # a graph that ignores its batch axis: one run per person
        outs = [self.per_frame.run(feeds(slice(i, i + 1))) for i in range(len(x))]
        return tuple(np.concatenate([o[k] for o in outs]) for k in range(4))

    def _outputs(self, intr: Intrinsics) -> tuple[int | None, list[PoseEstimate]]:
        """Estimates for the slot ``temporal_lag`` back (its stamp, or None while it holds no frame)."""
        idx = self.cfg.window - 1 - self.cfg.temporal_lag
        stamp = int(self.slots.stamps[idx])
        if stamp < 0:
            return None, []
        ready = [tr for tr in self.tracks.values() if tr.window.valid[idx]]
        temporal_joints: dict[int, np.ndarray] = {}
        if self.temporal is not None:
            batch = [tr for tr in ready if tr.window.num_valid >= self.cfg.min_valid_frames]
            if batch:
                temporal_joints = self._run_temporal(batch, idx)
        out = []
        for tr in sorted(ready, key=lambda r: r.track_id):
            w = tr.window
            transl = w.extra[idx, :3].astype(np.float64)
            j_rel = temporal_joints.get(tr.track_id)
            is_temporal = j_rel is not None
            if is_temporal:
                if k := self._body_scale(j_rel, tr):
                    j_rel = j_rel * k
                smooth = smooth_translation(w.extra[:, :3], w.valid, idx, self.cfg.translation_window) \
                    if self.cfg.translation_window > 2 else None
                if smooth is not None and np.all(np.isfinite(smooth)) and smooth[2] > 0:
                    transl = smooth
            else:
                j_rel = w.extra[idx, 3:_KP0].reshape(NUM_JOINTS, 3).astype(np.float64)
            est = self._estimate(j_rel, transl, stamp, intr, is_temporal, tr,
                                 w.extra[idx, _KP0:].reshape(17, 3).astype(np.float64))
            if est is not None:
                out.append(est)
        return stamp, out

    def _body_scale(self, joints: np.ndarray, tr: _Track) -> float | None:
        """The factor that gives ``joints`` (24, 3) of track ``tr`` the body size (sum of the bone lengths) of
        ``body_scale``: neutral = the neutral body's, floor = the median of what the track's feet measured
        (:meth:`_measure_floor`), clamped to :data:`BODY_SCALE_LIMITS`; None for model, when unavailable (no
        neutral body; feet not seen yet) or not finite. Scaling a person's root-relative joints and root translation
        by one factor leaves the image unchanged (the scale-depth ambiguity of one camera): it sets how far away
        the person is, from their assumed size."""
        if self.cfg.body_scale == "neutral" and self._neutral_size is not None:
            return size_factor(joints, self._neutral_size, BODY_SCALE_LIMITS)
        if self.cfg.body_scale == "floor" and self.floor is not None:
            return self.floor.factor(tr.floor_sizes, joints)
        return None

    def _measure_floor(self, tr: _Track, joints_cam: np.ndarray, keypoints: np.ndarray, intr: Intrinsics) -> None:
        """``body_scale floor``: when this frame shows the feet (``keypoints`` (17, 3) image px + confidence),
        remember the body size at which the lowest foot of ``joints_cam`` (24, 3, the model's size) stands on the
        floor (:class:`.floor.FloorScale`)."""
        seen = self.floor.feet_seen(joints_cam, keypoints, intr.width, intr.height, intr.fx, intr.fy, intr.cx,
                                    intr.cy)
        self.floor.measure(tr.floor_sizes, joints_cam, seen)

    def _fit_limbs(self, joints_cam: np.ndarray, keypoints: np.ndarray, intr: Intrinsics) -> np.ndarray:
        """Limb joints turned towards the viewing rays of the confident keypoints (:func:`.keypoint_fit.fit_limbs`)."""
        limbs = confident_limbs(keypoints)
        if not limbs:
            return joints_cam
        rays = np.full((NUM_JOINTS, 3), np.nan)
        for j, u, v in limbs:
            rays[j] = ((u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, 1.0)
        fitted = fit_limbs(joints_cam, rays)
        return fitted if np.all(np.isfinite(fitted)) else joints_cam

    def _run_temporal(self, batch: list[_Track], idx: int) -> dict[int, np.ndarray]:
        pose = np.stack([tr.window.pose for tr in batch])
        betas = np.stack([tr.window.betas for tr in batch])
        valid = np.stack([tr.window.valid for tr in batch])
        names = TEMPORAL_INPUTS
        if self.temporal.dynamic_batch or len(batch) == 1:
            joints = self.temporal.run({names[0]: pose, names[1]: betas, names[2]: valid})[1]
        else:
            joints = np.concatenate([self.temporal.run({names[0]: pose[i:i + 1], names[1]: betas[i:i + 1],
                                                        names[2]: valid[i:i + 1]})[1] for i in range(len(batch))])
        k = temporal_joints_slot(self.temporal.meta, idx)
        return {tr.track_id: joints[i, k].astype(np.float64) for i, tr in enumerate(batch)
                if np.all(np.isfinite(joints[i, k]))}

    def _estimate(self, joints_rel: np.ndarray, transl: np.ndarray, stamp_ns: int, intr: Intrinsics,
                  temporal: bool, tr: _Track, keypoints: np.ndarray | None = None) -> PoseEstimate | None:
        """The published estimate; ``keypoints`` (17, 3) image px + confidence of the output frame (limb fit)."""
        joints_cam = (joints_rel + transl).astype(np.float64)
        if not np.all(np.isfinite(joints_cam)):
            return None
        if self.cfg.keypoint_fit != "off" and keypoints is not None and joints_cam[0, 2] > 0:
            joints_cam = self._fit_limbs(joints_cam, keypoints, intr)
        uv = project_points(joints_cam, intr.fx, intr.fy, intr.cx, intr.cy)
        inside = ((uv[:, 0] >= 0) & (uv[:, 0] < intr.width) & (uv[:, 1] >= 0) & (uv[:, 1] < intr.height)
                  & (joints_cam[:, 2] > 0))
        conf = np.where(inside, 1.0, OUTSIDE_IMAGE_CONFIDENCE).astype(np.float32)
        if tr.keypoints is not None:
            for j, k in SMPL_FROM_COCO.items():
                conf[j] = float(np.clip(tr.keypoints[k, 2], 0.0, 1.0)) if inside[j] else min(
                    conf[j], float(np.clip(tr.keypoints[k, 2], 0.0, 1.0)))
        return PoseEstimate(stamp_ns, joints_cam, conf, uv, temporal, tr.track_id, tr.score, tr.follower.box,
                            tr.det_box)
