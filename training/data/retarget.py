"""Retargeting measured joint positions onto the canonical skeleton.

Two parts:

* **Targets** (:func:`canonical_targets`): the joint map (:mod:`training.data.joint_maps`) gives the
  limb targets; for sources with joint orientations (BVH, ASF/AMC) the torso targets follow the
  canonical rest convention (:mod:`training.data.canonical_rest`), the same for every rig.

* **Fitting** (:func:`fit_positions`): canonical local rotations (6D parametrisation), root
  translation and the body model's shape that reproduce the mapped positions, by batched optimisation
  over all frames at once (Adam), initialised by an analytic hierarchical alignment of the rest pose
  (per-joint Kabsch / minimal swing), with a temporal smoothness term on the rotations and a weak
  prior pulling rotations that no observation constrains (leaf joints, bone twists) to identity.
  The residual per-joint error in mm is reported; see ``docs/motion_capture.md`` for its bound.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import torch

from pose_estimation_ros import skeleton
from training.body.base import BodyModel, SkeletonBody, forward_kinematics
from training.data.canonical_rest import RestConvention, rest_convention_targets, side_checks, SIDE_AGREEMENT_MIN
from training.data.joint_maps import (  # noqa: F401 - re-exported (the importers' public names)
    JOINT_MAPS, REQUIRED_JOINTS, TORSO_ANY, TORSO_JOINTS, JointMap, JointMapError, load_joint_map_file, resolve_joint_map)
from training.geometry.rotations import rot6d_to_rotmat, rotmat_to_rot6d

__all__ = [
    "JointMap", "JointMapError", "JOINT_MAPS", "REQUIRED_JOINTS", "resolve_joint_map", "canonical_targets",
    "FitResult", "fit_positions", "resample_positions", "default_body", "retarget_bvh", "retarget_skeleton",
    "ids_from_path", "FIT_BOUND_MEAN_MM", "FIT_BOUND_JOINT_MM",
]

J = skeleton.NUM_JOINTS
NAMES = skeleton.JOINT_NAMES
PARENTS = skeleton.PARENTS

# Fit-error bound of the importer's per-clip warning (docs/motion_capture.md "Fitting error and its bound").
FIT_BOUND_MEAN_MM = 32.0
FIT_BOUND_JOINT_MM = 60.0


def canonical_targets(positions: np.ndarray, names: list[str], jmap: JointMap,
                      rotations: np.ndarray | None = None, parents: list[int] | None = None,
                      report: dict | None = None, rest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Source positions -> canonical-joint targets.

    Args:
        positions: (T, N, 3) metres, y-up.
        names: (N,) source names.
        rotations: optional (T, N, 3, 3) global joint orientations in the same world (BVH / ASF forward
            kinematics): when given, ``jmap.frame_offsets`` are applied, and with ``parents`` (N,) the
            torso targets follow the canonical rest convention (:mod:`training.data.canonical_rest`).
        report: optional dict that receives ``"rest"`` (the :class:`RestConvention` used).
        rest: (24, 3) rest joints of the body to be fitted (torso geometry of the rest convention).
    Returns:
        targets (T, 24, 3) (zeros where unobserved), weights (24,) (0 = unobserved).
    """
    idx = {n: i for i, n in enumerate(names)}
    res = jmap.resolve(names)
    t = positions.shape[0]
    targets = np.zeros((t, J, 3))
    weights = np.zeros(J)
    for canon, blend in res.items():
        j = NAMES.index(canon)
        targets[:, j] = sum(w * positions[:, idx[n]] for n, w in blend.items())
        weights[j] = jmap.weights.get(canon, 1.0)
        if rotations is not None and canon in jmap.frame_offsets:
            src, off = jmap.frame_offsets[canon]
            if src in idx:
                targets[:, j] += rotations[:, idx[src]] @ np.asarray(off, dtype=np.float64)
    if rotations is not None and parents is not None and jmap.rest_convention:
        targets, weights, rest = rest_convention_targets(targets, weights, positions, rotations, list(names),
                                                         list(parents), jmap, rest=rest)
        if report is not None:
            report["rest"] = rest
    return targets, weights


