"""Joints-only body forward exported to ONNX, and its check against PyTorch.

Usage::

    python -m training.body.export_joints --body anny --out models/body_joints_anny.onnx
        [--rotation rotmat|rot6d] [--no-transl] [--smpl-model-path PATH] [--opset 17]

The exported graph is ``BodyModel.joints`` (:mod:`training.body.base`): canonical forward
kinematics on the backend's shape-dependent rest joints, no mesh, no torch needed at run time.

ONNX interface (float32, dynamic batch ``N``):

* inputs: ``rotmats`` (N, 24, 3, 3) local rotations (joint 0 = global orientation), or ``pose6d``
  (N, 24, 6) with ``--rotation rot6d`` (layout of :mod:`training.geometry.rotations`);
  ``shape`` (N, S) the backend's shape; ``transl`` (N, 3) unless ``--no-transl``;
* output: ``joints`` (N, 24, 3) metres, pelvis at ``transl``.

What ``shape`` is, per backend (it is a graph input for all of them, nothing is baked in):

* ``skeleton``: betas of the linear scale model (S = 10, :mod:`training.body.skeleton_fk`);
* ``anny``: phenotype - neutral (S = 6, gender, age, muscle, weight, height, proportions;
  :mod:`training.body.anny_body`). The graph holds Anny's phenotype -> blend-shape coefficient map
  and the bone-head blend shapes of the 24 mapped bones (~100k constants, a 0.6 MB file), the A->T arm
  swings and the FK: it reproduces ``AnnyBody.joints`` exactly, which equals Anny's own posed bone
  heads (Warp skinning and the mesh are not part of it);
* ``smpl``: betas (S = num_betas); the graph holds ``J_regressor @ v_template`` and
  ``J_regressor @ shapedirs`` (derived from the user's SMPL file: do not redistribute it).

A ``.json`` sidecar next to the file records the body model, the inputs and the torch/ONNX check.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pose_estimation_ros import skeleton
from training.onnx_utils import onnx_export, set_output_shapes
from training.body.base import BodyModel
from training.geometry.rotations import axis_angle_to_rotmat, rot6d_to_rotmat, rotmat_to_rot6d

__all__ = ["JointsOnly", "example_inputs", "export_joints_onnx", "compare_joints_onnx", "MAX_ABS_DIFF"]

DEFAULT_OPSET = 17
MAX_ABS_DIFF = 1e-4   # metres


class JointsOnly(nn.Module):
    """``(rotation, shape[, transl]) -> joints`` wrapper of ``body.joints`` for export."""

    def __init__(self, body: BodyModel, rotation: str = "rotmat", with_transl: bool = True) -> None:
        super().__init__()
        if rotation not in ("rotmat", "rot6d"):
            raise ValueError(f"rotation must be 'rotmat' or 'rot6d', got {rotation!r}")
        self.body = body
        self.rotation = rotation
        self.with_transl = with_transl

    @property
    def input_names(self) -> list[str]:
        rot = "rotmats" if self.rotation == "rotmat" else "pose6d"
        return [rot, "shape"] + (["transl"] if self.with_transl else [])

    def forward(self, rot: torch.Tensor, shape: torch.Tensor, transl: torch.Tensor | None = None) -> torch.Tensor:
        rotmats = rot if self.rotation == "rotmat" else rot6d_to_rotmat(rot)
        return self.body.joints(rotmats, shape, transl if self.with_transl else None)


def example_inputs(model: JointsOnly, batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """Plausible random inputs (rotations up to ~1 rad per joint, small shapes) keyed by input name."""
    g = torch.Generator().manual_seed(seed)
    rotmats = axis_angle_to_rotmat(0.6 * torch.randn(batch, skeleton.NUM_JOINTS, 3, generator=g))
    rot = rotmats if model.rotation == "rotmat" else rotmat_to_rot6d(rotmats)
    shape = 0.3 * torch.randn(batch, model.body.num_shape, generator=g)
    inputs = {model.input_names[0]: rot.float(), "shape": shape.float()}
    if model.with_transl:
        inputs["transl"] = torch.randn(batch, 3, generator=g).float()
    return inputs


def export_joints_onnx(body: BodyModel, path: str | Path, rotation: str = "rotmat", with_transl: bool = True,
                       opset: int = DEFAULT_OPSET) -> Path:
    """Export ``body``'s joints-only forward to ``path`` (dynamic batch), return the path.

    The graph is float32: ``body`` is converted in place with ``body.float()``.
    """
    path = Path(path)
    model = JointsOnly(body.float().eval(), rotation, with_transl).eval()
    inputs = example_inputs(model, batch=2)
    names = model.input_names
    axes = {n: {0: "N"} for n in names + ["joints"]}
    onnx_export(model, tuple(inputs[n] for n in names), path, names, ["joints"], axes, opset)
    set_output_shapes(path, {"joints": ["N", skeleton.NUM_JOINTS, 3]})
    return path


def compare_joints_onnx(body: BodyModel, path: str | Path, rotation: str = "rotmat", with_transl: bool = True,
                        batch: int = 5, seed: int = 1) -> float:
    """Max |onnxruntime - torch| (metres) of the joints on random inputs of batch ``batch``."""
    import onnxruntime as ort

    model = JointsOnly(body.float().eval(), rotation, with_transl).eval()
    inputs = example_inputs(model, batch=batch, seed=seed)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["joints"], {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ref = model(*inputs.values()).numpy()
    return float(np.max(np.abs(got - ref)))


def write_sidecar(body: BodyModel, path: Path, rotation: str, with_transl: bool, opset: int,
                  max_abs_diff: float) -> Path:
    model = JointsOnly(body, rotation, with_transl)
    meta = {
        "kind": "body_joints", "body_model": body.name, "skeleton": skeleton.SKELETON_ID,
        "joint_names": list(skeleton.JOINT_NAMES), "num_shape": int(body.num_shape),
        "inputs": model.input_names, "outputs": ["joints"], "rotation": rotation, "opset": opset,
        "onnx_vs_torch_max_abs_diff_m": max_abs_diff,
        "created_by": f"training.body.export_joints torch {torch.__version__}",
    }
    if body.name == "anny":
        from training.body.anny_body import ANNY_PHENOTYPES, NEUTRAL_PHENOTYPE
        meta["shape_meaning"] = {"phenotypes": list(ANNY_PHENOTYPES), "centered": bool(body.centered),
                                 "neutral": list(NEUTRAL_PHENOTYPE)}
    out = path.with_suffix(".json")
    out.write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    from training.body.registry import BODY_MODELS, make_body_model

    p = argparse.ArgumentParser(prog="python -m training.body.export_joints", description=__doc__.splitlines()[0])
    p.add_argument("--body", default="anny", choices=BODY_MODELS)
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--rotation", default="rotmat", choices=["rotmat", "rot6d"])
    p.add_argument("--no-transl", action="store_true")
    p.add_argument("--smpl-model-path", default=None, help="SMPL .pkl or folder (default $SMPL_MODEL_PATH)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    a = p.parse_args(argv)
    kw = {"model_path": a.smpl_model_path} if a.body == "smpl" else {}
    body = make_body_model(a.body, **kw)
    path = export_joints_onnx(body, a.out, a.rotation, not a.no_transl, a.opset)
    diff = compare_joints_onnx(body, path, a.rotation, not a.no_transl)
    side = write_sidecar(body, path, a.rotation, not a.no_transl, a.opset, diff)
    print(f"[export_joints] {path} ({a.body}): max |onnx - torch| = {diff:.2e} m; metadata {side}")
    return 0 if diff <= MAX_ABS_DIFF else 1


if __name__ == "__main__":
    sys.exit(main())
