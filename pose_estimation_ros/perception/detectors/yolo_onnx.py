"""``yolo_onnx``: a user-supplied YOLO ONNX detector in the common export layouts, person = class 0 (COCO).

Layouts (one output tensor, batch 1; boxes ``cx, cy, w, h`` in input pixels):
- ``v8``: ultralytics YOLOv8 / v11 ``(1, 4 + nc, N)``: 4 box rows then ``nc`` class scores (already sigmoid).
- ``v5``: YOLOv5 / v7 ``(1, N, 5 + nc)``: box, objectness, ``nc`` class scores; score = objectness * class.
``auto`` picks ``v8`` when the middle axis is the shorter one, else ``v5``. Input: RGB letterboxed to the model's
square size with grey (114) borders, ``[0, 1]`` float, NCHW, as the ultralytics exporters expect.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Detection, DetectorError, check_rgb, register_detector
from .boxes import clip_boxes, letterbox, nms

LAYOUTS = ("auto", "v8", "v5")


def resolve_layout(shape: tuple[int, ...], layout: str = "auto") -> str:
    """Check a YOLO output ``shape`` and return ``'v8'`` or ``'v5'``; DetectorError naming the shape otherwise."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown YOLO layout {layout!r}; choices: {', '.join(LAYOUTS)}")
    if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 5:
        raise DetectorError(f"YOLO output of shape {tuple(shape)} is not a known layout: expected "
                            "(1, 4+nc, N) (ultralytics v8/v11) or (1, N, 5+nc) (v5)")
    if layout == "auto":
        layout = "v8" if shape[1] < shape[2] else "v5"
    if layout == "v5" and shape[2] < 6:
        raise DetectorError(f"YOLO output {tuple(shape)}: v5 layout needs (1, N, 5+nc) with nc >= 1")
    return layout


def decode_yolo(out: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw output ``(1, C, N)`` (v8) or ``(1, N, C)`` (v5) -> person boxes ``(N, 4)`` xyxy input px and scores ``(N,)``.

    A row counts as a person only where class 0 is its best class (as the ultralytics NMS, one label per box).
    """
    a = np.asarray(out, np.float32)[0]
    rows = a.T if layout == "v8" else a
    xywh = rows[:, :4]
    if layout == "v8":
        cls = rows[:, 4:]
        score = cls[:, 0]
    else:
        cls = rows[:, 5:]
        score = rows[:, 4] * cls[:, 0]
    person = np.argmax(cls, axis=1) == 0
    cx, cy, w, h = xywh[:, 0], xywh[:, 1], xywh[:, 2], xywh[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes[person], np.clip(score[person], 0.0, 1.0)


@register_detector("yolo_onnx")
class YoloOnnxDetector:
    """A YOLO ONNX file through onnxruntime (CPU unless ``providers`` say otherwise).

    Args:
        model_path: the ``.onnx`` file (required). layout: ``auto`` | ``v8`` | ``v5``.
        score_threshold: minimum person score. nms_iou: NMS IoU. input_size: for models with a dynamic input size.
        num_threads: onnxruntime intra-op threads. providers: onnxruntime execution providers.
    """

    name = "yolo_onnx"

    def __init__(self, model_path: str | Path | None = None, layout: str = "auto", score_threshold: float = 0.4,
                 nms_iou: float = 0.45, input_size: int = 640, num_threads: int = 1,
                 providers: list[str] | None = None) -> None:
        if model_path is None:
            raise DetectorError("the 'yolo_onnx' detector needs model_path: a YOLO .onnx file you supply")
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(f"YOLO model file not found: {path}")
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(num_threads)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(path), so, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise DetectorError(f"cannot load YOLO ONNX file {path}: {e}") from e
        ins, outs = self._sess.get_inputs(), self._sess.get_outputs()
        if len(ins) != 1 or len(ins[0].shape) != 4:
            raise DetectorError(f"{path.name}: expected one NCHW image input, got "
                                f"{[(i.name, i.shape) for i in ins]}")
        n, c, h, w = ins[0].shape
        if c not in (3, "3") and not isinstance(c, str):
            raise DetectorError(f"{path.name}: input {ins[0].name} {ins[0].shape} is not 3-channel NCHW")
        self.input_size = int(h) if isinstance(h, int) and isinstance(w, int) and h == w else int(input_size)
        if isinstance(h, int) and isinstance(w, int) and h != w:
            raise DetectorError(f"{path.name}: non-square input {ins[0].shape} is not supported")
        self._in = ins[0].name
        out_shape = outs[0].shape
        if all(isinstance(s, int) for s in out_shape):
            self.layout = resolve_layout(tuple(out_shape), layout)
        else:  # dynamic output axes: decide on the first frame
            self.layout = None if layout == "auto" else resolve_layout((1, 6, 8), layout) and layout
        self._want_layout = layout
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """People in ``rgb (H, W, 3) uint8``, best score first."""
        rgb = check_rgb(rgb)
        sq, lb = letterbox(rgb, self.input_size, pad_value=114)
        x = np.ascontiguousarray(sq.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self._sess.run(None, {self._in: x})[0]
        layout = self.layout or resolve_layout(tuple(out.shape), self._want_layout)
        if tuple(out.shape[:1]) != (1,) or out.ndim != 3:
            raise DetectorError(f"YOLO output of shape {tuple(out.shape)} is not a known layout")
        boxes, scores = decode_yolo(out, layout)
        keep = scores >= self.score_threshold
        boxes, scores = lb.to_image(boxes[keep]), scores[keep]
        boxes = clip_boxes(boxes, rgb.shape[1], rgb.shape[0])
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[ok], scores[ok]
        return [Detection(boxes[i], float(scores[i])) for i in nms(boxes, scores, self.nms_iou)]
