"""The lock-step closed loop, ROS-free: render a frame from the robot's camera, hand it to a "brain" (the real
nodes through :mod:`sim.ros_driver`, or the in-process safety core on ground truth), apply the command it
returns after a fixed actuation delay, integrate robot and people to the next frame, record the truth.

Nothing here reads a wall clock: a slow frame never changes the result. The actuation delay stands for the
perception + controller + robot reaction time (default: the controller's configured ``ssm.reaction_time``); the
latency actually seen is recorded per frame by the brain and reported beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

import numpy as np

from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.safety import SafetyConfig, SafetyMonitor
from pose_estimation_ros.safety.geometry import invert_transform
from pose_estimation_ros.skeleton import JOINT_NAMES

from .render import FrameRenderer, PersonView, camera_intrinsics, make_renderer
from .robots import RobotModel, make_robot
from .scenarios import Scenario

HANDS = [JOINT_NAMES.index(n) for n in ("left_wrist", "right_wrist", "left_hand", "right_hand")]


@dataclass(frozen=True)
class Frame:
    """One camera frame: time (s, scenario clock), image (H, W, 3) uint8 RGB, intrinsics, ground truth."""

    index: int
    t: float
    image: np.ndarray | None               # None when the loop runs without rendering (ground-truth brains)
    intrinsics: Intrinsics
    camera_from_world: np.ndarray          # (4, 4)
    joints_world: list[np.ndarray]         # per person (24, 3)


@dataclass(frozen=True)
class Command:
    """What the brain decided for a frame: base speeds (m/s, rad/s) or arm fraction, plus diagnostics."""

    linear: float
    angular: float = 0.0
    fraction: float = 1.0
    state: str = ""
    zone: str = ""
    latency_ms: float = math.nan            # image out -> command back, as seen (wall clock)
    perception_ms: float = math.nan         # the perception node's own processing time


class Brain(Protocol):
    def decide(self, frame: Frame, request: float) -> Command:
        """The command for ``frame``; ``request``: the base speed asked for (m/s) or the arm's fraction."""


class PipelinedBrain(Brain, Protocol):
    """A brain that answers asynchronously (the node processes): :meth:`submit` hands a frame over and returns at
    once, :meth:`collect` waits for its command. The loop renders the next frame in between."""

    def submit(self, frame: Frame, request: float) -> None:
        """Start deciding ``frame`` (at most one frame in flight)."""

    def collect(self) -> Command:
        """The command for the frame last submitted."""


@dataclass
class Trace:
    """Everything recorded during a run (arrays filled by :class:`ClosedLoop`).

    Per physics step: ``t``, ``sep`` (min separation robot body -> any joint, m), ``sep_hand``, ``dist`` (planar
    distance base origin -> nearest joint), ``speed`` (m/s), ``ideal_progress`` / ``progress`` (m).
    Per frame: ``frame_t``, ``fraction``, ``state``, ``zone``, ``latency_ms``, ``perception_ms``.
    """

    t: list[float] = field(default_factory=list)
    sep: list[float] = field(default_factory=list)
    sep_hand: list[float] = field(default_factory=list)
    dist: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    ideal_progress: list[float] = field(default_factory=list)
    frame_t: list[float] = field(default_factory=list)
    fraction: list[float] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    zone: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    perception_ms: list[float] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.__dict__.items()}


