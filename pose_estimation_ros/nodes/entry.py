"""The one ``main`` every node uses: init, construct (a configuration error exits 2 with its message),
spin until Ctrl-C / shutdown, clean up."""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(factory: Callable[[], Node], label: str, fatal: tuple[type[BaseException], ...],
             args: list[str] | None = None) -> int:
    """Run the node built by ``factory``; exceptions in ``fatal`` raised while building it exit with 2."""
    rclpy.init(args=args)
    try:
        node = factory()
    except fatal as e:
        print(f"[{label}] ERROR: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
