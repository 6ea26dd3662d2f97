"""Where the detector model files live: ``$POSE_DETECTOR_MODELS``, else ``models/detectors/`` of the checkout."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "POSE_DETECTOR_MODELS"


def detector_model_dir() -> Path:
    """Folder holding extracted detector models (``scripts/setup_detector.sh`` fills it)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[3] / "models" / "detectors"
    if here.is_dir():
        return here
    try:  # installed through colcon: share/pose_estimation_ros/models/detectors
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory("pose_estimation_ros")) / "models" / "detectors"
    except Exception:  # ament index absent or package not installed through colcon
        return here
