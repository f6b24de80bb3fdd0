"""ROS-free core: problems, graphs, messages and algorithm agents (never imports rclpy)."""
