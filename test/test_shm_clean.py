"""Zombie Fast DDS shared memory of a SIGKILLed node is removed by tools/shm_clean (Fast DDS's own cleaner);
the segments of a live node are kept."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pose_estimation_ros.tools.shm_clean import clean_zombie_shm, fastdds_tool

SHM = Path("/dev/shm")
NODE = ("import rclpy, time\nfrom std_msgs.msg import String\nrclpy.init()\nn = rclpy.create_node('zombie_probe')\n"
        "p = n.create_publisher(String, 'zombie_probe', 10)\nprint('up', flush=True)\ntime.sleep(60)\n")


def _files() -> set[str]:
    return {p.name for p in SHM.glob("fastdds_*")}


def _start() -> tuple[subprocess.Popen, set[str]]:
    before = _files()
    proc = subprocess.Popen([sys.executable, "-c", NODE], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout.readline().strip() == "up"
    deadline = time.monotonic() + 10
    while not (_files() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, _files() - before


@pytest.mark.skipif(fastdds_tool() is None or not SHM.is_dir(), reason="Fast DDS tools or /dev/shm absent")
def test_killed_nodes_shared_memory_is_cleaned_and_a_live_nodes_is_kept():
    live, live_files = _start()
    dead, dead_files = _start()
    try:
        assert dead_files, "the probe node created no Fast DDS shared memory (SHM transport off?)"
        dead.send_signal(signal.SIGKILL)
        dead.wait(10)
        assert dead_files & _files(), "SIGKILL should leave the node's segments behind"
        out = clean_zombie_shm()
        assert out is not None and "zombie" in out
        assert not (dead_files & _files()), f"zombie files left: {sorted(dead_files & _files())}"
        assert live_files and live_files <= _files(), "a live node's shared memory must be kept"
    finally:
        for p in (live, dead):
            p.kill()
            p.wait(10)
    clean_zombie_shm()
