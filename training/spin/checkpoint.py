"""MoCap-SPIN checkpoints: building the model from its config, loading a trained one with checks, averaging and
slimming them.

    python -m training.spin.checkpoint average --out runs/avg/ckpt.pt A.pt B.pt C.pt   # mean of the weights
    python -m training.spin.checkpoint slim SRC.pt models/mocap_spin_resume.pt        # fp16, no optimizer

A checkpoint (``runs/<name>/ckpt_last.pt`` / ``ckpt_best.pt``) is a dict with ``model`` (state dict,
no body: :func:`~training.models.spin.attach_body`), ``model_config`` (:class:`ModelConfig` as a
dict), ``config`` (the whole run), ``body_model``, ``backbone``, ``input_size``, ``training_data``
(free text for the exported metadata), ``cpu_hours``, ``step``, ``metrics`` and, in ``ckpt_last.pt``,
optimizer / scheduler / RNG states for resuming. ``training.export --per-frame-ckpt`` reads it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from training.body.base import BodyModel
from training.models.spin import PerFrameRegressor
from training.spin.config import ModelConfig
from training.config_io import from_known_keys
from training.spin.finetune import bn_modules

__all__ = ["build_body", "build_model", "read_checkpoint", "load_model", "check_compatible", "CheckpointMismatch",
           "slim_checkpoint", "average_checkpoints", "main"]


class CheckpointMismatch(ValueError):
    """A checkpoint made for another backbone / body / input size than asked for."""


def _config(mcfg: ModelConfig | dict[str, Any]) -> ModelConfig:
    return from_known_keys(ModelConfig, mcfg)


def build_body(mcfg: ModelConfig | dict[str, Any]) -> BodyModel:
    """The body model named by the config (the one the renderer poses and PoseBERT uses)."""
    from training.body.registry import make_body_model

    mcfg = _config(mcfg)
    if mcfg.body_model == "smpl":
        return make_body_model("smpl", model_path=mcfg.smpl_model_path or None)
    return make_body_model(mcfg.body_model)


def build_model(mcfg: ModelConfig | dict[str, Any], body: BodyModel | None = None,
                load_backbone_weights: bool = True) -> PerFrameRegressor:
    """:class:`PerFrameRegressor` from a :class:`ModelConfig` (its backbone weights file loaded when set)."""
    mcfg = _config(mcfg)
    body = body if body is not None else build_body(mcfg)
    if body.name != mcfg.body_model:
        raise CheckpointMismatch(f"the model config says body_model '{mcfg.body_model}', got a '{body.name}' body")
    model = PerFrameRegressor(mcfg.backbone, iterations=mcfg.iterations, hidden=mcfg.hidden, dropout=mcfg.dropout,
                              body=body, backbone_weights=(mcfg.backbone_weights or None) if load_backbone_weights
                              else None, keypoint_input=mcfg.keypoint_input, keypoint_hidden=mcfg.keypoint_hidden)
    if mcfg.bn_momentum > 0:
        for m in bn_modules(model):
            m.momentum = mcfg.bn_momentum
    return model


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict. Raises ``FileNotFoundError`` / ``ValueError`` (not a MoCap-SPIN checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: no such file")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise ValueError(f"{path}: not a MoCap-SPIN training checkpoint (needs 'model' and 'model_config')")
    return ckpt


def check_compatible(ckpt: dict[str, Any], mcfg: ModelConfig, source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointMismatch` naming every architecture field (backbone, body, input size,
    iterations, hidden) where the checkpoint differs from ``mcfg``."""
    have = _config(ckpt["model_config"])
    diffs = [f"{k}: checkpoint '{getattr(have, k)}' vs config '{getattr(mcfg, k)}'"
             for k in ("backbone", "body_model", "input_size", "iterations", "hidden", "keypoint_input")
             if getattr(have, k) != getattr(mcfg, k)]
    if diffs:
        raise CheckpointMismatch(f"{source} was trained for another model: " + "; ".join(diffs))


