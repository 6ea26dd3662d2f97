"""Declaring ROS parameters with descriptions and ranges in one line each (rclpy glue)."""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def declare(node, name: str, default, description: str, *, lo=None, hi=None, read_only: bool = False,
            choices: tuple[str, ...] | None = None):
    """Declare ``name`` on ``node`` with a descriptor; returns the parameter's value.

    ``lo``/``hi`` set an integer or floating-point range (inclusive) that rclpy enforces on set;
    ``choices`` is documented in the description (validated by the node's own callback).
    """
    desc = description + (f" One of: {', '.join(choices)}." if choices else "")
    d = ParameterDescriptor(description=desc, read_only=read_only)
    if lo is not None and hi is not None:
        if isinstance(default, bool):
            pass
        elif isinstance(default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif isinstance(default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return node.declare_parameter(name, default, d).value
