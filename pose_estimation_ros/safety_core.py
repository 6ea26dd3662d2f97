"""Compatibility re-export of the ROS-free safety core, now the :mod:`pose_estimation_ros.safety` package.

This is not a certified safety function; it must sit behind a rated one (see docs/safety.md).
"""
from .safety import *  # noqa: F401,F403
from .safety import __all__  # noqa: F401
