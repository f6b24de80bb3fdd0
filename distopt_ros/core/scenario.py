"""A swarm scenario: the shared configuration every robot, the simulator and the monitor read.

A :class:`SwarmConfig` is the flat parameter set of ``config/*.yaml`` (the ``ros__parameters``
of every node). Each robot builds only its own agent from it (:func:`make_agent`); the
monitor and the tests rebuild the whole problem to know the centralized answer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import field, fields, make_dataclass, replace
from typing import Any

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.algorithms.base import check_weight_row
from distopt_ros.core.algorithms.coupled import CoupledProblem, microgrid_problem
from distopt_ros.core.graphs import (
    DIRECTED_TOPOLOGIES,
    TOPOLOGIES,
    Digraph,
    Graph,
    LocalDigraph,
    LocalGraph,
    make_digraph,
    make_graph,
    metropolis_row,
)
from distopt_ros.core.objectives import LocalProblem
from distopt_ros.core.problems import (
    Problem,
    QuadraticObjective,
    random_least_squares_problem,
    random_logistic_problem,
    target_fusion_problem,
)
from distopt_ros.core.registry import ALGORITHM_SPECS, build_coordinator, get_spec
from distopt_ros.core.resources import LinearCost, QuadraticCost, ResourceProblem, edge_consensus_problem
from distopt_ros.core.schema import ParameterError, check_known, check_transport, check_values
from distopt_ros.core.schema import group as schema_group
from distopt_ros.core.validation import at_least, positive

ALGORITHMS = {name: spec.description for name, spec in ALGORITHM_SPECS.items()}
PROBLEMS = {
    "fusion": "consensus",          # fuse noisy observations of a target (default)
    "least_squares": "consensus",   # QuDRC-ALADIN's distributed least squares (docs/algorithms.md, "Problems")
    "logistic": "consensus",        # logistic regression, samples split across robots
    "microgrid": "coupled",         # constraint-coupled (docs/algorithms.md, "Problems"): N-1 converters + the grid
    "allocation": "resource",       # share a resource budget with quadratic costs (price coordination)
    "centroid": ("resource", "coupled"),  # stay near your station while the swarm's centroid = a target
    "linear_allocation": "resource",  # linear costs, capacity boxes (merely convex: extragradient, not GDA)
    "edge_consensus": "resource",   # consensus by dual decomposition: one price per edge of the topology
}
"""Problem name -> the kind(s) of algorithm that solve it (see AlgorithmSpec.problem_kind)."""


def _kinds(problem: str) -> tuple[str, ...]:
    kind = PROBLEMS[problem]
    return kind if isinstance(kind, tuple) else (kind,)


class _SwarmConfigBase:
    """Methods of :class:`SwarmConfig`, whose fields come from the scenario group of the schema."""

    def __post_init__(self) -> None:
        for p in schema_group("scenario"):
            object.__setattr__(self, p.name, p.check(getattr(self, p.name)))
        spec = get_spec(self.algorithm)
        allowed = DIRECTED_TOPOLOGIES if spec.directed else TOPOLOGIES
        if self.topology not in allowed:
            raise ParameterError(f"topology must be one of {', '.join(allowed)} for {self.algorithm}, "
                                 f"got {self.topology!r}")
        kind = spec.problem_kind
        if kind not in _kinds(self.problem):
            fitting = [k for k in PROBLEMS if kind in _kinds(k)]
            raise ParameterError(f"problem must be one of {', '.join(fitting)} for {self.algorithm}, "
                                 f"got {self.problem!r}")

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> SwarmConfig:
        """Build from a parameter dict, ignoring keys that belong to other layers (QoS, ...)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    def with_overrides(self, **changes: Any) -> SwarmConfig:
        return replace(self, **changes)  # type: ignore[type-var]

    @property
    def has_coordinator(self) -> bool:
        return get_spec(self.algorithm).has_coordinator

    @property
    def transport(self) -> str:
        """Topic layout of the algorithm: ``edge``, ``broadcast``, ``star`` or ``digraph``."""
        return get_spec(self.algorithm).transport

    def as_params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SwarmConfig = make_dataclass(
    "SwarmConfig", [(p.name, p.type, field(default=p.default)) for p in schema_group("scenario")],
    bases=(_SwarmConfigBase,), frozen=True)
