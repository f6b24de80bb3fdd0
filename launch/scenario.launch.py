"""Launch a named scenario: ``config/<scenario>.yaml`` through swarm.launch.py.

    ros2 launch distopt_ros scenario.launch.py scenario:=microgrid
    ros2 launch distopt_ros scenario.launch.py scenario:=quantized_digraph num_robots:=6
    ros2 launch distopt_ros scenario.launch.py scenario:=lossy_radio loss_probability:=0.3

Every argument of swarm.launch.py (num_robots, topology, seed, algorithm, problem,
qos_preset, loss, loss_probability, execution_mode, activation_probability, log_level)
still overrides the scenario's YAML. The embedded equivalent without launch_ros:
``distopt-swarm --config config/<scenario>.yaml``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription


def _include(context):
    share = get_package_share_directory("distopt_ros")
    scenario = LaunchConfiguration("scenario").perform(context)
    config = os.path.join(share, "config", f"{scenario}.yaml")
    if not os.path.isfile(config):
        known = sorted(f[:-5] for f in os.listdir(os.path.join(share, "config")) if f.endswith(".yaml"))
        raise RuntimeError(f"scenario must be one of {', '.join(known)}; got {scenario!r}")
    return [IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "swarm.launch.py")),
        launch_arguments={"config": config}.items(),
    )]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("scenario", default_value="consensus",
                              description="Scenario = a YAML in the package's config/: consensus, consensus_star, "
                                          "lossy_radio, microgrid, quantized_digraph, federated, price"),
        OpaqueFunction(function=_include),
    ])
