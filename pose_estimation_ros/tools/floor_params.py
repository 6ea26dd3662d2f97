"""Perception's ``floor.*`` parameters from the controller's camera mount, so that the two nodes agree.

    python -m pose_estimation_ros.tools.floor_params [--zones-file zones_mobile_base.yaml] [--floor-z 0.0]
    python -m pose_estimation_ros.tools.floor_params --camera-xyz 0.1 0 1.2 --camera-rpy -1.5708 0 -1.5708

Prints the lines to put under ``perception: ros__parameters:`` (``body_scale: floor`` and the camera's height and
tilt above the floor, ``perception/floor.py``). The mount is the zones file's ``camera_xyz`` / ``camera_rpy``
(camera optical frame in the base frame, the frame whose z axis is up; ``--floor-z``: the floor's z in it, 0 when
base_link is on the floor), or given directly.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..perception.floor import floor_from_mount
from ..safety import camera_to_base, config_from_yaml
from ..stack import config_dir, resolve_zones_file


def controller_mount(cfg_dir: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The camera mount ``(camera_xyz, camera_rpy)`` the controller of ``cfg_dir`` starts with: its
    ``controller.yaml``'s values, else those of the zones file it names (a relative name is in the package's
    config/, as the controller resolves it), else the controller's defaults."""
    from ..safety.config import SafetyConfig, load_yaml

    params = load_yaml(Path(cfg_dir) / "controller.yaml")
    zones: dict = {}
    if params.get("zones_file"):
        zones = load_yaml(resolve_zones_file(str(params["zones_file"])))
    default = SafetyConfig()
    xyz = params.get("camera_xyz", zones.get("camera_xyz", default.camera_xyz))
    rpy = params.get("camera_rpy", zones.get("camera_rpy", default.camera_rpy))
    return tuple(float(v) for v in xyz), tuple(float(v) for v in rpy)


def floor_parameters(cfg_dir: str | Path, floor_z: float = 0.0) -> dict[str, object]:
    """Perception parameters ``body_scale: floor`` + ``floor.*`` for the controller mount of ``cfg_dir``."""
    p = floor_from_mount(camera_to_base(*controller_mount(cfg_dir)), floor_z)
    return {"body_scale": "floor", **{f"floor.{k}": float(v) for k, v in p.items()}}


def params_text(xyz, rpy, floor_z: float = 0.0) -> str:
    """The perception YAML lines of the mount ``xyz`` (m) / ``rpy`` (rad), camera optical frame -> base frame."""
    p = floor_from_mount(camera_to_base(tuple(xyz), tuple(rpy)), floor_z)
    return (f"    body_scale: floor\n"
            f"    floor.camera_height: {round(p['camera_height'], 4) + 0.0:.4f}\n"
            f"    floor.camera_pitch_deg: {round(p['camera_pitch_deg'], 3) + 0.0:.3f}\n"
            f"    floor.camera_roll_deg: {round(p['camera_roll_deg'], 3) + 0.0:.3f}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zones-file", default="zones_mobile_base.yaml",
                    help="controller zones file with camera_xyz / camera_rpy (relative paths: the package's config/)")
    ap.add_argument("--camera-xyz", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"))
    ap.add_argument("--camera-rpy", type=float, nargs=3, default=None, metavar=("ROLL", "PITCH", "YAW"))
    ap.add_argument("--floor-z", type=float, default=0.0, help="the floor's z in the base frame (m)")
    a = ap.parse_args(argv)
    if (a.camera_xyz is None) != (a.camera_rpy is None):
        ap.error("--camera-xyz and --camera-rpy go together")
    if a.camera_xyz is not None:
        xyz, rpy = a.camera_xyz, a.camera_rpy
    else:
        path = Path(a.zones_file)
        cfg = config_from_yaml(path if path.is_absolute() or path.exists() else config_dir() / path)
        xyz, rpy = cfg.camera_xyz, cfg.camera_rpy
    try:
        print(params_text(xyz, rpy, a.floor_z), end="")
    except ValueError as e:
        ap.error(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
