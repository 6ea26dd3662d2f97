"""The safety state machine: pose messages in, (state, speed fraction) out every control cycle.

Two entry points, both pure (times are seconds on the caller's clock, no ROS):

* :meth:`SafetyMonitor.on_poses` - one pose message (image stamp, people in the camera optical frame).
  It is checked (perception ok, stamp age, finite values); a good one is *evidence*: joints are moved to
  the base frame, joint velocities, reach and gesture cues are computed, every zone is tested against
  every confident joint of every person, and each zone's occupancy goes through the enter/exit counts.
* :meth:`SafetyMonitor.step` - one control cycle. Faults first (any doubt => zero speed, no
  hysteresis on the way in); otherwise the most restrictive of the occupied zones, the SSM zone (at the
  requested speed) and the gesture stop wins; then the minimum dwell, the optional latch and the
  speed ramp are applied.

States and their speed fraction: NORMAL 1, SLOWDOWN ratio, LIMIT cap/requested, APPROACH ratio,
STOP 0, FAULT 0. "Most restrictive" = lowest speed fraction, ties broken by severity
(FAULT > STOP > APPROACH > LIMIT > SLOWDOWN > NORMAL).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from .. import skeleton
from .config import SafetyConfig, validate
from .geometry import Shape, camera_to_base
from .pose_cues import GestureTimer, raised_palm, reaching_toward
from .ssm import allowed_speed_from_slack, protective_distance, robot_slack, stopping_distance, surface_speed
from .tracking import JointVelocityTracker


class State(IntEnum):
    """Controller states (values match pose_estimation_msgs/SafetyStatus)."""

    NORMAL = 0
    SLOWDOWN = 1
    LIMIT = 2
    STOP = 3
    APPROACH = 4
    FAULT = 5


SEVERITY = {State.NORMAL: 0, State.SLOWDOWN: 1, State.LIMIT: 2, State.APPROACH: 3, State.STOP: 4, State.FAULT: 5}
GESTURE_ZONE = "gesture"
SSM_ZONE = "ssm"
FAULT_ZONES = ("watchdog", "param_rejected", "perception_fault", "stale", "future", "invalid", "invalid_cmd")


@dataclass
class Decision:
    """The controller's output for one cycle."""

    state: State
    speed_fraction: float
    zone: str = ""
    person_id: int = -1
    min_distance: float = math.inf
    reason: str = ""
    latched: bool = False

    def key(self) -> tuple[float, int]:
        """Sort key: smaller = more restrictive."""
        return (self.speed_fraction, -SEVERITY[self.state])


def is_stop(decision: Decision) -> bool:
    """True when the decision commands zero motion (STOP and FAULT both stop the robot)."""
    return decision.speed_fraction == 0.0


@dataclass
class PersonObservation:
    """One person's joints in the robot base frame, with what the monitor derived from them."""

    person_id: int
    joints: np.ndarray                  # (J, 3) m
    confidence: np.ndarray              # (J,)
    velocity: np.ndarray | None = None  # (J, 3) m/s
    reaching: str = ""                  # side of an arm reaching toward the robot
    gesture: str = ""                   # side of a raised palm
    gesture_held: float = -1.0          # s the raised palm has been held (-1: none)
    distance: float = math.inf          # nearest confident joint to the base origin
    nearest_joint: int = -1
    approach_speed: float = 0.0         # m/s of the nearest joint toward the base (positive = closing in)


def nearest_joint(people: list[PersonObservation], min_confidence: float, planar: bool) -> tuple[float, int, int]:
    """Closest confident joint of any person to the base origin.

    Returns:
        (distance m, person_id, joint index); (inf, -1, -1) when no joint is confident enough.
    """
    best = (math.inf, -1, -1)
    for p in people:
        pts = p.joints[:, :2] if planar else p.joints
        d = np.linalg.norm(pts, axis=1)
        d = np.where(p.confidence >= min_confidence, d, np.inf)
        j = int(np.argmin(d))
        if d[j] < best[0]:
            best = (float(d[j]), p.person_id, j)
    return best


@dataclass
class ZoneHit:
    person_id: int
    joint: int
    value: float            # signed distance to the zone (m) or, for approach zones, time to entry (s)


