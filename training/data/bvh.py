"""BVH (Biovision hierarchy) reader and forward kinematics.

Parses the HIERARCHY (joints, offsets, channels in any order, End Sites) and the MOTION block, and
computes world joint positions by forward kinematics. Everything here is in the file's own units
and axes; :func:`unit_scale` and :func:`to_y_up` convert to metres / a y-up world.

Conventions (the de-facto BVH ones, as Blender / MotionBuilder read them):

* A joint's local transform is ``T(offset + position channels) @ R``, where ``R`` is the product of
  the rotation channels *in the order they are listed* (``Zrotation Yrotation Xrotation`` gives
  ``R = Rz @ Ry @ Rx``, intrinsic), angles in degrees, matrices acting on column vectors.
* Position channels are added to the OFFSET (for every file we know the root OFFSET is either zero
  or the rest height that the position channels are relative to).
* A joint's world position is the origin of its frame; an End Site contributes a point named
  ``"<parent>_End"`` (e.g. ``Head_End``, the top of the head).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BvhJoint", "Bvh", "parse_bvh", "read_bvh", "euler_to_rotmat", "unit_scale", "UNIT_SCALES",
           "to_y_up", "write_bvh"]

# Metres per file unit.
UNIT_SCALES: dict[str, float] = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "inch": 0.0254,
    # CMU's ASF length unit, kept by the standard CMU BVH conversions: "length * (1/0.45) inches"
    # (CMU mocap FAQ), i.e. 0.0254 / 0.45 = 0.05644 m.
    "cmu": 0.0254 / 0.45,
}

_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass
class BvhJoint:
    """One BVH joint (or End Site, ``is_end=True``, no channels)."""

    name: str
    parent: int                        # index into Bvh.joints, -1 for the root
    offset: np.ndarray                 # (3,) file units, in the parent's frame
    channels: list[str] = field(default_factory=list)   # e.g. ["Xposition", ..., "Zrotation"]
    channel_start: int = 0             # first column of this joint in Bvh.motion
    is_end: bool = False


@dataclass
class Bvh:
    """A parsed BVH file.

    Attributes:
        joints: joints in file (depth-first) order, parents before children; End Sites included.
        frame_time: seconds per frame.
        motion: (F, C) float64 channel values, C = total channel count.
    """

    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray
    source: str = ""

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def parents(self) -> list[int]:
        return [j.parent for j in self.joints]

    def index(self, name: str) -> int:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        raise KeyError(f"joint {name!r} not in BVH ({self.source or 'text'})")

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local rotations and translations.

        Returns:
            rot (F, J, 3, 3), trans (F, J, 3) in file units (offset + position channels).
        """
        f, nj = self.num_frames, len(self.joints)
        rot = np.broadcast_to(np.eye(3), (f, nj, 3, 3)).copy()
        trans = np.broadcast_to(np.stack([j.offset for j in self.joints]), (f, nj, 3)).copy()
        for i, j in enumerate(self.joints):
            if not j.channels:
                continue
            cols = self.motion[:, j.channel_start:j.channel_start + len(j.channels)]
            order, angles = "", []
            for k, ch in enumerate(j.channels):
                axis, kind = ch[0].upper(), ch[1:].lower()
                if kind == "position":
                    trans[:, i, _AXES[axis]] += cols[:, k]
                elif kind == "rotation":
                    order += axis
                    angles.append(cols[:, k])
                else:
                    raise ValueError(f"unknown BVH channel {ch!r} on joint {j.name!r}")
            if order:
                rot[:, i] = euler_to_rotmat(np.stack(angles, -1), order)
        return rot, trans

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions and orientations (file units and axes).

        Returns:
            positions (F, J, 3), global rotations (F, J, 3, 3); End Sites included.
        """
        rot, trans = self.local_transforms()
        f, nj = rot.shape[:2]
        g_rot = np.empty_like(rot)
        pos = np.empty((f, nj, 3))
        for i, j in enumerate(self.joints):
            if j.parent < 0:
                g_rot[:, i] = rot[:, i]
                pos[:, i] = trans[:, i]
            else:
                gp = g_rot[:, j.parent]
                g_rot[:, i] = gp @ rot[:, i]
                pos[:, i] = pos[:, j.parent] + np.einsum("fab,fb->fa", gp, trans[:, i])
        return pos, g_rot

    def positions(self, scale: float = 1.0) -> tuple[np.ndarray, list[str]]:
        """World joint positions times ``scale``, with the joint names (End Sites as ``<parent>_End``)."""
        pos, _ = self.forward_kinematics()
        return pos * scale, self.names


def euler_to_rotmat(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles -> rotation matrices, ``R = R_order[0] @ R_order[1] @ ...``.

    Args:
        angles_deg: (..., len(order)) degrees, one column per axis letter of ``order``.
        order: axis letters as listed in the CHANNELS line, e.g. "ZYX", "ZXY" (any length 1-3).
    Returns:
        (..., 3, 3).
    """
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(order.upper()):
        c, s = np.cos(a[..., k]), np.sin(a[..., k])
        r = np.zeros(a.shape[:-1] + (3, 3))
        i = _AXES[axis]
        j, l = (i + 1) % 3, (i + 2) % 3
        r[..., i, i] = 1.0
        r[..., j, j] = c
        r[..., l, l] = c
        r[..., j, l] = -s
        r[..., l, j] = s
        out = out @ r
    return out


