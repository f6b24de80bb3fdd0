"""A swarm scenario: the shared configuration every robot, the simulator and the monitor read.

A :class:`SwarmConfig` is the flat parameter set of ``config/*.yaml`` (the ``ros__parameters``
of every node). Each robot builds only its own agent from it (:func:`make_agent`); the
monitor and the tests rebuild the whole problem to know the centralized answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from distopt_ros.core.agent import Agent
from distopt_ros.core.graphs import TOPOLOGIES, Graph, make_graph
from distopt_ros.core.problems import Problem, target_fusion_problem
from distopt_ros.core.registry import ALGORITHM_SPECS, build_coordinator, get_spec
from distopt_ros.core.validation import at_least, in_open_interval, positive

ALGORITHMS = {name: spec.description for name, spec in ALGORITHM_SPECS.items()}


@dataclass(frozen=True)
class SwarmConfig:
    """Scenario parameters shared by all nodes; validated on construction."""

    algorithm: str = "radmm"
    num_robots: int = 8
    topology: str = "ring"
    seed: int = 0
    dim: int = 2
    rho: float = 1.0
    alpha: float = 0.5
    max_iterations: int = 500
    tolerance: float = 1e-10
    stop_patience: int = 3
    step: float = 0.05
    step_decay: float = 0.0
    gamma: float = 0.5
    delta: float = 0.1
    residual_balancing: bool = False

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {self.algorithm!r}")
        at_least(self.num_robots, "num_robots", 2)
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}; got {self.topology!r}")
        at_least(self.seed, "seed", 0)
        at_least(self.dim, "dim", 1)
        positive(self.rho, "rho")
        in_open_interval(self.alpha, "alpha", 0.0, 1.0)
        at_least(self.max_iterations, "max_iterations", 1)
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance must be a finite number >= 0, got {self.tolerance!r}")
        at_least(self.stop_patience, "stop_patience", 1)
        positive(self.step, "step")
        if self.step_decay != 0.0:
            in_open_interval(self.step_decay, "step_decay", 0.5, 1.0, closed_high=True)
        in_open_interval(self.gamma, "gamma", 0.0, 1.0, closed_high=True)
        positive(self.delta, "delta")

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> SwarmConfig:
        """Build from a parameter dict, ignoring keys that belong to other layers (QoS, ...)."""
        names = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key in names:
                default = names[key].default
                kwargs[key] = _coerce(key, value, type(default))
        return cls(**kwargs)

    def with_overrides(self, **changes: Any) -> SwarmConfig:
        return replace(self, **changes)

    @property
    def has_coordinator(self) -> bool:
        return get_spec(self.algorithm).has_coordinator

    @property
    def transport(self) -> str:
        """Topic layout of the algorithm: ``edge``, ``broadcast`` or ``star``."""
        return get_spec(self.algorithm).transport

    def as_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{key} must be of type {kind.__name__}, got {value!r}")
    return value


def make_problem(cfg: SwarmConfig) -> Problem:
    """The target-fusion problem of the scenario (identical on every robot)."""
    return target_fusion_problem(cfg.num_robots, cfg.seed, cfg.dim)[0]


def scenario_graph(cfg: SwarmConfig) -> Graph:
    """The communication graph: the configured topology, or the star for coordinator forms."""
    return make_graph(cfg.topology, cfg.num_robots, seed=cfg.seed)


def make_agent(cfg: SwarmConfig, robot_id: int, problem: Problem | None = None,
               graph: Graph | None = None, record: bool = False) -> Agent:
    """The agent of robot ``robot_id``, holding only its own private objective."""
    if not 0 <= robot_id < cfg.num_robots:
        raise ValueError(f"robot_id must be in [0, {cfg.num_robots - 1}], got {robot_id}")
    objective = (problem or make_problem(cfg)).objectives[robot_id]
    return get_spec(cfg.algorithm).build(robot_id, objective, graph or scenario_graph(cfg), cfg.as_params(), record)


def make_coordinator(cfg: SwarmConfig, record: bool = False) -> Agent | None:
    """The coordinator agent for star-form algorithms, else None."""
    return build_coordinator(cfg.algorithm, cfg.num_robots, cfg.dim, cfg.as_params(), record)


def make_swarm(cfg: SwarmConfig, record: bool = False) -> dict[int, Agent]:
    """Every agent of the scenario by id (robots ``0..N-1``, coordinator ``COORDINATOR``)."""
    problem = make_problem(cfg)
    graph = scenario_graph(cfg)
    agents: dict[int, Agent] = {i: make_agent(cfg, i, problem, graph, record) for i in range(cfg.num_robots)}
    coord = make_coordinator(cfg, record)
    if coord is not None:
        agents[coord.agent_id] = coord
    return agents
