"""Moving robots track a moving target; RViz shows it with ``rviz:=true``.

    ros2 launch distopt_ros tracking.launch.py
    ros2 launch distopt_ros tracking.launch.py rviz:=true num_robots:=8 target_kind:=figure_eight
    ros2 launch distopt_ros tracking.launch.py model:=unicycle drive:=unicycle

Starts the target node (namespace ``target``), per robot a kinematic simulator
(``kinematics_node``: cmd_vel -> odom) and a tracking robot (``tracking_node``: observation +
odom -> consensus -> cmd_vel) in namespace ``robot_<i>``, the auctioneer
(``tracking_coordinator``) when the centroid task runs by price, the visualization node
(``/swarm_markers``) and, with ``rviz:=true``, RViz with ``config/swarm.rviz`` (install
rviz2 for that). On real robots, leave out the simulator (``simulate:=false``): the robot
node reads the driver's ``odom`` and commands its ``cmd_vel``. All nodes read ``config``
(default ``config/tracking.yaml``); every schema parameter is a launch argument. Tracking
runs until Ctrl-C. The embedded equivalent without launch_ros is
``python -m distopt_ros.ros.tracking_runner --config config/tracking.yaml``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import OpaqueFunction

from distopt_ros.launch_support import TRACKING_GROUPS, TRACKING_ONLY, declare_arguments, tracking_actions
from launch import LaunchDescription


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory("distopt_ros"), "config", "tracking.yaml")
    return LaunchDescription([*declare_arguments(default_config, TRACKING_GROUPS, TRACKING_ONLY),
                              OpaqueFunction(function=tracking_actions)])
