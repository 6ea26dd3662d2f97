"""Spinning an rclpy executor until a condition holds (tools, benchmarks and tests that drive nodes)."""
from __future__ import annotations

import time
from typing import Callable


def spin_until(executor, predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    """Run ``executor.spin_once(step)`` until ``predicate()`` is true or ``timeout`` seconds pass.

    Returns:
        True when the predicate held before the timeout.
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=step)
        if predicate():
            return True
    return False


class PrivateNode:
    """An rclpy node on a context of its own, with its own executor (tools and tests that drive the real
    nodes from this process): closing it never shuts down another one's rclpy, or the caller's.

    Subclasses add publishers and subscriptions on ``self.node``.
    """

    def __init__(self, name: str, namespace: str = "") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        return spin_until(self.executor, predicate, timeout, step=0.01)

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
