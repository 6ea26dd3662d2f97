"""Parameter validation of the whole configuration, the flat parameter view, and zone YAML files."""
import math
from pathlib import Path

import pytest

from pose_estimation_ros.safety import (SafetyConfig, SsmConfig, ZoneConfig, apply_params, config_from_yaml,
                                        load_yaml, param_specs, to_params, validate)
from pose_estimation_ros.safety.config import markdown_table

CONFIG = Path(__file__).resolve().parents[1] / "config"
NODE_ONLY = ("zones_file", "control_rate_hz", "cmd_vel_timeout", "diagnostics_rate_hz", "markers_rate_hz",
             "base_frame", "use_tf_static")


def changed(**flat):
    """Default configuration with flat parameter changes (names with '.' given as '__')."""
    return apply_params(SafetyConfig(), {k.replace("__", "."): v for k, v in flat.items()})


@pytest.mark.parametrize("changes,msg", [
    ({"zones.stop.radius": 2.5}, "must lie inside a slowdown zone"),
    ({"zones.slowdown.center": [3.0, 0.0]}, "must lie inside a slowdown zone"),
    ({"watchdog_timeout": 0.0}, "watchdog_timeout must be in"),
    ({"hysteresis.min_dwell": -1.0}, "hysteresis.min_dwell"),
    ({"ssm.reaction_time": -0.1}, "ssm.reaction_time"),
    ({"hysteresis.exit_count": 0}, "hysteresis.exit_count"),
    ({"zones.slowdown.slowdown_ratio": 1.2}, "slowdown_ratio"),
    ({"zones.stop.enabled": False}, "nothing would ever stop"),
    ({"mode": "tractor"}, "mode must be one of"),
    ({"zones.stop.action": "explode"}, "action must be one of"),
    ({"camera_xyz": [0.0, 0.0]}, "camera_xyz must be 3"),
    ({"camera_rpy": [0.0, math.nan, 0.0]}, "camera_rpy must be 3 finite"),
    ({"zones.stop.center": [math.inf, 0.0]}, "center must be 2 finite"),
])
def test_invalid_configurations_are_rejected_with_a_reason(changes, msg):
    with pytest.raises(ValueError, match=msg):
        validate(apply_params(SafetyConfig(), changes))


def test_polygons_are_checked():
    def poly(points, name="box"):
        return SafetyConfig(zones=(ZoneConfig("stop", radius=0.3),
                                   ZoneConfig(name, "slowdown", "polygon", points=tuple(points))))
    validate(poly([-1, -1, 1, -1, 1, 1, -1, 1]))
    with pytest.raises(ValueError, match="crosses itself"):
        validate(poly([-1, -1, 1, 1, 1, -1, -1, 1]))          # bow tie
    with pytest.raises(ValueError, match="at least 3"):
        validate(poly([-1, -1, 1, -1]))
    with pytest.raises(ValueError, match="at least 3"):
        validate(poly([-1, -1, 1, -1, 1, 1, -1]))
    with pytest.raises(ValueError, match="must lie inside"):  # stop circle pokes out of a thin box
        validate(poly([-1, -0.2, 1, -0.2, 1, 0.2, -1, 0.2]))
    # a stop polygon inside a slowdown circle is fine; outside is not
    ok = SafetyConfig(zones=(ZoneConfig("stop", "stop", "polygon", points=(0, -0.3, 0.5, -0.3, 0.5, 0.3, 0, 0.3)),
                             ZoneConfig("slow", "slowdown", radius=1.0)))
    validate(ok)
    with pytest.raises(ValueError, match="must lie inside"):
        validate(apply_params(ok, {"zones.slow.radius": 0.55}))


def test_zone_names_and_counts():
    with pytest.raises(ValueError, match="unique"):
        validate(SafetyConfig(zones=(ZoneConfig("a", radius=0.3), ZoneConfig("a", radius=0.4))))
    with pytest.raises(ValueError, match="must start with a letter"):
        validate(SafetyConfig(zones=(ZoneConfig("9lives", radius=0.3),)))
    with pytest.raises(ValueError, match="nothing would ever stop"):
        validate(SafetyConfig(zones=()))
    validate(SafetyConfig(zones=(), ssm=SsmConfig(enabled=True)))         # SSM alone is a protective stop


