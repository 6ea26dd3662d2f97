"""Launch the camera, perception and controller nodes on a robot (ROS 2 Jazzy/Kilted with launch_ros).

    ros2 launch pose_estimation_ros pose_estimation.launch.py
    ros2 launch pose_estimation_ros pose_estimation.launch.py use_camera:=false image_topic:=/camera/image_raw
    ros2 launch pose_estimation_ros pose_estimation.launch.py config_dir:=/path/to/my/config
    ros2 launch pose_estimation_ros pose_estimation.launch.py body_scale:=floor   # distances from the floor

The node set and each node's parameter file come from ``pose_estimation_ros.stack``, the same
description the project's runner (``pose_stack``) uses.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from pose_estimation_ros.stack import PACKAGE, STACK
from pose_estimation_ros.tools.floor_params import floor_parameters


def _nodes(context, *args, **kwargs):
    cfg_dir = LaunchConfiguration("config_dir").perform(context)
    use_camera = LaunchConfiguration("use_camera").perform(context).lower() in ("1", "true", "yes")
    image_topic = LaunchConfiguration("image_topic").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context)
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() in ("1", "true", "yes")
    body_scale = LaunchConfiguration("body_scale").perform(context)
    actions = []
    for spec in STACK:
        if spec.name == "camera" and not use_camera:
            continue
        remaps = list(spec.remappings)
        extra = {"use_sim_time": use_sim_time}
        if spec.name == "perception":
            remaps = [(src, image_topic if src == "image" else dst) for src, dst in remaps]
            if body_scale == "floor":       # the controller's camera mount, one source of truth for both nodes
                extra.update(floor_parameters(cfg_dir))
            elif body_scale:
                extra["body_scale"] = body_scale
        actions.append(Node(
            package=PACKAGE, executable=spec.executable, name=spec.name, namespace=namespace,
            parameters=[os.path.join(cfg_dir, spec.params_file), extra],
            remappings=remaps, output="screen", emulate_tty=True))
    return actions


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("config_dir", default_value=os.path.join(share, "config"),
                              description="Folder with camera.yaml, perception.yaml, controller.yaml."),
        DeclareLaunchArgument("use_camera", default_value="true",
                              description="Start the camera node (false: use image_topic from elsewhere)."),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="Image topic perception subscribes to (e.g. a Gazebo bridge topic)."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for all nodes."),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (Gazebo)."),
        DeclareLaunchArgument("body_scale", default_value="",
                              description="Perception's body_scale ('' = perception.yaml's); floor = from where the "
                                          "feet meet the floor, with the camera mount of controller.yaml's zones "
                                          "file (base_link on the floor)."),
        OpaqueFunction(function=_nodes),
    ])
