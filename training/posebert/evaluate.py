"""Evaluate PoseBERT on held-out motion: per-frame input vs PoseBERT causal vs lagged, streamed as the runtime runs.

Synthetic per-frame errors (held-out subjects, Gaussian or fitted rotation noise, optional missing
detections)::

    python -m training.posebert.evaluate --ckpt runs/posebert_causal/ckpt_best.pt runs/posebert_lag4/ckpt_best.pt \\
        --split test --noise-std 5 --missing 0 0.25 --out docs/posebert_results.md

Real per-frame model outputs (once the per-frame model is trained; no synthetic noise)::

    python -m training.posebert.evaluate --ckpt ... --per-frame-preds preds.npz

``preds.npz``: ``pred_pose6d`` (N,24,6), ``gt_pose6d`` (N,24,6) or ``gt_rotmats`` (N,24,3,3) in the
same (camera) frame, optional ``pred_betas`` / ``gt_betas`` (N,NB), ``valid`` (N,) bool (False = no
detection) and ``sequence`` (N,) ids with each sequence's frames consecutive, in time order.

``--onnx FILE...`` evaluates exported files instead of / as well as checkpoints (mode from metadata).
Every method is scored on the same frames (each sequence minus its last ``max lag`` frames, which a
lagged model has not output yet when the stream ends).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.body.skeleton_fk import SkeletonFK
from training.geometry.rotations import rot6d_to_rotmat, rotmat_to_rot6d
from training.posebert import metrics
from training.posebert.config import EvalConfig, config_from_dict
from training.posebert.data import apply_view, random_view_rotation
from training.posebert.noise_model import NoiseModel, apply_rotation_noise, make_noise_model
from training.posebert.stream import Runner, hold_last_valid, onnx_runner, stream_estimates, torch_runner

__all__ = ["Clip", "Method", "synthetic_clips", "clips_from_predictions", "evaluate_clips", "results_table",
           "methods_from_checkpoints"]

FPS_NOMINAL = 30.0


@dataclass
class Clip:
    """One evaluation sequence: ground truth and the per-frame input (camera frame)."""

    name: str
    gt_rotmats: torch.Tensor   # (N, 24, 3, 3)
    gt_betas: torch.Tensor     # (N, NB)
    in_pose6d: torch.Tensor    # (N, 24, 6)
    in_betas: torch.Tensor     # (N, NB)
    valid: torch.Tensor        # (N,) bool


@dataclass
class Method:
    name: str
    run: Runner | None         # None: the per-frame input itself (gaps hold the last estimate)
    lag: int = 0
    window: int = 16


def _missing_mask(n: int, ratio: float, g: torch.Generator, max_burst: int = 4) -> torch.Tensor:
    """(n,) bool valid mask with ~``ratio`` of the frames missing in bursts of 1..max_burst (frame 0 kept)."""
    valid = torch.ones(n, dtype=torch.bool)
    target = int(round(ratio * n))
    while int((~valid).sum()) < target:
        length = int(torch.randint(1, max_burst + 1, (1,), generator=g))
        start = int(torch.randint(1, max(n - length, 2), (1,), generator=g))
        valid[start:start + length] = False
        valid[0] = True
    return valid


def synthetic_clips(seqs, noise: NoiseModel | None, missing_ratio: float = 0.0, seed: int = 123,
                    num_betas: int = 10, max_pitch_deg: float = 15.0) -> list[Clip]:
    """Clips of held-out sequences seen from one random static camera each, with per-frame noise."""
    clips = []
    for i, s in enumerate(seqs):
        g = torch.Generator().manual_seed(seed + 7919 * i)
        n = s.num_frames
        view = random_view_rotation(1, g, max_pitch_deg)
        gt = apply_view(torch.as_tensor(s.rotmats, dtype=torch.float32)[None], view)[0]
        b = torch.zeros(num_betas)
        k = min(num_betas, len(s.shape))
        b[:k] = torch.as_tensor(np.asarray(s.shape, np.float32)[:k])
        betas = b.expand(n, -1).clone()
        noisy = gt if noise is None else apply_rotation_noise(gt, noise.sample(1, n, g)[0])
        valid = _missing_mask(n, missing_ratio, g) if missing_ratio > 0 else torch.ones(n, dtype=torch.bool)
        clips.append(Clip(s.sequence, gt, betas, rotmat_to_rot6d(noisy), betas.clone(), valid))
    return clips


def clips_from_predictions(path: str | Path, num_betas: int = 10) -> list[Clip]:
    """Clips from a per-frame model's predictions (format in the module docstring)."""
    with np.load(path, allow_pickle=False) as z:
        pred = torch.as_tensor(z["pred_pose6d"], dtype=torch.float32)
        gt = (rot6d_to_rotmat(torch.as_tensor(z["gt_pose6d"], dtype=torch.float32)) if "gt_pose6d" in z
              else torch.as_tensor(z["gt_rotmats"], dtype=torch.float32))
        n = pred.shape[0]
        gb = torch.as_tensor(z["gt_betas"], dtype=torch.float32) if "gt_betas" in z else torch.zeros(n, num_betas)
        pb = torch.as_tensor(z["pred_betas"], dtype=torch.float32) if "pred_betas" in z else gb.clone()
        valid = torch.as_tensor(z["valid"], dtype=torch.bool) if "valid" in z else torch.ones(n, dtype=torch.bool)
        seq = np.asarray(z["sequence"]) if "sequence" in z else np.zeros(n, dtype="<U1")
    clips = []
    bounds = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        clips.append(Clip(str(seq[a]), gt[a:b], gb[a:b, :num_betas], pred[a:b], pb[a:b, :num_betas], valid[a:b]))
    return clips


