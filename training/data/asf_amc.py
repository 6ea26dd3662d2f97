"""Acclaim ASF/AMC reader (the CMU database's original format) with forward kinematics.

``.asf`` = skeleton (units, root, bones with direction, length, axis, dof; hierarchy), ``.amc`` =
motion (per frame: the root's ``TX TY TZ RX RY RZ`` in the root's ``order`` and each bone's dof
values, degrees). Conventions (Acclaim, as the CMU tools read them):

* a bone's axis ``ax ay az XYZ`` gives ``C = Rz(az) Ry(ay) Rx(ax)`` (rotations applied in the listed
  order about fixed axes); its motion ``M`` is built the same way from its dof values (missing dofs 0);
  local rotation ``L = C M C^-1``, global ``G = G_parent L``;
* a bone starts where its parent ends; its end is ``start + G (direction * length)`` (direction in
  the world axes of the rest pose);
* the root's position is ``position + (TX, TY, TZ)``; its rotation ``C M C^-1`` with ``C`` from the
  root's ``orientation`` and ``M`` from ``RX RY RZ`` in the ``axis`` order.

:class:`AsfAmc` exposes what the retargeter needs (``names``, ``parents``, ``fps``, ``source``,
``forward_kinematics``): point ``<bone>`` = the bone's start (so ``lfemur`` = hip joint, ``ltibia`` =
knee, as in the ASF-named BVH conversions), ``root``, and ``<bone>_End`` for leaf bones; each point has
the orientation of its bone. Lengths stay in ASF units (CMU: ``length 0.45``, i.e. 1 unit =
0.0254 / 0.45 m; the ``cmu_asf`` joint map says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.data.bvh import euler_to_rotmat

__all__ = ["AsfBone", "Asf", "AsfAmc", "parse_asf", "parse_amc", "read_asf_amc", "find_asf", "AsfAmcError"]


class AsfAmcError(ValueError):
    """A malformed or unmatched ASF/AMC file."""


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray                 # (3,) unit vector, rest-pose world axes
    length: float
    axis: np.ndarray                      # (3,) degrees
    axis_order: str = "XYZ"
    dof: list[str] = field(default_factory=list)   # e.g. ["rx", "ry", "rz"]
    parent: str = "root"


@dataclass
class Asf:
    """A parsed ASF skeleton (bones in hierarchy order, parents first)."""

    bones: list[AsfBone]
    root_order: list[str]                 # e.g. ["TX", "TY", "TZ", "RX", "RY", "RZ"]
    root_axis: str                        # rotation order of the root, e.g. "XYZ"
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_unit: float = 1.0
    angle_unit: str = "deg"
    source: str = ""


def _rot(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Rotations about fixed axes applied in ``order`` (Acclaim): ``R = R_order[-1] ... R_order[0]``.

    angles_deg (..., len(order)) in the axes of ``order``."""
    return euler_to_rotmat(np.asarray(angles_deg)[..., ::-1], order.upper()[::-1])


