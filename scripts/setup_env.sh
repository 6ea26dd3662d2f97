#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment from nothing:
#   pinned ROS 2 Kilted wheels (fastrtps), the inference stack, the training extra (torch),
#   the rosidl message package built into the venv prefix, this package (editable),
#   and the default (untrained, seeded) ONNX models in models/ when they are missing.
# Idempotent: each step is skipped when its stamp matches its inputs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
cd "$ROOT"

stamp_ok() {  # stamp_ok NAME HASH
  [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]
}
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating venv $VENV"
  "$PY" -m venv "$VENV"
fi

REQ_HASH=$(hash_of requirements/*.txt)
if ! stamp_ok reqs "$REQ_HASH"; then
  echo "[setup] installing pinned requirements (torch comes from local disk; this takes a few minutes the first time)"
  "$VENV/bin/pip" install --disable-pip-version-check -q \
    -r requirements/runtime.txt -r requirements/build.txt -r requirements/test.txt -r requirements/training.txt \
    2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import rclpy, onnxruntime, cv2, torch" \
    || { echo "[setup] ERROR: requirements did not install" >&2; exit 1; }
  # The *_msgs wheels export CMake targets with the wheel builder's Python paths: point them at ours.
  PYINC=$("$VENV/bin/python" -c 'import sysconfig;print(sysconfig.get_paths()["include"])')
  NPINC=$("$VENV/bin/python" -c 'import numpy;print(numpy.get_include())')
  { grep -rl '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' || true; } | xargs -r sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"
  echo "$REQ_HASH" > "$VENV/.stamp-reqs"
  rm -f "$VENV/.stamp-msgs"
fi

MSG_HASH=$(hash_of msg/package.xml msg/CMakeLists.txt msg/msg/*.msg)
if ! stamp_ok msgs "$MSG_HASH"; then
  echo "[setup] building pose_estimation_msgs (rosidl) into the venv"
  B=$(mktemp -d)
  AMENT_PREFIX_PATH=$VENV cmake -S msg -B "$B" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF > "$B/configure.log" 2>&1 \
    || { cat "$B/configure.log" >&2; exit 1; }
  AMENT_PREFIX_PATH=$VENV cmake --build "$B" -j2 --target install > "$B/build.log" 2>&1 \
    || { tail -50 "$B/build.log" >&2; exit 1; }
  rm -rf "$B"
  "$VENV/bin/python" -c "from pose_estimation_msgs.msg import HumanPose3DArray" \
    || { echo "[setup] ERROR: message package does not import" >&2; exit 1; }
  echo "$MSG_HASH" > "$VENV/.stamp-msgs"
fi

PKG_HASH=$(hash_of setup.py setup.cfg package.xml)
if ! stamp_ok pkg "$PKG_HASH"; then
  echo "[setup] installing pose_estimation_ros (editable)"
  "$VENV/bin/pip" install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING: Location" || true
  echo "$PKG_HASH" > "$VENV/.stamp-pkg"
fi

if ! "$VENV/bin/python" -m pose_estimation_ros.tools.check_models models >/dev/null 2>&1; then
  echo "[setup] exporting the missing default models into models/ (committed trained models are kept;" \
       "a model without trained weights is exported seeded and marked untrained)"
  "$VENV/bin/python" -m training.export --out models --missing-only
fi
VENV=$VENV "$ROOT/scripts/setup_detector.sh"  # BlazePose person-detector models (issue 14)
VENV="$VENV" "$ROOT/scripts/setup_gl.sh" || echo "[setup] WARNING: GL set-up failed (renderer only)" >&2
VENV="$VENV" "$ROOT/scripts/setup_hri.sh"  # hri_msgs + tf2_msgs for the REP-155 output (issue 14, optional)
VENV="$VENV" "$ROOT/scripts/setup_sim.sh"  # launch + launch_ros for the Gazebo launch check (issue 13, optional)
echo "[setup] ready: $VENV"
