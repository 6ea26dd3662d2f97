"""Fixtures for the perception tests: batch-aware tiny ONNX per-frame models, a scripted detector, and
synthetic frames with several people (the project's own synthetic person, drawn more than once)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception.detectors import Detection
from pose_estimation_ros.perception.metadata import (KIND_PER_FRAME, ModelMetadata, Normalization, load_metadata,
                                                     write_metadata)
from pose_estimation_ros.perception.pipeline import default_model_dir
from pose_estimation_ros.synthetic_scene import SyntheticScene


def write_batch_per_frame(path, size: int = 32, joints=None, cam=(1.0, 0.0, 0.0), cam_gain=(0.0, 0.0, 0.0),
                          joints_gain: float = 0.0) -> None:
    """image (N,3,S,S) -> per-frame outputs with batch N and metadata beside it.

    Each output is ``constant + gain * m`` where ``m`` (N,) is the crop's mean pixel value (normalised
    input): a model whose answer changes with what it sees (``gain`` != 0 makes a "bad" model that throws
    the translation and the joints around), constant with zero gains.
    """
    # The packaged temporal models decide the body: a per-frame model on another body is refused beside them.
    temporal = load_metadata(default_model_dir() / "posebert.onnx")
    nb = temporal.num_betas
    img = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("pose6d", "betas", "cam", "joints")]
    j = np.ones((24, 3)) if joints is None else np.asarray(joints, float)
    consts = {"pose6d": np.tile([1, 0, 0, 0, 1, 0], (1, 24, 1)), "betas": np.zeros((1, nb)),
              "cam": np.asarray(cam, float)[None], "joints": j[None]}
    gains = {"pose6d": np.zeros((1, 24, 6)), "betas": np.zeros((1, nb)), "cam": np.asarray(cam_gain, float)[None],
             "joints": np.full((1, 24, 3), joints_gain)}
    nodes = [helper.make_node("ReduceMean", ["image"], ["m4"], axes=[1, 2, 3], keepdims=1),   # (N,1,1,1)
             helper.make_node("Reshape", ["m4", "shape3"], ["m3"]),                           # (N,1,1)
             helper.make_node("Reshape", ["m4", "shape2"], ["m2"])]                           # (N,1)
    inits = [helper.make_tensor("shape3", TensorProto.INT64, [3], [-1, 1, 1]),
             helper.make_tensor("shape2", TensorProto.INT64, [2], [-1, 1])]
    for name, c in consts.items():
        m = "m2" if c.ndim == 2 else "m3"
        inits += [helper.make_tensor(f"{name}_c", TensorProto.FLOAT, list(c.shape), c.ravel().astype(np.float32)),
                  helper.make_tensor(f"{name}_g", TensorProto.FLOAT, list(c.shape),
                                     gains[name].ravel().astype(np.float32))]
        nodes += [helper.make_node("Mul", [m, f"{name}_g"], [f"{name}_v"]),
                  helper.make_node("Add", [f"{name}_v", f"{name}_c"], [name])]
    g = helper.make_graph(nodes, "g", [img], outs, initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    write_metadata(path, ModelMetadata(kind=KIND_PER_FRAME, name="test_batch", skeleton=skeleton.SKELETON_ID,
                                       joint_names=list(skeleton.JOINT_NAMES), opset=17, trained=False,
                                       training_data="test fixture", input_size=[size, size],
                                       normalization=Normalization(), num_betas=nb,
                                       architecture={"body_model": temporal.architecture.get("body_model")}))


@dataclass
class ScriptedDetector:
    """A detector whose answers the test sets: ``boxes`` is a list of (xyxy, score) for the next frame."""

    boxes: list = None
    name: str = "scripted"
    calls: int = 0

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        self.calls += 1
        return [Detection(np.asarray(b, np.float32), s) for b, s in (self.boxes or [])]


class Crowd:
    """Several synthetic people in one frame: person k walks on its own line, optionally sideways.

    Args:
        lines: per person ``(depth_m, x_start_m, x_speed_m_per_s)``; the person walks in place (no depth
            motion) and slides sideways at ``x_speed``.
    """

    def __init__(self, lines, width: int = 320, height: int = 240) -> None:
        self.lines = lines
        self.scenes = [SyntheticScene(width, height, near_m=d - 0.01, far_m=d, period_s=1e6) for d, _, _ in lines]
        self.width, self.height = width, height

    def render(self, t: float) -> tuple[np.ndarray, list[dict]]:
        """Frame at ``t`` and the per-person ground truth (with ``bbox``, ``visible`` fraction), far people first."""
        img = self.scenes[0].background().copy()
        gts = []
        for (depth, x0, vx), sc in zip(self.lines, self.scenes):
            sc.lateral_m = x0 + vx * t
            gt = sc.pose(t)
            gt["bbox"] = sc._bbox_only(gt)   # noqa: SLF001 - the scene draws one person; we compose several
            gts.append(gt)
        order = sorted(range(len(gts)), key=lambda i: -gts[i]["joints_cam"][0, 2])
        for i in order:
            self.scenes[i]._draw_person(img, gts[i])   # noqa: SLF001
        for i, gt in enumerate(gts):   # fraction of the box not covered by a nearer person's box
            x0, y0, x1, y1 = gt["bbox"]
            area = max((x1 - x0) * (y1 - y0), 1e-9)
            covered = 0.0
            for k, other in enumerate(gts):
                if k != i and other["joints_cam"][0, 2] < gt["joints_cam"][0, 2]:
                    a0, b0, a1, b1 = other["bbox"]
                    covered = max(covered, max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0)))
            gt["visible"] = 1.0 - covered / area
        return img, gts
