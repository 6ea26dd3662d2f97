"""Detector on demand: with a detector that can follow people (MediaPipe's landmark tracking, ``FollowingDetector``),
the pipeline runs the detector only when nobody is followed, when a followed person is lost and every
``redetect_every`` frames; in between each person is followed (fresh box + keypoints every frame) and ByteTrack
still gets a box per person per frame.

The detector is a scripted stand-in that counts its calls: ``detect`` returns the scripted people (known ones as
given), ``follow`` returns the followed person's box of this frame (identity carried in ``hint``), or None where the
test says the person cannot be followed. The real ``blazepose`` follow step is tested in test_detectors.py.
"""
import numpy as np
import pytest

from perception_fixtures import write_batch_per_frame
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.perception.detectors import Detection, can_follow
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

MS = 1_000_000
INTR = Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)
BLACK = np.zeros((240, 320, 3), np.uint8)


def keypoints_in(box, stamp: float) -> np.ndarray:
    """(17, 3) keypoints spread over ``box``; confidence encodes ``stamp`` so a test can tell frames apart."""
    x0, y0, x1, y1 = box
    t = np.linspace(0.1, 0.9, 17)
    return np.stack([x0 + t * (x1 - x0), y0 + t[::-1] * (y1 - y0), np.full(17, 0.5 + 0.4 * stamp)], 1).astype(
        np.float32)


class FakeFollower:
    """Scripted ``FollowingDetector``: ``people`` = {person index: xyxy box} of the current frame."""

    name = "fake follower"

    def __init__(self) -> None:
        self.people: dict[int, tuple] = {}
        self.unfollowable: set[int] = set()
        self.stamp = 0.0
        self.detect_calls = 0
        self.follow_calls = 0

    def _det(self, i: int, score: float = 0.9) -> Detection:
        box = self.people[i]
        return Detection(np.asarray(box, np.float32), score, keypoints_in(box, self.stamp),
                         hint=np.array([[i, 0.0], [0.0, 0.0]], np.float32))

    def detect(self, rgb, known=()):
        self.detect_calls += 1
        have = {int(d.hint[0, 0]) for d in known}
        return sorted([*known, *(self._det(i) for i in self.people if i not in have)], key=lambda d: -d.score)

    def follow(self, rgb, previous):
        self.follow_calls += 1
        i = int(previous.hint[0, 0])
        if i not in self.people or i in self.unfollowable:
            return None
        return self._det(i, previous.score)


def box(cx: float, h: float = 150.0, cy: float = 120.0) -> tuple:
    return (cx - 0.2 * h, cy - h / 2, cx + 0.2 * h, cy + h / 2)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    p = tmp_path_factory.mktemp("m") / "batch.onnx"
    write_batch_per_frame(p, joints=np.zeros((24, 3)))
    return str(p)


def pipeline(model, det, redetect_every, lost=10):
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=model, temporal_model="none",
                                               redetect_every=redetect_every, track_lost_frames=lost), detector=det)
    assert pipe.following and can_follow(det)
    return pipe


def step(pipe, det, k):
    det.stamp = k / 100.0
    return pipe.process(BLACK, (k + 1) * 33 * MS, INTR)


def test_the_detector_is_skipped_between_runs_while_the_person_is_followed(model):
    det = FakeFollower()
    pipe = pipeline(model, det, redetect_every=10)
    runs, ids = [], set()
    for k in range(25):
        det.people = {0: box(60 + 5 * k)}
        res = step(pipe, det, k)
        runs.append(res.detector_ran)
        assert len(res.estimates) == 1, k
        tid = res.estimates[0].person_id
        ids.add(tid)
        # keypoints fresh on every frame: this frame's (its confidence encodes the frame)
        np.testing.assert_allclose(res.keypoints[tid], keypoints_in(det.people[0], det.stamp), atol=1e-5)
        assert res.followed == (0 if k == 0 else 1)
        x0, _, x1, _ = res.estimates[0].det_box
        assert abs((x0 + x1) / 2 - (60 + 5 * k)) < 1e-3   # the tracker got this frame's box
    assert [k for k, r in enumerate(runs) if r] == [0, 10, 20]
    assert det.detect_calls == 3 and det.follow_calls == 24
    assert len(ids) == 1


