"""Label render shards with a real-trained 2D keypoint source and fit that source's noise model.

    python -m training.spin.shard_keypoints runs/spin/shards/train runs/spin/shards/val runs/spin/shards/test \
        [--fit-noise runs/spin/keypoint_noise.json --fit-on runs/spin/shards/train]

For every ``shard_K.npz`` writes ``kp_K.npz`` beside it (read by :class:`~training.spin.data.ShardDataset`):
``keypoints`` (N, 17, 3) = the BlazePose landmark model's COCO-17 keypoints in crop pixels + confidence (the
source the perception node runs, on a square ROI of ``LABEL_ROI_SCALE`` x the crop centred on it; all zeros where its
pose flag says no person), ``roi_scale`` (that scale) and
``coco2d`` (N, 17, 2) = the body's own COCO-17 keypoints (Anny's vertex regressor) projected into the crop, the
truth the noise model is fitted against. The crop intrinsics are recovered exactly from the shard's camera-frame
joints and their pixels (a least-squares fit of ``f, cx, cy``; its residual is printed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from training.spin.keypoints import NUM_KEYPOINTS, fit_noise, label_roi_scale

__all__ = ["LABEL_ROI_SCALE", "crop_intrinsics", "body_coco2d", "landmark_keypoints", "label_shard", "main"]

# Side of the landmark model's ROI over the crop's side. The perception node never gives the landmark model the
# per-frame crop: it follows people with MediaPipe's ROI (centred on the hips, 2.5 x the body-size radius), which on
# the held-out test renders is 1.24 x the crop's side (median; p10-p90 1.17-1.39, one follow step from a found
# person). With the whole crop as ROI (1.0, until 2026-12-01 23:00) the landmark model lost 33 % of those crops
# (found 0.672); at 1.3 it finds 0.898 at about the same accuracy (median 3.6 against 3.2 px of 128 to the body's
# own COCO-17 keypoints). Measured by the session's ROI sweep, README "MoCap-SPIN".
LABEL_ROI_SCALE = 1.3


def crop_intrinsics(joints3d: np.ndarray, joints2d: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-sample ``(f, cx, cy)`` ``(N, 3)`` with ``uv = f xy / z + c`` fitted to camera-frame joints
    ``(N, J, 3)`` and their crop pixels ``(N, J, 2)``; and the largest residual in px."""
    x = joints3d[..., :2] / np.maximum(joints3d[..., 2:3], 1e-6)              # (N, J, 2)
    n, j = x.shape[:2]
    a = np.zeros((n, 2 * j, 3))
    a[:, 0::2, 0], a[:, 0::2, 1] = x[..., 0], 1.0
    a[:, 1::2, 0], a[:, 1::2, 2] = x[..., 1], 1.0
    b = joints2d.reshape(n, 2 * j)
    sol = np.stack([np.linalg.lstsq(a[i], b[i], rcond=None)[0] for i in range(n)])
    res = np.abs(np.einsum("nij,nj->ni", a, sol) - b).max()
    return sol, float(res)


@torch.no_grad()
def body_coco2d(body, rotmats: np.ndarray, shape: np.ndarray, joints3d: np.ndarray, joints2d: np.ndarray,
                chunk: int = 32) -> tuple[np.ndarray, float]:
    """The body's COCO-17 keypoints ``(N, 17, 2)`` in crop pixels for shard samples (see module docstring)."""
    reg = body.keypoint_regressor("coco17")
    if reg is None:
        raise ValueError(f"body model {body.name!r} has no COCO-17 regressor")
    intr, res = crop_intrinsics(joints3d.astype(np.float64), joints2d.astype(np.float64))
    out = []
    for s in range(0, len(rotmats), chunk):
        o = body(torch.as_tensor(rotmats[s:s + chunk]), torch.as_tensor(shape[s:s + chunk]), with_mesh=True)
        c = reg(o.vertices).double().numpy() - o.joints[:, :1].double().numpy() + joints3d[s:s + chunk, :1]
        f = intr[s:s + chunk]
        out.append(f[:, None, :1] * c[..., :2] / np.maximum(c[..., 2:3], 1e-6) + f[:, None, 1:])
    return np.concatenate(out).astype(np.float32), res


