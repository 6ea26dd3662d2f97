"""Per-stage CPU time and frames/s of the whole perception path with 1, 3 and 5 people on this machine's CPU.

    python -m bench.perception_latency [--people 1,3,5] [--frames 80] [--threads 1] [--detector-threads 0]
                                       [--redetect-every 10[,5,20]] [--provider cpu] [--temporal-lag 0]
                                       [--scenes runs/bench_scenes] [--no-given-boxes]

Table 1, the full path: rendered sequences (``bench/sequences.py``: textured people of the project's renderer,
640x480, 30 fps; rendered once into ``--scenes`` when missing) through everything the perception node does per
image message, with the default detector as configured (``blazepose``: people followed by its landmark model
between detector runs, the detector on demand and every ``--redetect-every`` frames):
  convert   sensor_msgs/Image -> numpy RGB
  follow    the landmark model on each followed person's ROI (FollowingDetector.follow)
  detect    the detector passes (when they ran; the mean is over all frames, i.e. amortised)
  track     ByteTrack (supervision) on the frame's boxes
  crop      SPIN crops of every person + resize + normalisation
  per-frame the per-frame ONNX model, one batch of N crops
  temporal  the temporal ONNX model, one batch of N windows, + the outputs (translation fit, projection)
  publish   HumanPose3DArray + MarkerArray built and published (in-process rclpy node, loopback DDS)
Times are CPU time of the process (``time.process_time``: every thread), so "frames/s CPU" = 1000 / mean CPU ms
per frame is what the path costs on free cores, whatever else loads this machine; "frames/s wall" is the elapsed
rate of the same run (inflated by the machine's other load, printed with the load average).

Table 2 (``--no-given-boxes`` skips it): the same stages with exactly N people, the tracker given the drawn boxes
of N synthetic people (no detector): how the models' batch cost grows with the people count.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STAGES = ("convert", "follow", "detect", "track", "crop", "per-frame", "temporal", "publish", "total")


class CrowdScene:
    """N synthetic people side by side (the project's walking person, drawn N times), far ones first."""

    def __init__(self, n: int, width: int = 640, height: int = 480) -> None:
        from pose_estimation_ros.synthetic_scene import SyntheticScene
        xs = np.linspace(-1.6, 1.6, n) if n > 1 else [0.0]
        self.scenes = [SyntheticScene(width, height, near_m=2.99 + 0.5 * (i % 3), far_m=3.0 + 0.5 * (i % 3),
                                      period_s=1e6, lateral_m=float(x)) for i, x in enumerate(xs)]
        self.background = self.scenes[0].background()

    def render(self, t: float) -> tuple[np.ndarray, list[np.ndarray]]:
        img = self.background.copy()
        gts = [sc.pose(t) for sc in self.scenes]
        boxes = [None] * len(gts)
        for i in sorted(range(len(gts)), key=lambda k: -gts[k]["joints_cam"][0, 2]):
            boxes[i] = self.scenes[i]._draw_person(img, gts[i])   # noqa: SLF001 - composing several people
        return img, boxes


class NoFollow:
    """The real detector without its ``follow``: the pipeline runs it every ``detect_every`` frames and follows crops
    from the model's projection in between (the path before detection on demand; ``--no-follow``)."""

    def __init__(self, real) -> None:
        self.real, self.name = real, f"{real.name} (not following: every detect_every frames)"

    def detect(self, rgb):
        return self.real.detect(rgb)


class GivenBoxes:
    """A stand-in detector that hands the tracker the drawn boxes of the frame (set ``boxes`` before each frame)."""

    name = "given boxes (no detector)"

    def __init__(self) -> None:
        self.boxes: list[np.ndarray] = []

    def detect(self, rgb):
        from pose_estimation_ros.perception.detectors import Detection
        return [Detection(np.asarray(b, np.float32), 0.9) for b in self.boxes]


@dataclass
class RunResult:
    """One benchmark row: per-frame stage times (ms), rates, and what the path saw."""

    rows: dict[str, np.ndarray]
    cpu_fps: float
    wall_fps: float
    people: np.ndarray          # people estimated per frame
    detector_runs: int
    frames: int
    models: str
    note: str = ""


def run_frames(pipe, images, intr, pubs, warmup: int, before_frame=None) -> RunResult:
    """Feed ``images`` (list of (H, W, 3) RGB) through convert -> pipeline -> publish; time every stage.

    ``before_frame(i)`` is called before frame ``i`` (e.g. to set given boxes). The first ``warmup`` frames are
    processed but not counted.
    """
    from std_msgs.msg import Header

    from pose_estimation_msgs.msg import HumanPose3DArray
    from pose_estimation_ros.perception.codec import msg_to_numpy, to_rgb8
    from pose_estimation_ros.ros_conversions import human_msg, image_msg, ns_to_stamp, skeleton_markers

    clock = time.process_time
    pipe.clock = clock
    msgs = [image_msg(rgb, "rgb8", Header(frame_id="cam")) for rgb in images]
    rows: dict[str, list[float]] = {k: [] for k in STAGES}
    people, runs = [], 0
    pub_poses, pub_markers = pubs
    period = pipe.cfg.frame_period_ns or int(1e9 / 30)
    c_start, w_start = clock(), time.perf_counter()
    for i, msg in enumerate(msgs):
        if before_frame is not None:
            before_frame(i)
        if i == warmup:
            c_start, w_start = clock(), time.perf_counter()
        t0 = clock()
        rgb = to_rgb8(msg_to_numpy(msg), msg.encoding)
        t1 = clock()
        res = pipe.process(rgb, (i + 1) * period, intr)
        t2 = clock()
        header = Header(stamp=ns_to_stamp(res.stamp_ns or (i + 1) * period), frame_id="cam")
        out = HumanPose3DArray(header=header, ok=res.outcome == "ok", status=res.status)
        out.humans = [human_msg(header, e.person_id, e.joints_cam, e.confidence, e.score, e.temporal)
                      for e in res.estimates]
        pub_poses.publish(out)
        pub_markers.publish(skeleton_markers(header, [(e.person_id, e.joints_cam, e.temporal) for e in res.estimates]))
        t3 = clock()
        if i >= warmup:
            tm = res.timings_ms
            for k, v in (("convert", (t1 - t0) * 1e3), ("follow", tm.get("follow_ms", 0.0)),
                         ("detect", tm.get("detect_ms", 0.0)), ("track", tm.get("track_ms", 0.0)),
                         ("crop", tm["crop_ms"]),
                         ("per-frame", tm["per_frame_ms"]), ("temporal", tm["temporal_ms"]),
                         ("publish", (t3 - t2) * 1e3), ("total", (t3 - t0) * 1e3)):
                rows[k].append(v)
            people.append(len(res.estimates))
            runs += int(res.detector_ran)
    n = len(msgs) - warmup
    cpu, wall = clock() - c_start, time.perf_counter() - w_start
    models = (f"{pipe.per_frame.meta.name} {pipe.per_frame.meta.input_size[0]} px"
              f"{' (untrained)' if not pipe.per_frame.meta.trained else ''}, "
              f"{pipe.temporal.path.name + ' (lag ' + str(pipe.cfg.temporal_lag) + ')' if pipe.temporal else 'no temporal'}")
    return RunResult({k: np.asarray(v) for k, v in rows.items()}, n / cpu, n / wall, np.asarray(people), runs, n,
                     models)


def _config(args, **kw):
    from pose_estimation_ros.perception.pipeline import PerceptionConfig
    return PerceptionConfig(per_frame_model=args.per_frame_model, temporal_model=args.temporal_model,
                            temporal_lag=args.temporal_lag, provider=args.provider, threads=args.threads,
                            frame_period_ns=int(1e9 / 30), flip_test=args.flip_test, **kw)


def full_path_run(args, seq, redetect_every: int, pubs) -> RunResult:
    """Table 1 row: the rendered sequence ``seq`` through the full path with the real detector."""
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.detectors import build_detector
    from pose_estimation_ros.perception.pipeline import PerceptionPipeline

    kw = {"num_threads": args.detector_threads} if (args.detector or "blazepose") == "blazepose" and args.detector_threads \
        else {}
    det, warning = build_detector(args.detector, **kw)
    if args.no_follow:
        det = NoFollow(det)
    pipe = PerceptionPipeline(_config(args, detector=args.detector, redetect_every=redetect_every,
                                      detect_every=args.detect_every, max_people=max(5, seq.people)), detector=det)
    h, w = seq.frames.shape[1:3]
    intr = Intrinsics(w, h, seq.K[0, 0], seq.K[1, 1], seq.K[0, 2], seq.K[1, 2])
    images = [seq.frames[i % len(seq.frames)] for i in range(args.frames + args.warmup)]
    res = run_frames(pipe, images, intr, pubs, args.warmup)
    res.note = f"{det.name}{' (follows people)' if pipe.following else ''}" + (f"; {warning}" if warning else "")
    return res


def given_boxes_run(args, n_people: int, pubs) -> RunResult:
    """Table 2 row: N drawn people, the tracker given their boxes every frame (no detector)."""
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionPipeline

    crowd = CrowdScene(n_people)
    sc = crowd.scenes[0]
    intr = Intrinsics(640, 480, sc.fx, sc.fy, sc.cx, sc.cy)
    det = GivenBoxes()
    pipe = PerceptionPipeline(_config(args, detect_every=1, max_people=max(5, n_people)), detector=det)
    drawn = [crowd.render(i / 30.0) for i in range(min(args.frames + args.warmup, 60))]
    images = [drawn[i % len(drawn)][0] for i in range(args.frames + args.warmup)]

    def set_boxes(i: int) -> None:
        det.boxes = drawn[i % len(drawn)][1]

    return run_frames(pipe, images, intr, pubs, args.warmup, before_frame=set_boxes)


def _stage_cells(r: RunResult, stages=STAGES) -> list[str]:
    return [f"{r.rows[s].mean():.1f}" if s != "total" else f"{r.rows[s].mean():.1f} / {np.percentile(r.rows[s], 95):.1f}"
            for s in stages]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", default="1,3,5", help="comma-separated people counts (sequences p<N>)")
    ap.add_argument("--frames", type=int, default=80, help="measured frames per row (the sequence loops)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (0 = default)")
    ap.add_argument("--detector-threads", type=int, default=0,
                    help="LiteRT threads of the blazepose detector (0 = the detector's default, 2)")
    ap.add_argument("--detector", default="", help="'' = the pipeline's default detector")
    ap.add_argument("--redetect-every", default="",
                    help="comma-separated values of the pipeline's redetect_every ('' = its default)")
    ap.add_argument("--no-follow", action="store_true",
                    help="hide the detector's follow(): detector every --detect-every frames (the old path, for A/B)")
    ap.add_argument("--detect-every", type=int, default=3, help="detector period with --no-follow")
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--flip-test", action="store_true", help="the pipeline's flip_test (per-frame model twice)")
    ap.add_argument("--per-frame-model", default="", help="'' = packaged mocap_spin.onnx")
    ap.add_argument("--temporal-model", default="", help="'' = posebert.onnx (lag 0) / posebert_lag<k>.onnx, 'none'")
    ap.add_argument("--temporal-lag", type=int, default=0, help="0 = causal, k = k frames of look-ahead")
    ap.add_argument("--scenes", default=None, help="folder of the rendered sequences (default runs/bench_scenes)")
    ap.add_argument("--no-given-boxes", action="store_true", help="skip table 2 (drawn people, boxes given)")
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.node import Node
    from visualization_msgs.msg import MarkerArray

    from bench.sequences import SCENES_DIR, ensure_sequence, load_sequence
    from pose_estimation_msgs.msg import HumanPose3DArray
    from pose_estimation_ros.perception.pipeline import REDETECT_EVERY
    from pose_estimation_ros.runner import loopback_env

    counts = [int(c) for c in args.people.split(",") if c.strip()]
    everys = [int(c) for c in args.redetect_every.split(",") if c.strip()] or [REDETECT_EVERY]
    root = Path(args.scenes) if args.scenes else SCENES_DIR
    try:
        seqs = {n: load_sequence(ensure_sequence(f"p{n}", root)) for n in counts}
        skipped = ""
    except (OSError, ValueError, subprocess.CalledProcessError) as e:   # no renderer / GL / motion data here
        seqs, skipped = {}, f"full path skipped: the rendered sequences cannot be made here ({e})"
        print(skipped, flush=True)

    os.environ.update(loopback_env())
    rclpy.init()
    node = Node("bench_perception")
    pubs = (node.create_publisher(HumanPose3DArray, "poses", 10), node.create_publisher(MarkerArray, "pose_markers", 10))
    full = {(n, e): full_path_run(args, seqs[n], e, pubs) for e in everys for n in counts if n in seqs}
    given = {} if args.no_given_boxes else {n: given_boxes_run(args, n, pubs) for n in counts}
    node.destroy_node()
    rclpy.try_shutdown()

    first = next(iter(full.values()), None) or next(iter(given.values()), None)
    if first is None:
        return 1
    load = os.getloadavg()
    print(f"\nperception path on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: the machine is shared), provider {args.provider}, "
          f"onnxruntime threads {args.threads or 'default'}, detector threads {args.detector_threads or 'default (2)'}, "
          f"{args.frames} frames 640x480 rgb8 per row, models: {first.models}; detector: {first.note or '-'}\n")
    if skipped:
        print(skipped)
    else:
        print("Full path (rendered sequences bench/sequences.py; CPU ms per frame, means; detect = amortised over all "
              "frames):\n")
        print("| people (estimated mean) | redetect_every | detector runs | " + " | ".join(STAGES[:-1]) +
              " | total mean / p95 ms | frames/s CPU | frames/s wall |")
        print("|---" * (len(STAGES) + 5) + "|")
    for (n, e), r in full.items():
        print(f"| {n} ({r.people.mean():.2f}) | {e if not args.no_follow else 'no follow'} | "
              f"{r.detector_runs}/{r.frames} | " + " | ".join(_stage_cells(r)) +
              f" | {r.cpu_fps:.1f} | {r.wall_fps:.1f} |")
    if given:
        print("\nExactly N drawn people, the tracker given their boxes (no detector; CPU ms per frame, means):\n")
        stages = [s for s in STAGES if s not in ("follow", "detect")]
        print("| people | " + " | ".join(stages[:-1]) + " | total mean / p95 ms | frames/s CPU | frames/s wall |")
        print("|---" * (len(stages) + 3) + "|")
        for n, r in given.items():
            print(f"| {n} | " + " | ".join(_stage_cells(r, stages)) + f" | {r.cpu_fps:.1f} | {r.wall_fps:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
