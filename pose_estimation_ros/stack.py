"""The node set, described once: used by ``launch/pose_estimation.launch.py`` on a robot and by the
project's own runner (``pose_stack``) where ``launch``/``ros2`` are not installed."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE = "pose_estimation_ros"


@dataclass(frozen=True)
class NodeSpec:
    """One node of the stack."""

    name: str                                    # node name (also the YAML section it reads)
    executable: str                              # console entry point (ros2 run PACKAGE executable)
    module: str                                  # python -m module (runner)
    params_file: str                             # file in config/
    remappings: tuple[tuple[str, str], ...] = ()
    # Scheduling priority as a nice increment (negative = ahead of the others) where the runner may set it
    # (root, or CAP_SYS_NICE); ignored elsewhere. The safety controller runs ahead of perception, so a CPU
    # saturated by perception does not delay its watchdog and stop commands.
    nice: int = 0


STACK: tuple[NodeSpec, ...] = (
    NodeSpec("camera", "camera_node", f"{PACKAGE}.nodes.camera_node", "camera.yaml"),
    NodeSpec("perception", "perception_node", f"{PACKAGE}.nodes.perception_node", "perception.yaml",
             (("image", "image_raw"),)),
    NodeSpec("controller", "controller_node", f"{PACKAGE}.nodes.controller_node", "controller.yaml", nice=-5),
)


def config_dir() -> Path:
    """config/ of a source checkout, else the installed share/pose_estimation_ros/config."""
    here = Path(__file__).resolve().parent.parent / "config"
    if here.is_dir():
        return here
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory(PACKAGE)) / "config"


def resolve_zones_file(name: str) -> Path:
    """The controller's ``zones_file``: absolute (``~`` expanded), or relative to the package's config/."""
    p = Path(name).expanduser()
    return p if p.is_absolute() else config_dir() / p


def node_by_name(name: str) -> NodeSpec:
    for spec in STACK:
        if spec.name == name:
            return spec
    raise KeyError(f"no node '{name}' in the stack (nodes: {', '.join(s.name for s in STACK)})")
