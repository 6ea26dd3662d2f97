"""Person detectors behind one interface (see `base`): ``make_detector("blazepose" | "yolo_onnx" | "hog")``.

Importing this package registers every backend; none imports its runtime (LiteRT, onnxruntime) until built.
`build_detector` (the one way to build one) builds `DEFAULT_DETECTOR` or a named backend and falls back to ``hog`` with
a warning when its files are missing.
"""
from . import blazepose, hog, yolo_onnx  # noqa: F401  (register the backends)
from .base import (DETECTORS, Detection, Detector, DetectorError, FollowingDetector, can_follow, check_rgb,
                   make_detector, register_detector)
from .default import DEFAULT_DETECTOR, FALLBACK_DETECTOR, MODEL_ARGUMENT, build_detector

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "FALLBACK_DETECTOR", "MODEL_ARGUMENT", "Detection", "Detector",
           "DetectorError", "FollowingDetector", "build_detector", "can_follow", "check_rgb", "make_detector",
           "register_detector"]
