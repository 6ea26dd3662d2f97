"""Motions that people in the simulator play: procedural clips (walk, stand, reach, sit; no files needed) and
motion-capture clips (canonical ``.npz`` from ``training.mocap_cli import-mocap``, or ``.bvh`` imported on first
use and cached).

A motion gives, for a local time ``t`` (s since the segment started) and the distance walked so far, the (24, 3, 3)
local joint rotations of the canonical skeleton (``pose_estimation_ros.skeleton``) with joint 0 = the body's
orientation *relative to its heading* (body frame: x = left, y = up, z = forward). The actor
(:mod:`sim.people`) supplies heading and position from its scripted path.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from pose_estimation_ros.skeleton import JOINT_NAMES, NUM_JOINTS

_J = {n: i for i, n in enumerate(JOINT_NAMES)}
STRIDE_M = 1.4          # procedural gait: metres per gait cycle (two steps)
CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "sim" / "motion"


class MotionLoadError(ValueError):
    """A motion file that cannot be used (missing, unreadable, wrong format, too short)."""


class Motion(Protocol):
    name: str

    def pose(self, t: float, travelled: float) -> np.ndarray:
        """(24, 3, 3) local rotations at local time ``t`` (s) after walking ``travelled`` metres."""


def _rot(axis: str, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` (rad) about body axis 'x', 'y' or 'z'."""
    c, s = math.cos(angle), math.sin(angle)
    if axis == "x":
        return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    if axis == "y":
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _standing() -> np.ndarray:
    """(24, 3, 3) relaxed standing pose: arms lowered from the T-pose, elbows slightly bent."""
    rot = np.broadcast_to(np.eye(3), (NUM_JOINTS, 3, 3)).copy()
    rot[_J["left_shoulder"]] = _rot("z", -1.35)
    rot[_J["right_shoulder"]] = _rot("z", 1.35)
    rot[_J["left_elbow"]] = _rot("y", -0.25)
    rot[_J["right_elbow"]] = _rot("y", 0.25)
    return rot


@dataclass(frozen=True)
class ProceduralMotion:
    """A motion computed from a formula (deterministic, no data files)."""

    name: str
    fn: Callable[[float, float], np.ndarray]

    def pose(self, t: float, travelled: float) -> np.ndarray:
        return self.fn(t, travelled)


def _walk(t: float, travelled: float) -> np.ndarray:
    """Walk cycle driven by the distance walked (feet do not slide): hips, knees, ankles, arm swing."""
    rot = _standing()
    ph = 2.0 * math.pi * travelled / STRIDE_M
    s, c = math.sin(ph), math.cos(ph)
    rot[_J["left_hip"]] = _rot("x", -0.45 * s)
    rot[_J["right_hip"]] = _rot("x", 0.45 * s)
    rot[_J["left_knee"]] = _rot("x", 0.1 + 0.6 * max(0.0, c))
    rot[_J["right_knee"]] = _rot("x", 0.1 + 0.6 * max(0.0, -c))
    rot[_J["left_ankle"]] = _rot("x", -0.15 * max(0.0, c))
    rot[_J["right_ankle"]] = _rot("x", -0.15 * max(0.0, -c))
    rot[_J["spine1"]] = _rot("y", 0.08 * s)
    rot[_J["left_shoulder"]] = _rot("x", 0.35 * s) @ _rot("z", -1.35)
    rot[_J["right_shoulder"]] = _rot("x", -0.35 * s) @ _rot("z", 1.35)
    rot[_J["left_elbow"]] = _rot("y", -(0.25 + 0.35 * max(0.0, -s)))
    rot[_J["right_elbow"]] = _rot("y", 0.25 + 0.35 * max(0.0, s))
    return rot


def _stand(t: float, travelled: float) -> np.ndarray:
    """Standing with a slow sway (0.25 Hz)."""
    rot = _standing()
    rot[0] = _rot("z", 0.02 * math.sin(2 * math.pi * 0.25 * t))
    return rot


def _reach(t: float, travelled: float) -> np.ndarray:
    """Stand, then over 1.0 s raise the right arm straight forward (hand at shoulder height), lean 12 deg in."""
    rot = _standing()
    a = _smooth(t / 1.0)
    rot[_J["right_shoulder"]] = _rot("y", a * math.pi / 2) @ _rot("z", (1.0 - a) * 1.35)
    rot[_J["right_elbow"]] = _rot("y", 0.25 * (1.0 - a))
    rot[_J["spine1"]] = _rot("x", 0.21 * a)
    return rot


def _sit(t: float, travelled: float) -> np.ndarray:
    """Stand, then over 1.5 s sit down (thighs horizontal, shins vertical, torso upright), hands on thighs."""
    rot = _standing()
    a = _smooth(t / 1.5)
    rot[_J["left_hip"]] = _rot("x", -a * math.pi / 2)
    rot[_J["right_hip"]] = _rot("x", -a * math.pi / 2)
    rot[_J["left_knee"]] = _rot("x", a * math.pi / 2)
    rot[_J["right_knee"]] = _rot("x", a * math.pi / 2)
    rot[_J["left_shoulder"]] = _rot("y", -a * 0.6) @ _rot("z", -1.35)
    rot[_J["right_shoulder"]] = _rot("y", a * 0.6) @ _rot("z", 1.35)
    return rot


PROCEDURAL: dict[str, ProceduralMotion] = {
    n: ProceduralMotion(n, f) for n, f in (("walk", _walk), ("stand", _stand), ("reach", _reach), ("sit", _sit))}


