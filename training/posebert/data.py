"""Motion windows for PoseBERT: loading / splitting sequences, fast random window batches, camera views.

Sequences are canonical :class:`~training.data.motion.MotionSequence` clips. Directories of ``.npz``
clips are loaded with :func:`training.data.dataset.load_motion_dir` when that module is present (else a
plain glob), resampled to the configured fps and split **by subject** from explicit lists in the config.
For speed on CPU, :class:`MotionBank` keeps every frame of a split in one tensor and samples windows by
index (no DataLoader / per-item dicts).

:func:`synthetic_sequences` makes smooth random motions (sums of sinusoids per joint) for tests and
smoke runs before real mocap is imported.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import roma
import torch

from pose_estimation_ros import skeleton
from training.data.motion import MotionSequence
from training.geometry.rotations import rotation_about_axis

__all__ = ["MotionBank", "synthetic_motion", "synthetic_sequences", "load_sequences", "split_by_subject",
           "random_view_rotation", "apply_view", "same_subject", "mirror", "random_pose_offset", "MIRROR_INDEX",
           "random_global_rotation", "crouch_offset", "read_splits"]

NJ = skeleton.NUM_JOINTS
# Camera frame (x right, y down, z forward) from the y-up body/world frame: 180 deg about x, the
# orientation of the mean pose (training.models.spin.mean_pose6d).
CAM_FROM_WORLD = rotation_about_axis("x", 180.0)


def same_subject(a: str, b: str) -> bool:
    """Subject ids compare as numbers when both are numeric ("001" == "1" == "01")."""
    a, b = str(a), str(b)
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a == b


# ----------------------------------------------------------------------------- synthetic motion
def synthetic_motion(num_frames: int = 240, fps: float = 30.0, seed: int = 0, subject: str = "syn0",
                     sequence: str | None = None, amplitude_deg: float = 35.0) -> MotionSequence:
    """A smooth random motion: each joint's axis-angle is a sum of 3 sinusoids (0.2 - 1.5 Hz), the root
    turns slowly about the vertical and translates at walking speed."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    freq = rng.uniform(0.2, 1.5, size=(NJ, 3, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(NJ, 3, 3))
    amp = np.radians(amplitude_deg) * rng.uniform(0.1, 1.0, size=(NJ, 3, 3)) / 3
    rv = (amp[None] * np.sin(2 * np.pi * freq[None] * t[:, None, None, None] + phase[None])).sum(-1)
    yaw = rng.uniform(-np.pi, np.pi) + rng.uniform(-0.5, 0.5) * t
    rv[:, 0] *= 0.3
    rot = roma.rotvec_to_rotmat(torch.as_tensor(rv, dtype=torch.float32))            # (T, 24, 3, 3)
    ry = roma.rotvec_to_rotmat(torch.as_tensor(np.stack([0 * yaw, yaw, 0 * yaw], -1), dtype=torch.float32))
    rot[:, 0] = ry @ rot[:, 0]
    transl = np.stack([np.cumsum(np.sin(yaw)) / fps, 0.9 + 0.02 * np.sin(4 * t), np.cumsum(np.cos(yaw)) / fps], -1)
    shape = np.zeros(10, np.float32)
    shape[:2] = rng.normal(0, 1, 2)
    return MotionSequence(rot.numpy(), transl.astype(np.float32), shape, "skeleton", fps, subject,
                          sequence or f"{subject}_{seed:02d}", source="synthetic")


def synthetic_sequences(num: int = 12, num_frames: int = 240, fps: float = 30.0, seed: int = 0,
                        subjects: int = 4) -> list[MotionSequence]:
    """``num`` synthetic clips over ``subjects`` subjects named ``syn0``, ``syn1``..."""
    return [synthetic_motion(num_frames, fps, seed * 1000 + i, subject=f"syn{i % subjects}",
                             sequence=f"syn{i % subjects}_{i:02d}") for i in range(num)]


