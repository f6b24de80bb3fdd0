"""A swarm scenario: the shared configuration every robot, the simulator and the monitor read.

A :class:`SwarmConfig` is the flat parameter set of ``config/*.yaml`` (the ``ros__parameters``
of every node). Each robot builds only its own agent from it (:func:`make_agent`); the
monitor and the tests rebuild the whole problem to know the centralized answer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.algorithms.coupled import CoupledProblem, microgrid_problem
from distopt_ros.core.graphs import DIRECTED_TOPOLOGIES, TOPOLOGIES, Digraph, Graph, make_digraph, make_graph
from distopt_ros.core.problems import (
    Problem,
    QuadraticObjective,
    random_least_squares_problem,
    random_logistic_problem,
    target_fusion_problem,
)
from distopt_ros.core.registry import ALGORITHM_SPECS, build_coordinator, get_spec
from distopt_ros.core.resources import LinearCost, QuadraticCost, ResourceProblem
from distopt_ros.core.validation import at_least, in_open_interval, positive

ALGORITHMS = {name: spec.description for name, spec in ALGORITHM_SPECS.items()}
PROBLEMS = {
    "fusion": "consensus",          # fuse noisy observations of a target (default)
    "least_squares": "consensus",   # seed 004's distributed least squares (section 11.6)
    "logistic": "consensus",        # logistic regression, samples split across robots
    "microgrid": "coupled",         # seed 003's microgrid (section 10.7): N-1 converters + the grid
    "allocation": "resource",       # share a resource budget with quadratic costs (section 2)
    "centroid": ("resource", "coupled"),  # stay near your station while the swarm's centroid = a target
    "linear_allocation": "resource",  # section 3.2's T2b: linear costs with capacity boxes (merely convex)
}
"""Problem name -> the kind(s) of algorithm that solve it (see AlgorithmSpec.problem_kind)."""


def _kinds(problem: str) -> tuple[str, ...]:
    kind = PROBLEMS[problem]
    return kind if isinstance(kind, tuple) else (kind,)


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
    problem: str = "fusion"
    kappa: float = 1.0
    local_epochs: int = 1
    local_step: float = 0.1
    client_fraction: float = 1.0
    server_optimizer: str = "fedavg"
    server_step: float = 1.0
    price_mode: str = "dual"
    station_radius: float = 2.0
    quantization_level: float = 1e-3
    watchdog: int = 100_000

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {self.algorithm!r}")
        at_least(self.num_robots, "num_robots", 2)
        spec = get_spec(self.algorithm)
        allowed = DIRECTED_TOPOLOGIES if spec.directed else TOPOLOGIES
        if self.topology not in allowed:
            raise ValueError(f"topology must be one of {', '.join(allowed)} for {self.algorithm}; "
                             f"got {self.topology!r}")
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
        if self.problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}; got {self.problem!r}")
        kind = get_spec(self.algorithm).problem_kind
        if kind not in _kinds(self.problem):
            fitting = [k for k in PROBLEMS if kind in _kinds(k)]
            raise ValueError(f"problem {self.problem!r} does not fit algorithm {self.algorithm!r}; "
                             f"use one of {', '.join(fitting)}")
        positive(self.kappa, "kappa")
        at_least(self.local_epochs, "local_epochs", 1)
        positive(self.local_step, "local_step")
        in_open_interval(self.client_fraction, "client_fraction", 0.0, 1.0, closed_high=True)
        if self.server_optimizer not in ("fedavg", "fedadam", "fedadagrad", "fedyogi"):
            raise ValueError(f"server_optimizer must be fedavg, fedadam, fedadagrad or fedyogi; "
                             f"got {self.server_optimizer!r}")
        positive(self.server_step, "server_step")
        if self.price_mode not in ("dual", "gda", "extragradient"):
            raise ValueError(f"price_mode must be dual, gda or extragradient; got {self.price_mode!r}")
        positive(self.station_radius, "station_radius")
        positive(self.quantization_level, "quantization_level")
        at_least(self.watchdog, "watchdog", 1)

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
        """Topic layout of the algorithm: ``edge``, ``broadcast``, ``star`` or ``digraph``."""
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


@functools.lru_cache(maxsize=8)
def make_problem(cfg: SwarmConfig) -> Any:
    """The scenario's problem, a deterministic function of the configuration (identical on every robot).

    Cached per configuration: robots sharing a process (the embedded runner) build it once.
    Agents only read it; time-varying data goes through the agents' own setters.
    """
    n, seed, dim = cfg.num_robots, cfg.seed, cfg.dim
    if cfg.problem == "fusion":
        return target_fusion_problem(n, seed, dim)[0]
    if cfg.problem == "least_squares":
        return random_least_squares_problem(n, dim, seed, rows=dim + 2)
    if cfg.problem == "logistic":
        return random_logistic_problem(n, dim, seed)
    if cfg.problem == "microgrid":
        return microgrid_problem(n - 1, seed)
    if cfg.problem == "linear_allocation":
        return linear_allocation_problem(n)
    if cfg.problem == "centroid":
        return centroid_problem(n, cfg.station_radius, seed, coupled=get_spec(cfg.algorithm).problem_kind == "coupled")
    rng = np.random.default_rng(seed)
    costs = [QuadraticCost(rng.uniform(1.0, 3.0, size=dim), rng.normal(size=dim)) for _ in range(n)]
    return ResourceProblem(costs, rng.uniform(0.5, 2.0, size=dim) * n)


def stations(num_robots: int, radius: float) -> np.ndarray:
    """Robot home stations, evenly on a circle of ``radius`` around the origin (N x 2)."""
    angles = 2 * np.pi * np.arange(num_robots) / num_robots
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def centroid_problem(num_robots: int, radius: float, seed: int, coupled: bool = False,
                     target: np.ndarray | None = None) -> Any:
    """Centroid tracking (sections 3.1 and 10): ``min sum a_i/2 |x_i - s_i|^2`` s.t. ``mean_i x_i = r``.

    Each robot prefers its station ``s_i`` with its own stiffness ``a_i`` (seeded, in [0.5, 2]);
    the swarm's centroid must sit on the target ``r`` (default the origin; a tracking run moves
    it). As a shared resource (price coordination) the constraint is ``sum_i y_i = N r``; in
    seed 003's form each robot holds ``A_i = I``, ``b_i = r``.
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=num_robots)
    s = stations(num_robots, positive(radius, "station_radius"))
    r = np.zeros(2) if target is None else np.asarray(target, dtype=float).reshape(2)
    if coupled:
        objectives = [QuadraticObjective(a[i] * np.eye(2), s[i]) for i in range(num_robots)]
        return CoupledProblem(objectives, [np.eye(2)] * num_robots, [r.copy() for _ in range(num_robots)])
    costs = [QuadraticCost(np.full(2, a[i]), -a[i] * s[i]) for i in range(num_robots)]
    return ResourceProblem(costs, num_robots * r)


