"""Launch files and parameter files: parse-checked here (no `launch`/`launch_ros` wheels exist),
executed against minimal stand-ins of the launch API to check the node set they describe."""
import importlib
import py_compile
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from pose_estimation_ros.stack import STACK

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "pose_estimation.launch.py"


class _Context:
    def __init__(self, values):
        self.launch_configurations = values


def _stub_launch_modules(monkeypatch, share: str):
    """Install tiny stand-ins for launch, launch_ros and ament_index_python in sys.modules."""
    launch = types.ModuleType("launch")
    actions = types.ModuleType("launch.actions")
    subst = types.ModuleType("launch.substitutions")
    lros = types.ModuleType("launch_ros")
    lros_actions = types.ModuleType("launch_ros.actions")
    ament = types.ModuleType("ament_index_python")
    ament_pk = types.ModuleType("ament_index_python.packages")

    class LaunchDescription(list):
        pass

    class DeclareLaunchArgument:
        def __init__(self, name, default_value=None, description=""):
            self.name, self.default_value, self.description = name, default_value, description

    class OpaqueFunction:
        def __init__(self, function):
            self.function = function

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context.launch_configurations[self.name]

    class Node:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    launch.LaunchDescription = LaunchDescription
    actions.DeclareLaunchArgument, actions.OpaqueFunction = DeclareLaunchArgument, OpaqueFunction
    subst.LaunchConfiguration = LaunchConfiguration
    lros_actions.Node = Node
    ament_pk.get_package_share_directory = lambda pkg: share
    for name, mod in (("launch", launch), ("launch.actions", actions), ("launch.substitutions", subst),
                      ("launch_ros", lros), ("launch_ros.actions", lros_actions),
                      ("ament_index_python", ament), ("ament_index_python.packages", ament_pk)):
        monkeypatch.setitem(sys.modules, name, mod)


def _run_launch(monkeypatch, **overrides):
    _stub_launch_modules(monkeypatch, str(ROOT))
    spec = importlib.util.spec_from_file_location("pose_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    args = {a.name: a.default_value for a in ld if hasattr(a, "default_value")}
    args.update(overrides)
    opaque = [a for a in ld if hasattr(a, "function")]
    assert len(opaque) == 1
    return args, opaque[0].function(_Context(args))


def test_launch_file_compiles():
    py_compile.compile(str(LAUNCH), doraise=True)


def test_default_launch_starts_the_stack_with_its_parameter_files(monkeypatch):
    args, nodes = _run_launch(monkeypatch)
    assert args["config_dir"] == str(ROOT / "config")
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in STACK]
    entry_points = re.findall(r'f"(\w+) = \{PACKAGE\}\.([\w.]+):main"', (ROOT / "setup.py").read_text())
    for node, spec in zip(nodes, STACK):
        k = node.kwargs
        assert k["package"] == "pose_estimation_ros" and k["executable"] == spec.executable
        assert (spec.executable, spec.module.split(".", 1)[1]) in entry_points
        params_file = Path(k["parameters"][0])
        assert params_file.is_file() and params_file.name == spec.params_file
    perception = nodes[1].kwargs
    assert perception["remappings"] == [("image", "image_raw")]


def test_external_camera_topic_for_gazebo(monkeypatch):
    _, nodes = _run_launch(monkeypatch, use_camera="false", image_topic="/gz/camera/image", use_sim_time="true")
    assert [n.kwargs["name"] for n in nodes] == ["perception", "controller"]
    assert nodes[0].kwargs["remappings"] == [("image", "/gz/camera/image")]
    assert all(n.kwargs["parameters"][1] == {"use_sim_time": True} for n in nodes)


def test_body_scale_floor_gives_perception_the_controllers_camera_mount(monkeypatch):
    """body_scale:=floor: perception gets floor.* from the controller's zones file (mobile base: 1.2 m, level);
    the controller's parameters are untouched."""
    _, nodes = _run_launch(monkeypatch, body_scale="floor")
    extra = nodes[1].kwargs["parameters"][1]
    assert extra["body_scale"] == "floor" and extra["floor.camera_height"] == pytest.approx(1.2)
    assert extra["floor.camera_pitch_deg"] == pytest.approx(0.0, abs=1e-5)
    assert nodes[2].kwargs["parameters"][1] == {"use_sim_time": False}
    _, nodes = _run_launch(monkeypatch, body_scale="neutral")
    assert nodes[1].kwargs["parameters"][1] == {"use_sim_time": False, "body_scale": "neutral"}


@pytest.mark.parametrize("spec", STACK, ids=lambda s: s.name)
def test_parameter_files_parse_and_target_their_node(spec):
    data = yaml.safe_load((ROOT / "config" / spec.params_file).read_text())
    assert list(data) == [f"/**/{spec.name}"]
    params = data[f"/**/{spec.name}"]["ros__parameters"]
    assert params, "empty parameter file"


@pytest.mark.parametrize("spec", STACK, ids=lambda s: s.name)
def test_entry_points_exist(spec):
    mod = importlib.import_module(spec.module)
    assert callable(mod.main)