# ------------------------------------------------------------------------------------------ motion capture
def _remove_heading(rotmats: np.ndarray) -> np.ndarray:
    """(T, 24, 3, 3) with joint 0's yaw about the up (y) axis removed per frame (pitch/roll kept)."""
    out = rotmats.astype(np.float64).copy()
    fwd = out[:, 0] @ np.array([0.0, 0.0, 1.0])                # body forward in the clip's y-up world
    yaw = np.arctan2(fwd[:, 0], fwd[:, 2])
    for i, a in enumerate(yaw):
        out[i, 0] = _rot("y", -a) @ out[i, 0]
    return out


@dataclass
class MocapMotion:
    """A motion-capture clip played in place; the actor moves it along its path.

    ``walk=True``: frames are indexed by the distance walked (the clip's own speed over its walking part, so
    the feet do not slide); otherwise by time, looping.
    """

    name: str
    rotmats: np.ndarray          # (T, 24, 3, 3), joint 0 without heading
    fps: float
    speed: float                 # clip's root speed over the frames used (m/s)
    walk: bool = True

    def pose(self, t: float, travelled: float) -> np.ndarray:
        n = len(self.rotmats)
        if self.walk and self.speed > 0.2:
            i = int(round(travelled / self.speed * self.fps)) % n
        else:
            i = int(round(t * self.fps)) % n
        return self.rotmats[i]


def mocap_from_sequence(rotmats: np.ndarray, transl: np.ndarray, fps: float, name: str,
                        walk: bool = True) -> MocapMotion:
    """A :class:`MocapMotion` from canonical arrays: (T, 24, 3, 3) rotations, (T, 3) y-up root positions.

    For a walking clip only the part at >= 70 % of its peak (0.5 s smoothed) root speed is kept, so a
    "start, walk, stop" capture loops over its steady walk.
    """
    if rotmats.ndim != 4 or rotmats.shape[1:] != (NUM_JOINTS, 3, 3) or len(rotmats) < 2:
        raise MotionLoadError(f"{name}: need (T>=2, {NUM_JOINTS}, 3, 3) rotations, got {rotmats.shape}")
    horiz = np.linalg.norm(np.diff(transl[:, [0, 2]], axis=0), axis=1) * fps          # (T-1,) m/s
    k = max(1, int(round(0.5 * fps)))
    smooth = np.convolve(horiz, np.ones(k) / k, mode="same")
    keep = np.arange(len(rotmats))
    speed = float(horiz.mean())
    if walk and smooth.max() > 0.3:
        idx = np.flatnonzero(smooth >= 0.7 * smooth.max())
        keep = np.arange(idx[0], idx[-1] + 1)
        speed = float(horiz[keep[:-1]].mean()) if len(keep) > 1 else speed
    return MocapMotion(name, _remove_heading(rotmats[keep]), float(fps), speed, walk)


def load_motion(path: str | Path, fps: float = 30.0, walk: bool = True) -> MocapMotion:
    """A motion-capture clip from a canonical ``.npz`` (MotionSequence) or a ``.bvh`` (imported with the
    project's retargeting on first use, cached in ``.cache/sim/motion``).

    Raises:
        MotionLoadError: missing file, unknown extension, or a file that does not parse/import.
    """
    p = Path(path)
    if not p.is_file():
        raise MotionLoadError(f"motion file {p} does not exist")
    ext = p.suffix.lower()
    if ext not in (".npz", ".bvh"):
        raise MotionLoadError(f"motion file {p}: unsupported type '{ext}' (use a canonical .npz from "
                              "`python -m training.mocap_cli import-mocap` or a .bvh)")
    try:
        # Cheap checks first (numpy only), so a broken file fails before torch is imported.
        if ext == ".bvh":
            from training.data.bvh import read_bvh
            read_bvh(p)
        else:
            with np.load(p, allow_pickle=False) as z:
                missing = [k for k in ("format", "rotmats", "transl", "fps") if k not in z.files]
                if missing:
                    raise MotionLoadError(f"motion file {p} is not a canonical motion (.npz without "
                                          f"{', '.join(missing)}; import it with `python -m training.mocap_cli "
                                          "import-mocap`)")
        from training.data.motion import MotionSequence
        if ext == ".bvh":
            digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            cached = CACHE_DIR / f"{p.stem}_{digest}_{fps:g}fps.npz"
            if cached.is_file():
                seq = MotionSequence.load(cached)
            else:
                from training.data.retarget import retarget_bvh
                seq = retarget_bvh(p, fps=fps)
                seq.save(cached)
        else:
            seq = MotionSequence.load(p)
    except MotionLoadError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse/import failure becomes one clear error
        raise MotionLoadError(f"motion file {p} does not load: {type(e).__name__}: {e}") from e
    return mocap_from_sequence(np.asarray(seq.rotmats), np.asarray(seq.transl), seq.fps, p.stem, walk)


def get_motion(spec: str | Motion) -> Motion:
    """A motion by procedural name ('walk', 'stand', 'reach', 'sit'), a file path, or a Motion object."""
    if not isinstance(spec, str):
        return spec
    if spec in PROCEDURAL:
        return PROCEDURAL[spec]
    if spec.endswith((".npz", ".bvh", ".NPZ", ".BVH")) or "/" in spec:
        return load_motion(spec)
    raise MotionLoadError(f"unknown motion '{spec}' (procedural: {', '.join(PROCEDURAL)}; or a .npz/.bvh path)")
