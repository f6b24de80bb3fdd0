"""The logic of the launch files in ``launch/``, kept here so that tests reach it (no launch_ros in CI).

The launch files are thin: they declare :func:`declare_arguments` and hand everything to one
``OpaqueFunction`` that calls :func:`swarm_actions` or :func:`tracking_actions`. What those do:

* every launch argument is a schema parameter (plus ``config``, ``log_level`` and a few
  launch-only switches), typed and checked by the schema; an unknown argument, a bad value,
  or a combination a node would refuse stops the launch with one line naming it, before any
  node starts (:func:`plan_swarm`);
* a one-shot swarm (every problem but tracking) ends by itself: the robots exit once their
  swarm has stopped, the ``swarm_monitor`` prints the summary and exits, and its exit shuts
  the launch down; a node that fails (exit code other than 0, or 3 for "stopped without
  converging", which the monitor reports) stops the launch with a line naming it, and
  ``ros2 launch`` exits 1 (:func:`exit_verdict`).

Only the functions that build launch actions import ``launch``/``launch_ros``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from distopt_ros.config import swarm_parameters
from distopt_ros.core.scenario import SwarmConfig
from distopt_ros.core.schema import PARAMETERS, SCHEMA, Param, ParameterError, suggest
from distopt_ros.ros.exit_codes import EXIT_BAD_PARAMETER, EXIT_FAILURE, EXIT_NOT_CONVERGED, EXIT_OK

SWARM_GROUPS = ("scenario", "transport", "node")
TRACKING_GROUPS = (*SWARM_GROUPS, "tracking", "target", "kinematics", "visualization")
PER_ROBOT = ("robot_id", "initial_x", "initial_y", "initial_theta")
"""Set by the launch file for each robot: not launch arguments."""
LAUNCH_ONLY = {
    "config": "Parameter YAML (ros__parameters under '/**:' or node-specific sections)",
    "log_level": "Node log level (debug, info, warn, error)",
}
INCLUDED_BY = ("scenario",)
"""Arguments of the launch files that include swarm.launch.py or tracking.launch.py."""
TRACKING_ONLY = {
    "rviz": "Start RViz with config/swarm.rviz (needs the rviz2 package)",
    "simulate": "Start a kinematic simulator per robot (false on real robots: the driver's odom and cmd_vel)",
}
EXIT_TEXT = {
    EXIT_FAILURE: "failed",
    EXIT_BAD_PARAMETER: "refused a parameter",
    EXIT_NOT_CONVERGED: "stopped without converging",
    -11: "crashed (segmentation fault)",
    -9: "was killed",
}


def launch_parameters(groups: Iterable[str] = SWARM_GROUPS) -> tuple[Param, ...]:
    """The schema parameters a launch argument may override on every node."""
    wanted = set(groups)
    return tuple(p for p in PARAMETERS if p.group in wanted and p.name not in PER_ROBOT)


def argument_specs(groups: Iterable[str] = SWARM_GROUPS, extra: Mapping[str, str] | None = None) \
        -> list[tuple[str, str]]:
    """``(name, description)`` of every launch argument (empty default = keep the YAML's value)."""
    specs = [(name, text) for name, text in {**LAUNCH_ONLY, **(extra or {})}.items()]
    for p in launch_parameters(groups):
        specs.append((p.name, f"{p.description}; must be {p.allowed()} (default {p.default!r}; empty = the YAML's)"))
    return specs


def parse_arguments(texts: Mapping[str, str], groups: Iterable[str] = SWARM_GROUPS,
                    known: Iterable[str] = ()) -> dict[str, Any]:
    """The given (non-empty) launch arguments as checked parameter values; ParameterError naming a bad one.

    ``known`` are further names that are not parameters (``config``, ``rviz``, ...). Any other
    name is refused with a "did you mean": ``ros2 launch`` itself ignores a misspelled argument.
    """
    by_name = {p.name: p for p in launch_parameters(groups)}
    allowed = {*by_name, *LAUNCH_ONLY, *INCLUDED_BY, *known}
    out: dict[str, Any] = {}
    for name, text in texts.items():
        if name not in allowed:
            raise ParameterError(f"unknown launch argument {name!r}{suggest(name, allowed)}")
        if name in by_name and text != "":
            try:
                out[name] = by_name[name].parse(text)
            except ParameterError as exc:
                raise ParameterError(f"launch argument {exc}") from None
    return out


@dataclass(frozen=True)
class SwarmPlan:
    """What a launch will start, validated: the config file, the overrides, every node's parameters."""

    config: str
    overrides: dict[str, Any]
    swarm: SwarmConfig
    per_node: dict[str, dict[str, Any]]

    @property
    def one_shot(self) -> bool:
        """True when the swarm stops by itself (a tolerance to reach or a finite cap), so the launch can end."""
        return self.swarm.tolerance > 0 or self.swarm.max_iterations < 10**8

    @property
    def keep_alive(self) -> bool:
        return bool(self.per_node.get("/robot_0/robot_node", {}).get("keep_alive", False))


def plan_swarm(config: str, texts: Mapping[str, str], groups: Iterable[str] = SWARM_GROUPS,
               known: Iterable[str] = ()) -> SwarmPlan:
    """Validate every launch argument and the whole configuration before any node starts."""
    overrides = parse_arguments(texts, groups, known)
    params, per_node = swarm_parameters(config, overrides)
    return SwarmPlan(config, overrides, SwarmConfig.from_mapping(params), per_node)


def exit_verdict(node_name: str, returncode: int, monitor: bool, keep_alive: bool = False) -> str | None:
    """What the launch does when a node exits: ``"shutdown"``, None (nothing), or the failure line to stop with."""
    if returncode == EXIT_OK:
        return "shutdown" if monitor and not keep_alive else None
    if returncode == EXIT_NOT_CONVERGED and not monitor:
        return None  # the monitor reports a swarm that stopped without converging
    what = "the swarm stopped without converging" if monitor else EXIT_TEXT.get(returncode, "exited")
    return f"{node_name}: {what} (exit code {returncode}); see its output above"


# ---------------------------------------------------------------------------------------------- launch actions
def declare_arguments(default_config: str, groups: Iterable[str] = SWARM_GROUPS,
                      extra: Mapping[str, str] | None = None) -> list[Any]:
    """``DeclareLaunchArgument`` for :func:`argument_specs` (``config`` defaults to ``default_config``)."""
    from launch.actions import DeclareLaunchArgument

    defaults = {"config": default_config, "log_level": "info", "rviz": "false", "simulate": "true"}
    return [DeclareLaunchArgument(name, default_value=defaults.get(name, ""), description=text)
            for name, text in argument_specs(groups, extra)]


def _texts(context: Any) -> dict[str, str]:
    """Every launch configuration given to this launch (declared or not), as text."""
    return {str(k): str(v) for k, v in context.launch_configurations.items()}


def _on_exit_handler(plan: SwarmPlan, monitor_name: str) -> Any:
    from launch.actions import EmitEvent
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown

    def on_exit(event: Any, context: Any) -> Any:
        if context.is_shutdown:
            return None  # what launch stops at shutdown is not a failure
        name = getattr(event.action, "node_name", None) or event.action.name
        verdict = exit_verdict(name, event.returncode, name == monitor_name, plan.keep_alive)
        if verdict == "shutdown":
            return [EmitEvent(event=Shutdown(reason="the swarm has stopped"))]
        if verdict is not None:
            raise RuntimeError(verdict)  # launch prints this line, stops every node, exits 1
        return None

    return OnProcessExit(on_exit=on_exit)


def swarm_actions(context: Any) -> list[Any]:
    """swarm.launch.py: robots (and coordinator) from the validated plan, the monitor, the exit handling."""
    from launch.actions import RegisterEventHandler
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    texts = _texts(context)
    plan = plan_swarm(LaunchConfiguration("config").perform(context), texts)
    log = ["--ros-args", "--log-level", texts.get("log_level", "info")]
    actions: list[Any] = []
    if plan.swarm.has_coordinator:
        actions.append(Node(package="distopt_ros", executable="coordinator_node", name="coordinator_node",
                            namespace="coordinator", output="screen", arguments=log,
                            parameters=[plan.config, plan.overrides]))
    for i in range(plan.swarm.num_robots):  # node-specific sections of the YAML apply as ROS 2 applies them
        actions.append(Node(package="distopt_ros", executable="robot_node", name="robot_node",
                            namespace=f"robot_{i}", output="screen", arguments=log,
                            parameters=[plan.config, plan.overrides, {"robot_id": i}]))
    if plan.one_shot:
        actions.append(Node(package="distopt_ros", executable="swarm_monitor", name="swarm_monitor",
                            output="screen", arguments=log, parameters=[plan.config, plan.overrides]))
    actions.append(RegisterEventHandler(_on_exit_handler(plan, "/swarm_monitor")))
    return actions


def tracking_actions(context: Any) -> list[Any]:
    """tracking.launch.py: target, per robot a simulator and a tracking robot, auctioneer, markers, RViz."""
    from launch.actions import RegisterEventHandler
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from distopt_ros.core.tracking import initial_positions

    texts = _texts(context)
    plan = plan_swarm(LaunchConfiguration("config").perform(context), texts, TRACKING_GROUPS, TRACKING_ONLY)
    from ament_index_python.packages import get_package_share_directory

    values = plan.per_node["/robot_0/robot_node"]
    n = plan.swarm.num_robots
    starts = initial_positions(n, float(values.get("start_radius", 6.0)), plan.swarm.seed)
    switch = {k: texts.get(k, "").lower() in ("true", "1", "yes") for k in TRACKING_ONLY}
    for key in TRACKING_ONLY:
        if texts.get(key, "false").lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ParameterError(f"launch argument {key} must be true or false, got {texts[key]!r}")
    shared = [plan.config, plan.overrides]
    actions: list[Any] = [Node(package="distopt_ros", executable="target_node", name="target_node",
                               namespace="target", parameters=shared, output="screen")]
    if plan.swarm.has_coordinator:  # centroid task by price: the auctioneer
        actions.append(Node(package="distopt_ros", executable="tracking_coordinator", name="coordinator_node",
                            namespace="coordinator", parameters=shared, output="screen"))
    for i in range(n):
        own = {"robot_id": i, "initial_x": float(starts[i, 0]), "initial_y": float(starts[i, 1])}
        mine = [*shared, own]
        if switch["simulate"]:
            actions.append(Node(package="distopt_ros", executable="kinematics_node", name="kinematics_node",
                                namespace=f"robot_{i}", parameters=mine, output="screen"))
        actions.append(Node(package="distopt_ros", executable="tracking_node", name="robot_node",
                            namespace=f"robot_{i}", parameters=mine, output="screen"))
    actions.append(Node(package="distopt_ros", executable="visualization_node", name="visualization_node",
                        parameters=shared, output="screen"))
    if switch["rviz"]:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix

        try:
            get_package_prefix("rviz2")
        except PackageNotFoundError:
            raise ParameterError("launch argument rviz:=true needs the rviz2 package, which is not installed "
                                 "(e.g. apt install ros-$ROS_DISTRO-rviz2); start without rviz:=true") from None
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                            arguments=["-d", os.path.join(get_package_share_directory("distopt_ros"), "config",
                                                     "swarm.rviz")]))
    actions.append(RegisterEventHandler(_on_exit_handler(plan, "")))
    return actions


