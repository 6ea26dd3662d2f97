"""The controller's whole configuration, its flat ROS-parameter view, validation and YAML loading.

One key space serves three uses: the ROS parameters the node declares (``ssm.reaction_time``,
``zones.stop.radius`` ...), the zones YAML files (same keys, nested), and :func:`apply_params`,
which builds a new configuration from a change set. :func:`validate` checks the *whole* new
configuration (ranges, stop zones inside slowdown zones, a protective stop present ...) so that a
live change is accepted or rejected as one piece.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .geometry import Circle, Polygon, Shape, polygon_from_flat, polygon_is_simple, shape_inside

MODES = ("vehicle", "arm")
ACTIONS = ("stop", "slowdown", "limit", "approach")
SHAPES = ("circle", "polygon")
MAX_ZONES = 16
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@dataclass(frozen=True)
class ZoneConfig:
    """One static zone in the base frame (a vertical prism over a circle or polygon)."""

    name: str
    action: str = "stop"                # stop | slowdown | limit | approach
    shape: str = "circle"               # circle | polygon (fixed at start-up: it decides which fields exist)
    radius: float = 0.5                 # circle
    center: tuple[float, float] = (0.0, 0.0)
    points: tuple[float, ...] = ()      # polygon, flat [x1, y1, x2, y2, ...]
    slowdown_ratio: float = 0.5         # slowdown and approach: speed fraction while triggered
    linear_limit: float = 0.5           # limit: m/s
    angular_limit: float = 1.0          # limit: rad/s (vehicle mode)
    time_horizon: float = 1.5           # approach: seconds of predicted joint motion checked
    enabled: bool = True

    def make_shape(self) -> Shape:
        if self.shape == "circle":
            return Circle(self.center, self.radius)
        return Polygon(polygon_from_flat(self.points))


@dataclass(frozen=True)
class SsmConfig:
    """ISO/TS 15066 speed-and-separation monitoring: S_p = S_h + S_r + S_s + C + Z_d + Z_r."""

    enabled: bool = False
    human_speed: float = 1.6            # v_h, m/s (ISO 13855 walking approach; 2.0 for arm reach)
    reaction_time: float = 0.15         # T_r, s: sensing + perception + controller + robot reaction
    stopping_time: float = 0.4          # T_s, s
    stopping_distance: float = 0.0      # S_s, m; 0 = v_r * T_s / 2 (constant deceleration)
    intrusion_distance: float = 0.2     # C, m
    human_uncertainty: float = 0.1      # Z_d, m (pose estimation position uncertainty)
    robot_uncertainty: float = 0.05     # Z_r, m
    robot_radius: float = 0.3           # m from the base origin to the robot's outer extent
    use_measured_human_speed: bool = False   # v_h = max(human_speed, measured approach speed)


@dataclass(frozen=True)
class HysteresisConfig:
    enter_count: int = 1                # consecutive pose messages before a zone counts as occupied
    exit_count: int = 3                 # consecutive pose messages before it counts as free again
    min_dwell: float = 0.5              # s in a state before a less restrictive one may follow
    release_margin: float = 0.1         # m: an occupied zone is freed only beyond this extra distance
    ramp_rate: float = 0.5              # speed fraction per second when speeding up again


@dataclass(frozen=True)
class ReachConfig:
    enabled: bool = True
    margin: float = 0.3                 # m: a reaching person counts as this much closer
    min_straightness: float = 0.9       # |wrist - shoulder| / (upper arm + forearm length)
    max_angle_deg: float = 35.0         # arm direction vs horizontal direction to the robot


@dataclass(frozen=True)
class GestureConfig:
    enabled: bool = True
    hold_time: float = 0.5              # s the raised palm must be held
    range: float = 3.0                  # m: only people this close can stop the robot by gesture
    min_raise: float = 0.1              # m: wrist above shoulder
    max_tilt_deg: float = 30.0          # forearm angle from vertical


@dataclass(frozen=True)
class VelocityConfig:
    max_dt: float = 0.3                 # s: larger gaps between a person's poses give no velocity
    smoothing: float = 0.5              # EMA weight of the previous velocity estimate


def basic_zones(stop_radius: float = 0.8, slowdown_radius: float = 2.0, slowdown_ratio: float = 0.4
                ) -> tuple[ZoneConfig, ...]:
    """A stop circle inside a slowdown circle, both centred on the base origin."""
    return (ZoneConfig("stop", "stop", "circle", radius=stop_radius),
            ZoneConfig("slowdown", "slowdown", "circle", radius=slowdown_radius, slowdown_ratio=slowdown_ratio))


@dataclass(frozen=True)
class SafetyConfig:
    """Zones, SSM, pose cues, timing. Distances in metres, times in seconds, base frame x forward, z up."""

    mode: str = "vehicle"
    zones: tuple[ZoneConfig, ...] = field(default_factory=basic_zones)
    ssm: SsmConfig = field(default_factory=SsmConfig)
    hysteresis: HysteresisConfig = field(default_factory=HysteresisConfig)
    reach: ReachConfig = field(default_factory=ReachConfig)
    gesture: GestureConfig = field(default_factory=GestureConfig)
    velocity: VelocityConfig = field(default_factory=VelocityConfig)
    watchdog_timeout: float = 0.5
    max_stamp_age: float = 1.0
    max_future: float = 0.1
    min_confidence: float = 0.3
    planar: bool = True
    camera_xyz: tuple[float, float, float] = (0.0, 0.0, 1.2)
    camera_rpy: tuple[float, float, float] = (-math.pi / 2, 0.0, -math.pi / 2)
    nominal_speed: float = 1.0
    latch_stop: bool = False
    param_reject_hold: float = 2.0
    max_people: int = 64                # more people in one message => FAULT (bounded work per message)
    vanish_hold: float = 2.0            # s a person-caused STOP is held after that person is no longer seen
    vanish_near_distance: float = 1.0   # m: a stopper last seen this close to the robot body vanished into its blind spot
    vanish_hold_near: float = 10.0      # s the STOP is held then (>= vanish_hold; the camera cannot see them go)
    max_joint_distance: float = 100.0   # m from the camera; a joint farther away is implausible => FAULT

    def zone(self, name: str) -> ZoneConfig:
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)

    def validate(self) -> None:
        validate(self)


# ------------------------------------------------------------------------------------- parameter specs
@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: name, default (= current value), description, inclusive range, choices."""

    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False


