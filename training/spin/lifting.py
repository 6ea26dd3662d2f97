"""Image-less training samples for a keypoint-input per-frame model: motion capture seen by the renderer's cameras.

Rendering costs ~0.5-1 s a sample on a CPU, posing and projecting a body costs ~1 ms, so a keypoint-input model
(:mod:`training.spin.keypoints`) learns most of its pose prior from samples that have no image: a mocap frame,
a body shape, a camera and a crop drawn exactly as the renderer draws them
(:class:`~training.render.sampler.SampleGenerator`'s pose source, ``place_in_world``, ``_camera_for`` and
:func:`~training.render.sampler.crop_box`, upper-body cuts included), the body posed by the same mesh model
(Anny's COCO-17 vertex regressor for the keypoints), projected into the crop. The model sees only the keypoints
of such a sample (its image feature is zeroed, ``has_image`` False) drawn from the source's fitted noise model.

    python -m training.spin.lifting --out runs/spin/lifting/table.npz --subjects 06 13 ... --count 40000

The table (``joints2d`` (N, 24, 2) crop px, ``coco2d`` (N, 17, 2) crop px, ``joints3d`` (N, 24, 3) camera frame,
``rotmats`` (N, 24, 3, 3), ``shape`` (N, S), ``size``) is made once; :class:`LiftingBatches` draws batches from it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from training.spin.keypoints import KeypointNoise

__all__ = ["make_table", "LiftingBatches", "main"]


def _motion_folder(motion_root: Path, subjects: list[str]) -> Path:
    """A folder of links to ``motion_root/<subject>`` for ``subjects`` (the renderer's pose source reads one
    folder)."""
    missing = [s for s in subjects if not (motion_root / s).is_dir()]
    if missing:
        raise FileNotFoundError(f"no imported motion for subjects {missing} in {motion_root}")
    d = Path(tempfile.mkdtemp(prefix="lifting_motion_"))
    for s in subjects:                  # links to the files: rglob does not enter linked folders
        (d / s).mkdir()
        for f in sorted((motion_root / s).glob("*.npz")):
            os.symlink(f.resolve(), d / s / f.name)
    return d


def make_table(motion_root: str | Path, subjects: list[str], count: int, size: int = 128, seed: int = 0,
               batch: int = 64, progress: bool = True) -> dict[str, np.ndarray]:
    """``count`` label-only samples of ``subjects``' motion (see module docstring)."""
    from tqdm import tqdm

    from training.render.poses import MotionPoses, sample_shape
    from training.render.renderer import get_renderer
    from training.render.sampler import RenderConfig, SampleGenerator, crop_box

    cfg = RenderConfig(size=size, motion_dir=str(_motion_folder(Path(motion_root), subjects)), split="all")
    gen = SampleGenerator(cfg, seed=seed, renderer=get_renderer(cfg.body, cfg.atlas_size))
    gen.poses = MotionPoses(cfg.motion_dir, "all")
    mesh = gen.renderer.mesh
    keys = ("joints2d", "coco2d", "joints3d", "rotmats", "shape")
    out: dict[str, list] = {k: [] for k in keys}
    for start in tqdm(range(0, count, batch), desc="lifting table", disable=not progress, dynamic_ncols=True):
        plans = []
        for i in range(start, min(start + batch, count)):
            rng = np.random.default_rng([seed, i])
            rot_world, _ = gen.poses.sample(rng)
            shape = sample_shape(mesh.name, mesh.num_shape, rng)
            pelvis = gen.place_in_world(rot_world, shape)
            cam, rc, tc = gen._camera_for(rng, rot_world, shape, pelvis)
            plans.append((rng, cam, rc, tc, shape))
        posed = mesh.pose(np.stack([p[2] for p in plans]), np.stack([p[4] for p in plans]),
                          np.stack([p[3] for p in plans]))
        for k, (rng, cam, rc, tc, shape) in enumerate(plans):
            j3 = posed.joints[k].astype(np.float64)
            c3 = posed.coco17[k].astype(np.float64)
            box, _ = crop_box(rng, cam.project(j3), cfg)
            s = size / (box[2] - box[0])
            out["joints2d"].append((cam.project(j3) - box[:2]) * s)
            out["coco2d"].append((cam.project(c3) - box[:2]) * s)
            out["joints3d"].append(j3)
            out["rotmats"].append(rc)
            out["shape"].append(shape)
    table = {k: np.asarray(v, np.float32) for k, v in out.items()}
    table["size"] = np.asarray(size)
    table["subjects"] = np.asarray(",".join(subjects))
    return table


