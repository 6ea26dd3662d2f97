"""The one way to build a person detector: the default backend (chosen by measurement, docs/detectors.md), a model
file for it, and the honest fallback.

``build_detector('')`` builds ``blazepose`` when its extracted model files and LiteRT are present, else ``hog`` (no
files, numpy + OpenCV) with a warning naming what is missing.
"""
from __future__ import annotations

import logging

from .base import DETECTORS, Detector, DetectorError, make_detector

DEFAULT_DETECTOR = "blazepose"
FALLBACK_DETECTOR = "hog"
# Constructor argument that takes the detector's model file or folder (the `detector_model` parameter).
MODEL_ARGUMENT = {"yolo_onnx": "model_path", "blazepose": "model_dir"}
_log = logging.getLogger(__name__)


def build_detector(name: str = "", fallback: str | None = FALLBACK_DETECTOR, model: str = "",
                   **kwargs) -> tuple[Detector, str | None]:
    """The detector registered as ``name``, or ``fallback`` when ``name`` cannot load its files/runtime.

    Args:
        name: a key of :data:`DETECTORS` (``''`` = :data:`DEFAULT_DETECTOR`).
        fallback: built (without kwargs) instead when ``name`` raises :class:`DetectorError`; ``None`` or ``''``
            disables the fallback.
        model: the detector's model file/folder (:data:`MODEL_ARGUMENT`), ``''`` = the backend's own default.
        kwargs: constructor arguments of ``name`` (not passed to the fallback).
    Returns:
        (detector, warning): warning says what failed and what is used instead (also logged), None when ``name``
        loaded.
    Raises:
        ValueError: unknown name (the message lists the choices), or a model file for a backend that takes none.
        DetectorError: ``name`` failed and there is no usable fallback.
    """
    name = name or DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choices: {', '.join(sorted(DETECTORS))}")
    if model:
        if name not in MODEL_ARGUMENT:
            raise ValueError(f"detector '{name}' takes no model file (detector_model is for: "
                             f"{', '.join(sorted(MODEL_ARGUMENT))})")
        kwargs[MODEL_ARGUMENT[name]] = model
    try:
        return make_detector(name, **kwargs), None
    except DetectorError as e:
        if not fallback or fallback == name:
            raise
        warning = f"person detector '{name}' unavailable ({e}); falling back to '{fallback}'"
        _log.warning(warning)
        return make_detector(fallback), warning