@pytest.mark.parametrize("changes,msg", [
    ({"nope": 1.0}, "unknown parameter nope"),
    ({"zones.ghost.radius": 1.0}, "no zone named 'ghost'"),
    ({"zones.stop.colour": 1.0}, "unknown zone field"),
    ({"watchdog_timeout": "fast"}, "must be a number"),
    ({"watchdog_timeout": True}, "must be a number"),
    ({"hysteresis.exit_count": 2.5}, "must be an integer"),
    ({"latch_stop": 1}, "true or false"),
    ({"zones.stop.center": "origin"}, "list of numbers"),
])
def test_unknown_names_and_wrong_types(changes, msg):
    with pytest.raises(ValueError, match=msg):
        apply_params(SafetyConfig(), changes)


def test_apply_params_changes_only_what_is_named_and_keeps_the_input():
    base = SafetyConfig()
    new = apply_params(base, {"zones.stop.radius": 0.6, "ssm.human_speed": 2.0, "hysteresis.exit_count": 5})
    assert new.zone("stop").radius == 0.6 and new.ssm.human_speed == 2.0 and new.hysteresis.exit_count == 5
    assert base.zone("stop").radius == 0.8 and new.zone("slowdown") == base.zone("slowdown")
    grown = apply_params(base, {"zone_names": ["stop", "slowdown", "extra"], "zones.extra.shape": "polygon",
                                "zones.extra.points": [[0, 0], [1, 0], [1, 1]], "zones.extra.action": "limit"})
    assert grown.zone("extra").points == (0, 0, 1, 0, 1, 1) and grown.zone("extra").action == "limit"
    validate(grown)


def test_flat_parameters_round_trip_and_carry_descriptions_and_ranges():
    cfg = config_from_yaml(CONFIG / "zones_mobile_base.yaml")
    assert apply_params(SafetyConfig(), to_params(cfg)) == cfg
    specs = param_specs(cfg)
    names = {s.name for s in specs}
    assert {"zones.limit_front.points", "zones.stop.radius", "ssm.reaction_time", "hysteresis.min_dwell",
            "gesture.hold_time", "reach.margin", "watchdog_timeout"} <= names
    for s in specs:
        assert s.description
        if isinstance(s.default, (int, float)) and not isinstance(s.default, bool):
            assert s.lo is not None and s.lo <= s.default <= s.hi, s.name
    assert "| `ssm.human_speed` |" in markdown_table(cfg)


def test_robot_zone_files():
    base = config_from_yaml(CONFIG / "zones_mobile_base.yaml")
    arm = config_from_yaml(CONFIG / "zones_arm.yaml")
    assert base.mode == "vehicle" and base.ssm.enabled and {z.action for z in base.zones} == {
        "stop", "slowdown", "limit", "approach"}
    assert arm.mode == "arm" and arm.ssm.human_speed == 2.0 and arm.nominal_speed == 0.5
    assert any(z.shape == "polygon" for z in arm.zones) and any(z.shape == "circle" for z in arm.zones)
    ctrl = config_from_yaml(CONFIG / "controller.yaml", ignore=NODE_ONLY)
    assert load_yaml(CONFIG / "controller.yaml")["zones_file"] == "zones_mobile_base.yaml"
    assert ctrl.watchdog_timeout == 0.5


def test_bare_yaml_mapping(tmp_path):
    f = tmp_path / "z.yaml"
    f.write_text("zone_names: [stop, box]\nzones:\n  stop: {radius: 0.4}\n"
                 "  box: {action: slowdown, shape: polygon, points: [[-2, -2], [2, -2], [2, 2], [-2, 2]]}\n")
    cfg = config_from_yaml(f)
    assert cfg.zone("box").points == (-2, -2, 2, -2, 2, 2, -2, 2) and cfg.zone("stop").radius == 0.4
    f.write_text("zones:\n  stop: {radius: 3.0}\n")
    with pytest.raises(ValueError, match="inside a slowdown"):
        config_from_yaml(f)