class ClosedLoop:
    """World state of one scenario run, advanced one camera frame at a time.

    Args:
        scenario: what to run.
        robot: robot model (default: the scenario's, by registry name).
        renderer: a FrameRenderer or a registry name (:data:`sim.render.RENDERERS`).
        seed: renderer seed (scenario variations come from the scenario's own seed).
        frame_rate: camera rate (Hz); physics runs ``substeps`` times faster.
        actuation_delay: s from a frame's time to its command taking effect.
        render: False skips rendering (for brains that read only the ground truth).
    """

    def __init__(self, scenario: Scenario, robot: RobotModel | None = None,
                 renderer: FrameRenderer | str = "procedural", seed: int = 0, frame_rate: float = 15.0,
                 substeps: int = 10, actuation_delay: float = 0.1, render: bool = True) -> None:
        if frame_rate <= 0 or substeps < 1 or actuation_delay < 0:
            raise ValueError("frame_rate > 0, substeps >= 1, actuation_delay >= 0 required")
        self.scenario = scenario
        self.robot = robot or make_robot(scenario.robot)
        cam = self.robot.camera
        self.intrinsics = camera_intrinsics(cam.width, cam.height, cam.hfov_deg)
        self.renderer = (make_renderer(renderer, self.intrinsics, seed) if isinstance(renderer, str) else renderer) \
            if render else None
        self.dt = 1.0 / frame_rate
        self.substeps = substeps
        self.delay = actuation_delay
        self.t = 0.0
        self.k = 0
        self.trace = Trace()
        self._pending: list[tuple[float, Command]] = []
        self._active = Command(0.0, 0.0, 0.0, "start")
        self._ideal = make_robot(scenario.robot) if robot is None else None
        self._ideal_v = 0.0
        self._ideal_progress = 0.0
        self._joint_cache: dict[float, list[np.ndarray]] = {}

    @property
    def done(self) -> bool:
        return self.t >= self.scenario.duration - 1e-9

    def people(self, t: float) -> list[PersonView]:
        out = []
        for a in self.scenario.actors:
            j, o = a.joints_and_orientation(t)
            out.append(PersonView(j, o, a.state(t)[2]))
        return out

    def frame(self) -> Frame:
        """Render the current frame from the robot's camera."""
        c_w = invert_transform(self.robot.world_from_camera())
        img = self.renderer.render(c_w, self.people(self.t)) if self.renderer is not None else None
        return Frame(self.k, self.t, img, self.intrinsics, c_w, self._joints_at(self.t))

    def request_command(self) -> tuple[float, float]:
        """The (linear, angular) command the robot is asked for (before the safety controller)."""
        if self.robot.kind == "arm":
            return self.robot.nominal_speed * self.scenario.request, 0.0
        return self.scenario.request, 0.0

    def apply(self, command: Command, frame_t: float | None = None) -> None:
        """Schedule ``command`` (decided for the frame at ``frame_t``, default: the current one) to take effect
        after the actuation delay."""
        t = self.t if frame_t is None else frame_t
        self._pending.append((t + self.delay, command))
        self.trace.frame_t.append(t)
        self.trace.fraction.append(command.fraction)
        self.trace.state.append(command.state)
        self.trace.zone.append(command.zone)
        self.trace.latency_ms.append(command.latency_ms)
        self.trace.perception_ms.append(command.perception_ms)

    def _joints_at(self, t: float) -> list[np.ndarray]:
        """Per-person (24, 3) world joints at time ``t`` (memoised for the two ends of the current frame)."""
        key = round(t, 9)
        if key not in self._joint_cache:
            if len(self._joint_cache) > 4:
                self._joint_cache.clear()
            self._joint_cache[key] = [a.joints_world(t) for a in self.scenario.actors]
        return self._joint_cache[key]

    def _record(self, t: float, w: float = 0.0) -> None:
        """Log the truth at ``t``: people interpolated between the frame's ends (``w`` in [0, 1]) -- they move
        less than 0.1 m per frame, so this is exact to millimetres and 10x cheaper than posing every substep."""
        a0 = self._joints_at(self.t)
        a1 = self._joints_at(self.t + self.dt) if w > 0 else a0
        joints = [(1.0 - w) * x + w * y for x, y in zip(a0, a1)]
        allj = np.concatenate(joints) if joints else np.zeros((0, 3))
        hands = np.concatenate([j[HANDS] for j in joints]) if joints else np.zeros((0, 3))
        tr = self.trace
        tr.t.append(t)
        tr.sep.append(self.robot.separation(allj))
        tr.sep_hand.append(self.robot.separation(hands))
        tr.dist.append(tr.sep[-1] + self.robot.radius)
        tr.speed.append(self.robot.state.v)
        tr.progress.append(self.robot.state.progress)
        tr.ideal_progress.append(self._ideal_progress)

    def advance(self) -> None:
        """Integrate robot (and the command-free ideal robot used for "time lost") to the next frame."""
        h = self.dt / self.substeps
        req_lin, _ = self.request_command()
        for i in range(self.substeps):
            t = self.t + i * h
            while self._pending and self._pending[0][0] <= t + 1e-9:
                self._active = self._pending.pop(0)[1]
            if self.k == 0 and i == 0:
                self._record(t, 0.0)
            if self.robot.kind == "arm":
                target = self.robot.nominal_speed * max(0.0, min(1.0, self._active.fraction))
                self.robot.step(h, target)
            else:
                self.robot.step(h, self._active.linear, self._active.angular)
            # ideal robot: same limits, follows the request without any safety controller
            lim = (self.robot.accel if req_lin > self._ideal_v else self.robot.decel) * h
            self._ideal_v += max(-lim, min(lim, req_lin - self._ideal_v))
            self._ideal_progress += abs(self._ideal_v) * h
            self._record(t + h, (i + 1) / self.substeps)
        self.t += self.dt
        self.k += 1

    @property
    def num_frames(self) -> int:
        """Frames in the whole run."""
        return int(round(self.scenario.duration / self.dt))

    @property
    def can_pipeline(self) -> bool:
        """True when a frame's command never acts before the next frame's time: the actuation delay is at least
        the last physics substep of the frame (``dt - h``), so the robot's motion up to the next frame -- and so
        the next frame's camera pose -- is known before the current frame is answered."""
        return self.delay >= self.dt - self.dt / self.substeps + 1e-9

    def _request(self) -> float:
        req_lin, _ = self.request_command()
        return self.scenario.request if self.robot.kind == "arm" else req_lin

    def run(self, brain: Brain, progress: Callable[[], None] | None = None) -> Trace:
        """Run to the scenario's end with ``brain`` deciding every frame (``progress()`` after each frame).

        A :class:`PipelinedBrain` gets frame k+1 rendered while it decides frame k when :attr:`can_pipeline`
        (same commands at the same simulated times as the sequential loop, so the same trace; only faster)."""
        if not (self.can_pipeline and hasattr(brain, "submit") and hasattr(brain, "collect")):
            while not self.done:
                frame = self.frame()
                self.apply(brain.decide(frame, self._request()))
                self.advance()
                if progress is not None:
                    progress()
            return self.trace
        frame = self.frame() if not self.done else None
        while frame is not None:
            brain.submit(frame, self._request())
            self.advance()                      # frame k's command acts after t_{k+1}: not needed for this step
            nxt = self.frame() if not self.done else None
            self.apply(brain.collect(), frame.t)
            frame = nxt
            if progress is not None:
                progress()
        return self.trace


