"""Fault injection against the real controller node process; prints the fault table (markdown).

    scripts/netns_run.sh .venv/bin/python -m pose_estimation_ros.tools.fault_injection [--repeats 3]

Starts ``controller_node`` as its own process (like ``runner.Stack``, loopback-only DDS), feeds it pose
messages of a person far away (NORMAL, full speed) from this process, injects one fault at a time and
measures the time from the injection to the first ``safety_status`` that commands zero speed (STOP or
FAULT), on the controller's clock (the status stamp, wall time: this process may see the status late),
then the state it stays in while the fault lasts.

Injection instants: the publish of the faulty message (or the parameter request); for "pose messages
stop", the publish of the *last* good message, so the watchdog timeout is included. The acceptance bound
for every row is watchdog_timeout + one control cycle.

The helpers (:func:`start_controller`, :func:`pose_array`, :class:`PoseDriver`) are reused by the node tests
and the latency benchmark.
"""
from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..runner import start_node, stop_process
from ..safety import SafetyConfig, config_from_yaml
from ..safety.scenarios import person_joints, to_camera
from ..spin import PrivateNode
from ..stack import config_dir, node_by_name

FRAME = "camera_optical_frame"


def start_controller(overrides: dict[str, str] | None = None, log_path: Path | None = None,
                     remaps: list[tuple[str, str]] | None = None, namespace: str = "") -> subprocess.Popen:
    """The controller node in its own process, with config/controller.yaml plus ``overrides``."""
    return start_node(node_by_name("controller"), config_dir(), overrides or {}, remaps, namespace, log_path)


def robot_config() -> SafetyConfig:
    """The configuration the default controller.yaml loads (for the camera transform of generated people)."""
    return config_from_yaml(config_dir() / "zones_mobile_base.yaml")


def pose_array(stamp_ns: int, people_cam: list[tuple[int, np.ndarray, np.ndarray]], ok: bool = True,
               status: str = "", frame_id: str = FRAME):
    """A HumanPose3DArray for ``people_cam`` = [(id, joints (24, 3) camera frame, confidence (24,))]."""
    from std_msgs.msg import Header

    from pose_estimation_msgs.msg import HumanPose3DArray

    from ..ros_conversions import human_msg, ns_to_stamp
    header = Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)
    msg = HumanPose3DArray(header=header, ok=ok, status=status)
    msg.humans = [human_msg(header, pid, j, c, 0.9, True) for pid, j, c in people_cam]
    return msg


