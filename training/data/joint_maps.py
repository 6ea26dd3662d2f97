"""Joint maps: which source joint stands for each canonical joint, built-in maps per rig, user maps from files.

An entry (:data:`Entry`) is a source name (BVH joint, End Site ``<joint>_End``, point or marker
name), a tuple of alternative names (the first present wins), a ``{name: weight}`` blend (a virtual
point, the weighted mean of positions) or ``None`` (not observed). A map also names its units
(metres per source unit) and, optionally, ``frame_offsets`` (a fixed vector in a source joint's own
frame added to a target; BVH / ASF only).

Built-in maps (validated on real files in ``../shared/data``, see ``docs/motion_capture.md``):

==========  =====================================================================================
``cmu``     standard 31-joint CMU BVH, 3ds-Max-friendly names (``Hips``, ``LeftHip``, ``LeftKnee``)
``cmu_mb``  standard 31-joint CMU BVH, MotionBuilder-friendly names (``LeftUpLeg``, ``Spine1``, ``Neck1``)
``cmu_asf`` CMU ASF names: the ASF-named 31-joint BVH (``hip``, ``lfemur``, ``ltibia``) and ASF/AMC
``daz``     cgspeed Daz/Poser-friendly 43-joint CMU BVH (``hip``, ``abdomen``, ``lThigh``, ``lShldr``)
``cc``      Character Creator / iClone ``CC_Base_*`` rig
``canonical`` sources that already use the canonical names
==========  =====================================================================================

The torso entries (pelvis .. head) of every map are only a fallback for point sources: sources with
joint orientations (BVH, ASF/AMC) get their torso targets from the canonical rest convention
(:mod:`training.data.canonical_rest`), which only needs the hips, the shoulders and the spine chain.

A user map comes from a YAML / JSON file (:func:`load_joint_map_file`)::

    name: my_rig            # optional
    units: 0.01             # optional: metres per unit, or m|cm|mm|inch|cmu
    joints:                 # canonical name -> entry
      pelvis: Hips
      left_hip: LThigh
      left_knee: LShin
      spine3: {Spine2: 0.5, Neck: 0.5}
      left_hand: [LHandMiddle1, LHand_End]
      ...

(a file whose top level is the ``{canonical: entry}`` mapping itself works too; ``rest_convention:
false`` keeps the file's torso entries for a rig whose torso joints already match the canonical ones). With an explicit map
every source name it gives must exist in the file (:meth:`JointMap.missing_sources`), else
:class:`JointMapError` names them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from pose_estimation_ros import skeleton

__all__ = [
    "Entry", "JointMap", "JointMapError", "JOINT_MAPS", "REQUIRED_JOINTS", "TORSO_ANY", "TORSO_JOINTS",
    "resolve_joint_map", "load_joint_map_file", "joint_map_from_dict",
]

NAMES = skeleton.JOINT_NAMES
Entry = Union[None, str, tuple, dict]

# Needed to pose the canonical skeleton unambiguously: the pelvis, both legs to the ankle, both arms
# to the wrist, plus at least one of TORSO_ANY (the torso direction).
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
TORSO_ANY: tuple[str, ...] = ("spine1", "spine2", "spine3", "neck", "head")
# Mid-line joints whose targets the canonical rest convention places (sources with orientations).
TORSO_JOINTS: tuple[str, ...] = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")


class JointMapError(ValueError):
    """A source skeleton cannot be mapped to the canonical joints."""


@dataclass
class JointMap:
    """Canonical joint name -> source entry (see module docstring), plus per-joint fit weights.

    Attributes:
        name: identifier ("cmu", "cc", ...).
        entries: canonical name -> entry; canonical joints not listed are unobserved.
        weights: canonical name -> weight of that joint in the fit (default 1).
        units: metres per source unit for files of this convention (None: guess from the legs).
        description: one line for docs / error messages.
        frame_offsets: canonical name -> (source joint, (x, y, z) metres in that joint's own frame):
            added to that canonical target when the source has joint orientations.
        explicit: a user-given map: every source name in it must exist in the file.
        rest_convention: place the torso targets by the canonical rest convention when the source has
            orientations (True for every rig map; False for ``canonical``, whose torso joints already
            are the canonical ones).
    """

    name: str
    entries: dict[str, Entry]
    weights: dict[str, float] = field(default_factory=dict)
    units: float | None = None
    description: str = ""
    frame_offsets: dict[str, tuple[str, tuple[float, float, float]]] = field(default_factory=dict)
    explicit: bool = False
    rest_convention: bool = True

    def __post_init__(self) -> None:
        bad = [k for k in list(self.entries) + list(self.frame_offsets) if k not in NAMES]
        if bad:
            raise JointMapError(f"joint map {self.name!r}: not canonical joint names: {bad} "
                                f"(canonical: {', '.join(NAMES)})")
        for k, e in self.entries.items():
            _check_entry(self.name, k, e)

    def resolve(self, available: list[str] | set[str]) -> dict[str, dict[str, float]]:
        """Entries made concrete for a source: canonical -> {source name: weight} (blend weights
        normalised), only for canonical joints whose entry is present in ``available``."""
        avail = set(available)
        out: dict[str, dict[str, float]] = {}
        for canon, e in self.entries.items():
            r = _resolve_entry(e, avail)
            if r is not None:
                out[canon] = r
        return out

    def missing_required(self, available: list[str] | set[str]) -> list[str]:
        res = self.resolve(available)
        miss = [n for n in REQUIRED_JOINTS if n not in res]
        if not any(n in res for n in TORSO_ANY):
            miss.append("one of " + "/".join(TORSO_ANY))
        return miss

    def missing_sources(self, available: list[str] | set[str]) -> dict[str, list[str]]:
        """canonical -> source names of its entry absent from ``available`` (entries not resolved)."""
        avail = set(available)
        out = {}
        for canon, e in self.entries.items():
            if e is not None and _resolve_entry(e, avail) is None:
                out[canon] = sorted(n for n in _entry_names(e) if n not in avail)
        return out

    def swapped(self, a: str, b: str) -> "JointMap":
        """A copy with the entries of canonical joints ``a`` and ``b`` exchanged (for tests of the bound)."""
        e = dict(self.entries)
        e[a], e[b] = self.entries.get(b), self.entries.get(a)
        fo = dict(self.frame_offsets)
        fo.pop(a, None), fo.pop(b, None)
        if b in self.frame_offsets:
            fo[a] = self.frame_offsets[b]
        if a in self.frame_offsets:
            fo[b] = self.frame_offsets[a]
        return JointMap(f"{self.name}[{a}<->{b}]", e, dict(self.weights), self.units, self.description, fo,
                        self.explicit, self.rest_convention)

    def renamed(self, rename: dict[str, str], name: str | None = None) -> "JointMap":
        """A copy whose source names are replaced through ``rename`` (names not in it unchanged)."""
        def sub(e: Entry) -> Entry:
            if e is None:
                return None
            if isinstance(e, str):
                return rename.get(e, e)
            if isinstance(e, (tuple, list)):
                return tuple(sub(x) for x in e)
            return {rename.get(k, k): v for k, v in e.items()}
        fo = {k: (rename.get(s, s), o) for k, (s, o) in self.frame_offsets.items()}
        return JointMap(name or f"{self.name}_renamed", {k: sub(v) for k, v in self.entries.items()},
                        dict(self.weights), self.units, self.description, fo, self.explicit, self.rest_convention)


def _entry_names(e: Entry) -> list[str]:
    if e is None:
        return []
    if isinstance(e, str):
        return [e]
    if isinstance(e, (tuple, list)):
        return [n for x in e for n in _entry_names(x)]
    return list(e)


def _check_entry(mapname: str, canon: str, e: Entry) -> None:
    ok = (e is None or isinstance(e, str)
          or (isinstance(e, (tuple, list)) and all(isinstance(x, (str, dict)) for x in e))
          or (isinstance(e, dict) and e and all(isinstance(k, str) and isinstance(v, (int, float)) and v >= 0
                                               for k, v in e.items()) and sum(e.values()) > 0))
    if not ok:
        raise JointMapError(f"joint map {mapname!r}: bad entry for {canon!r}: {e!r} (a source name, a list of "
                            f"alternative names, or a {{name: weight}} blend with positive weights)")


def _resolve_entry(e: Entry, avail: set[str]) -> dict[str, float] | None:
    if e is None:
        return None
    if isinstance(e, str):
        return {e: 1.0} if e in avail else None
    if isinstance(e, (tuple, list)):
        for alt in e:
            r = _resolve_entry(alt, avail)
            if r is not None:
                return r
        return None
    if isinstance(e, dict):
        if not all(k in avail for k in e):
            return None
        s = float(sum(e.values()))
        return {k: float(v) / s for k, v in e.items()}
    raise TypeError(f"bad joint-map entry {e!r}")


def _sided(template: dict[str, Entry], left: tuple[str, str], right: tuple[str, str]) -> dict[str, Entry]:
    """Expand ``{canonical_without_side: entry with '{S}'/'{s}'}`` into left/right canonical entries."""
    out: dict[str, Entry] = {}

    def sub(e: Entry, s: tuple[str, str]) -> Entry:
        if e is None:
            return None
        if isinstance(e, str):
            return e.replace("{S}", s[0]).replace("{s}", s[1])
        if isinstance(e, (tuple, list)):
            return tuple(sub(x, s) for x in e)
        return {sub(k, s): v for k, v in e.items()}

    for k, e in template.items():
        out[f"left_{k}"] = sub(e, left)
        out[f"right_{k}"] = sub(e, right)
    return out


# ---------------------------------------------------------------------------------------- built-in maps
# Limb joints are anatomical joint centres in every CMU-derived rig (the ASF bone ends): hip, knee,
# ankle, ball of the foot, shoulder, elbow, wrist; the canonical hand is the knuckles. Collars are left
# unobserved everywhere (the CMU rigs put them on the mid-line; the rigs that have clavicle joints place
# them differently): their rotations follow from the shoulders, the same way for every rig.

# Standard 31-joint CMU BVH (cgspeed 3ds-Max-friendly conversion; ../shared/data/cmu, subject 131).
CMU_MAP = JointMap(
    "cmu",
    {
        "pelvis": {"Hips": 0.71, "LeftHip": 0.145, "RightHip": 0.145},
        "spine1": {"Hips": 0.54, "Chest": 0.46}, "spine2": {"Chest": 0.68, "Chest2": 0.32},
        "spine3": {"Chest": 0.29, "Chest2": 0.71}, "neck": {"Neck": 0.55, "Head": 0.45},
        "head": {"Head": 0.87, "Head_End": 0.13},
        **_sided({"hip": "{S}Hip", "knee": "{S}Knee", "ankle": "{S}Ankle", "foot": "{S}Toe", "collar": None,
                  "shoulder": "{S}Shoulder", "elbow": "{S}Elbow", "wrist": "{S}Wrist",
                  "hand": ("{s}Fingers_End", "{s}Fingers")},
                 ("Left", "L"), ("Right", "R")),
    },
    units=0.0254 / 0.45,
    description="standard CMU BVH, 3ds-Max names (31 joints: Hips, LeftHip, LeftKnee, ..., LeftShoulder, LeftElbow)",
)

# The same 31-joint CMU skeleton with the MotionBuilder-friendly names (one-to-one with CMU_MAP's:
# LHipJoint, LeftUpLeg = LeftHip, LeftLeg = LeftKnee, LeftFoot = LeftAnkle, LeftToeBase = LeftToe,
# LowerBack = lowerback, Spine = Chest, Spine1 = Chest2, Neck = lowerneck, Neck1 = Neck, Head,
# LeftShoulder = LeftCollar, LeftArm = LeftShoulder, LeftForeArm = LeftElbow, LeftHand = LeftWrist,
# LeftFingerBase = lhand, LeftHandIndex1 = LFingers, LThumb).
CMU_MB_RENAME: dict[str, str] = {
    "Hips": "Hips", "lowerback": "LowerBack", "Chest": "Spine", "Chest2": "Spine1", "lowerneck": "Neck",
    "Neck": "Neck1", "Head": "Head",
    **{f"{side}{a}": f"{side}{b}" for side in ("Left", "Right")
       for a, b in (("Hip", "UpLeg"), ("Knee", "Leg"), ("Ankle", "Foot"), ("Toe", "ToeBase"), ("Collar", "Shoulder"),
                    ("Shoulder", "Arm"), ("Elbow", "ForeArm"), ("Wrist", "Hand"))},
    "LHipJoint": "LHipJoint", "RHipJoint": "RHipJoint", "lhand": "LeftFingerBase", "rhand": "RightFingerBase",
    "LFingers": "LeftHandIndex1", "RFingers": "RightHandIndex1", "LThumb": "LThumb", "RThumb": "RThumb",
}
_MB_END = {f"{k}_End": f"{v}_End" for k, v in CMU_MB_RENAME.items()}
CMU_MB_MAP = CMU_MAP.renamed({**CMU_MB_RENAME, **_MB_END}, "cmu_mb")
CMU_MB_MAP.description = ("standard CMU BVH, MotionBuilder names (31 joints: Hips, LeftUpLeg, LeftLeg, ..., "
                          "Spine1, Neck1, LeftArm, LeftForeArm)")
CMU_MB_MAP.entries["left_hand"] = ("LeftHandIndex1_End", "LeftHandIndex1")
CMU_MB_MAP.entries["right_hand"] = ("RightHandIndex1_End", "RightHandIndex1")

# CMU ASF names: the ASF-named 31-joint BVH (../shared/data/cmu-more, subject 16; root "hip") and
# ASF/AMC files read by training.data.asf_amc (root "root"). A point named after a bone is the bone's
# start (= the parent bone's end): lfemur = hip joint, ltibia = knee, lfoot = ankle, ltoes = ball of
# the foot, lhumerus = shoulder, lradius = elbow, lwrist = wrist; lfingers_End = finger tips.
CMU_ASF_MAP = JointMap(
    "cmu_asf",
    {
        "pelvis": ("hip", "root"), "spine1": "upperback", "spine2": "thorax", "spine3": "lowerneck",
        "neck": "upperneck", "head": {"head": 0.87, "head_End": 0.13},
        **_sided({"hip": "{s}femur", "knee": "{s}tibia", "ankle": "{s}foot", "foot": "{s}toes", "collar": None,
                  "shoulder": "{s}humerus", "elbow": "{s}radius", "wrist": "{s}wrist",
                  "hand": ("{s}fingers_End", "{s}fingers", "{s}hand_End")},
                 ("L", "l"), ("R", "r")),
    },
    units=0.0254 / 0.45,
    description="CMU ASF names (ASF-named BVH and ASF/AMC: hip|root, lfemur, ltibia, lfoot, lhumerus, lradius, lwrist)",
)

# cgspeed Daz/Poser-friendly 43-joint CMU BVH (../shared/data/cmu-more): rThigh = hip joint (rButtock
# sits 4 cm above it), rShin = knee, rFoot = ankle, the foot's End Site = toe tip (the ball of the foot
# is taken 60 % of the way there), rShldr = shoulder, rForeArm = elbow, rHand = wrist, rMid1 = middle
# knuckle. Daz units are ~cm (standing hip height ~85).
DAZ_MAP = JointMap(
    "daz",
    {
        "pelvis": "hip", "spine1": "abdomen", "spine2": {"abdomen": 0.5, "chest": 0.5}, "spine3": "chest",
        "neck": "neck", "head": "head",
        **_sided({"hip": "{s}Thigh", "knee": "{s}Shin", "ankle": "{s}Foot",
                  "foot": {"{s}Foot": 0.4, "{s}Foot_End": 0.6}, "collar": None,
                  "shoulder": "{s}Shldr", "elbow": "{s}ForeArm", "wrist": "{s}Hand",
                  "hand": ("{s}Mid1", "{s}Hand_End")},
                 ("L", "l"), ("R", "r")),
    },
    units=0.01,
    description="cgspeed Daz/Poser-friendly CMU BVH (43 joints: hip, abdomen, chest, neck, head, lThigh, lShin, lShldr)",
)

# Character Creator / iClone rig (../shared/data/cmu-cc): bone-local frames, so only positions matter.
CC_MAP = JointMap(
    "cc",
    {
        "pelvis": {"CC_Base_Hip": 0.2, "CC_Base_Waist": 0.8},
        "spine1": {"CC_Base_Spine01": 0.67, "CC_Base_Spine02": 0.33}, "spine2": "CC_Base_Spine02",
        "spine3": {"CC_Base_Spine02": 0.73, "CC_Base_NeckTwist01": 0.27},
        "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
        **_sided({"hip": "CC_Base_{S}_Thigh", "knee": "CC_Base_{S}_Calf", "ankle": "CC_Base_{S}_Foot",
                  "foot": "CC_Base_{S}_ToeBase", "collar": None,
                  "shoulder": "CC_Base_{S}_Upperarm", "elbow": "CC_Base_{S}_Forearm",
                  "wrist": "CC_Base_{S}_Hand", "hand": "CC_Base_{S}_Mid1"},
                 ("L", "l"), ("R", "r")),
    },
    units=0.01,
    description="Character Creator / iClone CC_Base_* rig (CC_Base_Hip, CC_Base_L_Thigh, ...), centimetres",
)

# Sources that already use the canonical names (points files written by other tools, SMPL joints).
CANONICAL_MAP = JointMap("canonical", {n: n for n in NAMES}, units=None,
                         description="canonical SMPL-24 names (pelvis, left_hip, ...)", rest_convention=False)

JOINT_MAPS: dict[str, JointMap] = {m.name: m for m in (CMU_MAP, CMU_MB_MAP, CMU_ASF_MAP, DAZ_MAP, CC_MAP,
                                                       CANONICAL_MAP)}


# ---------------------------------------------------------------------------------------- user maps
def joint_map_from_dict(d: dict, name: str = "custom", source: str = "") -> JointMap:
    """A :class:`JointMap` from ``{"joints": {...}, "units": ..., "name": ...}`` or a plain
    ``{canonical: entry}`` dict (lists become alternatives). Marked ``explicit``."""
    from training.data.bvh import unit_scale
    if not isinstance(d, dict) or not d:
        raise JointMapError(f"{source or 'joint map'}: expected a mapping canonical joint -> source entry")
    joints = d.get("joints", d) if isinstance(d.get("joints", d), dict) else None
    if joints is None:
        raise JointMapError(f"{source or 'joint map'}: 'joints' must be a mapping canonical joint -> source entry")
    if "joints" not in d:
        joints = {k: v for k, v in d.items() if k not in ("name", "units", "weights", "description", "rest_convention")}
    entries = {k: (tuple(v) if isinstance(v, list) else v) for k, v in joints.items()}
    units = d.get("units") if "joints" in d or "units" in d else None
    try:
        units = None if units is None else unit_scale(units)
    except ValueError as e:
        raise JointMapError(f"{source or 'joint map'}: {e}") from None
    return JointMap(str(d.get("name", name)), entries, dict(d.get("weights") or {}), units,
                    str(d.get("description", f"user joint map {source}".strip())), explicit=True,
                    rest_convention=bool(d.get("rest_convention", True)))


def load_joint_map_file(path: str | Path) -> JointMap:
    """Read a user joint map from ``.yaml`` / ``.yml`` / ``.json`` (format in the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise JointMapError(f"joint map file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            d = json.loads(text)
        else:
            import yaml
            d = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - any parse error: say which file
        raise JointMapError(f"{p}: cannot parse the joint map: {e}") from None
    return joint_map_from_dict(d, name=p.stem, source=str(p))


def resolve_joint_map(available: list[str], joint_map: str | JointMap | dict | None = "auto",
                      source: str = "") -> JointMap:
    """Pick / validate the joint map for a source skeleton.

    Args:
        available: the source's joint (or point) names.
        joint_map: "auto" (best built-in map), a built-in name, a path to a YAML/JSON map file, a
            :class:`JointMap` or a plain ``{canonical: entry}`` dict.
    Raises:
        JointMapError: naming the required canonical joints the (best) map cannot find, or, for an
            explicit (user) map, every source name it gives that the file lacks.
    """
    if isinstance(joint_map, dict):
        joint_map = joint_map_from_dict(joint_map)
    if isinstance(joint_map, (str, Path)) and joint_map not in JOINT_MAPS and joint_map != "auto" and (
            str(joint_map).lower().endswith((".yaml", ".yml", ".json")) or Path(joint_map).is_file()):
        joint_map = load_joint_map_file(joint_map)
    if isinstance(joint_map, JointMap):
        cands = [joint_map]
    elif joint_map in (None, "auto"):
        cands = list(JOINT_MAPS.values())
    elif joint_map in JOINT_MAPS:
        cands = [JOINT_MAPS[joint_map]]
    else:
        raise JointMapError(f"unknown joint map {joint_map!r}; built-in: {sorted(JOINT_MAPS)}, or a .yaml/.json file")
    scored = sorted(cands, key=lambda m: (len(m.missing_required(available)), -len(m.resolve(available))))
    best = scored[0]
    shown = ", ".join(available[:40]) + (" ..." if len(available) > 40 else "")
    if best.explicit:
        ms = best.missing_sources(available)
        if ms:
            listed = "; ".join(f"{c} -> {', '.join(n)}" for c, n in ms.items())
            raise JointMapError(f"{source or 'source'}: joint map {best.name!r} names joints the file does not have: "
                                f"{listed}. Source joints: {shown}")
    miss = best.missing_required(available)
    if miss:
        hints = "; ".join(f"{n} <- {best.entries.get(n)!r}" for n in miss if n in best.entries)
        raise JointMapError(
            f"{source or 'source'}: cannot map the skeleton to the canonical joints; closest joint map "
            f"{best.name!r} lacks required canonical joint(s): {', '.join(miss)}"
            + (f" (expected {hints})" if hints else "")
            + f". Source joints: {shown}. Pass a joint map file (--joint-map map.yaml: canonical_name: source_name) "
              f"for this skeleton.")
    return best
