"""Person-detector backends (issue 14): interface, registry, decoders against hand-computed values, real photos.

The YOLO tests run a tiny ONNX file built here (onnx.helper) whose output is a known tensor; blazepose needs the
models that scripts/setup_detector.sh extracts (skipped with a reason otherwise); hog needs nothing.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from pose_estimation_ros.perception.detectors import (DETECTORS, Detection, DetectorError, build_detector,
                                                      make_detector)
from pose_estimation_ros.perception.detectors.boxes import iou, letterbox, nms, weighted_nms
from pose_estimation_ros.perception.detectors.hog_features import gradient_votes, window_descriptor
from pose_estimation_ros.perception.detectors.paths import detector_model_dir
from pose_estimation_ros.perception.detectors.ssd import POSE_DETECTION_ANCHORS, ssd_anchors
from pose_estimation_ros.perception.detectors.yolo_onnx import resolve_layout


def _shared_data() -> Path | None:
    """$POSE_SHARED_DATA, else ../shared/data beside the checkout, else /work/shared/data."""
    for c in (os.environ.get("POSE_SHARED_DATA", ""), Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
              "/work/shared/data"):
        if c and (Path(c) / "real-dev" / "images").is_dir():
            return Path(c)
    return None


DATA = _shared_data()
needs_data = pytest.mark.skipif(DATA is None, reason="shared real-dev photos absent (set POSE_SHARED_DATA)")


def _blazepose_missing() -> str | None:
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return "ai-edge-litert not installed"
    d = detector_model_dir()
    if not (d / "pose_detection.tflite").is_file() or not (d / "pose_landmark_full.tflite").is_file():
        return f"BlazePose models absent from {d} (run scripts/setup_detector.sh)"
    return None


needs_blazepose = pytest.mark.skipif(_blazepose_missing() is not None, reason=str(_blazepose_missing()))


def _rgb(name: str) -> np.ndarray:
    import cv2
    im = cv2.imread(str(DATA / "real-dev" / "images" / name), cv2.IMREAD_COLOR)
    assert im is not None, name
    return np.ascontiguousarray(im[:, :, ::-1])


def _mediapipe_record(name: str) -> dict:
    for line in (DATA / "real-dev" / "mediapipe_static.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("name") == name:
            return r
    raise KeyError(name)


# --- interface -------------------------------------------------------------------------------------------------

def test_registry_and_unknown_name():
    assert {"blazepose", "yolo_onnx", "hog"} <= set(DETECTORS)
    with pytest.raises(ValueError, match="unknown detector 'nope'.*blazepose.*hog.*yolo_onnx"):
        make_detector("nope")


def test_detection_validates_its_fields():
    d = Detection(np.array([1, 2, 3, 4]), 0.5)
    assert d.box.dtype == np.float32 and d.keypoints is None
    with pytest.raises(ValueError, match="score"):
        Detection(np.array([0, 0, 1, 1]), 1.5)
    with pytest.raises(ValueError, match="x0 <= x1"):
        Detection(np.array([5, 0, 1, 1]), 0.5)
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        Detection(np.array([0, 0, 1, 1]), 0.5, np.zeros((33, 3)))
    with pytest.raises(ValueError, match="hint"):
        Detection(np.array([0, 0, 1, 1]), 0.5, hint=np.array([np.nan, 1.0]))


def test_bad_frame_is_a_clear_error():
    det = make_detector("hog")
    with pytest.raises(ValueError, match=r"RGB \(H, W, 3\) uint8.*float32"):
        det.detect(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        det.detect(np.zeros((48, 64), np.uint8))


def test_missing_default_files_fall_back_to_hog_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        det, warning = build_detector("blazepose", model_dir=tmp_path)
    assert det.name == "hog" and "pose_detection.tflite" in warning
    assert "pose_detection.tflite" in caplog.text and "falling back to 'hog'" in caplog.text
    with pytest.raises(DetectorError, match="model file missing"):
        build_detector("blazepose", fallback=None, model=str(tmp_path))


# --- box arithmetic ---------------------------------------------------------------------------------------------

def test_letterbox_maps_back():
    img = np.zeros((96, 128, 3), np.uint8)
    sq, lb = letterbox(img, 64, pad_value=114)
    assert sq.shape == (64, 64, 3) and (lb.scale, lb.pad_x, lb.pad_y) == (0.5, 0.0, 8.0)
    assert sq[0, 0, 0] == 114 and sq[8, 0, 0] == 0 and sq[56, 0, 0] == 114
    np.testing.assert_allclose(lb.to_image(np.array([[15, 20, 25, 40]], np.float32)), [[30, 24, 50, 64]])


def test_nms_and_weighted_nms_hand_computed():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.5], np.float32)
    assert iou(boxes[0], boxes[1:2])[0] == pytest.approx(90 / 110)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    b, s, e = weighted_nms(boxes, scores, np.array([[0.0], [4.0], [7.0]]), 0.3)
    np.testing.assert_allclose(b[0], [0.25, 0, 10.25, 10])  # (0.9 * 0 + 0.3 * 1) / 1.2
    np.testing.assert_allclose(s, [0.9, 0.5])
    np.testing.assert_allclose(e[:, 0], [1.0, 7.0])


# --- SSD anchors (pose_detection_cpu.pbtxt) ---------------------------------------------------------------------

def test_pose_detection_anchors():
    a = ssd_anchors(POSE_DETECTION_ANCHORS)
    # 28x28 cells x 2 anchors (stride 8), 14x14 x 2 (16), 7x7 x 6 (three layers at stride 32)
    assert a.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 4) == (2254, 4)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14, 1, 1])
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7, 1, 1])


# --- HOG --------------------------------------------------------------------------------------------------------

def test_hog_votes_on_a_vertical_edge():
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, 8:] = 255  # dx = sqrt(255) - 0 at columns 7 and 8, angle 0 -> half to bin 0, half to bin 8
    v = gradient_votes(img)
    mag = np.sqrt(255.0)
    np.testing.assert_allclose(v[4, 7, [0, 8]], [mag / 2, mag / 2], rtol=1e-5)
    np.testing.assert_allclose(v[4, 7, 1:8], 0)
    assert np.all(v[:, :7] == 0) and np.all(v[:, 9:] == 0)


def test_hog_descriptor_is_l2hys_normalised():
    rng = np.random.default_rng(0)
    d = window_descriptor((rng.random((128, 64, 3)) * 255).astype(np.uint8))
    assert d.shape == (3780,)
    blocks = d.reshape(105, 36)
    np.testing.assert_allclose(np.linalg.norm(blocks, axis=1), 1.0, atol=2e-3)
    assert blocks.max() <= 0.2 / 0.19  # clipped at 0.2 before the final renormalisation


def test_hog_black_frame_has_nobody():
    assert make_detector("hog").detect(np.zeros((480, 640, 3), np.uint8)) == []


@needs_data
def test_hog_finds_the_man_on_a_real_photo():
    dets = make_detector("hog").detect(_rgb("basketball2.png"))
    left_man = np.array([20, 73, 193, 473], np.float32)
    assert dets and max(iou(left_man, np.stack([d.box for d in dets]))) >= 0.5
    assert all(0.0 <= d.score <= 1.0 for d in dets) and [d.score for d in dets] == sorted(
        (d.score for d in dets), reverse=True)


# --- YOLO ONNX --------------------------------------------------------------------------------------------------

def _yolo_file(path: Path, rows: np.ndarray, layout: str, size: int = 64) -> Path:
    """ONNX model: output = box part + score part * max(image), so a black frame scores 0 everywhere."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rows = np.asarray(rows, np.float32)
    rows = np.concatenate([rows, np.zeros((32, rows.shape[1]), np.float32)])  # real exports: N >> 4 + nc
    box, score = rows.copy(), rows.copy()
    box[:, 4:] = 0.0  # objectness (v5) and class scores scale with the image
    score[:, :4] = 0.0
    if layout == "v8":
        box, score = box.T, score.T
    box, score = box[None], score[None]
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(box.shape))
    nodes = [helper.make_node("ReduceMax", ["images"], ["m"], keepdims=0),
             helper.make_node("Mul", ["score", "m"], ["s"]),
             helper.make_node("Add", ["box", "s"], ["output0"])]
    graph = helper.make_graph(nodes, "yolo_stub", [x], [y], [numpy_helper.from_array(box, "box"),
                                                             numpy_helper.from_array(score, "score")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


# rows: cx, cy, w, h (input px of the 64x64 model), then class scores (person, car)
_V8_ROWS = [[20, 30, 10, 20, 0.9, 0.1],   # person -> image [30, 24, 50, 64] (scale 0.5, pad_y 8)
            [21, 30, 10, 20, 0.6, 0.1],   # duplicate, suppressed by NMS
            [40, 30, 8, 16, 0.2, 0.95],   # a car
            [50, 40, 6, 10, 0.1, 0.0],    # below the score threshold
            [44, 24, 8, 12, 0.7, 0.3]]    # person -> image [80, 20, 96, 44]


def test_yolo_v8_decode_gives_the_known_boxes(tmp_path):
    det = make_detector("yolo_onnx", model_path=_yolo_file(tmp_path / "v8.onnx", _V8_ROWS, "v8"))
    assert det.layout == "v8"
    rgb = np.full((96, 128, 3), 255, np.uint8)
    out = det.detect(rgb)
    np.testing.assert_allclose(np.stack([d.box for d in out]), [[30, 24, 50, 64], [80, 20, 96, 44]], atol=1e-4)
    np.testing.assert_allclose([d.score for d in out], [0.9, 0.7], atol=1e-6)
    assert det.detect(np.zeros((64, 64, 3), np.uint8)) == []  # black frame: nobody


def test_yolo_v5_decode_gives_the_known_boxes(tmp_path):
    rows = [[20, 30, 10, 20, 0.8, 0.9, 0.1],   # obj 0.8 * person 0.9 = 0.72
            [44, 24, 8, 12, 0.9, 0.2, 0.7],    # a car
            [44, 24, 8, 12, 0.3, 0.9, 0.0]]    # 0.27: below the threshold
    det = make_detector("yolo_onnx", model_path=_yolo_file(tmp_path / "v5.onnx", rows, "v5"))
    assert det.layout == "v5"
    out = det.detect(np.full((96, 128, 3), 255, np.uint8))
    assert len(out) == 1
    np.testing.assert_allclose(out[0].box, [30, 24, 50, 64], atol=1e-4)
    assert out[0].score == pytest.approx(0.72, abs=1e-5)


def test_yolo_wrong_layout_names_the_shape(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 64])
    graph = helper.make_graph([helper.make_node("ReduceMean", ["images"], ["out"], axes=[1, 2], keepdims=0)],
                              "bad", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(DetectorError, match=r"shape \(1, 64\) is not a known layout"):
        make_detector("yolo_onnx", model_path=tmp_path / "bad.onnx")
    with pytest.raises(DetectorError, match=r"\(1, 3, 4\)"):
        resolve_layout((1, 3, 4))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="cannot load YOLO ONNX file"):
        make_detector("yolo_onnx", model_path=tmp_path / "junk.onnx")
    with pytest.raises(DetectorError, match="needs model_path"):
        make_detector("yolo_onnx")


# --- BlazePose --------------------------------------------------------------------------------------------------

@needs_blazepose
def test_blazepose_black_frame_has_nobody():
    assert make_detector("blazepose").detect(np.zeros((480, 640, 3), np.uint8)) == []


@needs_blazepose
@needs_data
def test_blazepose_agrees_with_mediapipe_on_a_real_photo():
    """Our decoder + ROI + landmark post-processing against MediaPipe's own graph on the astronaut portrait."""
    from pose_estimation_ros.perception.detectors.blazepose import BLAZEPOSE_TO_COCO17
    rec = _mediapipe_record("skimage_astronaut.png")
    ref = np.asarray(rec["lm2d"], np.float32)[BLAZEPOSE_TO_COCO17]
    ref_xy = ref[:, :2] * [rec["width"], rec["height"]]
    dets = make_detector("blazepose").detect(_rgb("skimage_astronaut.png"))
    assert len(dets) == 1 and dets[0].score > 0.5 and dets[0].keypoints.shape == (17, 3)
    vis = ref[:, 2] > 0.5
    err = np.linalg.norm(dets[0].keypoints[vis, :2] - ref_xy[vis], axis=1)
    assert np.median(err) < 8.0, err  # px on a 512x512 photo
    lo, hi = ref_xy[vis].min(0), ref_xy[vis].max(0)
    assert np.all(dets[0].box[:2] <= lo + 1) and np.all(dets[0].box[2:] >= hi - 1)


@needs_blazepose
@needs_data
def test_blazepose_finds_both_men_of_basketball2():
    dets = make_detector("blazepose").detect(_rgb("basketball2.png"))
    boxes = np.stack([d.box for d in dets])
    assert len(dets) == 2
    assert max(iou(np.array([20, 73, 193, 473], np.float32), boxes)) >= 0.5  # facing the camera
    assert max(iou(np.array([427, 20, 640, 480], np.float32), boxes)) >= 0.3  # from behind, cut by the edge


@needs_blazepose
@needs_data
def test_blazepose_follows_each_person_from_its_landmarks():
    """MediaPipe's tracking step: the ROI from a detection's alignment points finds the same person again (same
    photo = zero motion); a frame without the person loses them; known people are not measured twice."""
    from pose_estimation_ros.perception.detectors import FollowingDetector
    rgb = _rgb("basketball2.png")
    det = make_detector("blazepose")
    assert isinstance(det, FollowingDetector)
    dets = det.detect(rgb)
    assert len(dets) == 2 and all(d.hint.shape == (2, 2) for d in dets)
    for d in dets:
        f = det.follow(rgb, d)
        assert f is not None and f.score == d.score
        assert iou(d.box, f.box[None])[0] > 0.8
        vis = d.keypoints[:, 2] > 0.5
        err = np.median(np.linalg.norm(f.keypoints[vis, :2] - d.keypoints[vis, :2], axis=1))
        assert err < 0.05 * (d.box[3] - d.box[1]), err   # px: < 5 % of the person's height
    assert det.follow(np.zeros_like(rgb), dets[0]) is None
    again = det.detect(rgb, known=dets)
    assert len(again) == 2 and all(any(a is d for d in dets) for a in again)
    with pytest.raises(ValueError, match="hint"):
        det.follow(rgb, Detection(dets[0].box, 0.9))
    # the detector's windows one at a time (a search spread over frames): the whole frame alone finds the man
    # facing the camera
    h, w = rgb.shape[:2]
    assert det.num_windows(w, h) == 5
    alone = det.detect(rgb, window=0)
    assert max(iou(np.array([20, 73, 193, 473], np.float32), np.stack([d.box for d in alone]))) >= 0.5
    with pytest.raises(ValueError, match="window"):
        det.detect(rgb, window=5)


@needs_blazepose
@needs_data
def test_blazepose_loses_a_followed_person_when_the_scene_is_empty():
    """Followed into an empty scene (the people-free background photos), the landmark model's pose flag drops and
    the person is lost at once on nearly every photo (a phantom is followed only where the model sees a person)."""
    import cv2
    det = make_detector("blazepose")
    dets = det.detect(_rgb("basketball2.png"))
    bgs = sorted((DATA / "backgrounds").rglob("*.jpg"))[:12]
    assert len(dets) == 2 and len(bgs) == 12
    lost = 0
    for path in bgs:
        empty = np.ascontiguousarray(cv2.resize(cv2.imread(str(path)), (640, 480))[:, :, ::-1])
        lost += sum(det.follow(empty, d) is None for d in dets)
    assert lost >= 22, lost   # of 24 (measured: 23)


def test_tile_windows_cover_the_frame():
    from pose_estimation_ros.perception.detectors.blazepose import tile_windows
    assert tile_windows(640, 480, 1) == [(0, 0, 640, 480)]
    w = tile_windows(640, 480, 3)
    assert len(w) == 10 and w[1] == (0, 0, 256, 192) and w[-1] == (384, 288, 640, 480)  # 640 / (3 - 2 * 0.25)
    covered = np.zeros((480, 640), bool)
    for x0, y0, x1, y1 in w[1:]:
        covered[y0:y1, x0:x1] = True
    assert covered.all()


@needs_blazepose
@needs_data
def test_blazepose_tiles_find_a_small_person():
    """A 130 px tall person (the basketball2 man, pasted on grey) in a 640x480 frame: found with 3x3 tiles."""
    import cv2
    person = _rgb("basketball2.png")[74:480, 47:170]
    w = round(person.shape[1] * 130 / person.shape[0])
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[200:330, 300:300 + w] = cv2.resize(person, (w, 130), interpolation=cv2.INTER_AREA)
    dets = make_detector("blazepose", tiles=3).detect(frame)
    assert len(dets) == 1
    assert iou(np.array([300, 200, 300 + w, 330], np.float32), dets[0].box[None])[0] >= 0.6
