"""Reading ROS 2 parameter YAML files without ROS, with the rules ROS 2 applies to them.

The files use the standard ``ros__parameters`` layout, so ``ros2 launch`` and ``--params-file``
pass them to nodes unchanged; the embedded runner and the simulator CLI read the same files
here and see what a node would see:

* a section's key is a node pattern matched against the node's fully qualified name:
  ``/**`` (every node), ``/**/robot_node`` (every robot), ``/robot_3/robot_node`` (one robot),
  ``*`` for one namespace token; a key without a leading ``/`` is rooted (``robot_node`` is
  ``/robot_node``). Matching sections are merged in file order, later ones winning;
* scalars are typed as ROS 2's parameter parser types them: ``1e-6`` is a float (YAML 1.1
  alone would make it a string), ``'1'`` is a string;
* unlike ROS 2, which ignores names no node declares, an unknown name is refused with a
  "did you mean" (a misspelled ``rhoo`` would otherwise silently keep the default).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from distopt_ros.core.schema import ParameterError, check_known

WILDCARD = "/**"
ROBOT_FQN = "/robot_{}/robot_node"
"""Fully qualified name of robot ``i``'s node, as the launch files and the runner start it."""
COORDINATOR_FQN = "/coordinator/coordinator_node"


class _RosLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus the float forms ROS 2's parser accepts (``1e-6``, ``5E3``)."""


_RosLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def yaml_value(text: str) -> Any:
    """One scalar or list written as in a parameter file or after ``name:=``."""
    try:
        return yaml.load(text, Loader=_RosLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"not a YAML value: {text!r} ({exc})") from None


def read_sections(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """The ``(node pattern, parameters)`` sections of a parameter file, in file order, names checked."""
    p = Path(path)
    try:
        data = yaml.load(p.read_text(), Loader=_RosLoader)
    except FileNotFoundError:
        raise ParameterError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ParameterError(f"config file {p} is a directory") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"config file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ParameterError(f"config file {p} must map node names to {{ros__parameters: ...}} (e.g. '/**:')")
    if "ros__parameters" in data:
        raise ParameterError(f"config file {p}: ros__parameters must sit under a node name; "
                             "put it under '/**:' to apply to every node")
    sections = []
    for key, section in data.items():
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ParameterError(f"config file {p}: section {key!r} must contain a ros__parameters mapping")
        extra = set(section) - {"ros__parameters"}
        if extra:
            raise ParameterError(f"config file {p}: section {key!r} has {sorted(extra)} beside ros__parameters")
        params = section["ros__parameters"]
        check_known(params, where=f"{p}, section {key!r}")
        sections.append((str(key), dict(params)))
    return sections


def node_matches(pattern: str, fqn: str) -> bool:
    """True if the section key ``pattern`` applies to the node named ``fqn`` (ROS 2 wildcards)."""
    pat = [t for t in ("/" + pattern.lstrip("/")).split("/") if t]
    name = [t for t in fqn.split("/") if t]

    def match(i: int, j: int) -> bool:
        if i == len(pat):
            return j == len(name)
        if pat[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(name) + 1))
        return j < len(name) and (pat[i] == "*" or pat[i] == name[j]) and match(i + 1, j + 1)

    return match(0, 0)


def params_for_node(sections: list[tuple[str, dict[str, Any]]], fqn: str) -> dict[str, Any]:
    """What node ``fqn`` receives from a file's sections: the matching ones merged in order."""
    out: dict[str, Any] = {}
    for key, params in sections:
        if node_matches(key, fqn):
            out.update(params)
    return out


def load_params(path: str | Path, node: str = ROBOT_FQN.format(0)) -> dict[str, Any]:
    """The flat parameters node ``node`` (default: robot 0's) gets from the file at ``path``.

    A file none of whose sections applies to that node is refused: ROS 2 would silently
    start it with defaults (a section ``robot_node:`` applies only to ``/robot_node``).
    """
    sections = read_sections(path)
    if not any(node_matches(k, node) for k, _ in sections):
        keys = ", ".join(repr(k) for k, _ in sections)
        raise ParameterError(f"config file {path}: no section applies to {node}; found {keys}: use '/**:' "
                             "(every node), '/**/robot_node:' (every robot) or the node's full name")
    return params_for_node(sections, node)


