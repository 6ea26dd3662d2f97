"""How a node process stops (nodes.entry.run_node): one SIGINT lets the running callback finish and cleans
up, a second forces a KeyboardInterrupt, a hung clean-up ends with the threads' stacks on stderr, and the
runner asks a node that ignores SIGINT for its stacks before SIGKILL."""
import signal
import subprocess
import sys
import textwrap
import time

from pose_estimation_ros.runner import loopback_env, stop_process

NODE = textwrap.dedent("""
    import sys, time
    from rclpy.node import Node
    from pose_estimation_ros.nodes.entry import run_node

    MODE = sys.argv[1]

    class Slow(Node):
        def __init__(self):
            super().__init__("slow_stop_test")
            self.create_timer(0.05, self.tick)
            self.ticks = 0

        def tick(self):
            self.ticks += 1
            if self.ticks == 2:
                print("callback started", flush=True)
                time.sleep(1.5 if MODE == "slow_callback" else 0.0)
                print("callback finished", flush=True)

        def destroy_node(self):
            if MODE == "hung_cleanup":
                print("clean-up hangs", flush=True)
                time.sleep(60)
            print("destroyed", flush=True)
            return super().destroy_node()

    sys.exit(run_node(Slow, "slow", ()))
""")


def _start(tmp_path, mode: str) -> subprocess.Popen:
    script = tmp_path / "slow_node.py"
    script.write_text(NODE)
    return subprocess.Popen([sys.executable, str(script), mode], env=loopback_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, line: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = proc.stdout.readline()
        if got.strip() == line:
            return
        assert got or proc.poll() is None, f"node ended before '{line}': {proc.stderr.read()}"
    raise AssertionError(f"no '{line}' within {timeout} s")


def test_sigint_lets_the_running_callback_finish_then_cleans_up(tmp_path):
    proc = _start(tmp_path, "slow_callback")
    _wait_for(proc, "callback started")
    proc.send_signal(signal.SIGINT)        # in the middle of the callback's 1.5 s
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.split() == ["callback", "finished", "destroyed"], out
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err


def test_a_second_sigint_forces_the_stop(tmp_path):
    proc = _start(tmp_path, "hung_cleanup")
    _wait_for(proc, "callback finished")
    proc.send_signal(signal.SIGINT)
    _wait_for(proc, "clean-up hangs")
    proc.send_signal(signal.SIGINT)        # the first SIGINT's clean-up hangs: a second one interrupts it
    out, err = proc.communicate(timeout=30)
    assert "KeyboardInterrupt" in err, err
    assert "destroyed" not in out


def test_a_hung_clean_up_prints_the_stacks_and_exits(tmp_path):
    proc = _start(tmp_path, "hung_cleanup")
    _wait_for(proc, "callback finished")
    proc.send_signal(signal.SIGINT)
    _wait_for(proc, "clean-up hangs")
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 30
    assert "clean-up still running after 4 s" in err, err
    assert "in destroy_node" in err, err          # the hung frame is named in the dump


def test_runner_dumps_the_stacks_of_a_node_that_ignores_sigint():
    code = ("import faulthandler, signal, time\n"
            "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "def stuck():\n    time.sleep(60)\n"
            "print('ready', flush=True)\nstuck()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert stop_process(proc, timeout=0.5) == -signal.SIGKILL
    err = proc.stderr.read()
    assert "in stuck" in err, err
