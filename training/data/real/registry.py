"""Real-dataset loaders by name: ``load_real("spin_npz" | "coco" | "3dpw", path, image_root)``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from training.data.real.annotations import RealAnnotations
from training.data.real.coco import load_coco_keypoints
from training.data.real.pw3d import load_3dpw
from training.data.real.spin_npz import load_spin_npz

__all__ = ["REAL_LOADERS", "load_real", "guess_format"]

REAL_LOADERS: dict[str, Callable[..., RealAnnotations]] = {
    "spin_npz": lambda path, root=None: load_spin_npz(path, root),
    "coco": lambda path, root=None: load_coco_keypoints(path, root),
    "3dpw": lambda path, root=None: load_3dpw(path, root),
}


def guess_format(path: str | Path) -> str:
    """``.npz`` -> spin_npz, ``.json`` -> coco, ``.pkl`` or a folder -> 3dpw."""
    p = Path(path)
    if p.suffix == ".npz":
        return "spin_npz"
    if p.suffix == ".json":
        return "coco"
    if p.suffix == ".pkl" or p.is_dir():
        return "3dpw"
    raise ValueError(f"{path}: cannot tell the dataset format from the name; expected one of {sorted(REAL_LOADERS)}")


def load_real(fmt: str | None, path: str | Path, image_root: str | Path | None = None) -> RealAnnotations:
    """Load ``path`` with the loader ``fmt`` (None: :func:`guess_format`).

    Raises:
        ValueError: unknown format name.
    """
    fmt = fmt or guess_format(path)
    if fmt not in REAL_LOADERS:
        raise ValueError(f"unknown real dataset format '{fmt}'; expected one of {sorted(REAL_LOADERS)}")
    return REAL_LOADERS[fmt](path, image_root)
