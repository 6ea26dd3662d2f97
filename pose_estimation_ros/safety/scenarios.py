"""Scenario harness (ROS-free): generated or recorded pose sequences replayed through the monitor.

A scenario is a list of :class:`Frame` (pose messages: image stamp, people in the camera optical
frame, perception ok flag). :func:`run` replays it against a :class:`SafetyMonitor` the way the node
does - a step right after each pose message plus a step every control cycle - on a simulated clock,
and returns the command stream (one :class:`Command` per step).

Generators build people in the *base* frame (standing, reaching toward the robot, raising a palm),
walking along straight lines, and convert them to the camera frame with the configured transform:

    frames = walk((6, 0), (1.5, 0), speed=1.2, rate=15) + hold((1.5, 0), 1.0, pose="reach", t0=...)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import skeleton
from .config import SafetyConfig
from .geometry import camera_to_base, invert_transform, to_base
from .monitor import SafetyMonitor

_J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
PELVIS_HEIGHT = 0.95
_R = skeleton.REST_JOINTS
_UPPER = float(np.linalg.norm(_R[_J["left_elbow"]] - _R[_J["left_shoulder"]]))
_FORE = float(np.linalg.norm(_R[_J["left_wrist"]] - _R[_J["left_elbow"]]))
_HAND = float(np.linalg.norm(_R[_J["left_hand"]] - _R[_J["left_wrist"]]))

POSES = ("stand", "reach", "palm", "tpose")


@dataclass
class Frame:
    """One pose message."""

    t: float                                            # image stamp (s)
    people: list[tuple[int, np.ndarray, np.ndarray]]    # (id, joints (24, 3) camera frame, confidence (24,))
    ok: bool = True
    status: str = ""
    latency: float = 0.03                               # image stamp -> arrival at the controller (s)


@dataclass
class Command:
    """One control step's output."""

    t: float
    state: str
    speed_fraction: float
    zone: str
    person_id: int
    min_distance: float
    reason: str = field(repr=False, default="")


