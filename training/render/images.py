"""Folders of images (fabric/material textures, background photos) with a split by source photo.

:class:`ImageLibrary` lists the images of a folder (recursively), reads the folder's
``manifest.csv`` when there is one (``file`` column relative to the folder; optional ``crop_of``,
``category``, ``scene``, ``grey``, ``licence``) and assigns every image to the ``train`` or
``heldout`` split by its *group*: the manifest's ``crop_of`` id when set, else the file's stem, so
crops of one photo never end up on both sides. The split is a hash of the group name (stable
across machines and folder orders), ``heldout_fraction`` of the groups held out.

Unreadable files are skipped with a warning naming them when the library is built (so random
choices never depend on which files failed before); an empty folder raises ``ValueError`` naming
it. A file that passes the check but fails to decode later is also skipped with a warning.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ImageEntry", "ImageLibrary", "IMAGE_EXTS", "split_of"]

log = logging.getLogger(__name__)
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def split_of(group: str, heldout_fraction: float) -> str:
    """"train" or "heldout" for a group id (hash-based, deterministic)."""
    h = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if h < heldout_fraction else "train"


@dataclass
class ImageEntry:
    """One image of a library."""

    path: Path
    id: str                       # path relative to the folder
    group: str                    # source photo (crop_of) or stem
    split: str                    # "train" | "heldout"
    info: dict = field(default_factory=dict)


def _readable(path: Path) -> bool:
    """Cheap validity check of an image file (header and structure, no full decode)."""
    try:
        from PIL import Image
    except ImportError:                                  # no Pillow: decode it
        data = np.fromfile(path, np.uint8)
        return data.size > 0 and cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_8) is not None
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any failure = unreadable
        return False


class ImageLibrary:
    """Images of one folder, loaded on demand (RGB uint8) and cached per process.

    Args:
        folder: the folder (searched recursively for :data:`IMAGE_EXTS`).
        heldout_fraction: fraction of source-photo groups in the held-out split.
        max_side: images are downscaled so the longer side is at most this (cache size).
        name: what the library is, for messages ("texture", "background").
    """

    def __init__(self, folder: str | Path, heldout_fraction: float = 0.2, max_side: int = 1024,
                 name: str = "image") -> None:
        self.folder = Path(folder)
        self.name = name
        if not self.folder.is_dir():
            raise ValueError(f"{name} folder {self.folder} does not exist")
        manifest = {}
        mf = self.folder / "manifest.csv"
        if mf.is_file():
            with open(mf, newline="") as fh:
                manifest = {r["file"]: r for r in csv.DictReader(fh) if r.get("file")}
        self.entries: list[ImageEntry] = []
        self.skipped: list[str] = []
        for p in sorted(self.folder.rglob("*")):
            if p.suffix.lower() not in IMAGE_EXTS or not p.is_file():
                continue
            rel = p.relative_to(self.folder).as_posix()
            if not _readable(p):
                warnings.warn(f"skipping unreadable {name} file {p}", RuntimeWarning, stacklevel=2)
                self.skipped.append(rel)
                continue
            info = manifest.get(rel, {})
            group = (info.get("crop_of") or "").strip() or p.stem
            self.entries.append(ImageEntry(p, rel, group, split_of(group, heldout_fraction), dict(info)))
        if not self.entries:
            what = f"no readable images ({len(self.skipped)} unreadable)" if self.skipped else "no images"
            raise ValueError(f"{name} folder {self.folder} has {what} ({', '.join(IMAGE_EXTS)})")
        self.max_side = int(max_side)
        self._cache: dict[str, np.ndarray | None] = {}
        self._bad: set[str] = set()

    def select(self, split: str | None = None, where=None) -> list[ImageEntry]:
        """Entries of ``split`` ("train" | "heldout" | None = both) passing ``where(entry)``."""
        if split not in (None, "train", "heldout", "all"):
            raise ValueError(f"split must be 'train', 'heldout' or 'all', got {split!r}")
        out = [e for e in self.entries if split in (None, "all") or e.split == split]
        out = [e for e in out if where is None or where(e)]
        return [e for e in out if e.id not in self._bad]

    def load(self, entry: ImageEntry) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB, or None (with a warning naming the file) when it cannot be read."""
        if entry.id in self._cache:
            return self._cache[entry.id]
        img = None
        try:
            data = np.fromfile(entry.path, np.uint8)
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if bgr is not None:
                img = np.ascontiguousarray(bgr[..., ::-1])
        except OSError:
            img = None
        if img is None:
            warnings.warn(f"skipping unreadable {self.name} file {entry.path}", RuntimeWarning, stacklevel=2)
            self._bad.add(entry.id)
        else:
            s = self.max_side / max(img.shape[:2])
            if s < 1:
                img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                                 interpolation=cv2.INTER_AREA)
        self._cache[entry.id] = img
        return img

    def sample(self, rng: np.random.Generator, split: str | None = None, where=None,
               tries: int = 8) -> tuple[ImageEntry, np.ndarray]:
        """A random readable image of the split. Raises ValueError when none is readable."""
        for _ in range(tries):
            pool = self.select(split, where)
            if not pool:
                break
            e = pool[int(rng.integers(len(pool)))]
            img = self.load(e)
            if img is not None:
                return e, img
        raise ValueError(f"no readable {self.name} images in {self.folder} (split {split}, filter {where})")

    def splits(self) -> dict[str, list[str]]:
        """{"train": [ids], "heldout": [ids]} (what the output records)."""
        return {s: [e.id for e in self.entries if e.split == s] for s in ("train", "heldout")}