ROBOT_ARGUMENTS = {
    "robot_id": "This robot's id (an integer in [0, num_robots))",
    "params_file": "This robot's parameter YAML (its section /robot_<id>/robot_node or /**)",
    "namespace": "The robot's namespace (default robot_<robot_id>; peers find it by that name)",
    "log_level": "Node log level (debug, info, warn, error)",
}


def declare_robot_arguments() -> list[Any]:
    """The arguments of robot.launch.py."""
    from launch.actions import DeclareLaunchArgument

    defaults = {"namespace": "", "log_level": "info"}
    return [DeclareLaunchArgument(name, description=text, **({"default_value": defaults[name]}
                                                              if name in defaults else {}))
            for name, text in ROBOT_ARGUMENTS.items()]


def plan_robot(texts: Mapping[str, str]) -> tuple[int, str, dict[str, Any]]:
    """robot.launch.py's checks before the node starts: ``(robot_id, namespace, parameters)``.

    The robot's parameters are what its file gives its node (``/robot_<id>/robot_node``);
    they are validated as the node would, its objective built once (so an import error or
    a refused constructor argument stops the launch here, with one line).
    """
    from distopt_ros.config import load_params
    from distopt_ros.core.objectives import make_objective
    from distopt_ros.core.scenario import make_robot_agent, validate_parameters

    unknown = [k for k in texts if k not in ROBOT_ARGUMENTS]
    if unknown:
        raise ParameterError(f"unknown launch argument {unknown[0]!r}{suggest(unknown[0], ROBOT_ARGUMENTS)}")
    rid = SCHEMA["robot_id"].parse(texts.get("robot_id", ""))
    namespace = texts.get("namespace") or f"robot_{rid}"
    params = load_params(texts["params_file"], f"/{namespace}/robot_node") if texts.get("params_file") else {}
    params["robot_id"] = rid
    cfg, values = validate_parameters(params, where=texts.get("params_file", ""))
    objective = make_objective(values["objective"], values.get("objective_params", {}), cfg.dim) \
        if values.get("objective") else None
    make_robot_agent(cfg, rid, objective, values.get("neighbors", ()), values.get("diameter_bound", 0))
    return rid, namespace, values