INF = float("inf")

# ROS name -> (attribute path, description, lo, hi, choices, read_only)
_GLOBAL: dict[str, tuple[str, str, float | None, float | None, tuple | None, bool]] = {
    "mode": ("mode", "vehicle: filter cmd_vel_in -> cmd_vel_out; arm: publish a speed fraction.",
             None, None, MODES, True),
    "watchdog_timeout": ("watchdog_timeout", "STOP when no pose message arrives for this long (s).",
                         0.01, 10.0, None, False),
    "max_stamp_age": ("max_stamp_age", "FAULT (stop) when the pose's image stamp is older than this (s).",
                      0.01, 10.0, None, False),
    "max_future": ("max_future", "FAULT (stop) when the pose stamp is this far in the future (s).",
                   0.001, 10.0, None, False),
    "min_confidence": ("min_confidence", "Joints below this confidence are ignored.", 0.0, 1.0, None, False),
    "planar_distance": ("planar", "Measure person distances (SSM, gesture range, status) in the base x-y plane.",
                        None, None, None, False),
    "camera_xyz": ("camera_xyz", "Camera optical frame origin in the base frame (m); /tf_static wins when present.",
                   None, None, None, False),
    "camera_rpy": ("camera_rpy", "Camera optical frame orientation in the base frame (roll, pitch, yaw; rad).",
                   None, None, None, False),
    "nominal_speed": ("nominal_speed", "Robot speed at speed fraction 1 (arm: TCP m/s; used by SSM and limit "
                      "zones in arm mode).", 0.01, 10.0, None, False),
    "latch_stop": ("latch_stop", "Latch every STOP/FAULT until a std_msgs/Empty on safety_reset (and the cause "
                   "is gone).", None, None, None, False),
    "param_reject_hold": ("param_reject_hold", "FAULT (stop) for this long after a rejected parameter set "
                          "(s; 0 disables).", 0.0, 60.0, None, False),
    "vanish_hold": ("vanish_hold", "Hold a STOP caused by a person for this long after that person is no longer "
                    "seen (a person too close for the camera is still there; s, 0 disables).", 0.0, 3600.0, None,
                    False),
    "vanish_near_distance": ("vanish_near_distance", "A person who stopped the robot and was last seen this close "
                             "to its body (m) vanished into the camera's near-field blind spot: their STOP is held "
                             "for vanish_hold_near instead of vanish_hold.", 0.0, 100.0, None, False),
    "vanish_hold_near": ("vanish_hold_near", "Hold the STOP of a person who vanished within vanish_near_distance for "
                         "this long (s; the effective hold is at least vanish_hold).", 0.0, 3600.0, None, False),
    "max_people": ("max_people", "FAULT (stop) when a pose message holds more people than this (bounds the "
                   "work per message).", 1, 10000, None, False),
    "max_joint_distance": ("max_joint_distance", "FAULT (stop) when a joint is farther than this from the camera "
                           "(m): an implausible estimate, not a far person.", 1.0, 1e4, None, False),
    "hysteresis.enter_count": ("hysteresis.enter_count", "Consecutive pose messages inside a zone before it "
                               "triggers.", 1, 100, None, False),
    "hysteresis.exit_count": ("hysteresis.exit_count", "Consecutive pose messages outside a zone (and fault-free "
                              "messages after a fault) before it releases.", 1, 100, None, False),
    "hysteresis.min_dwell": ("hysteresis.min_dwell", "Minimum time in a state before a less restrictive state "
                             "(s).", 0.0, 30.0, None, False),
    "hysteresis.release_margin": ("hysteresis.release_margin", "An occupied zone releases only beyond this "
                                  "extra distance (m).", 0.0, 2.0, None, False),
    "hysteresis.ramp_rate": ("hysteresis.ramp_rate", "Speed fraction regained per second after a stop or "
                             "slowdown (1/s).", 0.01, 100.0, None, False),
    "ssm.enabled": ("ssm.enabled", "Dynamic ISO/TS 15066 speed-and-separation zone.", None, None, None, False),
    "ssm.human_speed": ("ssm.human_speed", "v_h: human approach speed (m/s); 1.6 walking (ISO 13855), 2.0 "
                        "arm reach.", 0.1, 5.0, None, False),
    "ssm.reaction_time": ("ssm.reaction_time", "T_r: sensing + perception + controller + robot reaction time "
                          "(s).", 0.0, 5.0, None, False),
    "ssm.stopping_time": ("ssm.stopping_time", "T_s: robot stopping time (s).", 0.0, 5.0, None, False),
    "ssm.stopping_distance": ("ssm.stopping_distance", "S_s: robot stopping distance (m); 0 = v_r * T_s / 2.",
                              0.0, 5.0, None, False),
    "ssm.intrusion_distance": ("ssm.intrusion_distance", "C: intrusion distance (m).", 0.0, 2.0, None, False),
    "ssm.human_uncertainty": ("ssm.human_uncertainty", "Z_d: human position uncertainty (m).", 0.0, 2.0, None,
                              False),
    "ssm.robot_uncertainty": ("ssm.robot_uncertainty", "Z_r: robot position uncertainty (m).", 0.0, 2.0, None,
                              False),
    "ssm.robot_radius": ("ssm.robot_radius", "Distance from the base origin to the robot's outer extent (m); "
                         "also turns angular speed into surface speed.", 0.0, 5.0, None, False),
    "ssm.use_measured_human_speed": ("ssm.use_measured_human_speed", "Use max(human_speed, measured approach "
                                     "speed of the person).", None, None, None, False),
    "reach.enabled": ("reach.enabled", "A person reaching toward the robot counts as closer.", None, None, None,
                      False),
    "reach.margin": ("reach.margin", "How much closer a reaching person counts (m).", 0.0, 2.0, None, False),
    "reach.min_straightness": ("reach.min_straightness", "Arm extension: wrist-shoulder distance / (upper "
                               "arm + forearm length).", 0.5, 1.0, None, False),
    "reach.max_angle_deg": ("reach.max_angle_deg", "Max angle between the arm and the direction to the robot "
                            "(deg).", 1.0, 90.0, None, False),
    "gesture.enabled": ("gesture.enabled", "A raised palm held for gesture.hold_time commands STOP.", None, None,
                        None, False),
    "gesture.hold_time": ("gesture.hold_time", "Time the raised palm must be held (s).", 0.0, 10.0, None, False),
    "gesture.range": ("gesture.range", "Only people within this distance can stop the robot by gesture (m).",
                      0.1, 50.0, None, False),
    "gesture.min_raise": ("gesture.min_raise", "Wrist height above the shoulder for a raised palm (m).",
                          0.0, 1.0, None, False),
    "gesture.max_tilt_deg": ("gesture.max_tilt_deg", "Max forearm angle from vertical for a raised palm (deg).",
                             1.0, 90.0, None, False),
    "velocity.max_dt": ("velocity.max_dt", "Joint velocities only from poses of one person at most this far "
                        "apart (s).", 0.01, 5.0, None, False),
    "velocity.smoothing": ("velocity.smoothing", "EMA weight of the previous joint velocity (0 = raw "
                           "differences).", 0.0, 0.95, None, False),
}

