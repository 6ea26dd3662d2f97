"""One canonical rest and pelvis convention for every rig, and a check that a joint map keeps the sides.

Rigs disagree on where their spine joints sit (the CMU rigs put the lower back at the hip line, the
Character Creator rig puts its waist 8 cm above and forward of it, the Daz rig leans its spine back),
so mapping spine joints by name makes the fitted pelvis pitch depend on the rig (24-28 deg between
two rigs of the same trial before this module). Limb joints are anatomical joint centres in every rig
and agree. The convention:

* **Trunk frame** per frame, from limb joints only: ``x`` = right hip -> left hip, ``y`` = hip centre
  -> shoulder centre (orthogonalised: x is made perpendicular to y), ``z = x × y`` (forward). The
  canonical template has the same frame (:data:`pose_estimation_ros.skeleton.REST_JOINTS`, x left,
  y up, z forward).
* **Torso targets** (pelvis, spine1-3, neck, head): where the body model that is fitted (its rest
  joints at shape 0; the canonical template for ``skeleton``) puts them in its trunk frame,
  scaled by the clip's hip-to-shoulder distance, *on the frames where the subject stands upright*
  (trunk within 20 deg of vertical; the most upright 20 % when a clip has fewer than 10 such
  frames). Each target is then fixed rigidly to the nearest joint of the rig's spine chain (the
  rig joints its torso entries use and their ancestors), at the median offset in that joint's own
  frame over those frames, so spine bending in the source carries over to the canonical spine.

A rig therefore maps an upright stance to the canonical upright rest (pelvis pitch ~0) whatever
its spine joints, and the same motion on two rigs gives the same canonical motion (tested on
synthetic two-rig pairs and on the bundled rigs; ``docs/motion_capture.md``). Point sources (no
joint orientations) keep their map's torso entries.

:func:`side_checks` catches joint maps that swap sides: the shoulders' left-right axis must agree
with the hips' in >= 80 % of the frames (a map with the arms or the legs swapped reverses one of
them: the fitter would twist the torso 180 deg at a low fit error) and the feet must point forward in
the trunk frame in >= 50 % of them (a map with every side swapped is a mirror image: the feet point
backwards; dance clips point them back up to 31 % of the time).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pose_estimation_ros import skeleton
from training.data.joint_maps import TORSO_JOINTS, JointMap

__all__ = ["trunk_frames", "torso_local", "rest_convention_targets", "RestConvention", "side_checks",
           "SIDE_AGREEMENT_MIN"]

NAMES = skeleton.JOINT_NAMES
_I = {n: i for i, n in enumerate(NAMES)}
UPRIGHT_DEG = 20.0
# Minimum fraction of frames per side check: shoulders vs hips is stable in any motion (cartwheels too);
# feet can point back for a while in dance (05_02/05_12/05_18: 69-76 %), a mirrored map gives < 10 %.
SIDE_AGREEMENT_MIN = {"shoulders_match_hips": 0.8, "feet_forward": 0.5}


def trunk_frames(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk frames of canonical-ordered joints.

    Args:
        joints: (..., 24, 3) (hips and shoulders used).
    Returns:
        frames (..., 3, 3) with columns x (left), y (up), z (forward); hip centre (..., 3); hip-to-shoulder
        distance (...,).
    """
    lh, rh = joints[..., _I["left_hip"], :], joints[..., _I["right_hip"], :]
    ls, rs = joints[..., _I["left_shoulder"], :], joints[..., _I["right_shoulder"], :]
    hc, sc = (lh + rh) / 2, (ls + rs) / 2
    up = sc - hc
    length = np.linalg.norm(up, axis=-1)
    y = up / np.maximum(length[..., None], 1e-9)
    lat = lh - rh
    x = lat - (lat * y).sum(-1, keepdims=True) * y
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    z = np.cross(x, y)
    return np.stack([x, y, z], -1), hc, length


