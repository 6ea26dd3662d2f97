"""Body models mapping (rotations, shape) to joint positions on the canonical skeleton."""
from training.body.skeleton_fk import SkeletonFK  # noqa: F401
