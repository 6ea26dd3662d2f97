"""pose_estimation_ros: 3D human pose perception and human-aware safety control for ROS 2.

The runtime package never imports torch: inference runs through onnxruntime, images through
numpy/OpenCV. Every node (``nodes/``) is a thin rclpy shell over a ROS-free core module.
"""

__version__ = "0.1.0"
