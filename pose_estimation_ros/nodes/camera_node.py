"""Camera node: publishes frames from a V4L2 device, a video file, an image folder or the built-in
synthetic scene as ``sensor_msgs/Image`` + ``sensor_msgs/CameraInfo`` (sensor-data QoS) at a set rate.

Topics (relative, remappable): ``image_raw``, ``camera_info``; with the synthetic source also
``ground_truth_poses`` (pose_estimation_msgs/HumanPose3DArray, the scene's exact joints).
"""
from __future__ import annotations

import os
import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from pose_estimation_msgs.msg import HumanPose3DArray

from ..camera_model import Intrinsics
from ..ros_conversions import camera_info_msg, human_msg, image_msg
from ..ros_params import declare
from ..sources import SourceError, make_source
from ..transport import max_sample_bytes
from .entry import NodeFinished, run_node

SOURCES = ("synthetic", "v4l2", "video", "folder")
ENCODINGS = ("rgb8", "bgr8")


def _profile_name() -> str:
    return os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or "the default DDS profile"


class CameraNode(Node):
    def __init__(self) -> None:
        super().__init__("camera")
        p = {
            "source": declare(self, "source", "synthetic", "Frame source.", choices=SOURCES, read_only=True),
            "device_index": declare(self, "device_index", 0, "V4L2 device index (/dev/videoN).", lo=0, hi=63,
                                    read_only=True),
            "path": declare(self, "path", "", "Video file or image folder for source=video|folder.", read_only=True),
            "loop": declare(self, "loop", True, "Restart a video/folder at its end.", read_only=True),
            "rate_hz": declare(self, "rate_hz", 15.0, "Publishing rate.", lo=0.1, hi=240.0, read_only=True),
            "width": declare(self, "width", 640, "Image width (synthetic, V4L2 request).", lo=16, hi=8192,
                             read_only=True),
            "height": declare(self, "height", 480, "Image height (synthetic, V4L2 request).", lo=16, hi=8192,
                              read_only=True),
            "hfov_deg": declare(self, "hfov_deg", 60.0, "Horizontal field of view used when fx/fy are not set.",
                                lo=1.0, hi=179.0, read_only=True),
            "fx": declare(self, "fx", -1.0, "Focal length x in pixels (<=0: from hfov_deg).", lo=-1.0, hi=1e5,
                          read_only=True),
            "fy": declare(self, "fy", -1.0, "Focal length y in pixels (<=0: from hfov_deg).", lo=-1.0, hi=1e5,
                          read_only=True),
            "cx": declare(self, "cx", -1.0, "Principal point x in pixels (<0: image centre).", lo=-1.0, hi=1e5,
                          read_only=True),
            "cy": declare(self, "cy", -1.0, "Principal point y in pixels (<0: image centre).", lo=-1.0, hi=1e5,
                          read_only=True),
            "frame_id": declare(self, "frame_id", "camera_optical_frame", "Frame id of images (optical frame).",
                                read_only=True),
            "encoding": declare(self, "encoding", "rgb8", "Published image encoding.", choices=ENCODINGS,
                                read_only=True),
            "max_frame_bytes": declare(self, "max_frame_bytes", 0, "Largest image to publish (bytes; 0 = what the "
                                       "DDS profile's shared-memory segment carries). Larger frames are refused.",
                                       lo=0, hi=2**31 - 1, read_only=True),
            "exit_at_end": declare(self, "exit_at_end", True, "Exit (code 0) at the end of a non-looping video or "
                                   "folder, so a runner or launch file learns the camera is done.", read_only=True),
        }
        if p["encoding"] not in ENCODINGS:
            raise SourceError(f"parameter encoding='{p['encoding']}' not supported (valid: {', '.join(ENCODINGS)})")
        self.params = p
        self.max_bytes = max_sample_bytes(p["max_frame_bytes"])
        if p["source"] == "synthetic":      # refuse before building a scene of that size
            self._check_frame_size(p["width"], p["height"])
        self.source = make_source(p["source"], **self._source_kwargs(p))
        w, h = self.source.width, self.source.height
        self._check_frame_size(w, h)
        self.oversize = 0
        self.intr = Intrinsics.from_params(w, h, p["fx"], p["fy"], p["cx"], p["cy"], p["hfov_deg"])
        self.pub_image = self.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.pub_gt = self.create_publisher(HumanPose3DArray, "ground_truth_poses", 10) \
            if p["source"] == "synthetic" else None
        self.frames = 0
        self.timer = self.create_timer(1.0 / p["rate_hz"], self._tick)
        self.get_logger().info(f"camera: source={p['source']} {w}x{h} @ {p['rate_hz']} Hz, "
                               f"fx={self.intr.fx:.1f} frame_id={p['frame_id']}")

    def _check_frame_size(self, w: int, h: int) -> None:
        if w * h * 3 > self.max_bytes:
            raise SourceError(
                f"{w}x{h} rgb frames are {w * h * 3} bytes, more than the transport carries ({self.max_bytes} bytes: "
                f"the shared-memory segment of {_profile_name()}, or max_frame_bytes); lower width/height or raise "
                f"<segment_size> in the DDS profile")

    def _source_kwargs(self, p: dict) -> dict:
        kind = p["source"]
        if kind == "synthetic":
            intr = Intrinsics.from_params(p["width"], p["height"], p["fx"], p["fy"], p["cx"], p["cy"], p["hfov_deg"])
            return dict(width=p["width"], height=p["height"], fps=p["rate_hz"], fx=intr.fx, fy=intr.fy,
                        cx=intr.cx, cy=intr.cy)
        if kind == "v4l2":
            return dict(device_index=p["device_index"], width=p["width"], height=p["height"], fps=p["rate_hz"])
        if kind in ("video", "folder"):
            return dict(path=p["path"], loop=p["loop"])
        return {}

    def _tick(self) -> None:
        try:
            frame = self.source.read()
        except SourceError as e:
            self.get_logger().error(f"camera source failed: {e}", throttle_duration_sec=2.0)
            return
        if frame is None:
            self.timer.cancel()
            if self.params["exit_at_end"]:
                raise NodeFinished(f"end of stream after {self.frames} frames")
            self.get_logger().info(f"end of stream after {self.frames} frames; idle (exit_at_end is false)")
            return
        if frame.nbytes > self.max_bytes:   # a video/folder frame of another size than the first one
            self.oversize += 1
            self.get_logger().error(f"frame of {frame.shape[1]}x{frame.shape[0]} ({frame.nbytes} bytes) is larger "
                                    f"than the transport carries ({self.max_bytes} bytes): not published "
                                    f"({self.oversize} so far)", throttle_duration_sec=2.0)
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params["frame_id"])
        if self.params["encoding"] == "bgr8":
            frame = np.ascontiguousarray(frame[..., ::-1])
        self.pub_image.publish(image_msg(frame, self.params["encoding"], header))
        self.pub_info.publish(camera_info_msg(self.intr, header))
        gt = self.source.ground_truth
        if self.pub_gt is not None and gt is not None:
            n = len(gt["joints_cam"])
            self.pub_gt.publish(HumanPose3DArray(header=header, ok=True, status="ground truth", humans=[
                human_msg(header, 1, gt["joints_cam"], np.ones(n), 1.0, False)]))
        self.frames += 1

    def destroy_node(self) -> None:
        source = getattr(self, "source", None)   # absent when construction failed
        if source is not None:
            source.close()
        super().destroy_node()


def main(args=None) -> int:
    return run_node(CameraNode, "camera", (SourceError, ValueError), args)


if __name__ == "__main__":
    sys.exit(main())
