"""Train the MoCap-SPIN per-frame model: stage 1 (pretrain) or stage 2 (fine-tune), CPU or DDP.

    python -m training.spin.train --config training/configs/spin_default.yaml [--out runs/spin_default]
        [--set train.steps=500 data.synthetic_ratio=0.5 ...] [--no-resume] [--no-progress] [--stop-after N]
    torchrun --nproc-per-node 2 -m training.spin.train --config ...      # DistributedDataParallel (gloo / nccl)

Every batch mixes ``round(data.synthetic_ratio * B)`` mocap renderings with real (or stand-in real)
crops (:class:`~training.spin.data.MixedBatchSampler`; ratio 1 = renderings only, 0 = real only).
Stage 2 (``train.stage: finetune``) starts from ``train.init_ckpt``, trains ``train.trainable``
(``bn`` = batch-norm affine only, the seed's recipe) and supervises real samples with the stage-1
model's own outputs (``train.pseudo_labels``).

Writes into the run directory: ``config.yaml``, ``tb/`` (TensorBoard), ``ckpt_last.pt`` (every
``train.ckpt_every`` steps: rerunning the same command resumes from it), ``ckpt_best.pt`` (best
validation PA-MPJPE), ``losses.png`` and ``summary.json``. Under torchrun each rank draws its own
samples (shards are split across ranks) and rank 0 writes. Export with
``python -m training.export --out models --per-frame-ckpt runs/<name>/ckpt_best.pt``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from training.geometry.rotations import rot6d_to_rotmat
from training.spin import data as spin_data
from training.spin.checkpoint import build_body, build_model, check_compatible, read_checkpoint
from training.config_io import from_known_keys
from training.models.spin import widen_fc1
from training.spin.config import ModelConfig, SpinConfig, apply_overrides, load_config, save_config
from training.spin.finetune import apply_bn_mode, set_trainable, trainable_parameters
from training.spin.losses import SpinLoss, project_weak

__all__ = ["train", "training_step", "pseudo_label", "evaluate_loader", "main"]


def _log(msg: str) -> None:
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(f"[spin.train] {msg}", flush=True)


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        prog = min((step - warmup) / max(total - warmup, 1), 1.0)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog))
    return f


@torch.no_grad()
def pseudo_label(teacher: torch.nn.Module, images: torch.Tensor, target: dict[str, torch.Tensor], mode: str,
                 size: int, keypoints: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Targets for the real samples (``target['real']``) from the stage-1 ``teacher``'s outputs.

    ``replace``: every label of a real sample is the teacher's (2D = its projection, visibility 1);
    ``fill``: only labels the sample lacks; ``off``: unchanged.
    """
    real = target["real"].bool()
    if mode == "off" or not bool(real.any()):
        return target
    pose6d, betas, cam, joints = (teacher(images[real]) if keypoints is None
                                  else teacher(images[real], keypoints[real]))
    t = {k: v.clone() for k, v in target.items()}
    uv = (project_weak(joints, cam) + 1.0) * (size / 2.0)
    lab = {"joints3d": joints, "rotmats": rot6d_to_rotmat(pose6d), "shape": betas, "joints2d": uv}
    flags = {"joints3d": "has_3d", "rotmats": "has_pose", "shape": "has_shape"}
    idx = real.nonzero()[:, 0]
    for key, value in lab.items():
        if key == "shape" and t["shape"].shape[-1] != value.shape[-1]:
            continue
        if mode == "replace":
            take = torch.ones(len(idx), dtype=torch.bool)
        elif key == "joints2d":
            take = t["visibility"][idx].sum(-1) == 0
        else:
            take = ~t[flags[key]][idx].bool()
        rows = idx[take]
        t[key][rows] = value[take].to(t[key].dtype)
        if key == "joints2d":
            t["visibility"][rows] = 1.0
        else:
            t[flags[key]][rows] = True
    return t


