"""Rotation-representation helpers (torch-first, built on roma)."""
from training.geometry.rotations import (  # noqa: F401
    axis_angle_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
    rot6d_to_rotmat,
    rotation_about_axis,
)
