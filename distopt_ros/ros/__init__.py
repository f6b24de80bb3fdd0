"""ROS 2 adapter: nodes, QoS, parameters and message conversions around the core agents."""

import os

# A simulation must never leak onto a robot LAN: pin DDS discovery to this host unless the
# user has chosen otherwise (set before rclpy creates a context).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
