"""The Gazebo package (gazebo/): checked here as far as this machine allows (gz cannot run here).

* package.xml / CMakeLists.txt / world SDFs parse; the worlds are what `python -m sim.gazebo_export` writes today
  from the scenarios (actors walk the simulator's paths; the camera sits at the zones-file mount);
* the ros_gz_bridge YAML names the topics our nodes really use (read from the nodes' sources and the launch file);
* the launch file builds its description (real launch/launch_ros when installed by scripts/setup_sim.sh,
  else minimal stand-ins as in test_launch_files.py).
What only a robot machine can run: gz sim itself, the bridge, Fuel downloads of the actor skin.
"""
import importlib.util
import math
import os
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from pose_estimation_ros.stack import STACK
from sim.gazebo_export import IMAGE_TOPIC, actor_waypoints, camera_link_pose, world_sdf
from sim.robots import make_robot
from sim.scenarios import SCENARIOS, make_scenario

ROOT = Path(__file__).resolve().parents[1]
GZ = ROOT / "gazebo"
NODES = ROOT / "pose_estimation_ros" / "nodes"


def _topics(source: Path, kind: str) -> set[str]:
    """Topic names a node creates publishers/subscriptions for (string literals in its source)."""
    text = source.read_text()
    return set(re.findall(rf"create_{kind}\(\s*\w+,\s*\"([^\"]+)\"", text))


