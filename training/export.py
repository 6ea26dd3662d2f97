"""Export the per-frame (SPIN-style) and temporal (PoseBERT) models to ONNX with their metadata.

Usage::

    python -m training.export --out models [--backbone resnet18] [--input-size 224] [--window 16]
        [--seed 0] [--per-frame-ckpt PATH] [--temporal-ckpt PATH] [--opset 17]

Writes ``<out>/mocap_spin.onnx`` and ``<out>/posebert.onnx`` plus their ``.json`` metadata
(:func:`pose_estimation_ros.model_meta.write_metadata`), then runs both files with onnxruntime on
random inputs and compares to PyTorch; exits non-zero if any output differs by more than 1e-3.
Without checkpoints the weights are random (seeded) and the metadata says ``trained: false``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pose_estimation_ros import model_meta, skeleton
from training.models.posebert import PoseBERT
from training.models.spin import PerFrameRegressor, mean_pose6d

PER_FRAME_FILE = "mocap_spin.onnx"
TEMPORAL_FILE = "posebert.onnx"
DEFAULT_OPSET = 17
MAX_ABS_DIFF = 1e-3


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


def build_per_frame(backbone: str = "resnet18", seed: int = 0, ckpt: str | Path | None = None,
                    **kwargs: Any) -> PerFrameRegressor:
    """Seeded per-frame model in eval mode, optionally loaded from ``ckpt``."""
    torch.manual_seed(seed)
    model = PerFrameRegressor(backbone=backbone, **kwargs)
    if ckpt is not None:
        load_checkpoint(model, ckpt)
    return model.eval()


def build_temporal(window: int = 16, seed: int = 0, ckpt: str | Path | None = None,
                   **kwargs: Any) -> PoseBERT:
    """Seeded PoseBERT in eval mode, optionally loaded from ``ckpt``."""
    torch.manual_seed(seed)
    model = PoseBERT(window=window, **kwargs)
    if ckpt is not None:
        load_checkpoint(model, ckpt)
    return model.eval()


def _onnx_export(model: nn.Module, args: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                 output_names: list[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer warnings
        torch.onnx.export(model, args, str(path), dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)


def _fix_output_shapes(path: Path, shapes: dict[str, list[int | str]]) -> None:
    """Write the known output shapes into the graph (the tracer leaves some dims as symbols)."""
    import onnx

    proto = onnx.load(str(path))
    for out in proto.graph.output:
        if out.name in shapes:
            dims = out.type.tensor_type.shape.dim
            for d, v in zip(dims, shapes[out.name]):
                if isinstance(v, int):
                    d.dim_value = v
                else:
                    d.dim_param = v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export_per_frame(model: PerFrameRegressor, path: str | Path, input_size: int = 224,
                     opset: int = DEFAULT_OPSET) -> Path:
    """Export ``image (N,3,H,W) -> pose6d, betas, cam, joints`` with a dynamic batch axis N."""
    path = Path(path)
    dummy = torch.zeros(1, 3, input_size, input_size)
    axes = {model_meta.PER_FRAME_INPUT: {0: "N"}, **{n: {0: "N"} for n in model_meta.PER_FRAME_OUTPUTS}}
    _onnx_export(model, (dummy,), path, [model_meta.PER_FRAME_INPUT], list(model_meta.PER_FRAME_OUTPUTS),
                 axes, opset)
    nj, nb = model.num_joints, model.num_betas
    _fix_output_shapes(path, {"pose6d": ["N", nj, 6], "betas": ["N", nb], "cam": ["N", 3],
                              "joints": ["N", nj, 3]})
    return path


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


def export_temporal(model: PoseBERT, path: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``(pose6d, betas, valid) -> pose6d_out, joints`` with fixed T and a dynamic batch axis."""
    path = Path(path)
    args = temporal_example_inputs(model)
    names = list(model_meta.TEMPORAL_INPUTS) + list(model_meta.TEMPORAL_OUTPUTS)
    _onnx_export(model, args, path, list(model_meta.TEMPORAL_INPUTS), list(model_meta.TEMPORAL_OUTPUTS),
                 {n: {0: "B"} for n in names}, opset)
    t, nj = model.window, model.num_joints
    _fix_output_shapes(path, {"pose6d_out": ["B", t, nj, 6], "joints": ["B", t, nj, 3]})
    return path


