"""MoCap-SPIN's view of ``training.render``: the render domains, clips for video evaluation, shards.

Domains (``RenderConfig`` keyword sets; ``data.render`` / ``data.standin_render`` override them):

* ``mocap`` (the synthetic training data): imported motion capture, photo backgrounds and photo
  fabrics from ``../shared/data`` (and procedural rooms / patterns at the renderer's default rates).
* ``standin`` (the stand-in "real" set when the user has no real data): another appearance domain
  -- procedural indoor rooms only (``room_prob`` 1), procedural fabric patterns only
  (``photo_fabric_prob`` 0) -- and a narrower pose set (the renderer's random standing poses,
  ``random_poses``). Stated as such in every table: these are renders, not photos.
* ``rerender`` (the seed's "renderings of real data"): the stand-in real set's poses (the random
  standing poses) rendered in the ``mocap`` appearance domain.

Splits: ``train`` renders the renderer's train split (train subjects, textures, backgrounds);
``val`` / ``test`` its ``heldout`` split (held-out subjects' motions, held-out textures and
backgrounds) with different seeds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["shared_data_dir", "render_config", "make_render_dataset", "make_render_clips", "DOMAINS"]

DOMAINS = ("mocap", "standin", "rerender")


def shared_data_dir() -> Path | None:
    """``$POSE_SHARED_DATA``, ``../shared/data`` or ``/work/shared/data``, the first that exists."""
    here = Path(__file__).resolve().parents[2]
    for c in (os.environ.get("POSE_SHARED_DATA"), here.parent / "shared" / "data", "/work/shared/data"):
        if c and Path(c).is_dir():
            return Path(c)
    return None


def render_config(cfg, split: str, extra: dict[str, Any] | None = None):
    """The ``RenderConfig`` of a split (``train`` | ``val`` | ``test``) and domain (``extra['domain']``)."""
    from training.render.dataset import RenderConfig

    extra = dict(extra or {})
    domain = extra.pop("domain", "mocap")
    if domain not in DOMAINS:
        raise ValueError(f"unknown render domain '{domain}'; expected one of {list(DOMAINS)}")
    shared = shared_data_dir()
    kw: dict[str, Any] = {"size": cfg.model.input_size, "body": cfg.model.body_model,
                          "split": "train" if split == "train" else "heldout",
                          "motion_dir": cfg.data.motion_dirs[0] if cfg.data.motion_dirs else None}
    if shared is not None:
        kw["textures_dir"] = str(shared / "textures")
        kw["backgrounds_dir"] = str(shared / "backgrounds")
    if domain == "standin":
        kw.update(room_prob=1.0, photo_fabric_prob=0.0)
    if domain in ("standin", "rerender") and split == "train":
        kw["random_poses"] = True
    kw.update(extra)
    return RenderConfig(**kw)


def make_render_dataset(cfg, subjects: list[str], split: str, extra: dict[str, Any], length: int, seed: int):
    """``training.render.dataset.RenderDataset`` of ``split`` / domain; ``subjects`` is informative
    (the renderer splits the motion by subject itself)."""
    try:
        from training.render.dataset import RenderDataset
    except ImportError as e:
        raise ImportError(f"data.source 'render' needs training.render ({e}); use data.source: stick for a "
                          "smoke run or data.source: shards with pre-rendered shards") from e
    return RenderDataset(render_config(cfg, split, extra), length=length, seed=seed)


def make_render_clips(cfg, subjects: list[str], n_clips: int, clip_len: int, seed: int = 0,
                      extra: dict[str, Any] | None = None) -> list[dict]:
    """``n_clips`` videos of ``clip_len`` consecutive frames of held-out motion (30 fps), one camera,
    outfit and background per clip: ``image`` (N, S, S, 3) uint8, ``joints3d`` (N, 24, 3).

    Uses the renderer's sample generator with the clip's frames; falls back to independent renders of
    consecutive frames when the renderer has no video mode (documented in the results).
    """
    import torch

    from training.render.sampler import SampleGenerator

    gen = SampleGenerator(render_config(cfg, "test", extra), seed)
    if hasattr(gen, "render_clip"):
        clips = []
        for c in range(n_clips):
            out = gen.render_clip(c, clip_len)
            clips.append({"image": torch.as_tensor(np.asarray(out["image"])),
                          "joints3d": torch.as_tensor(np.asarray(out["joints3d"]), dtype=torch.float32)})
        return clips
    raise NotImplementedError("the renderer has no clip (video) mode yet: training.render.sampler.SampleGenerator"
                              ".render_clip(index, length) is needed for the video rows")
