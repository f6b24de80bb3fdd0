"""Seed 003's microgrid: constraint-coupled primal-dual with consensus-ADMM proxies (Alg. 2),
asynchronous robots over a lossy radio (30 % Bernoulli loss, 50 % activation).

    ros2 launch distopt_ros microgrid.launch.py
    ros2 launch distopt_ros microgrid.launch.py num_robots:=6 seed:=2

Shorthand for scenario.launch.py scenario:=microgrid (config/microgrid.yaml); every argument of
swarm.launch.py still overrides the YAML. Embedded: distopt-swarm --config config/microgrid.yaml.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("distopt_ros")
    return LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "swarm.launch.py")),
        launch_arguments={"config": os.path.join(share, "config", "microgrid.yaml")}.items(),
    )])