class OracleBrain:
    """The controller's safety core in-process, fed the *ground-truth* joints (perfect perception): the
    reference the real perception is compared with, and a fast brain for tests."""

    def __init__(self, cfg: SafetyConfig, warmup_frames: int = 8, frame_rate: float = 15.0) -> None:
        self.monitor = SafetyMonitor(cfg)
        self.mode = cfg.mode
        self.warmup = [-(i / frame_rate) for i in range(warmup_frames, 0, -1)]

    def decide(self, frame: Frame, request: float) -> Command:
        while self.warmup:          # as the node driver: the first scene seen for a while before t = 0
            self._decide(replace(frame, t=frame.t + self.warmup.pop(0)), request)
        return self._decide(frame, request)

    def _decide(self, frame: Frame, request: float) -> Command:
        r, t = frame.camera_from_world[:3, :3], frame.camera_from_world[:3, 3]
        people = []
        for i, j in enumerate(frame.joints_world):
            jc = j @ r.T + t
            if (jc[:, 2] > 0.1).all():              # in front of the camera (the model sees what the camera sees)
                u = frame.intrinsics.fx * jc[:, 0] / jc[:, 2] + frame.intrinsics.cx
                v = frame.intrinsics.fy * jc[:, 1] / jc[:, 2] + frame.intrinsics.cy
                inside = (u >= 0) & (u < frame.intrinsics.width) & (v >= 0) & (v < frame.intrinsics.height)
                if inside.mean() >= 0.5:
                    people.append((i + 1, jc, np.where(inside, 1.0, 0.3)))
        self.monitor.on_poses(frame.t, frame.t, people)
        command = (request, 0.0, 0.0) if self.mode == "vehicle" else None
        dec = self.monitor.step(frame.t, command)
        f = float(dec.speed_fraction)
        return Command(request * f if self.mode == "vehicle" else 0.0, 0.0, f, dec.state.name, dec.zone)
