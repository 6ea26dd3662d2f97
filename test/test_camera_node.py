"""Camera node as a real process: frames + CameraInfo out, clear errors for bad sources."""
import subprocess

import cv2
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from pose_estimation_ros.perception.codec import msg_to_numpy
from pose_estimation_ros.runner import loopback_env, node_command, stop_process
from pose_estimation_ros.stack import config_dir, node_by_name

from ros_helpers import Recorder

pytestmark = pytest.mark.ros


def run_camera(overrides: dict, timeout: float = 20.0) -> subprocess.CompletedProcess:
    cmd = node_command(node_by_name("camera"), config_dir(), overrides)
    return subprocess.run(cmd, env=loopback_env(), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("overrides,needle", [
    ({"source": "v4l2", "device_index": "63"}, "/dev/video63"),
    ({"source": "video", "path": "/nonexistent/clip.mp4"}, "video file not found: /nonexistent/clip.mp4"),
    ({"source": "folder", "path": "EMPTY"}, "no images"),
    ({"source": "folder", "path": "/nonexistent/frames"}, "image folder not found"),
    ({"source": "webcam"}, "unknown source kind 'webcam'"),
])
def test_bad_source_exits_with_a_clear_error(tmp_path, overrides, needle):
    if overrides.get("path") == "EMPTY":
        (tmp_path / "notes.txt").write_text("not an image")
        overrides = dict(overrides, path=str(tmp_path))
    res = run_camera(overrides)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr, res.stderr


def test_unreadable_video_file(tmp_path):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"\x00garbage" * 100)
    res = run_camera({"source": "video", "path": str(bad)})
    assert res.returncode == 2 and str(bad) in res.stderr, res.stderr


def test_folder_source_publishes_frames_and_camera_info(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, rgb in enumerate(colours):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:] = rgb
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), img[..., ::-1])
    cmd = node_command(node_by_name("camera"), config_dir(), {
        "source": "folder", "path": str(tmp_path), "loop": "true", "rate_hz": "20.0", "fx": "100.0", "fy": "110.0",
        "encoding": "bgr8"})
    proc = subprocess.Popen(cmd, env=loopback_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rec = Recorder("camera_test")
    try:
        rec.subscribe(Image, "image_raw", qos_profile_sensor_data)
        rec.subscribe(CameraInfo, "camera_info", qos_profile_sensor_data)
        assert rec.spin_until(lambda: len(rec.msgs["image_raw"]) >= 6 and rec.msgs["camera_info"], 30), \
            "no frames received"
        imgs = [m for _, m in rec.msgs["image_raw"]]
        assert all((m.width, m.height, m.encoding) == (64, 48, "bgr8") for m in imgs)
        seen = [tuple(int(v) for v in msg_to_numpy(m)[10, 10][::-1]) for m in imgs]   # bgr -> rgb
        assert set(seen) == set(colours)                                                # looped through all
        k = rec.msgs["camera_info"][0][1].k
        assert (k[0], k[4], k[2], k[5]) == (100.0, 110.0, 32.0, 24.0)
        info_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in rec.msgs["camera_info"]}
        assert any((m.header.stamp.sec, m.header.stamp.nanosec) in info_stamps for m in imgs)
    finally:
        rec.close()
        stop_process(proc)