# zone field -> (description, lo, hi, choices, read_only)
_ZONE: dict[str, tuple[str, float | None, float | None, tuple | None, bool]] = {
    "action": ("What the zone does when a joint is inside.", None, None, ACTIONS, False),
    "shape": ("Zone shape (fixed at start-up: it decides which parameters exist).", None, None, SHAPES, True),
    "enabled": ("Zone active.", None, None, None, False),
    "radius": ("Circle radius (m).", 0.01, 50.0, None, False),
    "center": ("Circle centre [x, y] in the base frame (m).", None, None, None, False),
    "points": ("Polygon vertices [x1, y1, x2, y2, ...] in the base frame (m).", None, None, None, False),
    "slowdown_ratio": ("Speed fraction while a slowdown/approach zone is triggered.", 0.0, 1.0, None, False),
    "linear_limit": ("Limit zone: max linear speed (m/s).", 0.0, 10.0, None, False),
    "angular_limit": ("Limit zone: max angular speed (rad/s, vehicle mode).", 0.0, 10.0, None, False),
    "time_horizon": ("Approach zone: seconds of predicted joint motion checked (time to collision).", 0.05, 10.0,
                     None, False),
}
_SHAPE_FIELDS = {"circle": ("radius", "center"), "polygon": ("points",)}
_COMMON_ZONE_FIELDS = ("shape", "action", "enabled", "slowdown_ratio", "linear_limit", "angular_limit",
                       "time_horizon")


