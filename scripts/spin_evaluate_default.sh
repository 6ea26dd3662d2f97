#!/usr/bin/env bash
# Export and evaluate the default MoCap-SPIN model after `make train-spin`: the README "MoCap-SPIN" tables, in the order run.
# Needs the shards and runs/mocap (make train-spin) and the stand-in test shards (docs/mocap_spin.md, "Data and splits").
# Today's default was made by 5000 more steps with the extra subjects' renders (training/configs/spin_keypoints.yaml)
# and scored with scripts/spin_evaluate_consistent.sh runs/spin_kp_v3/ckpt_best.pt runs/spin_kp_v3/eval (README "MoCap-SPIN").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=".venv/bin/python"
O=runs/spin/final_kp
$PY -m training.export --out models --per-frame-ckpt runs/spin_keypoints/ckpt_best.pt --fp16 --per-frame-only
$PY -c "from training.spin.checkpoint import slim_checkpoint as s; s('runs/spin_keypoints/ckpt_last.pt', 'models/mocap_spin_resume.pt')"
$PY -m training.spin.evaluate --model models/mocap_spin.onnx --threads 1 \
    --shards render-test=runs/spin/shards/test standin-test=runs/spin/shards_standin/test --out $O/eval.json
$PY -m training.spin.evaluate --model models/mocap_spin.onnx --threads 1 --no-keypoints \
    --shards render-test=runs/spin/shards/test --out $O/eval_nokp.json
$PY -m training.spin.evaluate --model models/mocap_spin.onnx --threads 1 \
    --shards render-test=runs/spin/shards/test --shift site_camera --out $O/shift.json
$PY -m training.spin.adapt --ckpt runs/spin_keypoints/ckpt_best.pt --shards runs/spin/shards/train --max-frames 256 \
    --shift site_camera --out $O/site_adapted --threads 1
$PY -m training.spin.evaluate --model $O/site_adapted/mocap_spin.onnx --threads 1 \
    --shards render-test=runs/spin/shards/test --shift site_camera --out $O/shift_adapted.json
$PY -m training.spin.evaluate --model $O/site_adapted/mocap_spin.onnx --threads 1 \
    --shards render-test=runs/spin/shards/test --out $O/adapted_orig.json
$PY -m training.spin.evaluate --model models/mocap_spin.onnx --threads 1 --posebert models/posebert.onnx \
    --set 'data.motion_dirs=[runs/mocap/12]' --clips 4 --clip-len 48 --out $O/video.json
echo done
