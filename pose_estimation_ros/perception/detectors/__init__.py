"""Person detectors behind one interface (see `base`): ``make_detector("blazepose" | "yolo_onnx" | "hog")``.

Importing this package registers every backend; none imports its runtime (LiteRT, onnxruntime) until built.
`make_default_detector` builds `DEFAULT_DETECTOR` and falls back to ``hog`` with a warning when its files are missing.
"""
from . import blazepose, hog, yolo_onnx  # noqa: F401  (register the backends)
from .base import DETECTORS, Detection, Detector, DetectorError, check_rgb, make_detector, register_detector
from .default import DEFAULT_DETECTOR, FALLBACK_DETECTOR, make_default_detector

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "FALLBACK_DETECTOR", "Detection", "Detector", "DetectorError",
           "check_rgb", "make_default_detector", "make_detector", "register_detector"]
