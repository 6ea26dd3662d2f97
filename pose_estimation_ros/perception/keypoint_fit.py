"""Fit the model's output to the detector's 2D keypoints of the same frame: its limbs, optionally its camera first.

``keypoint_fit: limbs`` (the default) runs :func:`fit_limbs`; ``camera_limbs`` runs :func:`fit_weak_camera` before
the window, then :func:`fit_limbs`. The camera refit is not the default: it adds little to the 2D agreement
(real-dev mean error 23.1 -> 22.3 px) and moves the person's distance with the keypoints' extent, which on the
rendered walk sequence placed the person 0.12 m farther on average (depth bias +0.02 -> +0.14 m; farther is the
unsafe direction), while it lowers the per-frame root jitter there (215 -> 144 mm/frame^2).

**Camera** (:func:`fit_weak_camera`).

The model regresses its camera ``(s, tx, ty)`` from the crop together with the pose, and its projected joints land
some pixels away from the keypoints the detector measured on this frame (on real photos ~30 px against ~8 px for the
detector's own keypoints, ``bench.real_2d_agreement``). With the 3D pose held fixed, the camera that best explains
the keypoints is a linear least-squares problem: with ``a = s``, ``b = s tx``, ``c = s ty`` the weak-perspective
projection of a root-relative joint ``(X, Y, Z)`` is ``(a X + b, a Y + c)`` (crop coordinates in ``[-1, 1]``,
:func:`pose_estimation_ros.kinematics.weak_perspective_to_translation`). Minimised over ``(a, b, c)``::

    sum_j w_j [(a X_j + b - u_j)^2 + (a Y_j + c - v_j)^2]  +  lam * W [r^2 (a - a0)^2 + (b - b0)^2 + (c - c0)^2]

``w_j`` = the keypoint's confidence (keypoints under ``min_confidence`` left out), ``W = sum_j w_j``, ``r^2`` = the
weighted mean squared distance of the used joints from their centroid (so the prior on the scale weighs like a
shift of the body's extent), ``(a0, b0, c0)`` = the model's camera. This is the camera step of SMPLify (SPIN's
in-the-loop fit) without the pose step: bone lengths and joint angles stay the model's. The person's distance
follows from the refitted scale (``Tz = 2 fx / (box s)``), so the body's 2D size on this frame sets it.

Joints used: shoulders, elbows, wrists, hips, knees, ankles (COCO-17 5-16 and their SMPL-24 namesakes); the face
keypoints have no joint of the same definition. COCO hips sit a few centimetres from SMPL's hip joints; the fit's
prior and the 12 points keep that offset small against the model's own error.

**Limbs** (:func:`fit_limbs`). The camera fit leaves each limb where the model put it; on real photos most of the
2D disagreement is there. Parents first, each elbow, wrist, knee and ankle with a confident keypoint is turned
about its (already fitted) parent towards the keypoint back-projected at the depth the model gave the joint, and
kept at the model's bone length (:func:`bone_toward_ray`). The depth stays the model's, the image direction becomes
the keypoint's: one step of a bone-length fit. Solving exactly for the point of the ray at bone length (Taylor's
2000 reconstruction) matched the keypoints more closely but is ill-conditioned when a bone lies nearly in the image
plane (the depth swings between its two solutions): on the demo clip it doubled the acceleration error of the
temporal path (21.6 -> 40.3 mm/frame^2) and was less accurate in 3D on the held-out renders, while this step leaves
the acceleration error as it was (21.9) and lowers the 3D error on both (docs/perception.md "Keypoint fit").
Joints without a confident keypoint (hands, feet, the torso and head; any joint whose keypoint is missing) keep the
model's offset from their parent. Moving the shoulders and hips as well matched real photos better but raised the
3D error (their COCO and SMPL definitions differ), so they stay the model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import COCO17_NAMES, JOINT_NAMES, PARENTS

__all__ = ["COCO_TO_JOINT", "LIMB_JOINTS", "MIN_CONFIDENCE", "CameraFit", "bone_toward_ray", "confident_limbs",
           "fit_limbs", "fit_weak_camera"]

# (COCO-17 index, SMPL-24 joint index) pairs of the body keypoints: COCO 5..16 share the joints' names.
COCO_TO_JOINT: tuple[tuple[int, int], ...] = tuple((c, JOINT_NAMES.index(COCO17_NAMES[c])) for c in range(5, 17))

# A keypoint is used by either fit from this detector confidence on (MediaPipe's own visibility threshold).
MIN_CONFIDENCE = 0.5
# (COCO-17 index, SMPL-24 joint index) of the limb joints :func:`fit_limbs` moves, parents before children.
LIMB_JOINTS: tuple[tuple[int, int], ...] = tuple((c, JOINT_NAMES.index(n)) for c, n in (
    (7, "left_elbow"), (8, "right_elbow"), (9, "left_wrist"), (10, "right_wrist"),
    (13, "left_knee"), (14, "right_knee"), (15, "left_ankle"), (16, "right_ankle")))


def _subtrees(roots: list[int]) -> tuple[int, ...]:
    """``roots`` and all their descendants, in index order (parents before children)."""
    keep = set(roots)
    for j, p in enumerate(PARENTS):
        if p in keep:
            keep.add(j)
    return tuple(sorted(keep))


# The joints :func:`fit_limbs` can move: the limb joints and everything below them (hands, feet).
_LIMB_SUBTREES = _subtrees([j for _, j in LIMB_JOINTS])
_HAS_KEYPOINT = np.isin(np.arange(len(JOINT_NAMES)), [j for _, j in LIMB_JOINTS])


def confident_limbs(keypoints: np.ndarray) -> list[tuple[int, float, float]]:
    """``(joint index, u, v)`` of each :data:`LIMB_JOINTS` keypoint in ``keypoints`` (17, 3) (any 2D coordinates +
    confidence) that is finite and at least :data:`MIN_CONFIDENCE` confident: what :func:`fit_limbs` may use."""
    out = []
    for c, j in LIMB_JOINTS:
        u, v, conf = (float(t) for t in keypoints[c])
        if np.isfinite(conf) and conf >= MIN_CONFIDENCE and np.isfinite(u) and np.isfinite(v):
            out.append((j, u, v))
    return out


@dataclass(frozen=True)
class CameraFit:
    """Settings of :func:`fit_weak_camera`.

    Attributes:
        min_confidence: keypoints below this confidence are not used.
        min_points: fewer usable keypoints than this: the model's camera is kept.
        prior: ``lam``, the weight of the model's camera against the keypoints (0: keypoints only).
        max_scale_change: a refit scale outside ``[s0 / k, s0 * k]`` is refused (the model's camera is kept).
    """

    min_confidence: float = MIN_CONFIDENCE
    min_points: int = 4
    prior: float = 0.1
    max_scale_change: float = 1.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.min_points < 3:
            raise ValueError(f"min_points must be >= 3 (three unknowns), got {self.min_points}")
        if self.prior < 0:
            raise ValueError(f"prior must be >= 0, got {self.prior}")
        if self.max_scale_change < 1.0:
            raise ValueError(f"max_scale_change must be >= 1, got {self.max_scale_change}")


def fit_weak_camera(joints: np.ndarray, cam: np.ndarray, keypoints: np.ndarray,
                    fit: CameraFit = CameraFit()) -> tuple[np.ndarray, int]:
    """Weak-perspective camera of ``joints`` that best matches ``keypoints``; the model's when it cannot be fitted.

    Args:
        joints: (24, 3) the model's joints (any root; made root-relative here), metres.
        cam: (3,) the model's camera ``(s, tx, ty)``.
        keypoints: (17, 3) COCO-17 keypoints in the crop's ``[-1, 1]`` coordinates and their confidence (the model's
            keypoint input, :func:`.keypoint_input.keypoints_in_crop`; confidence 0 = missing).
        fit: the settings.

    Returns:
        ``(cam (3,) float64, points)``: the refitted camera and the number of keypoints it used (0 when the model's
        camera is returned unchanged: too few confident keypoints, a degenerate or non-finite fit, or a scale change
        beyond ``fit.max_scale_change``).
    """
    joints = np.asarray(joints, np.float64)
    cam0 = np.asarray(cam, np.float64)
    kp = np.asarray(keypoints, np.float64)
    if joints.shape != (len(JOINT_NAMES), 3) or cam0.shape != (3,) or kp.shape != (17, 3):
        raise ValueError(f"fit_weak_camera needs joints (24, 3), cam (3,), keypoints (17, 3); got {joints.shape}, "
                         f"{cam0.shape}, {kp.shape}")
    if not (np.all(np.isfinite(joints)) and np.all(np.isfinite(cam0)) and cam0[0] > 0):
        return cam0.copy(), 0
    ci = np.array([c for c, _ in COCO_TO_JOINT])
    ji = np.array([j for _, j in COCO_TO_JOINT])
    w = kp[ci, 2]
    ok = np.isfinite(w) & (w >= max(fit.min_confidence, 1e-6)) & np.all(np.isfinite(kp[ci, :2]), axis=1)
    n = int(ok.sum())
    if n < fit.min_points:
        return cam0.copy(), 0
    xy = (joints - joints[:1])[ji[ok], :2]           # (n, 2) root-relative X, Y
    uv = kp[ci[ok], :2]
    w = w[ok]
    wsum = float(w.sum())
    r2 = float((w * ((xy - (w[:, None] * xy).sum(0) / wsum) ** 2).sum(1)).sum() / wsum)
    if r2 < 1e-6:                                     # all points at one place: the scale is not observable
        return cam0.copy(), 0
    a0, b0, c0 = cam0[0], cam0[0] * cam0[1], cam0[0] * cam0[2]
    sw = np.sqrt(w)
    # Rows of the stacked least-squares system in (a, b, c).
    rows_x = np.stack([xy[:, 0], np.ones(n), np.zeros(n)], 1) * sw[:, None]
    rows_y = np.stack([xy[:, 1], np.zeros(n), np.ones(n)], 1) * sw[:, None]
    lam = np.sqrt(fit.prior * wsum)
    prior_rows = lam * np.diag([np.sqrt(r2), 1.0, 1.0])
    A = np.concatenate([rows_x, rows_y, prior_rows])
    y = np.concatenate([uv[:, 0] * sw, uv[:, 1] * sw, lam * np.array([np.sqrt(r2) * a0, b0, c0])])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    a, b, c = sol
    if not (np.all(np.isfinite(sol)) and a > 0 and a0 / fit.max_scale_change <= a <= a0 * fit.max_scale_change):
        return cam0.copy(), 0
    return np.array([a, b / a, c / a]), n


def bone_toward_ray(parent: np.ndarray, length: float, origin: np.ndarray, direction: np.ndarray,
                    guess: np.ndarray) -> np.ndarray:
    """The joint at ``length`` from ``parent``, pointing at the ray's point at the depth of ``guess``.

    ``q = origin + t direction`` with ``q_z = guess_z`` (perspective: the keypoint back-projected at the joint's
    estimated depth), then ``parent + length (q - parent) / |q - parent|``. A ray parallel to the image plane
    (``direction_z`` = 0) or ``q`` on the parent leaves ``guess``. All (3,) arrays; ``direction`` need not be unit.
    """
    if abs(float(direction[2])) < 1e-12:
        return np.asarray(guess, np.float64).copy()
    q = origin + (float(guess[2]) - float(origin[2])) / float(direction[2]) * direction
    v = q - parent
    n = float(np.linalg.norm(v))
    return parent + v / n * length if n > 1e-12 else np.asarray(guess, np.float64).copy()


def fit_limbs(joints: np.ndarray, rays: np.ndarray, origins: np.ndarray | None = None) -> np.ndarray:
    """Turn the limbs towards their keypoints' rays, keeping every bone's length (see the module docstring).

    Args:
        joints: (24, 3) joints in the frame of the rays (camera frame, metres).
        rays: (24, 3) the viewing-ray direction of each joint's keypoint; rows of NaN (or joints outside
            :data:`LIMB_JOINTS`) are left to the model. Perspective camera: ``K^-1 (u, v, 1)``.
        origins: (24, 3) ray origins; None = the camera centre (0, 0, 0) for every ray. Orthographic (a crop's
            weak-perspective frame): origins ``(X, Y, 0)``, rays ``(0, 0, 1)``.

    Returns:
        (24, 3) the fitted joints (float64); the root and every joint without a ray keep their offsets from
        their (fitted) parents.
    """
    joints = np.asarray(joints, np.float64)
    rays = np.asarray(rays, np.float64)
    if joints.shape != (len(JOINT_NAMES), 3) or rays.shape != joints.shape:
        raise ValueError(f"fit_limbs needs joints and rays of shape (24, 3), got {joints.shape}, {rays.shape}")
    org = np.zeros_like(joints) if origins is None else np.asarray(origins, np.float64)
    has_ray = (_HAS_KEYPOINT & np.all(np.isfinite(rays), axis=1) & np.any(rays != 0, axis=1)
               & np.all(np.isfinite(org), axis=1))
    out = joints.copy()
    moved = np.zeros(len(JOINT_NAMES), bool)
    for j in _LIMB_SUBTREES:                          # parents come before children; other joints cannot move
        p = PARENTS[j]
        if not (has_ray[j] or moved[p]):
            continue
        guess = out[p] + (joints[j] - joints[p])      # the model's bone, carried by the parent's move
        out[j] = (bone_toward_ray(out[p], float(np.linalg.norm(joints[j] - joints[p])), org[j], rays[j], guess)
                  if has_ray[j] else guess)
        moved[j] = True
    return out
