"""Person-detector interface: the `Detection` record, the `Detector` protocol and a name -> constructor registry.

Every backend (``blazepose``, ``yolo_onnx``, ``hog``) takes an RGB frame ``(H, W, 3) uint8`` and returns the people
it found as `Detection` records in full-image pixel coordinates, best score first. Backends register their
constructor in `DETECTORS` with `register_detector` (timm-style), and callers build one with `make_detector`.

A backend that can also *follow* a person from one frame to the next without its detector pass (MediaPipe's
ROI-from-landmarks tracking: ``blazepose``) implements `FollowingDetector`: ``follow(rgb, previous)`` gives the
person's fresh `Detection` in the new frame (or None: lost), and ``detect(rgb, known)`` skips the people it
is told about.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np

__all__ = [
    "Detection",
    "Detector",
    "DetectorError",
    "FollowingDetector",
    "DETECTORS",
    "register_detector",
    "make_detector",
    "check_rgb",
    "can_follow",
]


class DetectorError(RuntimeError):
    """A detector cannot be built or run: bad model file, wrong tensor layout or missing runtime (named)."""


@dataclass(frozen=True, eq=False)  # eq=False: ndarray fields make == ambiguous
class Detection:
    """One detected person.

    Attributes:
        box: ``(4,) float32`` ``[x0, y0, x1, y1]`` in full-image pixels (x0 <= x1, y0 <= y1).
        score: detector confidence in ``[0, 1]``.
        keypoints: ``(17, 3) float32`` COCO-17 ``(x px, y px, confidence)`` or ``None`` when the backend has none.
        hint: ``(K, 2) float32`` backend state a `FollowingDetector` needs to follow this person into the next
            frame (``blazepose``: the landmark model's two alignment points, hip centre and body-size point,
            image px), or ``None``.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = field(default=None)
    hint: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        box = np.asarray(self.box, dtype=np.float32).reshape(-1)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise ValueError(f"Detection.box must be 4 finite numbers xyxy, got {self.box!r}")
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"Detection.box must be xyxy with x0 <= x1 and y0 <= y1, got {box.tolist()}")
        score = float(self.score)
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"Detection.score must be in [0, 1], got {score}")
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "score", score)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float32)
            if kp.shape != (17, 3):
                raise ValueError(f"Detection.keypoints must be (17, 3) COCO-17 (x, y, conf), got {kp.shape}")
            object.__setattr__(self, "keypoints", kp)
        if self.hint is not None:
            hint = np.asarray(self.hint, dtype=np.float32)
            if hint.ndim != 2 or hint.shape[1] != 2 or not np.all(np.isfinite(hint)):
                raise ValueError(f"Detection.hint must be finite (K, 2) points, got shape {hint.shape}")
            object.__setattr__(self, "hint", hint)


@runtime_checkable
class Detector(Protocol):
    """A person detector: ``detect(rgb (H, W, 3) uint8) -> list[Detection]`` sorted by score, descending."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Find the people in one RGB frame ``(H, W, 3) uint8``; boxes in full-image pixels, best first."""
        ...


@runtime_checkable
class FollowingDetector(Protocol):
    """A detector that can also follow a person between its detector passes (MediaPipe's landmark tracking).

    ``follow(rgb, previous)``: the person of ``previous`` (a `Detection` of the last frame, with its ``hint``) in
    this frame, found from where the last frame's landmarks put them, or ``None`` when the model no longer sees a
    person there (the caller then runs ``detect``).
    ``detect(rgb, known)``: every person in the frame; the ``known`` detections (people already followed into
    this frame) are returned as they are, without being measured again.
    Optional: ``num_windows(width, height) -> int`` and ``detect(rgb, known, window=k)``, the detector's passes
    (windows) one at a time, so that a periodic search for new people can be spread over frames; and
    ``detect_rois(rgb, window) -> (scores, rois)`` + ``detect_from_rois(rgb, scores, rois, known)``, ``detect``
    in two halves, so that the search's detector pass can run in the background (`can_search_in_background`).
    """

    name: str

    def detect(self, rgb: np.ndarray, known: Sequence[Detection] = ()) -> list[Detection]:
        """People in ``rgb (H, W, 3) uint8``, best score first; ``known`` ones included unchanged."""
        ...

    def follow(self, rgb: np.ndarray, previous: Detection) -> Detection | None:
        """``previous``'s person in this frame ``rgb (H, W, 3) uint8``, or None when lost."""
        ...


def can_search_in_background(detector: object) -> bool:
    """Whether ``detector`` splits ``detect`` into ``detect_rois`` (the detector pass, run beside the models on one
    frame) and ``detect_from_rois`` (the landmark confirmation, on the next frame)."""
    return callable(getattr(detector, "detect_rois", None)) and callable(getattr(detector, "detect_from_rois", None))


def can_follow(detector: object) -> bool:
    """Whether ``detector`` implements `FollowingDetector` (a callable ``follow``, and ``follows`` not False)."""
    return callable(getattr(detector, "follow", None)) and bool(getattr(detector, "follows", True))


DETECTORS: dict[str, Callable[..., Detector]] = {}

_C = TypeVar("_C", bound=Callable[..., Detector])


def register_detector(name: str) -> Callable[[_C], _C]:
    """Class/function decorator adding a constructor to `DETECTORS` under ``name``."""

    def deco(ctor: _C) -> _C:
        if name in DETECTORS and DETECTORS[name] is not ctor:
            raise ValueError(f"detector {name!r} is already registered")
        DETECTORS[name] = ctor
        return ctor

    return deco


def make_detector(name: str, **kwargs) -> Detector:
    """Build the detector registered as ``name`` with constructor ``kwargs``.

    Raises:
        ValueError: unknown ``name`` (the message lists the registered choices).
        DetectorError: the backend cannot load its model or runtime.
    """
    try:
        ctor = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choices: {', '.join(sorted(DETECTORS))}") from None
    return ctor(**kwargs)


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate a frame: returns it as a C-contiguous ``(H, W, 3) uint8`` array or raises ValueError."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        desc = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"detector input must be an RGB (H, W, 3) uint8 array, got {desc}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"detector input is empty: {rgb.shape}")
    return np.ascontiguousarray(rgb)
