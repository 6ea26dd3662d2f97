"""Export scenarios for Gazebo (gz sim): a world SDF with the scenario's people as gz actors walking the same
scripted paths (waypoints sampled from :class:`sim.people.Actor`), the robot with its camera at the zones-file
mount, and the procedural motions as BVH files on the canonical skeleton.

    python -m sim.gazebo_export --out gazebo            # worlds/<scenario>.sdf for every scenario + motions/*.bvh

Gazebo actor animations need a skin whose skeleton matches the animation's bone names. The worlds use Gazebo's
standard actor (skin + walking animation from Fuel, fetched by gz on the robot machine); the BVH files carry our
motions (walk, stand, reach, sit) on the canonical 24-joint skeleton for a skin rigged with those joint names.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from pose_estimation_ros.skeleton import JOINT_NAMES, PARENTS, rest_offsets

from .motions import PROCEDURAL, Motion
from .robots import RobotModel, make_robot
from .scenarios import SCENARIOS, Scenario, make_scenario

ACTOR_SKIN = "https://fuel.gazebosim.org/1.0/Mingfei/models/actor/tip/files/meshes/walk.dae"
IMAGE_TOPIC = "/sim/camera/image"          # gz topic of the camera; camera_info follows gz's rule: .../camera_info
CMD_VEL_TOPIC = "/model/robot/cmd_vel"
WAYPOINT_DT = 0.5                          # s between sampled waypoints (plus every segment boundary)
ACTOR_Z = 1.0                              # gz actor origin height (its skin's pelvis)


def _f(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) > 5e-5 else "0"


def actor_waypoints(actor, duration: float) -> list[tuple[float, float, float, float]]:
    """[(t, x, y, yaw)] at segment boundaries and every WAYPOINT_DT s up to ``duration`` (times strictly rising)."""
    times = set(np.round(np.arange(0.0, duration + 1e-9, WAYPOINT_DT), 6).tolist())
    for p in actor._pieces:
        for t in (p.t0, p.t1):
            if math.isfinite(t) and t <= duration:
                times.add(round(t, 6))
    out = []
    for t in sorted(times):
        pos, heading, _ = actor.state(min(t, duration - 1e-6) if t >= actor.duration else t)
        out.append((float(t), float(pos[0]), float(pos[1]), float(heading)))
    return out


def _actor_sdf(actor, duration: float) -> str:
    wps = "\n".join(f"          <waypoint><time>{_f(t)}</time><pose>{_f(x)} {_f(y)} {ACTOR_Z} 0 0 {_f(yaw)}</pose>"
                    f"</waypoint>" for t, x, y, yaw in actor_waypoints(actor, duration))
    return f"""    <actor name="{escape(actor.name)}">
      <skin><filename>{ACTOR_SKIN}</filename><scale>1.0</scale></skin>
      <animation name="walking"><filename>{ACTOR_SKIN}</filename><interpolate_x>true</interpolate_x></animation>
      <script>
        <loop>false</loop>
        <delay_start>0</delay_start>
        <auto_start>true</auto_start>
        <trajectory id="0" type="walking">
{wps}
        </trajectory>
      </script>
    </actor>"""


def _camera_sensor(robot: RobotModel, rate: float) -> str:
    cam = robot.camera
    return f"""        <sensor name="camera" type="camera">
          <always_on>1</always_on>
          <update_rate>{_f(rate)}</update_rate>
          <topic>{IMAGE_TOPIC}</topic>
          <gz_frame_id>camera_optical_frame</gz_frame_id>
          <camera>
            <horizontal_fov>{_f(math.radians(cam.hfov_deg))}</horizontal_fov>
            <image><width>{cam.width}</width><height>{cam.height}</height><format>R8G8B8</format></image>
            <clip><near>0.05</near><far>60</far></clip>
          </camera>
        </sensor>"""


def camera_link_pose(robot: RobotModel) -> tuple[float, float, float, float, float, float]:
    """SDF pose (x y z roll pitch yaw) of the camera *link* (x forward) matching the optical mount of the zones file.

    Optical frame = link frame rotated by (-pi/2, 0, -pi/2); so R_link = R_optical @ R(-pi/2, 0, -pi/2)^-1.
    """
    from pose_estimation_ros.safety.geometry import rpy_to_matrix
    r_opt = rpy_to_matrix(*robot.camera.rpy)
    r_link_opt = rpy_to_matrix(-math.pi / 2, 0.0, -math.pi / 2)
    r = r_opt @ r_link_opt.T
    pitch = -math.asin(max(-1.0, min(1.0, r[2, 0])))
    roll = math.atan2(r[2, 1], r[2, 2])
    yaw = math.atan2(r[1, 0], r[0, 0])
    x, y, z = robot.camera.xyz
    return (x, y, z, roll, pitch, yaw)


def _robot_sdf(robot: RobotModel, rate: float) -> str:
    cx, cy, cz, cr, cp, cyaw = camera_link_pose(robot)
    cam_pose = " ".join(_f(v) for v in (cx, cy, cz, cr, cp, cyaw))
    if robot.kind == "mobile_base":
        return f"""    <model name="robot">
      <pose>0 0 0 0 0 0</pose>
      <link name="base_link">
        <pose>0 0 0.15 0 0 0</pose>
        <inertial><mass>40</mass></inertial>
        <collision name="c"><geometry><cylinder><radius>{_f(robot.radius)}</radius><length>0.3</length></cylinder></geometry></collision>
        <visual name="v"><geometry><cylinder><radius>{_f(robot.radius)}</radius><length>0.3</length></cylinder></geometry></visual>
      </link>
      <link name="camera_link">
        <pose>{_f(cx)} {_f(cy)} {_f(cz)} {_f(cr)} {_f(cp)} {_f(cyaw)}</pose>
        <inertial><mass>0.1</mass></inertial>
        <visual name="v"><geometry><box><size>0.05 0.1 0.05</size></box></geometry></visual>
{_camera_sensor(robot, rate)}
      </link>
      <joint name="camera_joint" type="fixed"><parent>base_link</parent><child>camera_link</child></joint>
      <!-- cmd_vel_out of the controller (bridged to {CMD_VEL_TOPIC}) moves the base -->
      <plugin filename="gz-sim-velocity-control-system" name="gz::sim::systems::VelocityControl">
        <topic>{CMD_VEL_TOPIC}</topic>
      </plugin>
    </model>"""
    return f"""    <model name="cell">
      <static>true</static>
      <link name="table"><pose>0 0 0.375 0 0 0</pose>
        <visual name="v"><geometry><box><size>1.2 0.8 0.75</size></box></geometry></visual>
        <collision name="c"><geometry><box><size>1.2 0.8 0.75</size></box></geometry></collision>
      </link>
      <link name="arm_envelope"><pose>0 0 0.8 0 0 0</pose>
        <visual name="v"><geometry><cylinder><radius>{_f(robot.radius)}</radius><length>0.02</length></cylinder></geometry>
          <transparency>0.7</transparency></visual>
      </link>
      <link name="camera_link">
        <pose>{cam_pose}</pose>
{_camera_sensor(robot, rate)}
      </link>
    </model>"""


def world_sdf(sc: Scenario, rate: float = 15.0) -> str:
    """SDF 1.9 world text for scenario ``sc``."""
    robot = make_robot(sc.robot)
    actors = "\n".join(_actor_sdf(a, sc.duration) for a in sc.actors)
    return f"""<?xml version="1.0"?>
