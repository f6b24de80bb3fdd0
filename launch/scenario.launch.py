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

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from distopt_ros.launch_support import include_scenario
from launch import LaunchDescription


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("scenario", default_value="consensus",
                              description="Scenario = the name of a YAML in the package's config/ directory "
                                          "(e.g. consensus, lossy_radio, microgrid, quantized_digraph, tracking)"),
        OpaqueFunction(function=lambda context: include_scenario(LaunchConfiguration("scenario").perform(context))),
    ])