def linear_allocation_problem(num_robots: int, capacity: float = 3.0) -> ResourceProblem:
    """Section 3.2's T2b generalized: ``c_i(y) = (i + 1) y`` on ``[0, capacity]``, demand ``capacity (N - 1) - 1``.

    Merely convex: the cheapest robots fill up, robot ``N - 2`` delivers ``capacity - 1``, the
    most expensive nothing, and the price is ``N - 1`` (for N = 3: ``y* = [3, 2, 0]``, ``p* = 2``).
    Plain gradient descent-ascent cycles on it; the extragradient converges.
    """
    n = at_least(num_robots, "num_robots", 2)
    costs = [LinearCost([float(i + 1)], 0.0, capacity) for i in range(n)]
    return ResourceProblem(costs, np.array([capacity * (n - 1) - 1.0]))


def reference_solution(cfg: SwarmConfig, problem: Any | None = None) -> dict[int, np.ndarray]:
    """What each robot's estimate must converge to: the common optimum, or its own share of it."""
    prob = problem if problem is not None else make_problem(cfg)
    if isinstance(prob, Problem):
        x = prob.centralized_optimum()
        return {i: x for i in range(cfg.num_robots)}
    xs, _dual = prob.solve()
    return {i: np.asarray(xs[i]) for i in range(cfg.num_robots)}


@functools.lru_cache(maxsize=8)
def scenario_graph(cfg: SwarmConfig) -> Graph | Digraph:
    """The communication graph of the configured topology (directed for digraph algorithms)."""
    if get_spec(cfg.algorithm).directed:
        return make_digraph(cfg.topology, cfg.num_robots, seed=cfg.seed)
    return make_graph(cfg.topology, cfg.num_robots, seed=cfg.seed)


def make_agent(cfg: SwarmConfig, robot_id: int, problem: Any | None = None,
               graph: Graph | Digraph | None = None, record: bool = False) -> Agent:
    """The agent of robot ``robot_id``, holding only its own private data."""
    if not 0 <= robot_id < cfg.num_robots:
        raise ValueError(f"robot_id must be in [0, {cfg.num_robots - 1}], got {robot_id}")
    prob = problem if problem is not None else make_problem(cfg)
    return get_spec(cfg.algorithm).build(robot_id, prob, graph or scenario_graph(cfg), cfg.as_params(), record)


def make_coordinator(cfg: SwarmConfig, record: bool = False, problem: Any | None = None) -> Agent | None:
    """The coordinator agent for star-form algorithms, else None."""
    if not cfg.has_coordinator:
        return None
    return build_coordinator(cfg.algorithm, problem if problem is not None else make_problem(cfg), cfg.as_params(),
                             record)


def make_swarm(cfg: SwarmConfig, record: bool = False) -> dict[int, Agent]:
    """Every agent of the scenario by id (robots ``0..N-1``, coordinator ``COORDINATOR``)."""
    problem = make_problem(cfg)
    graph = scenario_graph(cfg)
    agents: dict[int, Agent] = {i: make_agent(cfg, i, problem, graph, record) for i in range(cfg.num_robots)}
    coord = make_coordinator(cfg, record, problem)
    if coord is not None:
        agents[coord.agent_id] = coord
    return agents
