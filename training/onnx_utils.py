"""Shared ONNX export steps: the legacy (tracing) exporter with warnings silenced, and writing the
known output shapes into the graph."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def onnx_export(model: nn.Module, args: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                output_names: list[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> None:
    """Export ``model`` with the tracing exporter (dynamo off: our graphs are static), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer warnings
        torch.onnx.export(model, args, str(path), dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)


def set_output_shapes(path: Path, shapes: dict[str, list[int | str]]) -> None:
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
