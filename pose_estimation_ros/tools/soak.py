"""Soak run: the whole stack on the demo scene for a long time with faults injected at random.

    scripts/netns_run.sh .venv/bin/python -m pose_estimation_ros.tools.soak --minutes 30 [--seed 1]

Starts camera (synthetic scene), perception and controller as separate processes (:class:`runner.Stack`,
loopback DDS), publishes ``cmd_vel_in`` at 1 m/s from this process and, every ``--every`` seconds on
average, injects one fault (seeded): perception killed (SIGKILL) and restarted 4 s later; 3 s of malformed
images on ``image_raw`` beside the camera's good ones; 3 s of images with bad stamps (sec = 2^31-1 and
nanosec >= 1e9); 3 s of ``camera_info`` with fx = inf; an invalid controller parameter set.

Checks (printed as a table, written as markdown with ``--out``):
- no node crashed (every exit is the soak's own stop; perception's are its kills);
- every fault window that removes the evidence the controller needs (perception killed) or is a stop by design
  (rejected parameters) reaches zero speed within watchdog_timeout + one control cycle and stays there;
  faults that leave good data flowing beside the bad (bad images, bad stamps, bad camera_info between the
  camera's good ones) keep poses flowing;
- nothing is left running at the end;
- the resident memory of each node at the end is within 10% of its value one minute after its (last) start.
"""
from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


from ..runner import Stack, loopback_env
from ..spin import PrivateNode
from ..stack import STACK, config_dir, node_by_name

FAULT_KINDS = ("kill_perception", "bad_images", "bad_stamps", "bad_camera_info", "bad_parameters")
# Faults after which the controller has nothing usable: zero speed is required for the whole window.
MUST_STOP = {"kill_perception", "bad_parameters"}
WATCHDOG = 0.5
RATE = 50.0
SLACK = 0.3      # scheduling allowance on a loaded 2-core machine


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Window:
    kind: str
    start: float                 # monotonic s
    end: float                   # when the fault stops being injected
    t_zero: float | None = None  # first zero-speed status after start
    moved: bool = False          # a non-zero speed while the fault lasted (after the bound)
    poses: int = 0               # pose messages received during the window


@dataclass
class Soak:
    windows: list[Window] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    rss: dict[str, tuple[int, int]] = field(default_factory=dict)   # node -> (KiB at 1 min, KiB at end)
    left_running: list[str] = field(default_factory=list)
    minutes: float = 0.0