def zone_fields(shape: str) -> tuple[str, ...]:
    return _COMMON_ZONE_FIELDS + _SHAPE_FIELDS.get(shape, ())


def _get(cfg: SafetyConfig, path: str) -> Any:
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _ros_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return [float(x) for x in v]
    return v


def param_specs(cfg: SafetyConfig) -> list[ParamSpec]:
    """Every configuration parameter with the current value as default (zone names first, then shapes)."""
    out = []
    for name, (path, desc, lo, hi, choices, ro) in _GLOBAL.items():
        out.append(ParamSpec(name, _ros_value(_get(cfg, path)), desc, lo, hi, choices, ro))
    out.append(ParamSpec("zone_names", [z.name for z in cfg.zones],
                         "Zones of this robot (fixed at start-up); each has zones.<name>.* parameters.",
                         read_only=True))
    for z in cfg.zones:
        for f in zone_fields(z.shape):
            desc, lo, hi, choices, ro = _ZONE[f]
            out.append(ParamSpec(f"zones.{z.name}.{f}", _ros_value(getattr(z, f)), f"Zone '{z.name}': {desc}",
                                 lo, hi, choices, ro))
    return out


def to_params(cfg: SafetyConfig) -> dict[str, Any]:
    return {s.name: s.default for s in param_specs(cfg)}