class LiftingBatches:
    """Batches of image-less samples from a table, keypoints drawn from a noise model, mirrored at random.

    Args:
        table: path of a :func:`make_table` ``.npz``.
        noise: the keypoint source's :class:`~training.spin.keypoints.KeypointNoise`.
        size: crop side the model uses (the table's pixels are rescaled).
        seed: sampling seed.
    """

    def __init__(self, table: str | Path, noise: KeypointNoise, size: int, seed: int = 0) -> None:
        p = Path(table)
        if not p.is_file():
            raise FileNotFoundError(f"lifting table {p}: no such file (make it with `python -m training.spin.lifting`)")
        with np.load(p) as z:
            missing = {"joints2d", "coco2d", "joints3d", "rotmats", "shape", "size"} - set(z.files)
            if missing:
                raise ValueError(f"{p}: lifting table lacks {sorted(missing)}")
            self.data = {k: z[k] for k in ("joints2d", "coco2d", "joints3d", "rotmats", "shape")}
            r = size / float(z["size"])
        self.data["joints2d"] = (self.data["joints2d"] + 0.5) * r - 0.5
        self.data["coco2d"] = (self.data["coco2d"] + 0.5) * r - 0.5
        self.noise, self.size = noise, size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data["shape"])

    def batch(self, n: int) -> dict[str, torch.Tensor]:
        """A collated batch of ``n`` samples (the training dict of :mod:`training.spin.data` without images,
        plus ``keypoints`` (n, 17, 3) crop px and ``has_image`` False)."""
        from training.spin.data import flip_sample

        idx = self.rng.integers(0, len(self), n)
        samples = []
        for i in idx:
            s = {k: v[i] for k, v in self.data.items()}
            s["keypoints"] = self.noise.sample(s["coco2d"][None], self.size, self.rng)[0]
            if self.rng.random() < 0.5:     # flip_sample mirrors the keypoints too (once)
                s = flip_sample({**s, "image": np.zeros((1, self.size, 1), np.uint8)})
            samples.append(s)
        b = len(samples)

        def stack(k: str) -> torch.Tensor:
            return torch.as_tensor(np.stack([s[k] for s in samples]), dtype=torch.float32)

        return {"joints2d": stack("joints2d"), "visibility": torch.ones(b, 24), "joints3d": stack("joints3d"),
                "rotmats": stack("rotmats"), "shape": stack("shape"), "keypoints": stack("keypoints"),
                "has_shape": torch.ones(b, dtype=torch.bool), "has_3d": torch.ones(b, dtype=torch.bool),
                "has_pose": torch.ones(b, dtype=torch.bool), "real": torch.zeros(b, dtype=torch.bool),
                "has_image": torch.zeros(b, dtype=torch.bool)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.lifting", description=__doc__.splitlines()[0])
    p.add_argument("--motion-root", default="runs/mocap", help="imported mocap, one folder per subject")
    p.add_argument("--subjects", nargs="+", required=True)
    p.add_argument("--count", type=int, default=40000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        table = make_table(a.motion_root, a.subjects, a.count, a.size, a.seed)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **table)
    print(f"[lifting] {len(table['shape'])} samples of subjects {a.subjects} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
