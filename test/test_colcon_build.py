"""The package builds with colcon as on a robot (ament_python root + rosidl msg package), and the
installed executables, messages, launch/config/model files work from the install space."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("colcon_ws")
    res = subprocess.run([str(ROOT / "scripts" / "colcon_build.sh"), str(VENV), str(ws)], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return ws


def sourced(ws: Path, command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    script = f"source {VENV}/bin/activate && source {ws}/install/setup.bash && {command}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_install_space_layout(workspace):
    pkg = workspace / "install" / "pose_estimation_ros"
    for exe in ("camera_node", "perception_node", "controller_node", "pose_stack"):
        assert (pkg / "lib" / "pose_estimation_ros" / exe).is_file(), exe
    share = pkg / "share" / "pose_estimation_ros"
    assert (share / "launch" / "pose_estimation.launch.py").is_file()
    for f in ("camera.yaml", "perception.yaml", "controller.yaml", "fastdds_loopback.xml"):
        assert (share / "config" / f).is_file(), f
    assert (share / "models" / "mocap_spin.onnx").is_file() and (share / "models" / "mocap_spin.json").is_file()
    assert (workspace / "install" / "pose_estimation_msgs" / "share" / "pose_estimation_msgs" / "msg" /
            "HumanPose3D.msg").is_file()


def test_installed_code_runs_from_the_install_space(workspace, tmp_path):
    res = sourced(workspace, "python -c 'import pose_estimation_ros, pose_estimation_msgs.msg as m; "
                             "from pose_estimation_ros.perception.pipeline import default_model_dir; "
                             "from pose_estimation_ros.stack import config_dir; "
                             "print(pose_estimation_ros.__file__); print(m.__file__); "
                             "print(default_model_dir()); print(config_dir())'", tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert all(str(workspace / "install") in line for line in lines), lines


def test_installed_executable_reports_a_missing_camera(workspace, tmp_path):
    exe = workspace / "install" / "pose_estimation_ros" / "lib" / "pose_estimation_ros" / "camera_node"
    res = sourced(workspace, f"{exe} --ros-args -p source:=v4l2 -p device_index:=63", tmp_path)
    assert res.returncode == 2 and "/dev/video63" in res.stderr, res.stderr[-2000:]


LAUNCH_SCRIPT = """
import signal, sys, launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import AnyLaunchDescriptionSource
from ament_index_python.packages import get_package_share_directory
signal.signal(signal.SIGINT, signal.default_int_handler)   # as ros2launch does; see ../shared/notes
share = get_package_share_directory("pose_estimation_ros")
ls = launch.LaunchService(argv=[], noninteractive=True)
ls.include_launch_description(launch.LaunchDescription([IncludeLaunchDescription(
    AnyLaunchDescriptionSource(share + "/launch/pose_estimation.launch.py"),
    launch_arguments=[("namespace", "launched")])]))
sys.exit(ls.run())
"""


def _has_launch_ros() -> bool:
    res = subprocess.run([sys.executable, "-c", "import launch.actions, launch_ros.actions"], cwd="/tmp",
                         capture_output=True)
    return res.returncode == 0


def _pids_under(prefix: str) -> list[int]:
    """Processes whose command line names a file under ``prefix`` (the workspace's installed nodes)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if prefix in (p / "cmdline").read_bytes().decode(errors="replace"):
                    stat = (p / "stat").read_text()
                    if stat.split(") ", 1)[1][0] != "Z":
                        out.append(int(p.name))
            except OSError:
                continue
    return out


@pytest.mark.ros
def test_real_ros2_launch_runs_the_stack_and_sigint_stops_everything(workspace, tmp_path):
    """The package's launch file through the real launch_ros (built from ../shared/vendor by make setup):
    poses flow under the launch namespace, and one SIGINT to launch stops every node it started."""
    if not _has_launch_ros():
        pytest.skip("launch / launch_ros are not installed (make setup builds them from ../shared/vendor/ros2-src "
                    "when it exists; no wheels exist)")
    import signal
    import time

    from pose_estimation_msgs.msg import HumanPose3DArray

    from ros_helpers import Recorder
    install = workspace / "install"
    script = (f"source {VENV}/bin/activate && source {install}/setup.bash && export AMENT_PREFIX_PATH="
              f"$AMENT_PREFIX_PATH:{VENV} && exec python -c '{LAUNCH_SCRIPT}'")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    rec = Recorder("launch_test_listener")
    try:
        rec.subscribe(HumanPose3DArray, "/launched/poses")
        assert rec.spin_until(lambda: len(rec.msgs["/launched/poses"]) >= 5, timeout=120), \
            f"no poses from the launched stack (launch exit {proc.poll()})"
        nodes = _pids_under(str(install))
        assert len(nodes) >= 3, nodes
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pids_under(str(install)):
            time.sleep(0.2)
        left = _pids_under(str(install))
        assert not left, f"left running after SIGINT to launch: {left}\n{out[-3000:]}"
        assert proc.returncode == 0, out[-3000:]
        assert out.count("process has finished cleanly") >= 3, out[-3000:]
    finally:
        rec.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _pids_under(str(install)):
            os.kill(pid, signal.SIGKILL)
