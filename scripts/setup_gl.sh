#!/usr/bin/env bash
# Offscreen OpenGL for the renderer (training/render): EGL + Mesa libraries from apt, moderngl from pip.
# Idempotent: skipped when the stamp matches and the libraries are present. As root, installs the
# missing apt packages; otherwise prints the exact command to run and carries on (the runtime never
# needs GL: only the renderer and the demo-scene pre-render do).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PKGS="libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0"
STAMP="$VENV/.stamp-gl"
HASH=$(echo "$PKGS" | sha256sum | cut -c1-16)

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
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  exit 0
fi
if "$VENV/bin/python" -c "from training.render.gl import create_context, gl_info; print('[setup_gl] GL_RENDERER:', gl_info(create_context()).renderer)"; then
  echo "$HASH" > "$STAMP"
else
  echo "[setup_gl] WARNING: no OpenGL context (see the message above); the renderer will not run" >&2
fi
