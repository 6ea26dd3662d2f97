"""Rendered training data as a torch ``Dataset``: samples rendered on the fly in worker processes.

Sample contract (one person crop per sample; what the per-frame trainer and the simulators code
against). A dict of numpy arrays (``RenderDataset`` returns them as they are; :func:`collate` stacks a batch
into tensors and keeps ``meta`` as a list of dicts (use ``DataLoader(..., collate_fn=collate)``)):

=============  ======================  ===============================================================
key            dtype, shape            meaning
=============  ======================  ===============================================================
``image``      uint8 (S, S, 3)         RGB person crop (S = ``RenderConfig.size``, default 224)
``joints2d``   float32 (24, 2)         canonical joints (:mod:`pose_estimation_ros.skeleton` order) in
                                       crop pixels (u right, v down, pixel centres at integers)
``coco2d``     float32 (17, 2)         COCO-17 keypoints (body model's vertex regressor) in crop pixels
``visibility`` float32 (24,)           1 visible; 0 outside the crop, under an occluder or hidden
                                       behind a body (depth test on the render)
``joints3d``   float32 (24, 3)         metres, camera optical frame (x right, y down, z forward)
``rotmats``    float32 (24, 3, 3)      canonical local rotations as ``BodyModel`` takes them; joint 0
                                       is the orientation in the camera frame, so
                                       ``body.joints(rotmats, shape, transl) == joints3d``
``shape``      float32 (num_shape,)    body-model shape (Anny: phenotype - neutral, 6 values)
``transl``     float32 (3,)            pelvis position, camera frame
``K``          float32 (3, 3)          intrinsics of the crop: ``joints2d = proj(K, joints3d)``
``box``        float32 (4,)            the crop in the full camera image, xyxy pixels
                                       (``u_crop = (u_full - x0) * S / (x1 - x0)``)
``mask``       uint8 (S, S)            1 where the person is visible in the crop
``upper_body`` bool                    the crop was cut at the hips or the knees
``meta``       dict                    ``index``, ``seed``, ``split`` (train | heldout), ``body``,
                                       ``pose`` (mocap sequence/frame), ``camera`` (yaw/pitch/roll in
                                       degrees, R, t, full-image K and size), ``cut``, ``outfit``
                                       (fabric/texture ids, skin, sleeves), ``background`` (photo id,
                                       group, split, or room materials), ``light``, ``occluders``,
                                       ``degrade``
=============  ======================  ===============================================================

Determinism: sample ``i`` depends only on ``(seed, i, RenderConfig)``, never on the worker that
renders it; a ``DataLoader`` batch is fetched with :meth:`RenderDataset.__getitems__` (one batched
body-model call), equal to the single-sample result up to float rounding (same random choices). Each worker process builds its own renderer (own EGL context, Anny once per process)
on first use and sets ``LP_NUM_THREADS=1`` (one llvmpipe thread per worker), see
:func:`worker_init`. Use ``DataLoader(ds, num_workers=N, worker_init_fn=worker_init, collate_fn=collate)``.
"""
from __future__ import annotations

import os

import numpy as np
from torch.utils.data import Dataset

from training.render.sampler import RenderConfig, SampleGenerator

__all__ = ["RenderDataset", "RenderConfig", "worker_init", "SAMPLE_KEYS", "to_torch", "collate"]

SAMPLE_KEYS: tuple[str, ...] = ("image", "joints2d", "coco2d", "visibility", "joints3d", "rotmats", "shape",
                                "transl", "K", "box", "mask", "upper_body", "meta")


def worker_init(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: one llvmpipe / torch / OpenMP thread per worker process."""
    os.environ["LP_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)


class RenderDataset(Dataset):
    """``length`` rendered person crops, sample ``i`` = :meth:`SampleGenerator.sample` ``(i)``.

    Args:
        cfg: :class:`RenderConfig` (image size, camera preset, data folders, augmentation ...).
        length: number of samples (an epoch); indices are ``offset .. offset + length - 1``.
        seed: dataset seed.
        offset: first index (e.g. a validation set = another seed or offset).
    """

    def __init__(self, cfg: RenderConfig | None = None, length: int = 10000, seed: int = 0, offset: int = 0) -> None:
        if length <= 0:
            raise ValueError(f"length must be > 0, got {length}")
        self.cfg = cfg or RenderConfig()
        self.length = int(length)
        self.seed = int(seed)
        self.offset = int(offset)
        self._gen: SampleGenerator | None = None
        self._pid = -1

    def generator(self) -> SampleGenerator:
        """This process's generator (built on first use in every worker)."""
        if self._gen is None or self._pid != os.getpid():
            if os.environ.get("LP_NUM_THREADS") is None:
                os.environ["LP_NUM_THREADS"] = "1"
            self._gen = SampleGenerator(self.cfg, self.seed)
            self._pid = os.getpid()
        return self._gen

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} samples")
        return self.generator().sample(self.offset + int(i))

    def __getitems__(self, indices: list[int]) -> list[dict]:
        """Batched fetch (used by ``DataLoader`` with automatic batching): one body-model call per batch."""
        for i in indices:
            if not 0 <= i < self.length:
                raise IndexError(f"index {i} out of range for {self.length} samples")
        return self.generator().sample_many([self.offset + int(i) for i in indices])

    def __getstate__(self):          # workers get the config, not the parent's GL context
        d = dict(self.__dict__)
        d["_gen"] = None
        d["_pid"] = -1
        return d


def to_torch(sample: dict) -> dict:
    """Sample with arrays as torch tensors (image -> float (3, S, S) in [0, 1]); meta kept."""
    import torch
    out = {}
    for k, v in sample.items():
        if k == "image":
            out[k] = torch.from_numpy(np.ascontiguousarray(v)).permute(2, 0, 1).float() / 255.0
        elif isinstance(v, np.ndarray):
            out[k] = torch.from_numpy(np.ascontiguousarray(v))
        elif isinstance(v, (bool, np.bool_)):
            out[k] = torch.tensor(bool(v))
        else:
            out[k] = v
    return out


def collate(batch: list[dict]) -> dict:
    """Stack samples: arrays -> tensors (B, ...) (images stay uint8 (B, S, S, 3)), meta -> list of dicts."""
    import torch
    out: dict = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        if k == "meta":
            out[k] = vals
        elif isinstance(vals[0], np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        else:
            out[k] = torch.tensor(vals)
    return out
