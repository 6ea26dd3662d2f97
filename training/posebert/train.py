"""Train PoseBERT on motion capture alone (corrupted ground-truth windows), CPU-friendly.

    python -m training.posebert.train --config training/configs/posebert_causal.yaml [--out runs/posebert_causal]
        [--set train.steps=500 model.dim=64 ...] [--no-resume] [--no-progress]

Writes into the run directory (default ``runs/<config name>``): ``config.yaml`` (the resolved config),
``tb/`` (TensorBoard: losses, lr, validation metrics), ``ckpt_last.pt`` (every ``train.ckpt_every``
steps and at the end, with optimizer / scheduler / RNG states: rerunning the same command resumes from
it), ``ckpt_best.pt`` (best validation MPJPE of the streamed read-out frame) and ``summary.json``.
Export a checkpoint with ``python -m training.export --out models --temporal-ckpt runs/.../ckpt_best.pt``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.posebert.checkpoint import build_model
from training.posebert.config import PoseBERTConfig, apply_overrides, load_config, save_config
from training.posebert.corruption import corrupt
from training.posebert.data import (CAM_FROM_WORLD, MotionBank, apply_view, crouch_offset, load_sequences, mirror,
                                    random_global_rotation, random_pose_offset, random_view_rotation, read_splits,
                                    split_by_subject, synthetic_sequences)
from training.posebert.evaluate import Method, body_joints_fn, evaluate_clips, synthetic_clips
from training.posebert.losses import PoseBERTLoss
from training.posebert.noise_model import FittedNoise, GaussianNoise, WindowMix, make_noise_model, rms_std_deg
from training.posebert.stream import torch_runner

__all__ = ["train", "load_data", "frame_weights", "noise_scales", "mix_fitted", "fitted_mixture_model", "subject_lists", "validation_score", "level_ratio", "score_from_ratios",
           "relative_window_weights", "main"]


def _log(msg: str) -> None:
    print(f"[posebert.train] {msg}", flush=True)


def frame_weights(valid: torch.Tensor, attention: str, lag: int, readout_weight: float) -> torch.Tensor:
    """(B, T) loss weights: 0 for frames whose receptive field (frames ``<= i + lag``, or all frames
    with full attention) holds no valid input (nothing to estimate from), 1 otherwise, plus
    ``readout_weight`` on the frame the runtime reads (``T-1-lag``)."""
    b, t = valid.shape
    if attention == "full":
        has = valid.any(dim=1, keepdim=True).expand(b, t)
    else:
        cum = valid.long().cumsum(dim=1)
        has = cum[:, (torch.arange(t) + lag).clamp(max=t - 1)] > 0
    w = has.float()
    w[:, t - 1 - lag] *= 1.0 + readout_weight
    return w


def noise_scales(cfg: PoseBERTConfig, step: int, batch: int, generator: torch.Generator | None = None
                 ) -> torch.Tensor | None:
    """(B,) per-window multipliers of ``corruption.noise_std_deg`` for the noise curriculum (None: off).

    Per-window std ~ U(noise_std_min_deg, s_max) (``noise_sampling: uniform``) or log-uniform between
    ``max(noise_std_min_deg, noise_log_min_deg)`` and ``s_max`` (``loguniform``), with ``s_max`` growing
    linearly from ``curriculum_start_deg`` to ``noise_std_max_deg`` over ``curriculum_steps``; a
    ``clean_prob`` fraction of windows gets no noise (the model must learn to leave a good input alone)."""
    c = cfg.corruption
    if c.curriculum_steps <= 0 or c.noise_std_max_deg <= 0 or c.noise != "gaussian" or c.noise_std_deg <= 0:
        return None
    prog = min(step / c.curriculum_steps, 1.0)
    hi = c.curriculum_start_deg + (c.noise_std_max_deg - c.curriculum_start_deg) * prog
    u = torch.rand(batch, generator=generator)
    if c.noise_sampling == "loguniform":
        lo = min(max(c.noise_std_min_deg, c.noise_log_min_deg, 1e-3), hi)
        std = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
    elif c.noise_sampling == "uniform":
        lo = min(c.noise_std_min_deg, hi)
        std = lo + (hi - lo) * u
    else:
        raise ValueError(f"unknown corruption.noise_sampling '{c.noise_sampling}' (uniform | loguniform)")
    if c.clean_prob > 0:
        std = torch.where(torch.rand(batch, generator=generator) < c.clean_prob, torch.zeros_like(std), std)
    return std / c.noise_std_deg


def fitted_mixture_model(cfg: PoseBERTConfig) -> FittedNoise | None:
    """The fitted per-frame error model mixed into the Gaussian curriculum (``corruption.fitted_prob`` > 0), or None."""
    c = cfg.corruption
    if not 0 <= c.fitted_prob <= 1:
        raise ValueError(f"corruption.fitted_prob must be in [0, 1], got {c.fitted_prob}")
    if c.fitted_prob == 0:
        return None
    if c.noise != "gaussian":
        raise ValueError(f"corruption.fitted_prob mixes into the gaussian noise, not '{c.noise}'")
    if not c.fitted_model or not Path(c.fitted_model).is_file():
        raise FileNotFoundError(f"corruption.fitted_prob needs corruption.fitted_model, a JSON written by "
                                f"`python -m training.posebert.noise_model fit` (got '{c.fitted_model}')")
    if not 0 <= c.fitted_scale_min <= c.fitted_scale_max:
        raise ValueError(f"need 0 <= fitted_scale_min <= fitted_scale_max, got {c.fitted_scale_min}, {c.fitted_scale_max}")
    return FittedNoise.load(c.fitted_model)


def mix_fitted(cfg: PoseBERTConfig, noise, fitted: FittedNoise | None, scale: torch.Tensor | None, batch: int,
               generator: torch.Generator | None = None):
    """This step's noise model and per-window input noise std (deg, (B,) or None).

    Without ``fitted``: ``noise`` and the curriculum's std. With it: a :class:`WindowMix` where a
    ``fitted_prob`` fraction of windows takes the fitted model scaled by U(fitted_scale_min, fitted_scale_max),
    whose std is that scale x the model's rms std.
    """
    c = cfg.corruption
    std = None if scale is None else scale * c.noise_std_deg
    if fitted is None or noise is None:
        return noise, std
    use = torch.rand(batch, generator=generator) < c.fitted_prob
    fs = c.fitted_scale_min + torch.rand(batch, generator=generator) * (c.fitted_scale_max - c.fitted_scale_min)
    if std is None:
        std = torch.full((batch,), float(c.noise_std_deg))
    std = torch.where(use, fs * rms_std_deg(fitted), std)
    return WindowMix(noise, fitted, use, fs), std


def relative_window_weights(std_deg: torch.Tensor, offset_deg: float) -> torch.Tensor:
    """(B,) per-window loss weights ``1 / (std + offset)`` normalised to mean 1 (``std_deg``: (B,) input
    noise std per window in degrees, 0 for clean windows)."""
    w = 1.0 / (std_deg.clamp_min(0) + offset_deg)
    return w / w.mean()


def level_ratio(model: dict[str, float], inp: dict[str, float]) -> float:
    """``(MPJPE / input MPJPE + PA-MPJPE / input PA-MPJPE) / 2`` at one noise level (< 1: better than the input)."""
    return 0.5 * (model["mpjpe"] / max(inp["mpjpe"], 1e-9) + model["pa_mpjpe"] / max(inp["pa_mpjpe"], 1e-9))


def score_from_ratios(ratios: list[float]) -> float:
    """Mean of the per-level ratios plus every level's excess over 1: a level where the model is worse
    than its input counts twice (the model must never degrade a good input, whatever it gains elsewhere)."""
    r = np.asarray(ratios, float)
    return float(r.mean() + np.clip(r - 1.0, 0.0, None).sum())


def validation_score(model_res: dict[float, dict[str, float]], input_res: dict[float, dict[str, float]],
                     accel_weight: float = 0.0) -> float:
    """:func:`score_from_ratios` of the :func:`level_ratio` of every validation noise level, plus
    ``accel_weight`` x the mean accel-error ratio to the input (lower is better)."""
    score = score_from_ratios([level_ratio(m, input_res[lv]) for lv, m in model_res.items()])
    if accel_weight > 0:
        score += accel_weight * float(np.mean([m["accel_err"] / max(input_res[lv]["accel_err"], 1e-9)
                                               for lv, m in model_res.items()]))
    return score


def subject_lists(cfg: PoseBERTConfig) -> tuple[list[str], list[str], list[str]]:
    """(train, val, test) subjects: from ``data.splits_file`` when set, else the config's lists."""
    d = cfg.data
    if d.splits_file:
        sp = read_splits(d.splits_file)
        return sp["train"], sp["val"], sp["test"]
    return list(d.train_subjects), list(d.val_subjects), list(d.test_subjects)