# ----------------------------------------------------------------------------- loading / splits
def load_sequences(dirs: list[str] | tuple[str, ...], fps: float | None = None) -> list[MotionSequence]:
    """Load every MotionSequence under ``dirs`` (recursively), resampled to ``fps``."""
    seqs: list[MotionSequence] = []
    try:
        from training.data.dataset import load_motion_dir  # the shared loader, when present
    except ImportError:  # pragma: no cover - before training/data/dataset.py exists
        load_motion_dir = None
    for d in dirs:
        p = Path(d)
        if not p.exists():
            raise FileNotFoundError(f"motion directory {p} not found (import mocap first: "
                                    f"python -m training.mocap_cli import-mocap SRC... --out {p} --fps 30)")
        if load_motion_dir is not None:
            seqs.extend(load_motion_dir(p))
        else:
            seqs.extend(MotionSequence.load(f) for f in sorted(p.rglob("*.npz")))
    if fps:
        seqs = [s.resample(fps) for s in seqs]
    return seqs


def split_by_subject(seqs: list[MotionSequence], subjects: list[str]) -> list[MotionSequence]:
    return [s for s in seqs if any(same_subject(s.subject, x) for x in subjects)]


# ----------------------------------------------------------------------------- views
def random_view_rotation(batch: int, generator: torch.Generator | None = None,
                         max_pitch_deg: float = 15.0) -> torch.Tensor:
    """(B, 3, 3) camera-from-world rotations: uniform yaw about the vertical, pitch / roll within
    ``±max_pitch_deg``, then the y-up -> y-down camera flip (:data:`CAM_FROM_WORLD`)."""
    yaw = (torch.rand(batch, generator=generator) * 2 - 1) * math.pi
    tilt = (torch.rand(batch, 2, generator=generator) * 2 - 1) * math.radians(max_pitch_deg)
    z = torch.zeros(batch)
    ry = roma.rotvec_to_rotmat(torch.stack([z, yaw, z], -1))
    rx = roma.rotvec_to_rotmat(torch.stack([tilt[:, 0], z, z], -1))
    rz = roma.rotvec_to_rotmat(torch.stack([z, z, tilt[:, 1]], -1))
    return CAM_FROM_WORLD @ rx @ rz @ ry


def apply_view(rotmats: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Rotate the global orientation (joint 0) of (B, T, 24, 3, 3) by per-window (B, 3, 3) ``view``."""
    out = rotmats.clone()
    out[:, :, 0] = view[:, None] @ rotmats[:, :, 0]
    return out


# ----------------------------------------------------------------------------- augmentation
def _mirror_index() -> tuple[int, ...]:
    names = skeleton.JOINT_NAMES
    swap = {"left_": "right_", "right_": "left_"}
    out = []
    for n in names:
        for a, b in swap.items():
            if n.startswith(a):
                n = b + n[len(a):]
                break
        out.append(names.index(n))
    return tuple(out)


MIRROR_INDEX = _mirror_index()
_M = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))   # reflection x -> -x (the body's left <-> right)


def mirror(rotmats: torch.Tensor) -> torch.Tensor:
    """Left-right mirror image of local rotations (..., 24, 3, 3): ``M R M`` per joint, sides swapped
    (the canonical rest skeleton is symmetric in x)."""
    return (_M @ rotmats @ _M)[..., list(MIRROR_INDEX), :, :]


def random_pose_offset(batch: int, std_deg: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 1, 24, 3, 3) per-window constant per-joint rotation offsets (axis-angle ~ N(0, std^2) per
    axis; none on the global orientation). Composed onto ground-truth local rotations they widen the
    pose distribution of a small mocap set while keeping its motion dynamics."""
    e = torch.randn(batch, 1, NJ, 3, generator=generator) * math.radians(std_deg)
    e[:, :, 0] = 0.0
    return roma.rotvec_to_rotmat(e)


def random_global_rotation(batch: int, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 3, 3) whole-body rotations: uniformly random (Shoemake quaternions: inverted, lying, any tilt)
    with probability ``prob``, identity otherwise. Left-multiplied onto the world-frame root rotation."""
    u = torch.rand(batch, 3, generator=generator)
    q = torch.stack([torch.sqrt(1 - u[:, 0]) * torch.sin(2 * math.pi * u[:, 1]),
                     torch.sqrt(1 - u[:, 0]) * torch.cos(2 * math.pi * u[:, 1]),
                     torch.sqrt(u[:, 0]) * torch.sin(2 * math.pi * u[:, 2]),
                     torch.sqrt(u[:, 0]) * torch.cos(2 * math.pi * u[:, 2])], -1)        # (x, y, z, w)
    r = roma.unitquat_to_rotmat(q)
    keep = torch.rand(batch, generator=generator) >= prob
    r[keep] = torch.eye(3)
    return r


def crouch_offset(batch: int, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 1, 24, 3, 3) per-window flexion offsets: with probability ``prob`` both hips flex by
    U(30, 100) deg (thigh forward: -x rotation), both knees by U(30, 120) deg (+x) and the ankles by
    U(0, 30) deg, each side within ±15 deg of the other; identity otherwise. Composed onto local
    rotations (``gt @ offset``) they add crouching / kneeling / squatting postures."""
    idx = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
    ang = torch.zeros(batch, NJ)
    on = (torch.rand(batch, generator=generator) < prob).float()

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(batch, generator=generator)
    for joint, lo, hi, sign in (("hip", 30, 100, -1), ("knee", 30, 120, 1), ("ankle", 0, 30, -1)):
        base = u(lo, hi)
        for side in ("left", "right"):
            ang[:, idx[f"{side}_{joint}"]] = sign * on * (base + u(-15, 15))
    rv = torch.zeros(batch, 1, NJ, 3)
    rv[:, 0, :, 0] = torch.deg2rad(ang)
    return roma.rotvec_to_rotmat(rv)


def read_splits(path: str | Path) -> dict[str, list[str]]:
    """train / val / test subject lists from an import-mocap ``splits.json``."""
    import json
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"splits file {p} not found (written by: python -m training.mocap_cli import-mocap "
                                f"... --out {p.parent})")
    d = json.loads(p.read_text())
    return {k: [str(x) for x in d.get(k, [])] for k in ("train", "val", "test")}