def evaluate_clips(clips: list[Clip], methods: list[Method],
                   fk: SkeletonFK | None = None) -> dict[str, dict[str, float]]:
    """MPJPE / PA-MPJPE / accel error (mm) of every method over all clips (frame-weighted means).

    Joints are computed with the ground-truth shape for every method, so the numbers measure pose.
    """
    fk = fk or SkeletonFK()
    kmax = max(m.lag for m in methods)
    keys = ("mpjpe", "pa_mpjpe", "accel_err", "accel")
    acc: dict[str, dict[str, list[torch.Tensor]]] = {m.name: {k: [] for k in keys} for m in methods}
    gt_accel = []
    for c in clips:
        n = c.gt_rotmats.shape[0] - kmax
        if n < 3:
            continue
        with torch.no_grad():
            gt_j = fk(c.gt_rotmats[:n], c.gt_betas[:n])
        gt_accel.append(metrics.accel(gt_j))
        for m in methods:
            if m.run is None:
                est = hold_last_valid(c.in_pose6d, c.valid)[:n]
            else:
                est = stream_estimates(m.run, c.in_pose6d, c.in_betas, c.valid, m.window, m.lag)[:n]
            with torch.no_grad():
                j = fk(rot6d_to_rotmat(est), c.gt_betas[:n])
            a = acc[m.name]
            a["mpjpe"].append(metrics.mpjpe(j, gt_j))
            a["pa_mpjpe"].append(metrics.pa_mpjpe(j, gt_j))
            a["accel_err"].append(metrics.accel_error(j, gt_j))
            a["accel"].append(metrics.accel(j))
    out = {}
    for m in methods:
        out[m.name] = {k: float(torch.cat(v).mean()) if v else float("nan") for k, v in acc[m.name].items()}
        out[m.name]["lag"] = m.lag
    out["_gt"] = {"accel": float(torch.cat(gt_accel).mean()) if gt_accel else float("nan"),
                  "frames": int(sum(c.gt_rotmats.shape[0] - kmax for c in clips)), "clips": len(clips)}
    return out