@dataclass
class _Occupancy:
    occupied: bool = False
    in_count: int = 0
    out_count: int = 0
    hit: ZoneHit | None = None


@dataclass
class _Meta:
    received_at: float
    stamp: float
    fault: tuple[str, str, int] | None      # (zone, reason, person) when the message itself is faulty


@dataclass
class ZoneView:
    """What the markers draw for one zone."""

    name: str
    action: str
    outline: np.ndarray     # (M, 2) base frame
    occupied: bool
    winner: bool


@dataclass
class _SsmEvidence:
    separation: float       # m from the robot's outer extent to the person's nearest joint (minus reach margin)
    human_speed: float
    person_id: int
    joint: int


def person_fault(joints: np.ndarray, confidence: np.ndarray, max_distance: float) -> str:
    """Why one person's joints cannot be used ('' when they can).

    Args:
        joints: (J, 3) metres, camera frame; confidence: (J,) in [0, 1]; max_distance: metres.
    """
    if joints.ndim != 2 or joints.shape[1] != 3 or confidence.shape != (joints.shape[0],):
        return f"malformed joints {joints.shape} / confidence {confidence.shape}"
    if joints.shape[0] == 0:
        return "no joints"
    if not (np.isfinite(joints).all() and np.isfinite(confidence).all()):
        return "non-finite joints or confidence"
    if confidence.min() < 0.0 or confidence.max() > 1.0:
        return f"confidence outside [0, 1] ({confidence.min():g} .. {confidence.max():g})"
    far = float(np.sqrt((joints * joints).sum(axis=1)).max())
    if far > max_distance:
        return f"joint {far:.3g} m from the camera (max_joint_distance {max_distance:g} m)"
    return ""


def planar_command(command: tuple[float, ...]) -> tuple[float, float, float]:
    """(vx, vy, wz) of a (vx, vy, wz) or (vx, vy, vz, wx, wy, wz) command."""
    return (command[0], command[1], command[2]) if len(command) == 3 else (command[0], command[1], command[5])


def _joint_name(j: int) -> str:
    return skeleton.JOINT_NAMES[j] if 0 <= j < skeleton.NUM_JOINTS else f"joint {j}"


