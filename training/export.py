"""Export the per-frame (SPIN-style) and temporal (PoseBERT) models to ONNX with their metadata.

Usage::

    python -m training.export --out models [--backbone resnet18] [--input-size 224] [--window 16]
        [--seed 0] [--per-frame-ckpt PATH] [--temporal-ckpt PATH] [--temporal-lag-ckpt PATH...]
        [--lags K...] [--body skeleton|anny|smpl] [--smpl-model-path PATH] [--opset 17]

Writes ``<out>/mocap_spin.onnx``, the causal temporal model ``<out>/posebert.onnx`` and the lagged
temporal models ``<out>/posebert_lag{k}.onnx`` plus their ``.json`` metadata
(:func:`pose_estimation_ros.perception.metadata.write_metadata`), then runs every file with onnxruntime on
random inputs and compares to PyTorch; exits non-zero if any output differs by more than 1e-3.
Without checkpoints the weights are random (seeded) and the metadata says ``trained: false``.

Temporal models: ``posebert.onnx`` is causal (output frame i reads only frames <= i; the runtime reads
the newest frame, index T-1); ``posebert_lag{k}.onnx`` looks k frames ahead (output i reads frames
<= i + k; the runtime reads index T-1-k). ``--temporal-ckpt`` / ``--temporal-lag-ckpt`` take PoseBERT
training checkpoints (``training.posebert.train``): architecture, lag and training data come from the
checkpoint. ``--lags K...`` also exports ``posebert_lag{K}.onnx`` for lags no checkpoint gives
(untrained, seeded). The mode is in the metadata: ``architecture["mode"]`` (``causal`` | ``lag{k}``),
``architecture["lag"]`` and ``architecture["readout_index"]`` (T-1-lag).

Body model: both models compute their ``joints`` output with the joints-only forward of one body
model (``BodyModel.joints``: canonical FK on the body's shape-dependent rest joints, no mesh), which is
part of the exported graph, so the runtime gets 3D joints without torch. ``--body`` picks it:
``skeleton`` (default, 10 shape parameters), ``anny`` (6 phenotypes) or ``smpl`` (the betas of the
user's SMPL file, ``--smpl-model-path`` or ``$SMPL_MODEL_PATH``; the graph then holds joint-regressed
SMPL data: do not redistribute it). A checkpoint that records its body (PoseBERT ``model_config
["body_model"]``; PoseBERT checkpoints without the key were trained with the skeleton body) decides
the body when ``--body`` is not given, and an explicit ``--body`` that contradicts a checkpoint is an
error. The per-frame and temporal models always share the body (the runtime refuses a pair that does
not: the temporal model reads the per-frame betas). Metadata: ``num_betas = body.num_shape`` and
``architecture["body_model"]`` = the body's name; the older name ``skeleton_fk_linear_scale`` means
``skeleton`` (:func:`pose_estimation_ros.perception.metadata.normalize_body_model`). With
``--missing-only`` a present model made for another body (or shape size) is re-exported. A present *trained*
per-frame model is never replaced by ``--missing-only`` and, when neither ``--body`` nor a checkpoint
names a body, decides the body of the models exported beside it.

MoCap-SPIN checkpoints (``training.spin.train``) carry their architecture (backbone, input size,
hidden width, body); ``--fp16`` stores the per-frame weights as float16 (fp32 compute, the fp32 file
kept as ``mocap_spin_fp32.onnx``) and ``--per-frame-only`` leaves the temporal models alone.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception import metadata as model_meta
from pose_estimation_ros.perception.metadata import body_model_of, normalize_body_model
from training.body.base import BodyModel
from training.geometry.rotations import rot6d_to_rotmat
from training.models.posebert import PoseBERT
from training.onnx_utils import onnx_export, set_output_shapes
from training.models.backbones import BACKBONES, DEFAULT_BACKBONE
from training.models.spin import PerFrameRegressor, mean_pose6d

PER_FRAME_FILE = "mocap_spin.onnx"
TEMPORAL_FILE = "posebert.onnx"
TEMPORAL_LAG_FILE = "posebert_lag{k}.onnx"
DEFAULT_LAGS: tuple[int, ...] = ()   # untrained lagged variants exported by default (``--lags`` adds some)
# Exported PoseBERT default: L=4, D=128, 4 heads, FFN 256, causal (~0.5 ms per 16-frame window in
# onnxruntime on one CPU core here, 2.5 MB; the paper's D=512 / FFN 1024 takes 2.5-5 ms and 36 MB).
TEMPORAL_DEFAULTS: dict[str, Any] = {"num_layers": 4, "dim": 128, "heads": 4, "ffn_dim": 256, "attention": "causal"}
DEFAULT_OPSET = 17
MAX_ABS_DIFF = 1e-3
UNTRAINED_BACKBONE = "resnet18"   # backbone of a per-frame model exported without a checkpoint (as before)
# fp16 weight storage: the exporter folds BN into the convolutions before the weights are rounded, so the
# fp16 file differs from the rounded torch model by about the fp16 precision of the folded weights.
FP16_MAX_ABS_DIFF = 2e-2


def _log(msg: str) -> None:
    print(f"[training.export] {msg}", flush=True)


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load a state dict (raw, or under a ``state_dict`` / ``model`` key) into ``model`` (strict)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    model.load_state_dict(state)


def make_body(name: str | None = None, smpl_model_path: str | Path | None = None) -> BodyModel:
    """The body model ``name`` (aliases allowed, None = skeleton) as the exporter builds it:
    skeleton with 10 shape parameters, Anny (6 phenotypes, cached on disk after the first build),
    SMPL from ``smpl_model_path`` (default ``$SMPL_MODEL_PATH``)."""
    from training.body.registry import make_body_model

    key = normalize_body_model(name)
    if key == "smpl":
        return make_body_model("smpl", model_path=smpl_model_path)
    return make_body_model(key)


def checkpoint_body(ckpt: str | Path | None) -> str | None:
    """Normalised body model a checkpoint was trained with, or None when it does not say.

    Reads ``model_config["body_model"]`` (a PoseBERT training checkpoint without it: ``skeleton``, the
    only body before the key existed) or a top-level ``body_model``; a raw state dict says nothing.
    """
    if ckpt is None:
        return None
    state = _temporal_ckpt(ckpt)
    if isinstance(state.get("model_config"), dict):
        return normalize_body_model(state["model_config"].get("body_model"))
    if isinstance(state.get("body_model"), str):
        return normalize_body_model(state["body_model"])
    return None


def build_per_frame(backbone: str | None = "resnet18", seed: int = 0, ckpt: str | Path | None = None,
                    body: BodyModel | None = None, **kwargs: Any) -> PerFrameRegressor:
    """Seeded per-frame model in eval mode with ``body`` (default skeleton), optionally loaded from ``ckpt``.

    A MoCap-SPIN training checkpoint (``training.spin.train``: with ``model_config``) defines the
    architecture (backbone, iterations, hidden); ``backbone`` must then be None or the same.
    """
    torch.manual_seed(seed)
    state = _temporal_ckpt(ckpt) if ckpt is not None else {}
    if "model_config" in state and "backbone" in state["model_config"]:
        from training.spin.checkpoint import build_model

        mc = state["model_config"]
        if backbone is not None and backbone != mc["backbone"]:
            raise ValueError(f"{ckpt}: a '{mc['backbone']}' checkpoint, but --backbone {backbone} was asked for")
        if body is not None and body.name != mc.get("body_model"):
            raise ValueError(f"{ckpt}: trained with the '{mc.get('body_model')}' body, not '{body.name}'")
        model = build_model(mc, body, load_backbone_weights=False)
        model.load_state_dict({k: (v.float() if v.dtype == torch.float16 else v) for k, v in state["model"].items()})
        model.input_size = int(mc.get("input_size", 224))
        model.cpu_hours = float(state.get("cpu_hours", 0.0))
        return model.eval()
    backbone = backbone or UNTRAINED_BACKBONE
    model = PerFrameRegressor(backbone=backbone, body=body, **kwargs)
    if ckpt is not None:
        load_checkpoint(model, ckpt)
    return model.eval()


def _temporal_ckpt(ckpt: str | Path) -> dict[str, Any]:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return state if isinstance(state, dict) else {}


def build_temporal(window: int = 16, seed: int = 0, ckpt: str | Path | None = None,
                   body: BodyModel | None = None, **kwargs: Any) -> PoseBERT:
    """Seeded PoseBERT in eval mode with ``body`` (default skeleton), optionally loaded from ``ckpt``.

    Without a checkpoint the architecture is :data:`TEMPORAL_DEFAULTS` updated by ``kwargs`` (e.g.
    ``lag=4``, ``dim=256``). A PoseBERT training checkpoint (with ``model_config``) defines the
    architecture itself (``kwargs`` must not contradict it) and its body model (``body``, if given,
    must be that body, else it is built from the config); a raw state dict uses the defaults.
    """
    torch.manual_seed(seed)
    state = _temporal_ckpt(ckpt) if ckpt is not None else {}
    if "model_config" in state:
        from training.posebert.checkpoint import build_model

        mcfg = dict(state["model_config"])
        for k, v in kwargs.items():
            if k in mcfg and mcfg[k] != v:
                raise ValueError(f"{ckpt}: checkpoint has {k}={mcfg[k]}, asked for {v}")
        if mcfg.get("window", window) != window:
            _log(f"window {window} overridden by the checkpoint's window {mcfg['window']}")
        mcfg["body_model"] = normalize_body_model(mcfg.get("body_model"))
        model = build_model(mcfg, body=body)
    else:
        model = PoseBERT(window=window, body=body, **{**TEMPORAL_DEFAULTS, **kwargs})
    if ckpt is not None:
        load_checkpoint(model, ckpt)
    return model.eval()


def export_per_frame(model: PerFrameRegressor, path: str | Path, input_size: int = 224,
                     opset: int = DEFAULT_OPSET) -> Path:
    """Export ``image (N,3,H,W) [, keypoints (N,17,3)] -> pose6d, betas, cam, joints`` with a dynamic batch axis
    N (the keypoints input for a keypoint-input model, :mod:`training.spin.keypoints`)."""
    path = Path(path)
    names = per_frame_input_names(model)
    dummy = per_frame_example_inputs(model, input_size, batch=1)
    axes = {**{n: {0: "N"} for n in names}, **{n: {0: "N"} for n in model_meta.PER_FRAME_OUTPUTS}}
    onnx_export(model, tuple(dummy.values()), path, list(names), list(model_meta.PER_FRAME_OUTPUTS), axes, opset)
    nj, nb = model.num_joints, model.num_betas
    set_output_shapes(path, {"pose6d": ["N", nj, 6], "betas": ["N", nb], "cam": ["N", 3],
                              "joints": ["N", nj, 3]})
    return path


def per_frame_input_names(model: PerFrameRegressor) -> tuple[str, ...]:
    """The graph inputs of an exported per-frame model: the image, and the keypoints for a keypoint-input one."""
    kp = getattr(model, "keypoint_input", "none") != "none"
    return (model_meta.PER_FRAME_INPUT,) + ((model_meta.PER_FRAME_KEYPOINTS,) if kp else ())


def per_frame_example_inputs(model: PerFrameRegressor, input_size: int, batch: int = 2,
                             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Random inputs by graph input name (keypoints in [-1, 1], confidences in [0, 1])."""
    out = {model_meta.PER_FRAME_INPUT: torch.randn(batch, 3, input_size, input_size, generator=generator)}
    if model_meta.PER_FRAME_KEYPOINTS in per_frame_input_names(model):
        kp = torch.rand(batch, 17, 3, generator=generator)
        kp[..., :2] = 2 * kp[..., :2] - 1
        out[model_meta.PER_FRAME_KEYPOINTS] = kp
    return out


