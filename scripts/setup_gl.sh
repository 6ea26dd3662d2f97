#!/usr/bin/env bash
# Offscreen OpenGL for the renderer (training/render): EGL + Mesa libraries from apt (moderngl comes
# from requirements/training.txt), then the demo scene pre-rendered into .cache/demo_scene.
# Idempotent: skipped when the stamp (packages + renderer code) matches and the clip exists. As root, installs the
# missing apt packages; otherwise prints the exact command to run and carries on (the runtime never
# needs GL: only the renderer and the demo-scene pre-render do).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PKGS="libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0"
STAMP="$VENV/.stamp-gl"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "[setup_gl] installing:$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null; }
  else
    echo "[setup_gl] WARNING: OpenGL libraries missing:$missing" >&2
    echo "[setup_gl] run: sudo apt-get install -y$missing" >&2
    exit 0
  fi
fi
# The demo clip (camera node's synthetic source) is re-rendered when the renderer code changes.
HASH=$( (echo "$PKGS"; cat "$ROOT"/training/render/*.py "$ROOT"/pose_estimation_ros/synthetic_scene.py) | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && [ -f "$ROOT/.cache/demo_scene/meta.json" ]; then
  exit 0
fi
if ! "$VENV/bin/python" -c "from training.render.gl import create_context, gl_info; print('[setup_gl] GL_RENDERER:', gl_info(create_context()).renderer)"; then
  echo "[setup_gl] WARNING: no OpenGL context (see the message above); the renderer will not run" >&2
  exit 0
fi
echo "[setup_gl] rendering the demo scene into .cache/demo_scene (about a minute)"
rm -rf "$ROOT/.cache/demo_scene.tmp"
if (cd "$ROOT" && LP_NUM_THREADS=2 "$VENV/bin/python" -m training.render.demo_scene --out .cache/demo_scene.tmp 2>&1 \
      | tr '\r' '\n' | grep -v -E "^demo scene:|Warp|CUDA|Devices|\"cpu\"|Kernel cache|/.cache/warp|^Module anny|^ *$" || true) \
   && [ -f "$ROOT/.cache/demo_scene.tmp/meta.json" ]; then
  rm -rf "$ROOT/.cache/demo_scene" && mv "$ROOT/.cache/demo_scene.tmp" "$ROOT/.cache/demo_scene"
  echo "$HASH" > "$STAMP"
else
  echo "[setup_gl] WARNING: the demo scene was not rendered; the camera draws the OpenCV person" >&2
fi
