"""Metadata: round trip, and the runtime refusing every kind of mismatch with a clear message."""
import json

import numpy as np
import pytest

from onnx_fixtures import write_constant_per_frame
from pose_estimation_ros import skeleton
from pose_estimation_ros.perception.inference import OnnxModel, select_providers
from pose_estimation_ros.perception.metadata import (KIND_PER_FRAME, KIND_TEMPORAL, ModelMetadata, ModelMetadataError,
                                            Normalization, check_metadata, load_metadata, write_metadata)

NAMES = list(skeleton.JOINT_NAMES)


def per_frame_meta(**kw) -> ModelMetadata:
    d = dict(kind=KIND_PER_FRAME, name="t", skeleton="smpl24", joint_names=NAMES, opset=17, trained=False,
             training_data="none", input_size=[224, 224], normalization=Normalization())
    d.update(kw)
    return ModelMetadata(**d)


def test_round_trip(tmp_path):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    meta = per_frame_meta(input_size=[32, 32])
    write_metadata(p, meta)
    back = load_metadata(p)
    assert back == meta and back.onnx_sha256 == meta.onnx_sha256 and len(back.onnx_sha256) == 64
    check_metadata(back, kind=KIND_PER_FRAME, joint_names=NAMES, input_size=(32, 32))
    m = OnnxModel(p, kind=KIND_PER_FRAME, joint_names=NAMES)
    outs = m.run({"image": np.zeros((1, 3, 32, 32), np.float32)})
    assert [o.shape for o in outs] == [(1, 24, 6), (1, 10), (1, 3), (1, 24, 3)]


def test_missing_files(tmp_path):
    with pytest.raises(ModelMetadataError, match="model file not found"):
        load_metadata(tmp_path / "nope.onnx")
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    with pytest.raises(ModelMetadataError, match="metadata file not found"):
        load_metadata(p)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelMetadataError, match="malformed metadata"):
        load_metadata(p)


def test_swapped_onnx_file_is_refused(tmp_path):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    write_metadata(p, per_frame_meta(input_size=[32, 32]))
    write_constant_per_frame(p, size=48)      # someone replaced the model, not the JSON
    with pytest.raises(ModelMetadataError, match="sha256 differs"):
        load_metadata(p)


@pytest.mark.parametrize("kwargs,expect", [
    (dict(kind=KIND_TEMPORAL), "expected 'temporal'"),
    (dict(joint_names=NAMES[:-1]), "joint names differ"),
    (dict(opset=9), "opset 9 not supported"),
    (dict(rotation_repr="axis_angle"), "rotation representation"),
])
def test_check_refuses_mismatch(kwargs, expect):
    kind = kwargs.pop("kind", KIND_PER_FRAME)
    meta = per_frame_meta(**kwargs)
    with pytest.raises(ModelMetadataError, match=expect):
        check_metadata(meta, kind=kind, joint_names=NAMES)


def test_input_size_and_window_mismatch():
    with pytest.raises(ModelMetadataError, match=r"input size \(224, 224\) differs from configured \(256, 256\)"):
        check_metadata(per_frame_meta(), kind=KIND_PER_FRAME, joint_names=NAMES, input_size=(256, 256))
    t = ModelMetadata(kind=KIND_TEMPORAL, name="pb", skeleton="smpl24", joint_names=NAMES, opset=17, trained=False,
                      training_data="none", window=16)
    check_metadata(t, kind=KIND_TEMPORAL, joint_names=NAMES, window=16)
    with pytest.raises(ModelMetadataError, match="window length 16 differs from configured window 8"):
        check_metadata(t, kind=KIND_TEMPORAL, joint_names=NAMES, window=8)


def test_graph_that_contradicts_its_metadata_is_refused(tmp_path):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p, size=32)
    write_metadata(p, per_frame_meta(input_size=[64, 64]))   # metadata lies about the input size
    with pytest.raises(ModelMetadataError, match="graph input size"):
        OnnxModel(p, kind=KIND_PER_FRAME, joint_names=NAMES)


def test_unknown_metadata_key_is_refused(tmp_path):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    write_metadata(p, per_frame_meta(input_size=[32, 32]))
    d = json.loads((tmp_path / "m.json").read_text())
    d["surprise"] = 1
    (tmp_path / "m.json").write_text(json.dumps(d))
    with pytest.raises(ModelMetadataError, match="unknown metadata keys"):
        load_metadata(p)


def test_provider_fallback_and_unknown_provider():
    providers, warning = select_providers("cpu")
    assert providers == ["CPUExecutionProvider"] and warning is None
    providers, warning = select_providers("tensorrt")
    if "TensorrtExecutionProvider" not in providers:
        assert "falling back" in warning and providers[-1] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="unknown execution provider 'tpu'"):
        select_providers("tpu")


# ---------------------------------------------------------------- issue 16, item 10
def test_empty_sha256_does_not_disable_the_integrity_check(tmp_path):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    write_metadata(p, per_frame_meta(input_size=[32, 32]))
    meta = json.loads((tmp_path / "m.json").read_text())
    for bad in ("", "abc", "z" * 64):
        meta["onnx_sha256"] = bad
        (tmp_path / "m.json").write_text(json.dumps(meta))
        with pytest.raises(ModelMetadataError, match="onnx_sha256 must be the 64-hex-digit sha256"):
            load_metadata(p)


@pytest.mark.parametrize("field,value", [("mean", [0.5, 0.5]), ("std", [0.2, 0.2, 0.2, 0.2]), ("std", [0.2, 0.0, 0.2]),
                                         ("mean", [0.5, float("nan"), 0.5]), ("scale", 0.0), ("color_order", "rgba")])
def test_bad_normalisation_is_refused_at_start_naming_the_field(tmp_path, field, value):
    p = tmp_path / "m.onnx"
    write_constant_per_frame(p)
    norm = Normalization(**{field: value})
    write_metadata(p, per_frame_meta(input_size=[32, 32], normalization=norm))
    with pytest.raises(ModelMetadataError, match=f"normalization.{field}"):
        OnnxModel(p, kind=KIND_PER_FRAME, joint_names=NAMES)


@pytest.mark.parametrize("frames,expect", [("window", "graph joints output"),
                                           ("bogus", "unknown temporal joints_frames 'bogus'")])
def test_temporal_joints_slots_must_match_the_graph(tmp_path, frames, expect):
    """The shipped PoseBERT files output the read-out slot's joints only (``joints_frames: readout``); metadata
    that says otherwise, or names no known layout, is refused at load."""
    import dataclasses
    import shutil
    from pathlib import Path

    from pose_estimation_ros.perception.metadata import temporal_joints_slot

    src = Path(__file__).resolve().parents[1] / "models" / "posebert.onnx"
    meta = load_metadata(src)
    assert meta.architecture["joints_frames"] == "readout" and temporal_joints_slot(meta, 15) == 0
    m = OnnxModel(src, kind=KIND_TEMPORAL, joint_names=NAMES)
    outs = m.run({"pose6d": np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), (1, 16, 24, 1)),
                  "betas": np.full((1, 16, meta.num_betas), 0.5, np.float32), "valid": np.ones((1, 16), bool)})
    assert outs[0].shape == (1, 16, 24, 6) and outs[1].shape == (1, 1, 24, 3)
    p = tmp_path / "posebert.onnx"
    shutil.copy(src, p)
    write_metadata(p, dataclasses.replace(meta, architecture={**meta.architecture, "joints_frames": frames}))
    with pytest.raises(ModelMetadataError, match=expect):
        OnnxModel(p, kind=KIND_TEMPORAL, joint_names=NAMES)
