#!/usr/bin/env bash
# PoseBERT on the real per-frame model's output (README "On the real per-frame model's output"): 4 rendered clips of
# 64 frames of each held-out subject (12, 14: Daz rig; 01: CC rig) through a per-frame ONNX, their estimates
# concatenated, then both PoseBERT models streamed over them.
# Usage: scripts/posebert_on_per_frame_output.sh [PER_FRAME_ONNX] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=".venv/bin/python"
M=${1:-models/mocap_spin.onnx}
O=${2:-runs/noise4}
mkdir -p "$O"
for S in 12 01 14; do
    $PY -m training.spin.evaluate --model "$M" --threads 1 --clips 4 --clip-len 64 \
        --set "data.motion_dirs=[runs/mocap/$S]" --video-preds "$O/test_$S.npz" --out "$O/test_$S.json"
done
$PY - "$O" <<'PYEOF'
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1])
parts = [np.load(out / f"test_{s}.npz") for s in ("12", "01", "14")]
np.savez_compressed(out / "test_all.npz", **{k: np.concatenate([p[k] for p in parts]) for k in parts[0].files})
print(f"[posebert_on_per_frame_output] {sum(len(p['valid']) for p in parts)} frames -> {out / 'test_all.npz'}")
PYEOF
$PY -m training.posebert.evaluate --per-frame-preds "$O/test_all.npz" --out "$O/posebert.md" --json "$O/posebert.json"