def check_sections_agree(sections: list[tuple[str, dict[str, Any]]], num_robots: int, path: str | Path) -> None:
    """Refuse a file whose node-specific sections give robots different values of a swarm-wide parameter."""
    from distopt_ros.core.schema import SCHEMA, SWARM

    first = params_for_node(sections, ROBOT_FQN.format(0))
    for i in range(1, num_robots):
        mine = params_for_node(sections, ROBOT_FQN.format(i))
        for name in set(first) | set(mine):
            spec = SCHEMA.get(name)
            if spec is not None and spec.scope == SWARM and first.get(name) != mine.get(name):
                raise ParameterError(f"{name} must be the same on every robot (it is swarm-wide), got "
                                     f"{first.get(name)!r} on robot 0 and {mine.get(name)!r} on robot {i} "
                                     f"in {path}")


def swarm_parameters(config_file: str | Path, overrides: dict[str, Any]) \
        -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Robot 0's parameters and every node's own (by fully qualified name), as ROS 2 would hand them out.

    Node-specific sections (``/robot_3/robot_node:``, ``/**/robot_node:``) apply as in ROS 2;
    a swarm-wide parameter that they would make differ between robots is refused.
    """
    from distopt_ros.core.scenario import validate_parameters  # the scenario imports the algorithms: only here

    path = resolve_config(config_file)
    sections = read_sections(path)
    params = {**load_params(path), **overrides}
    cfg, _ = validate_parameters(params, where=str(path))
    check_sections_agree([*sections, ("/**", overrides)], cfg.num_robots, path)
    per_node = {fqn: {**params_for_node(sections, fqn), **overrides}
                for fqn in [ROBOT_FQN.format(i) for i in range(cfg.num_robots)] + [COORDINATOR_FQN]}
    for fqn, values in per_node.items():
        validate_parameters(values, where=f"{path} for {fqn}")
    return params, per_node


def parse_override(text: str) -> tuple[str, Any]:
    """``name:=value`` (ROS style) or ``name=value`` -> (name, value typed as in a parameter file)."""
    sep = ":=" if ":=" in text else "="
    name, found, raw = text.partition(sep)
    if not name or not found:
        raise ParameterError(f"parameter override must look like name:=value, got {text!r}")
    name = name.strip()
    check_known({name: None})
    return name, yaml_value(raw)


def shipped_configs() -> list[str]:
    """Names of the configurations shipped with the package (``consensus``, ``lossy_radio``, ...)."""
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def config_dir() -> Path:
    """Where the shipped configs live: the source tree, the ament share dir, or pip's data dir."""
    return default_config().parent


def resolve_config(name: str | Path) -> Path:
    """A config path as given, or the shipped config of that name (``consensus_star``, ``lossy_radio.yaml``)."""
    p = Path(name)
    if p.is_file():
        return p
    if p.parent == Path(".") and not p.exists():
        shipped = default_config(p.name if p.suffix == ".yaml" else f"{p.name}.yaml")
        if shipped.is_file():
            return shipped
        raise ParameterError(f"config file not found: {name} (shipped configs: {', '.join(shipped_configs())})")
    raise ParameterError(f"config file not found: {name}")


def default_config(name: str = "consensus.yaml") -> Path:
    """Where a shipped config lives: the source tree, the ament share dir, or pip's data dir."""
    candidates = [Path(__file__).resolve().parents[1] / "config" / name]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("distopt_ros")) / "config" / name)
    except Exception:  # no ament index (plain pip install) or package not in it
        pass
    candidates.append(Path(sys.prefix) / "share" / "distopt_ros" / "config" / name)
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]
