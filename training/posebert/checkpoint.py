"""PoseBERT checkpoints: building the model from its config and loading a trained one.

A checkpoint (``runs/<name>/ckpt_last.pt`` / ``ckpt_best.pt``) is a dict with ``model`` (state dict),
``model_config`` (:class:`~training.posebert.config.ModelConfig` as a dict), ``config`` (the whole run
config), ``training_data`` (free text for the exported metadata), ``step``, ``metrics`` and, in
``ckpt_last.pt``, the optimizer / scheduler / RNG states for resuming. ``training.export`` reads
``model_config`` to rebuild the architecture and its body model (``body_model``; checkpoints written
before that key existed were trained with the skeleton body, which is its default).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from training.body.base import BodyModel
from training.models.posebert import PoseBERT
from training.posebert.config import ModelConfig

__all__ = ["build_model", "build_body", "load_model", "read_checkpoint"]


def _config(mcfg: ModelConfig | dict[str, Any]) -> ModelConfig:
    if isinstance(mcfg, dict):
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        mcfg = ModelConfig(**{k: v for k, v in mcfg.items() if k in known})
    return mcfg


def build_body(mcfg: ModelConfig | dict[str, Any]) -> BodyModel:
    """The body model of a :class:`ModelConfig` (``body_model``; the skeleton body gets ``num_betas``)."""
    from training.body.registry import make_body_model

    mcfg = _config(mcfg)
    name = mcfg.body_model.lower()
    if name == "skeleton":
        return make_body_model("skeleton", num_shape=mcfg.num_betas)
    if name == "smpl":
        return make_body_model("smpl", model_path=mcfg.smpl_model_path or None, num_betas=mcfg.num_betas)
    if name not in _BODY_CACHE:             # Anny takes ~30 s to construct: once per process (no parameters)
        _BODY_CACHE[name] = make_body_model(name)
    return _BODY_CACHE[name]


_BODY_CACHE: dict[str, BodyModel] = {}


def build_model(mcfg: ModelConfig | dict[str, Any], body: BodyModel | None = None) -> PoseBERT:
    """PoseBERT from a :class:`ModelConfig` (or its dict).

    Args:
        body: an already built body model (e.g. shared with the per-frame model); it must be the
            config's ``body_model`` with ``num_betas`` shape parameters. Default: :func:`build_body`.
    Raises:
        ValueError: ``body`` contradicts the config.
    """
    mcfg = _config(mcfg)
    if body is None:
        body = build_body(mcfg)
    elif body.name != mcfg.body_model.lower():
        raise ValueError(f"the model config says body_model '{mcfg.body_model}', got a '{body.name}' body")
    return PoseBERT(window=mcfg.window, num_layers=mcfg.num_layers, dim=mcfg.dim, heads=mcfg.heads,
                    ffn_dim=mcfg.ffn_dim, num_betas=mcfg.num_betas, dropout=mcfg.dropout,
                    attention=mcfg.attention, lag=mcfg.lag, lookahead_schedule=mcfg.lookahead_schedule,
                    regressor_iters=mcfg.regressor_iters, init=mcfg.init, body=body)


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