# ----------------------------------------------------------------------------- bank
class MotionBank:
    """All frames of a list of sequences in one tensor, with random window sampling.

    Args:
        sequences: clips (same fps).
        window: T; sequences shorter than T are skipped for window sampling (their frames still serve
            as replacement poses).
        num_betas: shape vectors are cut / zero-padded to this length.
    """

    def __init__(self, sequences: list[MotionSequence], window: int, num_betas: int = 10) -> None:
        if not sequences:
            raise ValueError("no motion sequences")
        self.sequences = sequences
        self.window = window
        rot, betas, starts, seq_of_frame = [], [], [], []
        offset = 0
        for i, s in enumerate(sequences):
            n = s.num_frames
            rot.append(torch.as_tensor(s.rotmats, dtype=torch.float32))
            b = np.zeros(num_betas, np.float32)
            k = min(num_betas, len(s.shape))
            b[:k] = np.asarray(s.shape, np.float32)[:k]
            betas.append(torch.as_tensor(b).expand(n, -1))
            if n >= window:
                starts.append(torch.arange(offset, offset + n - window + 1))
            seq_of_frame.append(torch.full((n,), i))
            offset += n
        self.rotmats = torch.cat(rot)                    # (N, 24, 3, 3)
        self.betas = torch.cat(betas)                    # (N, NB)
        self.seq_of_frame = torch.cat(seq_of_frame)      # (N,)
        if not starts:
            raise ValueError(f"no sequence has {window} frames")
        self.starts = torch.cat(starts)                  # window start indices
        self.num_frames = offset

    @property
    def num_windows(self) -> int:
        return int(self.starts.numel())

    def describe(self) -> str:
        subj = sorted({s.subject for s in self.sequences})
        return f"{len(self.sequences)} clips, {self.num_frames} frames, subjects {','.join(subj)}"

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: rotmats (B, T, 24, 3, 3) in the world frame, betas (B, T, NB)."""
        s = self.starts[torch.randint(self.num_windows, (batch,), generator=generator)]
        idx = s[:, None] + torch.arange(self.window)[None]
        return self.rotmats[idx], self.betas[idx]

    def random_frames(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 24, 3, 3) random frames of any sequence (replacement poses)."""
        return self.rotmats[torch.randint(self.num_frames, (n,), generator=generator)]
