"""ROS-free safety core of the controller (one job per module).

* :mod:`.config`    - the configuration, its flat ROS-parameter view, whole-config validation, YAML loading
* :mod:`.geometry`  - frames (camera -> base) and zone shapes (circle, polygon)
* :mod:`.ssm`       - ISO/TS 15066 protective separation distance
* :mod:`.pose_cues` - reaching toward the robot, raised-palm stop gesture
* :mod:`.tracking`  - joint velocities from consecutive poses
* :mod:`.monitor`   - the state machine (faults, zones, hysteresis, dwell, latch, ramp)
* :mod:`.scenarios` - generated/recorded pose sequences and a harness that replays them

This is not a certified safety function; it must sit behind a rated one (see docs/safety.md).
"""
from .config import (ACTIONS, MODES, SHAPES, GestureConfig, HysteresisConfig, ParamSpec, ReachConfig,
                     SafetyConfig, SsmConfig, VelocityConfig, ZoneConfig, apply_params, basic_zones,
                     config_from_params, config_from_yaml, load_yaml, param_specs, to_params, validate)
from .geometry import (Circle, Polygon, camera_to_base, chain_transform, invert_transform, quaternion_to_matrix,
                       rpy_to_matrix, to_base)
from .monitor import (Decision, PersonObservation, SafetyMonitor, State, ZoneView, is_stop, nearest_joint)
from .ssm import allowed_speed, protective_distance

__all__ = [
    "ACTIONS", "MODES", "SHAPES", "GestureConfig", "HysteresisConfig", "ParamSpec", "ReachConfig", "SafetyConfig",
    "SsmConfig", "VelocityConfig", "ZoneConfig", "apply_params", "basic_zones", "config_from_params",
    "config_from_yaml", "load_yaml", "param_specs", "to_params", "validate", "Circle", "Polygon", "camera_to_base",
    "chain_transform", "invert_transform", "quaternion_to_matrix", "rpy_to_matrix", "to_base", "Decision",
    "PersonObservation", "SafetyMonitor", "State", "ZoneView", "is_stop", "nearest_joint", "allowed_speed",
    "protective_distance",
]
