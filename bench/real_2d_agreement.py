"""2D agreement of the perception output with a real-trained reference (MediaPipe Pose) on real photos or a video.

    .venv/bin/python -m bench.real_2d_agreement                          # the shared real-dev photos
    .venv/bin/python -m bench.real_2d_agreement --images DIR --reference mediapipe_static.jsonl --out res.json
    .venv/bin/python -m bench.real_2d_agreement --video clip.mp4 --reference clip_mediapipe.jsonl
    .venv/bin/python -m bench.real_2d_agreement --per-frame-model other/mocap_spin.onnx --hfov 40,60,90

Every image (or video frame) goes through the real :class:`~pose_estimation_ros.perception.pipeline.PerceptionPipeline`
(default detector, the packaged per-frame model or ``--per-frame-model``; photos: temporal model off, one fresh
stream per photo; a video: one stream with causal PoseBERT), with pinhole intrinsics from the image size and a
horizontal field of view ``--hfov`` (default 60 deg, the node's ``fallback_hfov_deg``). The per-frame model has a
weak-perspective camera: its root lands on the same pixel whatever the focal length and the image scale around it
matches it (``kinematics.weak_perspective_to_translation``), so the field of view only changes the small
perspective term of joints in front of / behind the root (``--hfov 40,60,90`` measures it).

Each estimated person's 3D joints are projected exactly as the runtime's markers and REP-155 ``skeleton2d`` do
(``PoseEstimate.joints_2d`` = ``kinematics.project_points`` of the camera-frame joints). Estimated people are matched
to reference people one-to-one by the Hungarian method on box IoU (estimate: the detector's box; reference: its
landmarks' box by the blazepose rule, ``bench.detectors.landmark_box``; a pair needs IoU >= ``--match-iou``, 0.3 as in
``bench.detectors``). On the reference's common 14 joints (``common14``, mapped to our SMPL-24 joints by name; the
reference's ``neck`` is its shoulder midpoint, ours sits a little higher: a small bias is part of the numbers), every
joint the reference sees (confidence >= ``--min-conf``, inside the image) is scored:

  PCK@0.1 / @0.2  fraction within 0.1 / 0.2 x the reference person's box size (max side of its box: bbox-normalised,
                  not torso-normalised, because most real-dev people show no hips)
  err px          mean 2D distance in pixels;  err / height: the same over the reference box's height

Rows: ``model`` = the pipeline's output; ``box template`` = a standing person, arms hanging, scaled into each
estimated person's detector box (a pose that ignores the image beyond the box: the floor a model must beat);
``detector keypoints`` = the detector's own COCO-17 keypoints (blazepose: the same BlazePose landmark model as
the reference, so NOT an independent check, an upper bound on what matching and joint definitions allow).
"Unmatched estimates" are people we report where the reference has nobody (the reference misses people too:
counted apart, not as errors), split into photos where the reference has nobody and extra people beside a
reference person; on the real-dev photos each is also checked against the hand-drawn person boxes of
``bench.detectors.HAND_BOXES`` (on a person when at least half its box lies inside one: a box on an arm counts).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

COMMON14: tuple[str, ...] = ("pelvis", "neck", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
                             "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle")
# common14 joint -> our SMPL-24 joint name (pose_estimation_ros.skeleton.JOINT_NAMES).
SMPL_NAME_OF_COMMON14: tuple[str, ...] = ("pelvis", "neck", "left_shoulder", "right_shoulder", "left_elbow",
                                          "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                                          "left_knee", "right_knee", "left_ankle", "right_ankle")
# common14 joint <- COCO-17 keypoints averaged (the detector's keypoints): pelvis = hip midpoint, neck = shoulders'.
COCO_OF_COMMON14: tuple[tuple[int, ...], ...] = ((11, 12), (5, 6), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (12,),
                                                 (13,), (14,), (15,), (16,))
DEFAULT_HFOV_DEG = 60.0        # = config/perception.yaml fallback_hfov_deg
MATCH_IOU = 0.3                # = bench.detectors' IoU for a correct detection
ON_PERSON_IOA = 0.5            # an unmatched estimate this much inside a hand-drawn person box is on that person
MIN_REF_CONF = 0.5             # a reference joint is scored when its confidence (visibility) reaches this
PCK_THRESHOLDS = (0.1, 0.2)
METHODS = ("model", "box template", "detector keypoints")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


# ----------------------------------------------------------------------------------------------------------- data
@dataclass
class RefPerson:
    """One reference person: ``joints (14, 2)`` px (common14 order), ``conf (14,)``, ``box (4,)`` xyxy px."""

    joints: np.ndarray
    conf: np.ndarray
    box: np.ndarray


@dataclass
class RefFrame:
    """The reference people of one image / video frame (``key``: file name, or frame index for a video)."""

    key: str | int
    width: int
    height: int
    people: list[RefPerson]


@dataclass
class EstPerson:
    """One estimated person: ``joints (14, 2)`` px in common14 order (NaN = not given), ``box (4,)`` xyxy px."""

    joints: np.ndarray
    box: np.ndarray
    score: float = 1.0


def _landmark_box(lm2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """Box (4,) of 33 normalised BlazePose landmarks, by the rule of the blazepose backend (as bench.detectors)."""
    from bench.detectors import landmark_box
    return np.asarray(landmark_box(lm2d.tolist(), width, height), np.float64)


def joints_box(joints: np.ndarray, conf: np.ndarray, width: int, height: int, min_conf: float = MIN_REF_CONF,
               margin: float = 0.1) -> np.ndarray:
    """Box (4,) xyxy of the confident joints ``(K, 2)`` (all finite ones when none is confident), ``margin`` of its
    size added on every side, clipped to the image. Used for a reference person without 33 landmarks."""
    ok = np.isfinite(joints).all(1) & (conf >= min_conf)
    if not ok.any():
        ok = np.isfinite(joints).all(1)
    if not ok.any():
        raise ValueError("reference person has no finite joint")
    lo, hi = joints[ok].min(0), joints[ok].max(0)
    m = margin * (hi - lo)
    lo, hi = lo - m, hi + m
    return np.array([max(lo[0], 0.0), max(lo[1], 0.0), min(hi[0], width), min(hi[1], height)], np.float64)


def _person_from_record(j14: list, lm2d: list | None, width: int, height: int, where: str) -> RefPerson:
    a = np.asarray(j14, np.float64)
    if a.shape != (14, 3):
        raise ValueError(f"{where}: j14_2d must be 14 x (x_norm, y_norm, conf), got shape {a.shape}")
    joints = a[:, :2] * np.array([width, height], np.float64)
    conf = a[:, 2]
    if lm2d is not None:
        lm = np.asarray(lm2d, np.float64)
        if lm.shape[0] != 33 or lm.shape[1] < 2:
            raise ValueError(f"{where}: lm2d must be 33 BlazePose landmarks, got shape {lm.shape}")
        box = _landmark_box(lm, width, height)
    else:
        box = joints_box(joints, conf, width, height)
    return RefPerson(joints, conf, box)


def load_reference(path: str | Path, key: str = "name") -> tuple[dict[str | int, RefFrame], dict]:
    """Reference jsonl (``peer_mediapipe/run_pose.py`` layout) -> ``{key: RefFrame}`` and its ``meta`` line.

    One JSON object per line: ``meta`` / ``summary`` lines are skipped; every other line needs ``width``,
    ``height``, ``detected`` and ``key`` (``name`` for photos, ``frame`` for a video); a detected line needs
    ``j14_2d`` (14 x [x_norm, y_norm, conf]) of one person or a list of them; ``lm2d`` (33 landmarks) when present
    gives the person's box. Raises ValueError naming the file, line and missing key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"reference file {path} is empty")
    frames: dict[str | int, RefFrame] = {}
    meta: dict = {}
    common = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not JSON ({e.msg})") from e
        if "meta" in r:
            meta = r["meta"]
            common = meta.get("common14_names")
            if common is not None and tuple(common) != COMMON14:
                raise ValueError(f"{where}: common14_names {common} differ from the expected {list(COMMON14)}")
            continue
        if "summary" in r:
            continue
        for k in ("width", "height", "detected", key):
            if k not in r:
                raise ValueError(f"{where}: missing key '{k}'")
        w, h = int(r["width"]), int(r["height"])
        people = []
        if r["detected"]:
            j14 = r.get("j14_2d")
            if j14 is None:
                raise ValueError(f"{where}: detected but no 'j14_2d'")
            multi = np.asarray(j14, dtype=object).ndim == 3 or (len(j14) and len(j14[0]) and
                                                                isinstance(j14[0][0], list))
            lms = r.get("lm2d")
            if multi:
                lms = lms if lms is not None else [None] * len(j14)
                people = [_person_from_record(j, lm, w, h, where) for j, lm in zip(j14, lms)]
            else:
                people = [_person_from_record(j14, lms, w, h, where)]
        k = r[key] if key == "name" else int(r[key])
        frames[k] = RefFrame(k, w, h, people)
    if not frames:
        raise ValueError(f"reference file {path} has no image/frame lines")
    return frames, meta


