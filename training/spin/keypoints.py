"""2D keypoints as a second input of the per-frame model: conventions, mirroring and the fitted noise model.

A keypoint-input model (``model.keypoint_input: coco17``) takes, beside the crop, the COCO-17 keypoints of a
real-trained 2D source (the BlazePose landmark model the perception node runs, ``perception.detectors.blazepose``)
in the crop: ``(N, 17, 3)`` = ``(u, v)`` normalised to ``[-1, 1]`` over the crop (``2 px / S - 1``, the same
convention as the 2D loss) and the source's confidence in ``[0, 1]``; a keypoint the source does not give has
confidence 0 and position 0. Training samples carry them in crop pixels (``keypoints`` (17, 3)), like
``joints2d``.

The noise model (:class:`KeypointNoise`, fitted by ``training.spin.shard_keypoints --fit-noise``) describes how
the source errs on renders, per keypoint, in units of the crop side: mean offset, standard deviation, the rate
of gross errors, the confidences it reports, and how often it misses the person; the image-less lifting
samples (:mod:`training.spin.lifting`) draw their keypoints from it so that they look like the source's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pose_estimation_ros.skeleton import mirror_index
from training.body.keypoints import COCO17_NAMES

__all__ = ["KEYPOINT_FORMATS", "NUM_KEYPOINTS", "COCO17_FLIP", "normalize_keypoints_px", "flip_keypoints_px",
           "label_roi_scale", "KeypointNoise", "fit_noise"]

KEYPOINT_FORMATS = ("none", "coco17")
NUM_KEYPOINTS = len(COCO17_NAMES)
# Index of the mirrored keypoint (left <-> right).
COCO17_FLIP: tuple[int, ...] = mirror_index(COCO17_NAMES)


def label_roi_scale(labels) -> float:
    """The landmark ROI scale (ROI side / crop side) an open ``kp_K.npz`` label file was made with
    (:mod:`training.spin.shard_keypoints`); files from before the ``roi_scale`` key: 1.0, the crop itself."""
    return float(labels["roi_scale"]) if "roi_scale" in labels.files else 1.0


def normalize_keypoints_px(kp: np.ndarray, size: int) -> np.ndarray:
    """``(..., 17, 3)`` crop pixels + confidence -> model input: ``(u, v)`` in [-1, 1], confidence kept,
    positions of zero-confidence keypoints set to 0."""
    kp = np.asarray(kp, np.float32)
    out = np.empty_like(kp)
    conf = np.clip(np.nan_to_num(kp[..., 2], nan=0.0), 0.0, 1.0)
    out[..., :2] = np.where(conf[..., None] > 0, 2.0 * kp[..., :2] / size - 1.0, 0.0)
    out[..., 2] = conf
    return out


def flip_keypoints_px(kp: np.ndarray, size: int) -> np.ndarray:
    """Keypoints ``(17, 3)`` of a horizontally mirrored crop of side ``size`` (pixel centres at integers)."""
    out = np.asarray(kp, np.float32)[list(COCO17_FLIP)].copy()
    out[:, 0] = size - 1 - out[:, 0]
    return out


@dataclass
class KeypointNoise:
    """How a 2D keypoint source errs, per COCO-17 keypoint, in units of the crop side.

    Attributes:
        bias: (17, 2) mean offset source - truth.
        std: (17, 2) standard deviation of the offset (gross errors excluded).
        gross_rate: (17,) fraction of gross errors (offset above ``gross_threshold``).
        gross_threshold: crop sides.
        conf: (17, Q) quantiles of the confidences the source reports (drawn uniformly).
        miss_rate: fraction of crops where the source gives no keypoints at all.
        source, n: what was fitted and on how many crops.
    """

    bias: list = field(default_factory=lambda: np.zeros((NUM_KEYPOINTS, 2)).tolist())
    std: list = field(default_factory=lambda: np.full((NUM_KEYPOINTS, 2), 0.02).tolist())
    gross_rate: list = field(default_factory=lambda: np.full(NUM_KEYPOINTS, 0.02).tolist())
    gross_threshold: float = 0.15
    conf: list = field(default_factory=lambda: np.full((NUM_KEYPOINTS, 5), 0.9).tolist())
    miss_rate: float = 0.02
    source: str = "default (not fitted)"
    n: int = 0

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @staticmethod
    def load(path: str | Path) -> "KeypointNoise":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"keypoint noise model {p}: no such file (fit one with "
                                    "`python -m training.spin.shard_keypoints --fit-noise`)")
        d = json.loads(p.read_text())
        missing = {"bias", "std", "gross_rate", "conf"} - set(d)
        if missing:
            raise ValueError(f"{p}: keypoint noise model lacks {sorted(missing)}")
        return KeypointNoise(**d)

    def sample(self, truth_px: np.ndarray, side: float, rng: np.random.Generator) -> np.ndarray:
        """Source-like keypoints ``(B, 17, 3)`` (crop px + confidence) from true ones ``(B, 17, 2)`` crop px."""
        b = truth_px.shape[0]
        bias, std = np.asarray(self.bias), np.asarray(self.std)
        off = bias[None] + std[None] * rng.standard_normal((b, NUM_KEYPOINTS, 2))
        gross = rng.random((b, NUM_KEYPOINTS)) < np.asarray(self.gross_rate)[None]
        off = np.where(gross[..., None], rng.uniform(-0.35, 0.35, (b, NUM_KEYPOINTS, 2)), off)
        q = np.asarray(self.conf)
        pick = rng.integers(0, q.shape[1], (b, NUM_KEYPOINTS))
        conf = q[np.arange(NUM_KEYPOINTS)[None], pick]
        conf = np.where(rng.random(b)[:, None] < self.miss_rate, 0.0, conf)
        xy = truth_px + off * side
        return np.concatenate([np.where(conf[..., None] > 0, xy, 0.0), conf[..., None]], -1).astype(np.float32)


def fit_noise(pred: np.ndarray, truth: np.ndarray, side: float, source: str, gross_threshold: float = 0.15,
              quantiles: int = 20) -> KeypointNoise:
    """Fit :class:`KeypointNoise` from a source's keypoints ``pred (N, 17, 3)`` (crop px + confidence; all
    confidences 0 = missed) against the truth ``truth (N, 17, 2)`` crop px, crops of side ``side`` px."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    found = pred[..., 2].max(-1) > 0
    if found.sum() < 2:
        raise ValueError(f"fit_noise: the source found keypoints in only {int(found.sum())} of {len(pred)} crops")
    off = (pred[found, :, :2] - truth[found]) / side                          # (M, 17, 2)
    conf = pred[found, :, 2]
    dist = np.linalg.norm(off, axis=-1)
    gross = dist > gross_threshold
    bias, std = np.zeros((NUM_KEYPOINTS, 2)), np.zeros((NUM_KEYPOINTS, 2))
    for k in range(NUM_KEYPOINTS):
        good = off[~gross[:, k], k]
        if len(good) >= 2:
            bias[k], std[k] = good.mean(0), good.std(0)
        else:
            bias[k], std[k] = 0.0, gross_threshold / 2
    qs = np.quantile(conf, np.linspace(0.025, 0.975, quantiles), axis=0).T       # (17, Q)
    return KeypointNoise(bias=bias.round(5).tolist(), std=std.round(5).tolist(),
                         gross_rate=gross.mean(0).round(4).tolist(), gross_threshold=gross_threshold,
                         conf=qs.round(4).tolist(), miss_rate=round(float(1 - found.mean()), 4), source=source,
                         n=int(found.sum()))


def keypoint_input_tensor(kp_px, size: int, dropout: float = 0.0, noise_px: float = 0.0, generator=None):
    """Torch twin of :func:`normalize_keypoints_px` for training batches ``(B, 17, 3)`` crop px: optional
    extra Gaussian noise (``noise_px``) and, with probability ``dropout`` per sample, no keypoints at all."""
    import torch

    kp = kp_px.float().clone()
    if noise_px > 0:
        kp[..., :2] += noise_px * torch.randn(kp[..., :2].shape, generator=generator)
    conf = kp[..., 2].nan_to_num(0.0).clamp(0.0, 1.0)
    if dropout > 0:
        keep = (torch.rand(kp.shape[0], generator=generator) >= dropout).float()
        conf = conf * keep[:, None]
    from training.spin.losses import normalize_keypoints       # the 2D loss's convention, one definition

    xy = torch.where(conf[..., None] > 0, normalize_keypoints(kp[..., :2], size), torch.zeros_like(kp[..., :2]))
    return torch.cat([xy, conf[..., None]], dim=-1)