def load_data(cfg: PoseBERTConfig) -> tuple[list, list, list]:
    """(train, val, test) sequences at ``data.fps``, split by subject (or synthetic)."""
    d = cfg.data
    if d.synthetic:
        seqs = synthetic_sequences(d.synthetic_sequences, d.synthetic_frames, d.fps, seed=cfg.train.seed, subjects=4)
        return ([s for s in seqs if s.subject != "syn3"], [s for s in seqs if s.subject == "syn3"],
                synthetic_sequences(4, d.synthetic_frames, d.fps, seed=cfg.train.seed + 1, subjects=1))
    seqs = load_sequences(d.motion_dirs, d.fps)
    lists = subject_lists(cfg)
    splits = tuple(split_by_subject(seqs, s) for s in lists)
    if not splits[0]:
        found = sorted({s.subject for s in seqs})
        raise ValueError(f"no training sequences for subjects {lists[0]} in {d.motion_dirs} (found {found})")
    return splits


def describe_training(cfg: PoseBERTConfig, bank: MotionBank, step: int, best_step: int | None) -> str:
    c, d = cfg.corruption, cfg.data
    origins = sorted({Path(s.source).parent.name for s in bank.sequences if s.source})
    src = ("synthetic random motions" if d.synthetic else
           f"motion capture ({', '.join(origins) or 'unknown source'}; imported to {', '.join(d.motion_dirs)})")
    noise = {"gaussian": f"gaussian {c.noise_std_deg:g} deg", "fitted": f"fitted {Path(c.noise_model).name}",
             "none": "no noise"}[c.noise]
    if c.noise == "gaussian" and c.curriculum_steps > 0 and c.noise_std_max_deg > 0:
        lo = max(c.noise_std_min_deg, c.noise_log_min_deg) if c.noise_sampling == "loguniform" else c.noise_std_min_deg
        dist = "log-uniform" if c.noise_sampling == "loguniform" else "U"
        noise = (f"gaussian curriculum {dist}({lo:g}, {c.curriculum_start_deg:g}->{c.noise_std_max_deg:g}) deg "
                 f"over {c.curriculum_steps} steps, {100 * c.clean_prob:g}% clean windows")
    if c.noise == "gaussian" and c.fitted_prob > 0:
        noise += (f"; {100 * c.fitted_prob:g}% windows the fitted per-frame error model {Path(c.fitted_model).name} "
                  f"x U({c.fitted_scale_min:g}, {c.fitted_scale_max:g})")
    tr, va, te = subject_lists(cfg)
    aug = []
    if d.global_rot_prob > 0:
        aug.append(f"{100 * d.global_rot_prob:g}% windows whole-body random rotation")
    if d.crouch_prob > 0:
        aug.append(f"{100 * d.crouch_prob:g}% crouch flexion")
    return (f"{src}: train subjects {','.join(tr) if not d.synthetic else 'syn0-2'} "
            f"({bank.describe()}) at {d.fps:g} fps; val subjects {','.join(va)}, test subjects "
            f"{','.join(te)}; inputs corrupted: {noise}, mask {100 * c.mask_ratio:g}%, "
            f"replace {100 * c.replace_ratio:g}%, dropout bursts p={c.dropout_prob:g}"
            + (f"; augmentation: {', '.join(aug)}" if aug else "")
            + (f"; loss weight 1/(std + {cfg.train.relative_weight_deg:g} deg) per window" if cfg.train.relative_weight_deg > 0
               else "") + f"; w_accel {cfg.train.w_accel:g}; body {cfg.model.body_model}"
            + (f"; initialised from {Path(cfg.train.init_from).name} (the previous model)" if cfg.train.init_from else "")
            + f"; run '{cfg.name}' "
            f"{step} steps" + (f", best val at step {best_step}" if best_step is not None else ""))


