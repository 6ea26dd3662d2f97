"""The one ``main`` every node uses: init, construct, check the configuration, spin until Ctrl-C /
SIGTERM / shutdown, clean up.

Exit codes: 0 after a clean stop (SIGINT, SIGTERM, or the node finishing its work, e.g. the end of a
non-looping video), 2 for a configuration error (one line on stderr naming it: a bad value, a wrong type,
an unreadable or malformed parameter file, a parameter the node does not have), 1 for anything else.

A node never dies on one bad message: an exception escaping a callback is logged and handed to the
node's ``on_callback_error(exc)`` hook (the controller commands zero speed there), and spinning goes on.
"""
from __future__ import annotations

import difflib
import faulthandler
import os
import signal
import sys
import threading
import traceback
from typing import Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

try:
    from rclpy._rclpy_pybind11 import RCLError
except ImportError:     # pragma: no cover - depends on the rclpy build
    RCLError = RuntimeError

# Parameters every rclpy node accepts without declaring them itself.
BUILTIN_PARAMETERS = ("use_sim_time", "start_type_description_service")
BUILTIN_PREFIXES = ("qos_overrides.",)
# Configuration errors rclpy raises while a node declares its parameters.
CONFIG_ERRORS: tuple[type[BaseException], ...] = (ParameterException,)


# Seconds the clean-up after spinning (destroying the node's entities, shutting rclpy down) may take before
# the node prints its threads' stacks and exits anyway: below the runner's 5 s before SIGKILL.
CLEANUP_LIMIT_S = 4.0


class NodeFinished(Exception):
    """Raised by a node (from a callback) when its work is done; ``run_node`` then exits with 0."""


