"""ROS parameters of the distopt_ros nodes, declared from the one schema (``distopt_ros.core.schema``).

Every descriptor carries the schema's description, its scope and live tunability, and the
allowed values as ``additional_constraints`` (``ros2 param describe`` shows them). The
values are checked by the schema, not by rclpy's numeric ranges, so a refusal always has the
schema's wording (``rho must be a finite number > 0, got -1.0``), at start-up and when a
parameter is set while running, and an integer is accepted for a float parameter (as
``ros2 param set ... rho 2`` sends it): it is stored as a float.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from distopt_ros.core.scenario import SwarmConfig
from distopt_ros.core.schema import NODE, ROBOT, SWARM, Param, check_known, for_node

_SCOPE_TEXT = {
    SWARM: "swarm-wide: the same on every robot",
    ROBOT: "per robot",
    NODE: "this node only",
}
_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
          str: Parameter.Type.STRING, list: Parameter.Type.DOUBLE_ARRAY}


def descriptor(spec: Param) -> ParameterDescriptor:
    """The ROS descriptor of a schema parameter: description, scope, live tunability, allowed values."""
    if "*" in spec.live:
        live = "tunable while running on this robot"
    elif spec.live:
        live = f"tunable while running ({', '.join(spec.live)})"
        if spec.scope == SWARM:
            live += "; set on one robot, it reaches every robot and takes effect at the same round"
    else:
        live = "read at start-up"
    used = f"; used by {', '.join(spec.algorithms)}" if spec.algorithms else ""
    return ParameterDescriptor(
        description=f"{spec.description} [{_SCOPE_TEXT[spec.scope]}; {live}{used}]",
        additional_constraints=f"must be {spec.allowed()}",
        dynamic_typing=True,  # the schema checks the type, so an integer for a float is converted, not refused
    )


def flatten(values: dict[str, Any]) -> dict[str, Any]:
    """Mapping parameters as ROS 2 flattens them (``objective_params.weight``), everything else as is."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def to_ros(spec: Param, value: Any) -> Parameter:
    """``value`` (already checked) as a ROS parameter of the schema's type."""
    kind = Parameter.Type.INTEGER_ARRAY if spec.type is list and spec.item is int else _TYPES[spec.type]
    return Parameter(spec.name, kind, value)


def declare(node: Node, specs: Iterable[Param]) -> dict[str, Any]:
    """Declare ``specs`` on ``node`` and return their checked values (ParameterError naming a bad one).

    A mapping parameter (``objective_params``) is what ROS 2 makes of a YAML mapping: one
    parameter per entry, ``objective_params.<key>``, each declared as given.
    """
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.type is dict:
            prefix = f"{spec.name}."
            entries = {k[len(prefix):]: v for k, v in node_overrides(node).items() if k.startswith(prefix)}
            for key, value in entries.items():
                node.declare_parameter(prefix + key, value, ParameterDescriptor(
                    description=f"{spec.name}: {key}", dynamic_typing=True))
            values[spec.name] = spec.check(entries)
            continue
        param = node.declare_parameter(spec.name, to_ros(spec, spec.default).value, descriptor(spec))
        raw = param.value
        value = spec.check(list(raw) if spec.type is list and raw is not None else raw)
        if type(value) is not type(raw) or spec.type is list:
            node.set_parameters([to_ros(spec, value)])  # stored with the schema's type (2 -> 2.0)
        values[spec.name] = value
    return values


def node_overrides(node: Node) -> dict[str, Any]:
    """The parameter values this node was started with (params files, ``-p``, launch)."""
    return {name: p.value for name, p in getattr(node, "_parameter_overrides", {}).items()}


def declare_node(node: Node, kind: str, groups: Iterable[str] | None = None) -> dict[str, Any]:
    """Refuse unknown parameter names given to ``node``, then declare what ``kind`` reads."""
    check_known(node_overrides(node), where=f"node {node.get_fully_qualified_name()}")
    return declare(node, for_node(kind, groups))


def declare_swarm(node: Node, kind: str = "robot_node") -> tuple[SwarmConfig, dict[str, Any]]:
    """Declare the scenario, transport and node parameters; the validated config and the other values."""
    values = declare_node(node, kind, ("scenario", "robot", "transport", "node"))
    return SwarmConfig.from_mapping(values), values

