"""SPIN / EFT-style ``.npz`` annotation files (``datasets/preprocess/*.py`` of SPIN, EFT fits).

Keys (N rows): ``imgname`` (N,) image paths relative to the image folder; ``center`` (N, 2) box centre
px; ``scale`` (N,) box side / 200 px; ``part`` (N, 24, 3) 2D keypoints (x, y, confidence) in SPIN's
24-joint order (:data:`~training.data.real.joint_maps.SPIN24_NAMES`). Optional: ``S`` (N, 24, 4) 3D
joints (x, y, z m, confidence; camera frame), ``pose`` (N, 72) SMPL axis-angle (global orientation in
the camera frame), ``shape`` (N, 10) SMPL betas, ``has_smpl`` (N,) which rows have pose/shape.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.real.annotations import RealAnnotations, RealDataError, require_keys
from training.data.real.joint_maps import SPIN24_NAMES, SPIN24_TO_CANONICAL, remap

__all__ = ["REQUIRED_KEYS", "load_spin_npz", "axis_angle_to_rotmat_np"]

REQUIRED_KEYS: tuple[str, ...] = ("imgname", "center", "scale", "part")
SPIN_SCALE_PX = 200.0   # SPIN's box side = scale * 200


def axis_angle_to_rotmat_np(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues, via roma)."""
    import roma
    import torch

    return roma.rotvec_to_rotmat(torch.as_tensor(rotvec, dtype=torch.float64)).numpy().astype(np.float32)


def load_spin_npz(path: str | Path, image_root: str | Path | None = None) -> RealAnnotations:
    """Read a SPIN/EFT npz.

    Args:
        path: the ``.npz`` file.
        image_root: folder ``imgname`` is relative to (default: the npz's folder).
    Raises:
        FileNotFoundError: no such file.
        RealDataError: a required key is missing or an array has the wrong shape (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SPIN/EFT npz {path}: no such file")
    root = Path(image_root) if image_root is not None else path.parent
    with np.load(path, allow_pickle=False) as z:
        require_keys(z, REQUIRED_KEYS, str(path), "SPIN/EFT npz")
        names = [str(s) for s in z["imgname"]]
        n = len(names)
        part = z["part"]
        if part.shape != (n, 24, 3):
            raise RealDataError(f"{path}: 'part' must be (N={n}, 24, 3) in SPIN's joint order, got {part.shape}")
        kp, mask = remap(part[:, :, :2], SPIN24_NAMES, SPIN24_TO_CANONICAL)
        conf, _ = remap(part[:, :, 2:], SPIN24_NAMES, SPIN24_TO_CANONICAL)
        vis = np.clip(conf[..., 0], 0, 1) * mask
        joints3d = has3d = rotmats = has_pose = betas = None
        if "S" in z.files:
            s = z["S"]
            if s.shape != (n, 24, 4):
                raise RealDataError(f"{path}: 'S' must be (N={n}, 24, 4), got {s.shape}")
            joints3d, _ = remap(s[:, :, :3], SPIN24_NAMES, SPIN24_TO_CANONICAL)
            s_conf, _ = remap(s[:, :, 3:], SPIN24_NAMES, SPIN24_TO_CANONICAL)
            has3d = s_conf[..., 0].sum(1) > 0
            # Only joints with confidence count: keep them root-relative later via the mask in the loss.
            joints3d = joints3d * (s_conf > 0)
        if "pose" in z.files:
            pose = z["pose"]
            if pose.shape != (n, 72):
                raise RealDataError(f"{path}: 'pose' must be (N={n}, 72) SMPL axis-angle, got {pose.shape}")
            rotmats = axis_angle_to_rotmat_np(pose.reshape(n, 24, 3))
            has_pose = z["has_smpl"].astype(bool) if "has_smpl" in z.files else np.ones(n, bool)
            if "shape" in z.files:
                betas = z["shape"].astype(np.float32)
        return RealAnnotations([str(root / s) for s in names], z["center"], z["scale"] * SPIN_SCALE_PX, kp, vis,
                               joints3d, has3d, rotmats, has_pose, betas, None, f"spin_npz:{path.name}")
