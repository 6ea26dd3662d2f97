"""The second input of a keypoint-input per-frame model: the detector's 2D keypoints in the model's crop.

A model exported with metadata ``keypoint_input: coco17`` (``training.spin.keypoints``) takes, beside the crop,
``keypoints (N, 17, 3)``: the COCO-17 keypoints the detector found for that person (BlazePose's landmark model),
moved into the crop by the same affine map as the pixels (:func:`~.crop.crop_affine`), ``(u, v) = 2 px / S - 1``,
and the detector's confidence in ``[0, 1]``. A person without keypoints of this frame (a detector backend
without keypoints, or a crop followed from the model's own projection between detector runs) gets confidence 0
everywhere: the model then relies on the image alone, as it was trained to for a fraction of its samples. With the
``blazepose`` detector every frame has fresh keypoints (it follows people with its landmark model); ``hog`` and
``yolo_onnx`` give none between detector runs.
"""
from __future__ import annotations

import numpy as np

from .crop import CropBox, crop_affine

__all__ = ["NUM_KEYPOINTS", "keypoints_in_crop", "no_keypoints"]

NUM_KEYPOINTS = 17


def no_keypoints(n: int = 1) -> np.ndarray:
    """``(n, 17, 3)`` zeros: no keypoint given."""
    return np.zeros((n, NUM_KEYPOINTS, 3), np.float32)


def keypoints_in_crop(keypoints: np.ndarray | None, box: CropBox, size: int) -> np.ndarray:
    """Model input ``(1, 17, 3) float32`` from image keypoints ``(17, 3)`` (x px, y px, confidence) or None.

    Non-finite positions or confidences count as missing (confidence 0, position 0); confidences are clipped
    to [0, 1]. Keypoints outside the crop keep their (out-of-range) coordinates: the model saw such cases in
    training (upper-body crops).

    Raises:
        ValueError: keypoints of another shape than (17, 3).
    """
    if keypoints is None:
        return no_keypoints()
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoint input needs COCO-17 keypoints (17, 3), got shape {kp.shape}")
    a = crop_affine(box, size)
    px = kp[:, :2] @ a[:, :2].T + a[:, 2]
    conf = np.clip(kp[:, 2], 0.0, 1.0)
    ok = np.isfinite(px).all(axis=1) & np.isfinite(kp[:, 2]) & (conf > 0)
    out = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    out[0, ok, :2] = 2.0 * px[ok] / size - 1.0
    out[0, ok, 2] = conf[ok]
    return out