def test_a_new_person_is_found_within_redetect_every_frames(model):
    every, appear = 5, 3
    det = FakeFollower()
    pipe = pipeline(model, det, redetect_every=every)
    first_b, id_a = None, set()
    for k in range(16):
        det.people = {0: box(80)}
        if k >= appear:
            det.people[1] = box(240, h=100)
        res = step(pipe, det, k)
        for e in res.estimates:
            cx = (e.det_box[0] + e.det_box[2]) / 2
            if cx < 160:
                id_a.add(e.person_id)
            elif first_b is None:
                first_b = k
    assert first_b is not None and appear < first_b <= appear + every, first_b
    assert len(id_a) == 1                        # the followed person kept their id
    assert det.detect_calls == 4                 # frames 0, 5, 10, 15: no extra runs for the newcomer


def test_a_lost_person_falls_back_to_the_detector_in_the_same_frame(model):
    det = FakeFollower()
    pipe = pipeline(model, det, redetect_every=30, lost=2)
    runs, ids = [], set()
    for k in range(12):
        det.people = {0: box(100 + 2 * k)}
        det.unfollowable = {0} if k == 6 else set()   # the landmark flag drops once
        res = step(pipe, det, k)
        runs.append(res.detector_ran)
        assert len(res.estimates) == 1, k        # re-detected at once: no frame without the person
        ids.add(res.estimates[0].person_id)
    assert [k for k, r in enumerate(runs) if r] == [0, 6]
    assert len(ids) == 1                         # ByteTrack re-associates the detection: same id
    # The person leaves: nobody is followed, so the detector runs on every frame; the track ends after
    # track_lost_frames x detect_every frames (the same time as with a detector that cannot follow).
    det.people = {}
    calls = det.detect_calls
    ended = []
    for k in range(12, 12 + 2 * 3 + 3):
        res = step(pipe, det, k)
        assert res.estimates == [] and res.detector_ran
        ended += res.ended_ids
    assert det.detect_calls - calls == 2 * 3 + 3
    assert ended == sorted(ids)


def test_ids_stay_with_their_person_while_two_followed_people_cross(model):
    det = FakeFollower()
    pipe = pipeline(model, det, redetect_every=10)
    owner: dict[int, int] = {}
    for k in range(40):
        det.people = {0: box(40 + 6 * k, h=160, cy=125), 1: box(280 - 6 * k, h=90, cy=105)}
        res = step(pipe, det, k)
        assert len(res.estimates) == 2, k
        for e in res.estimates:
            cx = (e.det_box[0] + e.det_box[2]) / 2
            h = e.det_box[3] - e.det_box[1]
            person = 0 if h > 125 else 1
            assert abs(cx - (40 + 6 * k if person == 0 else 280 - 6 * k)) < 1e-3
            assert owner.setdefault(e.person_id, person) == person, (k, e.person_id)
    assert sorted(owner.values()) == [0, 1]


def test_redetect_every_is_validated(model):
    with pytest.raises(ValueError, match="redetect_every"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=model, temporal_model="none", redetect_every=0),
                           detector=FakeFollower())


class WindowedFollower(FakeFollower):
    """`FakeFollower` whose detector has ``windows`` passes; person i is seen only by the windows in ``seen_by[i]``
    (default: all). ``calls`` records the window of every ``detect`` call (None = all windows)."""

    def __init__(self, windows: int) -> None:
        super().__init__()
        self.windows = windows
        self.seen_by: dict[int, set[int]] = {}
        self.calls: list[int | None] = []

    def num_windows(self, width, height):
        return self.windows

    def detect(self, rgb, known=(), window=None):
        self.calls.append(window)
        self.detect_calls += 1
        have = {int(d.hint[0, 0]) for d in known}
        new = [self._det(i) for i in self.people if i not in have
               and (window is None or window in self.seen_by.get(i, set(range(self.windows))))]
        return sorted([*known, *new], key=lambda d: -d.score)


