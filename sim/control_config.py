"""The controller configuration a simulated run uses (the same files the controller node reads) and the named
zone settings the suite compares.

``controller_config`` merges ``config/controller.yaml`` (minus node-only keys), the robot's zones file and the
setting's overrides exactly in the order the node applies them, so the metrics use the distances the controller
really works with.
"""
from __future__ import annotations

from pathlib import Path

from pose_estimation_ros.safety import SafetyConfig, apply_params, load_yaml, validate
from pose_estimation_ros.safety.ssm import protective_distance
from pose_estimation_ros.stack import config_dir

NODE_ONLY = ("zones_file", "control_rate_hz", "cmd_vel_timeout", "diagnostics_rate_hz", "markers_rate_hz",
             "base_frame", "use_tf_static")

# Named zone settings: controller parameter overrides (ROS parameter names) on top of the robot's zones file.
ZONE_SETTINGS: dict[str, dict[str, float]] = {
    "default": {},
    # Smaller margins: planned human speed 1.0 m/s, slowdown circle 1.5 m, no corridor limit ahead beyond 2 m.
    "tight": {"ssm.human_speed": 1.0, "zones.slowdown.radius": 1.5, "zones.approach.time_horizon": 1.0},
    # Larger margins: planned human speed 2.0 m/s, slowdown circle 2.5 m, approach horizon 2.0 s.
    "wide": {"ssm.human_speed": 2.0, "zones.slowdown.radius": 2.5, "zones.approach.time_horizon": 2.0},
}


def zone_setting(name: str, mode: str) -> dict[str, float]:
    """Overrides of setting ``name`` that exist for ``mode`` ('vehicle' | 'arm'): arm cells have no approach zone."""
    if name not in ZONE_SETTINGS:
        raise KeyError(f"unknown zone setting '{name}' (known: {', '.join(ZONE_SETTINGS)})")
    out = dict(ZONE_SETTINGS[name])
    if mode == "arm":
        out = {k: v for k, v in out.items() if not k.startswith("zones.approach")}
        if "ssm.human_speed" in out:        # arm reach is planned at 2.0 m/s; scale the setting to it
            out["ssm.human_speed"] = round(out["ssm.human_speed"] * 1.25, 3)
        if "zones.slowdown.radius" in out:
            out["zones.slowdown.radius"] = round(out["zones.slowdown.radius"] + 0.5, 3)
    return out


def controller_config(zones_file: str, overrides: dict | None = None, cfg_dir: Path | None = None) -> SafetyConfig:
    """SafetyConfig as the controller node builds it: controller.yaml, then the zones file, then ``overrides``."""
    d = cfg_dir or config_dir()
    flat = {k: v for k, v in load_yaml(d / "controller.yaml").items() if k not in NODE_ONLY}
    flat.update({k: v for k, v in load_yaml(d / zones_file).items() if k not in NODE_ONLY})
    flat.update(overrides or {})
    cfg = apply_params(SafetyConfig(), {k: v for k, v in flat.items() if k == "zone_names"})
    cfg = apply_params(cfg, {k: v for k, v in flat.items() if k.endswith(".shape")})
    cfg = apply_params(cfg, {k: v for k, v in flat.items() if k != "zone_names" and not k.endswith(".shape")})
    validate(cfg)
    return cfg


def stop_zone_radius(cfg: SafetyConfig) -> float:
    """Radius of the circular zone named 'stop' (the configured protective stop), m from the base origin."""
    for z in cfg.zones:
        if z.name == "stop" and z.shape == "circle":
            return float(z.radius)
    raise ValueError("the controller configuration has no circular 'stop' zone")


def ssm_radius(cfg: SafetyConfig, speed: float) -> float:
    """Distance from the base origin inside which SSM stops or slows a robot moving at ``speed`` (m)."""
    return cfg.ssm.robot_radius + protective_distance(cfg.ssm, speed)
