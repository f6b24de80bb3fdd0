"""In-process simulator: runs agent objects without ROS."""
