"""Where body poses and shapes come from: imported motion capture, or random plausible poses.

:class:`MotionPoses` draws frames from canonical motion files (``training.data`` import, e.g.
``python -m training.mocap_cli import-mocap ../shared/data/cmu --out runs/render_motion --body anny``), split
by subject like the motion datasets. :class:`RandomPoses` (behind ``--random-poses``) perturbs the
T-pose with bounded random joint rotations (arms down, knees bending forward only) when no motion
capture is around. Shapes are drawn separately (:func:`sample_shape`) for the body model in use,
since imported motion carries the shape of the fitting body, not of the rendered one.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import roma
import torch

from pose_estimation_ros import skeleton

__all__ = ["MotionPoses", "RandomPoses", "sample_shape", "DEFAULT_MOTION_DIRS", "make_pose_source"]

log = logging.getLogger(__name__)
_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MOTION_DIRS = (str(_ROOT / "runs" / "render_motion"), str(_ROOT / "data" / "motion"))
J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def _rotvec_to_rotmat(v: np.ndarray) -> np.ndarray:
    return roma.rotvec_to_rotmat(torch.as_tensor(v, dtype=torch.float64)).numpy()


class MotionPoses:
    """Frames of canonical motion clips.

    Args:
        folder: folder of canonical motion ``.npz`` (recursive).
        split: "train" | "heldout" | "all": subjects are split with ``training.data.dataset.split_sequences``
            (held-out = its test part).
    Raises:
        ValueError: no motion files in the folder.
    """

    def __init__(self, folder: str | Path, split: str = "train", fps: float | None = 30.0,
                 body: str | None = None) -> None:
        from training.data.dataset import load_motion_dir, split_sequences

        seqs = load_motion_dir(folder)
        if not seqs:
            raise ValueError(f"no canonical motion files in {folder} (import some with "
                             "`python -m training.mocap_cli import-mocap SRC --out DIR`)")
        fitted = sorted({s.body_model for s in seqs})
        if body is not None and fitted != [body]:
            # rotations fitted on another body put the rendered body's joints elsewhere than the mocap's, and
            # differ from what the temporal model and the lifting table (imported on this body) see
            log.warning("%s: motion fitted on the %s body, rendered on '%s': re-import with `python -m "
                        "training.mocap_cli import-mocap SRC --out DIR --body %s`", folder, "/".join(fitted), body, body)
        if split != "all" and len(seqs) >= 3:
            train, val, test = split_sequences(seqs, val=0.0, test=0.2)
            seqs = train if split == "train" else test
        if fps:
            seqs = [s.resample(fps) for s in seqs]
        self.seqs = seqs
        self.folder = str(folder)
        lens = np.array([s.num_frames for s in seqs])
        self.cum = np.concatenate([[0], np.cumsum(lens)])
        self.rotmats = np.concatenate([s.rotmats for s in seqs]).astype(np.float32)   # (N, 24, 3, 3)
        self.transl = np.concatenate([s.transl for s in seqs]).astype(np.float32)

    def __len__(self) -> int:
        return int(self.cum[-1])

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """(24, 3, 3) local rotations (joint 0 in the y-up world) and meta (sequence, frame)."""
        i = int(rng.integers(len(self)))
        k = int(np.searchsorted(self.cum, i, side="right") - 1)
        r = self.rotmats[i].copy()
        if rng.uniform() < 0.5:
            r = mirror(r)
        return r, {"source": "mocap", "sequence": self.seqs[k].sequence, "frame": int(i - self.cum[k])}

    def clip(self, index: int) -> tuple[np.ndarray, np.ndarray, float, str]:
        """A whole clip: rotations (T, 24, 3, 3), root translation (T, 3) (y-up world), fps, name."""
        s = self.seqs[index % len(self.seqs)]
        return s.rotmats.astype(np.float32), s.transl.astype(np.float32), float(s.fps), s.sequence


_MIRROR = [skeleton.JOINT_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
           for n in skeleton.JOINT_NAMES]


def mirror(rotmats: np.ndarray) -> np.ndarray:
    """Left/right mirrored pose (reflection x -> -x): swap sides, ``R -> S R S`` with ``S = diag(-1, 1, 1)``."""
    S = np.diag([-1.0, 1.0, 1.0]).astype(rotmats.dtype)
    return (S @ rotmats @ S)[_MIRROR]


class RandomPoses:
    """Random plausible poses: bounded perturbations of a relaxed standing pose."""

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        rv = rng.normal(0, 0.12, (24, 3))
        rv[0] = [0, rng.uniform(-np.pi, np.pi), 0]
        for side, sgn in (("left", 1), ("right", -1)):
            rv[J[f"{side}_shoulder"]] = [rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.5), -sgn * rng.uniform(0.2, 1.4)]
            rv[J[f"{side}_elbow"]] = [0, -sgn * rng.uniform(0, 1.8), 0]
            rv[J[f"{side}_hip"]] = [rng.uniform(-0.9, 0.4), 0, sgn * rng.uniform(-0.05, 0.3)]
            rv[J[f"{side}_knee"]] = [rng.uniform(0, 1.4), 0, 0]
        return _rotvec_to_rotmat(rv).astype(np.float32), {"source": "random"}


def import_shared_motion(out: str | Path = DEFAULT_MOTION_DIRS[0], body: str = "anny") -> Path | None:
    """Import the shared CMU clips (``<shared data>/cmu``, 3 walks, ~15 s) into ``out`` when no motion
    is around; returns ``out``, or None without shared data."""
    from training.render.make_shards import shared_data_dir
    d = shared_data_dir()
    if d is None or not (d / "cmu").is_dir():
        return None
    from training.mocap_cli import main as mocap_main
    log.warning("no imported motion capture: importing %s into %s", d / "cmu", out)
    if mocap_main(["import-mocap", str(d / "cmu"), "--out", str(out), "--fps", "30", "--body", body]) != 0:
        return None
    return Path(out)


def make_pose_source(motion_dir: str | Path | None, random_poses: bool = False, split: str = "train",
                     body: str | None = None):
    """MotionPoses from ``motion_dir`` (or the first default folder that exists; with neither, the
    shared CMU clips are imported into ``runs/render_motion`` first), else RandomPoses when allowed.

    Raises:
        ValueError: no motion found (and none importable) and random poses not allowed.
    """
    if random_poses:
        return RandomPoses()
    cands = [motion_dir] if motion_dir else list(DEFAULT_MOTION_DIRS)
    for c in cands:
        if c and Path(c).exists():
            return MotionPoses(c, split, body=body)
    if not motion_dir:
        got = import_shared_motion(body=body or "anny")
        if got is not None:
            return MotionPoses(got, split, body=body)
    raise ValueError(f"no motion capture found in {cands}: import clips with `python -m training.mocap_cli "
                     "import-mocap ../shared/data/cmu --out runs/render_motion --body anny` or pass random_poses=True")


def sample_shape(body_name: str, num_shape: int, rng: np.random.Generator) -> np.ndarray:
    """(num_shape,) float32 shape: Anny phenotypes (mostly adults, all body types), else N(0, 1) betas."""
    if body_name == "anny":
        from training.body.anny_body import NEUTRAL_PHENOTYPE
        ph = np.array([rng.uniform(0, 1),                                    # gender
                       rng.choice([rng.uniform(0.5, 1.0), rng.uniform(0.36, 0.5)], p=[0.9, 0.1]),  # age
                       rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9),          # muscle, weight
                       rng.uniform(0.15, 0.85), rng.uniform(0.2, 0.8)])       # height, proportions
        return (ph - np.asarray(NEUTRAL_PHENOTYPE)).astype(np.float32)
    return rng.normal(0, 1, num_shape).astype(np.float32)
