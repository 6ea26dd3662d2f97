"""The README's main job: `pose_stack demo` runs the node set on the embedded default and prints a summary."""
import re
import subprocess
import sys

import pytest

from pose_estimation_ros.runner import loopback_env, parse_remaps, parse_sets

pytestmark = pytest.mark.ros


@pytest.mark.slow
def test_demo_runs_and_summarises():
    res = subprocess.run([sys.executable, "-m", "pose_estimation_ros.runner", "demo", "--duration", "10"],
                         env=loopback_env(), capture_output=True, text=True, timeout=120)
    out = res.stdout
    assert res.returncode == 0, out[-3000:] + res.stderr[-3000:]
    frames = int(re.search(r"\| frames published \(camera_info\)\s*\| (\d+) \|", out).group(1))
    m = re.search(r"\| pose stamps equal to a frame stamp\s*\| (\d+)/(\d+) \|", out)
    matched, poses = int(m.group(1)), int(m.group(2))
    # The summary is consistent with itself: never more pose messages than frames, and (best-effort delivery
    # to the monitor may lose a frame or two) every pose message's stamp is a frame stamp the monitor saw.
    # The strict stamp check is test_e2e_nodes.py.
    assert frames > 0 and poses > 0
    assert poses <= frames + 2, out[-2000:]
    assert matched >= poses - 2, out[-2000:]
    assert re.search(r"\| controller states \(cycles\)\s*\| .*\d", out)
    assert "stopped: {'camera': 0, 'perception': 0, 'controller': 0}" in out


def test_runner_argument_parsing_errors():
    assert parse_sets(["perception.window=8"]) == {"perception": {"window": "8"}}
    assert parse_remaps(["perception:image:=/gz/cam"]) == {"perception": [("image", "/gz/cam")]}
    with pytest.raises(SystemExit, match="unknown node 'lidar'"):
        parse_sets(["lidar.range=3"])
    with pytest.raises(SystemExit, match="node.param=value"):
        parse_sets(["window=8"])
    with pytest.raises(SystemExit, match="node:from:=to"):
        parse_remaps(["perception:image"])


def test_demo_monitor_matches_a_pose_that_arrives_before_its_frame():
    """Two topics, two readers: a pose message can reach the monitor before its frame's camera_info. The summary
    matches stamps when it is made, so such a message still counts as a frame's (it counted as unmatched once)."""
    from pose_estimation_msgs.msg import HumanPose3DArray
    from sensor_msgs.msg import CameraInfo

    from pose_estimation_ros.demo import DemoMonitor

    mon = DemoMonitor(namespace="demo_order_test")
    try:
        early = HumanPose3DArray()
        early.header.stamp.sec, early.header.stamp.nanosec = 5, 100
        mon._on_poses(early)                  # the pose first ...
        info = CameraInfo()
        info.header.stamp = early.header.stamp
        mon._on_frame(info)                   # ... its frame after it
        lost = HumanPose3DArray()
        lost.header.stamp.sec = 6             # a pose whose frame never came
        mon._on_poses(lost)
        s = mon.summary(1.0)
        assert (s.frames, s.pose_msgs, s.stamps_matched) == (1, 2, 1)
    finally:
        mon.close()


def test_demo_summary_reports_root_position_and_signed_depth_error():
    """Hand-computed: a pose whose root is 0.3 m too far and 0.4 m to the side (|error| 0.5 m), with the
    root-relative joints exact, and one 0.1 m too close."""
    import numpy as np

    from pose_estimation_ros.demo import Summary, root_position_error, root_relative_mpjpe

    gt = np.array([[0.0, 0.0, 3.0], [0.0, -0.5, 3.0]])
    far = gt + np.array([0.4, 0.0, 0.3])
    assert root_relative_mpjpe(far, gt) == pytest.approx(0.0)
    assert root_position_error(far, gt) == pytest.approx((0.5, 0.3))
    near = gt + np.array([0.0, 0.0, -0.1])
    assert root_position_error(near, gt) == pytest.approx((0.1, -0.1))
    s = Summary(1.0, 2, 2, 2, 2, mpjpe_mm=[0.0, 0.0], root_err_mm=[500.0, 100.0], depth_err_mm=[300.0, -100.0])
    row = [line for line in s.table().splitlines() if "root position error" in line][0]
    assert "300 mm;" in row and "+100 mm signed" in row and "200 mm absolute" in row
