"""Building and reading ROS messages from the cores' numpy results (rclpy glue, no logic)."""
from __future__ import annotations

import struct

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from pose_estimation_msgs.msg import HumanPose3D, HumanPose3DArray

from . import skeleton
from .camera_model import Intrinsics
from .perception.codec import numpy_to_image_fields


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def tf_edges(msg) -> dict[str, tuple[str, np.ndarray]]:
    """A tf2_msgs/TFMessage as ``{child frame: (parent frame, (4, 4) transform child -> parent)}``; transforms
    with an invalid (e.g. zero) quaternion are left out (``safety.geometry.chain_transform`` walks the result)."""
    from .safety.geometry import make_transform, quaternion_to_matrix

    edges: dict[str, tuple[str, np.ndarray]] = {}
    for t in msg.transforms:
        q, tr = t.transform.rotation, t.transform.translation
        try:
            rot = quaternion_to_matrix(q.x, q.y, q.z, q.w)
        except ValueError:
            continue
        edges[t.child_frame_id] = (t.header.frame_id, make_transform(rot, (tr.x, tr.y, tr.z)))
    return edges


def image_msg(array: np.ndarray, encoding: str, header: Header) -> Image:
    f = numpy_to_image_fields(array, encoding)
    msg = Image(header=header, height=f["height"], width=f["width"], encoding=f["encoding"],
                is_bigendian=f["is_bigendian"], step=f["step"])
    msg.data = f["data"]
    return msg


def camera_info_msg(intr: Intrinsics, header: Header) -> CameraInfo:
    return CameraInfo(header=header, width=intr.width, height=intr.height, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=intr.k_matrix(), r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=intr.p_matrix())


def human_msg(header: Header, person_id: int, joints: np.ndarray, confidence: np.ndarray, score: float,
              temporal: bool) -> HumanPose3D:
    msg = HumanPose3D(header=header, id=int(person_id), skeleton=skeleton.SKELETON_ID,
                      joint_names=list(skeleton.JOINT_NAMES), score=float(score), temporal=bool(temporal))
    msg.joints = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in joints]
    msg.confidence = [float(c) for c in confidence]
    return msg


def pose_array_count(data: bytes) -> int:
    """Number of people in a serialized (CDR) HumanPose3DArray, read without deserializing it.

    Layout: 4-byte encapsulation (byte 1: 0/1 = big/little endian), header.stamp (int32 sec, uint32 nanosec),
    header.frame_id (uint32 length incl. NUL, bytes), padding to 4, uint32 length of ``humans``.

    Raises:
        ValueError: the buffer is too short for that layout.
    """
    order = "<" if len(data) > 1 and data[1] & 1 else ">"
    if len(data) < 16:
        raise ValueError(f"serialized pose array of {len(data)} bytes is too short")
    (n_frame,) = struct.unpack_from(order + "I", data, 12)
    off = 16 + n_frame
    off = 4 + ((off - 4 + 3) // 4) * 4     # CDR aligns relative to the end of the encapsulation header
    if off + 4 > len(data):
        raise ValueError(f"serialized pose array of {len(data)} bytes is truncated (frame_id of {n_frame} bytes)")
    return struct.unpack_from(order + "I", data, off)[0]


def humans_from_msg(msg: HumanPose3DArray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """[(id, joints (J, 3), confidence (J,))] from a pose array message."""
    out = []
    for h in msg.humans:
        j = np.array([[p.x, p.y, p.z] for p in h.joints], float).reshape(-1, 3)
        c = np.asarray(h.confidence, float)
        if c.shape[0] != j.shape[0] or len(h.joint_names) not in (0, j.shape[0]):
            # Malformed message: NaN joints make the safety core fault (STOP) rather than guess.
            c = np.ones(j.shape[0])
            j = np.full_like(j, np.nan)
        out.append((int(h.id), j, c))
    return out


_COLOURS = {False: ColorRGBA(r=1.0, g=0.6, b=0.1, a=1.0), True: ColorRGBA(r=0.1, g=0.8, b=1.0, a=1.0)}


def skeleton_markers(header: Header, humans: list[tuple[int, np.ndarray, bool]], ns: str = "human",
                     lifetime_s: float = 0.5) -> MarkerArray:
    """Bones (LINE_LIST) and joints (SPHERE_LIST) per person; orange per-frame, cyan temporal."""
    arr = MarkerArray()
    life = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1) * 1e9))
    for pid, joints, temporal in humans:
        pts = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in joints]
        bones = Marker(header=header, ns=f"{ns}_bones", id=int(pid), type=Marker.LINE_LIST, action=Marker.ADD,
                       lifetime=life, color=_COLOURS[bool(temporal)])
        bones.pose.orientation.w = 1.0
        bones.scale.x = 0.03
        bones.points = [q for c, p in skeleton.BONES for q in (pts[c], pts[p])]
        dots = Marker(header=header, ns=f"{ns}_joints", id=int(pid), type=Marker.SPHERE_LIST, action=Marker.ADD,
                      lifetime=life, color=_COLOURS[bool(temporal)])
        dots.pose.orientation.w = 1.0
        dots.scale.x = dots.scale.y = dots.scale.z = 0.06
        dots.points = pts
        arr.markers += [bones, dots]
    return arr