# ------------------------------------------------------------------------------------------ conversion
def _coerce(name: str, value: Any, like: Any) -> Any:
    """``value`` converted to the type of ``like`` (the current value); ValueError naming ``name``."""
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(like, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if isinstance(like, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if isinstance(like, str):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(like, tuple):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name} must be a list of numbers, got {value!r}")
        flat = []
        for v in value:
            if isinstance(v, (list, tuple)):     # [[x, y], ...] polygons from YAML
                flat.extend(v)
            else:
                flat.append(v)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in flat):
            raise ValueError(f"{name} must be a list of numbers, got {value!r}")
        return tuple(float(v) for v in flat)
    raise ValueError(f"{name}: unsupported type")


def _set_path(cfg: SafetyConfig, path: str, value: Any) -> SafetyConfig:
    if "." not in path:
        return replace(cfg, **{path: value})
    group, attr = path.split(".", 1)
    return replace(cfg, **{group: replace(getattr(cfg, group), **{attr: value})})


def apply_params(cfg: SafetyConfig, changes: dict[str, Any]) -> SafetyConfig:
    """A new configuration with the flat parameter ``changes`` applied (not validated; see :func:`validate`).

    Raises ValueError for unknown names, unknown zones and values of the wrong type.
    """
    changes = dict(changes)
    zones = {z.name: z for z in cfg.zones}
    order = [z.name for z in cfg.zones]
    if "zone_names" in changes:
        names = changes.pop("zone_names")
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"zone_names must be a list of names, got {names!r}")
        order = list(names)
        zones = {n: zones.get(n, ZoneConfig(n)) for n in order}
    # shapes first: they decide which other zone fields exist
    for key in sorted(changes, key=lambda k: not k.endswith(".shape")):
        value = changes[key]
        if key.startswith("zones."):
            parts = key.split(".")
            if len(parts) != 3:
                raise ValueError(f"unknown parameter {key} (expected zones.<name>.<field>)")
            _, zname, f = parts
            if zname not in zones:
                raise ValueError(f"{key}: no zone named '{zname}' (zone_names: {order})")
            if f not in _ZONE:
                raise ValueError(f"{key}: unknown zone field '{f}' (fields: {', '.join(_ZONE)})")
            zones[zname] = replace(zones[zname], **{f: _coerce(key, value, getattr(zones[zname], f))})
        elif key in _GLOBAL:
            path = _GLOBAL[key][0]
            cfg = _set_path(cfg, path, _coerce(key, value, _get(cfg, path)))
        else:
            raise ValueError(f"unknown parameter {key}")
    return replace(cfg, zones=tuple(zones[n] for n in order))


# ------------------------------------------------------------------------------------------ validation
def _check_range(name: str, value: Any, lo, hi, choices) -> None:
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got '{value}'")
    if lo is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")