# ------------------------------------------------------------------------------------------------ joint mappings
def common_from_smpl(joints_2d: np.ndarray) -> np.ndarray:
    """Our SMPL-24 joints ``(24, 2)`` px -> common14 ``(14, 2)``."""
    from pose_estimation_ros import skeleton
    idx = [skeleton.JOINT_NAMES.index(n) for n in SMPL_NAME_OF_COMMON14]
    return np.asarray(joints_2d, np.float64)[idx]


def common_from_coco(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 ``(17, 3)`` (x px, y px, conf) -> common14 ``(14, 2)`` (pelvis/neck: hip/shoulder midpoints)."""
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (17, 3):
        raise ValueError(f"COCO-17 keypoints must have shape (17, 3), got {kp.shape}")
    return np.stack([kp[list(src), :2].mean(0) for src in COCO_OF_COMMON14])


# --------------------------------------------------------------------------------------------- matching, scoring
def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a (N, 4)`` with ``b (M, 4)`` (xyxy) -> ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda c: np.clip(c[:, 2] - c[:, 0], 0, None) * np.clip(c[:, 3] - c[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def box_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection of boxes ``a (N, 4)`` with ``b (M, 4)`` over the area of ``a`` -> ``(N, M)`` (0 for empty a)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area = (np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None))[:, None]
    return np.where(area > 0, iw * ih / np.where(area > 0, area, 1.0), 0.0)


def match_people(est_boxes: np.ndarray, ref_boxes: np.ndarray, min_iou: float = MATCH_IOU) -> list[tuple[int, int]]:
    """One-to-one (estimate i, reference j) pairs maximising the summed IoU (Hungarian), each with IoU >= min_iou."""
    from scipy.optimize import linear_sum_assignment
    m = box_iou(est_boxes, ref_boxes)
    if m.size == 0:
        return []
    gain = np.where(m >= min_iou, m, 0.0)
    rows, cols = linear_sum_assignment(-gain)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols) if m[i, j] >= min_iou)


@dataclass
class FrameScore:
    """One image's numbers for one method. ``errors`` / ``errors_size`` / ``errors_height``: per scored joint, px and
    as fractions of the reference person's box size (max side) / box height."""

    key: str | int
    ref_people: int
    estimated: int
    found: int
    errors: list[float] = field(default_factory=list)
    errors_size: list[float] = field(default_factory=list)
    errors_height: list[float] = field(default_factory=list)
    missing_joints: int = 0   # scored reference joints the estimate did not give (NaN): counted as misses in PCK
    unmatched_on_person: int | None = None   # unmatched estimates on a person the reference missed (hand boxes)

    @property
    def unmatched(self) -> int:
        return self.estimated - self.found


def score_frame(estimates: list[EstPerson], ref: RefFrame, min_iou: float = MATCH_IOU,
                min_conf: float = MIN_REF_CONF, people_boxes: np.ndarray | None = None) -> FrameScore:
    """Match ``estimates`` to ``ref.people`` and collect the errors of every scored reference joint.

    A reference joint is scored when its confidence is >= ``min_conf`` and it lies inside the image; an estimate
    without that joint (NaN) counts as a miss (``missing_joints``, infinite error for PCK, left out of the means).
    ``people_boxes (K, 4)``: every person in the image (e.g. drawn by hand); an unmatched estimate whose box lies at
    least ``ON_PERSON_IOA`` inside one (intersection over the estimate's area: a box on an arm counts) is on a person
    the reference missed (``unmatched_on_person``), not a phantom.
    """
    s = FrameScore(ref.key, len(ref.people), len(estimates), 0)
    pairs = []
    if estimates and ref.people:
        pairs = match_people(np.stack([e.box for e in estimates]), np.stack([p.box for p in ref.people]), min_iou)
    s.found = len(pairs)
    if people_boxes is not None:
        free = [e.box for i, e in enumerate(estimates) if i not in {a for a, _ in pairs}]
        pb = np.asarray(people_boxes, np.float64).reshape(-1, 4)
        s.unmatched_on_person = int((box_ioa(np.stack(free), pb).max(1) >= ON_PERSON_IOA).sum()) \
            if free and len(pb) else 0
    for i, j in pairs:
        p, e = ref.people[j], estimates[i]
        size = float(max(p.box[2] - p.box[0], p.box[3] - p.box[1]))
        height = float(p.box[3] - p.box[1])
        inside = (p.joints[:, 0] >= 0) & (p.joints[:, 0] < ref.width) & (p.joints[:, 1] >= 0) & \
                 (p.joints[:, 1] < ref.height)
        scored = inside & (p.conf >= min_conf) & np.isfinite(p.joints).all(1)
        d = np.linalg.norm(np.asarray(e.joints, np.float64) - p.joints, axis=1)
        for k in np.nonzero(scored)[0]:
            if not np.isfinite(d[k]):
                s.missing_joints += 1
                continue
            s.errors.append(float(d[k]))
            s.errors_size.append(float(d[k]) / size)
            s.errors_height.append(float(d[k]) / height)
    return s


def summarize(frames: Iterable[FrameScore]) -> dict:
    """Totals over frames: reference people, found, estimates unmatched (in frames with / without a reference
    person), scored joints, PCK@0.1/0.2 (pooled over joints), mean error px / per height (None without joints)."""
    frames = list(frames)
    errs = np.array([x for f in frames for x in f.errors_size])
    missing = sum(f.missing_joints for f in frames)
    n = len(errs) + missing
    out = {"frames": len(frames), "ref_people": sum(f.ref_people for f in frames),
           "found": sum(f.found for f in frames), "estimated": sum(f.estimated for f in frames),
           "unmatched_no_ref": sum(f.unmatched for f in frames if f.ref_people == 0),
           "unmatched_beside_ref": sum(f.unmatched for f in frames if f.ref_people > 0),
           "unmatched_on_person": (sum(f.unmatched_on_person for f in frames)
                                   if frames and all(f.unmatched_on_person is not None for f in frames) else None),
           "joints": n}
    for t in PCK_THRESHOLDS:
        out[f"pck@{t}"] = float((errs <= t).sum() / n) if n else None
    px = [x for f in frames for x in f.errors]
    hh = [x for f in frames for x in f.errors_height]
    out["err_px"] = float(np.mean(px)) if px else None
    out["err_height"] = float(np.mean(hh)) if hh else None
    return out


# ------------------------------------------------------------------------------------------- running the pipeline
class Pipeline(Protocol):
    """What the runner needs of :class:`PerceptionPipeline` (tests pass a scripted one)."""

    def process(self, rgb: np.ndarray, stamp_ns: int, intr, now_ns: int | None = None): ...

    def reset(self) -> list[int]: ...


# A standing person facing the camera, arms hanging (2D, metres, u right = the body's left, v down), from the
# skeleton's rest joints with the arm chains turned down; its box spans the head top to the foot soles.
def _standing_template() -> np.ndarray:
    from pose_estimation_ros import skeleton
    j = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
    xy = skeleton.REST_JOINTS[:, :2].copy()
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sh = xy[j[f"{side}_shoulder"]]
        for name, (dx, dy) in (("elbow", (0.05, -0.27)), ("wrist", (0.08, -0.52)), ("hand", (0.09, -0.60))):
            xy[j[f"{side}_{name}"]] = sh + (sgn * dx, dy)
    uv = np.stack([xy[:, 0], -xy[:, 1]], axis=1)
    top = uv[j["head"], 1] - 0.12     # head top above the head joint
    bottom = uv[:, 1].max() + 0.03    # soles below the foot joints
    return (uv - [0.0, top]) / (bottom - top)   # height 1, top at v = 0, centred on the pelvis (u = 0)


STANDING_TEMPLATE = _standing_template()   # (24, 2), person height = 1
BOX_MARGIN = 0.05   # the blazepose / reference box adds 5 % of the person's size on every side (landmarks_box)


def box_template(box: np.ndarray, margin: float = BOX_MARGIN) -> np.ndarray:
    """SMPL-24 joints ``(24, 2)`` px of the standing template filling the person box ``(4,)`` xyxy (its ``margin``
    taken off): a pose that ignores the image beyond the detector's box, the floor a model must beat."""
    x0, y0, x1, y1 = (float(v) for v in box)
    h = (y1 - y0) / (1.0 + 2.0 * margin)
    top = y0 + margin * h
    return STANDING_TEMPLATE * h + [0.5 * (x0 + x1), top]


class WithoutKeypoints:
    """A per-frame :class:`OnnxModel` whose keypoint input is always "none given" (zeros): a keypoint-input model's
    image-only fallback, the check that does not inherit the reference's own landmark model through its input."""

    def __init__(self, model) -> None:
        self._model = model

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        from pose_estimation_ros.perception.metadata import PER_FRAME_KEYPOINTS
        if PER_FRAME_KEYPOINTS in feeds:
            feeds = {**feeds, PER_FRAME_KEYPOINTS: np.zeros_like(feeds[PER_FRAME_KEYPOINTS])}
        return self._model.run(feeds)


def estimates_of(result, method: str) -> list[EstPerson]:
    """The estimated people of one :class:`FrameResult` as ``method`` (one of METHODS) sees them."""
    out = []
    for e in result.estimates:
        box = np.asarray(e.det_box, np.float64) if e.det_box is not None else np.asarray(e.box.as_xyxy(), np.float64)
        if method == "model":
            joints = common_from_smpl(e.joints_2d)
        elif method == "box template":
            joints = common_from_smpl(box_template(box))
        elif method == "detector keypoints":
            kp = result.keypoints.get(e.person_id)
            if kp is None:
                joints = np.full((14, 2), np.nan)
            else:
                joints = common_from_coco(kp)
        else:
            raise ValueError(f"unknown method '{method}' (valid: {', '.join(METHODS)})")
        out.append(EstPerson(joints, box, float(e.score)))
    return out


def _read_rgb(path: Path) -> np.ndarray:
    import cv2
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def video_frames(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, rgb (H, W, 3) uint8)`` for every frame of a video file (ValueError if it does not open)."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}")
    i = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield i, np.ascontiguousarray(bgr[..., ::-1])
            i += 1
    finally:
        cap.release()


