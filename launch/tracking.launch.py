"""Moving robots track a moving target; RViz shows it with ``rviz:=true``.

    ros2 launch distopt_ros tracking.launch.py
    ros2 launch distopt_ros tracking.launch.py rviz:=true num_robots:=8 target_kind:=figure_eight
    ros2 launch distopt_ros tracking.launch.py model:=unicycle drive:=unicycle

Starts the target node (namespace ``target``), per robot a kinematic simulator
(``kinematics_node``: cmd_vel -> odom) and a tracking robot (``tracking_node``: observation +
odom -> consensus -> cmd_vel) in namespace ``robot_<i>``, the auctioneer
(``tracking_coordinator``) when the centroid task runs by price, the visualization node
(``/swarm_markers``) and, with ``rviz:=true``, RViz with ``config/swarm.rviz``. On real
robots, leave out the simulator (``simulate:=false``): the robot node reads the driver's
``odom`` and commands its ``cmd_vel``. All nodes read ``config`` (default
``config/tracking.yaml``); the embedded equivalent without launch_ros is
``python -m distopt_ros.ros.tracking_runner --config config/tracking.yaml``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from distopt_ros.core.registry import get_spec
from distopt_ros.core.tracking import initial_positions
from distopt_ros.launch_support import overrides as launch_overrides
from distopt_ros.launch_support import shared_parameters
from launch import LaunchDescription

OVERRIDES = (("num_robots", int), ("seed", int), ("algorithm", str), ("topology", str), ("target_kind", str),
             ("model", str), ("drive", str), ("gain", float))


def _nodes(context):
    config = LaunchConfiguration("config").perform(context)
    shared = shared_parameters(config)
    overrides = launch_overrides(context, OVERRIDES)
    values = {**shared, **overrides}
    n = int(values.get("num_robots", 6))
    starts = initial_positions(n, float(values.get("start_radius", 6.0)), int(values.get("seed", 0)))
    simulate = LaunchConfiguration("simulate").perform(context).lower() in ("true", "1", "yes")
    actions = [Node(package="distopt_ros", executable="target_node", name="target_node", namespace="target",
                    parameters=[config, overrides], output="screen")]
    if get_spec(str(values.get("algorithm", "radmm"))).has_coordinator:  # centroid task by price: the auctioneer
        actions.append(Node(package="distopt_ros", executable="tracking_coordinator", name="coordinator_node",
                            namespace="coordinator", parameters=[config, overrides], output="screen"))
    for i in range(n):
        own = {"robot_id": i, "initial_x": float(starts[i, 0]), "initial_y": float(starts[i, 1])}
        if simulate:
            actions.append(Node(package="distopt_ros", executable="kinematics_node", name="kinematics_node",
                                namespace=f"robot_{i}", parameters=[config, overrides, own], output="screen"))
        actions.append(Node(package="distopt_ros", executable="tracking_node", name="robot_node",
                            namespace=f"robot_{i}", parameters=[config, overrides, own], output="screen"))
    actions.append(Node(package="distopt_ros", executable="visualization_node", name="visualization_node",
                        parameters=[config, overrides], output="screen"))
    return actions


def generate_launch_description():
    share = get_package_share_directory("distopt_ros")
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "tracking.yaml"),
                              description="Parameter YAML shared by every node"),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz with config/swarm.rviz"),
        DeclareLaunchArgument("simulate", default_value="true",
                              description="Start a kinematic simulator per robot (false on real robots)"),
        *(DeclareLaunchArgument(name, default_value="", description=f"Override {name}") for name, _ in OVERRIDES),
        OpaqueFunction(function=_nodes),
        Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
             arguments=["-d", os.path.join(share, "config", "swarm.rviz")],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
