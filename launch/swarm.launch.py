"""Launch a distopt_ros swarm: one robot node per robot (and a coordinator for star forms).

    ros2 launch distopt_ros swarm.launch.py num_robots:=8 topology:=ring algorithm:=radmm
    ros2 launch distopt_ros swarm.launch.py config:=/path/to/my.yaml seed:=3
    ros2 launch distopt_ros swarm.launch.py qos_preset:=lossy_radio loss:=bernoulli loss_probability:=0.3 \
        execution_mode:=async activation_probability:=0.5

Parameters come from the YAML ``config`` (``/**`` and node-specific sections); every schema
parameter is also a launch argument that overrides the YAML on every node (empty = keep the
YAML's value). Everything is validated before any node starts. A one-shot swarm ends by
itself: the ``swarm_monitor`` prints the summary and its exit ends the launch; a node that
fails ends it with a line naming the node and a non-zero exit code. The logic lives in
``distopt_ros.launch_support``; the embedded runner (``distopt-swarm``) runs the same YAML
without launch_ros.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import OpaqueFunction

from distopt_ros.launch_support import declare_arguments, swarm_actions
from launch import LaunchDescription


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory("distopt_ros"), "config", "consensus.yaml")
    return LaunchDescription([*declare_arguments(default_config), OpaqueFunction(function=swarm_actions)])
