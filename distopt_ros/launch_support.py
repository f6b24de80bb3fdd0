"""What the launch files in ``launch/`` share (imported only there: it needs launch_ros).

Override arguments typed from their text, and the scenario include: a YAML of ``config/``
launched through swarm.launch.py, or through tracking.launch.py when it describes a moving
target.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import yaml


def overrides(context: Any, specs: Sequence[tuple[str, Callable[[str], Any]]]) -> dict[str, Any]:
    """The launch arguments in ``specs`` that were given (non-empty), cast; ValueError naming a bad one."""
    from launch.substitutions import LaunchConfiguration

    out: dict[str, Any] = {}
    for name, cast in specs:
        text = LaunchConfiguration(name).perform(context)
        if text != "":
            try:
                out[name] = cast(text)
            except ValueError:
                raise ValueError(f"launch argument {name} must be {cast.__name__}, got {text!r}") from None
    return out


def shared_parameters(config: str) -> dict[str, Any]:
    """The ``/**: ros__parameters`` section of a parameter YAML."""
    with open(config) as fh:
        return (yaml.safe_load(fh) or {}).get("/**", {}).get("ros__parameters", {})


def include_scenario(name: str) -> list[Any]:
    """Launch ``config/<name>.yaml`` of the installed package with the launch file that fits it."""
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    share = get_package_share_directory("distopt_ros")
    config = os.path.join(share, "config", f"{name}.yaml")
    if not os.path.isfile(config):
        known = sorted(f[:-5] for f in os.listdir(os.path.join(share, "config")) if f.endswith(".yaml"))
        raise RuntimeError(f"scenario must be one of {', '.join(known)}; got {name!r}")
    launch_file = "tracking.launch.py" if "target_kind" in shared_parameters(config) else "swarm.launch.py"
    return [IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(share, "launch", launch_file)),
                                     launch_arguments={"config": config}.items())]
