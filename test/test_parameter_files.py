"""Every key of a node's YAML file is a parameter that node declares, and the value reaches the node."""
import importlib

import pytest
import rclpy
import yaml

from pose_estimation_ros.stack import STACK, config_dir

pytestmark = pytest.mark.ros

CLASSES = {"camera": "CameraNode", "perception": "PerceptionNode", "controller": "ControllerNode"}


@pytest.mark.parametrize("spec", STACK, ids=lambda s: s.name)
def test_yaml_keys_are_declared_and_applied(spec):
    path = config_dir() / spec.params_file
    params = yaml.safe_load(path.read_text())[f"/**/{spec.name}"]["ros__parameters"]
    rclpy.init(args=["--ros-args", "-r", f"__node:={spec.name}", "--params-file", str(path)])
    try:
        node = getattr(importlib.import_module(spec.module), CLASSES[spec.name])()
        try:
            undeclared = [k for k in params if not node.has_parameter(k)]
            assert not undeclared, f"{path.name}: keys the node does not declare: {undeclared}"
            for key, value in params.items():
                got = node.get_parameter(key).value
                if isinstance(value, list):
                    assert list(got) == pytest.approx(value), key
                else:
                    assert got == value or got == pytest.approx(value), key
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