def test_package_manifest_and_cmake():
    root = ET.parse(GZ / "package.xml").getroot()
    assert root.find("name").text == "pose_estimation_gazebo"
    deps = {e.text for e in root.iter("exec_depend")}
    assert {"pose_estimation_ros", "ros_gz_sim", "ros_gz_bridge", "launch_ros"} <= deps
    assert root.find("export/build_type").text == "ament_cmake"
    cmake = (GZ / "CMakeLists.txt").read_text()
    assert "project(pose_estimation_gazebo" in cmake and "ament_package()" in cmake
    installed = re.search(r"install\(DIRECTORY ([^)]*) DESTINATION", cmake).group(1).split()
    for d in installed:
        assert (GZ / d).is_dir(), d
    assert {"launch", "config", "worlds"} <= set(installed)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_world_parses_and_matches_its_scenario(name):
    path = GZ / "worlds" / f"{name}.sdf"
    text = path.read_text()
    assert text == world_sdf(make_scenario(name)), f"{path} is stale: run `python -m sim.gazebo_export --out gazebo`"
    world = ET.fromstring(text).find("world")
    assert world.get("name") == name
    plugins = {p.get("name") for p in world.iter("plugin")}
    assert "gz::sim::systems::Sensors" in plugins and "gz::sim::systems::Physics" in plugins
    sc = make_scenario(name)
    robot = make_robot(sc.robot)
    cams = [s for s in world.iter("sensor") if s.get("type") == "camera"]
    assert len(cams) == 1
    cam = cams[0]
    assert cam.find("topic").text == IMAGE_TOPIC
    assert float(cam.find("camera/horizontal_fov").text) == pytest.approx(math.radians(robot.camera.hfov_deg), abs=1e-4)
    assert int(cam.find("camera/image/width").text) == robot.camera.width
    link = next(l for l in world.iter("link") if l.get("name") == "camera_link")
    pose = [float(v) for v in link.find("pose").text.split()]
    assert np.allclose(pose, camera_link_pose(robot), atol=1e-4)
    actors = world.findall("actor")
    assert [a.get("name") for a in actors] == [a.name for a in sc.actors]
    for el, actor in zip(actors, sc.actors):
        wps = el.findall("script/trajectory/waypoint")
        times = [float(w.find("time").text) for w in wps]
        assert times == sorted(times) and len(set(times)) == len(times) and times[-1] <= sc.duration + 1e-6
        for w, (t, x, y, yaw) in zip(wps, actor_waypoints(actor, sc.duration)):
            px, py, _, _, _, pyaw = [float(v) for v in w.find("pose").text.split()]
            assert (px, py) == pytest.approx((x, y), abs=1e-3) and pyaw == pytest.approx(yaw, abs=1e-3)
        # the actor is where the simulator puts that person (pelvis position) at a waypoint time
        t_mid = times[len(times) // 2]
        pel = actor.joints_world(t_mid)[0]
        w = wps[len(wps) // 2]
        assert [float(v) for v in w.find("pose").text.split()[:2]] == pytest.approx(list(pel[:2]), abs=0.05)


def test_bridge_names_the_topics_our_nodes_use():
    entries = yaml.safe_load((GZ / "config" / "bridge.yaml").read_text())
    by_ros = {e["ros_topic_name"]: e for e in entries}
    launch = (GZ / "launch" / "sim.launch.py").read_text()
    image = re.search(r'IMAGE_TOPIC = "([^"]+)"', launch).group(1)
    info = re.search(r'INFO_TOPIC = "([^"]+)"', launch).group(1)
    # perception subscribes to image + camera_info; the launch file remaps them to the bridged topics
    assert {"image", "camera_info"} <= _topics(NODES / "perception_node.py", "subscription")
    assert by_ros[image]["ros_type_name"] == "sensor_msgs/msg/Image" and by_ros[image]["direction"] == "GZ_TO_ROS"
    assert by_ros[info]["ros_type_name"] == "sensor_msgs/msg/CameraInfo"
    assert by_ros[image]["gz_topic_name"] == IMAGE_TOPIC                        # the world's camera topic
    assert by_ros[info]["gz_topic_name"] == IMAGE_TOPIC.rsplit("/", 1)[0] + "/camera_info"   # gz's rule
    # the controller's command output drives the simulated base; /clock feeds use_sim_time
    assert "cmd_vel_out" in _topics(NODES / "controller_node.py", "publisher")
    cmd = by_ros["/cmd_vel_out"]
    assert cmd["direction"] == "ROS_TO_GZ" and cmd["gz_type_name"] == "gz.msgs.Twist"
    world = ET.parse(GZ / "worlds" / "walk_toward.sdf").getroot()
    vel = next(p for p in world.iter("plugin") if p.get("name") == "gz::sim::systems::VelocityControl")
    assert vel.find("topic").text == cmd["gz_topic_name"]
    assert by_ros["/clock"]["ros_type_name"] == "rosgraph_msgs/msg/Clock"
    assert by_ros["/clock"]["direction"] == "GZ_TO_ROS"


def _stub_launch(monkeypatch, shares: dict[str, str]) -> None:
    """Minimal launch / launch_ros / ament_index stand-ins (only when the real ones are not installed)."""
    mods = {n: types.ModuleType(n) for n in ("launch", "launch.actions", "launch.substitutions", "launch_ros",
                                             "launch_ros.actions", "ament_index_python",
                                             "ament_index_python.packages")}

    class _Kw:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class DeclareLaunchArgument(_Kw):
        def __init__(self, name, default_value=None, description=""):
            super().__init__(name)
            self.name, self.default_value = name, default_value

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context.launch_configurations[self.name]

    class OpaqueFunction:
        def __init__(self, function):
            self.function = function

    mods["launch"].LaunchDescription = list
    mods["launch.actions"].DeclareLaunchArgument = DeclareLaunchArgument
    mods["launch.actions"].ExecuteProcess = type("ExecuteProcess", (_Kw,), {})
    mods["launch.actions"].OpaqueFunction = OpaqueFunction
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch_ros.actions"].Node = type("Node", (_Kw,), {})
    mods["ament_index_python.packages"].get_package_share_directory = lambda p: shares[p]
    for n, m in mods.items():
        monkeypatch.setitem(sys.modules, n, m)


def _real_launch() -> bool:
    if os.environ.get("POSE_TEST_STUB_LAUNCH"):      # exercise the stand-in path where launch is installed
        return False
    try:
        import launch.actions  # noqa: F401
        import launch_ros.actions  # noqa: F401
        return hasattr(launch, "LaunchService")
    except ImportError:
        return False


@pytest.mark.parametrize("scenario", ["walk_toward", "reach_into_cell"])
def test_launch_file_builds_its_description(monkeypatch, scenario):
    shares = {"pose_estimation_gazebo": str(GZ), "pose_estimation_ros": str(ROOT)}
    real = _real_launch()
    if real:
        import ament_index_python.packages as aip
        monkeypatch.setattr(aip, "get_package_share_directory", lambda p: shares[p])
    else:
        _stub_launch(monkeypatch, shares)
    spec = importlib.util.spec_from_file_location("gz_sim_launch", GZ / "launch" / "sim.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if real:
        from launch import LaunchContext
        ld = mod.generate_launch_description()
        entities = ld.entities
        ctx = LaunchContext()
        args = {e.name: e.default_value for e in entities if hasattr(e, "default_value") and hasattr(e, "name")}
        for e in entities:
            if hasattr(e, "default_value") and hasattr(e, "name"):
                e.visit(ctx)
        ctx.launch_configurations["scenario"] = scenario
    else:
        entities = mod.generate_launch_description()
        args = {e.name: e.default_value for e in entities if hasattr(e, "default_value")}
        ctx = types.SimpleNamespace(launch_configurations=dict(args, scenario=scenario))
    assert {"scenario", "world", "gui", "bridge_config", "config_dir", "zones_file"} <= set(args)
    opaque = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    actions = opaque[0].function(ctx) if not real else opaque[0]._OpaqueFunction__function(ctx)
    names = [type(a).__name__ for a in actions]
    assert names == ["ExecuteProcess", "Node", "Node", "Node"], names
    if real:
        def kw(a):
            a._perform_substitutions(ctx)      # what executing the action does first: names, params, remaps
            params = []
            for path, is_file in a._Node__expanded_parameter_arguments or []:
                params.append(path if is_file and "launch_params_" not in path else yaml.safe_load(Path(path).read_text()))
            return {"package": a.node_package, "executable": a.node_executable, "name": a.node_name.rsplit("/", 1)[-1],
                    "parameters": params, "remappings": a.expanded_remapping_rules}
        gz_cmd = [c[0].perform(ctx) if isinstance(c, list) else str(c) for c in actions[0].cmd]
    else:
        def kw(a):
            return a.kwargs
        gz_cmd = actions[0].kwargs["cmd"]
    gz_cmd = [str(c) for c in gz_cmd]
    world = GZ / "worlds" / f"{scenario}.sdf"
    assert gz_cmd[:3] == ["gz", "sim", "-r"] and str(world) in gz_cmd and world.is_file()
    bridge = kw(actions[1])
    assert (bridge["package"], bridge["executable"]) == ("ros_gz_bridge", "parameter_bridge")
    nodes = {kw(a)["name"]: kw(a) for a in actions[2:]}
    assert set(nodes) == {s.name for s in STACK if s.name != "camera"}
    for n, k in nodes.items():
        assert k["executable"] == next(s.executable for s in STACK if s.name == n)
        params = k["parameters"]
        text = repr(params)
        assert "use_sim_time" in text and "True" in text, (n, text)
    per = nodes["perception"]
    remaps = {str(a if not isinstance(a, (list, tuple)) else a[0]): b for a, b in
              [(r[0], r[1]) for r in per["remappings"]]}
    flat = repr(per["remappings"])
    assert "/sim/camera/image" in flat and "/sim/camera/camera_info" in flat, remaps
    zones = "zones_arm.yaml" if scenario == "reach_into_cell" else "zones_mobile_base.yaml"
    assert zones in repr(nodes["controller"]["parameters"])


def test_package_builds_with_colcon_like_a_robot_workspace(tmp_path):
    """colcon build of gazebo/ on the venv's ament wheels: the install space holds the launch file, bridge YAML,
    worlds and motions, and the package is registered in the ament index."""
    import shutil
    import subprocess
    venv = Path(sys.executable).parent.parent
    colcon = shutil.which("colcon", path=str(venv / "bin"))
    if colcon is None:
        pytest.skip("colcon is not installed in the venv (requirements/build.txt)")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    res = subprocess.run([colcon, "--log-base", str(tmp_path / "log"), "build", "--base-paths", str(GZ),
                          "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install"),
                          "--cmake-args", "-DBUILD_TESTING=OFF"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    share = tmp_path / "install" / "pose_estimation_gazebo" / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "pose_estimation_gazebo").is_file()
    pkg = share / "pose_estimation_gazebo"
    assert (pkg / "launch" / "sim.launch.py").is_file() and (pkg / "config" / "bridge.yaml").is_file()
    assert sorted(p.stem for p in (pkg / "worlds").glob("*.sdf")) == sorted(SCENARIOS)
    assert (pkg / "motions" / "walk.bvh").is_file()
