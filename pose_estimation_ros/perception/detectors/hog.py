"""``hog``: the Dalal-Triggs HOG + linear-SVM people detector of OpenCV, the dependency-free fallback.

OpenCV 5 (pinned here) moved ``cv2.HOGDescriptor`` to opencv_contrib, so the detector is rebuilt from its parts:
features in `hog_features` (checked equal to OpenCV 4.10's ``HOGDescriptor.compute``), OpenCV's trained people
SVM in `hog_people_svm`, and ``detectMultiScale``'s pyramid and ``groupRectangles`` below. No model file.
The window is 64x128 px, so people shorter than ~``128 / upscale`` px are missed. Scores are the SVM margin
mapped to [0, 1] with a logistic (`margin_to_score`).
"""
from __future__ import annotations

import cv2
import numpy as np

from .base import Detection, check_rgb, register_detector
from .boxes import clip_boxes, nms
from .hog_features import CELL, block_features, window_scores
from .hog_people_svm import people_svm

WIN_W, WIN_H = 64, 128
PAD = 8  # detectMultiScale's default padding, one cell
# OpenCV's people sample (samples/python/peopledetect.py) shrinks each window to the person inside it.
_SHRINK_X, _SHRINK_Y = 0.15, 0.05


def margin_to_score(margin: np.ndarray, gain: float = 1.5) -> np.ndarray:
    """SVM margin ``(N,)`` -> score in (0, 1): ``sigmoid(gain * margin)``; margin 0 (the SVM boundary) -> 0.5."""
    return (1.0 / (1.0 + np.exp(-gain * np.asarray(margin, np.float64)))).astype(np.float32)


