"""Pre-render training samples into ``.npz`` shards (render once, train many epochs on a slow CPU).

    python -m training.spin.render_shards --config training/configs/spin_default.yaml --split train \
        --out runs/spin/shards/train --count 4000 [--shard-size 32] [--domain mocap|standin] [--seed 0]

Resumable: existing complete shards are skipped (shard ``k`` holds samples ``k*shard_size ...`` of the
split's ``RenderDataset``, so reruns render the same samples). Each shard holds ``image`` (N, S, S, 3)
uint8, ``joints2d``, ``visibility``, ``joints3d``, ``rotmats``, ``shape`` and ``sequence`` (the mocap
clip of each sample, for the held-out split check).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

KEYS = ("image", "joints2d", "visibility", "joints3d", "rotmats", "shape")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.render_shards", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="training/configs/spin_default.yaml")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--domain", default="mocap", choices=["mocap", "standin", "rerender"])
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--shard-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=None, help="default: train.seed (+ split offset)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    os.environ.setdefault("LP_NUM_THREADS", "1")
    import torch
    from tqdm import tqdm

    from training.spin.config import apply_overrides, load_config
    from training.spin.render_source import make_render_dataset

    torch.set_num_threads(1)
    cfg = apply_overrides(load_config(a.config), a.set)
    seed = a.seed if a.seed is not None else cfg.train.seed + {"train": 0, "val": 17, "test": 29}[a.split] + \
        {"mocap": 0, "standin": 500, "rerender": 900}[a.domain]
    extra = {**cfg.data.render, **(cfg.data.standin_render if a.domain == "standin" else {}), "domain": a.domain}
    ds = make_render_dataset(cfg, [], a.split, extra, a.count, seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    n_shards = (a.count + a.shard_size - 1) // a.shard_size
    bar = tqdm(total=a.count, disable=a.no_progress, desc=f"render {a.split}/{a.domain}")
    for k in range(n_shards):
        path = out / f"shard_{k:05d}.npz"
        lo, hi = k * a.shard_size, min((k + 1) * a.shard_size, a.count)
        if path.is_file():
            bar.update(hi - lo)
            continue
        samples = [ds[i] for i in range(lo, hi)]
        arrays = {key: np.stack([s[key] for s in samples]) for key in KEYS}
        arrays["sequence"] = np.array([str(s["meta"].get("pose", {}).get("sequence", "")) for s in samples])
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        bar.update(hi - lo)
    bar.close()
    print(f"[spin.render_shards] {a.count} samples in {n_shards} shards under {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
