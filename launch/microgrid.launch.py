"""The microgrid problem: constraint-coupled primal-dual with consensus-ADMM proxies (asynchronous, robust form),
asynchronous robots over a lossy radio (30 % Bernoulli loss, 50 % activation).

    ros2 launch distopt_ros microgrid.launch.py
    ros2 launch distopt_ros microgrid.launch.py num_robots:=6 seed:=2

Shorthand for scenario.launch.py scenario:=microgrid (config/microgrid.yaml); every argument of
swarm.launch.py still overrides the YAML. Embedded: distopt-swarm --config config/microgrid.yaml.
"""

from distopt_ros.launch_support import include_scenario
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription(include_scenario("microgrid"))
