"""ROS-free perception pipeline: RGB image -> crop -> per-frame model -> window -> temporal model -> 3D joints.

The node (``nodes/perception_node.py``) converts messages and publishes; everything measurable lives here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import skeleton
from ..camera_model import Intrinsics
from .crop import CropBox, crop_and_resize, make_cropper, normalize
from .inference import OnnxModel, load_per_frame, load_temporal
from ..kinematics import project_points, weak_perspective_to_translation
from .metadata import PER_FRAME_INPUT, TEMPORAL_INPUTS, check_same_body
from .window import PoseWindow, PushResult

# Confidence given to a joint that projects outside the image (the model saw no pixels of it).
OUTSIDE_IMAGE_CONFIDENCE = 0.3

@dataclass
class PerceptionConfig:
    """Parameters of :class:`PerceptionPipeline` (the node declares each as a ROS parameter)."""

    per_frame_model: str
    temporal_model: str = ""           # empty: publish per-frame estimates only
    provider: str = "cpu"              # cpu | cuda | tensorrt
    threads: int = 0                   # onnxruntime intra-op threads, 0 = default
    window: int = 16
    frame_period_ns: int = 0           # 0: estimate from incoming stamps
    temporal_lag: int = 0              # 0 = causal (newest frame); k = estimate for the frame k slots back
    crop: str = "full"                 # full | tracking
    min_valid_frames: int = 1          # temporal model runs once this many window slots hold estimates

    def validate(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 0 <= self.temporal_lag < self.window:
            raise ValueError(f"temporal_lag must be in [0, window-1={self.window - 1}], got {self.temporal_lag}")
        if not 1 <= self.min_valid_frames <= self.window:
            raise ValueError(f"min_valid_frames must be in [1, {self.window}], got {self.min_valid_frames}")
        if self.frame_period_ns < 0:
            raise ValueError(f"frame_period_ns must be >= 0, got {self.frame_period_ns}")


@dataclass
class PoseEstimate:
    """One person's 3D joints for the image stamped ``stamp_ns``."""

    stamp_ns: int
    joints_cam: np.ndarray      # (24, 3) metres, camera optical frame
    confidence: np.ndarray      # (24,) in [0, 1]
    joints_2d: np.ndarray       # (24, 2) pixels
    temporal: bool              # from the temporal model (True) or per-frame only (False)
    person_id: int = 1
    score: float = 1.0


@dataclass
class FrameResult:
    """What processing one image produced."""

    estimates: list[PoseEstimate]
    timings_ms: dict[str, float] = field(default_factory=dict)
    box: CropBox | None = None
    push: PushResult | None = None
    status: str = "ok"
    # "ok": estimates are valid (possibly none); "fault": the image was processed but the model failed
    # (consumers must not read this as "nobody there"); "dropped": not a new observation (stale stamp).
    outcome: str = "ok"


