"""Box arithmetic shared by the detector backends: letterboxing, IoU, hard and weighted non-max suppression.

Boxes are ``(N, 4) float32`` ``[x0, y0, x1, y1]``; scores ``(N,) float32``. Pure numpy + OpenCV.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into a ``size x size`` square: ``tensor_px = image_px * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float
    size: int

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map tensor-pixel coordinates ``(..., 2k)`` (x, y interleaved) back to image pixels."""
        out = np.array(xy, dtype=np.float32, copy=True)
        out[..., 0::2] = (out[..., 0::2] - self.pad_x) / self.scale
        out[..., 1::2] = (out[..., 1::2] - self.pad_y) / self.scale
        return out


def letterbox(rgb: np.ndarray, size: int, pad_value: int = 0) -> tuple[np.ndarray, Letterbox]:
    """Resize ``rgb (H, W, 3) uint8`` keeping its aspect ratio into a centred ``(size, size, 3)`` square.

    Returns the square image (uint8, borders ``pad_value``) and the `Letterbox` that maps coordinates back.
    """
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), pad_value, dtype=np.uint8)
    out[pad_y:pad_y + nh, pad_x:pad_x + nw] = resized
    return out, Letterbox(scale=nw / w, pad_x=float(pad_x), pad_y=float(pad_y), size=size)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box ``(4,)`` with each of ``boxes (N, 4)`` -> ``(N,) float32`` (0 for empty unions)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(np.asarray(box, dtype=np.float32)) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy hard NMS: indices ``(K,) int64`` of the kept boxes, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float32), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[iou(boxes[i], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray, iou_threshold: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-max suppression (NonMaxSuppressionCalculator, algorithm: WEIGHTED).

    Takes the best remaining box, gathers every remaining box overlapping it by IoU > ``iou_threshold`` and
    replaces it by the score-weighted mean of that cluster (box and ``extra`` values, e.g. keypoints); the
    cluster's score is the best one's.

    Args:
        boxes: ``(N, 4)`` xyxy. scores: ``(N,)``. extra: ``(N, E)`` values averaged like the boxes.
    Returns:
        ``(K, 4)`` boxes, ``(K,)`` scores, ``(K, E)`` extra, best first.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    extra = np.asarray(extra, dtype=np.float32).reshape(len(boxes), -1)
    order = np.argsort(-scores, kind="stable")
    out_b, out_s, out_e = [], [], []
    while order.size:
        i = int(order[0])
        overlap = iou(boxes[i], boxes[order]) > iou_threshold
        overlap[0] = True
        members = order[overlap]
        w = scores[members][:, None]
        out_b.append((boxes[members] * w).sum(0) / w.sum())
        out_e.append((extra[members] * w).sum(0) / w.sum())
        out_s.append(scores[i])
        order = order[~overlap]
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, extra.shape[1]), np.float32)
    return (np.asarray(out_b, np.float32), np.asarray(out_s, np.float32), np.asarray(out_e, np.float32))


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``(N, 4)`` xyxy boxes to the image ``[0, width] x [0, height]``."""
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out
