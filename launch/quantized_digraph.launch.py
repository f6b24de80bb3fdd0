"""Quantized digraph: QuDRC-ALADIN least squares over a random strongly
connected digraph, exact integer payloads to out-neighbours only.

    ros2 launch distopt_ros quantized_digraph.launch.py
    ros2 launch distopt_ros quantized_digraph.launch.py num_robots:=6 seed:=2

Shorthand for scenario.launch.py scenario:=quantized_digraph (config/quantized_digraph.yaml); every argument of
swarm.launch.py still overrides the YAML. Embedded: distopt-swarm --config config/quantized_digraph.yaml.
"""

from distopt_ros.launch_support import include_scenario
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription(include_scenario("quantized_digraph"))
