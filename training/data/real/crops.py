"""Person crops of real images for training: the per-sample dict of the renderer's dataset, real labels.

Sample dict (like ``training.render``'s ``RenderDataset``): ``image`` uint8 (S, S, 3) RGB crop,
``joints2d`` (24, 2) crop pixels, ``visibility`` (24,) float, ``joints3d`` (24, 3) metres (zeros when
absent), ``rotmats`` (24, 3, 3) (identity when absent), ``has_3d``, ``has_pose`` (bool), ``real`` True,
``index`` (row in the annotations).
"""
from __future__ import annotations


import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.real.annotations import RealAnnotations

__all__ = ["crop_matrix", "crop_image", "RealCropDataset"]


def crop_matrix(center: np.ndarray, box_size: float, out_size: int) -> np.ndarray:
    """(2, 3) affine map image px -> crop px taking the square box (``center``, side ``box_size``) onto
    ``[0, out_size]^2``."""
    s = out_size / float(box_size)
    cx, cy = float(center[0]), float(center[1])
    return np.array([[s, 0.0, out_size / 2 - s * cx], [0.0, s, out_size / 2 - s * cy]], np.float64)


def crop_image(image: np.ndarray, center: np.ndarray, box_size: float, out_size: int) -> np.ndarray:
    """Square crop resampled to ``out_size`` (bilinear, black outside the image): (S, S, 3) uint8."""
    import cv2

    m = crop_matrix(center, box_size, out_size)
    return cv2.warpAffine(image, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class RealCropDataset(Dataset):
    """Crops of :class:`RealAnnotations` rows at ``size`` x ``size`` px.

    Args:
        ann: the annotations.
        size: crop side S.
        flip_prob: probability of a horizontal mirror (keypoints swapped left/right) per sample.
        scale_jitter: box side multiplied by U(1 - j, 1 + j).
        seed: augmentation RNG seed (per index, so a sample is reproducible).
    """

    def __init__(self, ann: RealAnnotations, size: int = 160, flip_prob: float = 0.0, scale_jitter: float = 0.0,
                 seed: int = 0) -> None:
        self.ann, self.size, self.flip_prob, self.scale_jitter, self.seed = ann, size, flip_prob, scale_jitter, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.ann)

    def _read(self, path: str) -> np.ndarray:
        import cv2

        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"{self.ann.source}: cannot read image {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def __getitem__(self, i: int) -> dict:
        a, s = self.ann, self.size
        rng = np.random.default_rng((self.seed, self.epoch, i))
        box = float(a.box_size[i]) * (1 + self.scale_jitter * (2 * rng.random() - 1))
        img = crop_image(self._read(a.image_paths[i]), a.center[i], box, s)
        m = crop_matrix(a.center[i], box, s)
        kp = a.kp2d[i] @ m[:, :2].T + m[:, 2]
        vis = a.kp2d_vis[i].copy()
        j3 = a.joints3d[i].copy() if a.joints3d is not None else np.zeros((24, 3), np.float32)
        rot = a.rotmats[i].copy() if a.rotmats is not None else np.tile(np.eye(3, dtype=np.float32), (24, 1, 1))
        has3d = bool(a.has_3d[i]) if a.has_3d is not None else False
        haspose = bool(a.has_pose[i]) if a.has_pose is not None else False
        if rng.random() < self.flip_prob:
            perm = np.asarray(_mirror_index())
            img = img[:, ::-1].copy()
            kp = kp[perm] * np.array([-1.0, 1.0]) + np.array([s, 0.0])
            vis, j3 = vis[perm], j3[perm] * np.array([-1.0, 1.0, 1.0], np.float32)
            m_x = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)        # mirror x: R -> M R M
            rot = np.einsum("ij,kjl,lm->kim", m_x, rot[perm], m_x)
        # Keypoints that left the crop are not supervised.
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < s) & (kp[:, 1] >= 0) & (kp[:, 1] < s)
        vis = vis * inside
        f32 = torch.float32
        return {"image": torch.from_numpy(np.ascontiguousarray(img)), "joints2d": torch.as_tensor(kp, dtype=f32),
                "visibility": torch.as_tensor(vis, dtype=f32),
                "joints3d": torch.as_tensor(j3, dtype=f32), "rotmats": torch.as_tensor(rot, dtype=f32),
                "has_3d": torch.tensor(has3d), "has_pose": torch.tensor(haspose), "real": torch.tensor(True),
                "index": torch.tensor(i)}


def _mirror_index() -> tuple[int, ...]:
    """Canonical joint index of each joint's left/right mirror (:data:`pose_estimation_ros.skeleton.JOINT_MIRROR`)."""
    from pose_estimation_ros import skeleton

    return skeleton.JOINT_MIRROR
