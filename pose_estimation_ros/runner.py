"""The project's own launcher: starts the node set of :mod:`stack` (each node in its own process, same
parameter files as the launch file) where ``ros2 launch`` is not available.

    pose_stack run  [--duration S] [--set node.param=value ...] [--remap node:from:=to ...] [--no-camera]
    pose_stack demo [--duration S]   # run on the embedded default and print a summary

DDS confinement (loopback profile, LOCALHOST discovery) is set by ``scripts/netns_run.sh``; the runner
also sets the profile and discovery range itself if they are missing.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .stack import STACK, NodeSpec, config_dir


def loopback_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for child nodes: DDS bound to loopback (profile + LOCALHOST discovery)."""
    env = dict(os.environ if base is None else base)
    profile = config_dir() / "fastdds_loopback.xml"
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def node_command(spec: NodeSpec, cfg_dir: Path, overrides: dict[str, str] | None = None,
                 remaps: list[tuple[str, str]] | None = None, namespace: str = "") -> list[str]:
    """``python -m <module> --ros-args ...`` for one node, with its YAML and overrides."""
    cmd = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
           "--params-file", str(cfg_dir / spec.params_file)]
    if namespace:
        cmd += ["-r", f"__ns:={'/' + namespace.lstrip('/')}"]   # rcl wants an absolute namespace
    # ROS applies the first matching rule: a user remapping replaces the stack's default for that name.
    user = dict(remaps or [])
    for src, dst in list(user.items()) + [(s, d) for s, d in spec.remappings if s not in user]:
        cmd += ["-r", f"{src}:={dst}"]
    for key, value in (overrides or {}).items():
        cmd += ["-p", f"{key}:={value}"]
    return cmd


def parse_sets(items: list[str]) -> dict[str, dict[str, str]]:
    """['perception.window=8'] -> {'perception': {'window': '8'}}."""
    out: dict[str, dict[str, str]] = {}
    names = {s.name for s in STACK}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise SystemExit(f"--set expects node.param=value, got '{item}'")
        key, value = item.split("=", 1)
        node, param = key.split(".", 1)
        if node not in names:
            raise SystemExit(f"--set: unknown node '{node}' (nodes: {', '.join(sorted(names))})")
        out.setdefault(node, {})[param] = value
    return out


def parse_remaps(items: list[str]) -> dict[str, list[tuple[str, str]]]:
    """['perception:image:=/sim/camera'] -> {'perception': [('image', '/sim/camera')]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        node, _, rule = item.partition(":")
        if ":=" not in rule:
            raise SystemExit(f"--remap expects node:from:=to, got '{item}'")
        src, dst = rule.split(":=", 1)
        out.setdefault(node, []).append((src, dst))
    return out


def _child_setup(nice: int = 0) -> None:
    """In the child before exec: SIGTERM when the runner dies (even by SIGKILL), so no node outlives it; the
    node's scheduling priority (:attr:`NodeSpec.nice`) where this process may raise it."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except OSError:                        # pragma: no cover - not Linux/glibc
        pass
    if nice:
        try:
            os.nice(nice)
        except OSError:                    # not permitted: run at the default priority
            pass


def start_node(spec: NodeSpec, cfg_dir: Path, overrides: dict[str, str] | None = None,
               remaps: list[tuple[str, str]] | None = None, namespace: str = "",
               log_path: Path | None = None) -> subprocess.Popen:
    """One node in its own process with the loopback DDS environment; output to ``log_path`` if given.

    The node runs in its own process group: a Ctrl-C at the terminal reaches only the runner, which then
    sends each node exactly one SIGINT (a second one would interrupt the node's clean-up). The node gets
    SIGTERM if the runner dies without stopping it.
    """
    cmd = node_command(spec, cfg_dir, overrides, remaps, namespace)
    out = open(log_path, "w") if log_path else None
    return subprocess.Popen(cmd, env=loopback_env(), stdout=out, stderr=subprocess.STDOUT if out else None,
                            process_group=0, preexec_fn=lambda: _child_setup(spec.nice))


def dump_stacks(proc: subprocess.Popen, wait: float = 1.0) -> None:
    """Ask a node that did not stop for its threads' stacks (SIGUSR1: ``faulthandler`` in ``nodes.entry``
    prints them to the node's stderr or log) and give it ``wait`` seconds to write them."""
    try:
        proc.send_signal(signal.SIGUSR1)
        proc.wait(wait)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass


def stop_process(proc: subprocess.Popen, timeout: float = 5.0, interrupt: bool = True) -> int:
    """SIGINT (which rclpy turns into a clean shutdown; skipped with ``interrupt=False`` when already sent),
    SIGKILL after ``timeout`` seconds; the return code. A second SIGINT would interrupt the node's clean-up."""
    if proc.poll() is None:
        if interrupt:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            dump_stacks(proc)
            proc.kill()
            proc.wait()
    return proc.returncode


