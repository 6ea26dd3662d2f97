"""Sequence datasets over imported motion: loading, subject-wise splits, fixed-length windows.

* :func:`load_motion_dir` reads every canonical motion ``.npz`` under a folder (recursively).
* :func:`split_sequences` splits by subject (default: no subject appears in two splits), or by
  sequence; it falls back to sequences (with a warning) when there are fewer subjects than
  non-empty splits, e.g. the single CMU subject 131 in ``../shared/data/cmu``.
* :class:`MotionWindowDataset` serves windows of ``window`` frames (stride ``stride``), optionally
  resampled to ``fps`` first, as dicts::

      {"rotmats": (T, 24, 3, 3) float32, "pose6d": (T, 24, 6) float32, "transl": (T, 3) float32,
       "shape": (S,) float32, "subject": str, "sequence": str}

  ``pose6d`` uses :func:`training.geometry.rotations.rotmat_to_rot6d` (first two columns).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.motion import FORMAT, MotionSequence
from training.geometry.rotations import rotmat_to_rot6d

__all__ = ["load_motion_dir", "split_sequences", "MotionWindowDataset"]

log = logging.getLogger(__name__)


def load_motion_dir(path: str | Path) -> list[MotionSequence]:
    """All canonical motion files under ``path`` (recursive, sorted by path).

    ``.npz`` files that are not canonical motion (e.g. raw AMASS files in the same tree) are skipped
    with a log message; a missing folder raises FileNotFoundError.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no such motion folder: {root}")
    files = [root] if root.is_file() else sorted(root.rglob("*.npz"))
    out: list[MotionSequence] = []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as z:
                ok = "format" in z.files and str(z["format"]) == FORMAT
        except Exception as e:  # noqa: BLE001 - unreadable file: skip, say so
            log.warning("skipping unreadable %s: %s", f, e)
            continue
        if not ok:
            log.info("skipping %s: not a %s file", f, FORMAT)
            continue
        out.append(MotionSequence.load(f))
    return out


def _counts(n: int, fracs: list[float]) -> list[int]:
    """Items per split for fractions (val, test): at least 1 for a positive fraction, train keeps >= 1."""
    c = [max(1, int(round(f * n))) if f > 0 else 0 for f in fracs]
    while sum(c) > n - 1 and any(x > 1 for x in c):
        k = int(np.argmax(c))
        c[k] -= 1
    return c


def split_sequences(seqs: list[MotionSequence], val: float = 0.1, test: float = 0.1, by: str = "subject",
                    seed: int = 0) -> tuple[list[MotionSequence], list[MotionSequence], list[MotionSequence]]:
    """Split into (train, val, test).

    Args:
        val, test: fractions of subjects (``by="subject"``) or sequences (``by="sequence"``); a
            positive fraction gets at least one unit, and train always keeps at least one.
        by: "subject" (no subject shared between splits) or "sequence".
        seed: the shuffle seed (the split is deterministic given the ids, not the input order).
    Falls back from "subject" to "sequence" (with a warning) when there are fewer subjects than
    non-empty splits. Raises ValueError when there are fewer sequences than non-empty splits.
    """
    if by not in ("subject", "sequence"):
        raise ValueError(f"by must be 'subject' or 'sequence', got {by!r}")
    if val < 0 or test < 0 or val + test >= 1:
        raise ValueError(f"need 0 <= val, test and val + test < 1, got {val}, {test}")
    n_splits = 1 + (val > 0) + (test > 0)
    if by == "subject":
        subjects = sorted({s.subject for s in seqs})
        if len(subjects) < n_splits:
            warnings.warn(f"{len(subjects)} subject(s) for {n_splits} splits: splitting by sequence instead")
            by = "sequence"
    rng = np.random.default_rng(seed)
    if by == "subject":
        units = sorted({s.subject for s in seqs})
        key = lambda s: s.subject  # noqa: E731
    else:
        units = sorted({(s.subject, s.sequence) for s in seqs})
        key = lambda s: (s.subject, s.sequence)  # noqa: E731
        if len(units) < n_splits:
            raise ValueError(f"{len(units)} sequence(s) cannot fill {n_splits} splits")
    order = [units[i] for i in rng.permutation(len(units))]
    n_val, n_test = _counts(len(units), [val, test])
    val_u, test_u = set(order[:n_val]), set(order[n_val:n_val + n_test])
    train, va, te = [], [], []
    for s in seqs:
        k = key(s)
        (va if k in val_u else te if k in test_u else train).append(s)
    return train, va, te


class MotionWindowDataset(Dataset):
    """Fixed-length windows over motion sequences (see module docstring for the items).

    Args:
        sequences: MotionSequence list (one body model: the shapes must have one length).
        window: frames per item (T).
        stride: frames between consecutive window starts.
        fps: resample every sequence to this rate first (None: keep each one's rate).
    Sequences shorter than ``window`` are skipped (counted in ``self.skipped``).
    """

    def __init__(self, sequences: list[MotionSequence], window: int = 16, stride: int = 1,
                 fps: float | None = None) -> None:
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        self.window, self.stride, self.fps = int(window), int(stride), fps
        self.sequences: list[MotionSequence] = []
        self.skipped: list[str] = []
        self._rot6d: list[torch.Tensor] = []
        index: list[tuple[int, int]] = []
        shape_len = None
        for s in sequences:
            if fps is not None:
                s = s.resample(fps)
            if shape_len is None:
                shape_len = s.shape.shape[0]
            elif s.shape.shape[0] != shape_len:
                raise ValueError(f"sequence {s.sequence}: shape length {s.shape.shape[0]} != {shape_len} "
                                 "(mixed body models in one dataset)")
            if s.num_frames < self.window:
                self.skipped.append(s.sequence)
                continue
            k = len(self.sequences)
            self.sequences.append(s)
            rot = torch.as_tensor(np.ascontiguousarray(s.rotmats), dtype=torch.float32)
            self._rot6d.append(rotmat_to_rot6d(rot))
            index += [(k, t0) for t0 in range(0, s.num_frames - self.window + 1, self.stride)]
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        k, t0 = self.index[i]
        s = self.sequences[k]
        sl = slice(t0, t0 + self.window)
        return {
            "rotmats": torch.as_tensor(np.ascontiguousarray(s.rotmats[sl]), dtype=torch.float32),
            "pose6d": self._rot6d[k][sl].clone(),
            "transl": torch.as_tensor(np.ascontiguousarray(s.transl[sl]), dtype=torch.float32),
            "shape": torch.as_tensor(s.shape, dtype=torch.float32),
            "subject": s.subject,
            "sequence": s.sequence,
        }

    def total_frames(self) -> int:
        return int(sum(s.num_frames for s in self.sequences))
