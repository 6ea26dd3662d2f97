"""nodes.entry: a callback error never kills a node, and a callback racing the shutdown ends it cleanly."""
import rclpy
from rclpy.node import Node
from std_msgs.msg import Empty

from pose_estimation_ros.nodes.entry import spin_guarded, undeclared_overrides


class Flaky(Node):
    """A timer that raises on its first two ticks, then shuts its own context down and publishes on it (the
    camera's "publisher's context is invalid" race, made deterministic)."""

    def __init__(self, context) -> None:
        super().__init__("flaky", context=context)
        self.ticks, self.errors = 0, []
        self.pub = self.create_publisher(Empty, "flaky_out", 1)
        self.create_timer(0.01, self.tick)

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks <= 2:
            raise ValueError(f"bad message {self.ticks}")
        self.context.shutdown()
        self.pub.publish(Empty())      # raises: the context is gone

    def on_callback_error(self, exc) -> None:
        self.errors.append(str(exc))


def test_callback_errors_are_reported_and_a_shutdown_race_ends_cleanly():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = Flaky(ctx)
    try:
        spin_guarded(node)                 # returns (no exception) once the context is shut down
        assert node.errors == ["bad message 1", "bad message 2"]
        assert node.ticks == 3
    finally:
        node.destroy_node()
        ctx.try_shutdown()


def test_undeclared_overrides_name_misspellings():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["--ros-args", "-p", "rate_hzz:=3.0", "-p", "use_sim_time:=false",
                                  "-p", "qos_overrides./x.publisher.depth:=5"])
    node = Node("probe", context=ctx)
    try:
        node.declare_parameter("rate_hz", 1.0)
        assert undeclared_overrides(node) == ["'rate_hzz' (did you mean 'rate_hz'?)"]
    finally:
        node.destroy_node()
        ctx.try_shutdown()


def test_spin_guarded_returns_quietly_when_a_signal_shut_the_context_before_the_executor():
    """SIGTERM between building the node and creating its executor (rclpy's handler shuts the context down): the
    executor cannot be created; the node must end quietly (exit 0), not with an RCLError traceback."""
    import rclpy
    from pose_estimation_ros.nodes.entry import spin_guarded

    import gc
    import sys

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("late_signal", context=ctx)
    ctx.shutdown()
    unraisable, hook = [], sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        spin_guarded(node)       # returns, raises nothing
        gc.collect()             # the half-built executor's finaliser prints nothing either
    finally:
        sys.unraisablehook = hook
    assert not unraisable, [(u.exc_type, u.exc_value) for u in unraisable]
    node.destroy_node()
