"""Detector glue for the pipeline: cap the people count of a frame (the detector itself is built by
:func:`.detectors.build_detector`, re-exported here). Pure logic, no ROS.
"""
from __future__ import annotations

from .detectors import (DEFAULT_DETECTOR, DETECTORS, FALLBACK_DETECTOR, MODEL_ARGUMENT, Detection, Detector,
                        DetectorError, build_detector)


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


__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "FALLBACK_DETECTOR", "MODEL_ARGUMENT", "build_detector", "limit_people",
           "Detection", "Detector", "DetectorError"]
