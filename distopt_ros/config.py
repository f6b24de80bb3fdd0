"""Reading the ROS 2 parameter YAML files of ``config/`` without ROS.

The files use the standard ``ros__parameters`` layout, so ``ros2 launch`` can pass them to
nodes unchanged; the embedded runner and the simulator CLI read the same files here.
Parameters under ``/**`` apply to every node; a section named after a node (e.g.
``robot_node`` or ``/**/coordinator_node``) adds or overrides parameters for that node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WILDCARD = "/**"


def load_params(path: str | Path, node_name: str | None = None) -> dict[str, Any]:
    """Flat parameter dict for ``node_name`` (or the shared ``/**`` section only)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must map node names to {{ros__parameters: ...}}")
    params: dict[str, Any] = {}
    sections = [WILDCARD]
    if node_name:
        sections += [node_name, f"/**/{node_name}", f"/{node_name}"]
    for key in sections:
        section = data.get(key)
        if section is None:
            continue
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"config file {p}: section {key!r} must contain a ros__parameters mapping")
        params.update(section["ros__parameters"])
    return params


def parse_override(text: str) -> tuple[str, Any]:
    """``name:=value`` (ROS style) or ``name=value`` -> (name, YAML-typed value)."""
    sep = ":=" if ":=" in text else "="
    name, _, raw = text.partition(sep)
    if not name or not _:
        raise ValueError(f"parameter override must look like name:=value, got {text!r}")
    return name.strip(), yaml.safe_load(raw)


def default_config(name: str = "consensus.yaml") -> Path:
    """Where a shipped config lives: the source tree, the ament share dir, or pip's data dir."""
    candidates = [Path(__file__).resolve().parents[1] / "config" / name]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("distopt_ros")) / "config" / name)
    except Exception:  # no ament index (plain pip install) or package not in it
        pass
    import sys

    candidates.append(Path(sys.prefix) / "share" / "distopt_ros" / "config" / name)
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]
