"""Per-frame error models: how a per-frame estimator's rotations differ from the truth.

Every model samples a per-joint axis-angle perturbation ``e`` (radians) applied on the right of the
local rotation, ``R_noisy = R @ exp(e)`` (the per-frame regressor predicts local rotations, so its
errors compound along the kinematic chain like these do).

* :class:`GaussianNoise` (the default, as in the PoseBERT paper): i.i.d. ``N(0, std^2)`` per axis,
  per joint, per frame.
* :class:`FittedNoise`: fitted to the per-frame model's validation residuals
  (:func:`fit_noise_model`): per-joint mean and full 3x3 covariance of the inlier residual, an AR(1)
  temporal correlation per joint (real estimators err smoothly over nearby frames), and a per-joint
  outlier rate with the observed outlier angle range (flips, swapped limbs).

Fit from residuals and save as JSON::

    python -m training.posebert.noise_model fit --residuals val_residuals.npz --out runs/noise/fitted.json

``val_residuals.npz`` holds ``pred_pose6d`` (N,24,6) (or ``pred_rotmats`` (N,24,3,3)), ``gt_pose6d``
/ ``gt_rotmats``, and optionally ``sequence`` (N,) ids with the frames of each sequence consecutive
and in time order (needed for the AR(1) fit).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from pose_estimation_ros import skeleton
from training.geometry.rotations import rot6d_to_rotmat

__all__ = ["NoiseModel", "GaussianNoise", "FittedNoise", "WindowMix", "fit_noise_model", "make_noise_model",
           "apply_rotation_noise"]

NJ = skeleton.NUM_JOINTS


class NoiseModel:
    """Interface: ``sample(batch, frames, generator) -> (B, T, 24, 3)`` axis-angle perturbations."""

    kind = "abstract"

    def sample(self, batch: int, frames: int, generator: torch.Generator | None = None,
               scale: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


def apply_rotation_noise(rotmats: torch.Tensor, rotvec: torch.Tensor) -> torch.Tensor:
    """``R @ exp(rotvec)``. rotmats (..., 3, 3), rotvec (..., 3)."""
    return rotmats @ roma.rotvec_to_rotmat(rotvec.to(rotmats.dtype))


@dataclass
class GaussianNoise(NoiseModel):
    """i.i.d. Gaussian axis-angle noise, ``std_deg`` per axis (same for every joint)."""

    std_deg: float = 5.0
    kind = "gaussian"

    def sample(self, batch, frames, generator=None, scale=None):
        e = torch.randn(batch, frames, NJ, 3, generator=generator) * math.radians(self.std_deg)
        if scale is not None:                       # (B,) per-window multiplier
            e = e * scale.view(-1, 1, 1, 1)
        return e

    def describe(self) -> str:
        return f"gaussian {self.std_deg:g} deg"


@dataclass
class FittedNoise(NoiseModel):
    """Residual model fitted to a per-frame estimator (see the module docstring).

    Attributes:
        mean: (24, 3) mean inlier residual (radians; a systematic bias of the estimator).
        chol: (24, 3, 3) Cholesky factor of the inlier residual covariance.
        ar1: (24,) lag-1 autocorrelation of the residual (0 = white noise).
        outlier_rate: (24,) fraction of frames whose residual exceeds ``outlier_deg``.
        outlier_deg: inlier / outlier threshold.
        outlier_max_deg: (24,) largest observed outlier angle (outliers are sampled with a uniform
            random axis and an angle uniform in [outlier_deg, outlier_max_deg]).
        num_frames: residual frames the fit used.
        source: free text (which model / data).
    """

    mean: np.ndarray
    chol: np.ndarray
    ar1: np.ndarray
    outlier_rate: np.ndarray
    outlier_deg: float
    outlier_max_deg: np.ndarray
    num_frames: int = 0
    source: str = ""
    kind = "fitted"

    def sample(self, batch, frames, generator=None, scale=None):
        mean = torch.as_tensor(self.mean, dtype=torch.float32)
        chol = torch.as_tensor(self.chol, dtype=torch.float32)
        rho = torch.as_tensor(self.ar1, dtype=torch.float32).view(1, NJ, 1)
        white = torch.randn(batch, frames, NJ, 3, generator=generator)
        # AR(1) with unit marginal variance: z_t = rho z_{t-1} + sqrt(1 - rho^2) w_t.
        z = [white[:, 0]]
        innov = torch.sqrt(torch.clamp(1 - rho ** 2, min=0.0))
        for t in range(1, frames):
            z.append(rho * z[-1] + innov * white[:, t])
        z = torch.stack(z, dim=1)                                          # (B, T, 24, 3)
        e = (chol @ z.unsqueeze(-1)).squeeze(-1)
        if scale is not None:
            e = e * scale.view(-1, 1, 1, 1)
        e = e + mean
        rate = torch.as_tensor(self.outlier_rate, dtype=torch.float32)
        if float(rate.max()) > 0:
            out = torch.rand(batch, frames, NJ, generator=generator) < rate
            axis = torch.nn.functional.normalize(torch.randn(batch, frames, NJ, 3, generator=generator), dim=-1)
            lo = math.radians(self.outlier_deg)
            hi = torch.as_tensor(np.radians(np.maximum(self.outlier_max_deg, self.outlier_deg)), dtype=torch.float32)
            ang = lo + torch.rand(batch, frames, NJ, generator=generator) * (hi - lo)
            e = torch.where(out.unsqueeze(-1), axis * ang.unsqueeze(-1), e)
        return e

    def describe(self) -> str:
        std = rms_std_deg(self)
        return (f"fitted ({self.num_frames} frames, rms std {std:.1f} deg, mean ar1 {self.ar1.mean():.2f}, "
                f"outliers {100 * self.outlier_rate.mean():.1f}%)")

    # ------------------------------------------------------------------ io
    def to_json(self) -> str:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        d["kind"] = self.kind
        d["joint_names"] = list(skeleton.JOINT_NAMES)
        return json.dumps(d, indent=1)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @staticmethod
    def load(path: str | Path) -> "FittedNoise":
        d = json.loads(Path(path).read_text())
        if d.pop("kind", "fitted") != "fitted":
            raise ValueError(f"{path}: not a fitted noise model")
        if d.pop("joint_names", list(skeleton.JOINT_NAMES)) != list(skeleton.JOINT_NAMES):
            raise ValueError(f"{path}: joint names differ from the canonical skeleton")
        keys = ("mean", "chol", "ar1", "outlier_rate", "outlier_max_deg")
        arr = {k: np.asarray(d[k], dtype=np.float64) for k in keys}
        return FittedNoise(**arr, outlier_deg=float(d["outlier_deg"]), num_frames=int(d.get("num_frames", 0)),
                           source=str(d.get("source", "")))


@dataclass
class WindowMix(NoiseModel):
    """Per-window choice between two noise models: window ``b`` takes ``second`` (scaled by
    ``second_scale[b]``) where ``use_second[b]``, else ``first`` (scaled by the caller's ``scale[b]``).

    The trainer draws a new mix every step (``corruption.fitted_prob``): the Gaussian curriculum for most
    windows, the fitted per-frame error model for the others.
    """

    first: NoiseModel
    second: NoiseModel
    use_second: torch.Tensor        # (B,) bool
    second_scale: torch.Tensor      # (B,) float
    kind = "mix"

    def sample(self, batch, frames, generator=None, scale=None):
        if self.use_second.shape != (batch,) or self.second_scale.shape != (batch,):
            raise ValueError(f"WindowMix drawn for {tuple(self.use_second.shape)} windows, sampled for {batch}")
        a = self.first.sample(batch, frames, generator, scale)
        b = self.second.sample(batch, frames, generator, self.second_scale)
        return torch.where(self.use_second.view(-1, 1, 1, 1), b, a)

    def describe(self) -> str:
        return f"mix of {self.first.describe()} and {self.second.describe()}"


def rms_std_deg(noise: "FittedNoise") -> float:
    """Root-mean-square per-axis std (degrees) of a fitted model's inlier residual (``describe``'s figure)."""
    return float(np.degrees(np.sqrt(np.mean(np.einsum("jab,jab->j", noise.chol, noise.chol) / 3))))


def _as_rotmats(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if x.shape[-1] == 6:
        return rot6d_to_rotmat(x)
    if x.shape[-2:] != (3, 3):
        raise ValueError(f"expected (...,24,6) or (...,24,3,3), got {tuple(x.shape)}")
    return x


def fit_noise_model(pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor,
                    sequence: np.ndarray | list | None = None, outlier_deg: float = 45.0,
                    source: str = "") -> FittedNoise:
    """Fit :class:`FittedNoise` to per-frame predictions vs ground truth.

    Args:
        pred, gt: (N, 24, 6) 6D or (N, 24, 3, 3) local rotations (joint 0 = global orientation in the
            same frame for both).
        sequence: (N,) ids, frames of a sequence consecutive in time order; None = one sequence.
        outlier_deg: residual angle above which a joint's frame counts as an outlier.
    """
    rp, rg = _as_rotmats(pred), _as_rotmats(gt)
    if rp.shape != rg.shape or rp.shape[1:] != (NJ, 3, 3):
        raise ValueError(f"pred {tuple(rp.shape)} and gt {tuple(rg.shape)} must both be (N, 24, 3, 3)")
    res = roma.rotmat_to_rotvec(rg.transpose(-1, -2) @ rp).numpy()          # (N, 24, 3): R_pred = R_gt exp(r)
    n = res.shape[0]
    ang = np.degrees(np.linalg.norm(res, axis=-1))                        # (N, 24)
    outl = ang > outlier_deg
    mean = np.zeros((NJ, 3))
    chol = np.zeros((NJ, 3, 3))
    ar1 = np.zeros(NJ)
    max_deg = np.full(NJ, outlier_deg)
    seq = np.zeros(n, dtype=object) if sequence is None else np.asarray(sequence, dtype=object)
    same_next = seq[1:] == seq[:-1]                                        # consecutive pairs in one sequence
    for j in range(NJ):
        inl = res[~outl[:, j], j]
        if len(inl) < 4:
            inl = res[:, j]
        mean[j] = inl.mean(0)
        cov = np.cov(inl.T) + 1e-10 * np.eye(3)
        chol[j] = np.linalg.cholesky(cov)
        if outl[:, j].any():
            max_deg[j] = ang[outl[:, j], j].max()
        pair = same_next & ~outl[1:, j] & ~outl[:-1, j]
        if pair.sum() > 3:
            a = (res[:-1, j] - mean[j])[pair]
            b = (res[1:, j] - mean[j])[pair]
            ar1[j] = float(np.clip((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12), 0.0, 0.99))
    return FittedNoise(mean=mean, chol=chol, ar1=ar1, outlier_rate=outl.mean(0), outlier_deg=outlier_deg,
                       outlier_max_deg=max_deg, num_frames=n, source=source)


def make_noise_model(kind: str, std_deg: float = 5.0, path: str | Path = "") -> NoiseModel | None:
    """``gaussian`` -> :class:`GaussianNoise`, ``fitted`` -> :meth:`FittedNoise.load` (path), ``none`` -> None."""
    if kind == "gaussian":
        return GaussianNoise(std_deg)
    if kind == "fitted":
        if not path:
            raise ValueError("noise 'fitted' needs corruption.noise_model (a JSON from noise_model fit)")
        return FittedNoise.load(path)
    if kind == "none":
        return None
    raise ValueError(f"unknown noise kind '{kind}' (gaussian | fitted | none)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.noise_model", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit a FittedNoise JSON from per-frame validation residuals")
    f.add_argument("--residuals", required=True, nargs="+",
                   help="npz file(s) with pred_pose6d|pred_rotmats, gt_pose6d|gt_rotmats[, sequence] (e.g. written "
                        "by python -m training.spin.evaluate --clips N --video-preds FILE); several are concatenated")
    f.add_argument("--out", required=True)
    f.add_argument("--outlier-deg", type=float, default=45.0)
    a = p.parse_args(argv)
    preds, gts, seqs = [], [], []
    for k, path in enumerate(a.residuals):
        if not Path(path).is_file():
            p.error(f"no such residuals file: {path}")
        with np.load(path, allow_pickle=False) as z:
            pk = "pred_pose6d" if "pred_pose6d" in z else "pred_rotmats"
            gk = "gt_pose6d" if "gt_pose6d" in z else "gt_rotmats"
            if pk not in z or gk not in z:
                p.error(f"{path}: needs pred_pose6d or pred_rotmats and gt_pose6d or gt_rotmats, has {sorted(z.files)}")
            preds.append(_as_rotmats(z[pk]).numpy())
            gts.append(_as_rotmats(z[gk]).numpy())
            n = len(preds[-1])
            seqs.append(np.char.add(f"{k}:", np.asarray(z["sequence"]).astype(str)) if "sequence" in z
                        else np.full(n, f"{k}:"))
    model = fit_noise_model(np.concatenate(preds), np.concatenate(gts), np.concatenate(seqs), a.outlier_deg,
                            source=", ".join(Path(r).name for r in a.residuals))
    model.save(a.out)
    print(f"wrote {a.out}: {model.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
