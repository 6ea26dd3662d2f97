"""Controller reaction time: pose message in -> command out. Prints markdown tables.

    scripts/netns_run.sh .venv/bin/python -m bench.controller_latency [--messages 1000] [--rate 50]

Three measurements:

1. **Two processes, real rclpy/DDS** (loopback): this process publishes HumanPose3DArray messages (one person,
   24 joints) to a ``controller_node`` process and times, on its monotonic clock, publish -> arrival of the
   controller's ``safety_status`` for that message (published right after ``cmd_vel_out`` in the same
   callback). Each message is tagged by the person's distance, which comes back as ``min_distance``, so a
   status from a timer cycle is never mistaken for the reply. Includes serialisation, two DDS hops and
   both executors: an upper bound of the controller's reaction time.
2. **In-node**: a ``ControllerNode`` in this process; its pose callback is called with a ready message
   and timed until it returns (message -> numpy, safety core, cmd_vel_out/arm/status published via rcl).
3. **Core only** (ROS-free): ``SafetyMonitor.on_poses`` + ``step`` for 1, 3 and 5 people with the mobile
   base and arm configurations.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from pose_estimation_ros.safety import SafetyMonitor, config_from_yaml, invert_transform, to_base
from pose_estimation_ros.safety.scenarios import person_joints
from pose_estimation_ros.stack import config_dir


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def row(name: str, ms: list[float], cpu: list[float] | None = None) -> str:
    c = f"{statistics.median(cpu):.3f} | {pct(cpu, 99):.3f}" if cpu else "- | -"
    return f"| {name} | {len(ms)} | {statistics.median(ms):.3f} | {pct(ms, 99):.3f} | {max(ms):.3f} | {c} |"


HEADER = ["| measurement | n | wall p50 (ms) | wall p99 (ms) | wall max (ms) | CPU p50 (ms) | CPU p99 (ms) |",
          "|---|---|---|---|---|---|---|"]


def people_cam(cfg, n: int, x0: float) -> list:
    inv = invert_transform(SafetyMonitor(cfg).transform)
    return [(i + 1, to_base(person_joints(x0 + 0.7 * i, 0.8 * i), inv), np.full(24, 0.9)) for i in range(n)]


def bench_core(n_iter: int) -> list[str]:
    rows = []
    for robot in ("mobile_base", "arm"):
        cfg = config_from_yaml(config_dir() / f"zones_{robot}.yaml")
        for n in (1, 3, 5):
            m = SafetyMonitor(cfg)
            ppl = people_cam(cfg, n, 2.5)
            t, ms_in, ms_step, cpu_in, cpu_step = 100.0, [], [], [], []
            for k in range(n_iter):
                t += 1 / 30.0
                moved = [(pid, j + 0.001 * (k % 7), c) for pid, j, c in ppl]   # a little motion: velocities
                a, ca = time.perf_counter(), time.thread_time()
                m.on_poses(t, t - 0.03, moved)
                b, cb = time.perf_counter(), time.thread_time()
                m.step(t, (1.0, 0.0, 0.2))
                c, cc = time.perf_counter(), time.thread_time()
                ms_in.append((b - a) * 1e3)
                ms_step.append((c - b) * 1e3)
                cpu_in.append((cb - ca) * 1e3)
                cpu_step.append((cc - cb) * 1e3)
            total = [x + y for x, y in zip(ms_in, ms_step)]
            cpu_total = [x + y for x, y in zip(cpu_in, cpu_step)]
            rows += [row(f"core {robot}, {n} person(s): on_poses", ms_in, cpu_in),
                     row(f"core {robot}, {n} person(s): step", ms_step, cpu_step),
                     row(f"core {robot}, {n} person(s): on_poses + step", total, cpu_total)]
    return rows


def bench_in_node(n_iter: int) -> list[str]:
    import rclpy

    from pose_estimation_ros.nodes.controller_node import ControllerNode
    from pose_estimation_ros.tools.fault_injection import pose_array, robot_config
    rclpy.init(args=["--ros-args", "--params-file", str(config_dir() / "controller.yaml")])
    node = ControllerNode()
    cfg = robot_config()
    ms, cpu = [], []
    try:
        for k in range(n_iter):
            msg = pose_array(time.time_ns(), people_cam(cfg, 1, 3.0 + 0.001 * (k % 100)))
            a, ca = time.perf_counter(), time.thread_time()
            node._on_poses(msg)
            ms.append((time.perf_counter() - a) * 1e3)
            cpu.append((time.thread_time() - ca) * 1e3)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return [row("in-node: pose callback -> cmd_vel_out + status published", ms, cpu)]


def echo_node() -> int:
    """Baseline peer: a minimal rclpy node that answers every pose message with a SafetyStatus (same stamp)."""
    import rclpy
    from rclpy.node import Node

    from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus
    rclpy.init()
    node = Node("echo")
    pub = node.create_publisher(SafetyStatus, "safety_status", 10)
    node.create_subscription(HumanPose3DArray, "poses", lambda m: pub.publish(SafetyStatus(header=m.header)), 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    rclpy.try_shutdown()
    return 0


def bench_two_processes(n_msgs: int, rate: float, echo: bool = False, control_rate: float = 50.0) -> list[str]:
    import subprocess

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus
    from pose_estimation_ros.runner import loopback_env
    from pose_estimation_ros.spin import spin_until as spin_ex
    from pose_estimation_ros.tools.fault_injection import pose_array, robot_config, start_controller, stop_process
    cfg = robot_config()
    if echo:
        proc = subprocess.Popen([sys.executable, "-m", "bench.controller_latency", "--echo-node"], env=loopback_env())
    else:
        proc = start_controller({"control_rate_hz": f"{float(control_rate)}"})
    rclpy.init()
    node = Node("latency_bench")           # a lean node: one publisher, one subscription
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    from geometry_msgs.msg import Twist
    replies: list[tuple[float, float, int, int]] = []     # arrival (monotonic), min_distance, stamp, source time
    cmds: list[int] = []                                   # cmd_vel_out source (publish) times, ns system clock
    node.create_subscription(SafetyStatus, "safety_status", lambda m, info: replies.append(
        (time.monotonic(), m.min_distance, m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec,
         info["source_timestamp"])), 100)
    node.create_subscription(Twist, "cmd_vel_out", lambda m, info: cmds.append(info["source_timestamp"]), 100)
    pub = node.create_publisher(HumanPose3DArray, "poses", 10)
    inv = invert_transform(SafetyMonitor(cfg).transform)
    ms, react = [], []

    def spin_until(pred, timeout):
        return spin_ex(ex, pred, timeout, step=0.005)
    try:
        ready = (lambda: node.count_subscribers("poses") > 0) if echo else \
            (lambda: replies and node.count_subscribers("poses") > 0)
        if not spin_until(ready, 30.0):
            raise RuntimeError(f"peer did not start (exit {proc.poll()})")
        warmup = 50
        for k in range(n_msgs + warmup):
            x = 3.0 + 0.001 * (k % 500)
            base = person_joints(x, 0.0)
            expect = float(np.min(np.hypot(base[:, 0], base[:, 1])))
            stamp = time.time_ns()
            msg = pose_array(stamp, [(1, to_base(base, inv), np.full(24, 0.9))])
            n0 = len(replies)
            t0, t0_sys = time.monotonic(), time.time_ns()
            pub.publish(msg)
            hit = []

            def got():
                hit.extend((t, src) for t, d, st, src in replies[n0:]
                           if (st == stamp if echo else abs(d - expect) < 2e-4))
                return bool(hit)
            if spin_until(got, 1.0) and k >= warmup:
                ms.append((hit[0][0] - t0) * 1e3)
                # the command published in the same callback, just before the status (may arrive after it)
                src = hit[0][1]
                if echo:
                    react.append((src - t0_sys) * 1e-6)
                elif spin_until(lambda: any(t0_sys <= c <= src for c in cmds), 0.2):
                    react.append((min(c for c in cmds if t0_sys <= c <= src) - t0_sys) * 1e-6)
            time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        stop_process(proc)
    lost = f" ({n_msgs - len(ms)} lost)" if len(ms) < n_msgs else ""
    if echo:
        return [row("baseline, minimal rclpy echo node: pose publish -> reply published" + lost, react),
                row("baseline, minimal rclpy echo node: round trip" + lost, ms)]
    return [row("**two processes: pose publish -> cmd_vel_out published by the controller**" + lost, react),
            row("two processes: round trip, pose publish -> safety_status received back" + lost, ms)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1000, help="pose messages for the ROS measurements")
    ap.add_argument("--rate", type=float, default=50.0, help="pose messages per second (two-process run)")
    ap.add_argument("--control-rate", type=float, default=50.0, help="controller control_rate_hz")
    ap.add_argument("--core-iterations", type=int, default=3000)
    ap.add_argument("--skip-ros", action="store_true", help="core-only table")
    ap.add_argument("--echo-node", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.echo_node:
        return echo_node()
    import os
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes compete for the CPUs)")
    if not args.skip_ros:
        print("\nReaction time through ROS (controller.yaml + zones_mobile_base.yaml, 1 person, 24 joints):\n")
        print("\n".join(HEADER + bench_two_processes(args.messages, args.rate, control_rate=args.control_rate)
                        + bench_two_processes(args.messages, args.rate, echo=True) + bench_in_node(args.messages)))
    print("\nSafety core alone (ROS-free):\n")
    print("\n".join(HEADER + bench_core(args.core_iterations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
