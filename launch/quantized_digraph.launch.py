"""Seed 004's quantized digraph: QuDRC-ALADIN least squares over a random strongly
connected digraph, exact integer payloads to out-neighbours only.

    ros2 launch distopt_ros quantized_digraph.launch.py
    ros2 launch distopt_ros quantized_digraph.launch.py num_robots:=6 seed:=2

Shorthand for scenario.launch.py scenario:=quantized_digraph (config/quantized_digraph.yaml); every argument of
swarm.launch.py still overrides the YAML. Embedded: distopt-swarm --config config/quantized_digraph.yaml.
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
        launch_arguments={"config": os.path.join(share, "config", "quantized_digraph.yaml")}.items(),
    )])
