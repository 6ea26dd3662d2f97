"""Person detectors behind one interface (see `base`): ``make_detector("hog" | "yolo_onnx" | "blazepose")``."""
from .base import DETECTORS, Detection, Detector, DetectorError, check_rgb, make_detector, register_detector

__all__ = ["DETECTORS", "Detection", "Detector", "DetectorError", "check_rgb", "make_detector", "register_detector"]