def parse_asf(text: str, source: str = "") -> Asf:
    """Parse ASF text. Raises :class:`AsfAmcError` naming the problem."""
    src = source or "ASF"
    sections: dict[str, list[str]] = {}
    cur = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            parts = line.split(None, 1)
            cur = parts[0][1:].lower()
            sections.setdefault(cur, [])
            if len(parts) > 1:
                sections[cur].append(parts[1])
            continue
        if cur is not None:
            sections[cur].append(line)
    for need in ("root", "bonedata", "hierarchy"):
        if need not in sections:
            raise AsfAmcError(f"{src}: not an ASF skeleton (no :{need} section)")
    length_unit, angle_unit = 1.0, "deg"
    for line in sections.get("units", []):
        k, *v = line.split()
        if k == "length" and v:
            length_unit = float(v[0])
        elif k == "angle" and v:
            angle_unit = v[0].lower()
    root = {ln.split()[0]: ln.split()[1:] for ln in sections["root"]}
    try:
        root_order = [x.upper() for x in root["order"]]
        root_axis = root["axis"][0].upper()
        root_pos = np.array([float(x) for x in root.get("position", ["0", "0", "0"])[:3]])
        root_ori = np.array([float(x) for x in root.get("orientation", ["0", "0", "0"])[:3]])
    except (KeyError, IndexError, ValueError) as e:
        raise AsfAmcError(f"{src}: bad :root section ({e})") from None
    bones: dict[str, AsfBone] = {}
    cur_b: dict | None = None
    lines = sections["bonedata"]
    i = 0
    while i < len(lines):
        tok = lines[i].split()
        if tok[0] == "begin":
            cur_b = {}
        elif tok[0] == "end":
            if cur_b is None or "name" not in cur_b:
                raise AsfAmcError(f"{src}: bone without a name in :bonedata")
            try:
                b = AsfBone(cur_b["name"], np.array(cur_b["direction"], float), float(cur_b["length"]),
                            np.array(cur_b["axis"][:3], float), cur_b["axis"][3] if len(cur_b["axis"]) > 3 else "XYZ",
                            [d.lower() for d in cur_b.get("dof", [])])
            except KeyError as e:
                raise AsfAmcError(f"{src}: bone {cur_b['name']!r} lacks {e.args[0]!r}") from None
            bones[b.name] = b
            cur_b = None
        elif cur_b is not None and tok[0] != "limits" and not tok[0].startswith("("):
            cur_b[tok[0]] = tok[1] if tok[0] in ("name", "length", "id") else tok[1:]
        i += 1
    if not bones:
        raise AsfAmcError(f"{src}: no bones in :bonedata")
    children: dict[str, list[str]] = {}
    for ln in sections["hierarchy"]:
        tok = ln.split()
        if tok[0] in ("begin", "end"):
            continue
        for c in tok[1:]:
            if c not in bones:
                raise AsfAmcError(f"{src}: hierarchy names bone {c!r} that :bonedata does not define")
            children.setdefault(tok[0], []).append(c)
            bones[c].parent = tok[0]
    ordered: list[AsfBone] = []

    def visit(n: str) -> None:
        for c in children.get(n, []):
            ordered.append(bones[c])
            visit(c)
    visit("root")
    if len(ordered) != len(bones):
        lost = sorted(set(bones) - {b.name for b in ordered})
        raise AsfAmcError(f"{src}: bones not reachable from root in :hierarchy: {lost}")
    return Asf(ordered, root_order, root_axis, root_pos, root_ori, length_unit, angle_unit, source)


def parse_amc(text: str, asf: Asf, source: str = "") -> dict[str, np.ndarray]:
    """Parse AMC text against ``asf``: bone name (and "root") -> (F, dof count) degrees."""
    src = source or "AMC"
    dofs = {"root": len(asf.root_order), **{b.name: len(b.dof) for b in asf.bones}}
    frames: list[dict[str, list[float]]] = []
    for k, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        tok = line.split()
        if len(tok) == 1 and tok[0].isdigit():
            frames.append({})
            continue
        if not frames:
            raise AsfAmcError(f"{src}: line {k + 1}: data before the first frame number")
        name = tok[0]
        if name not in dofs:
            raise AsfAmcError(f"{src}: line {k + 1}: bone {name!r} is not in the ASF skeleton {asf.source or ''} "
                              f"(wrong ASF for this AMC?)")
        try:
            vals = [float(x) for x in tok[1:]]
        except ValueError:
            raise AsfAmcError(f"{src}: line {k + 1}: non-numeric value for {name!r}") from None
        if len(vals) != dofs[name]:
            raise AsfAmcError(f"{src}: line {k + 1}: {name!r} has {len(vals)} values, the ASF gives it {dofs[name]} "
                              f"dof (wrong ASF for this AMC?)")
        frames[-1][name] = vals
    if not frames:
        raise AsfAmcError(f"{src}: no frames")
    out = {}
    for name, n in dofs.items():
        arr = np.zeros((len(frames), n))
        for f, fr in enumerate(frames):
            if name in fr:
                arr[f] = fr[name]
            elif n:
                raise AsfAmcError(f"{src}: frame {f + 1} lacks bone {name!r} (truncated AMC?)")
        out[name] = arr
    return out


