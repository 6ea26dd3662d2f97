"""Samples for MoCap-SPIN: the mocap renderings, real (or stand-in real) crops, mixed batches.

Every source yields the same per-sample dict (:func:`standardize`): ``image`` uint8 (S, S, 3) RGB,
``joints2d`` (24, 2) crop px, ``visibility`` (24,), ``joints3d`` (24, 3) m, ``rotmats`` (24, 3, 3),
``shape`` (NS,), ``has_3d`` / ``has_pose`` / ``has_shape`` bool, ``real`` bool (True for real or
stand-in real samples).

Sources (:data:`SYNTHETIC_SOURCES`): ``render`` (``training.render``'s on-the-fly ``RenderDataset``
over the imported motion capture, split by subject), ``shards`` (pre-rendered ``.npz`` shards),
``stick`` (:class:`StickFigureDataset`: procedural stick figures, for tests and smoke runs).

Mixed batches (:class:`MixedBatchSampler`): exactly ``round(ratio * B)`` synthetic samples and the rest
real in every batch, over a ``ConcatDataset([synthetic, real])``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from pose_estimation_ros import skeleton
from training.spin.config import SpinConfig, check_ratio
from training.spin.keypoints import label_roi_scale

__all__ = ["standardize", "collate", "images_to_input", "StickFigureDataset", "ShardDataset", "flip_sample",
           "MixedBatchSampler",
           "make_synthetic", "make_real", "SYNTHETIC_SOURCES", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BONES = [(j, p) for j, p in enumerate(skeleton.PARENTS) if p >= 0]


def standardize(sample: dict[str, Any], num_shape: int, real: bool | None = None) -> dict[str, torch.Tensor]:
    """A renderer / real / shard sample as the training dict (module docstring); missing labels are
    filled with neutral values and flagged absent."""
    def t(x, dtype=torch.float32):
        return torch.as_tensor(np.asarray(x), dtype=dtype)

    img = sample["image"]
    img = img if isinstance(img, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(img))
    out = {"image": img.to(torch.uint8), "joints2d": t(sample["joints2d"]),
           "visibility": t(sample.get("visibility", np.ones(24))),
           "joints3d": t(sample.get("joints3d", np.zeros((24, 3)))),
           "rotmats": t(sample.get("rotmats", np.tile(np.eye(3), (24, 1, 1))))}
    shape = sample.get("shape")
    has_shape = shape is not None and int(np.asarray(shape).shape[-1]) == num_shape
    out["shape"] = t(shape) if has_shape else torch.zeros(num_shape)
    out["has_shape"] = torch.tensor(bool(sample.get("has_shape", has_shape)))
    out["has_3d"] = torch.tensor(bool(sample.get("has_3d", "joints3d" in sample)))
    out["has_pose"] = torch.tensor(bool(sample.get("has_pose", "rotmats" in sample)))
    is_real = bool(sample.get("real", False)) if real is None else real
    out["real"] = torch.tensor(is_real)
    kp = sample.get("keypoints")
    out["keypoints"] = t(kp) if kp is not None else torch.zeros(17, 3)
    out["has_image"] = torch.tensor(True)
    return out


def collate(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([b[k] for b in batch]) for k in batch[0]}


def images_to_input(images: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float32 ``(x / 255 - mean) / std`` (the runtime's
    :class:`~pose_estimation_ros.perception.metadata.Normalization`)."""
    x = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=x.device)[:, None, None]
    return (x - mean) / std


class _Standardized(Dataset):
    def __init__(self, ds: Dataset, num_shape: int, real: bool) -> None:
        self.ds, self.num_shape, self.real = ds, num_shape, real

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return standardize(self.ds[i], self.num_shape, self.real)


