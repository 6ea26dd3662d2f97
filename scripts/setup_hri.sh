#!/usr/bin/env bash
# REP-155 (ROS4HRI) output of the perception node, optional (issue 14): builds hri_msgs (humble-devel 2.0.0)
# and tf2_msgs (for the body_<id> frames on /tf) with rosidl into the venv from the shared source trees
# (../shared/vendor/ros2-src, see ../shared/notes/ros2-launch-hri.md). No wheels exist for either.
# Idempotent: skipped when the stamp matches and both import. Without the sources it says so and exits 0:
# the node then publishes no REP-155 topics and its tests skip with that reason.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
SRC=${ROS2_EXTRA_SRC:-}
for c in "$SRC" "${POSE_SHARED_DATA:+$POSE_SHARED_DATA/../vendor/ros2-src}" "$ROOT/../shared/vendor/ros2-src" /work/shared/vendor/ros2-src; do
  if [ -n "$c" ] && [ -d "$c/hri_msgs" ] && [ -d "$c/geometry2/tf2_msgs" ]; then SRC=$(readlink -f "$c"); break; fi
done
STAMP="$VENV/.stamp-hri"
if [ -z "$SRC" ] || [ ! -d "$SRC/hri_msgs" ] || [ ! -d "$SRC/geometry2/tf2_msgs" ]; then
  if "$VENV/bin/python" -c 'import hri_msgs.msg, tf2_msgs.msg' 2>/dev/null; then exit 0; fi
  echo "[setup_hri] hri_msgs / tf2_msgs sources not found (ROS2_EXTRA_SRC or ../shared/vendor/ros2-src):" \
       "no REP-155 output, its tests skip" >&2
  exit 0
fi
WANT="hri_msgs+tf2_msgs $(cat "$SRC/hri_msgs/package.xml" "$SRC/geometry2/tf2_msgs/package.xml" | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && "$VENV/bin/python" -c 'import hri_msgs.msg, tf2_msgs.msg' 2>/dev/null; then
  exit 0
fi
cmake_install() {  # cmake_install SRC_DIR: configure + build + install one rosidl package into the venv
  local b; b=$(mktemp -d)
  AMENT_PREFIX_PATH=$VENV cmake -S "$1" -B "$b" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF > "$b/configure.log" 2>&1 \
    || { tail -40 "$b/configure.log" >&2; exit 1; }
  AMENT_PREFIX_PATH=$VENV cmake --build "$b" -j2 --target install > "$b/build.log" 2>&1 \
    || { grep -m10 -A8 -iE 'error' "$b/build.log" >&2; exit 1; }
  rm -rf "$b"
}
echo "[setup_hri] building hri_msgs and tf2_msgs (rosidl) into $VENV from $SRC (about a minute)"
"$VENV/bin/python" -c 'import tf2_msgs.msg' 2>/dev/null || cmake_install "$SRC/geometry2/tf2_msgs"
"$VENV/bin/python" -c 'import hri_msgs.msg' 2>/dev/null || cmake_install "$SRC/hri_msgs"
"$VENV/bin/python" -c 'from hri_msgs.msg import IdsList, Skeleton2D, NormalizedRegionOfInterest2D; from tf2_msgs.msg import TFMessage'
echo "$WANT" > "$STAMP"
echo "[setup_hri] hri_msgs + tf2_msgs installed"