def robot_actions(context: Any) -> list[Any]:
    """robot.launch.py: one robot_node from its own file; its failure ends the launch with exit 1."""
    from launch.actions import RegisterEventHandler
    from launch_ros.actions import Node

    texts = _texts(context)
    rid, namespace, values = plan_robot(texts)
    plan = SwarmPlan(texts.get("params_file", ""), {}, SwarmConfig.from_mapping(values),
                     {f"/{namespace}/robot_node": values})
    params = [texts["params_file"]] if texts.get("params_file") else []
    return [Node(package="distopt_ros", executable="robot_node", name="robot_node", namespace=namespace,
                 output="screen", parameters=[*params, {"robot_id": rid}],
                 arguments=["--ros-args", "--log-level", texts.get("log_level", "info")]),
            RegisterEventHandler(_on_exit_handler(plan, ""))]


def include_scenario(name: str) -> list[Any]:
    """Launch ``config/<name>.yaml`` of the installed package with the launch file that fits it."""
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    share = get_package_share_directory("distopt_ros")
    config = os.path.join(share, "config", f"{name}.yaml")
    if not os.path.isfile(config):
        known = sorted(f[:-5] for f in os.listdir(os.path.join(share, "config")) if f.endswith(".yaml"))
        raise ParameterError(f"scenario must be one of {', '.join(known)}, got {name!r}")
    with open(config) as fh:
        shared = (yaml.safe_load(fh) or {}).get("/**", {}).get("ros__parameters", {})
    launch_file = "tracking.launch.py" if "target_kind" in shared else "swarm.launch.py"
    return [IncludeLaunchDescription(PythonLaunchDescriptionSource(os.path.join(share, "launch", launch_file)),
                                     launch_arguments={"config": config}.items())]
