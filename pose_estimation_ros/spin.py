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