<!-- Generated by `python -m sim.gazebo_export` from scenario '{sc.name}': {escape(sc.description)}.
     Robot: {robot.name}; camera mount as config/{robot.zones_file}. Regenerate instead of editing. -->
<sdf version="1.9">
  <world name="{sc.name}">
    <physics name="1ms" type="ignored"><max_step_size>0.001</max_step_size><real_time_factor>1.0</real_time_factor></physics>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors"><render_engine>ogre2</render_engine></plugin>
    <light type="directional" name="sun">
      <cast_shadows>true</cast_shadows><pose>0 0 10 0 0 0</pose><diffuse>0.9 0.9 0.9 1</diffuse>
      <direction>-0.5 0.1 -0.9</direction>
    </light>
    <model name="ground_plane">
      <static>true</static>
      <link name="link">
        <collision name="c"><geometry><plane><normal>0 0 1</normal><size>100 100</size></plane></geometry></collision>
        <visual name="v"><geometry><plane><normal>0 0 1</normal><size>100 100</size></plane></geometry></visual>
      </link>
    </model>
{_robot_sdf(robot, rate)}
{actors}
  </world>
</sdf>
"""


def write_motion_bvh(motion: Motion, path: Path, seconds: float = 4.0, fps: float = 30.0,
                     speed: float = 1.3) -> Path:
    """``motion`` (walked at ``speed`` m/s when it uses the distance) as a BVH on the canonical skeleton (cm, y up)."""
    from training.data.bvh import write_bvh
    import roma
    import torch
    n = int(round(seconds * fps))
    rots = np.stack([motion.pose(i / fps, speed * i / fps) for i in range(n)])           # (n, 24, 3, 3)
    eul = roma.rotmat_to_euler("ZYX", torch.as_tensor(rots), degrees=True).numpy()      # intrinsic Z, Y, X
    root = np.zeros((n, 3))
    root[:, 1] = 95.0
    return write_bvh(path, list(JOINT_NAMES), list(PARENTS), rest_offsets() * 100.0, root, eul, 1.0 / fps,
                     order="ZYX")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.gazebo_export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gazebo"))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=15.0, help="camera update rate (Hz)")
    ap.add_argument("--no-bvh", action="store_true")
    a = ap.parse_args(argv)
    try:
        scs = [make_scenario(n, a.seed) for n in a.scenarios.split(",") if n]
    except KeyError as e:
        print(f"[gazebo_export] ERROR: {e.args[0]}", file=sys.stderr)
        return 2
    (a.out / "worlds").mkdir(parents=True, exist_ok=True)
    for sc in scs:
        p = a.out / "worlds" / f"{sc.name}.sdf"
        p.write_text(world_sdf(sc, a.rate))
        print(f"wrote {p}")
    if not a.no_bvh:
        (a.out / "motions").mkdir(parents=True, exist_ok=True)
        for name, m in PROCEDURAL.items():
            p = write_motion_bvh(m, a.out / "motions" / f"{name}.bvh")
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