def training_step(model: torch.nn.Module, loss_fn: SpinLoss, batch: dict[str, torch.Tensor], cfg: SpinConfig,
                  teacher: torch.nn.Module | None = None, lifting=None, lifting_only: bool = False
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward + loss on a collated batch (no optimiser step): (loss, parts).

    A keypoint-input model (``model.keypoint_input``) gets the batch's ``keypoints`` (dropped for a
    ``data.keypoint_dropout`` fraction of the samples) and, with ``lifting``
    (:class:`~training.spin.lifting.LiftingBatches`), ``data.lifting_per_batch`` image-less samples more;
    ``lifting_only``: ``data.lifting_only_batch`` image-less samples and no image at all (no backbone pass)."""
    from training.spin.keypoints import keypoint_input_tensor

    images = spin_data.images_to_input(batch["image"])
    target = batch
    kw: dict[str, torch.Tensor] = {}
    size, d = cfg.model.input_size, cfg.data
    if cfg.model.keypoint_input != "none":
        kw["keypoints"] = keypoint_input_tensor(batch["keypoints"], size, d.keypoint_dropout, d.keypoint_noise_px)
    if teacher is not None:
        target = pseudo_label(teacher, images, batch, cfg.train.pseudo_labels, size, kw.get("keypoints"))
    if lifting_only:
        if lifting is None:
            raise ValueError("data.lifting_only_steps needs a lifting table (data.lifting_table)")
        extra = lifting.batch(d.lifting_only_batch)
        kp = keypoint_input_tensor(extra["keypoints"], size, 0.0, d.keypoint_noise_px)
        return loss_fn(model(images[:0], kw["keypoints"][:0], imageless_keypoints=kp), extra)
    if lifting is not None and d.lifting_per_batch > 0:
        extra = lifting.batch(d.lifting_per_batch)
        kw["imageless_keypoints"] = keypoint_input_tensor(extra["keypoints"], size, 0.0, d.keypoint_noise_px)
        target = {k: torch.cat([target[k], extra[k].to(target[k].dtype)]) for k in extra if k in target}
    pred = model(images, **kw)
    return loss_fn(pred, target)


@torch.no_grad()
def evaluate_loader(model: torch.nn.Module, loader) -> dict[str, float]:
    """MPJPE / PA-MPJPE (mm, root-relative joints) of ``model`` on batches with 3D labels."""
    from training.posebert.metrics import mpjpe, pa_mpjpe
    from training.spin.keypoints import keypoint_input_tensor

    was = model.training
    model.eval()
    e, pa = [], []
    for batch in loader:
        images = spin_data.images_to_input(batch["image"])
        if getattr(model, "keypoint_input", "none") != "none":
            _, _, _, joints = model(images, keypoint_input_tensor(batch["keypoints"], batch["image"].shape[1]))
        else:
            _, _, _, joints = model(images)
        has = batch["has_3d"].bool()
        if not bool(has.any()):
            continue
        gt = batch["joints3d"][has] - batch["joints3d"][has][:, :1]
        pr = joints[has] - joints[has][:, :1]
        e.append(mpjpe(pr, gt))
        pa.append(pa_mpjpe(pr, gt))
    model.train(was)
    if not e:
        return {}
    return {"mpjpe": float(torch.cat(e).mean()), "pa_mpjpe": float(torch.cat(pa).mean()), "n": int(sum(map(len, e)))}


def _dist_setup() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def describe_training(cfg: SpinConfig, step: int, cpu_hours: float, init: str | None) -> str:
    d = cfg.data
    syn = {"render": f"renders of the mocap of subjects {','.join(d.train_subjects)} (training.render, train "
                     "textures/backgrounds)", "shards": f"renders of the imported mocap (training.render's train split: train subjects' motions, "
                     f"train textures/backgrounds), pre-rendered into {','.join(d.shard_dirs)}",
           "stick": "procedural stick figures (smoke run)"}[d.source]
    real = (f"stand-in 'real' = pre-rendered shards of a separate appearance domain ({', '.join(d.real_shards)}), "
            "not real photos" if d.real_shards else
            "real: " + ", ".join(f"{e.get('format', '?')}:{Path(e['path']).name}" for e in d.real) if d.real else
            f"stand-in 'real' = renders of a separate appearance domain (subjects {','.join(d.standin_subjects)}), "
            "not real photos" if d.standin_real else "no real data")
    kp = ""
    if cfg.model.keypoint_input != "none":
        kp = (f"; {cfg.model.keypoint_input} keypoint input = the BlazePose landmark model's keypoints on the renders"
              + (f" + {d.lifting_per_batch} image-less samples per batch from {d.lifting_table} (mocap projected "
                 f"by the renderer's cameras, keypoints drawn from the noise model {Path(d.keypoint_noise).name or 'default'})"
                 if d.lifting_per_batch else ""))
    return (f"MoCap-SPIN {cfg.train.stage} ({cfg.train.trainable}), {syn}; {real}; synthetic ratio "
            f"{d.synthetic_ratio:g}{kp}; {step} steps x batch {cfg.train.batch_size}; {cpu_hours:.2f} CPU h"
            + (f"; from {Path(init).name}" if init else ""))


def _plot(history: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    steps = [h["step"] for h in history if "loss" in h]
    if not steps:
        return
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in ("loss", "kp2d", "kp3d", "pose"):
        ax[0].plot(steps, [h[key] for h in history if "loss" in h], label=key)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("step")
    ax[0].legend()
    val = [h for h in history if "pa_mpjpe" in h]
    if val:
        ax[1].plot([h["step"] for h in val], [h["mpjpe"] for h in val], "o-", label="val MPJPE")
        ax[1].plot([h["step"] for h in val], [h["pa_mpjpe"] for h in val], "o-", label="val PA-MPJPE")
        ax[1].set_ylabel("mm")
        ax[1].set_xlabel("step")
        ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train(cfg: SpinConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after: int | None = None, datasets: tuple | None = None) -> dict[str, Any]:
    """Train (or resume) one run; returns the summary (also ``summary.json``).

    Args:
        datasets: optional ``(synthetic, real or None, val or None)`` datasets of standardised samples
            (tests); default from ``cfg.data``.
        stop_after: stop (with a checkpoint) once this step is reached; rerunning resumes.
    """
    from tqdm import tqdm

    rank, world = _dist_setup()
    out = Path(out_dir)
    tc, mc = cfg.train, cfg.model
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    torch.set_num_threads(max(tc.threads, 1))
    torch.manual_seed(tc.seed)          # same initial weights on every rank
    np.random.seed(tc.seed + rank)

    body = build_body(mc)
    model = build_model(mc, body)
    teacher = None
    init_cpu_h = 0.0
    if tc.stage == "finetune" and not tc.init_ckpt:
        raise ValueError("train.stage 'finetune' needs train.init_ckpt (the stage-1 checkpoint)")
    if tc.init_ckpt:      # finetune: the stage-1 model; pretrain: continue from committed weights
        init = read_checkpoint(tc.init_ckpt)
        have_kp = from_known_keys(ModelConfig, init["model_config"]).keypoint_input
        # pretrain a keypoint-input model from an image-only one: fc1 widened with zero columns (widen_fc1)
        widen = tc.stage == "pretrain" and have_kp == "none" and mc.keypoint_input != "none"
        check_compatible(init, dataclasses.replace(mc, keypoint_input=have_kp) if widen else mc, tc.init_ckpt)
        init_cpu_h = float(init.get("cpu_hours", 0.0))
        state = {k: (v.float() if v.dtype == torch.float16 else v) for k, v in init["model"].items()}
        if widen:
            state = widen_fc1(state, model)
            _log(f"image-only {tc.init_ckpt} -> keypoint-input model ({mc.keypoint_input}): fc1 widened")
        model.load_state_dict(state)
    if tc.stage == "finetune":
        if tc.pseudo_labels != "off":
            teacher = copy.deepcopy(model).eval().requires_grad_(False)
    ntrain = set_trainable(model, tc.trainable)
    if ntrain == 0:
        raise ValueError(f"train.trainable '{tc.trainable}' leaves nothing to train (use training.spin.adapt)")
    params = trainable_parameters(model)
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(tc.warmup_steps, tc.steps))
    loss_fn = SpinLoss(cfg.loss, mc.input_size)

    if datasets is None:
        syn = spin_data.make_synthetic(cfg, body, "train", rank, world) if cfg.data.synthetic_ratio > 0 else None
        real = spin_data.make_real(cfg, body, "train", rank) if cfg.data.synthetic_ratio < 1 else None
        val = spin_data.make_synthetic(cfg, body, "val") if rank == 0 and cfg.data.val_samples > 0 else None
    else:
        syn, real, val = datasets
    if syn is None and real is None:
        raise ValueError("no training data: the synthetic ratio needs renderings or a real set")
    if mc.keypoint_input != "none":
        for ds in (syn, real, val):
            inner = getattr(ds, "ds", None)
            if isinstance(inner, spin_data.ShardDataset) and "keypoints" not in inner.data:
                raise ValueError(f"model.keypoint_input '{mc.keypoint_input}' needs keypoints beside the shards in "
                                 f"{inner.dirs} (python -m training.spin.shard_keypoints {' '.join(inner.dirs)})")
    mix = spin_data.concat(syn if syn is not None else real, real if syn is not None else None)
    n_syn = len(syn) if syn is not None else 0
    n_real = len(mix) - n_syn

    step, best, best_step, history, cpu_s = 0, float("inf"), None, [], 3600 * init_cpu_h
    last = out / "ckpt_last.pt"
    if resume and last.is_file():
        ck = read_checkpoint(last)
        check_compatible(ck, mc, str(last))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"]["torch"])
        step, best, best_step = ck["step"], ck["best_val"], ck.get("best_step")
        history, cpu_s = ck.get("history", []), float(ck.get("cpu_hours", 0.0)) * 3600
        _log(f"resumed {last} at step {step}")
    # image-less samples (a resumed run draws new ones: seeded by the step)
    lifting = None
    if mc.keypoint_input != "none" and (cfg.data.lifting_per_batch > 0 or cfg.data.lifting_only_steps > 0):
        from training.spin.keypoints import KeypointNoise
        from training.spin.lifting import LiftingBatches
        if not cfg.data.lifting_table:
            raise ValueError("data.lifting_per_batch > 0 needs data.lifting_table (python -m training.spin.lifting)")
        noise = KeypointNoise.load(cfg.data.keypoint_noise) if cfg.data.keypoint_noise else KeypointNoise()
        lifting = LiftingBatches(cfg.data.lifting_table, noise, mc.input_size, seed=tc.seed + 31 * rank + step)
        _log(f"lifting: {len(lifting)} image-less samples ({cfg.data.lifting_table}), {cfg.data.lifting_per_batch} per "
             f"batch, keypoint noise: {noise.source}")
    # keypoint-only steps leave the backbone unused
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=cfg.data.lifting_only_steps > 0) \
        if world > 1 else model

    end = tc.steps if stop_after is None else min(tc.steps, stop_after)
    sampler = spin_data.MixedBatchSampler(n_syn, n_real, tc.batch_size, cfg.data.synthetic_ratio,
                                          steps=max(end - step, 0), seed=tc.seed + 7919 * rank + step)
    loader = DataLoader(mix, batch_sampler=sampler, collate_fn=spin_data.collate, num_workers=cfg.data.workers,
                        persistent_workers=False)
    val_loader = (DataLoader(val, batch_size=16, collate_fn=spin_data.collate, num_workers=0)
                  if val is not None else None)
    nparams = sum(p.numel() for p in model.parameters())
    _log(f"run '{cfg.name}' -> {out}: {tc.stage} ({tc.trainable}: {ntrain / 1e6:.3f} of {nparams / 1e6:.2f} M "
         f"params), {mc.backbone} {mc.input_size}px, body {body.name}, batch {tc.batch_size} = {sampler.n_syn} "
         f"synthetic + {sampler.n_real} real, {world} rank(s), {n_syn} synthetic / {n_real} real samples")
    writer = None
    if rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out / "tb"))
        except ImportError:  # pragma: no cover
            _log("tensorboard not installed: no TensorBoard logs")

    def checkpoint(path: Path, metrics: dict[str, float] | None = None) -> None:
        if rank != 0:
            return
        tmp = path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "model_config": vars(mc).copy(), "config": cfg.to_dict(),
                    "body_model": body.name, "backbone": mc.backbone, "input_size": mc.input_size,
                    "step": step, "best_val": best, "best_step": best_step, "metrics": metrics or {},
                    "history": history, "cpu_hours": cpu_s / 3600,
                    "training_data": describe_training(cfg, step, cpu_s / 3600, tc.init_ckpt or None),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "rng": {"torch": torch.get_rng_state()}}, tmp)
        os.replace(tmp, path)

    model.train()
    apply_bn_mode(model, tc.trainable)
    t_start, c0 = time.time(), time.process_time()
    bar = tqdm(total=tc.steps, initial=step, disable=not progress or rank != 0, desc=cfg.name, dynamic_ncols=True)
    val_res: dict[str, float] = {}
    for batch in loader:
        loss, parts = training_step(ddp, loss_fn, batch, cfg, teacher, lifting,
                                    lifting_only=step < cfg.data.lifting_only_steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        cpu_s += time.process_time() - c0
        c0 = time.process_time()
        if step % tc.log_every == 0 or step == end:
            rec = {"step": step, "loss": round(loss.item(), 5), **{k: round(v.item(), 5) for k, v in parts.items()}}
            history.append(rec)
            bar.set_postfix(loss=f"{loss.item():.3f}", kp3d_mm=f"{1000 * parts['kp3d'].item() / 3:.0f}")
            if writer:
                for k, v in rec.items():
                    if k != "step":
                        writer.add_scalar(f"loss/{k}", v, step)
                writer.add_scalar("lr", sched.get_last_lr()[0], step)
        if val_loader is not None and (step % tc.val_every == 0 or step == end):
            val_res = evaluate_loader(model, val_loader)
            apply_bn_mode(model, tc.trainable)
            if val_res:
                history.append({"step": step, **{k: round(v, 2) for k, v in val_res.items()}})
                if writer:
                    writer.add_scalar("val/mpjpe", val_res["mpjpe"], step)
                    writer.add_scalar("val/pa_mpjpe", val_res["pa_mpjpe"], step)
                if val_res["pa_mpjpe"] < best:
                    best, best_step = val_res["pa_mpjpe"], step
                    checkpoint(out / "ckpt_best.pt", val_res)
                bar.write(f"[spin.train] step {step}: val MPJPE {val_res['mpjpe']:.1f} PA-MPJPE "
                          f"{val_res['pa_mpjpe']:.1f} mm (best PA {best:.1f} @ {best_step})")
        over = tc.hours_budget > 0 and time.time() - t_start > 3600 * tc.hours_budget
        if step % tc.ckpt_every == 0 or step == end or over:
            checkpoint(last, val_res)
        if over:
            _log(f"hours budget {tc.hours_budget} reached at step {step}; rerun to resume")
            break
    bar.close()
    if val_loader is None or not (out / "ckpt_best.pt").exists():
        checkpoint(out / "ckpt_best.pt", val_res)
    if writer:
        writer.close()
    summary = {"name": cfg.name, "steps": step, "best_val_pa_mpjpe": best, "best_step": best_step, "val_last": val_res,
               "cpu_hours": round(cpu_s / 3600, 3), "seconds_this_session": round(time.time() - t_start, 1),
               "params": nparams, "trainable": ntrain, "world_size": world,
               "training_data": describe_training(cfg, step, cpu_s / 3600, tc.init_ckpt or None)}
    if rank == 0:
        _plot(history, out / "losses.png")
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--out", default=None, help="run directory (default runs/<name>)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.steps=100")
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--stop-after", type=int, default=None)
    a = p.parse_args(argv)
    try:
        cfg = apply_overrides(load_config(a.config), a.set)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    summary = train(cfg, Path(a.out or f"runs/{cfg.name}"), resume=not a.no_resume, progress=not a.no_progress,
                    stop_after=a.stop_after)
    _log(f"done: {json.dumps({k: summary[k] for k in ('steps', 'best_val_pa_mpjpe', 'cpu_hours')})}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