def group_rectangles(rects: np.ndarray, weights: np.ndarray, group_threshold: int = 2, eps: float = 0.2
                     ) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``groupRectangles`` with weights: ``rects (N, 4)`` xywh -> grouped xywh ``(K, 4)``, weights ``(K,)``.

    Similar rectangles (corners within ``eps`` of the smaller size) are merged into their mean; groups with at most
    ``group_threshold`` members are dropped, as are groups inside a stronger group. A group's weight is its best.
    """
    n = len(rects)
    if n == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    r = np.asarray(rects, np.float64)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            delta = eps * (min(r[i, 2], r[j, 2]) + min(r[i, 3], r[j, 3])) * 0.5
            if (abs(r[i, 0] - r[j, 0]) <= delta and abs(r[i, 1] - r[j, 1]) <= delta
                    and abs(r[i, 0] + r[i, 2] - r[j, 0] - r[j, 2]) <= delta
                    and abs(r[i, 1] + r[i, 3] - r[j, 1] - r[j, 3]) <= delta):
                parent[find(i)] = find(j)
    labels = np.array([find(i) for i in range(n)])
    groups = [np.flatnonzero(labels == lab) for lab in np.unique(labels)]
    mean = np.array([r[g].mean(0) for g in groups])
    count = np.array([len(g) for g in groups])
    best = np.array([np.max(weights[g]) for g in groups], np.float32)
    keep = []
    for i in range(len(groups)):
        if count[i] <= group_threshold:
            continue
        inside = False
        for j in range(len(groups)):
            if j == i or count[j] <= group_threshold:
                continue
            dx, dy = mean[j, 2] * eps, mean[j, 3] * eps
            if (mean[i, 0] >= mean[j, 0] - dx and mean[i, 1] >= mean[j, 1] - dy
                    and mean[i, 0] + mean[i, 2] <= mean[j, 0] + mean[j, 2] + dx
                    and mean[i, 1] + mean[i, 3] <= mean[j, 1] + mean[j, 3] + dy
                    and (count[j] > max(3, count[i]) or count[i] < 3)):
                inside = True
                break
        if not inside:
            keep.append(i)
    return mean[keep].astype(np.float32), best[keep]


@register_detector("hog")
class HogDetector:
    """Multi-scale HOG people detector (OpenCV's default people SVM), rectangle grouping, then NMS.

    Args:
        score_threshold: minimum `margin_to_score` score (0.5 = on the SVM boundary).
        scale: pyramid step (``detectMultiScale`` scale). hit_threshold: SVM margin for a window to count.
        group_threshold: a person needs more than this many overlapping window hits (OpenCV's finalThreshold).
        upscale: resize the frame by this factor first (2.0 finds people down to ~64 px tall, 4x the work).
        nms_iou: IoU above which the weaker of two boxes is dropped.
        num_threads: OpenCV threads (``cv2.setNumThreads``, process-wide); None leaves OpenCV's setting.
    """

    name = "hog"

    def __init__(self, score_threshold: float = 0.7, scale: float = 1.05, hit_threshold: float = 0.0,
                 group_threshold: int = 2, upscale: float = 1.0, nms_iou: float = 0.45,
                 num_threads: int | None = None) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"hog score_threshold must be in [0, 1], got {score_threshold}")
        if scale <= 1.0 or upscale <= 0.0:
            raise ValueError(f"hog needs scale > 1 and upscale > 0 (got {scale}, {upscale})")
        self._svm = people_svm()
        self.score_threshold = float(score_threshold)
        self.scale = float(scale)
        self.hit_threshold = float(hit_threshold)
        self.group_threshold = int(group_threshold)
        self.upscale = float(upscale)
        self.nms_iou = float(nms_iou)
        if num_threads is not None:
            cv2.setNumThreads(int(num_threads))

    def windows(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All pyramid windows above ``hit_threshold``: xywh ``(N, 4)`` in (upscaled) image px and margins ``(N,)``."""
        h, w = rgb.shape[:2]
        rects, margins = [], []
        s = 1.0
        while True:
            lw, lh = round(w / s), round(h / s)
            if lw < WIN_W or lh < WIN_H:
                break
            level = rgb if s == 1.0 else cv2.resize(rgb, (lw, lh), interpolation=cv2.INTER_LINEAR)
            padded = cv2.copyMakeBorder(level, PAD, PAD, PAD, PAD, cv2.BORDER_REFLECT_101)
            score = window_scores(block_features(padded), self._svm)
            ys, xs = np.nonzero(score >= self.hit_threshold)
            for y, x in zip(ys, xs):
                rects.append((round((x * CELL - PAD) * s), round((y * CELL - PAD) * s), round(WIN_W * s),
                              round(WIN_H * s)))
                margins.append(score[y, x])
            s *= self.scale
        return np.asarray(rects, np.float32).reshape(-1, 4), np.asarray(margins, np.float32)

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grouped detections before the score threshold: boxes ``(N, 4)`` xyxy image px (shrunk to the person),
        SVM margins ``(N,)``."""
        rgb = check_rgb(rgb)
        img = rgb if self.upscale == 1.0 else cv2.resize(rgb, None, fx=self.upscale, fy=self.upscale,
                                                         interpolation=cv2.INTER_LINEAR)
        rects, margins = group_rectangles(*self.windows(img), group_threshold=self.group_threshold)
        r = rects / self.upscale
        x, y, bw, bh = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
        boxes = np.stack([x + _SHRINK_X * bw, y + _SHRINK_Y * bh, x + (1 - _SHRINK_X) * bw,
                          y + (1 - _SHRINK_Y) * bh], axis=1)
        return boxes.astype(np.float32), margins

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """People in ``rgb (H, W, 3) uint8``, best score first."""
        boxes, margins = self.raw(rgb)
        scores = margin_to_score(margins)
        keep = scores >= self.score_threshold
        boxes, scores = clip_boxes(boxes[keep], rgb.shape[1], rgb.shape[0]), scores[keep]
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[ok], scores[ok]
        return [Detection(boxes[i], float(scores[i])) for i in nms(boxes, scores, self.nms_iou)]
