"""Gazebo (gz sim) + ros_gz_bridge + the pose_estimation_ros perception and controller nodes on simulated time.

    ros2 launch pose_estimation_gazebo sim.launch.py                        # worlds/walk_toward.sdf
    ros2 launch pose_estimation_gazebo sim.launch.py scenario:=reach_into_cell
    ros2 launch pose_estimation_gazebo sim.launch.py world:=/path/my.sdf gui:=false

The robot's planner (or teleop) publishes ``cmd_vel_in``; the controller's ``cmd_vel_out`` is bridged to the
simulated base (``/model/robot/cmd_vel``). Arm worlds (reach_into_cell) have no base: the arm driver consumes
``arm_speed_fraction``. Node set and parameter files come from ``pose_estimation_ros.stack``, as in the main
launch file.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from pose_estimation_ros.stack import PACKAGE, STACK

GAZEBO_PACKAGE = "pose_estimation_gazebo"
IMAGE_TOPIC = "/sim/camera/image"
INFO_TOPIC = "/sim/camera/camera_info"
ARM_SCENARIOS = ("reach_into_cell",)


def _true(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _actions(context, *args, **kwargs):
    share = get_package_share_directory(GAZEBO_PACKAGE)
    cfg_dir = LaunchConfiguration("config_dir").perform(context)
    scenario = LaunchConfiguration("scenario").perform(context)
    world = LaunchConfiguration("world").perform(context) or os.path.join(share, "worlds", f"{scenario}.sdf")
    zones = LaunchConfiguration("zones_file").perform(context) or (
        "zones_arm.yaml" if scenario in ARM_SCENARIOS else "zones_mobile_base.yaml")
    gz_cmd = ["gz", "sim", "-r", world] + ([] if _true(LaunchConfiguration("gui").perform(context)) else ["-s"])
    actions = [
        ExecuteProcess(cmd=gz_cmd, output="screen", name="gz_sim"),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="gz_bridge", output="screen",
             parameters=[{"config_file": LaunchConfiguration("bridge_config").perform(context),
                          "use_sim_time": True}]),
    ]
    for spec in STACK:
        if spec.name == "camera":           # Gazebo's camera replaces ours
            continue
        params = [os.path.join(cfg_dir, spec.params_file), {"use_sim_time": True}]
        remaps = list(spec.remappings)
        if spec.name == "perception":
            remaps = [("image", IMAGE_TOPIC), ("camera_info", INFO_TOPIC)]
        if spec.name == "controller":
            params.append({"zones_file": zones})
        actions.append(Node(package=PACKAGE, executable=spec.executable, name=spec.name, parameters=params,
                            remappings=remaps, output="screen", emulate_tty=True))
    return actions


def generate_launch_description():
    share = get_package_share_directory(GAZEBO_PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("scenario", default_value="walk_toward",
                              description="World worlds/<scenario>.sdf (see `python -m sim list`)."),
        DeclareLaunchArgument("world", default_value="", description="An SDF world file (overrides scenario)."),
        DeclareLaunchArgument("gui", default_value="true", description="false: run gz sim server-only (-s)."),
        DeclareLaunchArgument("bridge_config", default_value=os.path.join(share, "config", "bridge.yaml"),
                              description="ros_gz_bridge YAML."),
        DeclareLaunchArgument("config_dir",
                              default_value=os.path.join(get_package_share_directory(PACKAGE), "config"),
                              description="pose_estimation_ros parameter files."),
        DeclareLaunchArgument("zones_file", default_value="",
                              description="Controller zones file ('' = arm or mobile base by scenario)."),
        OpaqueFunction(function=_actions),
    ])
