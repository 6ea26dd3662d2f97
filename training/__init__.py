"""Training-side code: geometry helpers, body models, network definitions and the ONNX exporter.

Nothing here is imported by the ROS runtime; the runtime only sees the exported ONNX files and their
metadata (:mod:`pose_estimation_ros.perception.metadata`).
"""