def resample_positions(positions: np.ndarray, src_fps: float, fps: float | None) -> tuple[np.ndarray, float]:
    """Linear interpolation of (T, ...) positions to ``fps`` (frame count as :meth:`MotionSequence.resample`)."""
    if fps is None or abs(fps - src_fps) < 1e-9 or positions.shape[0] < 2:
        return positions, float(src_fps)
    t = positions.shape[0]
    n_out = int(np.floor((t - 1) * fps / src_fps + 1e-9)) + 1
    src = np.arange(n_out) * (src_fps / fps)
    i0 = np.clip(np.floor(src + 1e-9).astype(int), 0, t - 2)
    w = (src - i0).reshape((-1,) + (1,) * (positions.ndim - 1))
    return positions[i0] * (1 - w) + positions[i0 + 1] * w, float(fps)


def default_body() -> BodyModel:
    return SkeletonBody()


# ----------------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """Fitted canonical motion and its residuals.

    Attributes:
        rotmats: (T, 24, 3, 3) float32 local rotations. transl: (T, 3) pelvis position. shape: (S,).
        joint_error_mm: (T, 24) per-frame per-joint distance fit -> target in mm (NaN: unobserved).
        per_joint_mm: (24,) mean over frames (NaN: unobserved).
        mean_mm: mean over frames and observed joints (MPJPE). max_joint_mm: worst per_joint_mm.
        seconds: wall time of the fit.
        bones: "parent>child" names of the observed segments (child and its nearest observed ancestor).
        bone_length_residual_mm: (P,) fitted model length minus median target length of each segment:
            the proportion mismatch the shape could not absorb (what the fit error is made of).
        bone_length_std_mm: (P,) standard deviation over frames of each target segment length. Mocap
            bones are rigid (~0 for BVH, a few mm for markers); a large value means the joint map
            pairs joints that are not neighbours (e.g. a left/right swap): see :meth:`warnings`.
    """

    rotmats: np.ndarray
    transl: np.ndarray
    shape: np.ndarray
    joint_error_mm: np.ndarray
    per_joint_mm: np.ndarray
    mean_mm: float
    max_joint_mm: float
    worst_joint: str
    iterations: int
    seconds: float
    bones: list[str] = field(default_factory=list)
    bone_length_residual_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bone_length_std_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    side_checks: dict[str, float] = field(default_factory=dict)

    def warnings(self, rigid_mm: float = 20.0, mean_mm: float | None = None,
                 joint_mm: float | None = None, skip_joints: tuple[str, ...] = ()) -> list[str]:
        """Reasons to distrust the fit: segments whose target length varies by more than ``rigid_mm``
        (std; segments touching ``skip_joints`` are not checked: the rest convention's torso targets
        ride on different rig bones and need not keep their distance), side checks below
        :data:`SIDE_AGREEMENT_MIN` (a map swapping the arms, the legs or every side), and, when given,
        a mean / worst-joint error above the bound."""
        out = [f"segment {b} length varies by {s:.0f} mm (std) over the clip: check the joint map"
               for b, s in zip(self.bones, self.bone_length_std_mm)
               if s > rigid_mm and not any(j in skip_joints for j in b.split(">"))]
        what = {"shoulders_match_hips": "the shoulders' left-right axis opposes the hips' (arms or legs swapped "
                                        "in the joint map?)",
                "feet_forward": "the feet point backwards in the trunk frame (every side swapped in the joint map?)"}
        out += [f"{what.get(k, k)}: agrees in {100 * v:.0f}% of frames" for k, v in self.side_checks.items()
                if v < SIDE_AGREEMENT_MIN.get(k, 0.8)]
        if mean_mm is not None and self.mean_mm > mean_mm:
            out.append(f"mean fit error {self.mean_mm:.1f} mm above the bound {mean_mm:g} mm")
        if joint_mm is not None and self.max_joint_mm > joint_mm:
            out.append(f"joint {self.worst_joint} fit error {self.max_joint_mm:.1f} mm above the bound {joint_mm:g} mm")
        return out

    def summary(self) -> str:
        p95 = float(np.nanpercentile(self.joint_error_mm, 95))
        return (f"fit error mean {self.mean_mm:.1f} mm, p95 {p95:.1f} mm, worst joint {self.worst_joint} "
                f"{self.max_joint_mm:.1f} mm")


def _children() -> list[list[int]]:
    ch: list[list[int]] = [[] for _ in range(J)]
    for j, p in enumerate(PARENTS):
        if p >= 0:
            ch[p].append(j)
    return ch


def _first_observed(j: int, observed: np.ndarray, ch: list[list[int]]) -> list[int]:
    """Observed joints reached from ``j``'s children without passing another observed joint."""
    out: list[int] = []
    for c in ch[j]:
        if observed[c]:
            out.append(c)
        else:
            out += _first_observed(c, observed, ch)
    return out


