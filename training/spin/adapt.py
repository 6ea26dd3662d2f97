"""Site adaptation: adapt the per-frame model's batch-norm layers to the user's own camera, no labels needed.

    python -m training.spin.adapt --ckpt runs/spin_default/ckpt_best.pt --video site.mp4 --out models_site
        [--images DIR] [--shards DIR] [--max-frames 500] [--crop full|center] [--keypoints coco.json]
        [--steps 100] [--fp16]

1. Frames: a video file, an image folder, or rendered shards (the benchmark), cropped the way the
   runtime crops (``full``: the whole frame letterboxed, :class:`~pose_estimation_ros.perception.crop.FullFrameCropper`;
   ``center``: the central square) to the model's input size.
2. Statistics: every batch-norm layer's running mean / variance is re-estimated on these frames
   (cumulative average over all of them: ``momentum=None``, train-mode BN, no gradients); nothing else
   changes.
3. Weak labels (optional, ``--keypoints``): a COCO keypoint JSON for (some of) the frames (from any 2D
   keypoint source, e.g. the detector's BlazePose), then ``--steps`` steps of BN-affine-only training on
   their 2D reprojection loss, the statistics kept.
4. Output: ``<out>/mocap_spin.onnx`` + metadata whose ``training_data`` records the adaptation (frames,
   source, keypoints), and ``<out>/ckpt_adapted.pt``.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from training.spin.finetune import bn_modules

__all__ = ["iter_frames", "crop_frames", "adapt_bn_statistics", "main"]

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def iter_frames(video: str | None = None, images: str | None = None, max_frames: int = 500,
                stride: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) uint8 RGB) frames of a video file or an image folder (sorted), every ``stride``-th.

    Raises:
        FileNotFoundError: the video / folder does not exist or holds no frames.
    """
    import cv2

    n = 0
    if video:
        cap = cv2.VideoCapture(str(video))
        if not Path(video).is_file() or not cap.isOpened():
            raise FileNotFoundError(f"cannot open video {video}")
        i = 0
        while n < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % stride == 0:
                yield f"{Path(video).name}#{i}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                n += 1
            i += 1
        cap.release()
    elif images:
        files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_EXT) if Path(images).is_dir() \
            else []
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXT)}) in {images}")
        for p in files[::stride][:max_frames]:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is not None:
                yield p.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                n += 1
    if n == 0:
        raise FileNotFoundError(f"no frames read from {video or images}")


def crop_frames(frames: Iterator[tuple[str, np.ndarray]], size: int,
                mode: str = "full") -> tuple[list[str], np.ndarray, list]:
    """Runtime-style crops: names, (N, S, S, 3) uint8, and the crop boxes."""
    from pose_estimation_ros.perception.crop import CropBox, FullFrameCropper, crop_and_resize

    names, crops, boxes = [], [], []
    for name, rgb in frames:
        h, w = rgb.shape[:2]
        if mode == "full":
            box = FullFrameCropper().box((h, w))
        elif mode == "center":
            box = CropBox(w / 2, h / 2, float(min(h, w)))
        else:
            raise ValueError(f"unknown crop mode '{mode}'; expected one of ['center', 'full']")
        names.append(name)
        crops.append(crop_and_resize(rgb, box, size))
        boxes.append(box)
    return names, np.stack(crops), boxes


@torch.no_grad()
def adapt_bn_statistics(model: torch.nn.Module, images: torch.Tensor, batch: int = 32) -> int:
    """Re-estimate every BN layer's running statistics on ``images`` ((N, S, S, 3) uint8): reset, then a
    cumulative average over all batches (``momentum=None``). Returns the number of BN layers."""
    from training.spin.data import images_to_input

    bns = bn_modules(model)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for s in range(0, images.shape[0], batch):
        chunk = images[s:s + batch]
        if chunk.shape[0] < 2:       # BN needs two samples in train mode
            continue
        model(images_to_input(chunk))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return len(bns)