def load_model(path: str | Path, mcfg: ModelConfig | None = None,
               body: BodyModel | None = None) -> tuple[PerFrameRegressor, dict[str, Any]]:
    """(model in eval mode, checkpoint) from ``path``; with ``mcfg`` the checkpoint must match it."""
    ckpt = read_checkpoint(path)
    if mcfg is not None:
        check_compatible(ckpt, mcfg, str(path))
    model = build_model(ckpt["model_config"], body, load_backbone_weights=False)
    model.load_state_dict(_float32(ckpt["model"]))
    return model.eval(), ckpt


def _float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.float() if v.dtype == torch.float16 else v) for k, v in state.items()}


def slim_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """A small checkpoint to commit and continue from: the model weights as float16 plus the configs, step,
    history, CPU hours and training-data text; no optimizer / scheduler / RNG state (training continues
    with a fresh optimizer via ``train.init_ckpt``). Float16 buffers/weights are cast back on load."""
    ck = read_checkpoint(src)
    slim = {k: v for k, v in ck.items() if k not in ("optimizer", "scheduler", "rng")}
    slim["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["model"].items()}
    slim["slim"] = True
    dst = Path(dst)
    torch.save(slim, dst)
    return dst


def average_checkpoints(srcs: Sequence[str | Path], dst: str | Path) -> Path:
    """The element-wise mean of the floating-point weights and BN statistics of ``srcs`` (checkpoints of one
    architecture, typically points of one training trajectory: the "model soup" / SWA average), computed in float64;
    integer buffers (BN batch counters) and every other field come from the last one, ``cpu_hours`` is the largest
    (the runs' hours are cumulative), ``training_data`` says what was averaged. No optimizer state: continue with
    ``train.init_ckpt``. Raises :class:`CheckpointMismatch` naming the first checkpoint of another architecture or
    with other weights."""
    if len(srcs) < 2:
        raise ValueError(f"averaging needs at least two checkpoints, got {len(srcs)}")
    cks = [read_checkpoint(s) for s in srcs]
    last = cks[-1]
    for src, ck in zip(srcs[:-1], cks[:-1]):
        check_compatible(ck, _config(last["model_config"]), str(src))
        if ck["model"].keys() != last["model"].keys():
            raise CheckpointMismatch(f"{src}: other weights than {srcs[-1]} "
                                     f"({len(set(ck['model']) ^ set(last['model']))} names differ)")
        bad = [k for k, v in ck["model"].items() if v.shape != last["model"][k].shape]
        if bad:
            raise CheckpointMismatch(f"{src}: weight {bad[0]} has shape {tuple(ck['model'][bad[0]].shape)}, "
                                     f"{srcs[-1]} {tuple(last['model'][bad[0]].shape)}")
    out = {k: v for k, v in last.items() if k not in ("optimizer", "scheduler", "rng", "slim")}
    out["model"] = {k: (torch.stack([ck["model"][k].double() for ck in cks]).mean(0).to(torch.float32)
                        if v.is_floating_point() else v.clone()) for k, v in last["model"].items()}
    out["cpu_hours"] = max(float(ck.get("cpu_hours", 0.0)) for ck in cks)
    names = ", ".join(f"{Path(s).parent.name}/{Path(s).name} (step {ck.get('step', '?')})" for s, ck in zip(srcs, cks))
    out["training_data"] = f"{last.get('training_data', '')}; weights = the mean of {len(cks)} checkpoints: {names}"
    out["averaged_from"] = [str(s) for s in srcs]
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.checkpoint", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    avg = sub.add_parser("average", help="mean of the weights of checkpoints of one architecture")
    avg.add_argument("srcs", nargs="+")
    avg.add_argument("--out", required=True)
    slim = sub.add_parser("slim", help="fp16 weights + configs, no optimizer (to commit and continue from)")
    slim.add_argument("src")
    slim.add_argument("dst")
    a = p.parse_args(argv)
    try:
        dst = average_checkpoints(a.srcs, a.out) if a.cmd == "average" else slim_checkpoint(a.src, a.dst)
    except (FileNotFoundError, ValueError) as e:
        print(f"[spin.checkpoint] error: {e}", file=sys.stderr)
        return 2
    print(f"[spin.checkpoint] {a.cmd} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