class PoseDriver(PrivateNode):
    """An rclpy node in this process: publishes poses of one person (and cmd_vel_in), records the controller."""

    def __init__(self, cfg: SafetyConfig, pose_rate: float = 30.0, cmd_speed: float = 1.0,
                 name: str = "fault_injector", namespace: str = "") -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist
        from rclpy.parameter_client import AsyncParameterClient
        from std_msgs.msg import Empty, Float32
        from visualization_msgs.msg import MarkerArray

        from pose_estimation_msgs.msg import HumanPose3DArray, SafetyStatus
        super().__init__(name, namespace)
        self.cfg = cfg
        self.status: list[tuple[float, object]] = []
        self.cmd_out: list[tuple[float, object]] = []
        self.arm: list[tuple[float, float]] = []
        self.markers: list = []
        self.diagnostics: list = []
        n = self.node
        n.create_subscription(SafetyStatus, "safety_status", lambda m: self.status.append((time.monotonic(), m)), 100)
        n.create_subscription(Twist, "cmd_vel_out", lambda m: self.cmd_out.append((time.monotonic(), m)), 100)
        n.create_subscription(Float32, "arm_speed_fraction", lambda m: self.arm.append((time.monotonic(), m.data)),
                              100)
        n.create_subscription(MarkerArray, "safety_markers", self.markers.append, 5)
        n.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 5)
        self.pub_poses = n.create_publisher(HumanPose3DArray, "poses", 10)
        self.pub_cmd = n.create_publisher(Twist, "cmd_vel_in", 10)
        self.pub_reset = n.create_publisher(Empty, "safety_reset", 10)
        self.params = AsyncParameterClient(n, "controller")
        self.Twist, self.Empty = Twist, Empty
        self.position = (6.0, 0.0)       # person in the base frame
        self.pose = "stand"
        self.mode = "ok"                 # ok | silent | stale | future | nan | not_ok | malformed
        self.cmd_speed = cmd_speed
        self.cmd_nan = False
        self.cmd_fault: tuple[str, float] | None = None    # e.g. ("angular.x", inf): one bad twist component
        self.cmd_silent = False                             # stop publishing cmd_vel_in
        self.last_publish = 0.0
        n.create_timer(1.0 / pose_rate, self.publish_pose)
        n.create_timer(0.05, self.publish_cmd)

    def people(self):
        j = to_camera(person_joints(*self.position, pose=self.pose), self.cfg)
        return [(1, j, np.full(24, 0.9))]

    def publish_pose(self) -> None:
        if self.mode == "silent":
            return
        now = time.time_ns()
        people, ok, stamp = self.people(), True, now
        if self.mode == "stale":
            stamp = now - 2_000_000_000
        elif self.mode == "future":
            stamp = now + 1_000_000_000
        elif self.mode == "nan":
            people[0][1][21, 0] = math.nan
        elif self.mode == "not_ok":
            people, ok = [], False
        elif self.mode == "conf_neg":
            people = [(1, people[0][1], np.full(24, -1.0))]
        elif self.mode == "no_joints":
            people = [(1, np.zeros((0, 3)), np.zeros(0))]
        elif self.mode == "huge":
            people = [(1, np.where(people[0][1] >= 0, 1e30, -1e30), people[0][2])]
        if self.mode == "flood":
            msg = self._flood()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        else:
            msg = pose_array(stamp, people, ok, "injected fault" if not ok else "")
        if self.mode == "malformed":
            msg.humans[0].confidence = msg.humans[0].confidence[:10]
        self.pub_poses.publish(msg)
        # The injection instant: the message has left this process (building and serializing a flood of people
        # takes the publisher itself seconds, which is not the controller's reaction time). Wall clock, to
        # compare with the controller's status stamps.
        self.last_publish = time.time()

    def _flood(self, n: int = 3000):
        """One message with ``n`` people (built once: building it takes a while)."""
        if getattr(self, "_flood_msg", None) is None:
            j = self.people()[0][1]
            self._flood_msg = pose_array(0, [(k, j, np.full(24, 0.9)) for k in range(n)])
        return self._flood_msg

    def publish_cmd(self) -> None:
        if self.cmd_silent:
            return
        t = self.Twist()
        t.linear.x = math.nan if self.cmd_nan else self.cmd_speed
        if self.cmd_fault is not None:
            part, axis = self.cmd_fault[0].split(".")
            setattr(getattr(t, part), axis, self.cmd_fault[1])
        self.pub_cmd.publish(t)

    def wait_future(self, future, timeout: float = 5.0):
        self.spin_until(future.done, timeout)
        return future.result() if future.done() else None

    def set_parameters(self, params: dict, timeout: float = 5.0):
        """Set parameters on the controller (one request; the node checks each); returns the results."""
        from rclpy.parameter import Parameter
        fut = self.params.set_parameters([Parameter(k, value=v) for k, v in params.items()])
        res = self.wait_future(fut, timeout)
        return None if res is None else res.results

    def reset_until(self, state: str, fraction: float | None = None, timeout: float = 10.0, every: float = 0.5
                    ) -> bool:
        """Publish ``safety_reset`` every ``every`` s (an operator pressing again) until the controller is in ``state``.

        One reset can be refused for a cause that is not the test's: a stall of this process longer than the
        watchdog latches its own stop, and a reset sent while the pose stream is still recovering is refused.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pub_reset.publish(self.Empty())
            if self.wait_state(state, fraction, timeout=min(every, max(deadline - time.monotonic(), 0.0))):
                return True
        return False

    def latest(self):
        return self.status[-1][1] if self.status else None

    def wait_state(self, state: str, fraction: float | None = None, timeout: float = 10.0, zone: str | None = None
                   ) -> bool:
        def ok():
            m = self.latest()
            return (m is not None and m.state_name == state and (fraction is None or abs(m.speed_fraction - fraction)
                                                                 < 1e-3) and (zone is None or m.zone == zone))
        return self.spin_until(ok, timeout)


FAULTS = [
    # name, how it is injected
    ("pose messages stop", "perception silent (publisher stops)"),
    ("stale stamp", "image stamp 2 s old"),
    ("future stamp", "image stamp 1 s ahead"),
    ("NaN joint", "right wrist x = NaN"),
    ("malformed message", "10 confidences for 24 joints"),
    ("perception fault", "ok = false, status set"),
    ("NaN cmd_vel_in", "cmd_vel_in linear.x = NaN"),
    ("inf cmd_vel_in angular.y", "cmd_vel_in angular.y = inf (linear.x 1.0)"),
    ("NaN cmd_vel_in linear.z", "cmd_vel_in linear.z = NaN (linear.x 1.0)"),
    ("unusable person: confidence -1", "the far person's 24 confidences = -1"),
    ("unusable person: no joints", "a person with 0 joints"),
    ("unusable person: joints at 1e30", "the far person's joints at +-1e30 m"),
    ("people flood", "3000 people in one message"),
    ("parameter set rejected", "zones.stop.radius = 5.0 (outside slowdown)"),
]
# name -> PoseDriver.mode for the faults carried by pose messages
POSE_FAULTS = {"stale stamp": "stale", "future stamp": "future", "NaN joint": "nan", "malformed message": "malformed",
               "perception fault": "not_ok", "unusable person: confidence -1": "conf_neg",
               "unusable person: no joints": "no_joints", "unusable person: joints at 1e30": "huge",
               "people flood": "flood"}
# name -> (twist component, value) for the faults carried by cmd_vel_in
CMD_FAULTS = {"inf cmd_vel_in angular.y": ("angular.y", math.inf), "NaN cmd_vel_in linear.z": ("linear.z", math.nan)}


def measure(driver: PoseDriver, fault: str, hold: float = 0.3) -> tuple[float, str, str, str]:
    """Inject ``fault`` once from NORMAL; returns (seconds to the first zero-speed status, zone, final state, note)."""
    if not driver.wait_state("NORMAL", 1.0, timeout=15.0):
        raise RuntimeError(f"controller did not reach NORMAL before '{fault}': {driver.latest()}")
    driver.spin_for(0.1)
    n0 = len(driver.status)
    note = ""
    if fault == "pose messages stop":
        driver.mode = "silent"
        t0 = driver.last_publish
    elif fault == "parameter set rejected":
        t0 = time.time()
        res = driver.set_parameters({"zones.stop.radius": 5.0})
        note = "rejected: " + (res[0].reason if res and not res[0].successful else f"NOT REJECTED {res}")
    elif fault == "NaN cmd_vel_in":
        t0 = time.time()
        driver.cmd_nan = True
        driver.publish_cmd()
    elif fault in CMD_FAULTS:
        t0 = time.time()
        driver.cmd_fault = CMD_FAULTS[fault]
        driver.publish_cmd()
    else:
        driver.mode = POSE_FAULTS[fault]
        if fault == "people flood":
            driver._flood()
        driver.publish_pose()
        t0 = driver.last_publish

    def stopped():
        return any(m.speed_fraction == 0.0 and m.state_name in ("STOP", "FAULT") for _, m in driver.status[n0:])
    if not driver.spin_until(stopped, 5.0):
        raise RuntimeError(f"no STOP after '{fault}'")
    # The reaction is read on the controller's own clock (the status stamp, wall time): this process may be busy
    # (publishing a flood takes it seconds) and see the status late.
    _, m_stop = next((t, m) for t, m in driver.status[n0:]
                          if m.speed_fraction == 0.0 and m.state_name in ("STOP", "FAULT"))
    driver.spin_for(hold)                     # the fault persists: what state does it stay in?
    last = driver.latest()
    final = f"{last.state_name} ({last.zone}), speed {last.speed_fraction:g}"
    if last.speed_fraction != 0.0:
        final += " NOT STOPPED"
    # clear the fault
    driver.mode, driver.cmd_nan, driver.cmd_fault = "ok", False, None
    t_stop = m_stop.header.stamp.sec + m_stop.header.stamp.nanosec * 1e-9
    return t_stop - t0, m_stop.zone, final, note


def run_table(repeats: int = 3, rate: float = 50.0, watchdog: float = 0.5, log: Path | None = None
              ) -> tuple[str, bool]:
    overrides = {"control_rate_hz": str(rate), "watchdog_timeout": str(watchdog), "hysteresis.ramp_rate": "5.0",
                 "param_reject_hold": "1.0"}
    proc = start_controller(overrides, log)
    driver = PoseDriver(robot_config())
    bound = watchdog + 1.0 / rate
    rows = ["| fault | injected as | time to STOP, median / max of %d (ms) | bound (ms) | first stop zone | "
            "state while the fault lasts | within bound |" % repeats, "|---|---|---|---|---|---|---|"]
    all_ok = True
    notes = []
    try:
        if not driver.wait_state("NORMAL", None, timeout=30.0):
            raise RuntimeError(f"controller never became NORMAL (exit {proc.poll()}): {driver.latest()}")
        for fault, how in FAULTS:
            times, zone, final, note = [], "", "", ""
            for _ in range(repeats):
                dt, zone, final, note = measure(driver, fault)
                times.append(dt)
            ok = max(times) <= bound and "NOT" not in final
            all_ok &= ok
            rows.append(f"| {fault} | {how} | {statistics.median(times) * 1e3:.0f} / {max(times) * 1e3:.0f} | "
                        f"{bound * 1e3:.0f} | {zone} | {final} | {'yes' if ok else 'NO'} |")
            if note:
                notes.append(f"{fault}: {note}")
    finally:
        driver.close()
        stop_process(proc)
    header = (f"controller_node: control_rate_hz {rate:g}, watchdog_timeout {watchdog:g} s, poses at 30 Hz, "
              f"cmd_vel_in 1.0 m/s, overrides {overrides}")
    return header + "\n\n" + "\n".join(rows) + ("\n\n" + "\n".join(notes) if notes else ""), all_ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate", type=float, default=50.0, help="controller control_rate_hz")
    ap.add_argument("--watchdog", type=float, default=0.5, help="controller watchdog_timeout (s)")
    ap.add_argument("--log", type=Path, default=None, help="write the controller's output here")
    args = ap.parse_args(argv)
    table, ok = run_table(args.repeats, args.rate, args.watchdog, args.log)
    print(table)
    print("\nall rows stopped within watchdog_timeout + one control cycle" if ok else "\nSOME ROWS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
