"""Canonical motion format: what every importer (BVH, AMASS, point sequences) produces.

One :class:`MotionSequence` is one clip of one subject on the canonical skeleton
(:mod:`pose_estimation_ros.skeleton`): per-frame local rotations (joint 0 = global orientation in a
y-up world), root translation in metres, one shape vector, the frame rate, and where it came from.
Stored as ``.npz`` (:meth:`save` / :meth:`load`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch

FORMAT = "pose_estimation_ros.motion.v1"


@dataclass
class MotionSequence:
    """A clip on the canonical skeleton.

    Attributes:
        rotmats: (T, 24, 3, 3) float32 local rotations.
        transl: (T, 3) float32 pelvis position in metres, y-up world.
        shape: (S,) float32 shape parameters of ``body_model``.
        body_model: backend the shape belongs to ("skeleton", "anny", "smpl").
        fps: frames per second.
        subject, sequence: ids used for splits ("131", "131_01").
        source: where it came from (file path / dataset name).
        fit_error_mm: (24,) mean per-joint fitting error in mm when the clip was fitted, else None.
    """

    rotmats: np.ndarray
    transl: np.ndarray
    shape: np.ndarray
    body_model: str
    fps: float
    subject: str
    sequence: str
    source: str = ""
    fit_error_mm: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.rotmats.shape[0]
        if self.rotmats.shape[1:] != (24, 3, 3):
            raise ValueError(f"rotmats must be (T, 24, 3, 3), got {self.rotmats.shape}")
        if self.transl.shape != (t, 3):
            raise ValueError(f"transl must be ({t}, 3), got {self.transl.shape}")
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.rotmats.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """Write ``.npz``; ``meta`` (JSON-serialisable, e.g. the importer's report of this clip) is stored
        beside the arrays and comes back as ``extra["meta"]``."""
        import json
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, format=FORMAT, rotmats=self.rotmats.astype(np.float32), transl=self.transl.astype(np.float32),
            shape=self.shape.astype(np.float32), body_model=self.body_model, fps=np.float64(self.fps),
            subject=self.subject, sequence=self.sequence, source=self.source,
            fit_error_mm=np.asarray([] if self.fit_error_mm is None else self.fit_error_mm, np.float32),
            meta=json.dumps(meta or {}))
        return path

    @staticmethod
    def load(path: str | Path) -> "MotionSequence":
        import json
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z or str(z["format"]) != FORMAT:
                raise ValueError(f"{path}: not a {FORMAT} file")
            fe = z["fit_error_mm"]
            meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
            return MotionSequence(z["rotmats"], z["transl"], z["shape"], str(z["body_model"]), float(z["fps"]),
                                  str(z["subject"]), str(z["sequence"]), str(z["source"]), fe if fe.size else None,
                                  {"meta": meta})

    def resample(self, fps: float) -> "MotionSequence":
        """The same motion at ``fps``: rotations by slerp, translation linearly (first frame kept)."""
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if abs(fps - self.fps) < 1e-9 or self.num_frames < 2:
            return self
        n_out = int(np.floor((self.num_frames - 1) * fps / self.fps)) + 1
        src = np.arange(n_out) * (self.fps / fps)                 # fractional source frame index
        i0 = np.clip(np.floor(src).astype(int), 0, self.num_frames - 2)
        w = (src - i0).astype(np.float32)
        q = roma.rotmat_to_unitquat(torch.as_tensor(self.rotmats, dtype=torch.float32))   # (T, 24, 4)
        q0, q1 = q[i0], q[i0 + 1]
        wt = torch.as_tensor(w)[:, None, None]
        # slerp per joint: roma.utils.unitquat_slerp takes a steps tensor; do it elementwise here
        dot = (q0 * q1).sum(-1, keepdim=True)
        q1 = torch.where(dot < 0, -q1, q1)
        dot = dot.abs().clamp(max=1.0)
        theta = torch.acos(dot)
        sin = torch.sin(theta)
        small = sin < 1e-6
        a = torch.where(small, 1 - wt, torch.sin((1 - wt) * theta) / torch.where(small, 1.0, sin))
        b = torch.where(small, wt, torch.sin(wt * theta) / torch.where(small, 1.0, sin))
        qi = torch.nn.functional.normalize(a * q0 + b * q1, dim=-1)
        rot = roma.unitquat_to_rotmat(qi).numpy().astype(np.float32)
        tr = (self.transl[i0] * (1 - w)[:, None] + self.transl[i0 + 1] * w[:, None]).astype(np.float32)
        return MotionSequence(rot, tr, self.shape, self.body_model, float(fps), self.subject, self.sequence,
                              self.source, self.fit_error_mm, dict(self.extra))
