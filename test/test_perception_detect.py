"""Detector glue: fallback to hog with a warning, a wrong-layout detector file is a fault (never "nobody")."""
import numpy as np
import pytest

from perception_fixtures import write_batch_per_frame
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.perception.detect import build_detector, limit_people
from pose_estimation_ros.perception.detectors import Detection
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline


@pytest.fixture()
def model(tmp_path):
    p = tmp_path / "pf.onnx"
    write_batch_per_frame(p, joints=np.zeros((24, 3)))
    return str(p)


def test_unloadable_detector_falls_back_to_hog_with_a_warning(tmp_path, model):
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(b"this is not onnx")
    det, warning = build_detector("yolo_onnx", model=str(bad))
    assert det.name == "hog" and "yolo_onnx" in warning and "not_a_model.onnx" in warning
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=model, detector="yolo_onnx", detector_model=str(bad)))
    assert pipe.detector_name == "hog" and "falling back to 'hog'" in pipe.detector_warning
    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        build_detector("nope")
    with pytest.raises(ValueError, match="takes no model file"):
        build_detector("hog", model="x.onnx")


def wrong_layout_yolo(path) -> None:
    """image (1,3,S,S) with a dynamic size -> (1, 3, 1, 1): loads as ONNX, no YOLO output layout."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("ReduceMean", ["images"], ["output0"], axes=[2, 3], keepdims=1)], "g",
                          [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def test_detector_file_of_the_wrong_layout_is_a_fault_not_an_empty_scene(tmp_path, model):
    yolo = tmp_path / "wrong.onnx"
    wrong_layout_yolo(yolo)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=model, temporal_model="none", detector="yolo_onnx",
                                               detector_model=str(yolo)))
    if pipe.detector_name == "hog":    # the backend refused it at load time already: also fine
        assert "yolo_onnx" in pipe.detector_warning
        return
    res = pipe.process(np.zeros((240, 320, 3), np.uint8), 1_000_000, Intrinsics.from_fov(320, 240, 60.0))
    assert res.outcome == "fault" and "detector 'yolo_onnx' failed" in res.status and res.estimates == []


def test_limit_people_keeps_the_best_scored():
    dets = [Detection(np.array([0, 0, 10, 10], np.float32), s) for s in (0.2, 0.9, 0.5)]
    kept, msg = limit_people(dets, 2)
    assert [d.score for d in kept] == [0.9, 0.5] and "3 people detected" in msg and "dropped 1" in msg
    assert limit_people(dets, 3)[1] is None