def undeclared_overrides(node: Node) -> list[str]:
    """Parameters given to ``node`` (parameter files, ``-p``) that it never declared: misspellings, or
    values for another node. Returns the names, each with a suggestion when one is close."""
    declared = set(node._parameters)   # noqa: SLF001 - rclpy keeps no public list of overrides
    out = []
    for name in sorted(node._parameter_overrides):   # noqa: SLF001
        if name in declared or name in BUILTIN_PARAMETERS or name.startswith(BUILTIN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        out.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return out


def _config_error(label: str, message: str) -> int:
    print(f"[{label}] ERROR: {message}", file=sys.stderr)
    rclpy.try_shutdown()
    return 2


def _report_callback_error(node: Node, exc: BaseException, seen: set[str]) -> None:
    """Log an exception that escaped a callback (full traceback the first time per origin) and call the
    node's ``on_callback_error`` hook."""
    tb = traceback.extract_tb(exc.__traceback__)
    origin = f"{type(exc).__name__} at {tb[-1].filename}:{tb[-1].lineno}" if tb else type(exc).__name__
    detail = "" if origin in seen else "\n" + "".join(traceback.format_exception(exc))
    seen.add(origin)
    node.get_logger().error(f"callback failed, node keeps running: {exc!r} ({origin}){detail}")
    hook = getattr(node, "on_callback_error", None)
    if hook is not None:
        try:
            hook(exc)
        except Exception as e:  # noqa: BLE001 - the hook must never take the node down either
            node.get_logger().error(f"on_callback_error failed too: {e!r}")


class SigintHandler:
    """Python's SIGINT handler while rclpy runs (rclpy's own handler shuts the context down, then calls this).

    The first SIGINT raises nothing: the spin loop sees the context shut down at its next turn and the node
    cleans up. A ``KeyboardInterrupt`` raised at an arbitrary point (inside a callback, or the executor's
    bookkeeping between taking a message and running it) could leave a lock or an entity handle held and the
    clean-up waiting on it. A second SIGINT forces a ``KeyboardInterrupt``. A SIGINT that arrives before rclpy
    is initialised ends the process at once (nothing has started).
    """

    def __init__(self) -> None:
        self.count = 0
        self.rclpy_ready = False

    def __call__(self, signum: int, _frame) -> None:
        self.count += 1
        if not self.rclpy_ready:
            os._exit(0)
        if self.count > 1:
            raise KeyboardInterrupt


def _cleanup_watchdog(label: str, limit: float = CLEANUP_LIMIT_S) -> threading.Timer:
    """A started daemon timer: if the clean-up is still running after ``limit`` s, print every thread's stack
    to stderr (where it hangs) and end the process with 0 (the node's work had stopped); cancel it when done."""
    def fire() -> None:
        print(f"[{label}] warning: clean-up still running after {limit:g} s; exiting without it "
              "(thread stacks follow)", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(0)
    t = threading.Timer(limit, fire)
    t.daemon = True
    t.start()
    return t


def spin_guarded(node: Node) -> None:
    """Spin ``node`` until shutdown; exceptions from callbacks are reported, not fatal.

    Raises:
        NodeFinished: the node said its work is done.
    """
    # rclpy's Executor.__del__ reads ``_sigint_gc``, which its __init__ sets last: when __init__ fails (the context
    # was shut down by a signal while the node was still starting), the half-built executor's finaliser printed an
    # "Exception ignored ... AttributeError: _sigint_gc" traceback on a clean stop. Set it before __init__ runs.
    executor = SingleThreadedExecutor.__new__(SingleThreadedExecutor)
    executor._sigint_gc = None   # noqa: SLF001 - see above
    try:
        executor.__init__(context=node.context)
    except RCLError:
        if not node.context.ok():       # SIGINT/SIGTERM shut the context down between the node and its executor
            return
        raise
    executor.add_node(node)
    seen: set[str] = set()
    try:
        while node.context.ok():
            try:
                executor.spin_once(timeout_sec=0.2)
            except (KeyboardInterrupt, ExternalShutdownException, NodeFinished):
                raise
            except Exception as e:  # noqa: BLE001
                if not node.context.ok():   # a callback racing the shutdown (e.g. publish on a dead context)
                    break
                _report_callback_error(node, e, seen)
    finally:
        executor.remove_node(node)      # as rclpy.spin does (shutting the executor down here could crash)


def run_node(factory: Callable[[], Node], label: str, fatal: tuple[type[BaseException], ...],
             args: list[str] | None = None) -> int:
    """Run the node built by ``factory``.

    ``fatal``: the node's own configuration errors (raised while building it); they, rclpy's parameter
    errors, a parameter file rclpy cannot parse and parameters the node does not declare exit with 2.
    SIGINT and SIGTERM stop the node cleanly (rclpy's signal handlers shut the context down; the callback
    that is running finishes, see :class:`SigintHandler`); a clean-up that hangs is cut off after
    ``CLEANUP_LIMIT_S`` with the threads' stacks on stderr.
    """
    # rclpy takes SIGINT/SIGTERM over from the quiet start-up handlers of ``nodes/__init__``: it shuts the
    # context down and chains to Python's SIGINT handler (``SigintHandler``: nothing the first time).
    sigint = SigintHandler()
    signal.signal(signal.SIGINT, sigint)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # SIGUSR1 prints every thread's stack to stderr: the runner sends it to a node that does not stop in
    # time, before SIGKILL, so the log shows where it hung.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        rclpy.init(args=args)
    except RCLError as e:   # e.g. a parameter file with a YAML syntax error
        return _config_error(label, f"cannot start: {str(e).split(', at ')[0]}")
    sigint.rclpy_ready = True
    try:
        node = factory()
    except fatal + CONFIG_ERRORS as e:
        return _config_error(label, str(e) or type(e).__name__)
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.try_shutdown()
        return 0
    except Exception:
        if not rclpy.ok():      # stopped while building the node (e.g. a publisher on a context shut down)
            return 0
        raise
    unknown = undeclared_overrides(node)
    if unknown:
        name = node.get_name()
        node.destroy_node()
        return _config_error(label, f"unknown parameter(s) for node '{name}': {', '.join(unknown)}")
    code = 0
    try:
        spin_guarded(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except NodeFinished as e:
        node.get_logger().info(f"finished: {e}")
    finally:
        watchdog = _cleanup_watchdog(label)
        try:
            node.destroy_node()
        except Exception as e:  # noqa: BLE001 - clean-up after a shutdown race must not change the exit code
            print(f"[{label}] warning: clean-up: {e!r}", file=sys.stderr)
        rclpy.try_shutdown()
        watchdog.cancel()
    return code
