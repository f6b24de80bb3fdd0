"""One robot on one machine: the node a physical robot runs, from its own parameter file.

    ros2 launch distopt_ros robot.launch.py robot_id:=2 params_file:=/etc/robot/robot_2.yaml
    ros2 launch distopt_ros robot.launch.py robot_id:=2 params_file:=robot_2.yaml namespace:=robot_2

The file holds this robot's parameters only: its objective (``objective``,
``objective_params``), its neighbours (``neighbors``), the swarm's shared settings. Every
value is checked before the node starts. The package chooses no discovery range, domain or
RMW: set ``ROS_DOMAIN_ID`` and ``ROS_AUTOMATIC_DISCOVERY_RANGE`` for your network (README,
"Deploy on robots"). The logic lives in ``distopt_ros.launch_support.robot_actions``.
"""

from launch.actions import OpaqueFunction

from distopt_ros.launch_support import declare_robot_arguments, robot_actions
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription([*declare_robot_arguments(), OpaqueFunction(function=robot_actions)])
