"""The default person detector, chosen by measurement (docs/detectors.md), and its honest fallback.

``blazepose`` when its extracted model files and LiteRT are present, else ``hog`` (no files, numpy + OpenCV) with
a warning naming what is missing.
"""
from __future__ import annotations

import logging

from .base import Detector, DetectorError, make_detector

DEFAULT_DETECTOR = "blazepose"
FALLBACK_DETECTOR = "hog"
_log = logging.getLogger(__name__)


def make_default_detector(name: str = DEFAULT_DETECTOR, fallback: str | None = FALLBACK_DETECTOR,
                          **kwargs) -> Detector:
    """Build detector ``name``; if it cannot load (DetectorError), warn and build ``fallback`` without kwargs.

    Raises:
        ValueError: unknown name. DetectorError: ``name`` fails and ``fallback`` is None (or fails too).
    """
    try:
        return make_detector(name, **kwargs)
    except DetectorError as e:
        if fallback is None or fallback == name:
            raise
        _log.warning("person detector %r unavailable (%s); falling back to %r", name, e, fallback)
        return make_detector(fallback)
