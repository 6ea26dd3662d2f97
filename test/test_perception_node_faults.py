"""Perception node as a real process against hostile input (issue 16 items 4, 6, 12 and the model fault).

One node (tiny batch-aware model, crop 'full', temporal off) gets: a normal frame; a frame stamped
sec = 2^31-1 and one with nanosec = 1e9 (each rejected at once, the next normal frame answered); camera_info
with fx = inf before any good one (ok=false, never non-finite joints with ok=true), then a good one, then
fx = 1e30 (refused, the good one kept); truncated images of varying sizes (one log line per reason kind).
A second node with a model that answers NaN publishes ok=false, not an empty ok=true scene.
"""
import math
import subprocess
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from perception_fixtures import write_batch_per_frame
from pose_estimation_msgs.msg import HumanPose3DArray
from pose_estimation_ros.ros_conversions import image_msg, ns_to_stamp
from pose_estimation_ros.runner import loopback_env, node_command, stop_process
from pose_estimation_ros.stack import config_dir, node_by_name

from ros_helpers import Recorder

pytestmark = pytest.mark.ros
TOPIC = "/faults/image"
INFO = "/faults/camera_info"


def start_node(tmp_path, model, name="perception.log"):
    log = open(tmp_path / name, "w")
    cmd = node_command(node_by_name("perception"), config_dir(),
                       {"crop": "full", "threads": "1", "per_frame_model": model, "temporal_model": "none",
                        "publish_markers": "false", "diagnostics_rate_hz": "5.0"},
                       [("image", TOPIC), ("camera_info", INFO)])
    return subprocess.Popen(cmd, env=loopback_env(), stdout=log, stderr=subprocess.STDOUT), log


def info_msg(fx, cx=160.0, w=320, h=240) -> CameraInfo:
    return CameraInfo(width=w, height=h, k=[fx, 0.0, cx, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0])


class Driver:
    def __init__(self, rec: Recorder):
        self.rec = rec
        self.pub = rec.node.create_publisher(Image, TOPIC, 10)
        self.pub_info = rec.node.create_publisher(CameraInfo, INFO, 10)
        self.rgb = np.full((240, 320, 3), 100, np.uint8)

    def image(self, stamp: Time) -> Image:
        return image_msg(self.rgb, "rgb8", Header(stamp=stamp, frame_id="cam"))

    def answered(self, stamp: Time, timeout: float = 30.0, resend=None) -> HumanPose3DArray | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in (resend or []):
                m[0].publish(m[1])
            self.pub.publish(self.image(stamp))
            if self.rec.spin_until(lambda: any(m.header.stamp == stamp for _, m in self.rec.msgs["poses"]), 0.3):
                return next(m for _, m in self.rec.msgs["poses"] if m.header.stamp == stamp)
        return None

    def silent_for(self, msg: Image, seconds: float = 1.0) -> bool:
        """Publish ``msg`` a few times: no pose message carries its stamp."""
        for _ in range(4):
            self.pub.publish(msg)
            self.rec.spin_until(lambda: False, seconds / 4)
        return not any(m.header.stamp == msg.header.stamp for _, m in self.rec.msgs["poses"])


def now_stamp(offset_s: float = 0.0) -> Time:
    return ns_to_stamp(time.time_ns() + int(offset_s * 1e9))


def test_hostile_stamps_camera_info_and_floods(tmp_path):
    model = str(tmp_path / "m.onnx")
    write_batch_per_frame(model, joints=np.zeros((24, 3)), cam=(0.8, 0.0, 0.0))
    proc, log = start_node(tmp_path, model)
    rec = Recorder("perception_faults_test")
    try:
        rec.subscribe(HumanPose3DArray, "poses")
        rec.subscribe(DiagnosticArray, "/diagnostics")
        d = Driver(rec)
        # 1. camera_info with fx = inf and no good one yet: ok=false with the reason, no people
        bad = d.answered(now_stamp(), resend=[(d.pub_info, info_msg(math.inf))])
        assert bad is not None and not bad.ok and "camera_info refused" in bad.status and not bad.humans
        # 2. a good camera_info: ok=true, finite joints; then fx = 1e30 is refused and the good one kept
        good = d.answered(now_stamp(), resend=[(d.pub_info, info_msg(300.0))])
        assert good is not None and good.ok and len(good.humans) == 1
        z_good = good.humans[0].joints[0].z
        kept = d.answered(now_stamp(), resend=[(d.pub_info, info_msg(1e30))])
        assert kept is not None and kept.ok and kept.humans[0].joints[0].z == pytest.approx(z_good, rel=1e-4)
        assert all(math.isfinite(p.x) and math.isfinite(p.z) for p in kept.humans[0].joints)
        # 3. one image stamped sec = 2^31-1: rejected; the next normal image is answered at once
        assert d.silent_for(d.image(Time(sec=2**31 - 1, nanosec=0)))
        assert d.answered(now_stamp(), timeout=5.0) is not None
        # 4. nanosec = 1e9: rejected at once; the next normal frame is answered
        assert d.silent_for(d.image(Time(sec=int(time.time()), nanosec=1_000_000_000)), 0.5)
        assert d.answered(now_stamp(), timeout=5.0) is not None
        # 5. a flood of truncated images of varying sizes: logged once per kind, node alive
        for n in range(40):
            m = Image(header=Header(stamp=now_stamp(), frame_id="cam"), height=240, width=320, encoding="rgb8",
                      step=960)
            m.data = bytes(1000 + 37 * n)
            d.pub.publish(m)
            rec.spin_until(lambda: False, 0.03)   # best-effort, depth 1: give the node time to take each
        rec.spin_until(lambda: False, 0.5)
        assert d.answered(now_stamp(), timeout=5.0) is not None
        # 6. diagnostics: rate, latency, people, model state
        assert rec.spin_until(lambda: rec.msgs["/diagnostics"], 3.0)
        st = rec.msgs["/diagnostics"][-1][1].status[0]
        kv = {v.key: v.value for v in st.values}
        assert st.name.startswith("perception") and {"rate_hz", "latency_mean_ms", "people", "models_trained",
                                                       "detector", "rejected_data", "rejected_stamp"} <= set(kv)
        assert int(kv["rejected_data"]) >= 10 and int(kv["rejected_stamp"]) >= 2 and kv["models_trained"].startswith("no")
        assert proc.poll() is None, "perception died"
    finally:
        rec.close()
        stop_process(proc)
        log.close()
    text = (tmp_path / "perception.log").read_text()
    assert text.count("rejected image (data") <= 2, text[-3000:]   # 40 different byte counts, one kind
    assert "camera_info refused: fx = inf is not finite" in text and "fx = 1e+30 px is absurd" in text
    assert "ahead of the clock" in text   # the nanosec rejection is counted; logged under the same kind (2 s)


def test_per_frame_model_fault_is_published_as_ok_false(tmp_path):
    model = str(tmp_path / "nan.onnx")
    joints = np.zeros((24, 3))
    joints[5, 1] = np.nan
    write_batch_per_frame(model, joints=joints)
    proc, log = start_node(tmp_path, model, "nan.log")
    rec = Recorder("perception_nan_test")
    try:
        rec.subscribe(HumanPose3DArray, "poses")
        d = Driver(rec)
        msg = d.answered(now_stamp())
        assert msg is not None, "no answer"
        assert msg.ok is False and "no valid estimate" in msg.status and not msg.humans
    finally:
        rec.close()
        stop_process(proc)
        log.close()
