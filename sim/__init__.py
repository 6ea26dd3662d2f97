"""Closed-loop simulation: robots with a camera, people following motion clips along scripted paths,
scenario definitions, metrics and reports (ROS-free core), plus a thin driver (:mod:`sim.ros_driver`)
that runs the real perception and controller nodes in lock-step on simulated time.

The core never imports rclpy; rendering may use torch-side renderers (training extra). The runtime
package ``pose_estimation_ros`` never imports anything from here.
"""
