"""body_scale floor in the perception node as a real process: the camera mount taken from /tf_static.

The node starts with ``floor.base_frame: base_link`` and no ``floor.camera_height``: until /tf_static names the
images' frame it reports no mount (people keep the model's size); a latched /tf_static chain base_link -> mast ->
camera_optical_frame (1.5 m up, 10 degrees down) becomes its mount, reported in /diagnostics, and it keeps answering.
"""
import math
import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is built from ../shared/vendor (scripts/setup_hri.sh)")

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from perception_fixtures import write_batch_per_frame  # noqa: E402
from pose_estimation_msgs.msg import HumanPose3DArray  # noqa: E402
from pose_estimation_ros.perception.floor import floor_from_mount  # noqa: E402
from pose_estimation_ros.ros_conversions import image_msg, ns_to_stamp  # noqa: E402
from pose_estimation_ros.runner import loopback_env, node_command, stop_process  # noqa: E402
from pose_estimation_ros.safety import camera_to_base  # noqa: E402
from pose_estimation_ros.stack import config_dir, node_by_name  # noqa: E402

from ros_helpers import Recorder  # noqa: E402

pytestmark = pytest.mark.ros
TOPIC, INFO = "/floor/image", "/floor/camera_info"


def _transform(parent: str, child: str, xyz, quat) -> TransformStamped:
    t = TransformStamped()
    t.header.frame_id, t.child_frame_id = parent, child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = xyz
    (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
     t.transform.rotation.w) = quat
    return t


def _quat(r: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a proper rotation matrix (w > 0 branch: fine away from 180 degrees)."""
    w = math.sqrt(max(1.0 + r[0, 0] + r[1, 1] + r[2, 2], 1e-12)) / 2
    return ((r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w), w)


def _floor_mount(rec: Recorder) -> str | None:
    if not rec.msgs["/diagnostics"]:
        return None
    for st in rec.msgs["/diagnostics"][-1][1].status:
        for kv in st.values:
            if kv.key == "floor_mount":
                return kv.value
    return None


def test_tf_edges_reads_transforms_and_skips_invalid_quaternions():
    """ros_conversions.tf_edges (both nodes' /tf_static reader): child -> (parent, transform), chained by
    safety.geometry.chain_transform; a zero quaternion is left out."""
    from pose_estimation_ros.ros_conversions import tf_edges
    from pose_estimation_ros.safety.geometry import chain_transform

    s = math.sqrt(0.5)
    msg = TFMessage(transforms=[_transform("base_link", "mast", (0.1, 0.0, 1.0), (0.0, 0.0, 0.0, 1.0)),
                                _transform("mast", "cam", (0.0, 0.0, 0.5), (0.0, 0.0, s, s)),      # 90 deg about z
                                _transform("base_link", "broken", (1.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))])
    edges = tf_edges(msg)
    assert sorted(edges) == ["cam", "mast"] and edges["cam"][0] == "mast"
    t = chain_transform(edges, "base_link", "cam")
    np.testing.assert_allclose(t[:3, 3], [0.1, 0.0, 1.5], atol=1e-12)
    np.testing.assert_allclose(t[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)


def test_the_floor_mount_comes_from_tf_static(tmp_path):
    model = str(tmp_path / "m.onnx")
    write_batch_per_frame(model, joints=np.zeros((24, 3)), cam=(0.8, 0.0, 0.0))
    log = open(tmp_path / "perception.log", "w")
    cmd = node_command(node_by_name("perception"), config_dir(),
                       {"crop": "full", "threads": "1", "per_frame_model": model, "temporal_model": "none",
                        "publish_markers": "false", "diagnostics_rate_hz": "5.0", "body_scale": "floor",
                        "floor.base_frame": "base_link"},
                       [("image", TOPIC), ("camera_info", INFO)])
    proc = subprocess.Popen(cmd, env=loopback_env(), stdout=log, stderr=subprocess.STDOUT)
    rec = Recorder("floor_test")
    try:
        rec.subscribe(DiagnosticArray, "/diagnostics")
        rec.subscribe(HumanPose3DArray, "poses")
        pub = rec.node.create_publisher(Image, TOPIC, 10)
        pub_info = rec.node.create_publisher(CameraInfo, INFO, 10)
        info = CameraInfo(width=320, height=240, k=[300.0, 0.0, 160.0, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0])
        rgb = np.full((240, 320, 3), 100, np.uint8)

        def send() -> Time:
            stamp = ns_to_stamp(time.time_ns())
            pub_info.publish(info)
            pub.publish(image_msg(rgb, "rgb8", Header(stamp=stamp, frame_id="camera_optical_frame")))
            return stamp

        def mount_is(pred, timeout):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                send()
                if rec.spin_until(lambda: (m := _floor_mount(rec)) is not None and pred(m), 0.2):
                    return True
            return False

        assert mount_is(lambda m: m.startswith("none"), 30.0), _floor_mount(rec)
        # base_link -> mast (0.1 m forward, 1.0 m up) -> camera optical frame (0.5 m up, 10 deg down)
        full = camera_to_base((0.1, 0.0, 1.5), (-math.pi / 2 - math.radians(10.0), 0.0, -math.pi / 2))
        mast = np.eye(4)
        mast[:3, 3] = (0.1, 0.0, 1.0)
        cam_in_mast = np.linalg.inv(mast) @ full
        qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
        pub_tf = rec.node.create_publisher(TFMessage, "/tf_static", qos)
        pub_tf.publish(TFMessage(transforms=[
            _transform("base_link", "mast", (0.1, 0.0, 1.0), (0.0, 0.0, 0.0, 1.0)),
            _transform("mast", "camera_optical_frame", tuple(cam_in_mast[:3, 3]), _quat(cam_in_mast[:3, :3]))]))
        want = floor_from_mount(full)
        assert want["camera_height"] == pytest.approx(1.5) and want["camera_pitch_deg"] == pytest.approx(10.0)
        assert mount_is(lambda m: m.startswith("/tf_static base_link <- camera_optical_frame: camera_height 1.500 m, "
                                               "pitch 10.0 deg"), 30.0), _floor_mount(rec)
        n = len(rec.msgs["poses"])
        for _ in range(5):
            send()
            rec.spin_until(lambda: False, 0.1)
        assert rec.spin_until(lambda: len(rec.msgs["poses"]) > n, 10.0), "no poses after the mount changed"
        assert proc.poll() is None
    finally:
        rec.close()
        stop_process(proc)
        log.close()
    text = (tmp_path / "perception.log").read_text()
    assert "floor mount: /tf_static base_link <- camera_optical_frame" in text, text[-2000:]
