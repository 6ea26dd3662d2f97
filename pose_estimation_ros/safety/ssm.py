"""ISO/TS 15066 speed-and-separation monitoring (SSM), pure functions.

Protective separation distance (ISO/TS 15066 eq. 1, constant-speed form):

    S_p = S_h + S_r + S_s + C + Z_d + Z_r
    S_h = v_h * (T_r + T_s)     human approach during reaction and stopping
    S_r = v_r * T_r             robot travel during the reaction time
    S_s = stopping distance     (parameter, or v_r * T_s / 2 for a constant deceleration)

``v_h`` is the human approach speed (1.6 m/s walking per ISO 13855, 2.0 m/s for arm reach), ``v_r``
the robot speed toward the human (here: its full speed, conservatively), ``C`` the intrusion
distance and ``Z_d``/``Z_r`` the human/robot position uncertainties.

The controller measures the separation from a person's nearest joint to the robot's outer extent
(``robot_radius`` from the base origin) and, when it is below S_p at the requested speed, caps the
speed to the largest v_r whose S_p still fits (:func:`allowed_speed`), or stops when even v_r = 0
does not fit.
"""
from __future__ import annotations

import math

from .config import SsmConfig


def stopping_distance(cfg: SsmConfig, v_r: float) -> float:
    """S_s: the configured stopping distance, or v_r * T_s / 2 when it is 0."""
    return cfg.stopping_distance if cfg.stopping_distance > 0 else v_r * cfg.stopping_time / 2.0


def protective_distance(cfg: SsmConfig, v_r: float, v_h: float | None = None) -> float:
    """S_p (m) for robot speed ``v_r`` and human speed ``v_h`` (default ``cfg.human_speed``)."""
    v_h = cfg.human_speed if v_h is None else v_h
    s_h = v_h * (cfg.reaction_time + cfg.stopping_time)
    s_r = v_r * cfg.reaction_time
    return (s_h + s_r + stopping_distance(cfg, v_r) + cfg.intrusion_distance + cfg.human_uncertainty
            + cfg.robot_uncertainty)


def robot_slack(cfg: SsmConfig, separation: float, v_h: float) -> float:
    """Separation left for the robot's own terms (S_r + S_s) once the human and constant terms are taken."""
    return (separation - v_h * (cfg.reaction_time + cfg.stopping_time) - cfg.intrusion_distance
            - cfg.human_uncertainty - cfg.robot_uncertainty)


def allowed_speed_from_slack(cfg: SsmConfig, slack: float) -> float:
    """Largest v_r with S_r(v_r) + S_s(v_r) <= slack; 0 when even a stopped robot is too close; inf if unbounded."""
    if cfg.stopping_distance > 0:
        slack -= cfg.stopping_distance
        per_speed = cfg.reaction_time
    else:
        per_speed = cfg.reaction_time + cfg.stopping_time / 2.0
    if slack < 0:
        return 0.0
    return math.inf if per_speed <= 0 else slack / per_speed


def allowed_speed(cfg: SsmConfig, separation: float, v_h: float | None = None) -> float:
    """Largest robot speed (m/s) for which ``separation`` >= S_p."""
    return allowed_speed_from_slack(cfg, robot_slack(cfg, separation, cfg.human_speed if v_h is None else v_h))


def surface_speed(linear: float, angular: float, robot_radius: float) -> float:
    """Speed of the fastest point of a robot of ``robot_radius`` moving at (linear, angular)."""
    return abs(linear) + abs(angular) * robot_radius
