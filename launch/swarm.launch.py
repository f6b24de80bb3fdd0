"""Launch a distopt_ros swarm: one robot node per robot (and a coordinator for star forms).

    ros2 launch distopt_ros swarm.launch.py num_robots:=8 topology:=ring algorithm:=radmm
    ros2 launch distopt_ros swarm.launch.py config:=/path/to/my.yaml seed:=3

Parameters come from the YAML ``config`` (``ros__parameters`` under ``/**``); the launch
arguments override num_robots, topology, seed and algorithm on every node, so all nodes
agree on the scenario. The embedded runner (``distopt-swarm``) runs the same YAML
without launch_ros.
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

STAR_ALGORITHMS = {"admm"}


def _config_value(path, name, default):
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    return data.get("/**", {}).get("ros__parameters", {}).get(name, default)


def _nodes(context):
    config = LaunchConfiguration("config").perform(context)
    overrides = {}
    for name, cast in (("num_robots", int), ("topology", str), ("seed", int), ("algorithm", str)):
        text = LaunchConfiguration(name).perform(context)
        if text != "":
            overrides[name] = cast(text)
    num_robots = overrides.get("num_robots", _config_value(config, "num_robots", 8))
    algorithm = overrides.get("algorithm", _config_value(config, "algorithm", "radmm"))
    log_level = LaunchConfiguration("log_level").perform(context)
    actions = []
    if algorithm in STAR_ALGORITHMS:
        actions.append(Node(
            package="distopt_ros", executable="coordinator_node", name="coordinator_node",
            namespace="coordinator", parameters=[config, overrides], output="screen",
            arguments=["--ros-args", "--log-level", log_level],
        ))
    for i in range(int(num_robots)):
        actions.append(Node(
            package="distopt_ros", executable="robot_node", name="robot_node",
            namespace=f"robot_{i}", parameters=[config, overrides, {"robot_id": i}], output="screen",
            arguments=["--ros-args", "--log-level", log_level],
        ))
    return actions


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory("distopt_ros"), "config", "consensus.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=default_config,
                              description="Parameter YAML (ros__parameters under /**)"),
        DeclareLaunchArgument("num_robots", default_value="", description="Override num_robots"),
        DeclareLaunchArgument("topology", default_value="",
                              description="Override topology: ring, path, star, complete, grid, "
                                          "random_geometric, erdos_renyi"),
        DeclareLaunchArgument("seed", default_value="", description="Override the scenario seed"),
        DeclareLaunchArgument("algorithm", default_value="",
                              description="Override algorithm: radmm (decentralized) or admm (coordinator)"),
        DeclareLaunchArgument("log_level", default_value="info", description="Node log level"),
        OpaqueFunction(function=_nodes),
    ])
