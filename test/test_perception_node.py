"""Perception node as a real process on a remapped (Gazebo-style) image topic.

Malformed images are rejected with a logged reason and the node keeps running; well-formed images
in several encodings (padded rows included) produce poses stamped with the image's stamp.
"""
import subprocess
import time

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from pose_estimation_msgs.msg import HumanPose3DArray, PerceptionLatency
from pose_estimation_ros.ros_conversions import image_msg, ns_to_stamp
from pose_estimation_ros.runner import loopback_env, node_command, stop_process
from pose_estimation_ros.stack import config_dir, node_by_name
from pose_estimation_ros.synthetic_scene import SyntheticScene
from pose_estimation_ros.tools.check_models import check

from ros_helpers import Recorder

pytestmark = pytest.mark.ros
GZ_TOPIC = "/world/default/model/camera/link/camera_link/sensor/rgbd/image"


def padded_bgr(rgb: np.ndarray, header: Header) -> Image:
    """bgr8 with 16 bytes of padding at the end of every row."""
    h, w, _ = rgb.shape
    rows = np.zeros((h, w * 3 + 16), np.uint8)
    rows[:, : w * 3] = rgb[..., ::-1].reshape(h, w * 3)
    msg = Image(header=header, height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3 + 16)
    msg.data = rows.tobytes()
    return msg


def test_remapped_topic_bad_images_rejected_good_ones_estimated(tmp_path):
    if check(config_dir().parent / "models")[0] == "FAILED":
        pytest.fail("default models missing: run `make setup`")
    log = open(tmp_path / "perception.log", "w")
    cmd = node_command(node_by_name("perception"), config_dir(), {"crop": "full", "threads": "1"},
                       [("image", GZ_TOPIC)])
    proc = subprocess.Popen(cmd, env=loopback_env(), stdout=log, stderr=subprocess.STDOUT)
    rec = Recorder("perception_test")
    try:
        rec.subscribe(HumanPose3DArray, "poses")
        rec.subscribe(PerceptionLatency, "perception_latency")
        pub = rec.node.create_publisher(Image, GZ_TOPIC, 10)
        rgb, _ = SyntheticScene(320, 240).render(1.0)

        def send_until_answered(msg: Image, stamp_ns: int, timeout: float = 40.0) -> bool:
            """Publish until a pose message with this stamp arrives (discovery takes a moment)."""
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                pub.publish(msg)
                if rec.spin_until(lambda: any(m.header.stamp == ns_to_stamp(stamp_ns) for _, m in rec.msgs["poses"]),
                                  0.3):
                    return True
            return False

        # 1. a well-formed rgb8 image: answered with its stamp
        s1 = 1_000_000_000
        assert send_until_answered(image_msg(rgb, "rgb8", Header(stamp=ns_to_stamp(s1), frame_id="gz_cam")), s1)

        # 2. malformed messages: no poses for them, node alive
        bad_stamps = []
        for i, (enc, step, data_len) in enumerate([("rgb8", 10, None),            # step shorter than a row
                                                   ("rgb8", 320 * 3, 1000),       # data shorter than height*step
                                                   ("yuv999", 320 * 3, None)]):   # unknown encoding
            stamp = 2_000_000_000 + i * 100_000_000
            bad_stamps.append(ns_to_stamp(stamp))
            m = Image(header=Header(stamp=ns_to_stamp(stamp), frame_id="gz_cam"), height=240, width=320,
                      encoding=enc, is_bigendian=0, step=step)
            m.data = bytes(data_len if data_len is not None else 240 * 320 * 3)
            for _ in range(3):
                pub.publish(m)
                rec.spin_until(lambda: False, 0.1)

        # 3. padded bgr8 and mono8 images are still estimated, with their stamps
        s3, s4 = 3_000_000_000, 3_100_000_000
        assert send_until_answered(padded_bgr(rgb, Header(stamp=ns_to_stamp(s3), frame_id="gz_cam")), s3)
        mono = np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))
        assert send_until_answered(image_msg(mono, "mono8", Header(stamp=ns_to_stamp(s4), frame_id="gz_cam")), s4)

        assert proc.poll() is None, "perception died"
        assert not any(m.header.stamp in bad_stamps for _, m in rec.msgs["poses"])
        got = [m for _, m in rec.msgs["poses"] if m.humans]
        assert got and all(m.header.frame_id == "gz_cam" and len(m.humans[0].joints) == 24 for m in got)
        assert rec.msgs["perception_latency"], "no latency figures published"
        lat = rec.msgs["perception_latency"][-1][1]
        assert lat.per_frame_ms > 0 and lat.total_ms >= lat.per_frame_ms
    finally:
        rec.close()
        stop_process(proc)
        log.close()
    text = (tmp_path / "perception.log").read_text()
    assert "rejected image" in text and "step" in text, text[-2000:]
    assert "yuv999" in text, text[-2000:]
