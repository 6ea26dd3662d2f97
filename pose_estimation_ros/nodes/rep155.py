"""REP-155 (ROS4HRI) publishing for the perception node (rclpy glue; the mapping is in ``perception/rep155.py``).

When ``hri_msgs`` is importable: ``/humans/bodies/tracked`` (hri_msgs/IdsList) with every body of the frame,
per body ``/humans/bodies/<id>/roi`` (NormalizedRegionOfInterest2D) and ``/humans/bodies/<id>/skeleton2d``
(Skeleton2D), and a ``body_<id>`` TF frame at the hip midpoint (parent: the image's frame) through
``tf2_ros.TransformBroadcaster`` when tf2_ros is importable, else as ``tf2_msgs/TFMessage`` on ``/tf``.
Per-body publishers of a track that ended are destroyed.
"""
from __future__ import annotations

from geometry_msgs.msg import TransformStamped

from ..perception.rep155 import body_frame, body_id, hip_midpoint, normalized_roi, skeleton2d_points


class Rep155Output:
    """Creates and feeds the REP-155 publishers of ``node``; ``available`` is False (``reason`` says why)
    when hri_msgs is not installed."""

    def __init__(self, node) -> None:
        self.node = node
        self.available = False
        self.reason = ""
        try:
            from hri_msgs.msg import IdsList, NormalizedPointOfInterest2D, NormalizedRegionOfInterest2D, Skeleton2D
        except ImportError as e:
            self.reason = f"hri_msgs is not installed ({e}); see scripts/setup_hri.sh"
            return
        self._IdsList, self._Roi, self._Skel, self._Point = (IdsList, NormalizedRegionOfInterest2D, Skeleton2D,
                                                            NormalizedPointOfInterest2D)
        self.available = True
        self.pub_tracked = node.create_publisher(IdsList, "/humans/bodies/tracked", 10)
        self._bodies: dict[int, tuple] = {}
        self._tf_broadcaster = None
        self._pub_tf = None
        try:
            from tf2_ros import TransformBroadcaster
            self._tf_broadcaster = TransformBroadcaster(node)
            self.tf_via = "tf2_ros"
        except ImportError:
            try:
                from tf2_msgs.msg import TFMessage
                self._TFMessage = TFMessage
                self._pub_tf = node.create_publisher(TFMessage, "/tf", 100)
                self.tf_via = "tf2_msgs"
            except ImportError:
                self.tf_via = "none (neither tf2_ros nor tf2_msgs installed)"

    def _body_publishers(self, track_id: int) -> tuple:
        pubs = self._bodies.get(track_id)
        if pubs is None:
            base = f"/humans/bodies/{body_id(track_id)}"
            pubs = (self.node.create_publisher(self._Roi, f"{base}/roi", 10),
                    self.node.create_publisher(self._Skel, f"{base}/skeleton2d", 10))
            self._bodies[track_id] = pubs
        return pubs

    def publish(self, header, estimates, ended_ids, width: int, height: int) -> None:
        """One frame: ids, per-body roi + skeleton2d, body frames; drops the publishers of ended tracks."""
        for tid in ended_ids:
            pubs = self._bodies.pop(int(tid), None)
            for p in pubs or ():
                self.node.destroy_publisher(p)
        ids = self._IdsList(header=header)
        ids.ids = [body_id(e.person_id) for e in estimates]
        self.pub_tracked.publish(ids)
        transforms = []
        for e in estimates:
            pub_roi, pub_skel = self._body_publishers(e.person_id)
            if e.det_box is not None:
                x0, y0, x1, y1 = normalized_roi(e.det_box, width, height)
                pub_roi.publish(self._Roi(header=header, xmin=x0, ymin=y0, xmax=x1, ymax=y1, c=float(e.score)))
            pts = skeleton2d_points(e.joints_2d, e.confidence, width, height)
            skel = self._Skel(header=header)
            skel.skeleton = [self._Point(x=float(x), y=float(y), c=float(c)) for x, y, c in pts]
            pub_skel.publish(skel)
            tf = TransformStamped(header=header, child_frame_id=body_frame(e.person_id))
            x, y, z = (float(v) for v in hip_midpoint(e.joints_cam))
            tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = x, y, z
            tf.transform.rotation.w = 1.0
            transforms.append(tf)
        if transforms:
            if self._tf_broadcaster is not None:
                self._tf_broadcaster.sendTransform(transforms)
            elif self._pub_tf is not None:
                self._pub_tf.publish(self._TFMessage(transforms=transforms))