def parse_bvh(text: str, source: str = "") -> Bvh:
    """Parse BVH text (see module docstring for the conventions)."""
    src = source or "BVH"
    head, sep, motion_txt = text.partition("MOTION")
    if not sep:
        raise ValueError(f"{src}: no MOTION section (truncated file, or not a BVH)")
    try:
        return _parse(head, motion_txt, source)
    except (IndexError, KeyError) as e:
        raise ValueError(f"{src}: truncated or malformed HIERARCHY ({type(e).__name__}: {e})") from None


def _parse(head: str, motion_txt: str, source: str) -> Bvh:
    tokens = head.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise ValueError(f"{source or 'BVH'}: does not start with HIERARCHY")
    joints: list[BvhJoint] = []
    stack: list[int] = []
    n_channels = 0
    i = 1
    pending: BvhJoint | None = None
    while i < len(tokens):
        t = tokens[i]
        if t in ("ROOT", "JOINT"):
            if t == "ROOT" and stack:
                raise ValueError(f"{source}: ROOT inside a joint")
            pending = BvhJoint(name=tokens[i + 1], parent=stack[-1] if stack else -1, offset=np.zeros(3))
            i += 2
        elif t == "End":          # End Site
            parent = stack[-1]
            pending = BvhJoint(name=f"{joints[parent].name}_End", parent=parent, offset=np.zeros(3), is_end=True)
            i += 2
        elif t == "{":
            if pending is None:
                raise ValueError(f"{source}: '{{' without a joint")
            joints.append(pending)
            stack.append(len(joints) - 1)
            pending = None
            i += 1
        elif t == "}":
            stack.pop()
            i += 1
        elif t == "OFFSET":
            joints[stack[-1]].offset = np.array([float(x) for x in tokens[i + 1:i + 4]])
            i += 4
        elif t == "CHANNELS":
            n = int(tokens[i + 1])
            j = joints[stack[-1]]
            j.channels = tokens[i + 2:i + 2 + n]
            j.channel_start = n_channels
            n_channels += n
            i += 2 + n
        else:
            raise ValueError(f"{source}: unexpected token {t!r} in HIERARCHY")
    if stack:
        raise ValueError(f"{source}: unbalanced braces in HIERARCHY (truncated file?)")
    if not joints:
        raise ValueError(f"{source}: no joints")
    m = re.search(r"Frames:\s*(\d+)\s+Frame\s+Time:\s*([-+0-9.eE]+)", motion_txt)
    if not m:
        raise ValueError(f"{source}: MOTION header needs 'Frames:' and 'Frame Time:' (truncated file?)")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    if frame_time <= 0:
        raise ValueError(f"{source}: Frame Time must be > 0")
    try:
        values = np.array(motion_txt[m.end():].split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{source}: non-numeric motion data ({e})") from None
    if n_channels == 0:
        values = values[:0]
    n_avail = values.size // max(n_channels, 1)
    if n_channels and values.size % n_channels:
        raise ValueError(f"{source}: truncated or corrupt motion data: {values.size} values is not a multiple of "
                         f"{n_channels} channels (header says {n_frames} frames)")
    if n_avail < n_frames:
        raise ValueError(f"{source}: truncated: header says {n_frames} frames, data has {n_avail}")
    motion = values.reshape(-1, n_channels)[:n_frames] if n_channels else np.zeros((n_frames, 0))
    return Bvh(joints=joints, frame_time=frame_time, motion=motion, source=source)


def read_bvh(path: str | Path) -> Bvh:
    """Read and parse a BVH file."""
    path = Path(path)
    return parse_bvh(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def unit_scale(units: str | float) -> float:
    """Metres per file unit for a unit name in :data:`UNIT_SCALES` or a number."""
    if isinstance(units, (int, float)):
        if units <= 0:
            raise ValueError(f"unit scale must be > 0, got {units}")
        return float(units)
    try:
        return UNIT_SCALES[units]
    except KeyError:
        raise ValueError(f"unknown units {units!r}; use one of {sorted(UNIT_SCALES)} or metres per unit") from None


def to_y_up(points: np.ndarray, up: str = "y") -> np.ndarray:
    """Re-express (..., 3) points of a right-handed world whose up axis is ``up`` in a y-up world.

    ``"y"``: unchanged; ``"z"``: rotation by -90 deg about x, (x, y, z) -> (x, z, -y);
    ``"-y"``/``"-z"``/``"x"``/``"-x"`` likewise by a proper rotation. Heading is kept (no reflection).
    """
    p = np.asarray(points)
    if up == "y":
        return p
    if up == "z":
        return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)
    if up == "-z":
        return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)
    if up == "-y":
        return np.stack([p[..., 0], -p[..., 1], -p[..., 2]], -1)
    if up == "x":
        return np.stack([-p[..., 1], p[..., 0], p[..., 2]], -1)
    if up == "-x":
        return np.stack([p[..., 1], -p[..., 0], p[..., 2]], -1)
    raise ValueError(f"unsupported up axis {up!r} (y, z, x, -y, -z, -x)")


