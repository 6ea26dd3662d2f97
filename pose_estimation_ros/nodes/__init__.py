"""rclpy node shells: parameters, topics and timers around the ROS-free cores."""
