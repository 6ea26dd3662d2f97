#!/usr/bin/env bash
# Simulation extra (issue 13): launch + launch_ros (pure Python, from the vendored ROS 2 sources) and
# composition_interfaces (rosidl, imported by launch_ros.actions) into the venv, so the Gazebo package's launch
# file can be built with the real launch API in tests. Recipe: ../shared/notes/ros2-launch-hri.md.
# Idempotent (stamp). Without the sources it says so and exits 0: the launch test then uses stand-ins.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
SRC=${ROS2_EXTRA_SRC:-}
for c in "$SRC" "${POSE_SHARED_DATA:+$POSE_SHARED_DATA/../vendor/ros2-src}" "$ROOT/../shared/vendor/ros2-src" /work/shared/vendor/ros2-src; do
  if [ -n "$c" ] && [ -d "$c/launch/launch" ] && [ -d "$c/launch_ros/launch_ros" ] \
     && [ -d "$c/rcl_interfaces/composition_interfaces" ]; then SRC=$(readlink -f "$c"); break; fi
done
STAMP="$VENV/.stamp-sim"
if [ -z "$SRC" ] || [ ! -d "$SRC/launch/launch" ]; then
  echo "[setup_sim] launch/launch_ros sources not found (ROS2_EXTRA_SRC or ../shared/vendor/ros2-src):" \
       "the Gazebo launch test uses stand-ins" >&2
  exit 0
fi
WANT="launch+launch_ros+composition_interfaces $(cat "$ROOT/requirements/sim.txt" "$SRC/launch/launch/package.xml" \
  "$SRC/launch_ros/launch_ros/package.xml" "$SRC/rcl_interfaces/composition_interfaces/package.xml" | sha256sum | cut -c1-16)"
check() { AMENT_PREFIX_PATH=$VENV "$VENV/bin/python" -c 'import launch.actions, launch_ros.actions' 2>/dev/null; }
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && (cd /tmp && check); then
  exit 0
fi
echo "[setup_sim] installing launch + launch_ros from $SRC into the venv"
"$VENV/bin/pip" install --disable-pip-version-check -q -r "$ROOT/requirements/sim.txt" 2>&1 | grep -v "^WARNING: Location" || true
if ! (cd /tmp && "$VENV/bin/python" -c 'import composition_interfaces.srv' 2>/dev/null); then
  B=$(mktemp -d)
  AMENT_PREFIX_PATH=$VENV cmake -S "$SRC/rcl_interfaces/composition_interfaces" -B "$B" -DCMAKE_PREFIX_PATH="$VENV" \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_TESTING=OFF > "$B/configure.log" 2>&1 || { tail -40 "$B/configure.log" >&2; exit 1; }
  AMENT_PREFIX_PATH=$VENV cmake --build "$B" -j2 --target install > "$B/build.log" 2>&1 \
    || { grep -m10 -A8 -iE 'error' "$B/build.log" >&2; exit 1; }
  rm -rf "$B"
fi
# --no-deps: launch's other dependencies (PyYAML, lark via lark-parser) are already in the venv.
"$VENV/bin/pip" install --disable-pip-version-check -q --no-deps "$SRC/launch/launch" "$SRC/launch_ros/launch_ros" \
  2>&1 | grep -v "^WARNING: Location" || true
(cd /tmp && check) || { echo "[setup_sim] ERROR: launch / launch_ros do not import" >&2; exit 1; }
echo "$WANT" > "$STAMP"
echo "[setup_sim] launch + launch_ros ready"
