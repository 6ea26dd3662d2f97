"""PoseBERT checkpoints: building the model from its config and loading a trained one.

A checkpoint (``runs/<name>/ckpt_last.pt`` / ``ckpt_best.pt``) is a dict with ``model`` (state dict),
``model_config`` (:class:`~training.posebert.config.ModelConfig` as a dict), ``config`` (the whole run
config), ``training_data`` (free text for the exported metadata), ``step``, ``metrics`` and, in
``ckpt_last.pt``, the optimizer / scheduler / RNG states for resuming. ``training.export`` reads
``model_config`` to rebuild the architecture and its body model (``body_model``; checkpoints written
before that key existed were trained with the skeleton body, which is its default).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from training.body.base import BodyModel
from training.models.posebert import PoseBERT
from training.posebert.config import ModelConfig
from training.config_io import from_known_keys

__all__ = ["build_model", "build_body", "load_model", "read_checkpoint", "load_onnx_weights"]


def _config(mcfg: ModelConfig | dict[str, Any]) -> ModelConfig:
    return from_known_keys(ModelConfig, mcfg)


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


def load_onnx_weights(model: PoseBERT, onnx_path: str | Path, atol: float = 1e-4) -> dict[str, Any]:
    """Load the weights of an exported PoseBERT ONNX file into ``model`` (same architecture; the body may
    differ: the pose network never sees the shape), then check that the model reproduces the file's
    ``pose6d`` output through onnxruntime on random inputs.

    Named initializers map by name; the anonymous ``MatMul`` ones (``nn.Linear`` weights, stored
    transposed) by order of appearance and shape. Raises ``ValueError`` when the file does not fit.
    Returns the file's metadata (dict) for the record.
    """
    import json

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"no such ONNX model to initialise from: {onnx_path}")
    g = onnx.load(str(onnx_path)).graph
    # files exported through training.export.ReadoutJoints name the pose network's weights "model.<key>"
    inits = {i.name.removeprefix("model."): numpy_helper.to_array(i) for i in g.initializer}
    sd = model.state_dict()
    pose_keys = [k for k in sd if not k.startswith("body.")]
    new = {}
    anon = [v for k, v in inits.items() if k.startswith("onnx::MatMul")]
    missing = []
    for k in pose_keys:
        if k in inits and tuple(inits[k].shape) == tuple(sd[k].shape):
            new[k] = torch.as_tensor(inits[k].copy())
        else:
            missing.append(k)
    for k in missing:                      # first unused anonymous weight of the transposed shape (graph order)
        hit = next((i for i, w in enumerate(anon) if w.ndim == 2 and tuple(w.T.shape) == tuple(sd[k].shape)), None)
        if hit is None:
            raise ValueError(f"{onnx_path}: no weight of shape {tuple(sd[k].shape)}^T for {k} (another architecture?)")
        new[k] = torch.as_tensor(anon.pop(hit).T.copy())
    model.load_state_dict(new, strict=False)
    # check: the torch model now gives the file's pose output
    from pose_estimation_ros.perception import metadata as model_meta
    meta_path = onnx_path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    nb = int(meta.get("num_betas", 10))
    gen = torch.Generator().manual_seed(0)
    t = model.window
    pose = torch.randn(2, t, 24, 6, generator=gen) * 0.3 + torch.tensor([1.0, 0, 0, 1.0, 0, 0]).repeat(4)[:6]
    betas = torch.randn(2, t, nb, generator=gen) * 0.1
    valid = torch.ones(2, t, dtype=torch.bool)
    valid[:, 3] = False
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, dict(zip(names, (pose.numpy(), betas.numpy(), valid.numpy()))))
    was = model.training
    model.eval()
    with torch.no_grad():
        ref = model.regress(pose, valid)
    model.train(was)
    k = [o.name for o in sess.get_outputs()].index(model_meta.TEMPORAL_OUTPUTS[0]) if model_meta.TEMPORAL_OUTPUTS[0] in [
        o.name for o in sess.get_outputs()] else 0
    err = float(np.abs(out[k] - ref.numpy()).max())
    if err > atol:
        raise ValueError(f"{onnx_path}: loaded weights reproduce the file's output only to {err:.2e} (> {atol:g})")
    return meta