def _lr_lambda(cfg: PoseBERTConfig):
    warm, total = max(cfg.train.warmup_steps, 1), max(cfg.train.steps, 1)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        prog = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog))
    return f


def _writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
        return SummaryWriter(str(path))
    except ImportError:  # pragma: no cover
        _log("tensorboard not installed: no TensorBoard logs")
        return None


def train(cfg: PoseBERTConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          data: tuple[list, list, list] | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Train (or resume) one run; returns the summary (also written to ``summary.json``).

    ``stop_after``: stop once this step is reached (a checkpoint is written), as an interruption would;
    running again resumes from there with the same schedule.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    tc, mc = cfg.train, cfg.model
    torch.set_num_threads(max(tc.threads, 1))
    random.seed(tc.seed)
    np.random.seed(tc.seed)
    torch.manual_seed(tc.seed)
    gen = torch.Generator().manual_seed(tc.seed)

    train_seqs, val_seqs, _ = data if data is not None else load_data(cfg)
    bank = MotionBank(train_seqs, mc.window, mc.num_betas)
    noise = make_noise_model(cfg.corruption.noise, cfg.corruption.noise_std_deg, cfg.corruption.noise_model)
    fitted = fitted_mixture_model(cfg)
    levels = [float(x) for x in cfg.eval.val_noise_levels] or [cfg.eval.noise_std_deg]
    val_sets = {lv: synthetic_clips(val_seqs, GaussianNoise(lv), 0.0, cfg.eval.seed, mc.num_betas,
                                    cfg.data.max_pitch_deg) for lv in levels} if val_seqs else {}
    val_clips = val_sets.get(levels[0], [])

    model = build_model(mc)
    loss_fn = PoseBERTLoss(tc.w_rot, tc.w_kp, body=model.body, w_accel=tc.w_accel)  # the model's body
    fk = body_joints_fn(model.body)                                                 # metrics on the same body
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    step, best, best_step, history = 0, float("inf"), None, []
    last = out / "ckpt_last.pt"
    if resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["rng"]["generator"])
        torch.set_rng_state(ck["rng"]["torch"])
        step, best, best_step, history = ck["step"], ck["best_val"], ck.get("best_step"), ck.get("history", [])
        _log(f"resumed {last} at step {step}")
    elif tc.init_from:
        from training.posebert.checkpoint import load_onnx_weights
        prev = load_onnx_weights(model, tc.init_from)
        _log(f"initialised from {tc.init_from} (trained {prev.get('trained')}, body "
             f"{prev.get('architecture', {}).get('body_model', 'skeleton')}): pose network weights, checked against onnxruntime")
    nparams = sum(p.numel() for p in model.parameters())
    _log(f"run '{cfg.name}' -> {out}: {model.mode} L={mc.num_layers} D={mc.dim} T={mc.window} ({nparams / 1e6:.2f} M "
         f"params); train {bank.describe()}; val {len(val_clips)} clips; noise {noise.describe() if noise else 'none'}")
    writer = _writer(out / "tb")

    def checkpoint(path: Path, metrics: dict[str, float] | None = None) -> None:
        torch.save({"model": model.state_dict(), "model_config": vars(mc).copy(), "config": cfg.to_dict(),
                    "step": step, "best_val": best, "best_step": best_step, "metrics": metrics or {},
                    "history": history, "training_data": describe_training(cfg, bank, step, best_step),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state()}}, path)

    base_sets = {lv: evaluate_clips(cl, [Method("input", None, mc.lag, mc.window)], fk)["input"]
                 for lv, cl in val_sets.items()}
    base_val = base_sets.get(levels[0], {})
    best_file = out / "ckpt_best.pt"
    if step > 0 and len(levels) > 1 and best_file.is_file():   # resumed: re-score the kept best with today's score
        m = torch.load(best_file, map_location="cpu", weights_only=True).get("metrics", {})
        if all(f"mpjpe@{lv:g}" in m and f"accel_err@{lv:g}" in m for lv in levels):
            best = validation_score({lv: {k: m[f"{k}@{lv:g}"] for k in ("mpjpe", "pa_mpjpe", "accel_err")}
                                     for lv in levels}, base_sets, cfg.eval.val_accel_weight)
    for lv, b in base_sets.items():
        _log(f"val per-frame input at {lv:g} deg: " + ", ".join(f"{k} {v:.1f}" for k, v in b.items() if k != "lag"))

    def validate() -> dict[str, float]:
        """Metrics at the first level (keys as before) plus, with several levels, ``<metric>@<level>``,
        ``ratio@<level>`` and ``score`` (:func:`validation_score`)."""
        model.eval()
        per = {lv: evaluate_clips(cl, [Method("model", torch_runner(model), mc.lag, mc.window)], fk)["model"]
               for lv, cl in val_sets.items()}
        model.train()
        res = dict(per[levels[0]])
        if len(levels) > 1:
            for lv, r in per.items():
                res.update({f"{k}@{lv:g}": v for k, v in r.items() if k in ("mpjpe", "pa_mpjpe", "accel_err")})
                res[f"ratio@{lv:g}"] = level_ratio(r, base_sets[lv])
            res["score"] = validation_score(per, base_sets, cfg.eval.val_accel_weight)
        return res
    model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=tc.steps, initial=step, disable=not progress, desc=cfg.name, dynamic_ncols=True)
    pool = lambda n: bank.random_frames(n, gen)  # noqa: E731
    dc = cfg.data

    def augment(gt: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if dc.mirror_prob > 0:
            flip = torch.rand(gt.shape[0], generator=gen) < dc.mirror_prob
            gt = torch.where(flip[:, None, None, None, None], mirror(gt), gt)
        if dc.pose_offset_deg > 0:
            gt = gt @ random_pose_offset(gt.shape[0], dc.pose_offset_deg, gen)
        if dc.crouch_prob > 0:
            gt = gt @ crouch_offset(gt.shape[0], dc.crouch_prob, gen)
        if dc.global_rot_prob > 0:
            gt = apply_view(gt, random_global_rotation(gt.shape[0], dc.global_rot_prob, gen))
        return gt, betas

    val_res: dict[str, float] = {}
    end = tc.steps if stop_after is None else min(tc.steps, stop_after)
    while step < end:
        gt, betas = augment(*bank.sample(tc.batch_size, gen))
        view = (random_view_rotation(tc.batch_size, gen, cfg.data.max_pitch_deg) if cfg.data.random_view
                else CAM_FROM_WORLD.expand(tc.batch_size, 3, 3))
        gt = apply_view(gt, view)
        scale = noise_scales(cfg, step, tc.batch_size, gen)
        step_noise, std_deg = mix_fitted(cfg, noise, fitted, scale, tc.batch_size, gen)
        c = corrupt(gt, betas, cfg.corruption, step_noise, gen, pool, view, noise_scale=scale)
        pred = model.regress(c.pose6d, c.valid)
        w = frame_weights(c.valid, mc.attention, mc.lag, tc.readout_weight)
        if tc.relative_weight_deg > 0 and std_deg is not None:
            w = w * relative_window_weights(std_deg, tc.relative_weight_deg)[:, None]
        loss, parts = loss_fn(pred, gt, betas, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        if step % tc.log_every == 0 or step == tc.steps:
            bar.set_postfix(loss=f"{loss.item():.4f}", kp_mm=f"{1000 * parts['kp'].item():.1f}")
            if writer:
                writer.add_scalar("loss/total", loss.item(), step)
                writer.add_scalar("loss/rot", parts["rot"].item(), step)
                writer.add_scalar("loss/kp_m", parts["kp"].item(), step)
                if "accel" in parts:
                    writer.add_scalar("loss/accel_m", parts["accel"].item(), step)
                writer.add_scalar("lr", sched.get_last_lr()[0], step)
        if val_clips and (step % tc.val_every == 0 or step == tc.steps):
            val_res = validate()
            history.append({"step": step, **{k: round(v, 3) for k, v in val_res.items()}})
            if writer:
                for k, v in val_res.items():
                    if k != "lag":
                        writer.add_scalar(f"val/{k}", v, step)
            crit = val_res.get("score", val_res["mpjpe"])
            if crit < best:
                best, best_step = crit, step
                checkpoint(out / "ckpt_best.pt", val_res)
            per_level = "".join(f"; {lv:g} deg: pa {val_res[f'pa_mpjpe@{lv:g}']:.1f} (in {base_sets[lv]['pa_mpjpe']:.1f}) "
                                f"ratio {val_res[f'ratio@{lv:g}']:.3f}" for lv in levels if f"ratio@{lv:g}" in val_res)
            bar.write(f"[posebert.train] step {step}: val mpjpe {val_res['mpjpe']:.1f} pa {val_res['pa_mpjpe']:.1f} "
                      f"accel_err {val_res['accel_err']:.1f}{per_level} (best {'score' if 'score' in val_res else 'mpjpe'} "
                      f"{best:.3f} @ {best_step})")
        if step % tc.ckpt_every == 0 or step == end:
            checkpoint(last, val_res)
    bar.close()
    if not val_clips:
        checkpoint(out / "ckpt_best.pt")
    if writer:
        writer.close()
    criterion = "score" if len(levels) > 1 else "mpjpe"
    summary = {"name": cfg.name, "steps": step, "best_val": best, "best_val_criterion": criterion,
               "best_val_mpjpe": best if criterion == "mpjpe" else None, "best_step": best_step,
               "val_input_levels": {f"{lv:g}": v for lv, v in base_sets.items()},
               "val_input": base_val, "val_last": val_res, "seconds_this_session": round(time.perf_counter() - t0, 1),
               "params": nparams, "training_data": describe_training(cfg, bank, step, best_step)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--out", default=None, help="run directory (default runs/<name>)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.steps=100")
    p.add_argument("--no-resume", action="store_true", help="start from scratch even if ckpt_last.pt exists")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--stop-after", type=int, default=None, help="stop at this step (resume later)")
    a = p.parse_args(argv)
    cfg = apply_overrides(load_config(a.config), a.set)
    out = Path(a.out or f"runs/{cfg.name}")
    summary = train(cfg, out, resume=not a.no_resume, progress=not a.no_progress, stop_after=a.stop_after)
    _log(f"done: {json.dumps({k: summary[k] for k in ('steps', 'best_val', 'best_val_criterion', 'best_step')})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
