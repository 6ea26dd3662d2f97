"""AMASS ``.npz`` (SMPL-H parameters) -> :class:`~training.data.motion.MotionSequence`.

An AMASS file holds ``poses`` (T, 156) SMPL-H axis-angle (52 joints: 22 body joints in SMPL order,
then 15 left-hand and 15 right-hand finger joints), ``trans`` (T, 3), ``betas`` (16,),
``mocap_framerate`` (or ``mocap_frame_rate``) and ``gender``; the world is z-up.

Canonical rotations: the 22 body joints are SMPL's joints 0-21 unchanged (same kinematic tree, same
T-pose rest, same axes); SMPL's hand joints 22/23 (left_hand/right_hand) have no SMPL-H
counterpart (the fingers hang off the wrist directly), so they are the identity by default, or with
``hands="knuckles"`` the chordal mean of the four finger-base (index1/middle1/ring1/pinky1) rotations.
The world is rotated to y-up (``(x, y, z) -> (x, z, -y)``): the root rotation and the translation
absorb it.

Translation: SMPL rotates the body about its template pelvis ``J0(betas)``, so the pelvis is at
``trans + J0(betas)`` (not at ``trans``). With an SMPL body model this offset comes from the model;
without one a fixed mean-template value :data:`SMPL_TEMPLATE_PELVIS` is used (a few cm off for
extreme shapes and a constant, i.e. harmless, offset for a sequence).

Body models:

* ``smpl`` (:class:`training.body.smpl_body.SMPLBody`): direct, ``shape = betas[:num_betas]``
  (SMPL+H betas are only approximately SMPL's; the extra 6 AMASS betas are dropped).
* any other body (Anny, the skeleton): SMPL joint positions are computed and *fitted* with the same
  fitter as the BVH import (:func:`training.data.retarget.fit_positions`). The positions come from
  ``position_body`` (default: ``make_body_model("smpl")`` when ``$SMPL_MODEL_PATH`` is set). Without
  SMPL, the canonical skeleton template stands in for it: for ``skeleton`` the rotations transfer
  unchanged (``shape = 0``, no fitting, ``fit_error_mm = None``); for other bodies the template's
  joint positions are fitted (the subject's proportions from ``betas`` are then not used).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import roma
import torch

from training.body.base import BodyModel, SkeletonBody
from training.data.motion import MotionSequence
from training.geometry.rotations import axis_angle_to_rotmat

__all__ = ["load_amass_npz", "amass_rotmats", "import_amass", "SMPL_TEMPLATE_PELVIS", "Z_UP_TO_Y_UP",
           "is_amass_npz"]

# (x, y, z)_z-up -> (x, z, -y)_y-up: rotation by -90 deg about x.
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# SMPL mean-template pelvis joint (J_regressor @ v_template, row 0), metres, SMPL model frame.
# Used only without an SMPL model; varies by ~2 cm with gender / betas.
SMPL_TEMPLATE_PELVIS = np.array([0.0, -0.22, 0.028])
# SMPL-H finger bases (index1, middle1, pinky1, ring1) of the left / right hand in the 52-joint order.
_KNUCKLES = {"left": (22, 25, 28, 31), "right": (37, 40, 43, 46)}


def is_amass_npz(path: str | Path) -> bool:
    """True for an npz with AMASS keys (``poses`` and ``trans``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "poses" in z.files and "trans" in z.files
    except Exception:
        return False


def load_amass_npz(path: str | Path) -> dict:
    """Raw AMASS arrays: poses (T, 3*K) float64, trans (T, 3), betas (B,), fps, gender (str)."""
    with np.load(path, allow_pickle=True) as z:
        if "poses" not in z.files or "trans" not in z.files:
            raise ValueError(f"{path}: not an AMASS npz (needs 'poses' and 'trans'; has {z.files})")
        poses = np.asarray(z["poses"], np.float64)
        trans = np.asarray(z["trans"], np.float64)
        betas = np.asarray(z["betas"], np.float64).reshape(-1) if "betas" in z.files else np.zeros(10)
        fps = None
        for k in ("mocap_framerate", "mocap_frame_rate", "fps", "frame_rate"):
            if k in z.files:
                fps = float(np.asarray(z[k]))
                break
        gender = str(np.asarray(z["gender"])) if "gender" in z.files else "neutral"
    if fps is None:
        raise ValueError(f"{path}: no frame rate (mocap_framerate / mocap_frame_rate)")
    if poses.ndim != 2 or poses.shape[1] % 3 or poses.shape[1] < 66:
        raise ValueError(f"{path}: poses must be (T, 3K) with K >= 22 joints, got {poses.shape}")
    if trans.shape != (poses.shape[0], 3):
        raise ValueError(f"{path}: trans must be ({poses.shape[0]}, 3), got {trans.shape}")
    return {"poses": poses, "trans": trans, "betas": betas, "fps": fps, "gender": gender}


def amass_rotmats(poses: np.ndarray, hands: str = "identity") -> np.ndarray:
    """SMPL-H axis-angle (T, 3K) -> canonical local rotations (T, 24, 3, 3), root still in the
    file's (z-up) world. ``hands``: "identity" or "knuckles" (see module docstring)."""
    t = poses.shape[0]
    aa = torch.as_tensor(poses, dtype=torch.float64).reshape(t, -1, 3)
    rot = torch.eye(3, dtype=torch.float64).repeat(t, 24, 1, 1)
    rot[:, :22] = axis_angle_to_rotmat(aa[:, :22])
    if hands == "knuckles" and aa.shape[1] >= 52:
        for side, j in (("left", 22), ("right", 23)):
            m = axis_angle_to_rotmat(aa[:, list(_KNUCKLES[side])]).sum(1)
            rot[:, j] = roma.special_procrustes(m)
    elif hands not in ("identity", "knuckles"):
        raise ValueError(f"hands must be 'identity' or 'knuckles', got {hands!r}")
    return rot.numpy()


def _smpl_pelvis(body: BodyModel | None, betas: np.ndarray) -> np.ndarray:
    """Template pelvis J0(betas) from an SMPL body model (``j_template``/``j_shapedirs``), else the mean."""
    jt, jd = getattr(body, "j_template", None), getattr(body, "j_shapedirs", None)
    if jt is None or jd is None:
        return SMPL_TEMPLATE_PELVIS.copy()
    nb = jd.shape[0]
    b = np.zeros(nb)
    b[:min(nb, betas.size)] = betas[:nb]
    j = jt.double().cpu().numpy() + (torch.as_tensor(b) @ jd.double().cpu()).numpy().reshape(-1, 3)
    return j[0]


def _try_smpl() -> BodyModel | None:
    if not os.environ.get("SMPL_MODEL_PATH"):
        return None
    try:
        from training.body.registry import make_body_model
        return make_body_model("smpl")
    except Exception as e:  # noqa: BLE001 - report and fall back
        warnings.warn(f"SMPL model not usable for AMASS positions ({e}); using the canonical template")
        return None


def import_amass(path: str | Path, body: BodyModel | None = None, fps: float | None = 30.0,
                 position_body: BodyModel | None = None, hands: str = "identity", up: str = "z",
                 subject: str | None = None, sequence: str | None = None, iters: int = 200,
                 progress=None, **fit_kwargs) -> MotionSequence:
    """Import one AMASS npz onto ``body`` (default SkeletonBody), resampled to ``fps`` (None: keep).

    Args:
        position_body: SMPL model giving the joint positions for non-SMPL bodies (see module docstring).
        up: the file's up axis ("z" for AMASS; "y" if already y-up).
        iters: fitter iterations for non-SMPL bodies.
    Returns:
        MotionSequence; ``extra['conversion']`` says how it was made ("direct", "fit", "template-rotations").
    """
    from training.data.retarget import fit_positions, ids_from_path
    path = Path(path)
    d = load_amass_npz(path)
    body = body if body is not None else SkeletonBody()
    rot = amass_rotmats(d["poses"], hands)
    if up == "z":
        c = Z_UP_TO_Y_UP
    elif up == "y":
        c = np.eye(3)
    else:
        raise ValueError(f"up must be 'z' or 'y', got {up!r}")
    rot[:, 0] = c @ rot[:, 0]
    subj = subject or path.parent.name or "unknown"
    seq = sequence or path.stem.replace("_poses", "")
    if subject is None and sequence is None and path.parent.name in ("", "."):
        subj, seq = ids_from_path(path)
    betas = d["betas"]

    def seq_of(rotm, transl, shape, body_name, out_fps, fit=None, conversion="direct"):
        ms = MotionSequence(rotm.astype(np.float32), transl.astype(np.float32), np.asarray(shape, np.float32),
                            body_name, out_fps, subj, seq, source=str(path),
                            fit_error_mm=None if fit is None else fit.per_joint_mm)
        ms.extra.update(conversion=conversion, gender=d["gender"], src_fps=d["fps"])
        if fit is not None:
            ms.extra["fit"] = fit
        return ms

    src_body = body if body.name == "smpl" else (position_body if position_body is not None else _try_smpl())
    pelvis = (d["trans"] + _smpl_pelvis(src_body, betas)) @ c.T        # (T, 3) y-up
    native = seq_of(rot, pelvis, np.zeros(0), "smpl", d["fps"])

    if body.name == "smpl":
        ns = int(body.num_shape)
        shape = np.zeros(ns)
        shape[:min(ns, betas.size)] = betas[:ns]
        native.shape = shape.astype(np.float32)
        out = native.resample(fps) if fps else native
        out.extra.update(native.extra)
        return out

    rs = native.resample(fps) if fps else native
    if src_body is None and isinstance(body, SkeletonBody):
        out = seq_of(rs.rotmats, rs.transl, np.zeros(body.num_shape), body.name, rs.fps,
                     conversion="template-rotations")
        return out
    # positions from SMPL (or the canonical template), then the same fitter as the BVH import
    pos_body = src_body if src_body is not None else SkeletonBody()
    with torch.no_grad():
        ns = int(pos_body.num_shape)
        sh = np.zeros(ns)
        if src_body is not None:
            sh[:min(ns, betas.size)] = betas[:ns]
        t = rs.num_frames
        joints = pos_body.joints(torch.as_tensor(rs.rotmats, dtype=torch.float32),
                                 torch.as_tensor(sh, dtype=torch.float32).expand(t, ns),
                                 torch.as_tensor(rs.transl, dtype=torch.float32)).double().numpy()
    res = fit_positions(joints, np.ones(24), body=body, fps=rs.fps, iters=iters, progress=progress, **fit_kwargs)
    return seq_of(res.rotmats, res.transl, res.shape, body.name, rs.fps, fit=res,
                  conversion="fit" if src_body is not None else "fit-to-template")
