"""Body models mapping (rotations, shape) to joint positions on the canonical skeleton.

``make_body_model("skeleton" | "anny" | "smpl", **kw)`` (:mod:`training.body.registry`); the
Anny and SMPL backends are imported lazily.
"""
from training.body.base import BodyModel, BodyOutput, SkeletonBody, forward_kinematics  # noqa: F401
from training.body.registry import BODY_MODELS, DEFAULT_BODY_MODEL, make_body_model  # noqa: F401
from training.body.skeleton_fk import SkeletonFK  # noqa: F401