def _weak_label_steps(model, images: torch.Tensor, names: list[str], boxes: list, keypoints: str, steps: int,
                      size: int, lr: float = 1e-4) -> int:
    """BN-affine-only steps on the 2D keypoints of a COCO JSON matched to the frames by file name."""
    from training.data.real import load_real
    from training.data.real.crops import crop_matrix
    from training.spin.config import LossConfig
    from training.spin.data import images_to_input
    from training.spin.finetune import apply_bn_mode, set_trainable, trainable_parameters
    from training.spin.losses import SpinLoss

    ann = load_real("coco", keypoints)
    by_name = {Path(p).name: i for i, p in enumerate(ann.image_paths)}
    rows = [(k, by_name[n]) for k, n in enumerate(names) if n in by_name]
    if not rows:
        raise ValueError(f"{keypoints}: none of its images matches the {len(names)} frames by file name")
    kp, vis = [], []
    for k, i in rows:
        b = boxes[k]
        m = crop_matrix(np.array([b.cx, b.cy]), b.size, size)
        kp.append(ann.kp2d[i] @ m[:, :2].T + m[:, 2])
        vis.append(ann.kp2d_vis[i])
    idx = torch.tensor([k for k, _ in rows])
    target = {"joints2d": torch.as_tensor(np.stack(kp), dtype=torch.float32),
              "visibility": torch.as_tensor(np.stack(vis)), "has_3d": torch.zeros(len(rows), dtype=torch.bool),
              "joints3d": torch.zeros(len(rows), 24, 3), "rotmats": torch.eye(3).repeat(len(rows), 24, 1, 1),
              "has_pose": torch.zeros(len(rows), dtype=torch.bool)}
    set_trainable(model, "bn_affine_frozen_stats")
    opt = torch.optim.Adam(trainable_parameters(model), lr=lr)
    loss_fn = SpinLoss(LossConfig(w_kp3d=0, w_pose=0, w_shape=0), size)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        pick = torch.randint(0, len(rows), (min(16, len(rows)),), generator=g)
        model.train()
        apply_bn_mode(model, "bn_affine_frozen_stats")
        loss, _ = loss_fn(model(images_to_input(images[idx[pick]])), {k: v[pick] for k, v in target.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().requires_grad_(False)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.adapt", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="MoCap-SPIN training checkpoint to adapt")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video")
    src.add_argument("--images", help="image folder")
    src.add_argument("--shards", help="rendered shards folder (benchmark; labels ignored)")
    p.add_argument("--out", required=True, help="output folder for mocap_spin.onnx + json + ckpt_adapted.pt")
    p.add_argument("--max-frames", type=int, default=500)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--crop", default="full", choices=["full", "center"])
    p.add_argument("--keypoints", default=None, help="COCO keypoint JSON of the frames (weak 2D labels)")
    p.add_argument("--steps", type=int, default=100, help="BN-affine steps on --keypoints")
    p.add_argument("--shift", default="none", choices=["none", "site_camera"],
                   help="pass the frames through this fixed camera first (the domain-shift benchmark)")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    from training import export
    from training.spin.checkpoint import load_model
    from training.spin.data import ShardDataset

    torch.set_num_threads(a.threads)
    model, ck = load_model(a.ckpt)
    size = int(ck["model_config"]["input_size"])
    if a.shards:
        ds = ShardDataset([a.shards])
        n = min(a.max_frames, ds.loaded)
        imgs = ds.data["image"][:n]
        if imgs.shape[1] != size:
            import cv2
            imgs = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in imgs])
        names, crops, boxes, source = [f"{i}" for i in range(n)], imgs, [], f"rendered shards {a.shards}"
    else:
        names, crops, boxes = crop_frames(iter_frames(a.video, a.images, a.max_frames, a.stride), size, a.crop)
        source = f"{'video ' + Path(a.video).name if a.video else 'image folder ' + str(a.images)} ({a.crop} crops)"
    if a.shift != "none":
        from training.spin.domain_shift import apply_shift
        crops = apply_shift(crops, a.shift, seed=2)
        source += f" through the '{a.shift}' camera"
    images = torch.from_numpy(np.ascontiguousarray(crops))
    nbn = adapt_bn_statistics(model, images)
    note = f"site-adapted: BN statistics of {nbn} layers re-estimated on {len(names)} unlabeled frames from {source}"
    if a.keypoints:
        if not boxes:
            p.error("--keypoints needs --video or --images frames")
        k = _weak_label_steps(model, images, names, boxes, a.keypoints, a.steps, size)
        note += f"; BN affine tuned {a.steps} steps on 2D keypoints of {k} frames ({Path(a.keypoints).name})"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ck2 = copy.copy(ck)
    ck2["model"] = model.state_dict()
    ck2["training_data"] = f"{ck.get('training_data', 'MoCap-SPIN')}; {note}"
    ck2["adaptation"] = {"frames": len(names), "source": source, "keypoints": a.keypoints, "bn_layers": nbn}
    for key in ("optimizer", "scheduler", "rng"):
        ck2.pop(key, None)
    torch.save(ck2, out / "ckpt_adapted.pt")
    rc = export.main(["--out", str(out), "--per-frame-ckpt", str(out / "ckpt_adapted.pt"), "--per-frame-only"]
                     + (["--fp16"] if a.fp16 else []))
    print(f"[spin.adapt] {note} -> {out / export.PER_FRAME_FILE}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
