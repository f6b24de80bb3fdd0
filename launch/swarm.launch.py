"""Launch a distopt_ros swarm: one robot node per robot (and a coordinator for star forms).

    ros2 launch distopt_ros swarm.launch.py num_robots:=8 topology:=ring algorithm:=radmm
    ros2 launch distopt_ros swarm.launch.py config:=/path/to/my.yaml seed:=3
    ros2 launch distopt_ros swarm.launch.py \
        config:=$(ros2 pkg prefix distopt_ros)/share/distopt_ros/config/microgrid.yaml
    ros2 launch distopt_ros swarm.launch.py qos_preset:=lossy_radio loss:=bernoulli loss_probability:=0.3 \
        execution_mode:=async activation_probability:=0.5

Parameters come from the YAML ``config`` (``ros__parameters`` under ``/**``); the launch
arguments override num_robots, topology, seed and algorithm on every node, so all nodes
agree on the scenario. The embedded runner (``distopt-swarm``) runs the same YAML
without launch_ros.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from distopt_ros.core.graphs import DIRECTED_TOPOLOGIES, TOPOLOGIES
from distopt_ros.core.registry import ALGORITHM_SPECS, get_spec
from distopt_ros.core.scenario import PROBLEMS
from distopt_ros.launch_support import overrides as launch_overrides
from distopt_ros.launch_support import shared_parameters
from launch import LaunchDescription

# Launch arguments that override the YAML on every node (empty = keep the YAML's value).
OVERRIDES = (("num_robots", int), ("topology", str), ("seed", int), ("algorithm", str), ("problem", str),
             ("qos_preset", str), ("loss", str), ("loss_probability", float), ("execution_mode", str),
             ("activation_probability", float), ("round_timeout", float))


def _config_value(path, name, default):
    return shared_parameters(path).get(name, default)


def _nodes(context):
    config = LaunchConfiguration("config").perform(context)
    overrides = launch_overrides(context, OVERRIDES)
    num_robots = overrides.get("num_robots", _config_value(config, "num_robots", 8))
    algorithm = overrides.get("algorithm", _config_value(config, "algorithm", "radmm"))
    log_level = LaunchConfiguration("log_level").perform(context)
    actions = []
    if get_spec(algorithm).has_coordinator:
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
                              description=f"Override topology: {', '.join(TOPOLOGIES)}; "
                                          f"for qudrc: {', '.join(DIRECTED_TOPOLOGIES)}"),
        DeclareLaunchArgument("seed", default_value="", description="Override the scenario seed"),
        DeclareLaunchArgument("algorithm", default_value="",
                              description="Override algorithm: " + "; ".join(
                                  f"{name} = {spec.description}" for name, spec in ALGORITHM_SPECS.items())),
        DeclareLaunchArgument("problem", default_value="",
                              description=f"Override problem: {', '.join(PROBLEMS)}"),
        DeclareLaunchArgument("qos_preset", default_value="", description="QoS preset: reliable or lossy_radio"),
        DeclareLaunchArgument("loss", default_value="", description="Radio loss model: none, bernoulli, "
                                                                    "gilbert_elliott"),
        DeclareLaunchArgument("loss_probability", default_value="", description="Loss rate in [0, 1]"),
        DeclareLaunchArgument("execution_mode", default_value="", description="sync or async"),
        DeclareLaunchArgument("activation_probability", default_value="",
                              description="async: chance to wake up per step_period"),
        DeclareLaunchArgument("round_timeout", default_value="",
                              description="sync: seconds before a late round is skipped or re-requested"),
        DeclareLaunchArgument("log_level", default_value="info", description="Node log level"),
        OpaqueFunction(function=_nodes),
    ])