class SafetyMonitor:
    """Pose evidence + zones -> :class:`Decision`, with watchdog, hysteresis, dwell, ramp and latch."""

    def __init__(self, cfg: SafetyConfig) -> None:
        validate(cfg)
        self.cfg = cfg
        self._transform_override: np.ndarray | None = None
        self.transform_source = "parameters"
        self._meta: _Meta | None = None
        self._good = 0
        self._fault_memory = ("watchdog", State.STOP, "no pose message received yet")
        self._occ: dict[str, _Occupancy] = {}
        self._ssm_window: deque[_SsmEvidence | None] = deque(maxlen=cfg.hysteresis.exit_count)
        self._ssm_active = False
        self._ssm_active_prev = False
        self.ssm_radius = math.nan            # S_p at the requested speed + robot radius (m from base origin)
        self.ssm_stop_radius = math.nan       # S_p at speed 0 + robot radius
        self.people: list[PersonObservation] = []
        self.min_distance = math.inf
        self._vel = JointVelocityTracker()
        self._gesture = GestureTimer()
        self._out_fraction = 0.0
        self._out_t: float | None = None
        self._ramping = False
        self._held: Decision | None = None
        self._held_since = -math.inf
        self._latched: Decision | None = None
        self._reject_until = -math.inf
        self._reject_reason = ""
        self._stopper: tuple[int, float, str] | None = None    # (person id, last seen stopping the robot, zone)
        self.command: tuple[float, ...] = (0.0, 0.0, 0.0)
        self.last: Decision | None = None
        self._build()

    # ------------------------------------------------------------------------------------ configuration
    def _build(self) -> None:
        self._shapes: dict[str, Shape] = {z.name: z.make_shape() for z in self.cfg.zones}
        self.transform = (self._transform_override if self._transform_override is not None
                          else camera_to_base(self.cfg.camera_xyz, self.cfg.camera_rpy))
        self._occ = {z.name: self._occ.get(z.name, _Occupancy()) for z in self.cfg.zones}
        self._occ.setdefault(GESTURE_ZONE, _Occupancy())
        if self._ssm_window.maxlen != self.cfg.hysteresis.exit_count:
            self._ssm_window = deque(self._ssm_window, maxlen=self.cfg.hysteresis.exit_count)

    def reconfigure(self, cfg: SafetyConfig) -> None:
        """Swap in a new configuration; an invalid one raises ValueError and leaves the old one in place.

        Zone occupancy is kept for zones of the same name, so retuning never clears an active stop.
        An accepted configuration ends a pending rejected-parameters fault.
        """
        validate(cfg)
        self.cfg = cfg
        self._build()
        self._reject_until = -math.inf
        if not cfg.latch_stop:
            self._latched = None

    def reject_parameters(self, now: float, reason: str) -> None:
        """A parameter set was rejected: FAULT (zero speed) for ``param_reject_hold`` seconds."""
        if self.cfg.param_reject_hold > 0:
            self._reject_until = now + self.cfg.param_reject_hold
            self._reject_reason = reason

    def set_transform(self, transform: np.ndarray | None, source: str = "tf_static") -> None:
        """Camera optical frame -> base transform from elsewhere (e.g. /tf_static); None = back to parameters."""
        self._transform_override = None if transform is None else np.asarray(transform, float)
        self.transform_source = source if transform is not None else "parameters"
        self._build()

    # ------------------------------------------------------------------------------------------ evidence
    def on_poses(self, now: float, stamp: float, people_cam: list[tuple[int, np.ndarray, np.ndarray]],
                 ok: bool = True, status: str = "", count: int | None = None) -> None:
        """Record a pose message: ``people_cam`` = [(id, joints (J,3) camera frame, confidence (J,))];
        ``count``: how many people the message held when the caller converted only some of them.

        A message that cannot be used as a whole is a FAULT (zero speed), never "nobody there": perception
        said it failed, a bad stamp, more than ``max_people`` people, or any person that cannot be used
        (no joints, non-finite values, confidences outside [0, 1], a joint beyond ``max_joint_distance``).
        """
        fault = self._message_fault(now, stamp, ok, status, people_cam,
                                    len(people_cam) if count is None else int(count))
        self._meta = _Meta(now, stamp, fault)
        if fault is not None:
            self._mark_fault(fault[0], State.FAULT, fault[1])
            return
        people = []
        for pid, j, c in people_cam:
            j, c = np.asarray(j, float), np.asarray(c, float)
            if not (c >= self.cfg.min_confidence).any():
                # A person is there but no joint is confident: use all its joints rather than see nobody.
                c = np.ones_like(c)
            people.append((int(pid), j, c))
        self._good += 1
        self._evidence(now, stamp, people)

    def _message_fault(self, now: float, stamp: float, ok: bool, status: str,
                       people_cam: list[tuple[int, np.ndarray, np.ndarray]], count: int) -> tuple[str, str, int] | None:
        """(zone, reason, person id) when a pose message cannot be used, else None."""
        cfg = self.cfg
        if not ok:
            return "perception_fault", f"perception fault: {status or 'no reason given'}", -1
        if not math.isfinite(stamp):
            return "invalid", "non-finite pose stamp", -1
        if now - stamp > cfg.max_stamp_age:
            return "stale", f"pose stamp {now - stamp:.3f} s old (max {cfg.max_stamp_age} s)", -1
        if stamp - now > cfg.max_future:
            return "future", f"pose stamp {stamp - now:.3f} s in the future (max {cfg.max_future} s)", -1
        if count > cfg.max_people:
            return "invalid", f"{count} people in one message (max_people {cfg.max_people})", -1
        for pid, j, c in people_cam:
            why = person_fault(np.asarray(j, float), np.asarray(c, float), cfg.max_joint_distance)
            if why:
                return "invalid", f"person {pid}: {why}", int(pid)
        return None

    def _evidence(self, now: float, stamp: float, people_cam: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        cfg = self.cfg
        minc = cfg.min_confidence
        rot, trans = self.transform[:3, :3].T, self.transform[:3, 3]
        base = [(pid, j @ rot + trans, c) for pid, j, c in people_cam]
        vels = self._vel.update(stamp, base, cfg.velocity, minc)
        people: list[PersonObservation] = []
        palms: dict[int, bool] = {}
        for pid, jb, c in base:
            p = PersonObservation(pid, jb, c, vels.get(pid))
            ok = c >= minc
            if ok.any():
                pts = jb[:, :2] if cfg.planar else jb
                d = np.sqrt((pts * pts).sum(axis=1))
                d[~ok] = np.inf
                k = int(np.argmin(d))
                p.distance, p.nearest_joint = float(d[k]), k
                if p.velocity is not None and d[k] > 1e-6:
                    p.approach_speed = float(-(p.velocity[k, :pts.shape[1]] @ pts[k]) / d[k])
                jl, cl = jb.tolist(), c.tolist()
                p.reaching = reaching_toward(jl, cl, cfg.reach, minc)
                p.gesture = raised_palm(jl, cl, cfg.gesture, minc)
            palms[pid] = bool(p.gesture)
            people.append(p)
        held = self._gesture.update(stamp, palms)
        for p in people:
            p.gesture_held = held.get(p.person_id, -1.0)
        self.people = people
        self.min_distance = min((p.distance for p in people), default=math.inf)

        # All confident joints of all people, stacked.
        xy, margin, owner, joint, vel = [], [], [], [], []
        reach_margin = cfg.reach.margin if cfg.reach.enabled else 0.0
        for i, p in enumerate(people):
            ok = p.confidence >= minc
            n = int(ok.sum())
            if not n:
                continue
            xy.append(p.joints[ok, :2])
            margin.append(np.full(n, reach_margin if p.reaching else 0.0))
            owner.append(np.full(n, i))
            joint.append(np.nonzero(ok)[0])
            vel.append(p.velocity[ok, :2] if p.velocity is not None else np.zeros((n, 2)))
        h = cfg.hysteresis
        if xy:
            xy, margin, owner, joint, vel = (np.concatenate(a) for a in (xy, margin, owner, joint, vel))
            robot_v = np.array(planar_command(self.command)[:2]) if cfg.mode == "vehicle" else np.zeros(2)
            rel = vel - robot_v
        for z in cfg.zones:
            occ = self._occ[z.name]
            if not z.enabled:
                self._occ[z.name] = _Occupancy()
                continue
            hit = None
            if len(xy):
                extra = h.release_margin if occ.occupied else 0.0
                shape = self._shapes[z.name]
                if z.action == "approach":
                    ttc = shape.entry_time(xy, rel, margin + extra, z.time_horizon)
                    k = int(np.argmin(ttc))
                    if ttc[k] < math.inf:
                        hit = ZoneHit(people[owner[k]].person_id, int(joint[k]), float(ttc[k]))
                else:
                    sd = shape.signed_distance(xy) - margin
                    k = int(np.argmin(sd))
                    if sd[k] <= extra:
                        hit = ZoneHit(people[owner[k]].person_id, int(joint[k]), float(sd[k]))
            self._update_occupancy(occ, hit)

        # Gesture stop: a raised palm held long enough by someone within range.
        occ = self._occ[GESTURE_ZONE]
        hit = None
        if cfg.gesture.enabled:
            extra = h.release_margin if occ.occupied else 0.0
            for p in people:
                if p.gesture_held >= cfg.gesture.hold_time and p.distance <= cfg.gesture.range + extra:
                    if hit is None or p.distance < hit.value:
                        hit = ZoneHit(p.person_id, p.nearest_joint, p.distance)
        else:
            self._occ[GESTURE_ZONE] = occ = _Occupancy()
        self._update_occupancy(occ, hit)

        # SSM evidence: the person leaving the robot the least room (kept over the exit window).
        ev = None
        if cfg.ssm.enabled:
            best = math.inf
            for p in people:
                if p.distance == math.inf:
                    continue
                sep = p.distance - cfg.ssm.robot_radius - (reach_margin if p.reaching else 0.0)
                v_h = cfg.ssm.human_speed
                if cfg.ssm.use_measured_human_speed:
                    v_h = max(v_h, p.approach_speed)
                slack = robot_slack(cfg.ssm, sep, v_h)
                if slack < best:
                    best, ev = slack, _SsmEvidence(sep, v_h, p.person_id, p.nearest_joint)
        self._ssm_window.append(ev)

    def _update_occupancy(self, occ: _Occupancy, hit: ZoneHit | None) -> None:
        h = self.cfg.hysteresis
        if not occ.occupied:
            if hit is not None:
                occ.in_count += 1
                if occ.in_count >= h.enter_count:
                    occ.occupied, occ.out_count, occ.hit = True, 0, hit
            else:
                occ.in_count = 0
        elif hit is not None:
            occ.out_count, occ.hit = 0, hit
        else:
            occ.out_count += 1
            if occ.out_count >= h.exit_count:
                occ.occupied, occ.in_count = False, 0

    def _mark_fault(self, zone: str, state: State, reason: str) -> None:
        self._good = 0
        self._fault_memory = (zone, state, reason)

    # -------------------------------------------------------------------------------------------- cycle
    def requested_speeds(self) -> tuple[float, float]:
        """(linear, angular) the robot is asked for: cmd_vel_in in vehicle mode, nominal_speed for an arm."""
        if self.cfg.mode == "arm":
            return self.cfg.nominal_speed, 0.0
        vx, vy, wz = planar_command(self.command)
        return math.hypot(vx, vy), abs(wz)

    def step(self, now: float, command: tuple[float, ...] | None = None) -> Decision:
        """Decide the state for the control cycle at time ``now``.

        ``command``: the requested base velocity in vehicle mode, (vx, vy, wz) or a whole twist
        (vx, vy, vz, wx, wy, wz) (kept from the last call when None); any non-finite component is a FAULT.
        Arm mode uses ``nominal_speed``.
        """
        if command is not None:
            if len(command) not in (3, 6):
                raise ValueError(f"command must have 3 or 6 components, got {len(command)}")
            self.command = tuple(float(v) for v in command)
        dec = self._fault(now)
        if dec is None:
            dec = self._hold_vanished(now, self._target())
        dec = self._finish(now, dec)
        self.last = dec
        return dec

    def _fault(self, now: float) -> Decision | None:
        cfg, m = self.cfg, self._meta
        dist = self.min_distance
        if m is None:
            self._mark_fault("watchdog", State.STOP, "no pose message received yet")
            return Decision(State.STOP, 0.0, "watchdog", min_distance=dist, reason="no pose message received yet")
        silence = now - m.received_at
        if silence > cfg.watchdog_timeout:
            reason = f"no pose message for {silence:.3f} s (timeout {cfg.watchdog_timeout} s)"
            self._mark_fault("watchdog", State.STOP, reason)
            return Decision(State.STOP, 0.0, "watchdog", min_distance=dist, reason=reason)
        if now < self._reject_until:
            return Decision(State.FAULT, 0.0, "param_rejected", min_distance=dist,
                            reason=f"parameter set rejected ({self._reject_reason}); "
                                   f"stopped for {self._reject_until - now:.2f} s more")
        if m.fault is not None:
            return Decision(State.FAULT, 0.0, m.fault[0], m.fault[2], dist, m.fault[1])
        if now - m.stamp > cfg.max_stamp_age:
            reason = f"pose stamp {now - m.stamp:.3f} s old (max {cfg.max_stamp_age} s)"
            self._mark_fault("stale", State.FAULT, reason)
            return Decision(State.FAULT, 0.0, "stale", min_distance=dist, reason=reason)
        if not all(math.isfinite(v) for v in self.command):
            return Decision(State.FAULT, 0.0, "invalid_cmd", min_distance=dist, reason="non-finite cmd_vel_in")
        need = cfg.hysteresis.exit_count
        if self._good < need:
            zone, state, reason = self._fault_memory
            return Decision(state, 0.0, zone, min_distance=dist,
                            reason=f"recovering from '{reason}': {self._good}/{need} good pose messages")
        return None

    def _target(self) -> Decision:
        cfg = self.cfg
        v_lin, v_ang = self.requested_speeds()
        best = Decision(State.NORMAL, 1.0, "", -1, self.min_distance, "clear")
        for z in cfg.zones:
            occ = self._occ[z.name]
            if not (z.enabled and occ.occupied):
                continue
            if z.action == "stop":
                state, frac = State.STOP, 0.0
            elif z.action == "slowdown":
                state, frac = State.SLOWDOWN, z.slowdown_ratio
            elif z.action == "approach":
                state, frac = State.APPROACH, z.slowdown_ratio
            else:
                state, frac = State.LIMIT, 1.0
                if v_lin > z.linear_limit:
                    frac = z.linear_limit / v_lin
                if cfg.mode == "vehicle" and v_ang > z.angular_limit:
                    frac = min(frac, z.angular_limit / v_ang)
            cand = Decision(state, frac, z.name, occ.hit.person_id, self.min_distance)
            if cand.key() < best.key():
                cand.reason = self._hit_reason(z.name, z.action, occ.hit)
                best = cand
        g = self._occ[GESTURE_ZONE]
        if g.occupied:
            cand = Decision(State.STOP, 0.0, GESTURE_ZONE, g.hit.person_id, self.min_distance,
                            f"person {g.hit.person_id} raised a palm (stop gesture) at {g.hit.value:.2f} m")
            if cand.key() < best.key():
                best = cand
        self._ssm_active, self.ssm_radius, self.ssm_stop_radius = False, math.nan, math.nan
        if cfg.ssm.enabled:
            s = cfg.ssm
            v_r = surface_speed(v_lin, v_ang, s.robot_radius) if cfg.mode == "vehicle" else cfg.nominal_speed
            self.ssm_radius = protective_distance(s, v_r) + s.robot_radius
            self.ssm_stop_radius = protective_distance(s, 0.0) + s.robot_radius
            worst, slack = None, math.inf
            for ev in self._ssm_window:
                if ev is not None:
                    sl = robot_slack(s, ev.separation, ev.human_speed)
                    if sl < slack:
                        worst, slack = ev, sl
            if worst is not None:
                held = cfg.hysteresis.release_margin if self._ssm_active_prev else 0.0
                slack -= held
                if slack < v_r * s.reaction_time + stopping_distance(s, v_r):
                    self._ssm_active = True
                    v_ok = allowed_speed_from_slack(s, slack)
                    frac = 0.0 if v_ok <= 0 else min(1.0, v_ok / v_r)
                    sp = protective_distance(s, v_r, worst.human_speed)
                    cand = Decision(State.STOP if frac == 0 else State.LIMIT, frac, SSM_ZONE, worst.person_id,
                                    self.min_distance,
                                    f"SSM: person {worst.person_id} {_joint_name(worst.joint)} "
                                    f"{worst.separation:.2f} m from the robot"
                                    + (f" (-{held:.2f} m release margin)" if held else "")
                                    + f" < S_p {sp:.2f} m at {v_r:.2f} m/s; allowed {v_ok:.2f} m/s")
                    if cand.key() < best.key():
                        best = cand
        self._ssm_active_prev = self._ssm_active
        return best

    def _hit_reason(self, zone: str, action: str, hit: ZoneHit) -> str:
        p = next((q for q in self.people if q.person_id == hit.person_id), None)
        extra = f" (reaching {p.reaching} arm: +{self.cfg.reach.margin:.2f} m)" if p is not None and p.reaching else ""
        if action == "approach":
            return (f"zone '{zone}': person {hit.person_id} {_joint_name(hit.joint)} enters in {hit.value:.2f} s"
                    f"{extra}")
        where = "inside" if hit.value <= 0 else f"{hit.value:.2f} m from"
        return f"zone '{zone}': person {hit.person_id} {_joint_name(hit.joint)} {where} the zone{extra}"

    def _hold_vanished(self, now: float, target: Decision) -> Decision:
        """A person who stopped the robot and is no longer seen may be too close for the camera to see (below
        or beside it): hold the STOP for ``vanish_hold`` s after they were last seen stopping it, and for
        ``vanish_hold_near`` s when they were last seen within ``vanish_near_distance`` of the robot body (the
        camera's near-field blind spot: a forward camera loses a person who walks up to the stopped robot).
        Seeing them again, outside every stop condition, releases it through the usual hysteresis."""
        if target.state == State.STOP and target.person_id >= 0:
            dist = next((p.distance for p in self.people if p.person_id == target.person_id), None)
            if dist is None:    # a STOP still held by its hysteresis after the person vanished: keep their last distance
                dist = self._stopper[3] if self._stopper is not None and self._stopper[0] == target.person_id \
                    else math.inf
            self._stopper = (target.person_id, now, target.zone, dist)
            return target
        if self._stopper is None:
            return target
        pid, since, zone, dist = self._stopper
        near = dist <= self.cfg.vanish_near_distance
        hold, name = ((max(self.cfg.vanish_hold, self.cfg.vanish_hold_near), "vanish_hold_near") if near
                      else (self.cfg.vanish_hold, "vanish_hold"))
        if any(p.person_id == pid for p in self.people) or now - since > hold:
            self._stopper = None
            return target
        return Decision(State.STOP, 0.0, "vanished", pid, target.min_distance,
                        f"person {pid} stopped the robot ({zone}) and is not seen since {now - since:.2f} s: "
                        f"held for {name} {hold:g} s" + (f" (last seen {dist:.2f} m from the robot)" if near else ""))

    def _finish(self, now: float, target: Decision) -> Decision:
        cfg = self.cfg
        held = self._held
        if (held is not None and target.state != held.state and target.key() > held.key()
                and now - self._held_since < cfg.hysteresis.min_dwell):
            target = replace(held, min_distance=target.min_distance,
                             reason=f"{held.reason} (min dwell {cfg.hysteresis.min_dwell} s)")
        if held is None or target.state != held.state:
            self._held_since = now
        self._held = target
        out = target
        if cfg.latch_stop and target.state in (State.STOP, State.FAULT) and self._latched is None:
            self._latched = target
        if self._latched is not None:
            if target.state == State.FAULT:
                out = replace(target, latched=True)
            else:
                lt = self._latched
                out = Decision(State.STOP, 0.0, lt.zone, lt.person_id, target.min_distance,
                               f"latched after '{lt.reason}': publish std_msgs/Empty on safety_reset", True)
        frac = out.speed_fraction
        if self._out_t is not None and frac > self._out_fraction:
            # the ramp starts at the first cycle whose target exceeds the output (not at the previous cycle)
            dt = max(0.0, now - self._out_t) if self._ramping else 0.0
            frac = min(frac, self._out_fraction + cfg.hysteresis.ramp_rate * dt)
            self._ramping = frac < out.speed_fraction
            if frac < out.speed_fraction:
                out = replace(out, speed_fraction=frac,
                              reason=f"{out.reason}; ramping up to {out.speed_fraction:.2f} "
                                     f"at {cfg.hysteresis.ramp_rate}/s")
        else:
            self._ramping = False
        self._out_fraction, self._out_t = frac, now
        return out

    def reset(self) -> tuple[bool, str]:
        """Clear a latched stop (the ``safety_reset`` topic). Refused while the cause is still present."""
        if self._latched is None:
            return True, "not latched"
        cause = self._held
        if cause is None or cause.state in (State.STOP, State.FAULT):
            return False, f"cause still present ({cause.zone if cause else 'no decision yet'}): not reset"
        self._latched = None
        return True, f"latched stop ({cause.zone or 'clear'}) reset"

    @property
    def latched(self) -> bool:
        return self._latched is not None

    # ------------------------------------------------------------------------------------------ views
    def zone_views(self) -> list[ZoneView]:
        winner = self.last.zone if self.last is not None else ""
        return [ZoneView(z.name, z.action, self._shapes[z.name].outline(), self._occ[z.name].occupied,
                         z.name == winner) for z in self.cfg.zones if z.enabled]

    def summary(self) -> dict[str, str]:
        """Key values for diagnostics."""
        m = self._meta
        return {
            "mode": self.cfg.mode,
            "people": str(len(self.people)),
            "occupied_zones": ",".join(n for n, o in self._occ.items() if o.occupied) or "-",
            "ssm_radius_m": f"{self.ssm_radius:.3f}",
            "ssm_stop_radius_m": f"{self.ssm_stop_radius:.3f}",
            "latched": str(self.latched),
            "transform_source": self.transform_source,
            "last_pose_received_s": f"{m.received_at:.3f}" if m else "never",
            "last_pose_stamp_s": f"{m.stamp:.3f}" if m else "never",
            "good_messages_since_fault": str(self._good),
        }
