"""``blazepose``: MediaPipe's BlazePose person detector (+ optional full landmark model -> COCO-17) on LiteRT.

The two ``.tflite`` files come out of the ``mediapipe==0.10.14`` wheel at set-up (``scripts/setup_detector.sh``);
mediapipe itself is not used. Pre/post-processing follows MediaPipe's public graphs:

- ``pose_detection_cpu.pbtxt``: 224x224 letterbox (zero border), pixels to ``[-1, 1]``, SSD anchors (`ssd`),
  sigmoid scores, WEIGHTED NMS at IoU 0.3 on the face boxes; 4 keypoints per detection (0: mid-hip,
  1: full-body size/rotation point, 2: mid-shoulder, 3: upper-body point).
- ``pose_detection_to_roi.pbtxt``: body ROI centred on keypoint 0, side ``2 * |kp1 - kp0| * 1.25``, rotated so
  that kp0 -> kp1 points up.
- ``pose_landmark_by_roi_cpu.pbtxt`` / ``tensors_to_pose_landmarks_and_segmentation.pbtxt``: ROI to a 256x256
  crop in ``[0, 1]``, 39 x (x, y, z, visibility, presence) in crop pixels, pose flag threshold 0.5.

One person per detector ROI: the model is built around one prominent person with a visible face.

Following (MediaPipe's ``pose_landmark_cpu.pbtxt`` tracking loop, ``pose_landmarks_to_roi.pbtxt``): the landmark
model also gives two alignment points (landmarks 33, 34: hip centre and body-size point); the next frame's ROI is
built from them exactly as from the detector's keypoints, so a followed person costs one landmark pass per frame
and no detector pass, until the pose flag drops below 0.5 (`BlazePoseDetector.follow`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .base import Detection, DetectorError, check_rgb, register_detector
from .boxes import clip_boxes, iou, letterbox, nms, weighted_nms
from .paths import detector_model_dir
from .ssd import POSE_DETECTION_ANCHORS, POSE_DETECTION_DECODE, decode_boxes, decode_scores, ssd_anchors

DETECTION_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
DETECTOR_INPUT = 224
LANDMARK_INPUT = 256
ROI_SCALE = 1.25
# BlazePose 33 -> COCO-17: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
BLAZEPOSE_TO_COCO17 = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28], dtype=np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


class _Tflite:
    """One LiteRT interpreter with a single float32 input; ``run(x) -> list of outputs`` in output order."""

    def __init__(self, path: Path, num_threads: int, expect_input: tuple[int, ...]) -> None:
        if not path.is_file():
            raise DetectorError(f"BlazePose model file missing: {path} (run scripts/setup_detector.sh)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise DetectorError("the 'blazepose' detector needs the LiteRT runtime: pip install ai-edge-litert "
                                f"(requirements/runtime.txt) ({e})") from e
        try:
            self._it = Interpreter(model_path=str(path), num_threads=int(num_threads))
            self._it.allocate_tensors()
        except Exception as e:  # LiteRT raises ValueError/RuntimeError on a corrupt flatbuffer
            raise DetectorError(f"cannot load TFLite model {path}: {e}") from e
        ins = self._it.get_input_details()
        shape = tuple(int(s) for s in ins[0]["shape"]) if len(ins) == 1 else ()
        if shape != expect_input:
            raise DetectorError(f"{path.name}: expected one input of shape {expect_input}, got "
                                f"{[tuple(int(s) for s in d['shape']) for d in ins]}")
        self._in = ins[0]["index"]
        self._outs = [d["index"] for d in self._it.get_output_details()]
        self.output_shapes = [tuple(int(s) for s in d["shape"]) for d in self._it.get_output_details()]

    def run(self, x: np.ndarray, outputs: tuple[int, ...] | None = None) -> list[np.ndarray]:
        """Invoke on ``x``; the outputs (in output order), or only those at positions ``outputs`` (others: None,
        not copied out of the interpreter)."""
        self._it.set_tensor(self._in, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return [self._it.get_tensor(i) if outputs is None or k in outputs else None for k, i in enumerate(self._outs)]


def roi_from_keypoints(hip: np.ndarray, size_point: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """Body ROI as a ``(2, 3) float32`` affine map from unit-square crop coords ``(u, v) in [0,1]^2`` to image px.

    Centre ``hip (2,)``, side ``2 * |size_point - hip| * scale``, rotated so that hip -> size_point is the crop's up.
    """
    d = np.asarray(size_point, np.float64) - np.asarray(hip, np.float64)
    dist = float(np.hypot(*d))
    up = d / dist if dist > 1e-6 else np.array([0.0, -1.0])
    down = -up
    right = np.array([down[1], -down[0]])
    side = 2.0 * dist * scale
    a = np.stack([right * side, down * side], axis=1)  # (2, 2): columns = image displacement per unit u, v
    t = np.asarray(hip, np.float64) - 0.5 * (a[:, 0] + a[:, 1])
    return np.concatenate([a, t[:, None]], axis=1).astype(np.float32)


def landmarks_box(xy: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """Person box ``(4,) float32`` xyxy from the 33 BlazePose landmarks ``(33, 2)`` px (not clipped).

    The landmarks stop at the eyes, so the top is raised to the head top, estimated as half the nose-to-shoulder-
    midpoint distance above the nose; then ``margin`` of the size on every side.
    """
    xy = np.asarray(xy, np.float32)
    lo, hi = xy.min(0), xy.max(0)
    neck = 0.5 * (xy[11] + xy[12])
    lo[1] = min(lo[1], xy[0, 1] - 0.5 * float(np.linalg.norm(xy[0] - neck)))
    m = margin * (hi - lo)
    return np.concatenate([lo - m, hi + m]).astype(np.float32)


def refine_from_heatmap(uv: np.ndarray, heatmap: np.ndarray, kernel: int = 7, min_conf: float = 0.5) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: landmarks ``uv (L, 2)`` in [0, 1] of the crop move to the
    sigmoid-weighted mean cell of a ``kernel``-wide window of their heatmap ``(Hh, Wh, L)`` (raw logits) around them,
    where its peak confidence reaches ``min_conf``."""
    hh, wh, n = heatmap.shape
    off = (kernel - 1) // 2
    out = np.array(uv, np.float32, copy=True)
    c = (out[:, 0] * wh).astype(np.int64)  # truncation, as the calculator's int conversion
    r = (out[:, 1] * hh).astype(np.int64)
    inside = (c >= 0) & (c < wh) & (r >= 0) & (r < hh) & (np.arange(len(out)) < n)
    if not np.any(inside):
        return out
    idx = np.flatnonzero(inside)
    padded = np.pad(heatmap, ((off, off), (off, off), (0, 0)), constant_values=-1e4)  # sigmoid -> 0 outside
    d = np.arange(-off, off + 1)
    rows = r[idx, None] + d[None, :]  # (K, k) heatmap rows of each window
    cols = c[idx, None] + d[None, :]
    conf = _sigmoid(padded[rows[:, :, None] + off, cols[:, None, :] + off, idx[:, None, None]])  # (K, k, k)
    total = conf.sum(axis=(1, 2))
    ok = (conf.max(axis=(1, 2)) >= min_conf) & (total > 0)
    wr = (conf * rows[:, :, None]).sum(axis=(1, 2))
    wc = (conf * cols[:, None, :]).sum(axis=(1, 2))
    sel = idx[ok]
    out[sel, 0] = wc[ok] / wh / total[ok]
    out[sel, 1] = wr[ok] / hh / total[ok]
    return out