def newcomer_seen_by_last_window(pipe, det, frames: int = 14) -> tuple[list[bool], int | None]:
    """Person 0 followed all along; from frame 2 person 1, whom only detector window 2 sees. Returns whether the
    detector ran on each frame, and the first frame with an estimate of person 1."""
    first_b, runs = None, []
    for k in range(frames):
        det.people = {0: box(80)}
        if k >= 2:
            det.people[1] = box(240, h=100)
            det.seen_by[1] = {2}
        res = step(pipe, det, k)
        runs.append(res.detector_ran)
        if first_b is None and any((e.det_box[0] + e.det_box[2]) / 2 > 160 for e in res.estimates):
            first_b = k
    return runs, first_b


def test_the_periodic_search_runs_one_detector_window_per_frame(model):
    """A detector of 3 windows (blazepose: the whole frame + tiles): the search for new people every
    redetect_every frames runs one window per frame (no frame pays for all of them); a newcomer seen by the last
    window only is found in that frame and confirmed in the next."""
    det = WindowedFollower(windows=3)
    pipe = pipeline(model, det, redetect_every=5)
    runs, first_b = newcomer_seen_by_last_window(pipe, det)
    assert [k for k, r in enumerate(runs) if r] == [0, 5, 6, 7, 10, 11, 12]
    assert det.calls == [None, 0, 1, 2, 0, 1, 2]
    assert first_b == 8                          # window 2 ran at frame 7; ByteTrack confirms it at frame 8


class CountingDetector:
    """The real detector, its calls counted (``follow`` and ``detect`` delegate)."""

    def __init__(self, real) -> None:
        self.real, self.name = real, real.name
        self.detect_calls = self.follow_calls = 0

    def detect(self, rgb, known=()):
        self.detect_calls += 1
        return self.real.detect(rgb, known=known)

    def follow(self, rgb, previous):
        self.follow_calls += 1
        return self.real.follow(rgb, previous)


def test_blazepose_follows_the_rendered_person_with_the_detector_on_demand(model):
    """The pre-rendered demo person (textured, renderer output) through the pipeline with the real blazepose: one
    detector run in 10 frames, the person followed (one id, fresh keypoints near the rendered joints)."""
    from pose_estimation_ros import skeleton
    from pose_estimation_ros.perception.detectors import DetectorError, make_detector
    from pose_estimation_ros.synthetic_scene import SyntheticScene

    try:
        real = make_detector("blazepose")
    except DetectorError as e:
        pytest.skip(f"blazepose files absent: {e}")
    scene = SyntheticScene(640, 480, clip="auto")
    if scene.clip is None:
        pytest.skip("pre-rendered demo clip absent (make setup renders .cache/demo_scene)")
    det = CountingDetector(real)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=model, temporal_model="none", redetect_every=10),
                              detector=det)
    intr = Intrinsics(640, 480, scene.fx, scene.fy, scene.cx, scene.cy)
    t0 = 0.3 * scene.period_s            # the person ~2.5-3 m away, walking
    ids, errs = set(), []
    sm = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
    for k in range(10):
        rgb, gt = scene.render(t0 + k / 15.0)
        res = pipe.process(rgb, (k + 1) * 66 * MS, intr)
        assert len(res.estimates) == 1, k
        tid = res.estimates[0].person_id
        ids.add(tid)
        kp = res.keypoints[tid]                 # this frame's COCO-17: shoulders 5/6, hips 11/12
        for coco, name in ((5, "left_shoulder"), (6, "right_shoulder"), (11, "left_hip"), (12, "right_hip")):
            errs.append(np.linalg.norm(kp[coco, :2] - gt["joints_2d"][sm[name]]) / (gt["bbox"][3] - gt["bbox"][1]))
    assert det.detect_calls == 1 and det.follow_calls == 9
    assert len(ids) == 1
    assert np.median(errs) < 0.08, np.median(errs)   # of the person's height


