"""3DPW sequence pickles (``sequenceFiles/{train,validation,test}/*.pkl``, von Marcard et al. ECCV 2018).

Each pickle (Python-2 pickled, latin1) holds one sequence: ``sequence`` (name), ``img_frame_ids`` (F,),
``cam_intrinsics`` (3, 3), ``cam_poses`` (F, 4, 4) world -> camera, and per actor lists ``poses``
((F, 72) SMPL axis-angle, world frame), ``betas`` ((10,) or more), ``jointPositions`` ((F, 72) the 24
SMPL joints in the world, metres) and ``campose_valid`` ((F,) which frames are usable). Images are
``imageFiles/<sequence>/image_{frame:05d}.jpg`` under the dataset root.

Per usable (frame, actor): 3D joints in the camera frame, global orientation turned into the camera
frame (``R_cam @ R_global``), SMPL betas, 2D keypoints by projecting the 3D joints with the
intrinsics, and a square box around them (``box_margin``).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from training.data.real.annotations import RealAnnotations, RealDataError, concat_annotations, require_keys
from training.data.real.spin_npz import axis_angle_to_rotmat_np

__all__ = ["REQUIRED_KEYS", "load_3dpw_sequence", "load_3dpw"]

REQUIRED_KEYS: tuple[str, ...] = ("sequence", "img_frame_ids", "cam_intrinsics", "cam_poses", "poses", "betas",
                                  "jointPositions", "campose_valid")


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        try:
            return pickle.load(f, encoding="latin1")
        except (pickle.UnpicklingError, EOFError) as e:
            raise RealDataError(f"{path}: not a 3DPW sequence pickle ({e})") from e


def load_3dpw_sequence(path: str | Path, dataset_root: str | Path | None = None, box_margin: float = 1.2,
                       stride: int = 1) -> RealAnnotations:
    """One 3DPW sequence file -> :class:`RealAnnotations` (every ``stride``-th usable frame, all actors).

    Args:
        dataset_root: folder holding ``imageFiles/`` (default: two levels above the pickle,
            ``<root>/sequenceFiles/<split>/<seq>.pkl``).
    Raises:
        FileNotFoundError, RealDataError (a missing key is named with the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"3DPW sequence {path}: no such file")
    root = Path(dataset_root) if dataset_root is not None else path.parent.parent.parent
    seq = _read_pickle(path)
    if not isinstance(seq, dict):
        raise RealDataError(f"{path}: a 3DPW pickle holds a dict, got {type(seq).__name__}")
    require_keys(seq, REQUIRED_KEYS, str(path), "3DPW sequence pickle")
    name = str(seq["sequence"])
    frames = np.asarray(seq["img_frame_ids"]).astype(int)
    k = np.asarray(seq["cam_intrinsics"], np.float64).reshape(3, 3)
    cam = np.asarray(seq["cam_poses"], np.float64)
    out: dict[str, list] = {k_: [] for k_ in ("img", "center", "size", "kp", "j3", "rot", "betas")}
    for actor, (poses, betas, joints, valid) in enumerate(zip(seq["poses"], seq["betas"], seq["jointPositions"],
                                                              seq["campose_valid"])):
        poses = np.asarray(poses, np.float64)
        joints = np.asarray(joints, np.float64).reshape(-1, 24, 3)
        valid = np.asarray(valid).astype(bool)
        if poses.shape != (len(frames), 72) or joints.shape[0] != len(frames) or valid.shape != (len(frames),):
            raise RealDataError(f"{path}: actor {actor}: poses {poses.shape}, jointPositions {joints.shape}, "
                                f"campose_valid {valid.shape} do not match {len(frames)} frames")
        for f in np.flatnonzero(valid)[::stride]:
            r_cam, t_cam = cam[f, :3, :3], cam[f, :3, 3]
            j_cam = joints[f] @ r_cam.T + t_cam                          # (24, 3) camera frame
            if np.any(j_cam[:, 2] <= 0.05):
                continue
            uv = (j_cam @ k.T)[:, :2] / j_cam[:, 2:3]
            lo, hi = uv.min(0), uv.max(0)
            rot = axis_angle_to_rotmat_np(poses[f].reshape(24, 3))
            rot[0] = (r_cam @ rot[0]).astype(np.float32)
            out["img"].append(str(root / "imageFiles" / name / f"image_{int(frames[f]):05d}.jpg"))
            out["center"].append((lo + hi) / 2)
            out["size"].append(box_margin * float(np.max(hi - lo)))
            out["kp"].append(uv)
            out["j3"].append(j_cam)
            out["rot"].append(rot)
            out["betas"].append(np.asarray(betas, np.float32).reshape(-1)[:10])
    n = len(out["img"])
    return RealAnnotations(out["img"], np.asarray(out["center"]).reshape(n, 2), np.asarray(out["size"]),
                           np.asarray(out["kp"], np.float32).reshape(n, 24, 2), np.ones((n, 24), np.float32),
                           np.asarray(out["j3"], np.float32).reshape(n, 24, 3), None,
                           np.asarray(out["rot"], np.float32).reshape(n, 24, 3, 3), None,
                           np.asarray(out["betas"], np.float32).reshape(n, 10), None, f"3dpw:{name}")


def load_3dpw(path: str | Path, dataset_root: str | Path | None = None, stride: int = 1) -> RealAnnotations:
    """A 3DPW sequence file, or every ``*.pkl`` under a folder (e.g. ``sequenceFiles/test``)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.pkl"))
        if not files:
            raise FileNotFoundError(f"3DPW: no *.pkl sequence files under {path}")
        return concat_annotations([load_3dpw_sequence(f, dataset_root, stride=stride) for f in files])
    return load_3dpw_sequence(path, dataset_root, stride=stride)
