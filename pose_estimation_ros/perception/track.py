"""Multi-person tracking: stable ids for detections across frames (ByteTrack of ``supervision``).

:class:`PersonTracker` feeds each detector run to ``supervision.ByteTrack`` and reports which tracks the
detections belong to and which tracks ended (removed by ByteTrack after ``lost_frames`` detector runs
without a match). Ids are ByteTrack's external ids: 1, 2, ... in order of confirmation, never reused.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .detectors import Detection

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import supervision as sv
    from supervision.tracker.byte_tracker.single_object_track import TrackState


@dataclass
class TrackUpdate:
    """Result of one detector run: ``matched`` (track id, detection) pairs, best score first; ``ended`` ids."""

    matched: list[tuple[int, Detection]] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


class PersonTracker:
    """ByteTrack over person detections.

    Args:
        lost_frames: detector runs a track survives without a match (ByteTrack's lost_track_buffer).
        activation_threshold: score for a detection to start a track (ByteTrack's track_activation_threshold);
            lower-scored detections can still continue an existing track (ByteTrack's second association).
        match_threshold: ByteTrack's minimum_matching_threshold (1 - IoU cost).
    """

    def __init__(self, lost_frames: int = 10, activation_threshold: float = 0.3, match_threshold: float = 0.8) -> None:
        if lost_frames < 1:
            raise ValueError(f"lost_frames must be >= 1, got {lost_frames}")
        self.lost_frames = lost_frames
        self._kw = dict(track_activation_threshold=activation_threshold, lost_track_buffer=lost_frames,
                        minimum_matching_threshold=match_threshold, frame_rate=30, minimum_consecutive_frames=1)
        self._bt = self._make()
        self._alive: set[int] = set()

    def _make(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # ByteTrack is marked deprecated in supervision 0.28+ (moved to `trackers`)
            return sv.ByteTrack(**self._kw)

    @property
    def alive(self) -> set[int]:
        """Ids of tracks ByteTrack still holds (tracked or lost, not removed)."""
        return set(self._alive)

    def reset(self) -> list[int]:
        """Forget every track; returns the ids that ended."""
        ended = sorted(self._alive)
        self._bt = self._make()
        self._alive = set()
        return ended

    def update(self, detections: list[Detection]) -> TrackUpdate:
        """One detector run (possibly empty) -> matched tracks and ended tracks."""
        n = len(detections)
        xyxy = np.array([d.box for d in detections], np.float32).reshape(n, 4)
        conf = np.array([d.score for d in detections], np.float32).reshape(n)
        dets = sv.Detections(xyxy=xyxy, confidence=conf, class_id=np.zeros(n, int),
                             data={"index": np.arange(n)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._bt.update_with_detections(dets)
        matched = [(int(tid), detections[int(i)]) for tid, i in zip(out.tracker_id, out.data.get("index", []))]
        matched.sort(key=lambda m: m[1].score, reverse=True)
        alive = {int(t.external_track_id) for t in (*self._bt.tracked_tracks, *self._bt.lost_tracks)
                 if int(t.external_track_id) > 0 and t.state != TrackState.Removed}
        alive |= {tid for tid, _ in matched}
        ended = sorted(self._alive - alive)
        self._alive = alive
        return TrackUpdate(matched, ended)