class StickFigureDataset(Dataset):
    """Procedural images: the body's joints in a random pose drawn as coloured limbs on a plain background.

    Poses: the mean pose with per-joint random rotations (``pose_std_deg``) and a random global yaw;
    camera at 3-6 m, crop around the projected joints. Deterministic per index (``seed``). A stand-in
    for renders in tests and smoke runs (``data.source: stick``), never a benchmark.
    """

    def __init__(self, body, size: int = 64, length: int = 1000, seed: int = 0, pose_std_deg: float = 20.0,
                 palette: int = 0) -> None:
        self.body, self.size, self.length, self.seed = body, size, length, seed
        self.pose_std, self.palette = math.radians(pose_std_deg), palette

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        import cv2
        import roma

        from training.models.spin import mean_pose6d
        from training.geometry.rotations import rot6d_to_rotmat

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        rot = rot6d_to_rotmat(mean_pose6d())
        noise = roma.rotvec_to_rotmat(self.pose_std * torch.randn(24, 3, generator=g))
        yaw = roma.rotvec_to_rotmat(torch.tensor([0.0, float(torch.rand(1, generator=g)) * 2 * math.pi, 0.0]))
        rot = rot @ noise
        rot[0] = rot6d_to_rotmat(mean_pose6d())[0] @ yaw
        shape = 0.3 * torch.randn(1, self.body.num_shape, generator=g)
        with torch.no_grad():
            joints = self.body.joints(rot[None], shape)[0]                   # root-relative, camera frame
        z = 3.0 + 3.0 * float(torch.rand(1, generator=g))
        cam = joints + torch.tensor([0.0, 0.0, z])
        f = 500.0
        uv = f * cam[:, :2] / cam[:, 2:]
        lo, hi = uv.min(0).values, uv.max(0).values
        box = 1.25 * float((hi - lo).max())
        ctr = (lo + hi) / 2 + (torch.rand(2, generator=g) - 0.5) * 0.1 * box
        uv_crop = (uv - ctr) * (self.size / box) + self.size / 2
        rng = np.random.default_rng(self.seed * 7919 + i)
        img = np.full((self.size, self.size, 3), rng.integers(0, 255, 3), np.uint8)
        order = np.argsort(-cam[:, 2].numpy())                              # far limbs first
        for j in order:
            p = skeleton.PARENTS[j]
            if p < 0:
                continue
            colour = tuple(int(c) for c in ((37 * j + 80 * self.palette) % 255, (91 * j) % 255, (153 * j) % 255))
            a, b = uv_crop[j].numpy(), uv_crop[p].numpy()
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, max(1, self.size // 24))
        return {"image": img, "joints2d": uv_crop.numpy(), "visibility": np.ones(24, np.float32),
                "joints3d": cam.numpy(), "rotmats": rot.numpy(), "shape": shape[0].numpy()}


class ShardDataset(Dataset):
    """Pre-rendered samples (:mod:`training.spin.render_shards`): ``*.npz`` shards holding the sample
    arrays with a leading N axis (``image`` (N, S, S, 3) uint8, ``joints2d``, ``visibility``,
    ``joints3d``, ``rotmats``, ``shape``).

    Args:
        dirs: shard folders.
        rank, world: DDP rank / size: rank r reads shards r, r + world, ... (all if fewer than world).
        length: virtual length (index ``i`` -> sample ``i % loaded``) so that shards still being
            rendered join as they appear (rescanned every ``refresh_every`` reads); None = the loaded count.
        flip_prob: horizontal mirror probability (image, 2D/3D joints, rotations, visibility).
        size: crop side to serve (shards rendered at another size are resampled, keypoints scaled).
    """

    KEYS = ("image", "joints2d", "joints3d", "rotmats")

    def __init__(self, dirs: list[str], rank: int = 0, world: int = 1, length: int | None = None,
                 refresh_every: int = 2000, flip_prob: float = 0.0, seed: int = 0, size: int | None = None) -> None:
        self.dirs, self.rank, self.world, self.size = list(dirs), rank, world, size
        self.virtual, self.refresh_every, self.flip_prob, self.seed = length, refresh_every, flip_prob, seed
        self.files: list[Path] = []
        self.data: dict[str, np.ndarray] = {}
        self.keypoint_roi_scale: float | None = None    # the landmark ROI scale of the keypoint files
        self.reads = 0
        self._scan()
        if not self.files:
            raise FileNotFoundError(f"no *.npz shards in {self.dirs}")

    def _scan(self) -> None:
        files = sorted(f for d in self.dirs for f in Path(d).glob("shard_*.npz") if not f.name.endswith(".tmp.npz"))
        mine = files[self.rank::self.world] or files
        new = [f for f in mine if f not in self.files]
        for f in new:
            with np.load(f) as z:
                for k in self.KEYS:
                    if k not in z.files:
                        raise ValueError(f"{f}: missing key '{k}' (a shard needs {', '.join(self.KEYS)})")
                arrays = {k: z[k] for k in z.files}
            side = f.with_name(f.name.replace("shard_", "kp_", 1))     # training.spin.shard_keypoints
            if side.is_file():

                with np.load(side) as z:
                    arrays["keypoints"] = z["keypoints"]
                    scale = label_roi_scale(z)
                if self.keypoint_roi_scale is None:
                    self.keypoint_roi_scale = scale
                elif abs(scale - self.keypoint_roi_scale) > 1e-6:
                    raise ValueError(f"{side}: keypoints labelled with landmark ROI scale {scale:g}, the shards before "
                                     f"it with {self.keypoint_roi_scale:g} (re-label: python -m "
                                     f"training.spin.shard_keypoints {f.parent})")
            if self.files and (("keypoints" in arrays) != ("keypoints" in self.data)):
                raise ValueError(f"{f}: keypoint file {side.name} {'present' if 'keypoints' in arrays else 'missing'}"
                                 f" unlike the shards before it (run python -m training.spin.shard_keypoints on "
                                 f"{f.parent})")
            for k, v in arrays.items():
                self.data[k] = np.concatenate([self.data[k], v]) if k in self.data else v
            self.files.append(f)

    @property
    def loaded(self) -> int:
        return len(self.data.get("image", ()))

    def __len__(self) -> int:
        return self.virtual or self.loaded

    def __getitem__(self, i: int) -> dict[str, Any]:
        self.reads += 1
        if self.virtual and self.reads % self.refresh_every == 0:
            self._scan()
        j = int(i) % self.loaded
        s = {k: v[j] for k, v in self.data.items() if k != "sequence"}
        if self.size and s["image"].shape[0] != self.size:
            s = resize_sample(s, self.size)
        if self.flip_prob > 0 and np.random.default_rng((self.seed, self.reads, j)).random() < self.flip_prob:
            s = flip_sample(s)
        return s


def resize_sample(s: dict[str, Any], size: int) -> dict[str, Any]:
    """A sample's crop resampled to ``size`` (area filter), 2D keypoints scaled (pixel centres at integers)."""
    import cv2

    r = size / s["image"].shape[0]
    out = dict(s)
    out["image"] = cv2.resize(s["image"], (size, size), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    out["joints2d"] = ((s["joints2d"] + 0.5) * r - 0.5).astype(np.float32)
    if "keypoints" in s:
        kp = np.asarray(s["keypoints"], np.float32).copy()
        kp[:, :2] = (kp[:, :2] + 0.5) * r - 0.5
        out["keypoints"] = kp
    return out


def flip_sample(s: dict[str, Any]) -> dict[str, Any]:
    """Horizontal mirror of a sample: image columns reversed, left/right joints swapped, x negated,
    rotations ``R -> M R M`` with ``M = diag(-1, 1, 1)``."""
    from training.data.real.crops import _mirror_index

    perm = np.asarray(_mirror_index())
    out = dict(s)
    size = s["image"].shape[1]
    out["image"] = np.ascontiguousarray(s["image"][:, ::-1])
    j2 = s["joints2d"][perm].copy()
    j2[:, 0] = size - 1 - j2[:, 0]          # pixel centres at integers
    out["joints2d"] = j2
    out["joints3d"] = s["joints3d"][perm] * np.array([-1.0, 1.0, 1.0], np.float32)
    m = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
    out["rotmats"] = (m @ s["rotmats"] @ m)[perm]
    if "visibility" in s:
        out["visibility"] = s["visibility"][perm]
    if "keypoints" in s:
        from training.spin.keypoints import flip_keypoints_px
        out["keypoints"] = flip_keypoints_px(s["keypoints"], size)
    return out


class MixedBatchSampler(Sampler[list[int]]):
    """Batches over ``ConcatDataset([synthetic, real])`` with exactly ``round(ratio * B)`` synthetic indices.

    Args:
        n_synthetic, n_real: sizes of the two datasets (indices ``[0, n_synthetic)`` are synthetic).
        batch_size: B.
        ratio: synthetic fraction in [0, 1] (``ValueError`` otherwise).
        steps: number of batches per pass.
        seed: sampling seed (give each DDP rank its own).
    """

    def __init__(self, n_synthetic: int, n_real: int, batch_size: int, ratio: float, steps: int, seed: int = 0) -> None:
        self.ratio = check_ratio(ratio)
        self.n_syn = int(round(self.ratio * batch_size))
        self.n_real = batch_size - self.n_syn
        if self.n_syn and n_synthetic == 0:
            raise ValueError(f"synthetic ratio {ratio:g} needs synthetic samples, the synthetic set is empty")
        if self.n_real and n_real == 0:
            raise ValueError(f"synthetic ratio {ratio:g} needs real samples, the real set is empty")
        self.sizes, self.steps, self.seed, self.epoch = (n_synthetic, n_real), steps, seed, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        ns, nr = self.sizes
        for _ in range(self.steps):
            syn = torch.randint(0, max(ns, 1), (self.n_syn,), generator=g).tolist()
            real = (ns + torch.randint(0, max(nr, 1), (self.n_real,), generator=g)).tolist()
            yield syn + real


SYNTHETIC_SOURCES = ("render", "shards", "stick")


def _render_dataset(cfg: SpinConfig, subjects: list[str], split: str, extra: dict[str, Any], length: int,
                    seed: int) -> Dataset:
    """``training.render``'s dataset over the imported mocap of ``subjects`` (``RenderDataset(**kwargs)``)."""
    from training.spin import render_source

    return render_source.make_render_dataset(cfg, subjects, split, extra, length, seed)


def make_synthetic(cfg: SpinConfig, body, split: str = "train", rank: int = 0, world: int = 1,
                   length: int | None = None) -> Dataset:
    """The mocap renderings of ``split`` (train / val / test subjects), standardised."""
    d = cfg.data
    subjects = {"train": d.train_subjects, "val": d.val_subjects, "test": d.test_subjects}[split]
    n = length or (d.samples_per_epoch if split == "train" else d.val_samples)
    seed = cfg.train.seed + 1000 * rank + {"train": 0, "val": 17, "test": 29}[split]
    if d.source == "stick":
        ds: Dataset = StickFigureDataset(body, cfg.model.input_size, n, seed)
    elif d.source == "shards":
        ds = ShardDataset([str(Path(p) / split) if (Path(p) / split).is_dir() else p for p in d.shard_dirs],
                          rank, world, length=n if split == "train" else None,
                          flip_prob=0.5 if split == "train" else 0.0, seed=seed, size=cfg.model.input_size)
    else:
        ds = _render_dataset(cfg, subjects, split, dict(d.render), n, seed)
    return _Standardized(ds, body.num_shape, real=False)


def make_real(cfg: SpinConfig, body, split: str = "train", rank: int = 0, length: int | None = None) -> Dataset | None:
    """The real set: pre-rendered stand-in shards (``data.real_shards``), the user's datasets
    (``data.real``), else the stand-in appearance domain rendered on the fly, else None."""
    d = cfg.data
    if d.real_shards:
        dirs = [str(Path(p) / split) if (Path(p) / split).is_dir() else p for p in d.real_shards]
        n = length or (d.samples_per_epoch if split == "train" else None)
        return _Standardized(ShardDataset(dirs, rank, 1, length=n if split == "train" else None,
                                          flip_prob=0.5 if split == "train" else 0.0, seed=cfg.train.seed + 500 + rank,
                                          size=cfg.model.input_size), body.num_shape, real=True)
    if d.real:
        from training.data.real import RealCropDataset, concat_annotations, load_real

        ann = concat_annotations([load_real(e.get("format"), e["path"], e.get("image_root")) for e in d.real])
        return _Standardized(RealCropDataset(ann, cfg.model.input_size, flip_prob=0.5 if split == "train" else 0.0,
                                             scale_jitter=0.1 if split == "train" else 0.0, seed=cfg.train.seed + rank),
                             body.num_shape, real=True)
    if not d.standin_real:
        return None
    n = length or (d.samples_per_epoch if split == "train" else d.val_samples)
    seed = cfg.train.seed + 1000 * rank + 500 + {"train": 0, "val": 17, "test": 29}[split]
    if d.source == "stick":
        return _Standardized(StickFigureDataset(body, cfg.model.input_size, n, seed, pose_std_deg=10.0, palette=1),
                             body.num_shape, real=True)
    subjects = d.standin_subjects if split == "train" else {"val": d.val_subjects, "test": d.test_subjects}[split]
    return _Standardized(_render_dataset(cfg, subjects, split, {**d.render, **d.standin_render, "domain": "standin"},
                                         n, seed), body.num_shape, real=True)


def concat(synthetic: Dataset, real: Dataset | None) -> ConcatDataset:
    return ConcatDataset([synthetic] + ([real] if real is not None else []))
