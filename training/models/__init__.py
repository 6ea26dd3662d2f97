"""Network definitions: per-frame image regressor (SPIN-style) and temporal PoseBERT."""
from training.models.posebert import PoseBERT  # noqa: F401
from training.models.spin import PerFrameRegressor, mean_pose6d  # noqa: F401