def _training_data(seed: int, ckpt: str | Path | None) -> str:
    return f"none: untrained weights (seed {seed})" if ckpt is None else f"checkpoint {Path(ckpt).name}"


def _created_by() -> str:
    return f"training.export torch {torch.__version__}"


def per_frame_metadata(model: PerFrameRegressor, input_size: int, opset: int, seed: int,
                       ckpt: str | Path | None = None) -> model_meta.ModelMetadata:
    """Metadata of an exported :class:`PerFrameRegressor`."""
    return model_meta.ModelMetadata(
        kind=model_meta.KIND_PER_FRAME, name=f"mocap_spin_{model.backbone_name}",
        skeleton=skeleton.SKELETON_ID, joint_names=list(skeleton.JOINT_NAMES), opset=opset,
        trained=ckpt is not None, training_data=_training_data(seed, ckpt),
        num_betas=model.num_betas, input_size=[input_size, input_size],
        normalization=model_meta.Normalization(),
        architecture={"type": "spin", "backbone": model.backbone_name, "iterations": model.iterations,
                      "hidden": model.fc2.out_features, "body_model": "skeleton_fk_linear_scale"},
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
                      "ffn_dim": model.ffn_dim, "body_model": "skeleton_fk_linear_scale"},
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--backbone", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    p.add_argument("--input-size", type=int, default=224, help="square input size H=W")
    p.add_argument("--window", type=int, default=16, help="PoseBERT window length T")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-frame-ckpt", default=None)
    p.add_argument("--temporal-ckpt", default=None)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    a = p.parse_args(argv)

    out = Path(a.out)
    t_all = time.perf_counter()
    failed = False

    _log(f"building per-frame model ({a.backbone}, {a.input_size}x{a.input_size}, seed {a.seed}"
         f"{', ckpt ' + a.per_frame_ckpt if a.per_frame_ckpt else ', untrained'})")
    spin = build_per_frame(a.backbone, a.seed, a.per_frame_ckpt)
    t0 = time.perf_counter()
    spin_path = export_per_frame(spin, out / PER_FRAME_FILE, a.input_size, a.opset)
    meta = model_meta.write_metadata(
        spin_path, per_frame_metadata(spin, a.input_size, a.opset, a.seed, a.per_frame_ckpt))
    _log(f"wrote {spin_path} ({spin_path.stat().st_size / 1e6:.1f} MB) and {meta.name} "
         f"in {time.perf_counter() - t0:.1f} s")

    _log(f"building PoseBERT (T={a.window}, seed {a.seed}"
         f"{', ckpt ' + a.temporal_ckpt if a.temporal_ckpt else ', untrained'})")
    bert = build_temporal(a.window, a.seed, a.temporal_ckpt)
    t0 = time.perf_counter()
    bert_path = export_temporal(bert, out / TEMPORAL_FILE, a.opset)
    meta = model_meta.write_metadata(bert_path, temporal_metadata(bert, a.opset, a.seed, a.temporal_ckpt))
    _log(f"wrote {bert_path} ({bert_path.stat().st_size / 1e6:.1f} MB) and {meta.name} "
         f"in {time.perf_counter() - t0:.1f} s")

    _log("verifying with onnxruntime (CPUExecutionProvider) on random inputs")
    g = torch.Generator().manual_seed(a.seed + 1)
    checks = [
        (spin, spin_path, {model_meta.PER_FRAME_INPUT: torch.randn(2, 3, a.input_size, a.input_size, generator=g)},
         model_meta.PER_FRAME_OUTPUTS),
        (bert, bert_path, dict(zip(model_meta.TEMPORAL_INPUTS, temporal_example_inputs(bert, 1, a.seed + 2))),
         model_meta.TEMPORAL_OUTPUTS),
    ]
    for model, path, inputs, names in checks:
        for name, diff in compare_onnx(model, path, inputs, names).items():
            ok = diff <= MAX_ABS_DIFF
            failed |= not ok
            _log(f"  {path.name}:{name:<10s} max|onnx - torch| = {diff:.2e} {'ok' if ok else 'FAIL'}")

    _log(f"done in {time.perf_counter() - t_all:.1f} s" + (" -- VERIFICATION FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