def fp16_rounded(model: nn.Module, min_elements: int = 16) -> nn.Module:
    """A copy of ``model`` whose float32 parameters and buffers (>= ``min_elements`` values) are rounded
    to float16 and back: what :func:`training.spin.onnx_fp16.convert_weights_to_fp16` stores."""
    import copy

    m = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            if t.dtype == torch.float32 and t.numel() >= min_elements:
                t.copy_(t.half().float())
    return m


def temporal_example_inputs(model: PoseBERT, batch: int = 1,
                            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plausible random PoseBERT inputs: mean pose + noise, random betas, some invalid frames."""
    g = torch.Generator().manual_seed(seed)
    t = model.window
    pose = mean_pose6d().expand(batch, t, -1, -1) + 0.1 * torch.randn(batch, t, model.num_joints, 6, generator=g)
    betas = torch.randn(batch, t, model.num_betas, generator=g)
    valid = torch.rand(batch, t, generator=g) > 0.3
    valid[:, 0] = True
    valid[:, -1] = False
    return pose, betas, valid


class ReadoutJoints(nn.Module):
    """The exported temporal graph: PoseBERT's refined window and the joints of the frame the runtime reads.

    ``(pose6d (B,T,24,6), betas (B,T,NB), valid (B,T)) -> pose6d_out (B,T,24,6), joints (B,1,24,3)``: the
    joints (``body.joints``, root-relative) of the read-out slot ``T-1-lag`` only (metadata
    ``architecture.joints_frames: readout``). The runtime uses no other slot's joints, and the body model
    on one frame instead of T is ~2.4 ms less per call on one CPU core (measured; the transformer is ~2 ms).
    """

    def __init__(self, model: PoseBERT) -> None:
        super().__init__()
        self.model = model

    def forward(self, pose6d: torch.Tensor, betas: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        out = m.regress(pose6d, valid)
        i = m.readout_index
        joints = m.body.joints(rot6d_to_rotmat(out[:, i]), betas[:, i])          # (B, 24, 3)
        return out, joints.unsqueeze(1)


def export_temporal(model: PoseBERT, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export :class:`ReadoutJoints` of ``model``: ``(pose6d, betas, valid) -> pose6d_out (B,T,24,6), joints
    (B,1,24,3)`` with fixed T and a dynamic batch axis."""
    path = Path(path)
    args = temporal_example_inputs(model)
    names = list(model_meta.TEMPORAL_INPUTS) + list(model_meta.TEMPORAL_OUTPUTS)
    onnx_export(ReadoutJoints(model).eval(), args, path, list(model_meta.TEMPORAL_INPUTS),
                list(model_meta.TEMPORAL_OUTPUTS), {n: {0: "B"} for n in names}, opset)
    t, nj = model.window, model.num_joints
    set_output_shapes(path, {"pose6d_out": ["B", t, nj, 6], "joints": ["B", 1, nj, 3]})
    return path


def _training_data(seed: int, ckpt: str | Path | None) -> str:
    if ckpt is None:
        return f"none: untrained weights (seed {seed})"
    desc = _temporal_ckpt(ckpt).get("training_data") if str(ckpt).endswith(".pt") else None
    return f"{desc} (checkpoint {Path(ckpt).name})" if isinstance(desc, str) else f"checkpoint {Path(ckpt).name}"


def _created_by() -> str:
    return f"training.export torch {torch.__version__}"


def neutral_bone_lengths(body, num_betas: int) -> list[float]:
    """Bone lengths (m, :data:`skeleton.BONES` order) of ``body`` with the neutral shape (zeros): the body size the
    runtime's ``body_scale: neutral`` scales every person to. Bone lengths do not depend on the pose."""
    with torch.no_grad():
        rot = torch.eye(3).expand(1, len(skeleton.JOINT_NAMES), 3, 3).contiguous()
        joints = body(rot, torch.zeros(1, num_betas)).joints[0].double()
    return [round(float((joints[j] - joints[p]).norm()), 5) for j, p in skeleton.BONES]


def per_frame_metadata(model: PerFrameRegressor, input_size: int, opset: int, seed: int,
                       ckpt: str | Path | None = None) -> model_meta.ModelMetadata:
    """Metadata of an exported :class:`PerFrameRegressor`."""
    return model_meta.ModelMetadata(
        kind=model_meta.KIND_PER_FRAME, name=f"mocap_spin_{model.backbone_name}",
        skeleton=skeleton.SKELETON_ID, joint_names=list(skeleton.JOINT_NAMES), opset=opset,
        trained=ckpt is not None, training_data=_training_data(seed, ckpt),
        num_betas=model.num_betas, input_size=[input_size, input_size],
        normalization=model_meta.Normalization(), keypoint_input=getattr(model, "keypoint_input", "none"),
        architecture={"type": "spin", "backbone": model.backbone_name, "iterations": model.iterations,
                      "hidden": model.fc2.out_features, "body_model": model.body.name,
                      "neutral_bones_m": neutral_bone_lengths(model.body, model.num_betas),
                      **({"cpu_hours": round(model.cpu_hours, 3)} if hasattr(model, "cpu_hours") else {}),
                      **({"weights": "fp16 storage, fp32 compute"} if getattr(model, "fp16_weights", False) else {})},
        created_by=_created_by())


def temporal_metadata(model: PoseBERT, opset: int, seed: int,
                      ckpt: str | Path | None = None) -> model_meta.ModelMetadata:
    """Metadata of an exported :class:`PoseBERT`."""
    return model_meta.ModelMetadata(
        kind=model_meta.KIND_TEMPORAL, name="posebert",
        skeleton=skeleton.SKELETON_ID, joint_names=list(skeleton.JOINT_NAMES), opset=opset,
        trained=ckpt is not None, training_data=_training_data(seed, ckpt),
        num_betas=model.num_betas, window=model.window,
        architecture={"type": "posebert", "L": model.num_layers, "D": model.dim, "heads": model.heads,
                      "ffn_dim": model.ffn_dim, "body_model": model.body.name,
                      "mode": model.mode, "attention": model.attention, "lag": model.lag,
                      "readout_index": model.readout_index, "lookaheads": model.lookaheads,
                      "regressor_iters": model.regressor_iters, "init": model.init,
                      "joints_frames": model_meta.JOINTS_READOUT},
        created_by=_created_by())


def compare_onnx(model: nn.Module, path: str | Path, inputs: dict[str, torch.Tensor],
                 output_names: tuple[str, ...]) -> dict[str, float]:
    """Run ``path`` with onnxruntime (CPU) and PyTorch on ``inputs``.

    Returns:
        output name -> max absolute difference.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {k: v.numpy() for k, v in inputs.items()}
    got = sess.run(list(output_names), feeds)
    with torch.no_grad():
        ref = model(*inputs.values())
    return {n: float(np.max(np.abs(g - r.numpy()))) for n, g, r in zip(output_names, got, ref)}


def _usable(path: Path, kind: str, body: BodyModel | None = None) -> bool:
    """True when ``path`` exists, its metadata loads (sha256 included) and matches the runtime skeleton
    and (if given) ``body``: same normalised body model and ``num_betas``."""
    try:
        meta = model_meta.load_metadata(path)
        model_meta.check_metadata(meta, kind=kind, joint_names=skeleton.JOINT_NAMES, source=str(path))
        if body is not None and (body_model_of(meta), meta.num_betas) != (body.name, body.num_shape):
            raise model_meta.ModelMetadataError(
                f"made for the '{body_model_of(meta)}' body ({meta.num_betas} shape parameters), exporting "
                f"for '{body.name}' ({body.num_shape})")
        return True
    except model_meta.ModelMetadataError as e:
        if path.exists():
            _log(f"re-exporting {path}: {e}")
        return False


def _trained_body(path: Path, kind: str = model_meta.KIND_PER_FRAME) -> str | None:
    """The body of a present, integrity-checked, *trained* model of ``kind`` (default per-frame) at ``path``,
    else None."""
    try:
        meta = model_meta.load_metadata(path)
        model_meta.check_metadata(meta, kind=kind, joint_names=skeleton.JOINT_NAMES, source=str(path))
    except model_meta.ModelMetadataError:
        return None
    return body_model_of(meta) if meta.trained else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--backbone", default=None, choices=sorted(BACKBONES),
                   help=f"per-frame backbone (default: the checkpoint's, else {UNTRAINED_BACKBONE}; the trained "
                        f"default is {DEFAULT_BACKBONE})")
    p.add_argument("--input-size", type=int, default=None,
                   help="square per-frame input size H=W (default: the checkpoint's, else 224)")
    p.add_argument("--per-frame-only", action="store_true",
                   help="export only the per-frame model (leave the temporal models in --out untouched)")
    p.add_argument("--temporal-only", action="store_true",
                   help="export only the temporal (PoseBERT) models (leave the per-frame model in --out untouched)")
    p.add_argument("--fp16", action="store_true",
                   help="store the per-frame weights as float16 (fp32 compute; the fp32 file is kept as "
                        "mocap_spin_fp32.onnx)")
    p.add_argument("--window", type=int, default=16, help="PoseBERT window length T")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-frame-ckpt", default=None)
    p.add_argument("--temporal-ckpt", default=None, help="causal PoseBERT checkpoint -> posebert.onnx")
    p.add_argument("--temporal-lag-ckpt", nargs="*", default=[],
                   help="lagged PoseBERT checkpoints -> posebert_lag{k}.onnx (k from the checkpoint)")
    p.add_argument("--lags", type=int, nargs="*", default=None,
                   help="also export posebert_lag{K}.onnx, untrained, for these lags (those no checkpoint gives)")
    p.add_argument("--temporal-layers", type=int, default=TEMPORAL_DEFAULTS["num_layers"], help="untrained L")
    p.add_argument("--temporal-dim", type=int, default=TEMPORAL_DEFAULTS["dim"], help="untrained D")
    p.add_argument("--temporal-heads", type=int, default=TEMPORAL_DEFAULTS["heads"])
    p.add_argument("--temporal-ffn", type=int, default=TEMPORAL_DEFAULTS["ffn_dim"])
    p.add_argument("--body", default=None, choices=["skeleton", "anny", "smpl"],
                   help="body model computing the joints of both models (default: the checkpoints' body, else "
                        "skeleton)")
    p.add_argument("--smpl-model-path", default=None, help="SMPL .pkl or folder for --body smpl "
                                                           "(default $SMPL_MODEL_PATH)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--missing-only", action="store_true",
                   help="keep every model already in --out whose metadata loads and checks (e.g. committed "
                        "trained models); export only the missing or broken ones")
    a = p.parse_args(argv)

    out = Path(a.out)
    t_all = time.perf_counter()
    failed = False

    # One body for both models: --body, else the one the checkpoints name, else the skeleton.
    named = {ck: checkpoint_body(ck) for ck in [a.per_frame_ckpt, a.temporal_ckpt, *a.temporal_lag_ckpt] if ck}
    named = {ck: b for ck, b in named.items() if b is not None}
    wanted = {normalize_body_model(a.body)} if a.body else set()
    if len(wanted | set(named.values())) > 1:
        p.error("the body models disagree (" + ", ".join([f"--body {a.body}"] * bool(a.body) + [
            f"{ck}: {b}" for ck, b in named.items()]) + "): both models must use the same body")
    present = _trained_body(out / PER_FRAME_FILE) if a.missing_only and not wanted and not named else None
    if present:   # --missing-only: a committed trained per-frame model decides the body of what is missing
        _log(f"{out / PER_FRAME_FILE} is trained with the '{present}' body: exporting missing models for it")
        wanted = {present}
    elif a.missing_only and not wanted and not named:   # else committed trained PoseBERT models decide it
        tb = {b for b in (_trained_body(out / TEMPORAL_FILE, model_meta.KIND_TEMPORAL),
                          _trained_body(out / TEMPORAL_LAG_FILE.format(k=4), model_meta.KIND_TEMPORAL)) if b}
        if len(tb) == 1:
            _log(f"the trained temporal models in {out} use the '{next(iter(tb))}' body: exporting missing models for it")
            wanted = tb
    body_name = (wanted | set(named.values()) or {"skeleton"}).pop()
    t0 = time.perf_counter()
    body = make_body(body_name, a.smpl_model_path)
    _log(f"body model '{body.name}' ({body.num_shape} shape parameters) in {time.perf_counter() - t0:.1f} s")

    checks = []
    g = torch.Generator().manual_seed(a.seed + 1)
    if a.temporal_only:
        _log(f"--temporal-only: {out / PER_FRAME_FILE} left as it is")
    elif a.missing_only and (_usable(out / PER_FRAME_FILE, model_meta.KIND_PER_FRAME, body)
                             or _trained_body(out / PER_FRAME_FILE)):   # never replace trained weights
        _log(f"keeping {out / PER_FRAME_FILE} (present, metadata checks)")
    else:
        spin = build_per_frame(a.backbone, a.seed, a.per_frame_ckpt, body=body)
        a.input_size = a.input_size or getattr(spin, "input_size", 224)
        _log(f"built per-frame model ({spin.backbone_name}, {a.input_size}x{a.input_size}, seed {a.seed}"
             f"{', ckpt ' + a.per_frame_ckpt if a.per_frame_ckpt else ', untrained'})")
        t0 = time.perf_counter()
        spin_path = export_per_frame(spin, out / PER_FRAME_FILE, a.input_size, a.opset)
        if a.fp16:
            from training.spin.onnx_fp16 import convert_weights_to_fp16

            fp32 = spin_path.with_name(spin_path.stem + "_fp32.onnx")
            spin_path.replace(fp32)
            model_meta.write_metadata(fp32, per_frame_metadata(spin, a.input_size, a.opset, a.seed, a.per_frame_ckpt))
            convert_weights_to_fp16(fp32, spin_path)
            spin.fp16_weights = True
        meta = model_meta.write_metadata(
            spin_path, per_frame_metadata(spin, a.input_size, a.opset, a.seed, a.per_frame_ckpt))
        _log(f"wrote {spin_path} ({spin_path.stat().st_size / 1e6:.1f} MB) and {meta.name} "
             f"in {time.perf_counter() - t0:.1f} s")
        checks.append((spin, spin_path, per_frame_example_inputs(spin, a.input_size, 2, g), model_meta.PER_FRAME_OUTPUTS))
        if a.fp16:   # the fp16 file against the model with the same rounded weights; the fp32 file as usual
            checks[-1] = (fp16_rounded(spin), *checks[-1][1:])
            checks.append((spin, fp32, checks[-1][2], model_meta.PER_FRAME_OUTPUTS))

    arch = {"num_layers": a.temporal_layers, "dim": a.temporal_dim, "heads": a.temporal_heads,
            "ffn_dim": a.temporal_ffn}
    # (file, checkpoint or None, lag): causal first, then the lagged variants.
    jobs: list[tuple[str, str | None, int]] = [(TEMPORAL_FILE, a.temporal_ckpt, 0)]
    for ck in a.temporal_lag_ckpt:
        lag = int(_temporal_ckpt(ck).get("model_config", {}).get("lag", 0))
        if lag < 1:
            p.error(f"--temporal-lag-ckpt {ck}: not a lagged model (lag {lag}); use --temporal-ckpt")
        jobs.append((TEMPORAL_LAG_FILE.format(k=lag), ck, lag))
    lags = a.lags if a.lags is not None else list(DEFAULT_LAGS)
    jobs += [(TEMPORAL_LAG_FILE.format(k=k), None, k) for k in lags if k not in {j[2] for j in jobs}]
    if a.per_frame_only:
        jobs = []
    temporal = []
    for fname, ck, lag in jobs:
        if a.missing_only and _usable(out / fname, model_meta.KIND_TEMPORAL, body):
            _log(f"keeping {out / fname} (present, metadata checks)")
            continue
        _log(f"building PoseBERT {fname} (T={a.window}, lag {lag}, seed {a.seed}"
             f"{', ckpt ' + ck if ck else ', untrained'})")
        bert = build_temporal(a.window, a.seed, ck, body=body, lag=lag, **({} if ck else arch))
        if bert.lag != lag or (lag == 0 and bert.attention != "causal"):
            p.error(f"{ck}: {bert.mode} model cannot be exported as {fname} (needs "
                    f"{'causal' if lag == 0 else f'lag{lag}'})")
        t0 = time.perf_counter()
        bert_path = export_temporal(bert, out / fname, a.opset)
        meta = model_meta.write_metadata(bert_path, temporal_metadata(bert, a.opset, a.seed, ck))
        _log(f"wrote {bert_path} ({bert_path.stat().st_size / 1e6:.1f} MB, {bert.mode}, L={bert.num_layers} "
             f"D={bert.dim}) and {meta.name} in {time.perf_counter() - t0:.1f} s")
        temporal.append((bert, bert_path))

    _log("verifying with onnxruntime (CPUExecutionProvider) on random inputs")
    for bert, bert_path in temporal:
        checks.append((ReadoutJoints(bert).eval(), bert_path, dict(zip(model_meta.TEMPORAL_INPUTS,
                                                 temporal_example_inputs(bert, 1, a.seed + 2))),
                       model_meta.TEMPORAL_OUTPUTS))
    for model, path, inputs, names in checks:
        for name, diff in compare_onnx(model, path, inputs, names).items():
            fp16 = a.fp16 and path.name == PER_FRAME_FILE
            tol = FP16_MAX_ABS_DIFF if fp16 else MAX_ABS_DIFF
            ok = diff <= tol
            failed |= not ok
            _log(f"  {path.name}:{name:<10s} max|onnx - torch| = {diff:.2e} {'ok' if ok else 'FAIL'}"
                 + (f" (fp16 weights, tolerance {tol:g})" if fp16 else ""))

    _log(f"done in {time.perf_counter() - t_all:.1f} s" + (" -- VERIFICATION FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
