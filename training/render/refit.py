"""Re-render fitted people of real image datasets with new textures and backgrounds (the seed's
"second models").

Input: a fits file in the SPIN / EFT style, an ``.npz`` with one row per person crop:

=================  =================  =========================================================
key                shape              meaning
=================  =================  =========================================================
``pose``           (N, 72) or         axis-angle of the 24 canonical/SMPL joints (joint 0 = global
                   (N, 24, 3, 3)      orientation in the camera frame), or rotation matrices
``shape``/``betas`` (N, B)            body shape; used when it fits the rendering body
                                      (``num_shape`` values), otherwise a random shape is drawn
``cam``/``pred_cam`` (N, 3)           weak-perspective ``(s, tx, ty)`` of the crop (SPIN), or
``transl``          (N, 3)            root translation in the camera frame (takes precedence)
``imgname``         (N,)              optional, kept in the meta
``focal_length``    () or (N,)        optional, default 5000 px for a 224 crop (SPIN's)
=================  =================  =========================================================

SPIN's convention: the SMPL mesh is in the camera optical frame (a person facing the camera has
global orientation ~``R_x(pi)``), the crop is ``img_res`` pixels, the camera sits at the crop centre
with focal ``f``, and ``transl = (tx, ty, 2 f / (img_res s))``. Each fit is rendered at ``size``
pixels with that camera, a new outfit, background and light (:class:`RefitRenderer`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import roma
import torch

from training.render.augment import degrade, sample_light
from training.render.poses import sample_shape
from training.render.rasterizer import composite
from training.render.renderer import PersonState
from training.render.sampler import SampleGenerator, joint_visibility

__all__ = ["load_fits", "RefitRenderer", "weak_perspective_to_transl"]


def weak_perspective_to_transl(cam: np.ndarray, focal: float, img_res: int) -> np.ndarray:
    """(N, 3) ``(s, tx, ty)`` -> (N, 3) camera-frame translation ``(tx, ty, 2 f / (img_res s))``."""
    cam = np.asarray(cam, np.float64)
    s = np.maximum(cam[:, 0], 1e-6)
    return np.stack([cam[:, 1], cam[:, 2], 2 * focal / (img_res * s)], -1)


def load_fits(path: str | Path, img_res: int = 224) -> dict:
    """Read a fits ``.npz``: rotmats (N, 24, 3, 3), shape (N, B) or None, transl (N, 3), focal (N,), names.

    Raises:
        ValueError: missing keys or wrong shapes, naming the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"fits file {path} does not exist")
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    if "pose" not in d:
        raise ValueError(f"{path}: no 'pose' array (expected (N, 72) axis-angle or (N, 24, 3, 3))")
    pose = np.asarray(d["pose"], np.float64)
    n = pose.shape[0]
    if pose.shape[1:] == (72,):
        rot = roma.rotvec_to_rotmat(torch.as_tensor(pose.reshape(n, 24, 3))).numpy()
    elif pose.shape[1:] == (24, 3, 3):
        rot = pose
    else:
        raise ValueError(f"{path}: 'pose' must be (N, 72) or (N, 24, 3, 3), got {pose.shape}")
    focal = np.broadcast_to(np.asarray(d.get("focal_length", 5000.0), np.float64), (n,)).copy()
    if "transl" in d:
        transl = np.asarray(d["transl"], np.float64).reshape(n, 3)
    else:
        cam = d.get("cam", d.get("pred_cam"))
        if cam is None:
            raise ValueError(f"{path}: needs 'transl' (N, 3) or a weak-perspective 'cam'/'pred_cam' (N, 3)")
        cam = np.asarray(cam, np.float64).reshape(n, 3)
        transl = np.stack([weak_perspective_to_transl(cam[i:i + 1], focal[i], img_res)[0] for i in range(n)])
    shape = d.get("shape", d.get("betas"))
    names = [str(x) for x in d["imgname"]] if "imgname" in d else [f"{path.stem}:{i}" for i in range(n)]
    return {"rotmats": rot.astype(np.float32), "shape": None if shape is None else np.asarray(shape, np.float32),
            "transl": transl.astype(np.float32), "focal": focal, "names": names, "img_res": img_res}


class RefitRenderer:
    """Renders the fits of a file as person-crop samples (same keys as the dataset samples)."""

    def __init__(self, gen: SampleGenerator, fits: dict) -> None:
        self.gen = gen
        self.fits = fits

    def __len__(self) -> int:
        return int(self.fits["rotmats"].shape[0])

    def sample(self, i: int, variant: int = 0) -> dict:
        """Fit ``i`` re-rendered (``variant`` picks another outfit/background for the same fit)."""
        gen, f = self.gen, self.fits
        S = gen.cfg.size
        rng = np.random.default_rng([gen.seed, int(i), int(variant), 11])
        rot = f["rotmats"][i]
        num = gen.renderer.num_shape
        if f["shape"] is not None and f["shape"].shape[1] == num:
            shape = f["shape"][i]
        else:
            shape = sample_shape(gen.renderer.mesh.name, num, rng)
        transl = f["transl"][i].astype(np.float32)
        scale = S / float(f["img_res"])
        fo = float(f["focal"][i]) * scale
        K = np.array([[fo, 0, (S - 1) / 2], [0, fo, (S - 1) / 2], [0, 0, 1]], np.float64)
        outfit = gen.appearance.sample(rng)
        tex = gen.appearance.paint(outfit, rng)
        posed = gen.renderer.pose([PersonState(rot, shape, transl, tex)])
        light, lmeta = sample_light(rng, gen.cfg.augment)
        M = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        bg, bmeta = gen.backgrounds.sample(rng, S, S, M, S, S)
        layers = gen.renderer.draw(posed, [tex], K, S, S, light, gen.cfg.supersample)
        img, dmeta = degrade(composite(layers, bg), rng, gen.cfg.augment)
        j3 = posed.joints[0].astype(np.float64)
        j2 = j3[:, :2] / j3[:, 2:3] * np.diag(K)[:2] + K[:2, 2]
        c3 = posed.coco17[0].astype(np.float64)
        c2 = c3[:, :2] / np.maximum(c3[:, 2:3], 1e-6) * np.diag(K)[:2] + K[:2, 2]
        vis = joint_visibility(j2, j3[:, 2], layers, 0, None, gen.cfg.vis_tol_m, gen.cfg.vis_tol_part_m)
        return {"image": img, "joints2d": j2.astype(np.float32), "coco2d": c2.astype(np.float32),
                "visibility": vis, "joints3d": j3.astype(np.float32), "rotmats": rot.astype(np.float32),
                "shape": np.asarray(shape, np.float32), "transl": transl, "K": K.astype(np.float32),
                "box": np.array([0, 0, S, S], np.float32) / scale,
                "mask": ((layers.alpha > 0.5) & (layers.person == 0)).astype(np.uint8), "upper_body": False,
                "meta": {"index": int(i), "variant": int(variant), "source": "refit", "fit": f["names"][i],
                         "outfit": outfit.meta(), "background": bmeta, "light": lmeta, "degrade": dmeta,
                         "split": gen.cfg.split}}
