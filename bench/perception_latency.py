"""Per-stage latency and throughput of the perception path on this machine's CPU.

    python -m bench.perception_latency [--frames 200] [--threads 0] [--crop tracking] [--provider cpu]

Stages, per frame (what the perception node does for each image message):
  convert   sensor_msgs/Image (640x480 rgb8 from the synthetic scene) -> numpy RGB
  crop      person crop + resize + normalisation
  per-frame MoCap-SPIN ONNX model
  temporal  PoseBERT ONNX model over the 16-frame window
  publish   building HumanPose3DArray + MarkerArray and rclpy publish (in-process node, loopback DDS)
Throughput is frames per second through all stages back to back (single thread of control).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = default)")
    ap.add_argument("--crop", default="tracking")
    ap.add_argument("--provider", default="cpu")
    ap.add_argument("--per-frame-model", default="")
    ap.add_argument("--temporal-model", default="", help="'' = posebert.onnx (lag 0) / posebert_lag<k>.onnx")
    ap.add_argument("--temporal-lag", type=int, default=0, help="0 = causal, k = k frames of look-ahead")
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from pose_estimation_msgs.msg import HumanPose3DArray
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.codec import msg_to_numpy, to_rgb8
    from pose_estimation_ros.nodes.perception_node import resolve_model
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
    from pose_estimation_ros.ros_conversions import human_msg, image_msg, ns_to_stamp, skeleton_markers
    from pose_estimation_ros.runner import loopback_env
    from pose_estimation_ros.synthetic_scene import SyntheticScene

    os.environ.update(loopback_env())
    scene = SyntheticScene(640, 480)
    intr = Intrinsics(640, 480, scene.fx, scene.fy, scene.cx, scene.cy)
    default_temporal = "posebert.onnx" if args.temporal_lag == 0 else f"posebert_lag{args.temporal_lag}.onnx"
    cfg = PerceptionConfig(per_frame_model=resolve_model(args.per_frame_model, "mocap_spin.onnx"),
                           temporal_model=resolve_model(args.temporal_model, default_temporal),
                           temporal_lag=args.temporal_lag, provider=args.provider, threads=args.threads,
                           crop=args.crop, frame_period_ns=int(1e9 / 15))
    pipe = PerceptionPipeline(cfg)
    rclpy.init()
    node = Node("bench_perception")
    pub_poses = node.create_publisher(HumanPose3DArray, "poses", 10)
    pub_markers = node.create_publisher(MarkerArray, "pose_markers", 10)

    n_total = args.frames + args.warmup
    msgs = []
    for i in range(min(n_total, 150)):
        rgb, _ = scene.render(i / 15.0)
        msgs.append(image_msg(rgb, "rgb8", Header(stamp=ns_to_stamp(i * int(1e9 / 15)), frame_id="cam")))
    rows: dict[str, list[float]] = {k: [] for k in ("convert", "crop", "per-frame", "temporal", "publish", "total")}
    t_start = None
    for i in range(n_total):
        msg = msgs[i % len(msgs)]
        stamp_ns = i * int(1e9 / 15)
        if i == args.warmup:
            t_start = time.perf_counter()
        t0 = time.perf_counter()
        rgb = to_rgb8(msg_to_numpy(msg), msg.encoding)
        t1 = time.perf_counter()
        res = pipe.process(rgb, stamp_ns, intr)
        t2 = time.perf_counter()
        header = Header(stamp=ns_to_stamp(stamp_ns), frame_id="cam")
        out = HumanPose3DArray(header=header, ok=True, status=res.status)
        out.humans = [human_msg(header, e.person_id, e.joints_cam, e.confidence, e.score, e.temporal)
                      for e in res.estimates]
        pub_poses.publish(out)
        pub_markers.publish(skeleton_markers(header, [(e.person_id, e.joints_cam, e.temporal) for e in res.estimates]))
        t3 = time.perf_counter()
        if i >= args.warmup:
            rows["convert"].append((t1 - t0) * 1e3)
            rows["crop"].append(res.timings_ms["crop_ms"])
            rows["per-frame"].append(res.timings_ms["per_frame_ms"])
            rows["temporal"].append(res.timings_ms["temporal_ms"])
            rows["publish"].append((t3 - t2) * 1e3)
            rows["total"].append((t3 - t0) * 1e3)
    wall = time.perf_counter() - t_start
    node.destroy_node()
    rclpy.try_shutdown()

    print(f"\nperception latency on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"provider {pipe.per_frame.providers[0]}, threads {args.threads or 'default'}, crop {args.crop}, "
          f"{args.frames} frames 640x480 rgb8, models: {pipe.per_frame.meta.name} "
          f"{pipe.per_frame.meta.architecture.get('backbone', '')} {pipe.per_frame.meta.input_size}, "
          f"{pipe.temporal.path.name + ' (lag ' + str(args.temporal_lag) + ')' if pipe.temporal else 'no temporal'}\n")
    print("| stage | mean ms | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for k, v in rows.items():
        a = np.asarray(v)
        print(f"| {k} | {a.mean():.2f} | {np.percentile(a, 50):.2f} | {np.percentile(a, 95):.2f} | "
              f"{np.percentile(a, 99):.2f} |")
    print(f"\nthroughput: {args.frames / wall:.1f} frames/s (all stages back to back)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
