#!/usr/bin/env bash
# Person-detector models for the `blazepose` backend (issue 14), fetched once at set-up, never at run time:
#   the BlazePose person detector + full landmark model (Apache-2.0) are taken out of the mediapipe 0.10.14
#   wheel (`pip download --no-deps` + unzip: mediapipe itself is never installed into the venv) into
#   models/detectors/ (git-ignored), and the LiteRT runtime that runs them is installed (requirements/runtime.txt).
# Idempotent: skipped when the stamp matches. Without PyPI it says so and leaves the `hog` fallback in place.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
DEST=${DETECTOR_MODELS:-$ROOT/models/detectors}
MP_VERSION=0.10.14
FILES="mediapipe/modules/pose_detection/pose_detection.tflite mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
STAMP="$DEST/.stamp"
WANT="mediapipe==$MP_VERSION $FILES"
cd "$ROOT"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -s "$DEST/pose_detection.tflite" ] && [ -s "$DEST/pose_landmark_full.tflite" ]; then
  exit 0
fi
echo "[setup_detector] fetching the BlazePose models from the mediapipe==$MP_VERSION wheel into $DEST"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if ! "$VENV/bin/pip" download --disable-pip-version-check -q --no-deps --only-binary=:all: \
      "mediapipe==$MP_VERSION" -d "$TMP" > "$TMP/pip.log" 2>&1; then
  grep -v "^WARNING: Location" "$TMP/pip.log" | tail -5 >&2 || true
  echo "[setup_detector] WARNING: could not download mediapipe==$MP_VERSION from PyPI (unreachable?)." \
       "The 'blazepose' detector is unavailable; perception falls back to the built-in 'hog' detector." >&2
  exit 0
fi
WHEEL=$(ls "$TMP"/mediapipe-*.whl)
mkdir -p "$DEST"
for f in $FILES; do
  unzip -o -q -j "$WHEEL" "$f" -d "$DEST"
done
unzip -p "$WHEEL" 'mediapipe-*.dist-info/LICENSE' > "$DEST/LICENSE.mediapipe" 2>/dev/null || true
echo "$WANT" > "$STAMP"
echo "[setup_detector] ok: $(cd "$DEST" && ls *.tflite | tr '\n' ' ')"