def run_frames(pipeline: Pipeline, frames: Iterable[tuple[str | int, np.ndarray]], reference: dict[str | int, RefFrame],
               hfov_deg: float = DEFAULT_HFOV_DEG, stream: bool = False, period_ns: int = 33_333_333,
               min_iou: float = MATCH_IOU, min_conf: float = MIN_REF_CONF,
               people_boxes: dict[str | int, np.ndarray] | None = None,
               progress: Callable[[Iterable], Iterable] | None = None) -> tuple[dict[str, list[FrameScore]], list[str]]:
    """Run ``pipeline`` on ``(key, rgb)`` frames and score each against ``reference[key]``.

    ``stream`` False (photos): ``reset()`` before every frame (each photo its own stream); True (video): one stream,
    stamps ``period_ns`` apart. Frames without a reference line are run (a video's temporal state needs them)
    but not scored. ``people_boxes``: every person of each frame (hand-drawn), see :func:`score_frame`. Returns ``{method: [FrameScore]}`` and notes (frames without a reference, faults).
    """
    from pose_estimation_ros.camera_model import Intrinsics
    scores: dict[str, list[FrameScore]] = {m: [] for m in METHODS}
    notes: list[str] = []
    it = progress(frames) if progress else frames
    for k, (key, rgb) in enumerate(it):
        h, w = rgb.shape[:2]
        intr = Intrinsics.from_fov(w, h, hfov_deg)
        if not stream:
            pipeline.reset()
        res = pipeline.process(rgb, (k + 1) * period_ns, intr)
        ref = reference.get(key)
        if ref is None:
            notes.append(f"{key}: no reference line, not scored")
            continue
        if (ref.width, ref.height) != (w, h):
            raise ValueError(f"{key}: reference is for {ref.width}x{ref.height}, the image is {w}x{h}")
        if res.outcome not in ("ok", "warming"):
            notes.append(f"{key}: pipeline outcome '{res.outcome}' ({res.status}): scored as no estimate")
        for m in METHODS:
            est = estimates_of(res, m) if res.outcome == "ok" else []
            scores[m].append(score_frame(est, ref, min_iou, min_conf,
                                         None if people_boxes is None else people_boxes.get(key)))
    missing = set(reference) - {f.key for f in scores["model"]}
    if missing:
        notes.append(f"{len(missing)} reference lines without an image/frame: {sorted(map(str, missing))[:5]}")
    return scores, notes


