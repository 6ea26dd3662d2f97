"""The hostile-run fault matrix: every known way for the robot to move when it should not, or to stop being
supervised, injected into the real node processes; prints one markdown table per section.

    scripts/netns_run.sh .venv/bin/python -m pose_estimation_ros.tools.fault_matrix [--repeats 3] [--out F]

Sections:
1. controller: bad pose messages, bad commands, rejected parameters, silence (:mod:`.fault_injection`):
   every row must reach zero speed within watchdog_timeout + one control cycle;
2. perception in the loop: this process is the camera (synthetic scene frames + camera_info) for real
   perception and controller processes; bad stamps, bad intrinsics and malformed images: zero speed within
   the same bound where the evidence is gone, and poses flowing again where only one frame was bad;
3. start-up: configuration errors must be refused with exit 2 and one line naming them;
4. stopping: SIGTERM / SIGINT / Ctrl-C / SIGKILL to the runner and a camera at the end of its stream must
   leave no process behind, within a bound.
Exit code 0 when every row passes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runner import Stack, loopback_env
from ..spin import PrivateNode
from ..stack import config_dir, node_by_name
from .fault_injection import run_table

WATCHDOG = 0.5
RATE = 50.0
BOUND = WATCHDOG + 1.0 / RATE
START_BOUND = 30.0     # s for a refused start (model loading included)
STOP_BOUND = 10.0      # s for every node to be gone after a stop signal


@dataclass
class Row:
    section: str
    fault: str
    expected: str
    observed: str
    ok: bool


# ------------------------------------------------------------------------------------------ 2. perception
class FakeCamera(PrivateNode):
    """This process as the camera: synthetic frames + camera_info at ``rate`` Hz, with faults on request."""

    def __init__(self, rate: float = 10.0) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus

        from ..sources import make_source
        super().__init__("fault_matrix_camera")
        self.source = make_source("synthetic", width=640, height=480, fps=rate)
        from ..camera_model import Intrinsics
        self.intr = Intrinsics.from_params(640, 480, -1.0, -1.0, -1.0, -1.0, 60.0)
        self.pub_image = self.node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.poses: list[tuple[float, object]] = []
        self.status: list[tuple[float, object]] = []
        self.node.create_subscription(HumanPose3DArray, "poses", lambda m: self.poses.append((time.monotonic(), m)),
                                      50)
        self.node.create_subscription(SafetyStatus, "safety_status",
                                      lambda m: self.status.append((time.monotonic(), m)), 200)
        self.info_fault: dict | None = None     # k/p entries to overwrite, e.g. {0: inf}
        self.image_fault = ""                   # far_future | bad_nanosec | truncated (next frame or all frames)
        self.fault_once = True
        self.last_bad: float | None = None
        self.node.create_timer(1.0 / rate, self.tick)

    def tick(self) -> None:
        from std_msgs.msg import Header

        from ..ros_conversions import camera_info_msg, image_msg, ns_to_stamp
        frame = self.source.read()
        now = time.time_ns()
        header = Header(stamp=ns_to_stamp(now), frame_id="camera_optical_frame")
        img = image_msg(frame, "rgb8", header)
        info = camera_info_msg(self.intr, header)
        if self.image_fault:
            self.last_bad = time.monotonic()
            if self.image_fault == "far_future":
                img.header.stamp.sec, img.header.stamp.nanosec = 2**31 - 1, 0
            elif self.image_fault == "bad_nanosec":
                img.header.stamp.nanosec = 1_500_000_000
            elif self.image_fault == "truncated":
                img.data = bytes(img.data[: len(img.data) // 2])
            if self.fault_once:
                self.image_fault = ""
        if self.info_fault:
            k, p = list(info.k), list(info.p)
            for i, v in self.info_fault.items():
                k[i] = v
                p[{0: 0, 2: 2, 4: 5, 5: 6}[i]] = v
            info.k, info.p = k, p
        self.pub_info.publish(info)
        self.pub_image.publish(img)


def _zero_after(cam: FakeCamera, n0: int, t0: float, timeout: float = 5.0) -> float | None:
    """Seconds from ``t0`` to the first zero-speed status after index ``n0`` (None if none within timeout)."""
    def stopped():
        return any(m.speed_fraction == 0.0 for _, m in cam.status[n0:])
    if not cam.spin_until(stopped, timeout):
        return None
    return next(t for t, m in cam.status[n0:] if m.speed_fraction == 0.0) - t0


def _start_loop(log_dir: Path, tag: str) -> Stack:
    sets = {"perception": {"crop": "full", "threads": "1"},
            "controller": {"watchdog_timeout": str(WATCHDOG), "control_rate_hz": str(RATE)}}
    specs = [node_by_name("perception"), node_by_name("controller")]
    return Stack(specs, config_dir(), sets, {}, log_dir=log_dir / tag.replace("=", "").replace("__", "_"))


def perception_rows(log_dir: Path) -> list[Row]:
    """Section 2: perception + controller processes fed by :class:`FakeCamera`."""
    rows: list[Row] = []
    cam = FakeCamera()
    try:
        # 2a. intrinsics that cannot be used, from the start (no good camera_info ever seen)
        for name, fault in (("camera_info fx = inf", {0: math.inf}), ("camera_info cx = NaN", {2: math.nan}),
                            ("camera_info fx = 1e30", {0: 1e30})):
            cam.info_fault, cam.poses, cam.status = fault, [], []
            stack = _start_loop(log_dir, name.replace(" ", "_"))
            try:
                ok_poses = lambda: [m for _, m in cam.poses if m.ok and m.humans]   # noqa: E731
                cam.spin_until(lambda: len(cam.poses) >= 5, 60.0)
                bad = [m for m in ok_poses() if not all(math.isfinite(v) for h in m.humans for p in h.joints
                                                        for v in (p.x, p.y, p.z))]
                not_ok = [m for _, m in cam.poses if not m.ok]
                last = cam.status[-1][1] if cam.status else None
                obs = (f"{len(not_ok)}/{len(cam.poses)} pose messages ok=false ('{not_ok[0].status[:60]}' ...); "
                       f"controller {last.state_name if last else '-'}, speed {last.speed_fraction if last else '-'}")
                passed = bool(cam.poses) and not ok_poses() and not bad and last is not None \
                    and last.speed_fraction == 0.0
                rows.append(Row("perception", name + " (only intrinsics)", "ok=false, never poses with ok=true; "
                                "controller at zero speed", obs, passed))
            finally:
                stack.stop()
        cam.info_fault = None
        stack = _start_loop(log_dir, "stamps")
        try:
            cam.spin_until(lambda: sum(m.ok and bool(m.humans) for _, m in cam.poses) >= 5, 60.0)
            # 2b. one bad frame: later frames must still give poses (the window is not blocked)
            for name, fault in (("image stamped sec = 2^31-1 (once)", "far_future"),
                                ("image stamp nanosec = 1.5e9 (once)", "bad_nanosec")):
                cam.spin_for(1.0)
                n0 = len(cam.poses)
                cam.image_fault, cam.fault_once = fault, True
                cam.spin_until(lambda: cam.last_bad is not None and cam.image_fault == "", 2.0)
                t_bad = cam.last_bad
                got = cam.spin_until(lambda: any(m.ok and m.humans and t > t_bad for t, m in cam.poses[n0:]), 5.0)
                future = [m for _, m in cam.poses[n0:] if m.header.stamp.sec >= 2**31 - 2]
                t_next = next((t - t_bad for t, m in cam.poses[n0:] if m.ok and m.humans and t > t_bad), math.nan)
                rows.append(Row("perception", name, "frame rejected; the next frames give poses again",
                                f"next pose {t_next * 1e3:.0f} ms later; poses with that stamp: {len(future)}",
                                got and not future))
            # 2c. every frame malformed: no more poses, so the controller's watchdog must stop the robot within
            # watchdog + one cycle of the last pose message it got
            n0, t0 = len(cam.status), time.monotonic()
            cam.image_fault, cam.fault_once = "truncated", False
            dt = _zero_after(cam, n0, t0)
            cam.spin_for(0.5)
            last = cam.status[-1][1]
            cam.image_fault = ""
            obs, passed = "NO zero speed", False
            if dt is not None:
                t_zero = t0 + dt
                t_last = max((t for t, _ in cam.poses if t <= t_zero), default=t0)
                obs = (f"zero speed {(t_zero - t_last) * 1e3:.0f} ms after the last pose message "
                       f"({dt * 1e3:.0f} ms after the first bad frame), {last.state_name} ({last.zone})")
                passed = t_zero - t_last <= BOUND + 0.1 and last.speed_fraction == 0.0
            rows.append(Row("perception", "every image truncated (half its data)",
                            f"zero speed within {BOUND * 1e3:.0f} ms of the last pose message", obs, passed))
            # 2d. perception killed
            cam.spin_until(lambda: cam.status and cam.status[-1][1].state_name != "FAULT", 10.0)
            n0 = len(cam.status)
            t0 = time.monotonic()
            stack.procs["perception"].send_signal(signal.SIGKILL)
            dt = _zero_after(cam, n0, t0)
            rows.append(Row("perception", "perception process SIGKILLed", f"zero speed within {BOUND * 1e3:.0f} ms",
                            f"zero speed after {dt * 1e3:.0f} ms" if dt is not None else "NO zero speed",
                            dt is not None and dt <= BOUND + 0.1))
        finally:
            stack.stop()
    finally:
        cam.close()
    return rows


# -------------------------------------------------------------------------------------------- 3. start-up
def _refused(cmd: list[str]) -> tuple[bool, str]:
    t0 = time.monotonic()
    res = subprocess.run(cmd, env=loopback_env(), capture_output=True, text=True, timeout=START_BOUND + 30)
    dt = time.monotonic() - t0
    errors = [ln for ln in res.stderr.splitlines() if "ERROR:" in ln]
    ok = res.returncode == 2 and len(errors) == 1 and "Traceback" not in res.stderr and dt <= START_BOUND
    lines = errors or res.stderr.strip().splitlines()[-1:] or ["(nothing on stderr)"]
    line = " ".join(lines[0].split()).replace("|", "/")[:150]
    return ok, f"exit {res.returncode} in {dt:.1f} s: `{line}`"


def _node(name: str, *ros_args: str) -> list[str]:
    return [sys.executable, "-m", node_by_name(name).module, "--ros-args", *ros_args]


def startup_rows(tmp: Path) -> list[Row]:
    """Section 3: configuration errors refused at start with exit 2 and one line."""
    def yaml(node: str, body: str) -> str:
        p = tmp / f"{node}_{abs(hash(body))}.yaml"
        p.write_text(f"{node}:\n  ros__parameters:\n{body}")
        return str(p)

    models = config_dir().parent / "models"
    bad_sha, bad_norm = tmp / "sha", tmp / "norm"
    for d, edit in ((bad_sha, lambda m: m.update(onnx_sha256="")),
                    (bad_norm, lambda m: m.update(normalization={**m.get("normalization", {}), "mean": [0.5, 0.5]}))):
        d.mkdir(exist_ok=True)
        shutil.copy(models / "mocap_spin.onnx", d / "mocap_spin.onnx")
        meta = json.loads((models / "mocap_spin.json").read_text())
        edit(meta)
        (d / "mocap_spin.json").write_text(json.dumps(meta))
    cases = [
        ("misspelt parameter in a YAML file", _node("controller", "--params-file",
                                                    yaml("controller", "    latch_stopp: true\n"))),
        ("value out of range", _node("camera", "-p", "rate_hz:=1000.0")),
        ("wrong type", _node("controller", "-p", "watchdog_timeout:=fast")),
        ("YAML syntax error", _node("controller", "--params-file", yaml("controller", "    latch_stop: [true\n"))),
        ("frame larger than the DDS segment (4000x3000 rgb8)", _node("camera", "-p", "width:=4000",
                                                                      "-p", "height:=3000")),
        ("model metadata onnx_sha256 = \"\"", _node("perception", "-p",
                                                   f"per_frame_model:={bad_sha / 'mocap_spin.onnx'}")),
        ("model normalisation mean of 2 values", _node("perception", "-p",
                                                       f"per_frame_model:={bad_norm / 'mocap_spin.onnx'}")),
        ("misspelt perception parameter", _node("perception", "-p", "detect_evry:=2")),
    ]
    rows = []
    for name, cmd in cases:
        ok, obs = _refused(cmd)
        rows.append(Row("start-up", name, "refused: exit 2, one line naming it", obs, ok))
    return rows


# -------------------------------------------------------------------------------------------- 4. stopping
def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def rc_ok_for(how: str, code: int | None) -> bool:
    return code == (-signal.SIGKILL if how.startswith("SIGKILL") else 0)


def stop_rows(tmp: Path) -> list[Row]:
    """Section 4: every way of stopping the runner leaves no node behind."""
    folder = tmp / "frames"
    folder.mkdir(exist_ok=True)
    import cv2
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160, 3), 50 * i, np.uint8))
    rows = []
    for how in ("SIGTERM to the runner", "SIGINT to the runner", "Ctrl-C (SIGINT to the process group)",
                "SIGKILL to the runner", "camera at the end of a non-looping folder"):
        extra = (["--set", "camera.source=folder", "--set", f"camera.path={folder}", "--set", "camera.loop=false"]
                 if how.startswith("camera") else [])
        proc = subprocess.Popen([sys.executable, "-m", "pose_estimation_ros.runner", "run", "--set",
                                 "camera.rate_hz=5.0", *extra], env=loopback_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", proc.stdout.readline())]
        if not how.startswith("camera"):
            time.sleep(6.0)
        t0 = time.monotonic()
        if how.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        elif how.startswith("SIGINT"):
            proc.send_signal(signal.SIGINT)
        elif how.startswith("Ctrl-C"):
            os.killpg(proc.pid, signal.SIGINT)
        elif how.startswith("SIGKILL"):
            proc.send_signal(signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=STOP_BOUND + (30 if how.startswith("camera") else 0))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        while time.monotonic() - t0 < STOP_BOUND and any(_alive(p) for p in pids):
            time.sleep(0.1)
        gone = time.monotonic() - t0
        left = [p for p in pids if _alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        tb = "Traceback" in (out or "")
        if tb or not rc_ok_for(how, proc.returncode):
            (tmp / f"stop_{len(rows)}.log").write_text(out or "")
            print(f"[fault_matrix] {how}: runner output kept in {tmp / f'stop_{len(rows)}.log'}:\n{(out or '')[-2500:]}",
                  file=sys.stderr)
        rc_ok = rc_ok_for(how, proc.returncode)
        rows.append(Row("stopping", how, f"all {len(pids)} nodes gone within {STOP_BOUND:.0f} s, no traceback",
                        f"runner exit {proc.returncode}; nodes gone after {gone:.1f} s; left {len(left)}; "
                        f"traceback {'yes' if tb else 'no'}", bool(pids) and not left and not tb and rc_ok))
    return rows


def markdown(rows: list[Row]) -> str:
    out = []
    for section in dict.fromkeys(r.section for r in rows):
        out += [f"**{section}**", "", "| fault | expected | observed | pass |", "|---|---|---|---|"]
        out += [f"| {r.fault} | {r.expected} | {r.observed} | {'yes' if r.ok else 'NO'} |"
                for r in rows if r.section == section]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each controller row")
    ap.add_argument("--sections", default="controller,perception,start-up,stopping")
    ap.add_argument("--out", type=Path, default=None, help="also write the tables (markdown) here")
    ap.add_argument("--log-dir", type=Path, default=Path("runs/fault_matrix"))
    a = ap.parse_args(argv)
    os.environ.update(loopback_env())
    sections = set(a.sections.split(","))
    text, ok = "", True
    if "controller" in sections:
        table, ok = run_table(a.repeats, RATE, WATCHDOG)
        text += "**controller**\n\n" + table + "\n\n"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        if "perception" in sections:
            rows += perception_rows(a.log_dir)
        if "start-up" in sections:
            rows += startup_rows(Path(tmp))
        if "stopping" in sections:
            rows += stop_rows(Path(tmp))
    text += markdown(rows)
    ok &= all(r.ok for r in rows)
    print(text)
    if a.out:
        a.out.write_text(text)
    print("ALL ROWS PASS" if ok else "SOME ROWS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
