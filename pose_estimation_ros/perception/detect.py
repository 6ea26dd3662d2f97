"""Detector glue for the pipeline: build the configured backend (falling back to ``hog``), cap the people count.

The backends live in :mod:`.detectors` (``make_detector(name)``); this module only chooses one and trims
its output. Pure logic, no ROS.
"""
from __future__ import annotations

import logging

from .detectors import (DEFAULT_DETECTOR, DETECTORS, FALLBACK_DETECTOR, Detection, Detector, DetectorError,
                        make_detector)

log = logging.getLogger(__name__)
# DEFAULT_DETECTOR (chosen by measurement, docs/detectors.md) and FALLBACK_DETECTOR ('hog', needs no files)
# come from the detectors package.


# Constructor argument that takes the detector's model file or folder (the `detector_model` parameter).
MODEL_ARGUMENT = {"yolo_onnx": "model_path", "blazepose": "model_dir"}


def build_detector(name: str, fallback: str = FALLBACK_DETECTOR, model: str = "",
                   **kwargs) -> tuple[Detector, str | None]:
    """The detector registered as ``name``, or ``fallback`` when ``name`` cannot load its files/runtime.

    Args:
        name: a key of :data:`DETECTORS` (``''`` = :data:`DEFAULT_DETECTOR`).
        fallback: built instead when ``name`` raises :class:`DetectorError`; ``''`` disables the fallback.
        model: the detector's model file/folder (:data:`MODEL_ARGUMENT`), ``''`` = the backend's own default.
        kwargs: constructor arguments of ``name`` (not passed to the fallback).
    Returns:
        (detector, warning): warning says what failed and what is used instead, None when ``name`` loaded.
    Raises:
        ValueError: unknown name (the message lists the choices).
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
        warning = f"detector '{name}' unavailable ({e}); falling back to '{fallback}'"
        log.warning(warning)
        return make_detector(fallback), warning


def limit_people(detections: list[Detection], max_people: int) -> tuple[list[Detection], str | None]:
    """Keep the ``max_people`` best-scored detections; the message says how many were dropped (else None)."""
    if max_people < 1:
        raise ValueError(f"max_people must be >= 1, got {max_people}")
    ranked = sorted(detections, key=lambda d: d.score, reverse=True)
    if len(ranked) <= max_people:
        return ranked, None
    dropped = ranked[max_people:]
    return ranked[:max_people], (f"{len(ranked)} people detected, more than max_people={max_people}: kept the "
                                 f"{max_people} best-scored, dropped {len(dropped)} (scores <= "
                                 f"{dropped[0].score:.2f})")


__all__ = ["DEFAULT_DETECTOR", "FALLBACK_DETECTOR", "build_detector", "limit_people", "Detection", "Detector",
           "DetectorError"]
