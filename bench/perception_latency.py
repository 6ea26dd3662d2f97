"""Per-stage latency and throughput of the perception path with 1, 3 and 5 people, and the temporal path's
position-jitter reduction, on this machine's CPU.

    python -m bench.perception_latency [--people 1,3,5] [--frames 100] [--threads 0] [--detector hog]
                                       [--detect-every 3] [--provider cpu] [--temporal-lag 0] [--jitter]

Frames: the synthetic scene (640x480 rgb8) with N people drawn side by side at 3-5 m. Stages per frame
(what the perception node does for each image message):
  convert   sensor_msgs/Image -> numpy RGB
  detect    the real detector (``--detector``, every ``--detect-every`` frames; mean over all frames)
  crop      SPIN crops of every person + resize + normalisation
  per-frame the per-frame ONNX model, one batch of N crops
  temporal  the temporal ONNX model, one batch of N windows, + the outputs (translation fit, projection)
  publish   HumanPose3DArray + MarkerArray built and published (in-process rclpy node, loopback DDS)
The tracker is fed the drawn people's boxes (what the detector found on these frames is reported as its
recall), so every run estimates exactly N people. Throughput: frames per second, all stages back to back.

``--jitter``: the pelvis position (camera frame) of one person walking towards the camera and back,
per-frame path vs temporal path (causal and lag 4), as the mean norm of its second difference
(mm/frame^2) over the published frames, and the reduction factor.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

STAGES = ("convert", "detect", "crop", "per-frame", "temporal", "publish", "total")


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


class TimedDetector:
    """Runs the real detector (for its time and recall) and hands the tracker the drawn boxes."""

    def __init__(self, real) -> None:
        self.real, self.name = real, f"{real.name} (timed; tracker fed drawn boxes)"
        self.boxes: list[np.ndarray] = []
        self.found: list[tuple[int, int]] = []

    def detect(self, rgb):
        from pose_estimation_ros.perception.detectors import Detection
        got = self.real.detect(rgb)
        hits = sum(any(_iou(d.box, b) >= 0.3 for d in got) for b in self.boxes)
        self.found.append((hits, len(self.boxes)))
        return [Detection(np.asarray(b, np.float32), 0.9) for b in self.boxes]


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def latency_run(args, n_people: int, node, pubs) -> tuple[dict[str, np.ndarray], float, str, str]:
    from std_msgs.msg import Header

    from pose_estimation_msgs.msg import HumanPose3DArray
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.codec import msg_to_numpy, to_rgb8
    from pose_estimation_ros.perception.detect import build_detector
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
    from pose_estimation_ros.ros_conversions import human_msg, image_msg, ns_to_stamp, skeleton_markers

    crowd = CrowdScene(n_people)
    sc = crowd.scenes[0]
    intr = Intrinsics(640, 480, sc.fx, sc.fy, sc.cx, sc.cy)
    real, warning = build_detector(args.detector)
    det = TimedDetector(real)
    cfg = PerceptionConfig(per_frame_model=args.per_frame_model, temporal_model=args.temporal_model,
                           temporal_lag=args.temporal_lag, provider=args.provider, threads=args.threads,
                           detect_every=args.detect_every, max_people=max(5, n_people), frame_period_ns=int(1e9 / 30))
    pipe = PerceptionPipeline(cfg, detector=det)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    pipe.clock = clock
    frames = []
    for i in range(min(args.frames + args.warmup, 60)):
        rgb, boxes = crowd.render(i / 30.0)
        frames.append((image_msg(rgb, "rgb8", Header(frame_id="cam")), boxes))
    rows: dict[str, list[float]] = {k: [] for k in STAGES}
    people = []
    pub_poses, pub_markers = pubs
    t_start = clock()
    for i in range(args.frames + args.warmup):
        msg, boxes = frames[i % len(frames)]
        det.boxes = boxes
        stamp_ns = (i + 1) * int(1e9 / 30)
        if i == args.warmup:
            t_start = clock()
        t0 = clock()
        rgb = to_rgb8(msg_to_numpy(msg), msg.encoding)
        t1 = clock()
        res = pipe.process(rgb, stamp_ns, intr)
        t2 = clock()
        header = Header(stamp=ns_to_stamp(res.stamp_ns or stamp_ns), frame_id="cam")
        out = HumanPose3DArray(header=header, ok=res.outcome == "ok", status=res.status)
        out.humans = [human_msg(header, e.person_id, e.joints_cam, e.confidence, e.score, e.temporal)
                      for e in res.estimates]
        pub_poses.publish(out)
        pub_markers.publish(skeleton_markers(header, [(e.person_id, e.joints_cam, e.temporal) for e in res.estimates]))
        t3 = clock()
        if i >= args.warmup:
            tm = res.timings_ms
            for k, v in (("convert", (t1 - t0) * 1e3), ("detect", tm.get("detect_ms", 0.0)),
                         ("crop", tm["crop_ms"]), ("per-frame", tm["per_frame_ms"]), ("temporal", tm["temporal_ms"]),
                         ("publish", (t3 - t2) * 1e3), ("total", (t3 - t0) * 1e3)):
                rows[k].append(v)
            people.append(len(res.estimates))
    wall = clock() - t_start
    hits = sum(h for h, _ in det.found)
    total = sum(n for _, n in det.found)
    recall = f"{real.name} found {hits}/{total} drawn people ({100.0 * hits / max(total, 1):.0f} %)" + (
        f"; {warning}" if warning else "")
    models = (f"{pipe.per_frame.meta.name} {pipe.per_frame.meta.input_size}"
              f"{' (untrained)' if not pipe.per_frame.meta.trained else ''}, "
              f"{pipe.temporal.path.name + ' (lag ' + str(args.temporal_lag) + ')' if pipe.temporal else 'no temporal'}")
    if min(people) < n_people:   # a track lost between detector runs is not published until the next run
        recall += f"; people estimated per frame {min(people)}..{max(people)} (mean {np.mean(people):.2f})"
    return {k: np.asarray(v) for k, v in rows.items()}, args.frames / wall, recall, models


class NoisyOracle:
    """A simulated per-frame model for the jitter measurement: the ground truth of the frame with noise.

    Weak-perspective camera from the true pelvis translation and the crop box (inverse of
    ``kinematics.weak_perspective_to_translation``), scale x (1 + N(0, ``scale_noise``)), tx/ty + N(0,
    ``shift_noise``); true local rotations (6D) + N(0, 0.05); true root-relative joints + N(0, 2 cm).
    """

    def __init__(self, intr, scale_noise: float = 0.04, shift_noise: float = 0.02, seed: int = 0) -> None:
        self.intr, self.scale_noise, self.shift_noise = intr, scale_noise, shift_noise
        self.rng = np.random.default_rng(seed)
        self.gt = None
        self.box = None

    def __call__(self, x: np.ndarray):
        from pose_estimation_ros.kinematics import matrix_to_rot6d
        i, g, b = self.intr, self.gt, self.box
        t = g["joints_cam"][0]
        s = 2.0 * i.fx / (b.size * t[2])
        tx = (i.fx * t[0] / t[2] + i.cx - b.cx) * 2.0 / (b.size * s)
        ty = (i.fy * t[1] / t[2] + i.cy - b.cy) * 2.0 / (b.size * s)
        r = self.rng
        cam = np.array([s * (1 + r.normal(0, self.scale_noise)), tx + r.normal(0, self.shift_noise),
                        ty + r.normal(0, self.shift_noise)])
        pose6d = matrix_to_rot6d(g["local_rotmats"]) + r.normal(0, 0.05, (24, 6))
        joints = g["joints_cam"] - t + r.normal(0, 0.02, (24, 3))
        n = len(x)
        return (np.repeat(pose6d[None], n, 0).astype(np.float32), np.zeros((n, 10), np.float32),
                np.repeat(cam[None], n, 0).astype(np.float32), np.repeat(joints[None], n, 0).astype(np.float32))


def jitter_table(args) -> list[tuple[str, str, float, float, float, int]]:
    """Pelvis jitter of the per-frame path vs the temporal path (causal and lagged) on the synthetic walk.

    Returns rows (per-frame source, path, raw jitter mm/frame^2, acceleration error vs ground truth
    mm/frame^2, pelvis error mm, frames) for the installed per-frame model and for :class:`NoisyOracle`.
    """
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.crop import box_from_xyxy
    from pose_estimation_ros.perception.detectors import Detection
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
    from pose_estimation_ros.synthetic_scene import SyntheticScene

    scene = SyntheticScene(640, 480, period_s=8.0)
    intr = Intrinsics(640, 480, scene.fx, scene.fy, scene.cx, scene.cy)
    frames = [scene.render(i / 15.0) for i in range(args.jitter_frames)]

    class DrawnBox:
        name = "drawn boxes"
        box = None

        def detect(self, rgb):
            return [Detection(np.asarray(self.box, np.float32), 0.9)]

    rows = []
    for source in ("installed model", "simulated (truth + noise)"):
        for label, temporal, lag in (("per-frame only", "none", 0), ("temporal, causal", "", 0),
                                     ("temporal, lag 4", "", 4)):
            det = DrawnBox()
            oracle = NoisyOracle(intr) if source.startswith("simulated") else None
            pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=args.per_frame_model, temporal_model=temporal,
                                                       temporal_lag=lag, threads=args.threads, detect_every=1,
                                                       frame_period_ns=int(1e9 / 15)), detector=det,
                                      per_frame_runner=oracle)
            pos, gt = {}, {}
            for i, (rgb, g) in enumerate(frames):
                det.box = g["bbox"]
                if oracle is not None:
                    oracle.gt, oracle.box = g, box_from_xyxy(g["bbox"], (480, 640), pipe.limits)
                stamp = (i + 1) * int(1e9 / 15)
                gt[stamp] = g["joints_cam"][0]
                res = pipe.process(rgb, stamp, intr)
                for e in res.estimates:
                    pos[res.stamp_ns] = e.joints_cam[0]
            period = int(1e9 / 15)
            triples = [s for s in sorted(pos) if s + period in pos and s + 2 * period in pos]
            est = np.array([[pos[s], pos[s + period], pos[s + 2 * period]] for s in triples])
            tru = np.array([[gt[s], gt[s + period], gt[s + 2 * period]] for s in triples])
            d2 = lambda a: a[:, 2] - 2 * a[:, 1] + a[:, 0]  # noqa: E731
            jitter = np.linalg.norm(d2(est), axis=1).mean() * 1e3
            acc_err = np.linalg.norm(d2(est) - d2(tru), axis=1).mean() * 1e3
            err = np.mean([np.linalg.norm(pos[s] - gt[s]) for s in pos]) * 1e3
            rows.append((source, label, jitter, acc_err, err, len(pos)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", default="1,3,5", help="comma-separated people counts")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = default)")
    ap.add_argument("--detector", default="", help="'' = the pipeline's default detector")
    ap.add_argument("--detect-every", type=int, default=3)
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--per-frame-model", default="", help="'' = packaged mocap_spin.onnx")
    ap.add_argument("--temporal-model", default="", help="'' = posebert.onnx (lag 0) / posebert_lag<k>.onnx, 'none'")
    ap.add_argument("--temporal-lag", type=int, default=0, help="0 = causal, k = k frames of look-ahead")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: CPU time of the benchmark thread (use with --threads 1 on a "
                         "machine loaded by other work: frames/s is then 1000 / total CPU ms)")
    ap.add_argument("--jitter", action="store_true", help="also measure the temporal path's position jitter")
    ap.add_argument("--jitter-frames", type=int, default=120)
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.node import Node
    from visualization_msgs.msg import MarkerArray

    from pose_estimation_msgs.msg import HumanPose3DArray
    from pose_estimation_ros.runner import loopback_env

    os.environ.update(loopback_env())
    rclpy.init()
    node = Node("bench_perception")
    pubs = (node.create_publisher(HumanPose3DArray, "poses", 10), node.create_publisher(MarkerArray, "pose_markers", 10))
    counts = [int(c) for c in args.people.split(",") if c.strip()]
    table = {}
    for n in counts:
        table[n] = latency_run(args, n, node, pubs)
    node.destroy_node()
    rclpy.try_shutdown()

    print(f"\nperception latency on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"provider {args.provider}, threads {args.threads or 'default'}, {args.clock} clock, detector every "
          f"{args.detect_every} "
          f"frames, {args.frames} frames 640x480 rgb8 per row, models: {table[counts[0]][3]}\n")
    print("| people | " + " | ".join(f"{s} mean / p95 ms" for s in STAGES) + " | frames/s |")
    print("|---" * (len(STAGES) + 2) + "|")
    for n in counts:
        rows, fps, _, _ = table[n]
        cells = [f"{rows[s].mean():.2f} / {np.percentile(rows[s], 95):.2f}" for s in STAGES]
        print(f"| {n} | " + " | ".join(cells) + f" | {fps:.1f} |")
    print()
    for n in counts:
        print(f"detector recall, {n} people: {table[n][2]}")

    if args.jitter:
        print(f"\npelvis position jitter on the synthetic walk (1 person, 6 m -> 1.5 m and back in 8 s, 15 Hz, "
              f"{args.jitter_frames} frames, crops from the drawn box every frame); acceleration error = "
              "mean |d2(estimate) - d2(truth)|, reduction = per-frame / temporal acceleration error\n")
        print("| per-frame source | path | jitter mm/frame^2 | acceleration error mm/frame^2 | reduction | "
              "pelvis error mm | frames |")
        print("|---|---|---|---|---|---|---|")
        base = {}
        for source, label, jitter, acc, err, n in jitter_table(args):
            base.setdefault(source, acc)
            print(f"| {source} | {label} | {jitter:.1f} | {acc:.1f} | {base[source] / acc:.1f}x | {err:.0f} | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