class Injector(PrivateNode):
    """rclpy side of the soak: cmd_vel_in, fault publishers, and what the controller says."""

    def __init__(self) -> None:
        from geometry_msgs.msg import Twist
        from rclpy.parameter_client import AsyncParameterClient
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus
        super().__init__("soak_injector")
        n = self.node
        self.status: list[tuple[float, float, str]] = []    # (t, speed fraction, state)
        self.pose_times: list[float] = []
        n.create_subscription(SafetyStatus, "safety_status",
                              lambda m: self.status.append((time.monotonic(), m.speed_fraction, m.state_name)), 100)
        n.create_subscription(HumanPose3DArray, "poses",
                              lambda m: self.pose_times.append(time.monotonic()) if m.ok else None, 10)
        self.pub_image = n.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.pub_info = n.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        cmd_pub = n.create_publisher(Twist, "cmd_vel_in", 10)
        fwd = Twist()
        fwd.linear.x = 1.0
        n.create_timer(0.05, lambda: cmd_pub.publish(fwd))
        self.params = AsyncParameterClient(n, "controller")
        self.Image, self.CameraInfo = Image, CameraInfo

    def bad_image(self, k: int, stamp_mode: str = ""):
        """A malformed image (k cycles through truncated data, unknown encoding, zero size), or with
        ``stamp_mode`` a well-formed image with a bad stamp."""
        from builtin_interfaces.msg import Time
        msg = self.Image(height=480, width=640, encoding="rgb8", step=640 * 3)
        msg.header.frame_id = "camera_optical_frame"
        now = time.time_ns()
        msg.header.stamp = Time(sec=now // 10**9, nanosec=now % 10**9)
        if stamp_mode == "far_future":
            msg.header.stamp = Time(sec=2**31 - 1, nanosec=0)
        elif stamp_mode == "bad_nanosec":
            msg.header.stamp = Time(sec=now // 10**9, nanosec=1_500_000_000)
        if stamp_mode:
            msg.data = bytes(640 * 480 * 3)
        elif k % 3 == 0:
            msg.data = bytes(1000)
        elif k % 3 == 1:
            msg.encoding, msg.data = "weird16", bytes(640 * 480 * 3)
        else:
            msg.height = msg.width = msg.step = 0
        return msg

    def bad_info(self):
        from builtin_interfaces.msg import Time
        now = time.time_ns()
        info = self.CameraInfo(width=640, height=480, distortion_model="plumb_bob")
        info.header.stamp = Time(sec=now // 10**9, nanosec=now % 10**9)
        info.header.frame_id = "camera_optical_frame"
        info.k = [math.inf, 0.0, 320.0, 0.0, 554.0, 240.0, 0.0, 0.0, 1.0]
        info.p = [math.inf, 0.0, 320.0, 0.0, 0.0, 554.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def reject_parameters(self) -> None:
        from rclpy.parameter import Parameter
        self.params.set_parameters([Parameter("zones.stop.radius", value=5.0)])



def run(minutes: float, every: float, seed: int, log_dir: Path) -> Soak:
    rng = random.Random(seed)
    # The rejected-parameter hold outlasts the 3 s fault window, so the whole window must be at zero speed.
    sets = {"controller": {"watchdog_timeout": str(WATCHDOG), "control_rate_hz": str(RATE),
                           "param_reject_hold": "5.0"}}
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(list(STACK), config_dir(), sets, {}, log_dir=log_dir)
    inj = Injector()
    out = Soak(minutes=minutes)
    started = {n: time.monotonic() for n in stack.procs}
    rss_1min: dict[str, int] = {}
    t0 = time.monotonic()
    end = t0 + 60.0 * minutes
    quiet_tail = 90.0           # no kill in the last 90 s: the last perception lives > 1 min before the end
    next_fault = t0 + 30.0 + rng.uniform(0, every)
    try:
        from tqdm import tqdm
        bar = tqdm(total=int(60 * minutes), unit="s", desc="soak", mininterval=30.0)
        while (now := time.monotonic()) < end:
            inj.spin_for(0.5)
            bar.update(int(time.monotonic() - t0) - bar.n)
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    out.crashes.append(f"{name} exited {proc.returncode} at {time.monotonic() - t0:.0f} s")
                    raise RuntimeError(out.crashes[-1])
                if name not in rss_1min and now - started[name] >= 60.0:
                    rss_1min[name] = rss_kib(proc.pid) or 0
            if now < next_fault:
                continue
            kinds = [k for k in FAULT_KINDS if k != "kill_perception" or end - now > quiet_tail]
            kind = rng.choice(kinds)
            w = Window(kind, time.monotonic(), 0.0)
            n_poses = len(inj.pose_times)
            if kind == "kill_perception":
                stack.procs["perception"].send_signal(signal.SIGKILL)
                stack.procs["perception"].wait()
                inj.spin_for(4.0)
                w.end = time.monotonic()
                stack.procs["perception"] = _restart_perception(stack, sets, log_dir)
                started["perception"] = time.monotonic()
                rss_1min.pop("perception", None)
            else:
                k = 0
                while time.monotonic() - w.start < 3.0:
                    if kind == "bad_images":
                        inj.pub_image.publish(inj.bad_image(k))
                    elif kind == "bad_stamps":
                        inj.pub_image.publish(inj.bad_image(k, "far_future" if k % 2 else "bad_nanosec"))
                    elif kind == "bad_camera_info":
                        inj.pub_info.publish(inj.bad_info())
                    elif kind == "bad_parameters" and k == 0:
                        inj.reject_parameters()
                    k += 1
                    inj.spin_for(0.03 if kind == "bad_camera_info" else 0.1)
                w.end = time.monotonic()
            w.poses = len(inj.pose_times) - n_poses
            out.windows.append(w)
            next_fault = time.monotonic() + 10.0 + rng.uniform(0, 2 * every - 10.0)
            inj.spin_for(2.0)       # recovery, before judging the window (statuses of the window are in)
            _judge(w, inj.status)
        bar.close()
        for name, proc in stack.procs.items():
            out.rss[name] = (rss_1min.get(name, 0), rss_kib(proc.pid) or 0)
    finally:
        pids = {n: p.pid for n, p in stack.procs.items()}
        codes = stack.stop()
        inj.close()
        out.crashes += [f"{n} stopped with exit {c}" for n, c in codes.items() if c != 0]
        out.left_running = [n for n, pid in pids.items() if rss_kib(pid) is not None]
    return out


def _restart_perception(stack: Stack, sets: dict, log_dir: Path):
    from ..runner import start_node
    spec = node_by_name("perception")
    return start_node(spec, config_dir(), sets.get("perception"), None, "", log_dir / "perception_restart.log")


def _judge(w: Window, status: list[tuple[float, float, str]]) -> None:
    bound = WATCHDOG + 1.0 / RATE + SLACK
    inside = [(t, f) for t, f, _ in status if w.start <= t <= w.end]
    w.t_zero = next((t - w.start for t, f in inside if f == 0.0), None)
    if w.kind in MUST_STOP:
        w.moved = any(f > 0.0 for t, f in inside if t - w.start > bound)


def table(s: Soak) -> tuple[str, bool]:
    bound = WATCHDOG + 1.0 / RATE + SLACK
    rows = ["| fault | windows | expected | met | time to zero speed, max (ms) |", "|---|---|---|---|---|"]
    ok = not s.crashes and not s.left_running
    for kind in FAULT_KINDS:
        ws = [w for w in s.windows if w.kind == kind]
        if not ws:
            continue
        if kind in MUST_STOP:
            met = [w for w in ws if w.t_zero is not None and w.t_zero <= bound and not w.moved]
            tz = [w.t_zero for w in ws if w.t_zero is not None]
            rows.append(f"| {kind} | {len(ws)} | zero speed within {bound * 1e3:.0f} ms, held | {len(met)}/{len(ws)} "
                        f"| {max(tz) * 1e3:.0f} |" if tz else f"| {kind} | {len(ws)} | zero speed | 0/{len(ws)} | - |")
        else:
            met = [w for w in ws if w.poses > 0]
            rows.append(f"| {kind} | {len(ws)} | good frames keep giving poses | {len(met)}/{len(ws)} | - |")
        ok &= len(met) == len(ws)
    mem = ["| node | RSS 1 min after (last) start (MiB) | RSS at end (MiB) | change |", "|---|---|---|---|"]
    for n, (a, b) in s.rss.items():
        change = (b - a) / a * 100 if a else math.nan
        ok &= a > 0 and abs(change) <= 10.0
        mem.append(f"| {n} | {a / 1024:.1f} | {b / 1024:.1f} | {change:+.1f}% |")
    lines = [f"soak: {s.minutes:g} min, {len(s.windows)} faults injected", "", *rows, "", *mem, "",
             f"crashes: {s.crashes or 'none'}; left running: {s.left_running or 'none'}"]
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=30.0, help="mean seconds between faults (>= 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log-dir", type=Path, default=Path("runs/soak"))
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    a = ap.parse_args(argv)
    if a.every < 10.0:
        ap.error("--every must be >= 10 s (each fault window + recovery takes ~7 s)")
    import os
    os.environ.update(loopback_env())
    s = run(a.minutes, a.every, a.seed, a.log_dir)
    text, ok = table(s)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    print("\nSOAK PASSED" if ok else "\nSOAK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