def _arm(joints: np.ndarray, side: str, upper: np.ndarray, fore: np.ndarray) -> None:
    s, e, w, h = (_J[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist", "hand"))
    u = np.asarray(upper, float) / np.linalg.norm(upper)
    f = np.asarray(fore, float) / np.linalg.norm(fore)
    joints[e] = joints[s] + _UPPER * u
    joints[w] = joints[e] + _FORE * f
    joints[h] = joints[w] + _HAND * f


def person_joints(x: float, y: float, facing: float | None = None, pose: str = "stand", side: str = "right"
                  ) -> np.ndarray:
    """(24, 3) joints in the base frame (x forward, z up) of a person standing at (x, y).

    ``facing``: yaw the person looks along (default: toward the base origin). ``pose``: stand (arms
    down), reach (``side`` arm stretched forward), palm (``side`` hand raised, forearm vertical), tpose.
    """
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}")
    if facing is None:
        facing = math.atan2(-y, -x)
    j = skeleton.REST_JOINTS.copy()       # person frame: x = left, y = up, z = forward
    if pose != "tpose":
        down = (0.0, -1.0, 0.0)
        _arm(j, "left", down, down)
        _arm(j, "right", down, down)
        out = 1.0 if side == "left" else -1.0
        if pose == "reach":
            _arm(j, side, (0.0, -0.1, 1.0), (0.0, -0.1, 1.0))
        elif pose == "palm":
            _arm(j, side, (out, 0.0, 0.0), (0.0, 1.0, 0.0))
    c, s = math.cos(facing), math.sin(facing)
    left, up, fwd = np.array([-s, c, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([c, s, 0.0])
    return np.array([x, y, PELVIS_HEIGHT]) + j[:, :1] * left + j[:, 1:2] * up + j[:, 2:3] * fwd


def to_camera(joints_base: np.ndarray, cfg: SafetyConfig) -> np.ndarray:
    """Base-frame joints -> camera optical frame, with the configuration's camera transform."""
    return to_base(joints_base, invert_transform(camera_to_base(cfg.camera_xyz, cfg.camera_rpy)))


def _frame(cfg: SafetyConfig, t: float, people: list[tuple[int, np.ndarray]], conf: float = 0.9,
           latency: float = 0.03) -> Frame:
    return Frame(t, [(pid, to_camera(j, cfg), np.full(len(j), conf)) for pid, j in people], latency=latency)


def walk(cfg: SafetyConfig, start: tuple[float, float], end: tuple[float, float], speed: float, rate: float = 15.0,
         t0: float = 0.0, pid: int = 1, pose: str = "stand", facing: float | None = None) -> list[Frame]:
    """A person walking from ``start`` to ``end`` (base frame x, y) at ``speed`` m/s, one frame per 1/rate s."""
    start_a, end_a = np.asarray(start, float), np.asarray(end, float)
    dist = float(np.linalg.norm(end_a - start_a))
    n = max(2, int(round(dist / speed * rate)) + 1)
    heading = math.atan2(*(end_a - start_a)[::-1]) if dist > 0 else facing
    out = []
    for k in range(n):
        p = start_a + (end_a - start_a) * k / (n - 1)
        out.append(_frame(cfg, t0 + k / rate, [(pid, person_joints(p[0], p[1], heading if facing is None else facing,
                                                                    pose))]))
    return out


def hold(cfg: SafetyConfig, at: tuple[float, float], duration: float, rate: float = 15.0, t0: float = 0.0,
         pid: int = 1, pose: str = "stand", side: str = "right") -> list[Frame]:
    """A person standing at ``at`` (facing the robot) in ``pose`` for ``duration`` s."""
    n = max(1, int(round(duration * rate)))
    j = person_joints(at[0], at[1], pose=pose, side=side)
    return [_frame(cfg, t0 + k / rate, [(pid, j)]) for k in range(n)]


def empty(duration: float, rate: float = 15.0, t0: float = 0.0) -> list[Frame]:
    """Pose messages with nobody in view."""
    return [Frame(t0 + k / rate, []) for k in range(max(1, int(round(duration * rate))))]


def end_time(frames: list[Frame]) -> float:
    return frames[-1].t if frames else 0.0


def run(cfg: SafetyConfig, frames: list[Frame], control_rate: float = 50.0,
        command: tuple[float, float, float] = (1.0, 0.0, 0.0), until: float | None = None,
        monitor: SafetyMonitor | None = None) -> list[Command]:
    """Replay ``frames`` (arrival = stamp + latency) with control steps at ``control_rate`` until ``until``.

    Returns the command stream: one entry per step (after each pose message and each control cycle).
    """
    mon = monitor or SafetyMonitor(cfg)
    events = [(f.t + f.latency, 0, i) for i, f in enumerate(frames)]
    t_start = min((e[0] for e in events), default=0.0)
    t_end = until if until is not None else (max(e[0] for e in events) + 0.5 if events else 1.0)
    n_cycles = int(math.floor((t_end - t_start) * control_rate + 1e-9)) + 1
    events += [(t_start + k / control_rate, 1, -1) for k in range(n_cycles)]
    events.sort()
    out: list[Command] = []
    for t, kind, i in events:
        if kind == 0:
            f = frames[i]
            mon.on_poses(t, f.t, f.people, f.ok, f.status)
        d = mon.step(t, command)
        out.append(Command(t, d.state.name, d.speed_fraction, d.zone, d.person_id, d.min_distance, d.reason))
    return out


def transitions(stream: list[Command]) -> list[tuple[float, str]]:
    """(time, state) each time the state changes."""
    out = []
    for c in stream:
        if not out or out[-1][1] != c.state:
            out.append((c.t, c.state))
    return out


def save(path: str | Path, frames: list[Frame]) -> None:
    """Write a pose sequence as JSON (a recording format: stamp, ok, people with joints and confidences)."""
    data = [{"t": f.t, "ok": f.ok, "status": f.status, "latency": f.latency,
             "people": [{"id": pid, "joints": np.asarray(j).tolist(), "confidence": np.asarray(c).tolist()}
                        for pid, j, c in f.people]} for f in frames]
    Path(path).write_text(json.dumps({"frame": "camera_optical_frame", "frames": data}))


def load(path: str | Path) -> list[Frame]:
    """Read a pose sequence written by :func:`save` (or recorded from a pose topic in the same format)."""
    data = json.loads(Path(path).read_text())
    return [Frame(f["t"], [(p["id"], np.asarray(p["joints"], float), np.asarray(p["confidence"], float))
                           for p in f["people"]], f.get("ok", True), f.get("status", ""), f.get("latency", 0.03))
            for f in data["frames"]]


def feed(mon: SafetyMonitor, t: float, people: list[tuple[int, np.ndarray]], conf=0.9, stamp: float | None = None,
         ok: bool = True, status: str = "") -> None:
    """``mon.on_poses`` with people given in the *base* frame ([(id, joints (J, 3))]), for tests and tools."""
    inv = invert_transform(mon.transform)
    with np.errstate(invalid="ignore"):
        people = [(pid, to_base(np.asarray(j, float), inv), np.full(len(j), conf) if np.isscalar(conf) else conf)
                  for pid, j in people]
    mon.on_poses(t, t if stamp is None else stamp, people, ok, status)