def write_bvh(path: str | Path, names: list[str], parents: list[int], offsets: np.ndarray,
              root_positions: np.ndarray, euler_deg: np.ndarray, frame_time: float,
              order: str = "ZYX", end_sites: dict[int, np.ndarray] | None = None) -> Path:
    """Write a simple BVH (root: 6 channels, other joints: 3 rotation channels in ``order``).

    For tests and exporting; joints must be listed parents first.

    Args:
        names, parents: (J,) joint names and parent indices (-1 for the root, index 0).
        offsets: (J, 3) offsets in the parent's frame (row 0: root offset).
        root_positions: (F, 3) root position channels.
        euler_deg: (F, J, 3) angles in degrees in ``order``.
        end_sites: joint index -> End Site offset, for leaves.
    """
    end_sites = end_sites or {}
    children: dict[int, list[int]] = {i: [] for i in range(len(names))}
    for i, p in enumerate(parents):
        if p >= 0:
            children[p].append(i)
    rot_ch = " ".join(f"{a}rotation" for a in order)
    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        ind = "  " * depth
        lines.append(f"{ind}{'ROOT' if parents[i] < 0 else 'JOINT'} {names[i]}")
        lines.append(f"{ind}{{")
        o = offsets[i]
        lines.append(f"{ind}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        if parents[i] < 0:
            lines.append(f"{ind}  CHANNELS 6 Xposition Yposition Zposition {rot_ch}")
        else:
            lines.append(f"{ind}  CHANNELS 3 {rot_ch}")
        for c in children[i]:
            emit(c, depth + 1)
        if not children[i]:
            e = end_sites.get(i, np.zeros(3))
            lines.extend([f"{ind}  End Site", f"{ind}  {{", f"{ind}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}",
                          f"{ind}  }}"])
        lines.append(f"{ind}}}")

    emit(0, 0)
    order_idx = []
    for i in _dfs_order(children, 0):
        order_idx.append(i)
    f = root_positions.shape[0]
    lines += ["MOTION", f"Frames: {f}", f"Frame Time: {frame_time:.8f}"]
    for t in range(f):
        vals = list(root_positions[t])
        for i in order_idx:
            vals += list(euler_deg[t, i])
        lines.append(" ".join(f"{v:.6f}" for v in vals))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def _dfs_order(children: dict[int, list[int]], root: int) -> list[int]:
    out = [root]
    for c in children[root]:
        out += _dfs_order(children, c)
    return out