class PerceptionPipeline:
    """Per-frame + temporal 3D pose estimation on numpy images, timed per stage."""

    def __init__(self, cfg: PerceptionConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        names = skeleton.JOINT_NAMES
        self.per_frame: OnnxModel = load_per_frame(cfg.per_frame_model, joint_names=names,
                                                   provider=cfg.provider, threads=cfg.threads)
        self.temporal: OnnxModel | None = None
        if cfg.temporal_model:
            self.temporal = load_temporal(cfg.temporal_model, joint_names=names, window=cfg.window,
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
        self.cropper = make_cropper(cfg.crop)
        self.window = PoseWindow(cfg.window, num_betas=meta.num_betas, frame_period_ns=cfg.frame_period_ns)

    @property
    def untrained_models(self) -> list[str]:
        """Paths of loaded models whose metadata says they are untrained."""
        models = [self.per_frame] + ([self.temporal] if self.temporal else [])
        return [str(m.path) for m in models if not m.meta.trained]

    def reset(self) -> None:
        self.window.clear()
        self.cropper.update(None, (1, 1))

    def process(self, rgb: np.ndarray, stamp_ns: int, intr: Intrinsics) -> FrameResult:
        """Estimate 3D joints in the (H, W, 3) uint8 RGB image stamped ``stamp_ns``."""
        t = {}
        hw = rgb.shape[:2]
        if (intr.width, intr.height) != (hw[1], hw[0]):
            intr = intr.scaled_to(hw[1], hw[0])

        t0 = time.perf_counter()
        box = self.cropper.box(hw)
        crop = crop_and_resize(rgb, box, self.input_size)
        if self._bgr:
            crop = crop[..., ::-1]
        x = normalize(crop, self._mean, self._std, self._scale)
        t1 = time.perf_counter()
        t["crop_ms"] = (t1 - t0) * 1e3

        pose6d, betas, cam, joints = self.per_frame.run({PER_FRAME_INPUT: x})
        t2 = time.perf_counter()
        t["per_frame_ms"] = (t2 - t1) * 1e3
        pose6d, betas, cam, joints = pose6d[0], betas[0], cam[0], joints[0]
        if not (np.all(np.isfinite(joints)) and np.all(np.isfinite(cam)) and cam[0] > 1e-6):
            self.window.mark_missing(stamp_ns)
            self.cropper.update(None, hw)
            t["temporal_ms"] = 0.0
            return FrameResult([], t, box, None, status="per-frame model gave no valid estimate",
                               outcome="fault")

        transl = weak_perspective_to_translation(cam, np.array([box.cx, box.cy]), box.size,
                                                 intr.fx, intr.fy, intr.cx, intr.cy)
        push = self.window.push(stamp_ns, pose6d, betas, transl)
        if not push.accepted:
            t["temporal_ms"] = 0.0
            return FrameResult([], t, box, push, status=f"frame dropped: {push.reason}", outcome="dropped")

        estimate = self._estimate(joints, transl, stamp_ns, intr, temporal=False)
        if self.temporal is not None and self.window.num_valid >= self.cfg.min_valid_frames:
            t3 = time.perf_counter()
            temporal = self._run_temporal(intr)
            t["temporal_ms"] = (time.perf_counter() - t3) * 1e3
            if temporal is not None:
                estimate = temporal
        else:
            t["temporal_ms"] = 0.0
        # Track the crop on the newest frame's own projection.
        self.cropper.update(project_points(joints + transl, intr.fx, intr.fy, intr.cx, intr.cy), hw)
        return FrameResult([estimate], t, box, push)

    def _run_temporal(self, intr: Intrinsics) -> PoseEstimate | None:
        pose, betas, valid = self.window.arrays()
        names = TEMPORAL_INPUTS
        _, joints = self.temporal.run({names[0]: pose, names[1]: betas, names[2]: valid})
        idx = self.window.length - 1 - self.cfg.temporal_lag
        if not self.window.valid[idx]:
            return None   # the lagged slot is a gap: no translation to place the body
        j = joints[0, idx]
        if not np.all(np.isfinite(j)):
            return None
        return self._estimate(j, self.window.extra[idx], int(self.window.stamps[idx]), intr, temporal=True)

    @staticmethod
    def _estimate(joints_rel: np.ndarray, transl: np.ndarray, stamp_ns: int, intr: Intrinsics,
                  temporal: bool) -> PoseEstimate:
        joints_cam = (joints_rel + transl).astype(np.float64)
        uv = project_points(joints_cam, intr.fx, intr.fy, intr.cx, intr.cy)
        inside = ((uv[:, 0] >= 0) & (uv[:, 0] < intr.width) & (uv[:, 1] >= 0) & (uv[:, 1] < intr.height)
                  & (joints_cam[:, 2] > 0))
        conf = np.where(inside, 1.0, OUTSIDE_IMAGE_CONFIDENCE).astype(np.float32)
        return PoseEstimate(stamp_ns, joints_cam, conf, uv, temporal)


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