@dataclass
class AsfAmc:
    """An ASF skeleton animated by an AMC motion (interface of :class:`training.data.bvh.Bvh` that the
    retargeter uses)."""

    asf: Asf
    motion: dict[str, np.ndarray]
    fps: float = 120.0
    source: str = ""

    @property
    def names(self) -> list[str]:
        out = ["root"] + [b.name for b in self.asf.bones]
        leaf = {b.name for b in self.asf.bones} - {b.parent for b in self.asf.bones}
        return out + [f"{b.name}_End" for b in self.asf.bones if b.name in leaf]

    @property
    def parents(self) -> list[int]:
        names = self.names
        idx = {n: i for i, n in enumerate(names)}
        out = [-1] + [idx[b.parent] for b in self.asf.bones]
        return out + [idx[n[:-4]] for n in names[len(out):]]

    @property
    def num_frames(self) -> int:
        return int(self.motion["root"].shape[0])

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions (F, N, 3) (ASF length units) and global rotations (F, N, 3, 3) of :attr:`names`."""
        a, f = self.asf, self.num_frames
        scale = (np.pi / 180.0) if a.angle_unit.startswith("rad") else 1.0
        rv = self.motion["root"]
        order = a.root_order
        tr = np.stack([rv[:, order.index(c)] if c in order else np.zeros(f) for c in ("TX", "TY", "TZ")], -1)
        ang = np.stack([rv[:, order.index(f"R{c}")] if f"R{c}" in order else np.zeros(f) for c in a.root_axis], -1)
        if scale != 1.0:
            ang = np.degrees(ang)
        c0 = _rot(a.root_orientation, a.root_axis)
        g_root = c0 @ _rot(ang, a.root_axis) @ c0.T
        start: dict[str, np.ndarray] = {"root": a.root_position + tr}
        end: dict[str, np.ndarray] = {"root": a.root_position + tr}
        glob: dict[str, np.ndarray] = {"root": g_root}
        for b in a.bones:
            c = _rot(b.axis, b.axis_order)
            vals = self.motion[b.name] * (180.0 / np.pi if scale != 1.0 else 1.0)
            ang = np.zeros((f, 3))
            for k, d in enumerate(b.dof):
                if d in ("rx", "ry", "rz"):
                    ang[:, "xyz".index(d[1])] = vals[:, k]
            local = c @ _rot(ang, "XYZ") @ c.T
            g = glob[b.parent] @ local
            glob[b.name] = g
            start[b.name] = end[b.parent]
            end[b.name] = start[b.name] + b.length * (g @ b.direction)
        names = self.names
        pos = np.stack([start[n] if not n.endswith("_End") or n in start else end[n[:-4]] for n in names], 1)
        rot = np.stack([glob[n] if n in glob else glob[n[:-4]] for n in names], 1)
        return pos, rot


def find_asf(amc: str | Path) -> Path:
    """The ASF for an AMC: ``<subject>.asf`` (the AMC stem before '_') beside it, else the only ``.asf``
    in its folder. Raises :class:`AsfAmcError` saying where it looked."""
    amc = Path(amc)
    subj = amc.stem.split("_")[0]
    cand = amc.with_name(f"{subj}.asf")
    if cand.is_file():
        return cand
    others = sorted(amc.parent.glob("*.asf"))
    if len(others) == 1:
        return others[0]
    raise AsfAmcError(f"{amc}: AMC motion without its ASF skeleton (looked for {cand.name} in {amc.parent}"
                      + (f"; several .asf there: {[o.name for o in others]}" if others else "") +
                      "); pass the skeleton with --asf FILE")


def read_asf_amc(amc: str | Path, asf: str | Path | None = None, fps: float = 120.0) -> AsfAmc:
    """Read an AMC motion and its ASF skeleton (found with :func:`find_asf` unless given)."""
    amc = Path(amc)
    if not amc.is_file():
        raise AsfAmcError(f"no such AMC file: {amc}")
    asf_path = Path(asf) if asf is not None else find_asf(amc)
    if not asf_path.is_file():
        raise AsfAmcError(f"{amc}: ASF skeleton {asf_path} not found")
    skel = parse_asf(asf_path.read_text(encoding="utf-8", errors="replace"), str(asf_path))
    motion = parse_amc(amc.read_text(encoding="utf-8", errors="replace"), skel, str(amc))
    if fps <= 0:
        raise AsfAmcError(f"fps must be > 0, got {fps}")
    return AsfAmc(skel, motion, float(fps), str(amc))
