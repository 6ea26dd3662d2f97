"""rclpy node shells: parameters, topics and timers around the ROS-free cores.

A node process may be asked to stop while it is still importing (perception's imports take seconds on a
busy machine): until ``nodes.entry.run_node`` hands the signals to rclpy, SIGINT and SIGTERM end the
process quietly with exit 0 instead of a ``KeyboardInterrupt`` traceback in the middle of an import.
"""
import os
import signal
import sys

NODE_EXECUTABLES = ("camera_node", "perception_node", "controller_node")


def _stop_before_start(signum: int, _frame) -> None:
    # os._exit, not SystemExit: raised inside a C extension's import (onnxruntime) the exception would be
    # turned into an ImportError. Nothing has started yet, so there is nothing to clean up.
    os._exit(0)


def _started_as_node() -> bool:
    """True in a node process: ``python -m pose_estimation_ros.nodes.<x>_node`` or an installed entry point."""
    argv = getattr(sys, "orig_argv", sys.argv)
    if len(argv) > 2 and argv[1] == "-m" and argv[2].startswith(__name__ + "."):
        return True
    return os.path.basename(sys.argv[0]) in NODE_EXECUTABLES


if _started_as_node():
    signal.signal(signal.SIGINT, _stop_before_start)
    signal.signal(signal.SIGTERM, _stop_before_start)
