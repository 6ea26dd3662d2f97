"""Tiny real ONNX graphs with the per-frame interface, for tests that need a controllable model."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception.metadata import KIND_PER_FRAME, ModelMetadata, Normalization, write_metadata


def write_constant_per_frame(path, size: int = 32, joints: np.ndarray | None = None, cam=(1.0, 0.0, 0.0),
                             with_metadata: bool = False, input_size: int | None = None) -> None:
    """image (N,3,size,size) -> constant pose6d/betas/cam/joints (batch 1). ``joints`` (24,3) default ones."""
    img = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("pose6d", "betas", "cam", "joints")]
    values = {"pose6d": np.tile([1, 0, 0, 0, 1, 0], (1, 24, 1)), "betas": np.zeros((1, 10)),
              "cam": np.asarray(cam, float)[None],
              "joints": (np.ones((24, 3)) if joints is None else np.asarray(joints, float))[None]}
    nodes, consts = [], []
    for name, v in values.items():
        consts.append(helper.make_tensor(f"{name}_c", TensorProto.FLOAT, list(v.shape), v.ravel().astype(np.float32)))
        nodes.append(helper.make_node("Identity", [f"{name}_c"], [name]))
    g = helper.make_graph(nodes, "g", [img], outs, initializer=consts)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    if with_metadata:
        s = input_size or size
        write_metadata(path, ModelMetadata(kind=KIND_PER_FRAME, name="constant", skeleton=skeleton.SKELETON_ID,
                                           joint_names=list(skeleton.JOINT_NAMES), opset=17, trained=False,
                                           training_data="test constant", input_size=[s, s],
                                           normalization=Normalization()))
