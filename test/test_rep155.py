"""CompressedImage input and REP-155 (ROS4HRI) output of the perception node, as a real process.

One node with ``image_transport: compressed``: a PNG of a frame gives the same poses as the in-process
pipeline on the raw pixels; a payload that does not decode is logged and the node keeps running. With
hri_msgs installed (``scripts/setup_hri.sh``) the node publishes ``/humans/bodies/tracked``, per body
``roi`` and ``skeleton2d`` and a ``body_<id>`` frame on /tf; without it that test skips with the reason.
"""
import importlib.util
import subprocess
import time

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from perception_fixtures import write_batch_per_frame
from pose_estimation_msgs.msg import HumanPose3DArray
from pose_estimation_ros.camera_model import Intrinsics
from pose_estimation_ros.perception import rep155
from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline
from pose_estimation_ros.ros_conversions import ns_to_stamp
from pose_estimation_ros.runner import loopback_env, node_command, stop_process
from pose_estimation_ros.stack import config_dir, node_by_name
from pose_estimation_ros.synthetic_scene import SyntheticScene

from ros_helpers import Recorder

pytestmark = pytest.mark.ros
TOPIC = "/rep155_test/image"
HAVE_HRI = importlib.util.find_spec("hri_msgs") is not None
HAVE_TF = importlib.util.find_spec("tf2_msgs") is not None or importlib.util.find_spec("tf2_ros") is not None


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep155")
    model = str(d / "m.onnx")
    joints = np.random.default_rng(0).normal(0, 0.3, (24, 3))
    write_batch_per_frame(model, joints=joints, cam=(0.8, 0.1, 0.05), cam_gain=(0.05, 0.02, 0.0))
    log = open(d / "perception.log", "w")
    cmd = node_command(node_by_name("perception"), config_dir(),
                       {"crop": "full", "threads": "1", "per_frame_model": model, "temporal_model": "none",
                        "image_transport": "compressed", "publish_markers": "false"},
                       [("image/compressed", TOPIC)])
    proc = subprocess.Popen(cmd, env=loopback_env(), stdout=log, stderr=subprocess.STDOUT)
    rec = Recorder("rep155_test")
    rec.subscribe(HumanPose3DArray, "poses")
    if HAVE_HRI:
        from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
        rec.subscribe(IdsList, "/humans/bodies/tracked")
        rec.subscribe(NormalizedRegionOfInterest2D, f"/humans/bodies/{rep155.body_id(1)}/roi")
        rec.subscribe(Skeleton2D, f"/humans/bodies/{rep155.body_id(1)}/skeleton2d")
    if importlib.util.find_spec("tf2_msgs") is not None:
        from tf2_msgs.msg import TFMessage
        rec.subscribe(TFMessage, "/tf")
    pub = rec.node.create_publisher(CompressedImage, TOPIC, 10)
    rgb, _ = SyntheticScene(320, 240).render(2.0)

    def send(stamp_ns: int, data: bytes, fmt: str = "png", timeout: float = 30.0) -> HumanPose3DArray | None:
        stamp = ns_to_stamp(stamp_ns)
        msg = CompressedImage(header=Header(stamp=stamp, frame_id="cam"), format=fmt)
        msg.data = data
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pub.publish(msg)
            if rec.spin_until(lambda: any(m.header.stamp == stamp for _, m in rec.msgs["poses"]), 0.3):
                return next(m for _, m in rec.msgs["poses"] if m.header.stamp == stamp)
        return None

    ok, png = cv2.imencode(".png", rgb[..., ::-1])
    first = send(time.time_ns(), png.tobytes())
    yield dict(proc=proc, rec=rec, send=send, rgb=rgb, png=png.tobytes(), model=model, first=first,
               log=d / "perception.log")
    rec.close()
    stop_process(proc)
    log.close()


def test_compressed_input_gives_the_same_result_as_raw(node):
    msg = node["first"]
    assert msg is not None and msg.ok and len(msg.humans) == 1, "no answer to a PNG CompressedImage"
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=node["model"], temporal_model="none", crop="full"))
    raw = pipe.process(node["rgb"], 1, Intrinsics.from_fov(320, 240, 60.0)).estimates[0]
    got = np.array([[p.x, p.y, p.z] for p in msg.humans[0].joints])
    np.testing.assert_allclose(got, raw.joints_cam, rtol=1e-5, atol=1e-6)
    # a payload that does not decode: logged, nothing published for it, the node keeps answering
    bad_stamp = time.time_ns()
    assert node["send"](bad_stamp, b"\xff\xd8\xff\xe0 garbage", "jpeg", timeout=1.5) is None
    assert node["send"](time.time_ns(), node["png"]) is not None
    assert node["proc"].poll() is None
    text = node["log"].read_text()
    assert "rejected image (decode" in text and "does not decode" in text, text[-2000:]


@pytest.mark.skipif(not HAVE_HRI, reason="hri_msgs is not installed (scripts/setup_hri.sh builds it from "
                                          "../shared/vendor/ros2-src)")
def test_rep155_topics_appear(node):
    rec = node["rec"]
    node["send"](time.time_ns(), node["png"])
    topics = ["/humans/bodies/tracked", f"/humans/bodies/{rep155.body_id(1)}/roi",
              f"/humans/bodies/{rep155.body_id(1)}/skeleton2d"] + (["/tf"] if HAVE_TF else [])
    assert rec.spin_until(lambda: all(rec.msgs[t] for t in topics), 10.0), {t: len(rec.msgs[t]) for t in topics}
    ids = rec.msgs["/humans/bodies/tracked"][-1][1]
    assert list(ids.ids) == ["b1"]
    roi = rec.msgs[topics[1]][-1][1]
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == (0.0, 0.0, 1.0, 1.0)   # crop 'full': the whole frame
    skel = rec.msgs[topics[2]][-1][1]
    assert len(skel.skeleton) == 18 and skel.header.frame_id == "cam"
    pose = rec.msgs["poses"][-1][1]
    j = np.array([[p.x, p.y, p.z] for p in pose.humans[0].joints])
    if HAVE_TF:
        tfs = [t for _, m in rec.msgs["/tf"] for t in m.transforms if t.child_frame_id == "body_b1"]
        assert tfs and tfs[-1].header.frame_id == "cam"
        tr = tfs[-1].transform.translation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], rep155.hip_midpoint(j), rtol=1e-5, atol=1e-5)
    # the neck point is the projected neck joint, normalised
    fx = Intrinsics.from_fov(320, 240, 60.0).fx
    u = fx * j[12, 0] / j[12, 2] + 160.0
    if 0 <= u <= 320 and skel.skeleton[1].c > 0:
        assert skel.skeleton[1].x == pytest.approx(u / 320.0, abs=1e-4)
    assert skel.skeleton[14].c == 0.0   # no eyes in our skeleton
