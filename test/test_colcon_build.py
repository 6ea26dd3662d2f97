"""The package builds with colcon as on a robot (ament_python root + rosidl msg package), and the
installed executables, messages, launch/config/model files work from the install space."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


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
