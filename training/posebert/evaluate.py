"""Evaluate PoseBERT on held-out motion: per-frame input vs PoseBERT causal vs lagged, streamed as the runtime runs.

From a checkout, after importing the motion (``python -m training.mocap_cli import-mocap ... --out runs/mocap``),
with nothing else: the committed ONNX models on the held-out test subjects of ``runs/mocap/splits.json``,
one table per rig (joint map), at the 5 deg default input noise::

    python -m training.posebert.evaluate

Options (all optional): ``--onnx FILE...`` (default ``models/posebert.onnx models/posebert_lag4.onnx``),
``--ckpt FILE...`` (training checkpoints, also or instead), ``--motion-dirs DIR...`` (default
``runs/mocap``), ``--split test|val|train`` (subjects from ``--splits`` = ``<motion dir>/splits.json``,
else the config's lists), ``--subjects ID...`` (override), ``--config YAML`` (a run config: data
section, fps, seed), ``--noise gaussian|fitted|none``, ``--noise-std DEG...`` (levels),
``--noise-model JSON`` (fitted), ``--missing FRACTION...`` (``--missing-std DEG``: those only at that
level), ``--per-rig / --no-per-rig``,
``--per-frame-preds NPZ``, ``--out MD``, ``--json FILE``. Example (README tables)::

    python -m training.posebert.evaluate --noise-std 2.5 5 10 --missing 0 0.25 --missing-std 5 --out docs/posebert_results.md

Real per-frame model outputs (once the per-frame model is trained; no synthetic noise)::

    python -m training.posebert.evaluate --per-frame-preds preds.npz

``preds.npz``: ``pred_pose6d`` (N,24,6), ``gt_pose6d`` (N,24,6) or ``gt_rotmats`` (N,24,3,3) in the
same (camera) frame, optional ``pred_betas`` / ``gt_betas`` (N,NB), ``valid`` (N,) bool (False = no
detection) and ``sequence`` (N,) ids with each sequence's frames consecutive, in time order.

Joints are computed with the models' body (metadata ``architecture.body_model``: anny, skeleton, ...)
and the ground-truth shape. Every method is scored on the same frames (each sequence minus its last
``max lag`` frames, which a lagged model has not output yet when the stream ends). A missing file or
folder ends with exit code 2 and one line naming it.
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
        # orthonormal 6D, as the runtime hands PoseBERT (a raw model output has arbitrary column norms)
        pred = rotmat_to_rot6d(rot6d_to_rotmat(torch.as_tensor(z["pred_pose6d"], dtype=torch.float32)))
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


def body_joints_fn(body):
    """``fk(rotmats (N, 24, 3, 3), betas (N, NB)) -> joints (N, 24, 3)`` (pelvis at 0) with ``body``;
    rest joints computed once when the shape is constant over the clip (Anny's shape model is costly)."""
    from training.body.base import forward_kinematics

    def fk(rot: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if betas.shape[0] and torch.equal(betas, betas[:1].expand_as(betas)):
                try:
                    return forward_kinematics(rot, body.rest_joints(betas[:1]).to(rot.dtype))
                except NotImplementedError:
                    pass
            j = body.joints(rot, betas)
            return j - j[..., :1, :]
    return fk


def evaluate_clips(clips: list[Clip], methods: list[Method],
                   fk=None) -> dict[str, dict[str, float]]:
    """MPJPE / PA-MPJPE / accel error (mm) of every method over all clips (frame-weighted means).

    Joints are computed with the ground-truth shape for every method, so the numbers measure pose;
    ``fk(rotmats, betas)`` (default :class:`SkeletonFK`; :func:`body_joints_fn` for a body model).
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


def combine_results(parts: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Frame-weighted combination of :func:`evaluate_clips` results of disjoint clip sets."""
    w = np.array([p["_gt"]["frames"] for p in parts], float)
    out: dict[str, dict[str, float]] = {}
    for name in parts[0]:
        if name == "_gt":
            continue
        out[name] = {k: float(np.average([p[name][k] for p in parts], weights=w)) for k in parts[0][name] if k != "lag"}
        out[name]["lag"] = parts[0][name]["lag"]
    out["_gt"] = {"accel": float(np.average([p["_gt"]["accel"] for p in parts], weights=w)),
                  "frames": int(w.sum()), "clips": int(sum(p["_gt"]["clips"] for p in parts))}
    return out


def rig_summary_table(raw: dict[str, dict]) -> str:
    """One row per (rig, scenario): PA-MPJPE and MPJPE of the input and every model, accel error ratios."""
    rows = [(v["_meta"], v) for v in raw.values() if "_meta" in v]
    if not rows:
        return ""
    names = [k for k in rows[0][1] if not k.startswith("_") and k != "per-frame input"]
    short = [n.replace("PoseBERT ", "").split(" [")[0] for n in names]
    head = ("| rig | input | frames | PA-MPJPE in / " + " / ".join(short) + " | MPJPE in / " + " / ".join(short)
            + " | accel err in / " + " / ".join(short) + " |")
    lines = [head, "|" + "---|" * 6]
    for meta, r in rows:
        scen = (f"{meta['noise_std_deg']:g}°" if meta["noise_std_deg"] else "no noise") + (
            f", {100 * meta['missing']:g}% missing" if meta["missing"] else "")
        inp = r["per-frame input"]
        pa = " / ".join(f"{r[n]['pa_mpjpe']:.1f}" for n in names)
        mp = " / ".join(f"{r[n]['mpjpe']:.1f}" for n in names)
        ac = " / ".join(f"{r[n]['accel_err']:.1f} (÷{inp['accel_err'] / max(r[n]['accel_err'], 1e-9):.1f})" for n in names)
        lines.append(f"| {meta['rig']} | {scen} | {r['_gt']['frames']} | {inp['pa_mpjpe']:.1f} / {pa} | "
                     f"{inp['mpjpe']:.1f} / {mp} | {inp['accel_err']:.1f} / {ac} |")
    return "\n".join(lines)


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
        if not Path(p).is_file():
            raise FileNotFoundError(f"no such ONNX model: {p} (export one: python -m training.export --out models "
                                    f"--temporal-ckpt runs/posebert_causal/ckpt_best.pt)")
        if not Path(p).with_suffix(".json").is_file():
            raise FileNotFoundError(f"{p}: its metadata {Path(p).with_suffix('.json')} is missing")
        meta = load_metadata(p)
        lag = int(meta.architecture.get("lag", 0))
        out.append(Method(method_name(meta.architecture.get("mode", "causal"), lag) + f" [onnx {Path(p).name}]",
                          onnx_runner(p), lag, int(meta.window)))
    return out


def _onnx_body(paths: list[str]) -> tuple[str, int]:
    from pose_estimation_ros.perception.metadata import load_metadata
    bodies = {(str(load_metadata(p).architecture.get("body_model", "skeleton")), int(load_metadata(p).num_betas))
              for p in paths}
    if len(bodies) > 1:
        raise ValueError(f"the ONNX models were built on different bodies: {sorted(bodies)}")
    return bodies.pop()


def rig_of_sequences(motion_dirs: list[str]) -> dict[tuple[str, str], str]:
    """(subject, sequence) -> rig label (joint map; "asf/amc" for AMC sources) from each folder's
    ``import_summary.json`` (empty when absent)."""
    out: dict[tuple[str, str], str] = {}
    for d in motion_dirs:
        f = Path(d) / "import_summary.json"
        if not f.is_file():
            continue
        for r in json.loads(f.read_text()).get("files", []):
            rig = "asf/amc" if r.get("format") == "amc" else str(r.get("joint_map") or r.get("format"))
            out[(str(r.get("subject")), str(r.get("sequence")))] = rig
    return out


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.evaluate", description=__doc__.splitlines()[0],
                                epilog="Details: docs/posebert.md (evaluation).")
    p.add_argument("--ckpt", nargs="*", default=[], help="PoseBERT training checkpoints (runs/<name>/ckpt_best.pt)")
    p.add_argument("--onnx", nargs="*", default=None,
                   help="exported temporal ONNX files, metadata beside them (default: models/posebert.onnx "
                        "models/posebert_lag4.onnx when no --ckpt is given)")
    p.add_argument("--config", default=None, help="run config for the data section (default: first checkpoint's, "
                                                  "else training/configs/posebert_causal.yaml)")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--splits", default=None, help="splits.json (default: <first motion dir>/splits.json when present)")
    p.add_argument("--motion-dirs", nargs="*", default=None, help="canonical motion folders (default: the config's, "
                                                                  "runs/mocap)")
    p.add_argument("--subjects", nargs="*", default=None, help="override the split's subjects")
    p.add_argument("--per-rig", action=argparse.BooleanOptionalAction, default=True,
                   help="one table per rig (joint map of import_summary.json) as well as all together")
    p.add_argument("--noise", default="gaussian", choices=["gaussian", "fitted", "none"])
    p.add_argument("--noise-std", type=float, nargs="+", default=None, help="gaussian std (deg), one or more levels")
    p.add_argument("--noise-model", default="", help="fitted noise JSON (with --noise fitted)")
    p.add_argument("--missing", type=float, nargs="+", default=[0.0], help="fractions of missing detections")
    p.add_argument("--missing-std", type=float, default=None,
                   help="run the missing-detection scenarios only at this noise level (default: at every level)")
    p.add_argument("--per-frame-preds", default=None, help="npz of real per-frame predictions (no synthetic noise)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="markdown file for the tables")
    p.add_argument("--json", default=None, help="json file for the raw numbers")
    a = p.parse_args(argv)
    try:
        return _run(a)
    except (FileNotFoundError, ValueError, _UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(a: argparse.Namespace) -> int:
    from training.posebert.config import load_config
    from training.posebert.data import load_sequences, read_splits, same_subject, split_by_subject, synthetic_sequences
    torch.set_num_threads(a.threads)
    onnx = a.onnx if a.onnx is not None else ([] if a.ckpt else ["models/posebert.onnx", "models/posebert_lag4.onnx"])
    for c in a.ckpt:
        if not Path(c).is_file():
            raise FileNotFoundError(f"no such checkpoint: {c} (train one: python -m training.posebert.train --config "
                                    f"training/configs/posebert_causal.yaml)")
    if a.config and not Path(a.config).is_file():
        raise FileNotFoundError(f"no such config: {a.config}")
    if a.per_frame_preds and not Path(a.per_frame_preds).is_file():
        raise FileNotFoundError(f"no such predictions file: {a.per_frame_preds}")
    if not a.ckpt and not onnx:
        raise _UsageError("nothing to evaluate: give --onnx and/or --ckpt")
    methods, ckpts = methods_from_checkpoints(a.ckpt)
    methods += methods_from_onnx(onnx)
    window = methods[0].window
    methods.insert(0, Method("per-frame input", None, 0, window))

    default_cfg = Path("training/configs/posebert_causal.yaml")
    cfg = (load_config(a.config) if a.config else config_from_dict(ckpts[0]["config"]) if ckpts
           else load_config(default_cfg) if default_cfg.is_file() else None)
    ecfg = cfg.eval if cfg else EvalConfig()
    seed = ecfg.seed if a.seed is None else a.seed
    if ckpts:
        body_name, nb = ckpts[0]["model_config"].get("body_model", "skeleton"), int(ckpts[0]["model_config"]["num_betas"])
    else:
        body_name, nb = _onnx_body(onnx)
    from training.posebert.checkpoint import build_body
    from training.posebert.config import ModelConfig
    fk = body_joints_fn(build_body(ModelConfig(body_model=body_name, num_betas=nb)))
    sections, raw = [], {}
    if a.per_frame_preds:
        clips = clips_from_predictions(a.per_frame_preds, nb)
        res = evaluate_clips(clips, methods, fk)
        title = f"Real per-frame predictions ({Path(a.per_frame_preds).name}, {res['_gt']['frames']} frames)"
        sections.append((title, res))
        raw[title] = res
    else:
        d = cfg.data if cfg else None
        fps = d.fps if d else FPS_NOMINAL
        if d is not None and d.synthetic and not a.motion_dirs:
            seqs = synthetic_sequences(8, d.synthetic_frames, d.fps, seed=999)
            rigs = {}
        else:
            dirs = a.motion_dirs or (d.motion_dirs if d else ["runs/mocap"])
            for m in dirs:
                if not Path(m).is_dir():
                    raise FileNotFoundError(
                        f"motion folder {m} not found: import the mocap first (python -m training.mocap_cli "
                        f"import-mocap ../shared/data/cmu ../shared/data/cmu-cc ../shared/data/cmu-more --out {m} "
                        f"--body anny; docs/motion_capture.md) or pass --motion-dirs")
            seqs = load_sequences(dirs, fps)
            if not seqs:
                raise FileNotFoundError(f"no canonical motion files under {', '.join(dirs)}")
            splits_path = Path(a.splits) if a.splits else Path(dirs[0]) / "splits.json"
            if a.splits and not splits_path.is_file():
                raise FileNotFoundError(f"no such splits file: {a.splits}")
            if a.subjects:
                subjects = a.subjects
            elif splits_path.is_file():
                subjects = read_splits(splits_path)[a.split]
            elif d is not None:
                subjects = {"test": d.test_subjects, "val": d.val_subjects, "train": d.train_subjects}[a.split]
            else:
                raise _UsageError("no splits.json and no config: pass --subjects")
            seqs = split_by_subject(seqs, subjects)
            rigs = rig_of_sequences(dirs) if a.per_rig else {}
        if not seqs:
            raise _UsageError(f"no sequences for the {a.split} split")
        groups: dict[str, list] = {"all rigs": seqs}
        for s_ in seqs:
            r = rigs.get((s_.subject, s_.sequence))
            if r:
                groups.setdefault(r, []).append(s_)
        if len(groups) == 2:                    # one rig only: the per-rig table is the same
            groups = {k: v for k, v in groups.items() if k != "all rigs"}
        stds = a.noise_std or [ecfg.noise_std_deg]
        for std in (stds if a.noise == "gaussian" else [0.0]):
            noise = make_noise_model(a.noise, std, a.noise_model)
            for miss in a.missing:
                if miss > 0 and a.missing_std is not None and abs(std - a.missing_std) > 1e-9:
                    continue
                done: dict[str, dict] = {}
                for gname, gseqs in groups.items():
                    if gname == "all rigs" and len(groups) > 1:
                        continue                  # combined from the rigs below (the same clips and noise)
                    clips = synthetic_clips(gseqs, noise, miss, seed, nb)
                    done[gname] = (gseqs, evaluate_clips(clips, methods, fk))
                if "all rigs" in groups and len(groups) > 1:
                    done = {"all rigs": (groups["all rigs"], combine_results([r for _, r in done.values()])), **done}
                for gname, (gseqs, res) in done.items():
                    what = noise.describe() if noise else "no noise"
                    title = (f"{gname}: {a.split} split ({res['_gt']['clips']} clips, {res['_gt']['frames']} frames, subjects "
                             f"{','.join(sorted({s.subject for s in gseqs}, key=lambda x: (len(x), x)))}): per-frame "
                             f"input = ground truth + {what}" + (f", {100 * miss:g}% detections missing" if miss else ""))
                    sections.append((title, res))
                    raw[title] = {**res, "_meta": {"rig": gname, "noise_std_deg": std if noise else 0.0,
                                                   "missing": miss}}
    text = []
    for title, res in sections:
        text.append(f"**{title}** (ground-truth accel {res['_gt']['accel']:.1f} mm/f²)\n\n{results_table(res)}\n")
    md = "\n".join(text)
    summary = rig_summary_table(raw)
    if summary:
        md = f"**Summary per rig** (errors in mm, accel in mm/frame²; ÷ = accel error of the input over the model's)\n\n{summary}\n\n" + md
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