class Stack:
    """The running node processes."""

    def __init__(self, specs: list[NodeSpec], cfg_dir: Path, sets: dict[str, dict[str, str]],
                 remaps: dict[str, list[tuple[str, str]]], namespace: str = "", log_dir: Path | None = None):
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        from .tools.shm_clean import clean_zombie_shm
        clean_zombie_shm()      # shared-memory leftovers of nodes killed earlier (kill -9, a crash)
        self.procs: dict[str, subprocess.Popen] = {
            spec.name: start_node(spec, cfg_dir, sets.get(spec.name), remaps.get(spec.name), namespace,
                                  log_dir / f"{spec.name}.log" if log_dir else None)
            for spec in specs}
        self.ended: dict[str, int] = {}

    def failed(self) -> dict[str, int]:
        """Nodes that exited, with their return codes (remembered as ``ended``: they were not stopped)."""
        out = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        self.ended.update(out)
        return out

    def stop(self, timeout: float = 5.0) -> dict[str, int]:
        for p in self.procs.values():   # all at once, then wait for each
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        return {n: stop_process(p, timeout, interrupt=False) for n, p in self.procs.items()}


class StopRequested(Exception):
    """SIGTERM / SIGHUP reached the runner: stop the stack as for Ctrl-C."""


def _raise_stop(signum: int, _frame) -> None:
    raise StopRequested(signal.Signals(signum).name)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pose_stack", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "start the node set until Ctrl-C or --duration"),
                        ("demo", "run on the embedded default for a bounded time and print a summary")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--duration", type=float, default=0.0 if name == "run" else 20.0,
                       help="seconds to run (0 = until Ctrl-C)" + ("; counted from the first pose message, so a slow "
                                                                    "start-up does not eat into it" if name == "demo"
                                                                    else ""))
        if name == "demo":
            p.add_argument("--startup-timeout", type=float, default=120.0,
                           help="seconds to wait for the first pose message before giving up")
        p.add_argument("--config-dir", type=Path, default=None, help="folder with camera/perception/controller.yaml")
        p.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
        p.add_argument("--remap", action="append", default=[], metavar="NODE:FROM:=TO")
        p.add_argument("--namespace", default="")
        p.add_argument("--no-camera", action="store_true", help="use an external image topic (e.g. Gazebo)")
        p.add_argument("--log-dir", type=Path, default=None, help="write each node's output to LOG_DIR/<node>.log")
    return ap


def stack_ended(ended: dict[str, int]) -> int:
    """What the runner does when nodes exit by themselves: a node that finished its work (exit 0, e.g. the
    camera at the end of a non-looping video) ends the run cleanly (0); any other exit is a failure (1)."""
    if all(code == 0 for code in ended.values()):
        print(f"[pose_stack] {', '.join(ended)} finished: stopping the stack", flush=True)
        return 0
    print(f"[pose_stack] node(s) exited early: {ended}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg_dir = args.config_dir or config_dir()
    specs = [s for s in STACK if not (args.no_camera and s.name == "camera")]
    sets, remaps = parse_sets(args.set), parse_remaps(args.remap)
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(loopback_env())
    monitor = None
    if args.command == "demo":
        from .demo import DemoMonitor   # imports rclpy; only the demo needs it in this process
        monitor = DemoMonitor(namespace=args.namespace)
    # SIGTERM (kill, timeout, systemd, Docker, CI) and SIGHUP stop the stack like Ctrl-C. A runner started in
    # the background of a non-interactive shell inherits SIGINT ignored: restore the default Ctrl-C handling.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = None
    exit_code = 0
    start = time.monotonic()
    try:
        stack = Stack(specs, cfg_dir, sets, remaps, args.namespace, args.log_dir)
        print(f"[pose_stack] started {', '.join(f'{n} (pid {p.pid})' for n, p in stack.procs.items())}",
              flush=True)
        if monitor is not None:     # the demo's clock starts with the first pose message
            while monitor.pose_msgs == 0 and not stack.failed():
                if time.monotonic() - start > args.startup_timeout:
                    print(f"[pose_stack] no pose message within {args.startup_timeout:g} s", file=sys.stderr)
                    exit_code = 1
                    break
                monitor.spin_for(0.2)
            print(f"[pose_stack] first pose message after {time.monotonic() - start:.1f} s", flush=True)
            monitor.reset()
            start = time.monotonic()
        while exit_code == 0 and (args.duration <= 0 or time.monotonic() - start < args.duration):
            if monitor is not None:
                monitor.spin_for(0.2)
            else:
                time.sleep(0.2)
            ended = stack.failed()
            if ended:
                exit_code = stack_ended(ended)
                break
    except (KeyboardInterrupt, StopRequested) as e:
        print(f"[pose_stack] {e or 'SIGINT'}: stopping", flush=True)
    finally:
        # Whatever ends the loop (a signal, a node ending, an error here), no node is left running.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        codes = stack.stop() if stack is not None else {}
    print(f"[pose_stack] stopped: {codes}", flush=True)
    stopped = {n: c for n, c in codes.items() if n not in stack.ended} if stack is not None else {}
    if any(c != 0 for c in stopped.values()):
        print(f"[pose_stack] a node did not stop cleanly: {codes}", file=sys.stderr)
        exit_code = exit_code or 1
    if monitor is not None:
        summary = monitor.summary(time.monotonic() - start)
        monitor.close()
        print(summary.table())
        if exit_code == 0 and not summary.healthy():
            print("[pose_stack] demo unhealthy: no frames or no poses flowed", file=sys.stderr)
            exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
