"""Check that a models folder holds loadable default models whose metadata matches the runtime.

    python -m pose_estimation_ros.tools.check_models [MODELS_DIR]

Exit status 0 when ``mocap_spin.onnx``, ``posebert.onnx`` and any ``posebert_lag<k>.onnx`` present load
and pass the metadata checks, 1 otherwise (the reason is printed). The set-up script uses it to decide whether to export.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import skeleton
from ..perception.inference import load_per_frame, load_temporal
from ..perception.metadata import ModelMetadataError
from ..perception.pipeline import default_model_dir


def check(models_dir: Path) -> list[str]:
    """Return one line per model: 'ok ...' or the error."""
    lines, failed = [], False
    lagged = sorted(p.name for p in models_dir.glob("posebert_lag*.onnx"))
    for name, loader in [("mocap_spin.onnx", load_per_frame), ("posebert.onnx", load_temporal)] + [
            (n, load_temporal) for n in lagged]:
        path = models_dir / name
        try:
            m = loader(path, joint_names=skeleton.JOINT_NAMES)
            lines.append(f"ok   {path}  kind={m.meta.kind} trained={m.meta.trained} "
                         f"data='{m.meta.training_data[:100]}'")
        except ModelMetadataError as e:
            failed = True
            lines.append(f"FAIL {e}")
    return lines if not failed else ["FAILED"] + lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    models_dir = Path(argv[0]) if argv else default_model_dir()
    lines = check(models_dir)
    print("\n".join(lines))
    return 1 if lines and lines[0] == "FAILED" else 0


if __name__ == "__main__":
    sys.exit(main())
