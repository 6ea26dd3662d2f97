"""fp16 storage of an ONNX model's weights, fp32 compute (for CPU robots and git-sized files).

Every float32 initializer with at least ``min_elements`` values is stored as float16 and followed by a
``Cast`` back to float32, so the graph's inputs, outputs and arithmetic stay float32 (onnxruntime's
CPU kernels are float32; a full fp16 graph would fall back or lose accuracy) while the file is about
half the size. The outputs differ from the fp32 model only by the weight rounding (relative ~5e-4).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["convert_weights_to_fp16"]


def convert_weights_to_fp16(src: str | Path, dst: str | Path, min_elements: int = 16) -> Path:
    """Write ``dst``: ``src`` with its large float32 initializers stored as float16 (see module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            keep.append(init)
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        half = numpy_helper.from_array(arr, init.name + "__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    dst = Path(dst)
    onnx.save(model, str(dst))
    return dst