class SplitFollower(WindowedFollower):
    """`WindowedFollower` whose ``detect`` comes in the two halves of blazepose: ``detect_rois`` (the detector pass,
    ROIs carrying the person index) and ``detect_from_rois`` (the landmark confirmation); ``threads`` records the
    thread of every detector pass, ``rois_calls`` the window of each."""

    def __init__(self, windows: int, fail_window: int | None = None) -> None:
        super().__init__(windows)
        self.threads: list[str] = []
        self.rois_calls: list[int | None] = []
        self.fail_window = fail_window

    def detect_rois(self, rgb, window=None):
        import threading

        from pose_estimation_ros.perception.detectors import DetectorError

        self.threads.append(threading.current_thread().name)
        self.rois_calls.append(window)
        if window is not None and window == self.fail_window:
            self.fail_window = None
            raise DetectorError("scripted failure of one search pass")
        seen = [i for i in self.people if window is None or window in self.seen_by.get(i, set(range(self.windows)))]
        rois = np.zeros((len(seen), 4, 2), np.float32)
        rois[:, 0, 0] = seen
        return np.full(len(seen), 0.9, np.float32), rois

    def detect_from_rois(self, rgb, scores, rois, known=()):
        have = {int(d.hint[0, 0]) for d in known}
        new = [self._det(int(i)) for i in rois[:, 0, 0] if int(i) not in have and int(i) in self.people]
        return sorted([*known, *new], key=lambda d: -d.score)


def test_the_periodic_search_runs_beside_the_models_and_is_confirmed_next_frame(model):
    """With a detector split like blazepose, the search window's detector pass of frame k runs in the pipeline's
    worker thread (beside the per-frame and temporal models) and its new people are measured on frame k+1: the same
    schedule as the synchronous search, one frame later; urgent runs (nobody followed) stay in the frame."""
    det = SplitFollower(windows=3)
    pipe = pipeline(model, det, redetect_every=5)
    assert pipe.background
    runs, first_b = newcomer_seen_by_last_window(pipe, det)
    assert det.calls == [None]                           # frame 0: nobody followed, every window at once
    assert det.rois_calls == [0, 1, 2, 0, 1, 2]          # search windows of frames 5-7 and 10-12
    assert det.threads[0] != "MainThread" and all(t.startswith("person-search") for t in det.threads)
    assert [k for k, r in enumerate(runs) if r] == [0, 6, 7, 8, 11, 12, 13]   # confirmed one frame later
    assert first_b == 9                                  # window 2 ran beside frame 7, measured at 8, confirmed at 9
    pipe.close()
    assert pipe._search_pool is None


def test_a_failing_background_search_is_a_fault_of_one_frame(model):
    det = SplitFollower(windows=3, fail_window=1)
    pipe = pipeline(model, det, redetect_every=5)
    outcomes = []
    for k in range(10):
        det.people = {0: box(80)}
        res = step(pipe, det, k)
        outcomes.append(res.outcome)
        if res.outcome == "fault":
            assert "scripted failure" in res.status and res.estimates == []
    assert outcomes.count("fault") == 1 and outcomes[7] == "fault"   # window 1 ran beside frame 6, collected at 7
    assert outcomes[8:] == ["ok", "ok"]
    pipe.close()


def test_background_search_off_runs_the_search_in_the_frame(model):
    det = SplitFollower(windows=3)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=model, temporal_model="none", redetect_every=5,
                                               background_search=False), detector=det)
    assert not pipe.background
    for k in range(8):
        det.people = {0: box(80)}
        step(pipe, det, k)
    assert det.calls == [None, 0, 1, 2] and det.rois_calls == []