SwarmConfig.__doc__ = """Scenario parameters shared by all nodes (the schema's scenario group),
validated on construction.

A bad value raises :class:`~distopt_ros.core.schema.ParameterError` with the schema's one-line wording.
"""
SwarmConfig.__module__ = __name__


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
    if cfg.problem == "edge_consensus":  # curvatures spread over 1.5 decades, as in the benchmarks
        rng = np.random.default_rng(seed)
        curv = 10.0 ** rng.uniform(np.log10(0.45), np.log10(15.5), size=(n, dim))
        return edge_consensus_problem(curv, rng.normal(size=(n, dim)) * 2.0, list(scenario_graph(cfg).edges))
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
    """Centroid tracking: ``min sum a_i/2 |x_i - s_i|^2`` s.t. ``mean_i x_i = r``.

    Equations: docs/algorithms.md, "Centroid tracking".

    Each robot prefers its station ``s_i`` with its own stiffness ``a_i`` (seeded, in [0.5, 2]);
    the swarm's centroid must sit on the target ``r`` (default the origin; a tracking run moves
    it). As a shared resource (price coordination) the constraint is ``sum_i y_i = N r``; in
    the constraint-coupled form each robot holds ``A_i = I``, ``b_i = r``.
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
    """Linear costs on capacity boxes: ``c_i(y) = (i + 1) y`` on ``[0, capacity]``, demand ``capacity (N - 1) - 1``.

    The three-robot linear-cost instance of docs/algorithms.md, "Small reference problems", generalized.

    Merely convex: the cheapest robots fill up, robot ``N - 2`` delivers ``capacity - 1``, the
    most expensive nothing, and the price is ``N - 1`` (for N = 3: ``y* = [3, 2, 0]``, ``p* = 2``).
    Plain gradient descent-ascent cycles on it; the extragradient converges.
    """
    n = at_least(num_robots, "num_robots", 2)
    costs = [LinearCost([float(i + 1)], 0.0, capacity) for i in range(n)]
    return ResourceProblem(costs, np.array([capacity * (n - 1) - 1.0]))


def reference_solution(cfg: SwarmConfig, problem: Any | None = None,
                       live: Sequence[int] | None = None) -> dict[int, np.ndarray]:
    """What each robot's estimate must converge to: the common optimum, or its own share of it.

    ``live``: only these robots remain (the others left): the centralized solve of their
    objectives alone, which a swarm that lost robots must converge to.
    """
    prob = problem if problem is not None else make_problem(cfg)
    ids = list(range(cfg.num_robots)) if live is None else sorted(int(i) for i in live)
    if isinstance(prob, Problem):
        x = (prob if live is None else Problem(tuple(prob.objectives[i] for i in ids))).centralized_optimum()
        return {i: x for i in ids}
    if live is not None and isinstance(prob, CoupledProblem):
        prob = CoupledProblem([prob.objectives[i] for i in ids], [prob.A[i] for i in ids], [prob.b[i] for i in ids])
    elif live is not None:  # a shared resource: the remaining bidders alone must meet b
        prob = ResourceProblem([prob.costs[i] for i in ids], prob.b, [prob.matrices[i] for i in ids])
    xs, _dual = prob.solve()
    return {i: np.asarray(xs[k]) for k, i in enumerate(ids)}


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
        raise ParameterError(f"robot_id must be an integer in [0, {cfg.num_robots - 1}], got {robot_id}")
    prob = problem if problem is not None else make_problem(cfg)
    return get_spec(cfg.algorithm).make(robot_id, prob, graph or scenario_graph(cfg), cfg.as_params(), record)


def make_robot_agent(cfg: SwarmConfig, robot_id: int, objective: Any | None = None,
                     neighbors: Sequence[int] = (), diameter_bound: int = 0, record: bool = False,
                     in_neighbors: Sequence[int] = (), out_neighbors: Sequence[int] = ()) -> Agent:
    """Robot ``robot_id``'s agent from what this robot alone knows (a deployed robot).

    ``objective``: the robot's private objective (see :mod:`distopt_ros.core.objectives`);
    None = the simulated one of ``cfg.problem`` and ``cfg.seed``. ``neighbors``: its
    neighbours' ids; empty = from ``cfg.topology`` (``in_neighbors``/``out_neighbors`` for the
    digraph algorithm). ``diameter_bound`` bounds the graph's
    diameter (0 = ``num_robots - 1``, always a bound for a connected graph). No other robot's
    data is read: Metropolis weights start from this robot's degree and are set from the
    neighbours' degrees in the start-up handshake.
    """
    spec = get_spec(cfg.algorithm)
    if objective is not None and spec.problem_kind != "consensus":
        raise ParameterError(f"objective must be empty for {cfg.algorithm}, which solves {spec.problem_kind} "
                             "problems (a private objective fits the consensus algorithms: "
                             f"{', '.join(n for n, s in ALGORITHM_SPECS.items() if s.problem_kind == 'consensus')})")
    problem = LocalProblem(robot_id, objective, cfg.num_robots) if objective is not None else None
    if problem is not None and objective.dim != cfg.dim:
        raise ParameterError(f"objective has dim {objective.dim}, but the swarm's dim is {cfg.dim}")
    if in_neighbors or out_neighbors:
        if spec.transport != "digraph":
            raise ParameterError(f"in_neighbors and out_neighbors must be empty for {cfg.algorithm} (they are for "
                                 "the digraph algorithm qudrc; use neighbors)")
        try:
            digraph = LocalDigraph(robot_id, in_neighbors, out_neighbors, cfg.num_robots,
                                   diameter_bound or cfg.num_robots - 1)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
        return spec.make(robot_id, problem if problem is not None else make_problem(cfg), digraph, cfg.as_params(),
                         record)
    if not neighbors:
        return make_agent(cfg, robot_id, problem=problem, record=record)
    if spec.transport in ("star", "digraph"):
        raise ParameterError(f"neighbors must be empty for {cfg.algorithm} ("
                             + ("its robots talk to the coordinator)" if spec.transport == "star"
                                else "its directed graph: use in_neighbors and out_neighbors)"))
    if not 0 <= robot_id < cfg.num_robots:
        raise ParameterError(f"robot_id must be an integer in [0, {cfg.num_robots - 1}], got {robot_id}")
    try:
        graph = LocalGraph(robot_id, neighbors, cfg.num_robots, diameter_bound or cfg.num_robots - 1)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    return spec.make(robot_id, problem if problem is not None else make_problem(cfg), graph, cfg.as_params(),
                     record)


def complete_handshake(agent: Agent, neighbor_degrees: Mapping[int, int]) -> None:
    """What a robot learns at start-up from its neighbours, put into its agent (before the first step).

    Mixing agents (DGD, DIGing) need Metropolis weights ``1 / (1 + max(d_i, d_j))``, hence their
    neighbours' degrees; edge and star agents need nothing. The ROS node calls this with the
    degrees from its neighbours' handshake; a simulation of deployed robots with theirs.
    """
    if not hasattr(agent, "weights"):
        return
    nbrs = tuple(sorted(int(j) for j in neighbor_degrees))
    graph = LocalGraph(agent.agent_id, nbrs, max((*nbrs, agent.agent_id)) + 1, 1, neighbor_degrees)
    agent.weights = check_weight_row(agent.agent_id, nbrs, metropolis_row(graph, agent.agent_id))


def simulate_handshake(agents: Mapping[int, Agent]) -> None:
    """:func:`complete_handshake` for every robot of a simulated deployment (degrees = neighbour counts)."""
    degree = {i: len([s for s in a.expected if s >= 0]) for i, a in agents.items() if i >= 0}
    for i, agent in agents.items():
        if i >= 0:
            complete_handshake(agent, {j: degree[j] for j in agent.expected if j >= 0})


def validate_parameters(params: Mapping[str, Any], where: str = "") -> tuple[SwarmConfig, dict[str, Any]]:
    """Everything a swarm would refuse, checked before anything starts (one ParameterError line).

    Names (a "did you mean" for an unknown one), each value by the schema, the scenario's own
    rules (topology and problem fit the algorithm) and the transport's (loss needs a round
    timeout in sync mode, async needs an algorithm that tolerates missing messages, ...).
    Returns the config and the checked values (integers given for floats converted).
    """
    check_known(params, where)
    values = check_values(params)
    cfg = SwarmConfig.from_mapping(values)
    agent = make_agent(cfg, 0)
    check_transport(values, agent.supports_async, cfg.transport == "digraph", cfg.algorithm)
    return cfg, values


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
