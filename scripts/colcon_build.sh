#!/usr/bin/env bash
# Build this repository with colcon exactly as a robot's workspace would (ament_python package at the
# root + the ament_cmake message package in msg/), on top of the venv's ROS 2 wheels.
#   scripts/colcon_build.sh VENV WORKSPACE_DIR      -> WORKSPACE_DIR/{build,install,log}
# Then: source WORKSPACE_DIR/install/setup.bash; WORKSPACE_DIR/install/pose_estimation_ros/lib/pose_estimation_ros/<node>
set -euo pipefail
V=$(readlink -f "$1"); WS=$(readlink -m "$2"); REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WS"
source "$V/bin/activate"
export AMENT_PREFIX_PATH=$V CMAKE_PREFIX_PATH=$V
cd "$WS"
colcon --log-base "$WS/log" build --base-paths "$REPO" "$REPO/msg" --build-base "$WS/build" \
  --install-base "$WS/install" --event-handlers console_cohesion- summary+ \
  --cmake-args -DPython3_EXECUTABLE="$V/bin/python" -DBUILD_TESTING=OFF
