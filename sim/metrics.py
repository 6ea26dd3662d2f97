"""Metrics of one closed-loop run, computed from its :class:`sim.world.Trace` and the controller configuration.

Definitions (distances planar, from the robot's body: the base footprint circle or the arm's reach envelope, to
the nearest ground-truth body joint of anyone):

* protective distance ``D_p`` = the configured ``stop`` zone radius minus the body radius (base 0.6 - 0.3 m,
  arm 1.0 - 0.85 m); perception uncertainty ``Z_d`` = ``ssm.human_uncertainty`` as configured.
* min separation: over the whole run, and while the robot moves (speed > 1 mm/s); goal: the moving one
  >= ``D_p - Z_d`` (a person may walk up to a robot that has already stopped).
* time to zero speed: from the first instant a joint is inside ``D_p`` to the robot's speed reaching zero;
  negative = it had already stopped that long before.
* stops: frames where the commanded speed fraction drops to 0 from > 0. A stop is *false* when at that instant
  no joint is within the distance that can justify it: the larger of the stop zone and the SSM radius at the
  requested speed, plus the hysteresis release margin and the reach-cue margin.
* time lost: (distance an ideal robot without the safety controller covers - distance covered) / requested speed.
* cell guard (arm): every instant a joint is inside the reach envelope, the TCP speed is zero.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pose_estimation_ros.safety import SafetyConfig

from .control_config import ssm_radius, stop_zone_radius
from .robots import RobotModel
from .scenarios import Scenario
from .world import Trace

MOVING = 1e-3      # m/s


@dataclass(frozen=True)
class RunMetrics:
    scenario: str
    robot: str
    setting: str
    brain: str
    protective_distance: float
    uncertainty: float
    min_separation: float
    min_separation_moving: float
    time_to_zero: float            # s; nan when nobody entered D_p
    stops: int
    false_stops: int
    time_lost: float               # s
    latency_mean_ms: float
    latency_p95_ms: float
    perception_mean_ms: float
    cell_entries_moving: int       # arm: physics steps with a joint in the cell while the TCP moved
    sep_goal: bool
    stop_goal: bool | None         # None: not a goal of this scenario
    cell_goal: bool | None
    frames: int

    @property
    def goals_met(self) -> bool:
        return self.sep_goal and self.stop_goal is not False and self.cell_goal is not False

    def to_dict(self) -> dict:
        return asdict(self)


def _stop_onsets(fraction: np.ndarray) -> np.ndarray:
    """Indices of frames where the fraction drops to 0 after having been > 0 (the start-up stop is not one)."""
    moving = fraction > 0.0
    return np.flatnonzero(~moving[1:] & moving[:-1]) + 1


def compute_metrics(trace: Trace, scenario: Scenario, robot: RobotModel, cfg: SafetyConfig,
                    setting: str = "default", brain: str = "perception") -> RunMetrics:
    """All metrics of one run (see the module docstring for the definitions)."""
    a = trace.arrays()
    t, sep, speed, dist = a["t"], a["sep"], a["speed"], a["dist"]
    d_p = stop_zone_radius(cfg) - robot.radius
    z_d = cfg.ssm.human_uncertainty
    moving = speed > MOVING
    min_sep = float(sep.min()) if len(sep) else math.inf
    min_sep_moving = float(sep[moving].min()) if moving.any() else math.inf

    inside = np.flatnonzero(sep < d_p)
    time_to_zero = math.nan
    if len(inside):
        i = inside[0]
        if not moving[i]:
            before = np.flatnonzero(moving[:i])
            time_to_zero = -(t[i] - t[before[-1] + 1]) if len(before) else -t[i]
        else:
            after = np.flatnonzero(~moving[i:])
            time_to_zero = float(t[i + after[0]] - t[i]) if len(after) else math.inf

    request = robot.nominal_speed * scenario.request if robot.kind == "arm" else scenario.request
    justify = (max(stop_zone_radius(cfg), ssm_radius(cfg, request)) + cfg.hysteresis.release_margin
               + (cfg.reach.margin if cfg.reach.enabled else 0.0))
    fraction, frame_t = a["fraction"], a["frame_t"]
    onsets = _stop_onsets(fraction) if len(fraction) > 1 else np.array([], int)
    false_stops = 0
    for k in onsets:
        j = min(int(np.searchsorted(t, frame_t[k])), len(dist) - 1)
        if not dist[j] <= justify:
            false_stops += 1
    ideal = a["ideal_progress"][-1] if len(t) else 0.0
    time_lost = float((ideal - a["progress"][-1]) / request) if len(t) and request > 0 else 0.0

    lat = a["latency_ms"][np.isfinite(a["latency_ms"])] if len(a["latency_ms"]) else np.array([])
    per = a["perception_ms"][np.isfinite(a["perception_ms"])] if len(a["perception_ms"]) else np.array([])
    cell_moving = int(((sep < 0.0) & moving).sum()) if robot.kind == "arm" else 0
    return RunMetrics(
        scenario=scenario.name, robot=robot.name, setting=setting, brain=brain, protective_distance=d_p,
        uncertainty=z_d, min_separation=min_sep, min_separation_moving=min_sep_moving, time_to_zero=time_to_zero,
        stops=int(len(onsets)), false_stops=false_stops, time_lost=time_lost,
        latency_mean_ms=float(lat.mean()) if len(lat) else math.nan,
        latency_p95_ms=float(np.percentile(lat, 95)) if len(lat) else math.nan,
        perception_mean_ms=float(per.mean()) if len(per) else math.nan,
        cell_entries_moving=cell_moving,
        sep_goal=bool(min_sep_moving >= d_p - z_d),
        stop_goal=(false_stops == 0) if scenario.expect_no_stop else None,
        cell_goal=(cell_moving == 0) if scenario.cell_guard else None,
        frames=int(len(frame_t)))