def landmark_keypoints(detector, image: np.ndarray, roi_scale: float = LABEL_ROI_SCALE) -> np.ndarray:
    """COCO-17 ``(17, 3)`` crop px + confidence of the BlazePose landmark model on a square ROI of ``roi_scale`` x
    the crop's side centred on the crop (the image edges replicated beyond it), zeros where the pose flag is below
    0.5. ``image``: ``(S, S, 3) uint8`` RGB."""
    from pose_estimation_ros.perception.detectors.blazepose import BLAZEPOSE_TO_COCO17

    if not roi_scale > 0:
        raise ValueError(f"roi_scale must be > 0, got {roi_scale}")
    s = image.shape[0]
    side = s * float(roi_scale)
    o = 0.5 * (s - side)
    roi = np.array([[side, 0, o], [0, side, o]], np.float32)
    flag, lm = detector._landmarks(np.ascontiguousarray(image), roi)[:2]
    if flag < 0.5:
        return np.zeros((NUM_KEYPOINTS, 3), np.float32)
    return np.concatenate([lm[BLAZEPOSE_TO_COCO17, :2], lm[BLAZEPOSE_TO_COCO17, 2:3]], 1).astype(np.float32)


def label_shard(path: Path, detector, body, force: bool = False, roi_scale: float = LABEL_ROI_SCALE) -> Path:
    """Write ``kp_K.npz`` for ``shard_K.npz`` (skipped when it exists with the same ``roi_scale``, unless
    ``force``)."""
    out = path.with_name(path.name.replace("shard_", "kp_"))
    if out.exists() and not force:
        with np.load(out) as z:
            if abs(label_roi_scale(z) - roi_scale) < 1e-6:
                return out
    with np.load(path) as z:
        d = {k: z[k] for k in ("image", "joints2d", "joints3d", "rotmats", "shape")}
    kp = np.stack([landmark_keypoints(detector, im, roi_scale) for im in d["image"]])
    coco, res = body_coco2d(body, d["rotmats"], d["shape"], d["joints3d"], d["joints2d"])
    if res > 1.0:
        print(f"[shard_keypoints] {path}: crop intrinsics fit residual {res:.2f} px", flush=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, keypoints=kp, coco2d=coco, roi_scale=np.float32(roi_scale))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.shard_keypoints", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", help="shard folders")
    p.add_argument("--fit-noise", default=None, metavar="JSON", help="write the fitted noise model here")
    p.add_argument("--fit-on", nargs="*", default=None, help="folders to fit on (default: the first of dirs)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--roi-scale", type=float, default=LABEL_ROI_SCALE,
                   help="landmark ROI side over the crop side (default %(default)s; files of another scale are redone)")
    a = p.parse_args(argv)
    from tqdm import tqdm

    from pose_estimation_ros.perception.detectors.blazepose import BlazePoseDetector
    from training.body.registry import make_body_model

    torch.set_num_threads(1)
    det = BlazePoseDetector(tiles=1)
    body = make_body_model("anny").eval()
    files = sorted(f for d in a.dirs for f in Path(d).glob("shard_*.npz") if ".tmp" not in f.name)
    if not files:
        p.error(f"no shard_*.npz in {a.dirs}")
    for f in tqdm(files, desc="keypoints", dynamic_ncols=True):
        label_shard(f, det, body, a.force, a.roi_scale)
    if a.fit_noise:
        fit_dirs = a.fit_on or a.dirs[:1]
        kps, truth, side = [], [], None
        for d in fit_dirs:
            for f in sorted(Path(d).glob("kp_*.npz")):
                with np.load(f) as z:
                    kps.append(z["keypoints"])
                    truth.append(z["coco2d"])
                with np.load(f.with_name(f.name.replace("kp_", "shard_"))) as z:
                    side = z["image"].shape[1]
        noise = fit_noise(np.concatenate(kps), np.concatenate(truth), float(side),
                          source=f"BlazePose landmark model (pose_landmark_full) on {', '.join(fit_dirs)}")
        noise.save(a.fit_noise)
        err = np.linalg.norm(np.asarray(noise.std), axis=-1) * side
        print(f"[shard_keypoints] noise model -> {a.fit_noise}: n={noise.n}, miss rate {noise.miss_rate:.3f}, "
              f"std {err.min():.1f}-{err.max():.1f} px of {side}, gross rate mean {np.mean(noise.gross_rate):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
