"""PoseBERT checkpoints: building the model from its config and loading a trained one.

A checkpoint (``runs/<name>/ckpt_last.pt`` / ``ckpt_best.pt``) is a dict with ``model`` (state dict),
``model_config`` (:class:`~training.posebert.config.ModelConfig` as a dict), ``config`` (the whole run
config), ``training_data`` (free text for the exported metadata), ``step``, ``metrics`` and, in
``ckpt_last.pt``, the optimizer / scheduler / RNG states for resuming. ``training.export`` reads
``model_config`` to rebuild the architecture.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from training.models.posebert import PoseBERT
from training.posebert.config import ModelConfig

__all__ = ["build_model", "load_model", "read_checkpoint"]


def build_model(mcfg: ModelConfig | dict[str, Any]) -> PoseBERT:
    """PoseBERT from a :class:`ModelConfig` (or its dict)."""
    if isinstance(mcfg, dict):
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        mcfg = ModelConfig(**{k: v for k, v in mcfg.items() if k in known})
    return PoseBERT(window=mcfg.window, num_layers=mcfg.num_layers, dim=mcfg.dim, heads=mcfg.heads,
                    ffn_dim=mcfg.ffn_dim, num_betas=mcfg.num_betas, dropout=mcfg.dropout,
                    attention=mcfg.attention, lag=mcfg.lag, lookahead_schedule=mcfg.lookahead_schedule,
                    regressor_iters=mcfg.regressor_iters, init=mcfg.init)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise ValueError(f"{path}: not a PoseBERT training checkpoint (needs 'model' and 'model_config')")
    return ckpt


def load_model(path: str | Path) -> tuple[PoseBERT, dict[str, Any]]:
    """(model in eval mode, checkpoint dict) from a training checkpoint."""
    ckpt = read_checkpoint(path)
    model = build_model(ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