def results_table(results: dict[str, dict[str, float]], baseline: str = "per-frame input",
                  fps: float = FPS_NOMINAL) -> str:
    """Markdown table of :func:`evaluate_clips` results."""
    base = results.get(baseline)
    lines = ["| method | latency | MPJPE (mm) | PA-MPJPE (mm) | accel error (mm/f²) | accel error vs per-frame |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name.startswith("_"):
            continue
        lat = "0" if r["lag"] == 0 else f"{r['lag']} frames ({1000 * r['lag'] / fps:.0f} ms @ {fps:g} fps)"
        ratio = (f"÷{base['accel_err'] / r['accel_err']:.1f}" if base and name != baseline and r["accel_err"] > 0
                 else "—")
        lines.append(f"| {name} | {lat} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['accel_err']:.1f} | {ratio} |")
    return "\n".join(lines)


def method_name(model_or_meta_mode: str, lag: int) -> str:
    return "PoseBERT causal" if lag == 0 and model_or_meta_mode != "full" else (
        "PoseBERT full (offline)" if model_or_meta_mode == "full" else f"PoseBERT lag {lag}")


def methods_from_checkpoints(paths: list[str]) -> tuple[list[Method], list[dict[str, Any]]]:
    from training.posebert.checkpoint import load_model
    methods, ckpts = [], []
    for p in paths:
        model, ck = load_model(p)
        lag = model.lag
        methods.append(Method(method_name(model.mode, lag), torch_runner(model), lag, model.window))
        ckpts.append(ck)
    return methods, ckpts


def methods_from_onnx(paths: list[str]) -> list[Method]:
    from pose_estimation_ros.perception.metadata import load_metadata
    out = []
    for p in paths:
        meta = load_metadata(p)
        lag = int(meta.architecture.get("lag", 0))
        out.append(Method(method_name(meta.architecture.get("mode", "causal"), lag) + f" [onnx {Path(p).name}]",
                          onnx_runner(p), lag, int(meta.window)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", nargs="*", default=[], help="PoseBERT training checkpoints")
    p.add_argument("--onnx", nargs="*", default=[], help="exported temporal ONNX files (metadata beside them)")
    p.add_argument("--config", default=None, help="run config for the data section (default: first checkpoint's)")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--motion-dirs", nargs="*", default=None)
    p.add_argument("--subjects", nargs="*", default=None, help="override the split's subjects")
    p.add_argument("--noise", default="gaussian", choices=["gaussian", "fitted", "none"])
    p.add_argument("--noise-std", type=float, nargs="+", default=None, help="gaussian std (deg), one or more levels")
    p.add_argument("--noise-model", default="", help="fitted noise JSON (with --noise fitted)")
    p.add_argument("--missing", type=float, nargs="+", default=[0.0], help="fractions of missing detections")
    p.add_argument("--per-frame-preds", default=None, help="npz of real per-frame predictions (no synthetic noise)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="markdown file for the tables")
    p.add_argument("--json", default=None, help="json file for the raw numbers")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if not a.ckpt and not a.onnx:
        p.error("give --ckpt and/or --onnx")

    methods, ckpts = methods_from_checkpoints(a.ckpt)
    methods += methods_from_onnx(a.onnx)
    window = methods[0].window
    methods.insert(0, Method("per-frame input", None, 0, window))

    from training.posebert.config import load_config
    cfg = (load_config(a.config) if a.config else config_from_dict(ckpts[0]["config"]) if ckpts else None)
    ecfg = cfg.eval if cfg else EvalConfig()
    seed = ecfg.seed if a.seed is None else a.seed
    sections, raw = [], {}
    if a.per_frame_preds:
        clips = clips_from_predictions(a.per_frame_preds)
        res = evaluate_clips(clips, methods)
        title = f"Real per-frame predictions ({Path(a.per_frame_preds).name}, {res['_gt']['frames']} frames)"
        sections.append((title, res))
        raw[title] = res
    else:
        from training.posebert.data import load_sequences, split_by_subject, synthetic_sequences
        if cfg is None:
            p.error("--onnx alone needs --config for the data section")
        d = cfg.data
        if d.synthetic and not a.motion_dirs:
            seqs = synthetic_sequences(8, d.synthetic_frames, d.fps, seed=999)
        else:
            seqs = load_sequences(a.motion_dirs or d.motion_dirs, d.fps)
            by_split = {"test": d.test_subjects, "val": d.val_subjects, "train": d.train_subjects}
            subjects = a.subjects or by_split[a.split]
            seqs = split_by_subject(seqs, subjects)
        if not seqs:
            p.error("no sequences for this split")
        stds = a.noise_std or [ecfg.noise_std_deg]
        for std in (stds if a.noise == "gaussian" else [0.0]):
            noise = make_noise_model(a.noise, std, a.noise_model)
            for miss in a.missing:
                clips = synthetic_clips(seqs, noise, miss, seed)
                res = evaluate_clips(clips, methods)
                what = noise.describe() if noise else "no noise"
                title = (f"{a.split} split ({len(clips)} clips, {res['_gt']['frames']} frames, subjects "
                         f"{','.join(sorted({s.subject for s in seqs}))}): per-frame input = ground truth + {what}"
                         + (f", {100 * miss:g}% detections missing" if miss else ""))
                sections.append((title, res))
                raw[title] = res
    text = []
    for title, res in sections:
        text.append(f"**{title}** (ground-truth accel {res['_gt']['accel']:.1f} mm/f²)\n\n{results_table(res)}\n")
    md = "\n".join(text)
    print(md)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(md)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