def torso_local(rest: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Torso joints of a rest skeleton (24, 3) (default the canonical template) in its own trunk frame,
    per unit of hip-to-shoulder distance: canonical name -> (3,)."""
    rest = skeleton.REST_JOINTS if rest is None else np.asarray(rest, np.float64)
    tf, th, tl = trunk_frames(rest)
    return {n: tf.T @ (rest[_I[n]] - th) / float(tl) for n in TORSO_JOINTS}


@dataclass
class RestConvention:
    """What :func:`rest_convention_targets` did: anchors, offsets, calibration frames."""

    anchors: dict[str, str] = field(default_factory=dict)          # canonical -> rig joint
    offsets_m: dict[str, list[float]] = field(default_factory=dict)  # canonical -> offset in the anchor frame
    calibration_frames: int = 0
    upright: bool = True                                            # False: no upright frame, most upright used


def _spine_chain(names: list[str], parents: list[int], jmap: JointMap) -> list[int]:
    res = jmap.resolve(names)
    idx = {n: i for i, n in enumerate(names)}
    limb = {idx[n] for c, b in res.items() if c not in TORSO_JOINTS for n in b}
    chain: set[int] = set()
    for c in TORSO_JOINTS:
        for n in res.get(c, {}):
            i = idx[n]
            while i >= 0:
                chain.add(i)
                i = parents[i]
    return sorted(chain - limb)


def _pelvis_anchor(chain: list[int], names: list[str], parents: list[int], jmap: JointMap) -> int | None:
    """Index into ``chain`` of the deepest spine-chain joint above both hips (the rig's pelvis / root):
    the canonical pelvis turns with it."""
    res = jmap.resolve(names)
    idx = {n: i for i, n in enumerate(names)}

    def ancestors(i: int) -> list[int]:
        out = []
        while i >= 0:
            out.append(i)
            i = parents[i]
        return out
    try:
        a = [set(ancestors(idx[max(res[s], key=res[s].get)])) for s in ("left_hip", "right_hip")]
    except KeyError:
        return None
    common = [k for k, c in enumerate(chain) if c in a[0] and c in a[1]]
    if not common:
        return None
    return max(common, key=lambda k: len(ancestors(chain[k])))


def rest_convention_targets(targets: np.ndarray, weights: np.ndarray, positions: np.ndarray, rotations: np.ndarray,
                            names: list[str], parents: list[int], jmap: JointMap, rest: np.ndarray | None = None
                            ) -> tuple[np.ndarray, np.ndarray, RestConvention]:
    """Replace the torso targets by the canonical rest convention (module docstring).

    Args:
        targets: (T, 24, 3) canonical targets from the map (limbs used), metres, y-up.
        weights: (24,) their weights.
        positions: (T, N, 3) source joint positions (same world); rotations: (T, N, 3, 3) their global
            orientations; names, parents: (N,) the source hierarchy.
        rest: (24, 3) rest joints of the body model the targets will be fitted with (default the
            canonical template): the torso targets take *its* torso geometry, so that an upright
            stance fits to identity torso rotations on that body (Anny's pelvis sits at hip height,
            the template's 9 cm above).
    Returns:
        targets, weights (torso joints set), and a :class:`RestConvention` report.
    """
    need = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
    if any(weights[_I[n]] <= 0 for n in need):
        return targets, weights, RestConvention()
    chain = _spine_chain(names, parents, jmap)
    if not chain:
        return targets, weights, RestConvention()
    frames, hc, length = trunk_frames(targets)
    upright = frames[:, 1, 1]                                   # world-y component of the trunk's up axis
    calib = np.flatnonzero(upright >= np.cos(np.radians(UPRIGHT_DEG)))
    ok = calib.size >= min(10, targets.shape[0])
    if not ok:
        k = max(1, int(np.ceil(0.2 * targets.shape[0])))
        calib = np.argsort(-upright)[:k]
    scale = float(np.median(length))
    out_t, out_w = targets.copy(), weights.copy()
    rep = RestConvention(calibration_frames=int(calib.size), upright=bool(ok))
    pc, rc = positions[calib][:, chain], rotations[calib][:, chain]          # (C, K, 3), (C, K, 3, 3)
    root_k = _pelvis_anchor(chain, names, parents, jmap)
    local_rest = torso_local(rest)
    for n in TORSO_JOINTS:
        want = hc[calib] + scale * np.einsum("tab,b->ta", frames[calib], local_rest[n])     # (C, 3)
        dist = np.median(np.linalg.norm(pc - want[:, None], axis=-1), axis=0)             # (K,)
        k = int(np.flatnonzero(dist <= dist.min() + 1e-3)[0])                            # ties: the ancestor
        if n == "pelvis" and root_k is not None:
            k = root_k
        local = np.einsum("tba,tb->ta", rc[:, k], want - pc[:, k])                     # G^T (want - p)
        off = np.median(local, axis=0)
        a = chain[k]
        j = _I[n]
        out_t[:, j] = positions[:, a] + rotations[:, a] @ off
        out_w[j] = jmap.weights.get(n, 1.0)
        rep.anchors[n] = names[a]
        rep.offsets_m[n] = [round(float(v), 4) for v in off]
    return out_t, out_w, rep


def side_checks(targets: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Fractions of frames whose mapped joints keep the body's sides (1.0 for a correct map).

    ``shoulders_match_hips``: the right->left shoulder axis points the same way as the right->left hip
    axis. ``feet_forward``: the ankle->foot direction has a positive forward (trunk z) component.
    Joints that are not observed give no check.
    """
    out: dict[str, float] = {}
    obs = lambda *ns: all(weights[_I[n]] > 0 for n in ns)  # noqa: E731
    if obs("left_hip", "right_hip", "left_shoulder", "right_shoulder"):
        lat_h = targets[:, _I["left_hip"]] - targets[:, _I["right_hip"]]
        lat_s = targets[:, _I["left_shoulder"]] - targets[:, _I["right_shoulder"]]
        out["shoulders_match_hips"] = float(((lat_h * lat_s).sum(-1) > 0).mean())
        frames, _, _ = trunk_frames(targets)
        fwd = frames[..., 2]
        sides = [s for s in ("left", "right") if obs(f"{s}_ankle", f"{s}_foot")]
        if sides:
            d = np.stack([targets[:, _I[f"{s}_foot"]] - targets[:, _I[f"{s}_ankle"]] for s in sides], 1)
            out["feet_forward"] = float(((d * fwd[:, None]).sum(-1) > 0).mean())
    return out
