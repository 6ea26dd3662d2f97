"""SSD anchors and box decoding as MediaPipe's ``SsdAnchorsCalculator`` and ``TensorsToDetectionsCalculator`` do.

Written from the options in MediaPipe's public graph ``mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt``
(`POSE_DETECTION_ANCHORS`, `POSE_DETECTION_DECODE`). Anchors are ``(A, 4) float32`` ``[x_center, y_center, w, h]``
normalised to the model input square.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The subset of ``SsdAnchorsCalculatorOptions`` the BlazePose/BlazeFace graphs use."""

    num_layers: int
    min_scale: float
    max_scale: float
    input_size_height: int
    input_size_width: int
    strides: tuple[int, ...]
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    reduce_boxes_in_lowest_layer: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False


@dataclass(frozen=True)
class SsdDecodeOptions:
    """The subset of ``TensorsToDetectionsCalculatorOptions`` used to decode raw box regressions."""

    num_boxes: int
    num_coords: int
    num_keypoints: int
    x_scale: float
    y_scale: float
    w_scale: float
    h_scale: float
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    num_values_per_keypoint: int = 2
    reverse_output_order: bool = True
    sigmoid_score: bool = True
    score_clipping_thresh: float = 100.0


POSE_DETECTION_ANCHORS = SsdAnchorOptions(
    num_layers=5, min_scale=0.1484375, max_scale=0.75, input_size_height=224, input_size_width=224,
    strides=(8, 16, 32, 32, 32), aspect_ratios=(1.0,), fixed_anchor_size=True,
)
POSE_DETECTION_DECODE = SsdDecodeOptions(
    num_boxes=2254, num_coords=12, num_keypoints=4, x_scale=224.0, y_scale=224.0, w_scale=224.0, h_scale=224.0,
)


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    """Linear scale of layer ``index`` out of ``count`` (MediaPipe's CalculateScale)."""
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def ssd_anchors(opt: SsdAnchorOptions) -> np.ndarray:
    """Generate the anchors ``(A, 4) float32`` [xc, yc, w, h] in MediaPipe's order (layer, row, column, anchor).

    Consecutive layers with the same stride share one feature map and contribute their anchors per cell together.
    """
    anchors: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < opt.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        last = layer
        while last < opt.num_layers and opt.strides[last] == opt.strides[layer]:
            scale = _scale(opt.min_scale, opt.max_scale, last, len(opt.strides))
            if last == 0 and opt.reduce_boxes_in_lowest_layer:
                ratios, scales = [1.0, 2.0, 0.5], [0.1, scale, scale]
            else:
                ratios, scales = list(opt.aspect_ratios), [scale] * len(opt.aspect_ratios)
                if opt.interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == len(opt.strides) - 1 else _scale(
                        opt.min_scale, opt.max_scale, last + 1, len(opt.strides))
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(opt.interpolated_scale_aspect_ratio)
            for r, s in zip(ratios, scales):
                root = math.sqrt(r)
                heights.append(s / root)
                widths.append(s * root)
            last += 1
        stride = opt.strides[layer]
        fh = math.ceil(opt.input_size_height / stride)
        fw = math.ceil(opt.input_size_width / stride)
        for y in range(fh):
            for x in range(fw):
                xc = (x + opt.anchor_offset_x) / fw
                yc = (y + opt.anchor_offset_y) / fh
                for w, h in zip(widths, heights):
                    anchors.append((xc, yc, 1.0, 1.0) if opt.fixed_anchor_size else (xc, yc, w, h))
        layer = last
    return np.asarray(anchors, dtype=np.float32)


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, opt: SsdDecodeOptions) -> tuple[np.ndarray, np.ndarray]:
    """Decode raw regressions ``(A, num_coords)`` against ``anchors (A, 4)``.

    Returns:
        boxes ``(A, 4) float32`` xyxy and keypoints ``(A, K, 2) float32`` (x, y), both normalised to the input square.
    """
    raw = np.asarray(raw, dtype=np.float32).reshape(-1, opt.num_coords)
    if raw.shape[0] != anchors.shape[0]:
        raise ValueError(f"{raw.shape[0]} box regressions for {anchors.shape[0]} anchors")
    o = opt.box_coord_offset
    if opt.reverse_output_order:
        xr, yr, wr, hr = raw[:, o], raw[:, o + 1], raw[:, o + 2], raw[:, o + 3]
    else:
        yr, xr, hr, wr = raw[:, o], raw[:, o + 1], raw[:, o + 2], raw[:, o + 3]
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    xc = xr / opt.x_scale * aw + ax
    yc = yr / opt.y_scale * ah + ay
    w = wr / opt.w_scale * aw
    h = hr / opt.h_scale * ah
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    k0 = opt.keypoint_coord_offset
    kp = raw[:, k0:k0 + opt.num_keypoints * opt.num_values_per_keypoint].reshape(
        -1, opt.num_keypoints, opt.num_values_per_keypoint)[:, :, :2]
    if not opt.reverse_output_order:
        kp = kp[:, :, ::-1]
    kx = kp[:, :, 0] / opt.x_scale * aw[:, None] + ax[:, None]
    ky = kp[:, :, 1] / opt.y_scale * ah[:, None] + ay[:, None]
    return boxes.astype(np.float32), np.stack([kx, ky], axis=-1).astype(np.float32)


def decode_scores(raw: np.ndarray, opt: SsdDecodeOptions) -> np.ndarray:
    """Raw score logits ``(A, 1)`` -> ``(A,) float32`` probabilities (clipped, then sigmoid as the graph does)."""
    s = np.asarray(raw, dtype=np.float32).reshape(-1)
    if opt.score_clipping_thresh:
        s = np.clip(s, -opt.score_clipping_thresh, opt.score_clipping_thresh)
    return (1.0 / (1.0 + np.exp(-s.astype(np.float64)))).astype(np.float32) if opt.sigmoid_score else s
