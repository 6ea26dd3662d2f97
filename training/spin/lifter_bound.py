"""How far 2D keypoints alone go on a shard benchmark: a keypoint-only lifter as a reference row.

    python -m training.spin.lifter_bound --shards runs/spin/shards/test [--exact-2d] [--steps 4000]

Trains a plain MLP (COCO-17 keypoints + confidence -> 24 root-relative camera-frame joints, L1) on the image-less
lifting table (:mod:`training.spin.lifting`; keypoints drawn from the source's fitted noise model, as the per-frame
model's image-less samples are) and scores it on the shards: fed the 2D source's keypoints beside the shards
(``kp_K.npz``: all crops, and those where the source found the person), or with ``--exact-2d`` trained on and fed the
bodies' exact COCO-17 keypoints (``coco2d``): an upper bound for any lifting from 2D alone on that benchmark, since
depth and the front/back ambiguity are all that is left. A reference for the README tables, not a model the runtime
uses.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["make_lifter", "load_shard_keypoints", "main"]


def make_lifter(hidden: int = 1024, dropout: float = 0.1) -> nn.Sequential:
    """MLP ``(N, 51)`` flattened normalised keypoints + confidence -> ``(N, 72)`` root-relative joints (m)."""
    return nn.Sequential(nn.Linear(51, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 72))


def load_shard_keypoints(folder: str | Path) -> dict[str, np.ndarray]:
    """``keypoints`` (N, 17, 3) of the 2D source, ``coco2d`` (N, 17, 2) exact, ``joints3d`` (N, 24, 3) and the crop
    ``size`` of the shards in ``folder`` (labelled by :mod:`training.spin.shard_keypoints`)."""
    folder = Path(folder)
    shards = sorted(folder.glob("shard_*.npz"))
    if not shards:
        raise FileNotFoundError(f"no shard_*.npz in {folder}")
    kp, coco, j3, size = [], [], [], None
    for f in shards:
        side = f.with_name(f.name.replace("shard_", "kp_"))
        if not side.is_file():
            raise FileNotFoundError(f"{side} missing (python -m training.spin.shard_keypoints {folder})")
        with np.load(f) as z, np.load(side) as k:
            j3.append(z["joints3d"])
            size = z["image"].shape[1]
            kp.append(k["keypoints"])
            coco.append(k["coco2d"])
    return {"keypoints": np.concatenate(kp), "coco2d": np.concatenate(coco), "joints3d": np.concatenate(j3),
            "size": size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.lifter_bound", description=__doc__.splitlines()[0])
    p.add_argument("--shards", required=True, help="a labelled shard folder, e.g. runs/spin/shards/test")
    p.add_argument("--table", default="runs/spin/lifting/table.npz")
    p.add_argument("--noise", default="training/configs/keypoint_noise_blazepose.json",
                   help="the 2D source's fitted noise model (ignored with --exact-2d)")
    p.add_argument("--exact-2d", action="store_true", help="train on and feed the bodies' exact 2D keypoints")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from tqdm import tqdm

    from training.posebert.metrics import mpjpe, pa_mpjpe
    from training.spin.keypoints import KeypointNoise, normalize_keypoints_px
    from training.spin.lifting import LiftingBatches

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    try:
        test = load_shard_keypoints(a.shards)
        size = int(test["size"])
        # exact 2D: a tiny jitter (0.5 % of the crop) only, no gross errors, no misses, full confidence
        noise = (KeypointNoise(std=np.full((17, 2), 0.005).tolist(), gross_rate=np.zeros(17).tolist(),
                               conf=np.ones((17, 5)).tolist(), miss_rate=0.0, source="exact 2D")
                 if a.exact_2d else KeypointNoise.load(a.noise))
        table = LiftingBatches(a.table, noise, size, seed=a.seed + 1)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    net = make_lifter(a.hidden)
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=a.steps)
    bar = tqdm(range(a.steps), desc="lifter", dynamic_ncols=True)
    for _ in bar:
        b = table.batch(a.batch)
        x = torch.as_tensor(normalize_keypoints_px(b["keypoints"].numpy(), size)).reshape(a.batch, -1)
        y = (b["joints3d"] - b["joints3d"][:, :1]).reshape(a.batch, -1)
        loss = (net(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(l1_mm=f"{1000 * loss.item():.0f}")
    net.eval()
    kp = (np.concatenate([test["coco2d"], np.ones(test["coco2d"].shape[:2] + (1,), np.float32)], -1)
          if a.exact_2d else test["keypoints"])
    x = torch.as_tensor(normalize_keypoints_px(kp, size)).reshape(len(kp), -1)
    gt = torch.as_tensor(test["joints3d"])
    gt = gt - gt[:, :1]
    with torch.no_grad():
        pred = net(x).reshape(-1, 24, 3)
    found = torch.as_tensor(kp[..., 2].max(1) > 0)
    print(f"| lifter on {a.shards} ({'exact 2D' if a.exact_2d else 'source keypoints'}) | MPJPE | PA-MPJPE | n |")
    print("|---|---|---|---|")
    rows = [("all crops", torch.ones_like(found))] + ([] if a.exact_2d else [("source found", found)])
    for name, m in rows:
        if bool(m.any()):
            print(f"| {name} | {float(mpjpe(pred[m], gt[m]).mean()):.1f} | {float(pa_mpjpe(pred[m], gt[m]).mean()):.1f} "
                  f"| {int(m.sum())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
