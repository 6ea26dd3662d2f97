"""Pick a body model by name: ``make_body_model("skeleton" | "anny" | "smpl", **kw)``.

=========  ==========================================  ==================================================
name       class                                       keyword arguments
=========  ==========================================  ==================================================
skeleton   :class:`~training.body.base.SkeletonBody`   ``num_shape`` (10)
anny       :class:`~training.body.anny_body.AnnyBody`  ``centered``, ``aligned_joints``, ``dtype``,
                                                       ``anny_model`` + ``anny.Anny`` kwargs
smpl       :class:`~training.body.smpl_body.SMPLBody`  ``model_path`` (or ``$SMPL_MODEL_PATH``),
                                                       ``gender``, ``num_betas``, ``dtype``
=========  ==========================================  ==================================================

``anny`` is the default (offline, permissively licensed); ``smpl`` needs the user's own SMPL file.
Backends are imported lazily, so ``skeleton`` works without anny / smplx installed.
"""
from __future__ import annotations

import inspect

from training.body.base import BodyModel, SkeletonBody

__all__ = ["BODY_MODELS", "DEFAULT_BODY_MODEL", "make_body_model"]

BODY_MODELS: tuple[str, ...] = ("skeleton", "anny", "smpl")
DEFAULT_BODY_MODEL = "anny"


def make_body_model(name: str = DEFAULT_BODY_MODEL, **kw) -> BodyModel:
    """Construct the body model ``name`` with backend keyword arguments ``kw``.

    Raises:
        ValueError: unknown name, unknown keyword, or SMPL without a model path.
        FileNotFoundError: the SMPL model file does not exist.
        ImportError: the backend's package (anny / smplx) is not installed.
    """
    key = name.lower()
    if key == "skeleton":
        cls = SkeletonBody
    elif key == "anny":
        from training.body.anny_body import AnnyBody as cls
    elif key == "smpl":
        from training.body.smpl_body import SMPLBody as cls
    else:
        raise ValueError(f"unknown body model {name!r}; expected one of {BODY_MODELS}")
    try:
        inspect.signature(cls).bind(**kw)
    except TypeError as e:
        raise ValueError(f"bad arguments for body model {name!r}: {e}") from e
    return cls(**kw)