def validate(cfg: SafetyConfig) -> None:
    """Raise ValueError naming the first problem of the whole configuration."""
    for name, (path, _, lo, hi, choices, _) in _GLOBAL.items():
        _check_range(name, _get(cfg, path), lo, hi, choices)
    for name in ("camera_xyz", "camera_rpy"):
        v = getattr(cfg, name)
        if len(v) != 3 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"{name} must be 3 finite numbers, got {list(v)}")
    if not cfg.zones and not cfg.ssm.enabled:
        raise ValueError("no zones and SSM disabled: nothing would ever stop the robot")
    if len(cfg.zones) > MAX_ZONES:
        raise ValueError(f"at most {MAX_ZONES} zones, got {len(cfg.zones)}")
    names = [z.name for z in cfg.zones]
    if len(set(names)) != len(names):
        raise ValueError(f"zone names must be unique, got {names}")
    shapes: dict[str, Shape] = {}
    for z in cfg.zones:
        p = f"zones.{z.name}"
        if not _ZONE_NAME.match(z.name):
            raise ValueError(f"zone name '{z.name}' must start with a letter and contain only letters, digits, _")
        for f in zone_fields(z.shape):
            _, lo, hi, choices, _ = _ZONE[f]
            _check_range(f"{p}.{f}", getattr(z, f), lo, hi, choices)
        if z.shape == "circle":
            if len(z.center) != 2 or not all(math.isfinite(c) for c in z.center):
                raise ValueError(f"{p}.center must be 2 finite numbers, got {list(z.center)}")
        else:
            if len(z.points) % 2 or len(z.points) < 6:
                raise ValueError(f"{p}.points needs at least 3 (x, y) pairs, got {len(z.points)} numbers")
            if not all(math.isfinite(v) for v in z.points):
                raise ValueError(f"{p}.points must be finite")
            if not polygon_is_simple(polygon_from_flat(z.points)):
                raise ValueError(f"{p}.points: the polygon crosses itself or has no area")
        if z.action == "limit" and z.linear_limit <= 0 and z.angular_limit <= 0:
            raise ValueError(f"{p}: a limit zone with both limits 0 is a stop zone; use action stop")
        shapes[z.name] = z.make_shape()
    active = [z for z in cfg.zones if z.enabled]
    stops = [z for z in active if z.action == "stop"]
    slows = [z for z in active if z.action == "slowdown"]
    if not stops and not cfg.ssm.enabled:
        raise ValueError("no enabled stop zone and SSM disabled: nothing would ever stop the robot")
    for s in stops:
        if slows and not any(shape_inside(shapes[s.name], shapes[w.name]) for w in slows):
            raise ValueError(f"stop zone '{s.name}' must lie inside a slowdown zone "
                             f"({', '.join(w.name for w in slows)}): the stop zone must be nested in the slowdown zone")
    # SSM: the protective distance must be reachable at all (finite) - ranges above already ensure it.


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Flat parameters from a zones YAML file: either a ROS params file (``<node>: ros__parameters: ...``)
    or the bare mapping; nested mappings become dotted names (``zones: stop: radius`` -> ``zones.stop.radius``)."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    for v in data.values():
        if isinstance(v, dict) and "ros__parameters" in v:
            data = v["ros__parameters"]
            break
    flat: dict[str, Any] = {}

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = obj
    walk("", data)
    return flat


def config_from_params(flat: dict[str, Any], base: SafetyConfig | None = None) -> SafetyConfig:
    """Validated configuration from flat parameters (e.g. :func:`load_yaml`), unknown keys rejected."""
    cfg = apply_params(base or SafetyConfig(), flat)
    validate(cfg)
    return cfg


def config_from_yaml(path: str | Path, base: SafetyConfig | None = None,
                     ignore: tuple[str, ...] = ()) -> SafetyConfig:
    """Load a zones file; keys in ``ignore`` (node-only parameters such as control_rate_hz) are skipped."""
    flat = {k: v for k, v in load_yaml(path).items() if k not in ignore}
    return config_from_params(flat, base)


def markdown_table(cfg: SafetyConfig | None = None) -> str:
    """Parameter table (name, default, range, description) for the docs."""
    rows = ["| parameter | default | range | description |", "|---|---|---|---|"]
    for s in param_specs(cfg or SafetyConfig()):
        rng = (" / ".join(s.choices) if s.choices else f"[{s.lo}, {s.hi}]" if s.lo is not None else "")
        ro = " (read-only)" if s.read_only else ""
        rows.append(f"| `{s.name}` | `{s.default}` | {rng} | {s.description}{ro} |")
    return "\n".join(rows)

