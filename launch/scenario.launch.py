"""Launch a named scenario: ``config/<scenario>.yaml`` through swarm.launch.py.

    ros2 launch distopt_ros scenario.launch.py scenario:=microgrid
    ros2 launch distopt_ros scenario.launch.py scenario:=quantized_digraph num_robots:=6
    ros2 launch distopt_ros scenario.launch.py scenario:=lossy_radio loss_probability:=0.3

Every argument of swarm.launch.py (num_robots, topology, seed, algorithm, problem,
qos_preset, loss, loss_probability, execution_mode, activation_probability, round_timeout,
log_level) still overrides the scenario's YAML. Scenarios with a moving target
(``tracking``, ``centroid_tracking``) go through tracking.launch.py instead. The embedded
equivalent without launch_ros: ``python -m distopt_ros.ros.runner --config
config/<scenario>.yaml`` (``python -m distopt_ros.ros.tracking_runner`` for tracking).
"""

import os

import yaml
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
    with open(config) as fh:
        moving = "target_kind" in ((yaml.safe_load(fh) or {}).get("/**", {}).get("ros__parameters", {}))
    launch_file = "tracking.launch.py" if moving else "swarm.launch.py"
    return [IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", launch_file)),
        launch_arguments={"config": config}.items(),
    )]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("scenario", default_value="consensus",
                              description="Scenario = the name of a YAML in the package's config/ directory "
                                          "(e.g. consensus, lossy_radio, microgrid, quantized_digraph, tracking)"),
        OpaqueFunction(function=_include),
    ])