def body_inside(hip: np.ndarray, size_point: np.ndarray, window: tuple[int, int, int, int], width: int,
                height: int, tolerance: float = 0.1) -> np.ndarray:
    """Which bodies ``(K,)`` bool lie within ``window`` xyxy: the square ``hip +- |size_point - hip|`` (the body
    extent the detector encodes) may cross a window edge by ``tolerance`` of its half-side, except where that
    edge is the image border (``width``, ``height``)."""
    r = np.linalg.norm(np.asarray(size_point) - np.asarray(hip), axis=1)
    slack = tolerance * r
    x0, y0, x1, y1 = window
    cx, cy = hip[:, 0], hip[:, 1]
    ok = np.ones(len(r), bool)
    if x0 > 0:
        ok &= cx - r >= x0 - slack
    if y0 > 0:
        ok &= cy - r >= y0 - slack
    if x1 < width:
        ok &= cx + r <= x1 + slack
    if y1 < height:
        ok &= cy + r <= y1 + slack
    return ok


def merge_passes(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, rank: np.ndarray, iou_threshold: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Merge the detections of several windows: face boxes ``(N, 4)`` overlapping by IoU > ``iou_threshold`` are
    one person, who keeps the keypoints ``(N, 4, 2)`` of the member with the best ``rank`` (N,) (whole frame >
    tile seeing the whole body > tile cutting it; then score) and the best score. Returns scores ``(K,)``,
    keypoints ``(K, 4, 2)``, best score first."""
    order = np.argsort(-scores, kind="stable")
    out_s, out_k = [], []
    while order.size:
        i = int(order[0])
        member = iou(boxes[i], boxes[order]) > iou_threshold
        member[0] = True
        group = order[member]
        pick = group[np.lexsort((-scores[group], -rank[group]))[0]]
        out_s.append(scores[i])
        out_k.append(keypoints[pick])
        order = order[~member]
    return np.asarray(out_s, np.float32), np.asarray(out_k, np.float32).reshape(-1, 4, 2)


def tile_windows(width: int, height: int, tiles: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Detector windows xyxy: the whole frame, then (``tiles > 1``) a ``tiles x tiles`` grid of crops overlapping
    by ``overlap`` of a tile, so people ``tiles`` times smaller reach the detector at the same size."""
    out = [(0, 0, width, height)]
    if tiles > 1:
        tw = min(width, round(width / (tiles - (tiles - 1) * overlap)))
        th = min(height, round(height / (tiles - (tiles - 1) * overlap)))
        for i in range(tiles):
            for j in range(tiles):
                x0 = round(j * (width - tw) / (tiles - 1))
                y0 = round(i * (height - th) / (tiles - 1))
                out.append((x0, y0, x0 + tw, y0 + th))
    return out


def _apply(affine: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to points ``(N, 2)``."""
    return uv @ affine[:, :2].T + affine[:, 2]


@register_detector("blazepose")
class BlazePoseDetector:
    """MediaPipe BlazePose person detector, optionally refined by the full landmark model (COCO-17 keypoints).

    Args:
        model_dir: folder with ``pose_detection.tflite`` (and ``pose_landmark_full.tflite``); default
            `detector_model_dir`.
        score_threshold: minimum detector score (MediaPipe's min_detection_confidence is 0.5; 0.6 here keeps the
            false positives of the extra tile passes at the one-pass level, docs/detectors.md).
        landmarks: run the landmark model on every ROI: boxes from the 33 landmarks, COCO-17 keypoints, and
            ROIs the landmark model rejects (pose flag < 0.5) are dropped.
        max_people: at most this many ROIs per frame (best scores first).
        num_threads: LiteRT CPU threads (2: the landmark pass, the path's largest cost, 24 -> 14 ms wall on a free
            2-core CPU; README "Benchmarks").
        tiles: 1 = one detector pass on the whole frame (MediaPipe's way); n > 1 adds an n x n grid of overlapping
            crops (n * n more passes) so that smaller / farther people are found. Default 2 (measured: 2x the
            recall on rendered scenes of one pass; ``tiles=1, score_threshold=0.5`` is MediaPipe's own setting).
    """

    name = "blazepose"

    def __init__(self, model_dir: str | Path | None = None, score_threshold: float = 0.6, landmarks: bool = True,
                 max_people: int = 8, num_threads: int = 2, nms_iou: float = 0.3, tiles: int = 2) -> None:
        root = Path(model_dir) if model_dir is not None else detector_model_dir()
        self._det = _Tflite(root / DETECTION_FILE, num_threads, (1, DETECTOR_INPUT, DETECTOR_INPUT, 3))
        want = [(1, POSE_DETECTION_DECODE.num_boxes, POSE_DETECTION_DECODE.num_coords),
                (1, POSE_DETECTION_DECODE.num_boxes, 1)]
        if sorted(self._det.output_shapes) != sorted(want):
            raise DetectorError(f"{DETECTION_FILE}: outputs {self._det.output_shapes}, expected {want}")
        self._reg_first = self._det.output_shapes[0] == want[0]
        self._lm = _Tflite(root / LANDMARK_FILE, num_threads, (1, LANDMARK_INPUT, LANDMARK_INPUT, 3)) \
            if landmarks else None
        self.follows = self._lm is not None   # FollowingDetector: following needs the landmark model
        if self._lm is not None and self._lm.output_shapes[:2] != [(1, 195), (1, 1)]:
            raise DetectorError(f"{LANDMARK_FILE}: outputs {self._lm.output_shapes[:2]}, expected [(1, 195), (1, 1)]")
        self._anchors = ssd_anchors(POSE_DETECTION_ANCHORS)
        self.score_threshold = float(score_threshold)
        self.max_people = int(max_people)
        self.nms_iou = float(nms_iou)
        if tiles < 1:
            raise ValueError(f"blazepose tiles must be >= 1, got {tiles}")
        self.tiles = int(tiles)

    def _detect_raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One detector pass over ``rgb``: face boxes ``(K, 4)``, scores ``(K,)``, keypoints ``(K, 4, 2)``, image px,
        before NMS."""
        sq, lb = letterbox(rgb, DETECTOR_INPUT, pad_value=0)
        x = sq.astype(np.float32)[None] / 127.5 - 1.0
        outs = self._det.run(x)
        raw, logits = (outs[0], outs[1]) if self._reg_first else (outs[1], outs[0])
        scores = decode_scores(logits, POSE_DETECTION_DECODE)
        keep = scores >= self.score_threshold
        boxes, kps = decode_boxes(raw.reshape(-1, 12)[keep], self._anchors[keep], POSE_DETECTION_DECODE)
        return (lb.to_image(boxes * DETECTOR_INPUT), scores[keep],
                lb.to_image(kps.reshape(-1, 8) * DETECTOR_INPUT).reshape(-1, 4, 2))

    def num_windows(self, width: int, height: int) -> int:
        """Detector passes of one full `detect` on a ``width`` x ``height`` frame (the whole frame + tiles)."""
        return len(tile_windows(width, height, self.tiles))

    def detect_rois(self, rgb: np.ndarray, window: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run the person detector alone (on the whole frame, plus `tile_windows` when ``tiles > 1``).

        Args:
            rgb: ``(H, W, 3) uint8``. window: None = every window; ``k`` = only window ``k`` of `tile_windows`
                (0 = the whole frame).
        Returns:
            scores ``(K,) float32`` best first and keypoints ``(K, 4, 2) float32`` in image pixels
            (mid-hip, full-body point, mid-shoulder, upper-body point).
        """
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        wins = tile_windows(w, h, self.tiles)
        if window is not None and not 0 <= window < len(wins):
            raise ValueError(f"window must be in [0, {len(wins) - 1}], got {window}")
        boxes, scores, kps, whole = [], [], [], []
        for k, (x0, y0, x1, y1) in enumerate(wins):
            if window is not None and k != window:
                continue
            b, sc, kp = self._detect_raw(rgb[y0:y1, x0:x1])
            if len(sc) == 0:
                continue
            b, s, kp = weighted_nms(b + [x0, y0, x0, y0], sc, (kp + [x0, y0]).reshape(len(kp), -1), self.nms_iou)
            kp = kp.reshape(-1, 4, 2)
            boxes.append(b)
            scores.append(s)
            kps.append(kp)
            # 2: the whole frame, 1: a tile that sees the whole body, 0: a tile that cuts it
            whole.append(np.full(len(s), 2) if k == 0 else body_inside(kp[:, 0], kp[:, 1], (x0, y0, x1, y1), w, h))
        if not scores:
            return np.zeros((0,), np.float32), np.zeros((0, 4, 2), np.float32)
        s, kp = merge_passes(np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps),
                             np.concatenate(whole).astype(np.int64), self.nms_iou)
        return s[: self.max_people], kp[: self.max_people]

    def _landmarks(self, rgb: np.ndarray, roi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Landmark model on one ROI ``(2, 3)`` affine.

        Returns:
            pose flag (float), landmarks ``(33, 4)`` (x px, y px, visibility, presence) in image coords, and the
            two alignment points ``(2, 2)`` px (landmarks 33 and 34: hip centre, body-size point), from which
            MediaPipe's ``pose_landmarks_to_roi.pbtxt`` builds the next frame's ROI.
        """
        n = LANDMARK_INPUT
        to_img = roi.astype(np.float64).copy()
        to_img[:, :2] /= n  # crop pixel -> unit square -> image
        crop = cv2.warpAffine(rgb, to_img, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        outs = self._lm.run(crop.astype(np.float32)[None] / 255.0, outputs=(0, 1, 3))   # no segmentation, world
        flag = float(np.asarray(outs[1]).reshape(-1)[0])
        lm = np.asarray(outs[0], np.float32).reshape(39, 5)
        # MediaPipe refines all 39 landmarks (heatmap has 39 channels), then splits 0-32 pose, 33-34 alignment.
        uv = refine_from_heatmap(lm[:, :2] / n, np.asarray(outs[3], np.float32)[0])
        xy = _apply(roi, uv)
        return flag, np.concatenate([xy[:33], _sigmoid(lm[:33, 3:5])], axis=1).astype(np.float32), \
            xy[33:35].astype(np.float32)

    def _person(self, rgb: np.ndarray, roi: np.ndarray, score: float) -> Detection | None:
        """One landmark pass on ``roi``: a `Detection` (box hugging the 33 landmarks, clipped; COCO-17 keypoints with
        visibility as confidence; ``hint`` = the alignment points) or None when the pose flag is < 0.5 or the box is
        empty inside the image."""
        h, w = rgb.shape[:2]
        flag, lm, align = self._landmarks(rgb, roi)
        if flag < 0.5 or not np.all(np.isfinite(lm)) or not np.all(np.isfinite(align)):
            return None
        box = clip_boxes(landmarks_box(lm[:, :2])[None], w, h)[0]
        if not (box[2] > box[0] and box[3] > box[1]):
            return None
        kp = np.concatenate([lm[BLAZEPOSE_TO_COCO17, :2], lm[BLAZEPOSE_TO_COCO17, 2:3]], 1)
        return Detection(box, float(score), kp, hint=align)

    def follow(self, rgb: np.ndarray, previous: Detection) -> Detection | None:
        """MediaPipe's tracking step: the landmark model on the ROI from ``previous``'s alignment points.

        Args:
            rgb: ``(H, W, 3) uint8`` frame. previous: a detection of this backend (``hint`` of shape ``(2, 2)``).
        Returns:
            the person's `Detection` in this frame (score carried from the detector run that found them), or None
            when the landmark model's pose flag drops below 0.5 (lost: run `detect`).
        """
        rgb = check_rgb(rgb)
        if self._lm is None:
            raise ValueError("blazepose follows people with its landmark model: build it with landmarks=True")
        if previous.hint is None or previous.hint.shape != (2, 2):
            raise ValueError("blazepose.follow needs a detection made by blazepose (hint of shape (2, 2), got "
                             f"{None if previous.hint is None else previous.hint.shape})")
        return self._person(rgb, roi_from_keypoints(previous.hint[0], previous.hint[1]), previous.score)

    def detect(self, rgb: np.ndarray, known: Sequence[Detection] = (), window: int | None = None) -> list[Detection]:
        """People in ``rgb (H, W, 3) uint8``, best score first; with landmarks, boxes hug the 33 landmarks.

        ``known``: people already followed into this frame (`follow`); a detector ROI on one of them (hip within
        half its body size, size within x1.5) gets no landmark pass, and every known detection is returned as is.
        ``window``: run only that detector window (`detect_rois`; a scan spread over frames), None = all.
        """
        rgb = check_rgb(rgb)
        scores, kps = self.detect_rois(rgb, window)
        return self.detect_from_rois(rgb, scores, kps, known)

    def detect_from_rois(self, rgb: np.ndarray, scores: np.ndarray, kps: np.ndarray,
                         known: Sequence[Detection] = ()) -> list[Detection]:
        """The second half of `detect`: the people of detector ROIs (``scores (K,)``, ``kps (K, 4, 2)`` px, from
        `detect_rois` on this frame or the previous one) measured by the landmark model in ``rgb``; ``known`` as in
        `detect`. The pipeline's background search runs `detect_rois` on frame k beside the models and this on
        frame k+1 (the landmark ROI, like `follow`'s, is built for one frame of motion)."""
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        known = [d for d in known if d is not None]
        boxes, out_scores, keypoints, hints = [], [], [], []
        for score, kp in zip(scores, kps):
            if self._lm is None:
                corners = _apply(roi_from_keypoints(kp[0], kp[1], scale=1.0),
                                 np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32))
                boxes.append([*corners.min(0), *corners.max(0)])
                keypoints.append(None)
                hints.append(None)
            else:
                if is_known(kp[0], kp[1], known):
                    continue
                person = self._person(rgb, roi_from_keypoints(kp[0], kp[1]), float(score))
                if person is None:
                    continue
                boxes.append(person.box)
                keypoints.append(person.keypoints)
                hints.append(person.hint)
            out_scores.append(float(score))
        new: list[Detection] = []
        if boxes:
            b = clip_boxes(np.asarray(boxes, np.float32), w, h)
            keep = [i for i in nms(b, np.asarray(out_scores), 0.6) if b[i, 2] > b[i, 0] and b[i, 3] > b[i, 1]]
            if known:   # a new box on a known person (IoU > 0.6) is that person
                kb = np.asarray([d.box for d in known], np.float32)
                keep = [i for i in keep if not np.any(iou(b[i], kb) > 0.6)]
            new = [Detection(b[i], out_scores[i], keypoints[i], hint=hints[i]) for i in keep]
        return sorted([*known, *new], key=lambda d: d.score, reverse=True)


def is_known(hip: np.ndarray, size_point: np.ndarray, known: Sequence[Detection], centre_frac: float = 0.5,
             size_ratio: float = 1.5) -> bool:
    """Whether a detector ROI (``hip (2,)``, ``size_point (2,)`` px) is one of the ``known`` people: its hip lies
    within ``centre_frac`` of a known person's body size (``|hint[1] - hint[0]|``) of their hip centre and its size
    is within ``size_ratio`` of theirs."""
    r = float(np.linalg.norm(np.asarray(size_point) - np.asarray(hip)))
    for d in known:
        if d.hint is None or d.hint.shape != (2, 2):
            continue
        kr = float(np.linalg.norm(d.hint[1] - d.hint[0]))
        if kr <= 1e-6:
            continue
        if (np.linalg.norm(np.asarray(hip) - d.hint[0]) < centre_frac * kr
                and 1.0 / size_ratio <= r / kr <= size_ratio):
            return True
    return False
