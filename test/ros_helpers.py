"""Helpers for tests that run real rclpy nodes: a listener node that records messages with arrival times."""
from __future__ import annotations

import time
from collections import defaultdict

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from pose_estimation_ros.spin import spin_until


class Recorder:
    """Subscribes to topics and keeps (arrival monotonic time, message) per topic."""

    def __init__(self, name: str = "test_recorder") -> None:
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self.msgs: dict[str, list] = defaultdict(list)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)

    def subscribe(self, msg_type, topic: str, qos=10) -> None:
        self.node.create_subscription(msg_type, topic, lambda m, t=topic: self.msgs[t].append((time.monotonic(), m)),
                                      qos)

    def spin_until(self, predicate, timeout: float) -> bool:
        return spin_until(self.executor, predicate, timeout, step=0.05)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()