def _align(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimal rotations taking directions a to b: (T, 3), (T, 3) -> (T, 3, 3)."""
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b, dim=-1)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)
    vx = torch.zeros(a.shape[0], 3, 3, dtype=a.dtype)
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    vx = vx - vx.transpose(1, 2)
    eye = torch.eye(3, dtype=a.dtype).expand_as(vx)
    r = eye + vx + vx @ vx / (1.0 + c).clamp_min(1e-8)[:, None, None]
    anti = c < -1.0 + 1e-6                      # opposite directions: half-turn about an orthogonal axis
    if anti.any():
        aa = a[anti]
        helper = torch.where(aa[:, :1].abs() < 0.9, torch.tensor([1.0, 0, 0], dtype=a.dtype),
                             torch.tensor([0, 1.0, 0], dtype=a.dtype))
        axis = torch.nn.functional.normalize(torch.cross(aa, helper, dim=-1), dim=-1)
        r[anti] = 2 * axis[:, :, None] * axis[:, None, :] - eye[: aa.shape[0]]
    return r


def _kabsch(v: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Rotations R (T, 3, 3) minimising sum_k w_k |R v_k - u_k|^2; v (K, 3), u (T, K, 3), w (K,)."""
    m = torch.einsum("k,tki,kj->tij", w, u, v)          # sum_k w u v^T
    uu, _, vh = torch.linalg.svd(m)
    d = torch.sign(torch.det(uu @ vh))
    diag = torch.ones(m.shape[0], 3, dtype=m.dtype)
    diag[:, 2] = d
    return uu @ torch.diag_embed(diag) @ vh


def _analytic_init(targets: torch.Tensor, observed: np.ndarray, rest: torch.Tensor) -> torch.Tensor:
    """Local rotations (T, 24, 3, 3) aligning the rest skeleton to the targets joint by joint.

    Parents first: each joint's global rotation is the Kabsch fit of its rest vectors to the nearest
    observed descendants on each child branch (a minimal swing from the parent's orientation when
    only one direction is seen, the parent's orientation when none is). Float64.
    """
    t = targets.shape[0]
    ch = _children()
    glob: list[torch.Tensor] = [None] * J  # type: ignore[list-item]
    pos: list[torch.Tensor] = [None] * J   # type: ignore[list-item]
    eye = torch.eye(3, dtype=targets.dtype).expand(t, 3, 3)
    pos[0] = targets[:, 0]
    for j in range(J):
        p = PARENTS[j]
        gp = eye if p < 0 else glob[p]
        if p >= 0:
            pos[j] = pos[p] + gp @ (rest[j] - rest[p])
        ds = _first_observed(j, observed, ch)
        if not ds:
            glob[j] = gp
            continue
        v = torch.stack([rest[k] - rest[j] for k in ds])                    # (K, 3)
        u = torch.stack([targets[:, k] - pos[j] for k in ds], 1)            # (T, K, 3)
        vn = torch.nn.functional.normalize(v, dim=-1)
        un = torch.nn.functional.normalize(u, dim=-1)
        planar = len(ds) >= 2 and torch.linalg.matrix_rank(vn, atol=1e-3) >= 2
        if planar:
            glob[j] = _kabsch(vn, un, torch.ones(len(ds), dtype=v.dtype))
        else:
            a = gp @ vn.mean(0)
            glob[j] = _align(a, un.mean(1)) @ gp
    local = [glob[0]] + [glob[PARENTS[j]].transpose(1, 2) @ glob[j] for j in range(1, J)]
    return torch.stack(local, 1)


def _skeleton_shape_init(body: BodyModel, targets: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Closed-form overall / limb scale for :class:`SkeletonBody` from median observed bone lengths."""
    fk = getattr(body, "fk", None)
    if not isinstance(body, SkeletonBody) or fk is None:
        return None
    from training.body.skeleton_fk import SHAPE_SCALE_PER_UNIT
    rest = skeleton.REST_JOINTS
    limb = fk.limb_mask.cpu().numpy()
    logs, limbs = [], []
    for j, p in enumerate(PARENTS):
        # parent-child pairs, or grandparent-child across an unobserved joint
        q = p
        while q >= 0 and weights[q] <= 0:
            q = PARENTS[q]
        if j == 0 or q < 0 or weights[j] <= 0:
            continue
        lr = np.linalg.norm(rest[j] - rest[q])
        lt = np.median(np.linalg.norm(targets[:, j] - targets[:, q], axis=-1))
        if lr > 1e-3 and lt > 1e-3:
            logs.append(math.log(lt / lr))
            limbs.append(limb[j])
    if len(logs) < 2:
        return None
    logs, limbs = np.array(logs), np.array(limbs)
    torso = logs[limbs == 0].mean() if (limbs == 0).any() else logs.mean()
    lim = logs[limbs == 1].mean() - torso if (limbs == 1).any() else 0.0
    shape = np.zeros(body.num_shape)
    shape[0] = (math.exp(torso) - 1) / SHAPE_SCALE_PER_UNIT
    if body.num_shape > 1:
        shape[1] = (math.exp(lim) - 1) / SHAPE_SCALE_PER_UNIT
    return shape


def _observed_descendant_mask(observed: np.ndarray) -> np.ndarray:
    """Joints whose rotation moves at least one observed joint (i.e. with an observed descendant)."""
    ch = _children()
    out = np.zeros(J, bool)
    for j in reversed(range(J)):
        out[j] = any(observed[c] or out[c] for c in ch[j])
    return out


def _body_joints(body: BodyModel, rot: torch.Tensor, shape: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """Posed joints (T, 24, 3) for one clip-constant ``shape`` (S,): the rest joints are computed once
    for the bodies whose joints are canonical FK of their rest joints (skeleton, anny), else per frame."""
    t = rot.shape[0]
    try:
        rest = body.rest_joints(shape[None]).to(rot.dtype)                  # (1, 24, 3)
    except NotImplementedError:
        return body.joints(rot, shape.expand(t, shape.shape[-1]), transl)
    return forward_kinematics(rot, rest) + transl[:, None]


def fit_positions(targets: np.ndarray, weights: np.ndarray, body: BodyModel | None = None, fps: float = 30.0,
                  iters: int = 200, lr: float = 0.02, smooth: float = 1.0, prior: float = 1e-3,
                  shape_init: np.ndarray | None = None, fit_shape: bool = True, shape_prior: float = 1e-7,
                  directions: float = 1.0, frame_weights: np.ndarray | None = None, progress=None,
                  threads: int | None = 1) -> FitResult:
    """Fit canonical rotations, root translation and shape to target joint positions.

    Loss (positions in metres, all frames at once)::

        sum_j w_j |FK_j - P_j|^2 / sum_j w_j                          (data, mean over frames)
        + smooth * 1e-4 * mean |R_{t+1} - 2 R_t + R_{t-1}|_F^2 * (fps/30)^2     (rotation acceleration)
        + prior * mean_{free j} |R_j - I|_F^2 + 1e-2 * prior * mean_{other j} |R_j - I|_F^2
        + shape_prior * |shape|^2

    "free" joints are those whose rotation moves no observed joint (leaf joints, or joints above
    unobserved branches): they stay at identity. The smoothness scale keeps the acceleration term
    below ~1 mm^2 for normal human motion and fixes the bone twists that positions cannot see.

    Args:
        targets: (T, 24, 3) metres, y-up world (pelvis must be observed).
        weights: (24,) per-joint weights, 0 = unobserved.
        body: a BodyModel (default :class:`SkeletonBody`).
        fps: frame rate of ``targets`` (scales the smoothness term).
        iters: Adam iterations (learning rate cosine-decayed to 5 %).
        shape_init: (S,) start shape; default a closed-form scale estimate for SkeletonBody, else 0.
        fit_shape: optimise the (clip-constant) shape, else keep ``shape_init``.
        frame_weights: optional (T, 24) per-frame confidences (e.g. 0 for gaps in point data).
        progress: optional callable(iteration, loss) for progress bars.
        threads: torch intra-op threads during the fit (restored after). The tensors are small
            (T x 24 x 3 x 3): one thread is fastest, and several threads slow down ~10x on a
            shared, busy CPU. None = leave torch's setting.
    """
    if threads is None:
        return _fit_positions(targets, weights, body, fps, iters, lr, smooth, prior, shape_init, fit_shape,
                              shape_prior, directions, frame_weights, progress)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _fit_positions(targets, weights, body, fps, iters, lr, smooth, prior, shape_init, fit_shape,
                              shape_prior, directions, frame_weights, progress)
    finally:
        torch.set_num_threads(prev)


_SHAPE_FRAMES = 24
_SHAPE_ITERS = 150


def _fit_positions(targets, weights, body, fps, iters, lr, smooth, prior, shape_init, fit_shape, shape_prior,
                   directions, frame_weights, progress) -> FitResult:
    t0 = time.perf_counter()
    body = body or default_body()
    targets = np.asarray(targets, np.float64)
    weights = np.asarray(weights, np.float64)
    observed = weights > 0
    if not observed[0]:
        raise JointMapError("the pelvis must be observed (map it, e.g. to the mid-point of the hips)")
    t = targets.shape[0]
    dtype = torch.float32
    ns = int(body.num_shape)

    if shape_init is None:
        shape_init = _skeleton_shape_init(body, targets, weights)
        if fit_shape and ns > 0 and t > _SHAPE_FRAMES and iters > 0:
            # the clip-constant shape converges slowly next to T per-frame poses: pre-fit it on a
            # subsample of frames (cheap), then start the full fit from it
            sub = np.linspace(0, t - 1, _SHAPE_FRAMES).round().astype(int)
            pre = _fit_positions(targets[sub], weights, body, fps * _SHAPE_FRAMES / t, _SHAPE_ITERS, lr * 2, 0.0,
                                 prior, shape_init, True, shape_prior, directions,
                                 None if frame_weights is None else frame_weights[sub], None)
            shape_init = pre.shape
    shape0 = torch.zeros(ns, dtype=dtype) if shape_init is None else torch.as_tensor(shape_init, dtype=dtype)[:ns]
    with torch.no_grad():
        rest = _body_joints(body, torch.eye(3, dtype=dtype).expand(1, J, 3, 3), shape0,
                            torch.zeros(1, 3, dtype=dtype))[0].double()
    tgt64 = torch.as_tensor(targets)
    init = _analytic_init(tgt64, observed, rest).to(dtype)

    tgt = tgt64.to(dtype)
    w = torch.as_tensor(weights, dtype=dtype)
    if frame_weights is not None:
        wt = torch.as_tensor(frame_weights, dtype=dtype) * w
    else:
        wt = w.expand(t, J)
    wsum = wt.sum().clamp_min(1e-8)

    r6 = rotmat_to_rot6d(init).clone().requires_grad_(True)
    transl = tgt[:, 0].clone().requires_grad_(True)
    shape = shape0.clone().requires_grad_(fit_shape and ns > 0)
    params = [{"params": [r6], "lr": lr}, {"params": [transl], "lr": lr * 0.25}]
    if fit_shape and ns > 0:
        params.append({"params": [shape], "lr": lr * 5})
    opt = torch.optim.Adam(params)
    base_lrs = [g["lr"] for g in opt.param_groups]

    moves = _observed_descendant_mask(observed)
    prior_w = torch.as_tensor(np.where(moves, 1e-2, 1.0), dtype=dtype)
    prior_w[0] = 0.0
    eye = torch.eye(3, dtype=dtype)
    smooth_w = smooth * 1e-4 * (fps / 30.0) ** 2

    # bone-direction targets: each observed joint and its nearest observed ancestor
    pairs = []
    for c in range(1, J):
        q = PARENTS[c]
        while q >= 0 and not observed[q]:
            q = PARENTS[q]
        if observed[c] and q >= 0:
            pairs.append((c, q))
    pc = torch.tensor([c for c, _ in pairs], dtype=torch.long)
    pq = torch.tensor([q for _, q in pairs], dtype=torch.long)
    dir_tgt = torch.nn.functional.normalize(tgt[:, pc] - tgt[:, pq], dim=-1)
    len2 = ((rest[pc] - rest[pq]) ** 2).sum(-1).to(dtype)                     # (P,) rest length^2
    dir_w = torch.minimum(wt[:, pc], wt[:, pq]) * len2
    dir_wsum = torch.minimum(wt[:, pc], wt[:, pq]).sum().clamp_min(1e-8)

    def loss_fn():
        rot = rot6d_to_rotmat(r6)
        jts = _body_joints(body, rot, shape, transl)
        err2 = ((jts - tgt) ** 2).sum(-1)
        data = (err2 * wt).sum() / wsum
        if directions > 0 and pairs:
            d = torch.nn.functional.normalize(jts[:, pc] - jts[:, pq], dim=-1)
            data = data + directions * (((d - dir_tgt) ** 2).sum(-1) * dir_w).sum() / dir_wsum
        reg = prior * ((rot - eye) ** 2).sum((-1, -2)).mul(prior_w).mean()
        if t >= 3 and smooth_w > 0:
            acc = rot[2:] - 2 * rot[1:-1] + rot[:-2]
            reg = reg + smooth_w * (acc ** 2).sum((-1, -2)).mean() * J
        if ns > 0:
            reg = reg + shape_prior * (shape ** 2).sum()
        return data + reg, jts

    for it in range(iters):
        f = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * it / max(iters, 1)))
        for g, b in zip(opt.param_groups, base_lrs):
            g["lr"] = b * f
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn()
        loss.backward()
        opt.step()
        if progress is not None:
            progress(it, loss.item())

    with torch.no_grad():
        rot = rot6d_to_rotmat(r6)
        jts = _body_joints(body, rot, shape, transl)
        err = torch.linalg.vector_norm(jts - tgt, dim=-1).numpy() * 1000.0
    err[:, ~observed] = np.nan
    per_joint = np.full(J, np.nan)
    if t:
        per_joint[observed] = err[:, observed].mean(0)
    obs_idx = np.flatnonzero(observed)
    worst = int(obs_idx[np.argmax(per_joint[obs_idx])])
    with torch.no_grad():
        tl = torch.linalg.vector_norm(tgt[:, pc] - tgt[:, pq], dim=-1).numpy()          # (T, P)
        ml = torch.linalg.vector_norm(jts[:, pc] - jts[:, pq], dim=-1).numpy()
    bone_res = (ml.mean(0) - np.median(tl, 0)) * 1000.0 if t else np.zeros(len(pairs))
    bone_std = tl.std(0) * 1000.0 if t else np.zeros(len(pairs))
    return FitResult(
        rotmats=rot.numpy().astype(np.float32), transl=transl.detach().numpy().astype(np.float32),
        shape=shape.detach().numpy().astype(np.float32), joint_error_mm=err.astype(np.float32),
        per_joint_mm=per_joint.astype(np.float32), mean_mm=float(np.nanmean(err[:, observed])),
        max_joint_mm=float(per_joint[worst]), worst_joint=NAMES[worst], iterations=iters,
        seconds=time.perf_counter() - t0, bones=[f"{NAMES[q]}>{NAMES[c]}" for c, q in pairs],
        side_checks=side_checks(targets, weights),
        bone_length_residual_mm=bone_res.astype(np.float32), bone_length_std_mm=bone_std.astype(np.float32))


# ----------------------------------------------------------------------------------------------------
# BVH -> MotionSequence
# ----------------------------------------------------------------------------------------------------


def ids_from_path(path: str | Path) -> tuple[str, str]:
    """(subject, sequence) ids from a file name: ``131_01.bvh`` -> ("131", "131_01"),
    ``001_08.bvh`` -> ("01", "01_08") (CMU numbering, subjects at least 2 digits); otherwise the
    parent folder name and the file stem."""
    import re
    p = Path(path)
    m = re.match(r"^(\d+)_(\d+)", p.stem)
    if m:
        subj = str(int(m.group(1))).zfill(2)
        return subj, f"{subj}_{m.group(2)}"
    return p.parent.name or "unknown", p.stem


def guess_units(positions: np.ndarray, names: list[str], jmap: JointMap) -> float:
    """Metres per unit from the leg length (hip -> knee -> ankle ~ 0.8 m for an adult), snapped to
    the nearest of :data:`training.data.bvh.UNIT_SCALES` when within 15 %."""
    from training.data.bvh import UNIT_SCALES
    tg, wts = canonical_targets(positions[:1], names, jmap)
    legs = []
    for s in ("left", "right"):
        h, k, a = (NAMES.index(f"{s}_{x}") for x in ("hip", "knee", "ankle"))
        if wts[h] > 0 and wts[k] > 0 and wts[a] > 0:
            legs.append(np.linalg.norm(tg[0, h] - tg[0, k]) + np.linalg.norm(tg[0, k] - tg[0, a]))
    if not legs:
        raise ValueError("cannot guess units without hips, knees and ankles; pass units=")
    raw = 0.8 / float(np.mean(legs))
    best = min(UNIT_SCALES.values(), key=lambda s: abs(math.log(s / raw)))
    return best if abs(math.log(best / raw)) < math.log(1.15) else raw


def retarget_bvh(src, body: BodyModel | None = None, fps: float | None = 30.0,
                 joint_map: str | JointMap | dict | None = "auto", units: str | float | None = None,
                 up: str = "y", subject: str | None = None, sequence: str | None = None, iters: int = 200,
                 progress=None, **fit_kwargs):
    """Import one BVH file as a :class:`MotionSequence` on ``body`` (default SkeletonBody).

    Args:
        src: path or parsed :class:`training.data.bvh.Bvh`.
        fps: output (and fitting) frame rate; positions are resampled before the fit. None = the file's.
        joint_map: see :func:`resolve_joint_map` ("auto", a built-in name, a .yaml/.json file, a map).
        units: metres per unit or a unit name ("cm", "cmu", ...); default: the joint map's, else guessed
            from the leg length (:func:`guess_units`).
        up: the file's up axis (see :func:`training.data.bvh.to_y_up`); the bundled conventions are y-up.
        iters: optimiser iterations (on CMU-131, 200 are within 0.2 mm mean error of 1000).
    Returns:
        MotionSequence with ``fit_error_mm`` (24,) and ``extra['fit']`` (the :class:`FitResult`),
        ``extra['joint_map']``, ``extra['rest']`` (the :class:`RestConvention`), ``extra['warnings']``.
    """
    from training.data.bvh import Bvh, read_bvh
    anim = src if isinstance(src, Bvh) else read_bvh(src)
    return retarget_skeleton(anim, body, fps, joint_map, units, up, subject, sequence, iters, progress, **fit_kwargs)


def retarget_skeleton(anim, body: BodyModel | None = None, fps: float | None = 30.0,
                      joint_map: str | JointMap | dict | None = "auto", units: str | float | None = None,
                      up: str = "y", subject: str | None = None, sequence: str | None = None, iters: int = 200,
                      progress=None, **fit_kwargs):
    """Import an animated skeleton (anything with ``names``, ``parents``, ``fps``, ``source`` and
    ``forward_kinematics() -> (positions (F, N, 3), global rotations (F, N, 3, 3))``: a parsed BVH, an
    ASF/AMC pair) as a :class:`MotionSequence`; arguments as :func:`retarget_bvh`."""
    from training.data.bvh import to_y_up, unit_scale
    from training.data.motion import MotionSequence
    path = anim.source or "skeleton"
    names = list(anim.names)
    jmap = resolve_joint_map(names, joint_map, source=path)
    pos, grot = anim.forward_kinematics()
    if units is None:
        scale = jmap.units if jmap.units is not None else guess_units(pos, names, jmap)
    else:
        scale = unit_scale(units)
    pos = to_y_up(pos * scale, up)
    grot = to_y_up(np.eye(3), up).T @ grot              # orientations in the y-up world
    pos, out_fps = resample_positions(pos, anim.fps, fps)
    grot, _ = _resample_rotations(grot, anim.fps, fps)
    report: dict = {}
    body = body or default_body()
    targets, weights = canonical_targets(pos, names, jmap, rotations=grot, parents=list(anim.parents), report=report,
                                         rest=body_rest_joints(body))
    res = fit_positions(targets, weights, body=body, fps=out_fps, iters=iters, progress=progress, **fit_kwargs)
    subj, seq = ids_from_path(path)
    ms = MotionSequence(res.rotmats, res.transl, res.shape, body.name, out_fps, subject or subj, sequence or seq,
                        source=path, fit_error_mm=res.per_joint_mm)
    bound = body.name == "skeleton" or body.name == "anny"
    skip = TORSO_JOINTS if report.get("rest") is not None and report["rest"].anchors else ()
    warn = res.warnings(mean_mm=FIT_BOUND_MEAN_MM if bound else None, joint_mm=FIT_BOUND_JOINT_MM if bound else None,
                        skip_joints=skip)
    ms.extra.update(fit=res, joint_map=jmap.name, units_m=scale, src_fps=anim.fps, rest=report.get("rest"),
                    warnings=warn)
    return ms


def body_rest_joints(body: BodyModel) -> np.ndarray:
    """(24, 3) rest joints of ``body`` at shape 0 (the canonical template when it has none)."""
    try:
        with torch.no_grad():
            return body.rest_joints(torch.zeros(1, int(body.num_shape)))[0].double().numpy()
    except NotImplementedError:
        return skeleton.REST_JOINTS.copy()


def _resample_rotations(rot: np.ndarray, src_fps: float, fps: float | None) -> tuple[np.ndarray, float]:
    """(T, N, 3, 3) rotations at ``fps``: nearest lower frame blended linearly, re-orthonormalised (SVD)."""
    r, f = resample_positions(rot, src_fps, fps)
    if r is rot:
        return r, f
    u, _, vt = np.linalg.svd(r)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt, f