# ------------------------------------------------------------------------------------------------------- output
def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def summary_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table of :func:`summarize` results, one row per (label, summary)."""
    lines = ["| run | reference people found | joints scored | PCK@0.1 | PCK@0.2 | mean err px | err / height "
             "| estimates without a reference person: in frames with none / beside one (of them on a hand-boxed person) |",
             "|---|---|---|---|---|---|---|---|"]
    for label, s in rows:
        lines.append(f"| {label} | {s['found']}/{s['ref_people']} | {s['joints']} | {_f(s['pck@0.1'])} | "
                     f"{_f(s['pck@0.2'])} | {_f(s['err_px'], 1)} | {_f(s['err_height'])} | "
                     f"{s['unmatched_no_ref']} / {s['unmatched_beside_ref']}"
                     + (f" ({s['unmatched_on_person']} of {s['unmatched_no_ref'] + s['unmatched_beside_ref']})"
                        if s.get("unmatched_on_person") is not None else "") + " |")
    return "\n".join(lines)


def frame_table(frames: list[FrameScore]) -> str:
    """Markdown table per image (only images with a reference person or an estimate)."""
    lines = ["| image | ref people | estimated | found | joints | PCK@0.1 | PCK@0.2 | mean err px | err / height |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in frames:
        if not f.ref_people and not f.estimated:
            continue
        s = summarize([f])
        lines.append(f"| {f.key} | {f.ref_people} | {f.estimated} | {f.found} | {s['joints']} | {_f(s['pck@0.1'])} | "
                     f"{_f(s['pck@0.2'])} | {_f(s['err_px'], 1)} | {_f(s['err_height'])} |")
    return "\n".join(lines)


def _shared_real_dev() -> Path | None:
    for c in (os.environ.get("POSE_SHARED_DATA", ""), ROOT / ".." / "shared" / "data", "/work/shared/data"):
        if c and (Path(c) / "real-dev" / "images").is_dir():
            return Path(c) / "real-dev"
    return None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.real_2d_agreement", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, help="folder of photos (default: the shared real-dev/images)")
    ap.add_argument("--video", type=Path, help="a video file (needs --reference keyed by 'frame')")
    ap.add_argument("--reference", type=Path, help="reference jsonl (default: real-dev/mediapipe_static.jsonl)")
    ap.add_argument("--per-frame-model", default="", help="per-frame ONNX ('' = the packaged models/mocap_spin.onnx)")
    ap.add_argument("--temporal-model", default="", help="video only: '' = packaged causal PoseBERT, 'none' = off")
    ap.add_argument("--detector", default="", help="detector backend ('' = the default)")
    ap.add_argument("--keypoint-fit", default="limbs", choices=("off", "limbs", "camera_limbs"),
                    help="the pipeline's keypoint_fit (node default limbs; --no-keypoints turns it off)")
    ap.add_argument("--flip-test", action="store_true", help="the pipeline's flip_test (node default off)")
    ap.add_argument("--max-people", type=int, default=5, help="the pipeline's max_people (node default 5)")
    ap.add_argument("--hfov", default=str(DEFAULT_HFOV_DEG),
                    help="horizontal field of view in degrees; a comma list runs each (e.g. 40,60,90)")
    ap.add_argument("--match-iou", type=float, default=MATCH_IOU)
    ap.add_argument("--min-conf", type=float, default=MIN_REF_CONF)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads of the models")
    ap.add_argument("--limit", type=int, default=0, help="first N photos / frames only (0 = all)")
    ap.add_argument("--no-keypoints", action="store_true",
                    help="a keypoint-input per-frame model gets no keypoints (its image-only fallback)")
    ap.add_argument("--no-hand-boxes", action="store_true",
                    help="real-dev: do not check unmatched estimates against bench.detectors.HAND_BOXES")
    ap.add_argument("--per-image", action="store_true", help="also print the per-image table of the model")
    ap.add_argument("--out", type=Path, help="write all numbers as JSON")
    args = ap.parse_args(argv)
    if args.video is not None and args.images is not None:
        ap.error("give --images or --video, not both")
    if args.video is not None and args.reference is None:
        ap.error("--video needs --reference (a jsonl keyed by 'frame')")
    if args.video is not None and not args.video.is_file():
        ap.error(f"video {args.video} does not exist")
    if args.video is None:
        dev = _shared_real_dev()
        if args.images is None:
            if dev is None:
                ap.error("no --images and no shared real-dev set (set POSE_SHARED_DATA)")
            args.images = dev / "images"
        if args.reference is None:
            cand = args.images.parent / "mediapipe_static.jsonl"
            if not cand.is_file():
                ap.error(f"no --reference and no {cand}")
            args.reference = cand
        if not args.images.is_dir():
            ap.error(f"image folder {args.images} does not exist")
    try:
        args.hfovs = [float(v) for v in str(args.hfov).split(",") if v.strip()]
    except ValueError:
        ap.error(f"--hfov must be numbers separated by commas, got '{args.hfov}'")
    for v in args.hfovs:
        if not 1.0 < v < 179.0:
            ap.error(f"--hfov {v} outside (1, 179) degrees")
    if not args.hfovs:
        ap.error("--hfov is empty")
    if args.limit < 0:
        ap.error(f"--limit must be >= 0, got {args.limit}")
    return args


def main(argv: list[str] | None = None, pipeline: Pipeline | None = None) -> dict:
    """CLI entry; ``pipeline`` replaces the real one (tests). Returns what ``--out`` writes."""
    from tqdm import tqdm
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
    args = _parse(argv)
    video = args.video is not None
    reference, meta = load_reference(args.reference, key="frame" if video else "name")
    if pipeline is None:
        cfg = PerceptionConfig(per_frame_model=args.per_frame_model,
                               temporal_model=args.temporal_model if video else "none", temporal_lag=0,
                               detector=args.detector, max_people=args.max_people, threads=args.threads,
                               keypoint_fit="off" if args.no_keypoints else args.keypoint_fit,
                               flip_test=args.flip_test)
        pipeline = PerceptionPipeline(cfg)
        if args.no_keypoints:
            pipeline.per_frame = WithoutKeypoints(pipeline.per_frame)
    per_frame = str(getattr(pipeline, "per_frame_path", args.per_frame_model or "?"))
    trained = getattr(getattr(getattr(pipeline, "per_frame", None), "meta", None), "trained", None)
    kp_input = getattr(getattr(getattr(pipeline, "per_frame", None), "meta", None), "keypoint_input", None)
    sha = getattr(getattr(getattr(pipeline, "per_frame", None), "meta", None), "onnx_sha256", None)
    result = {"source": str(args.video if video else args.images), "reference": str(args.reference),
              "reference_tool": meta.get("tool"), "per_frame_model": per_frame, "per_frame_sha256": sha,
              "per_frame_trained": trained, "keypoint_input": kp_input,
              "keypoints_fed": bool(kp_input not in (None, "none") and not args.no_keypoints),
              "keypoint_fit": getattr(getattr(pipeline, "cfg", None), "keypoint_fit", None),
              "detector": getattr(pipeline, "detector_name", args.detector or "default"),
              "temporal": bool(getattr(pipeline, "temporal", None)) if video else False,
              "normalisation": "PCK: reference box max side; error fraction: reference box height",
              "match": f"Hungarian on box IoU >= {args.match_iou}", "min_conf": args.min_conf, "runs": []}
    period = 33_333_333
    if video:   # the video's own frame rate gives the stamps
        import cv2
        cap = cv2.VideoCapture(str(args.video))
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        if fps and math.isfinite(fps) and fps > 0:
            period = int(round(1e9 / fps))
    else:
        paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths = paths[:args.limit] if args.limit else paths
        if not paths:
            raise SystemExit(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {args.images}")
    people_boxes = None
    if not video and not args.no_hand_boxes:   # the real-dev photos: every person drawn by hand (bench.detectors)
        from bench.detectors import HAND_BOXES
        if all(p.name in HAND_BOXES for p in paths):
            people_boxes = {p.name: np.asarray(HAND_BOXES[p.name], np.float64) for p in paths}
    rows = []
    for hfov in args.hfovs:
        if video:
            frames_iter: Iterable = ((i, rgb) for i, rgb in video_frames(args.video)
                                     if not args.limit or i < args.limit)
            if hasattr(pipeline, "reset"):
                pipeline.reset()   # every --hfov run starts the video's stream afresh
        else:
            frames_iter = ((p.name, _read_rgb(p)) for p in paths)
        scores, notes = run_frames(pipeline, frames_iter, reference, hfov_deg=hfov, stream=video, period_ns=period,
                                   min_iou=args.match_iou, min_conf=args.min_conf, people_boxes=people_boxes,
                                   progress=lambda it: tqdm(it, desc=f"hfov {hfov:g}", unit="frame", file=sys.stderr))
        summ = {m: summarize(scores[m]) for m in METHODS}
        for m in METHODS:
            rows.append((f"{m}, hfov {hfov:g}" if len(args.hfovs) > 1 else m, summ[m]))
        result["runs"].append({"hfov_deg": hfov, "summary": summ, "notes": notes,
                               "frames": {m: [dict(asdict(f), unmatched=f.unmatched) for f in scores[m]]
                                          for m in METHODS}})
        if args.per_image:
            print(f"\nper image, model, hfov {hfov:g}:\n")
            print(frame_table(scores["model"]))
        for n in notes:
            print(f"note: {n}", file=sys.stderr)
    print(f"\nper-frame model: {per_frame} (sha256 {str(sha)[:12]}, trained: {trained}, keypoint input: {kp_input}"
          f"{', withheld' if args.no_keypoints and kp_input not in (None, 'none') else ''}); keypoint fit: "
          f"{result['keypoint_fit']}; detector: "
          f"{result['detector']}; {'video, temporal ' + ('on' if result['temporal'] else 'off') if video else 'photos, temporal off'}\n")
    print(summary_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
