"""bench/real_2d_agreement.py: matching and PCK numbers on a generated case (hand-computed), a scripted video, bad
reference files, and a smoke run of the CLI through the real pipeline on 2 real-dev photos (skipped without them)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import real_2d_agreement as r2d
from pose_estimation_ros import skeleton
from pose_estimation_ros.perception.crop import CropBox
from pose_estimation_ros.perception.pipeline import FrameResult, PoseEstimate

W, H = 200, 400
# Reference person: common14 joints spread over x 50..150, y 50..350; r_ankle (13) barely visible (not scored).
REF_XY = np.array([[100, 200], [100, 80], [60, 90], [140, 90], [50, 150], [150, 150], [55, 210], [145, 210],
                   [80, 200], [120, 200], [75, 280], [125, 280], [70, 350], [130, 350]], float)
REF_CONF = np.array([0.9] * 13 + [0.1])
# Joints box (confident joints) 50..150 x 80..350 (r_ankle excluded), +10 % margin: 40..160 x 53..377.
REF_BOX = np.array([40.0, 53.0, 160.0, 377.0])
SIZE = 324.0            # max side of REF_BOX (its height): PCK@0.1 at 32.4 px, @0.2 at 64.8 px
# Estimate error per joint (px, along x): 6 exact, 3 at 30 (< 32.4), 2 at 50 (< 64.8), 2 at 100, the unscored at 500.
OFFSETS = np.array([0, 0, 0, 0, 0, 0, 30, 30, 30, 50, 50, 100, 100, 500], float)


def _ref_line(name: str, detected: bool, xy: np.ndarray | None = None, conf: np.ndarray | None = None,
              frame: int = 0) -> dict:
    j14 = None if not detected else [[x / W, y / H, c] for (x, y), c in zip(xy, conf)]
    return {"frame": frame, "name": name, "width": W, "height": H, "detected": detected, "j14_2d": j14, "lm2d": None}


def _write_reference(path: Path, lines: list[dict]) -> Path:
    meta = {"meta": {"tool": "test", "common14_names": list(r2d.COMMON14)}}
    path.write_text("\n".join(json.dumps(x) for x in [meta, *lines, {"summary": {"frames": len(lines)}}]) + "\n")
    return path


def _smpl_from_common(xy14: np.ndarray) -> np.ndarray:
    """(24, 2) px with the 14 common joints at ``xy14`` and the other joints far away (never scored)."""
    out = np.full((skeleton.NUM_JOINTS, 2), -1000.0)
    for k, name in enumerate(r2d.SMPL_NAME_OF_COMMON14):
        out[skeleton.JOINT_NAMES.index(name)] = xy14[k]
    return out


def _estimate(xy14: np.ndarray, box: tuple, pid: int) -> PoseEstimate:
    j2d = _smpl_from_common(xy14)
    return PoseEstimate(0, np.zeros((24, 3)), np.ones(24, np.float32), j2d, False, pid, 0.9,
                        CropBox(0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]), max(box[2] - box[0], box[3] - box[1])),
                        np.asarray(box, np.float32))


class ScriptedPipeline:
    """Returns the scripted FrameResults in call order; records stamps, intrinsics and resets."""

    def __init__(self, results: list[FrameResult]) -> None:
        self.results, self.stamps, self.intrs, self.resets = list(results), [], [], 0

    def reset(self) -> list[int]:
        self.resets += 1
        return []

    def process(self, rgb, stamp_ns, intr, now_ns=None) -> FrameResult:
        self.stamps.append(stamp_ns)
        self.intrs.append(intr)
        return self.results.pop(0)


def _coco_from_common(xy14: np.ndarray) -> np.ndarray:
    kp = np.zeros((17, 3))
    for k, src in enumerate(r2d.COCO_OF_COMMON14):
        if len(src) == 1:
            kp[src[0]] = (*xy14[k], 0.9)
    return kp


def test_photos_hand_computed(tmp_path):
    ref = _write_reference(tmp_path / "ref.jsonl", [_ref_line("a.png", True, REF_XY, REF_CONF),
                                                    _ref_line("b.png", False)])
    images = tmp_path / "images"
    images.mkdir()
    for n in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(images / n), np.zeros((H, W, 3), np.uint8))
    est_xy = REF_XY + np.stack([OFFSETS, np.zeros(14)], axis=1)
    good = _estimate(est_xy, (45.0, 60.0, 160.0, 380.0), 1)        # IoU with REF_BOX ~0.93: the match
    stray = _estimate(REF_XY, (165.0, 0.0, 200.0, 60.0), 2)          # beside the reference person, no overlap
    a = FrameResult([stray, good], stamp_ns=1, keypoints={1: _coco_from_common(REF_XY + [[10.0, 0.0]])})
    b = FrameResult([_estimate(REF_XY, (40.0, 53.0, 160.0, 377.0), 3)], stamp_ns=2)   # where the reference has nobody
    c = FrameResult([], stamp_ns=3)
    fake = ScriptedPipeline([a, b, c])
    out = r2d.main(["--images", str(images), "--reference", str(ref), "--out", str(tmp_path / "o.json")], pipeline=fake)

    assert fake.resets == 3                       # every photo its own stream
    f = (W / 2) / math.tan(math.radians(30.0))    # the default 60 deg horizontal field of view
    assert fake.intrs[0].fx == pytest.approx(f) and fake.intrs[0].cx == W / 2 and fake.intrs[0].cy == H / 2
    run = out["runs"][0]
    s = run["summary"]["model"]
    assert (s["ref_people"], s["found"], s["estimated"], s["joints"]) == (1, 1, 3, 13)
    assert s["pck@0.1"] == pytest.approx(9 / 13) and s["pck@0.2"] == pytest.approx(11 / 13)
    assert s["err_px"] == pytest.approx((3 * 30 + 2 * 50 + 2 * 100) / 13)
    assert s["err_height"] == pytest.approx((3 * 30 + 2 * 50 + 2 * 100) / 13 / SIZE)
    assert (s["unmatched_no_ref"], s["unmatched_beside_ref"]) == (1, 1)
    # Detector keypoints 10 px off in x; pelvis = hip midpoint (10 px off), neck = shoulder midpoint (100, 90) + 10
    # against the reference neck (100, 80): sqrt(200) px.
    kp = run["summary"]["detector keypoints"]
    assert kp["joints"] == 13 and kp["pck@0.1"] == 1.0 and kp["found"] == 1
    assert kp["err_px"] == pytest.approx((12 * 10 + math.sqrt(200)) / 13)
    assert run["summary"]["box template"]["found"] == 1
    assert any("c.png: no reference line" in n for n in run["notes"])
    assert json.loads((tmp_path / "o.json").read_text())["runs"][0]["summary"]["model"]["joints"] == 13


def test_hungarian_beats_greedy():
    ref = np.array([[0, 0, 10, 10], [4, 0, 14, 10]], float)
    est = np.array([[1, 0, 11, 10], [-2, 0, 6, 10]], float)   # A: 0.818 / 0.538; B: 0.5 / 0.125
    m = r2d.box_iou(est, ref)
    assert m[0, 0] == pytest.approx(9 / 11) and m[1, 0] == pytest.approx(0.5) and m[1, 1] == pytest.approx(2 / 16)
    assert r2d.match_people(est, ref) == [(0, 1), (1, 0)]     # greedy would give A->ref0 and leave B unmatched
    assert r2d.match_people(est, ref, min_iou=0.6) == [(0, 0)]
    assert r2d.match_people(np.zeros((0, 4)), ref) == []


def test_unmatched_on_a_hand_boxed_person():
    ref = r2d.RefFrame("x", W, H, [])                     # the reference saw nobody
    arm = r2d.EstPerson(np.zeros((14, 2)), np.array([100.0, 100.0, 120.0, 200.0]))   # inside the person's box
    phantom = r2d.EstPerson(np.zeros((14, 2)), np.array([0.0, 0.0, 30.0, 30.0]))
    s = r2d.score_frame([arm, phantom], ref, people_boxes=np.array([[90.0, 50.0, 190.0, 390.0]]))
    assert (s.found, s.unmatched, s.unmatched_on_person) == (0, 2, 1)
    assert r2d.box_ioa(arm.box[None], np.array([[90.0, 50.0, 110.0, 390.0]]))[0, 0] == pytest.approx(0.5)
    assert r2d.score_frame([arm], ref).unmatched_on_person is None


def test_box_template_fills_the_box():
    uv = r2d.box_template(np.array([0.0, 0.0, 110.0, 220.0]))   # person 200 px tall from y = 10 (5 % margin)
    j = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
    assert uv[j["pelvis"], 0] == pytest.approx(55.0)
    assert uv[j["left_shoulder"], 0] > 55.0 > uv[j["right_shoulder"], 0]   # facing the camera: its left on the right
    assert 10.0 < uv[:, 1].min() and uv[:, 1].max() < 210.0
    assert uv[j["left_wrist"], 1] > uv[j["left_elbow"], 1] > uv[j["left_shoulder"], 1]   # arms hanging


def test_video_is_one_stream(tmp_path):
    path = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    if not vw.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    for _ in range(3):
        vw.write(np.zeros((H, W, 3), np.uint8))
    vw.release()
    ref = _write_reference(tmp_path / "ref.jsonl", [_ref_line("", True, REF_XY, REF_CONF, frame=k) for k in range(3)])
    exact = _estimate(REF_XY, (45.0, 60.0, 160.0, 380.0), 1)
    fake = ScriptedPipeline([FrameResult([], outcome="warming"), FrameResult([exact], stamp_ns=2),
                             FrameResult([exact], stamp_ns=3)])
    out = r2d.main(["--video", str(path), "--reference", str(ref)], pipeline=fake)
    assert fake.resets == 1                                    # once at the start, not per frame
    assert np.diff(fake.stamps).tolist() == [100_000_000, 100_000_000]   # stamps from the video's 10 fps
    s = out["runs"][0]["summary"]["model"]
    assert (s["ref_people"], s["found"], s["joints"], s["pck@0.1"]) == (3, 2, 26, 1.0)


def test_bad_reference_is_named(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"name": "a.png", "height": 4, "detected": False}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: missing key 'width'"):
        r2d.load_reference(p)
    p.write_text(json.dumps({"name": "a.png", "width": 4, "height": 4, "detected": True, "j14_2d": [[0, 0, 1]]}) + "\n")
    with pytest.raises(ValueError, match=r"j14_2d must be 14"):
        r2d.load_reference(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        r2d.load_reference(tmp_path / "none.jsonl")


def _real_dev() -> Path | None:
    for c in (os.environ.get("POSE_SHARED_DATA", ""), Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
              "/work/shared/data"):
        if c and (Path(c) / "real-dev" / "mediapipe_static.jsonl").is_file():
            return Path(c) / "real-dev"
    return None


@pytest.mark.skipif(_real_dev() is None, reason="shared real-dev photos absent (set POSE_SHARED_DATA)")
def test_cli_smoke_on_two_real_photos(tmp_path):
    dev = _real_dev()
    images = tmp_path / "images"
    images.mkdir()
    for n in ("basketball2.png", "left01.jpg"):
        (images / n).symlink_to(dev / "images" / n)
    out = r2d.main(["--images", str(images), "--reference", str(dev / "mediapipe_static.jsonl"),
                    "--out", str(tmp_path / "o.json")])
    run = out["runs"][0]
    assert [f["key"] for f in run["frames"]["model"]] == ["basketball2.png", "left01.jpg"]
    s = run["summary"]["model"]
    assert s["ref_people"] == 1 and s["frames"] == 2
    for m in r2d.METHODS:
        v = run["summary"][m]["pck@0.2"]
        assert v is None or 0.0 <= v <= 1.0
    if out["detector"] == "blazepose":   # the reference's own landmark model: its keypoints must agree closely
        kp = run["summary"]["detector keypoints"]
        assert kp["found"] == 1 and kp["joints"] == 14 and kp["pck@0.2"] >= 0.8
        assert s["found"] == 1 and s["joints"] == 14


def test_without_keypoints_zeroes_only_the_keypoint_feed():
    from pose_estimation_ros.perception.metadata import PER_FRAME_INPUT, PER_FRAME_KEYPOINTS

    class Echo:
        meta = "m"

        def run(self, feeds):
            return [feeds[PER_FRAME_INPUT], feeds.get(PER_FRAME_KEYPOINTS)]

    w = r2d.WithoutKeypoints(Echo())
    x, kp = np.ones((1, 3, 4, 4), np.float32), np.full((1, 17, 3), 0.7, np.float32)
    img, kp_out = w.run({PER_FRAME_INPUT: x, PER_FRAME_KEYPOINTS: kp})
    assert np.array_equal(img, x) and kp_out.shape == kp.shape and not kp_out.any() and kp.all()
    assert w.run({PER_FRAME_INPUT: x})[1] is None and w.meta == "m"
