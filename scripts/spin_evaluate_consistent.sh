#!/usr/bin/env bash
# Export a MoCap-SPIN checkpoint to a folder of its own and score it as the README tables do (held-out renders with and
# without keypoints, stand-in renders, video + PoseBERT, the demo), before it replaces the default.
# Usage: scripts/spin_evaluate_consistent.sh CKPT OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PY=".venv/bin/python"
CKPT=$1
O=$2
mkdir -p "$O/models"
cp models/posebert.onnx models/posebert.json "$O/models/"
$PY -m training.export --out "$O/models" --per-frame-ckpt "$CKPT" --fp16 --per-frame-only
M="$O/models/mocap_spin.onnx"
$PY -m training.spin.evaluate --model "$M" --threads 1 \
    --shards render-test=runs/spin/shards/test standin-test=runs/spin/shards_standin/test --keypoint-fit --out "$O/eval.json"
$PY -m training.spin.evaluate --model "$M" --threads 1 --no-keypoints --shards render-test=runs/spin/shards/test \
    --out "$O/eval_nokp.json"
$PY -m training.spin.evaluate --model "$M" --threads 1 --posebert models/posebert.onnx \
    --set 'data.motion_dirs=[runs/mocap/12]' --clips 4 --clip-len 48 --out "$O/video.json"
scripts/netns_run.sh $PY -m pose_estimation_ros.runner demo --duration 20 \
    --set "perception.per_frame_model=$PWD/$M" 2>&1 | tee "$O/demo.txt" | grep -i "mpjpe\|poses\|people\|root position" || true
echo done
