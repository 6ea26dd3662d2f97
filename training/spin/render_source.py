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


def render_clip(gen, index: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``length`` consecutive frames (30 fps) of held-out clip ``index`` rendered with one camera, outfit,
    light and background (drawn once per clip), each frame cropped around its own joints (margin 1.25,
    no jitter: the crop a good tracker gives).

    Built from ``training.render``'s public pieces (:class:`~training.render.sampler.SampleGenerator`'s
    renderer, camera, appearance and backgrounds). Returns ``image`` (N, S, S, 3) uint8,
    ``joints3d`` (N, 24, 3) camera frame, ``rotmats``, ``shape``, ``sequence``.
    """
    from training.render.augment import sample_light
    from training.render.rasterizer import composite
    from training.render.renderer import PersonState
    from training.render.poses import sample_shape

    if not hasattr(gen.poses, "clip"):
        raise ValueError("video clips need motion capture (the renderer's pose source has no clips)")
    rot, transl, fps, name = gen.poses.clip(index)
    rng = np.random.default_rng([seed, index])
    start = int(rng.integers(0, max(1, rot.shape[0] - length)))
    rot, transl = rot[start:start + length], transl[start:start + length]
    shape = sample_shape(gen.renderer.mesh.name, gen.renderer.num_shape, rng)
    base = gen.place_in_world(rot[0], shape)
    pelvis = base + (transl - transl[0])                 # the clip's own root motion, y-up world
    cam, _, _ = gen._camera_for(rng, rot[0], shape, pelvis[0])
    outfit = gen.appearance.sample(rng)
    texture = gen.appearance.paint(outfit, rng)
    light, _ = sample_light(rng, gen.cfg.augment)
    bg_seed = int(rng.integers(1 << 31))
    size = gen.cfg.size
    images, joints, rots = [], [], []
    for t in range(rot.shape[0]):
        rc, tc = gen.to_camera(cam, rot[t], pelvis[t])
        posed = gen.renderer.pose([PersonState(rc, shape, tc, texture)])
        j3 = posed.joints[0].astype(np.float64)
        uv = cam.project(j3)
        lo, hi = uv.min(0), uv.max(0)
        side = max(float((hi - lo).max()) * 1.25, 8.0)
        c = (lo + hi) / 2
        box = np.array([c[0] - side / 2, c[1] - side / 2])
        sc = size / side
        m = np.array([[sc, 0, -box[0] * sc], [0, sc, -box[1] * sc]], np.float64)
        k = cam.K.copy()
        k[:2] = m @ k
        bg, _ = gen.backgrounds.sample(np.random.default_rng(bg_seed), cam.width, cam.height, m, size, size)
        layers = gen.renderer.draw(posed, [texture], k, size, size, light, gen.cfg.supersample)
        images.append(composite(layers, bg))
        joints.append(j3.astype(np.float32))
        rots.append(rc)
    return {"image": np.stack(images), "joints3d": np.stack(joints), "rotmats": np.stack(rots),
            "shape": shape.astype(np.float32), "sequence": f"{name}@{start}"}


def make_render_clips(cfg, subjects: list[str], n_clips: int, clip_len: int, seed: int = 0,
                      extra: dict[str, Any] | None = None) -> list[dict]:
    """``n_clips`` videos of ``clip_len`` consecutive frames of held-out motion (:func:`render_clip`) as
    torch tensors: ``image`` (N, S, S, 3) uint8, ``joints3d`` (N, 24, 3), ``rotmats`` (N, 24, 3, 3) (joint 0 in the
    camera frame), ``shape`` (NB,), ``sequence`` (clip name @ first frame)."""
    import torch

    from training.render.sampler import SampleGenerator

    gen = SampleGenerator(render_config(cfg, "test", extra), seed)
    clips = []
    for c in range(n_clips):
        out = render_clip(gen, c, clip_len, seed)
        clips.append({"image": torch.as_tensor(out["image"]), "joints3d": torch.as_tensor(out["joints3d"]),
                      "rotmats": torch.as_tensor(out["rotmats"]), "shape": torch.as_tensor(out["shape"]),
                      "sequence": out["sequence"]})
    return clips
