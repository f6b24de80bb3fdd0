"""The rendezvous example on one machine: five robots, each from its own file, and a monitor.

    ros2 launch examples/rendezvous/rendezvous.launch.py

Each robot is started exactly as a physical robot would start it, through the package's
``robot.launch.py`` with its own ``robot_<i>.yaml``; this file only adds the example's
directory to ``PYTHONPATH`` (so ``objective: rendezvous_costs:Rendezvous`` imports) and a
``swarm_monitor`` that knows the answer (computed here from all five files, which no robot
ever reads).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from launch import LaunchDescription

HERE = os.path.dirname(os.path.abspath(__file__))


def generate_launch_description():
    import sys

    sys.path.insert(0, HERE)
    from rendezvous_costs import Rendezvous, rendezvous_point

    from distopt_ros.config import load_params

    files = [os.path.join(HERE, f"robot_{i}.yaml") for i in range(5)]
    robots = [Rendezvous(**load_params(f, f"/robot_{i}/robot_node")["objective_params"]) for i, f in enumerate(files)]
    robot_launch = os.path.join(get_package_share_directory("distopt_ros"), "launch", "robot.launch.py")
    path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH", "")) if p)
    return LaunchDescription([
        SetEnvironmentVariable("PYTHONPATH", path),
        *(IncludeLaunchDescription(PythonLaunchDescriptionSource(robot_launch),
                                   launch_arguments={"robot_id": str(i), "params_file": f}.items())
          for i, f in enumerate(files)),
        Node(package="distopt_ros", executable="swarm_monitor", name="swarm_monitor", output="screen",
             parameters=[{"num_robots": 5, "dim": 2, "tolerance": 1e-10, "max_iterations": 5000,
                          "optimum": [float(v) for v in rendezvous_point(robots)]}]),
    ])
