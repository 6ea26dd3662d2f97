"""Adapter from ``training.render``'s on-the-fly dataset to MoCap-SPIN's training samples."""
from __future__ import annotations

from typing import Any

__all__ = ["make_render_dataset"]


def make_render_dataset(cfg, subjects: list[str], split: str, extra: dict[str, Any], length: int, seed: int):
    """``training.render``'s dataset over the imported mocap of ``subjects``.

    Raises:
        ImportError: the renderer is not installed / not importable (names what is missing).
    """
    try:
        from training.render import dataset as render_dataset
    except ImportError as e:
        raise ImportError(f"data.source 'render' needs training.render's dataset ({e}); use data.source: stick "
                          "for a smoke run or data.source: shards with pre-rendered shards") from e
    return render_dataset.RenderDataset(**extra)  # replaced once the renderer's API is final
