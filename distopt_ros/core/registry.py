"""The algorithms a swarm can run, by name, and how to build their agents.

One table maps each configurable algorithm to its section of docs/algorithms.md (``doc_section``), its topic
layout (``edge``: a payload per neighbour; ``broadcast``: one payload for all neighbours;
``star``: robots talk to a coordinator; ``digraph``: integer payloads along the edges of a
directed graph, out-neighbours only) and a builder, so the simulator CLI, the ROS nodes,
the benchmarks and the tests construct agents the same way from the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from distopt_ros.core.agent import Agent
from distopt_ros.core.algorithms.admm import ConsensusADMMAgent, ConsensusADMMCoordinator, RelaxedADMMAgent
from distopt_ros.core.algorithms.aladin import AveragingCoordinator, QuDRCAladinAgent, RCAladinAgent
from distopt_ros.core.algorithms.atg import ATGAgent
from distopt_ros.core.algorithms.coupled import CoupledADMMAgent
from distopt_ros.core.algorithms.federated import FedClient, FedServer
from distopt_ros.core.algorithms.gradient import ATCTrackingAgent, DGDAgent, DIGingAgent, SemiATCTrackingAgent
from distopt_ros.core.algorithms.price import AuctioneerAgent, BidderAgent, problem_supports
from distopt_ros.core.graphs import Digraph, Graph, LocalDigraph, metropolis_row
from distopt_ros.core.objectives import constrained
from distopt_ros.core.problems import Problem
from distopt_ros.core.schema import ParameterError


@dataclass(frozen=True)
class AlgorithmSpec:
    """A configurable algorithm: where its equations are, how its robots talk, what it solves.

    ``problem_kind`` is ``consensus`` (``min sum f_i(x)``, a :class:`Problem`), ``coupled``
    (the constraint-coupled ``sum A_i x_i = b``, a :class:`CoupledProblem`) or ``resource`` (a shared
    resource, a :class:`ResourceProblem`).
    """

    name: str
    description: str
    transport: str
    build: Callable[[int, Any, Any, Mapping[str, Any], bool], Agent]
    problem_kind: str = "consensus"
    cap_unit: str = "rounds"
    """What ``max_iterations`` counts: ``rounds`` (messages exchanged), or ``outer`` iterations
    of an algorithm whose outer iterations take a varying number of rounds (qudrc)."""
    doc_section: str = ""
    """The title of the section of docs/algorithms.md that gives the equations."""
    constraints: str = "prox"
    """How an objective's constraint set (its ``project``) is honoured: ``prox`` (the local step is the
    objective's prox, which includes it), ``project`` (a projected step), or ``none`` (the algorithm
    cannot: it refuses a constrained objective at start instead of converging to an infeasible point)."""

    @property
    def has_coordinator(self) -> bool:
        return self.transport == "star"

    def make(self, robot_id: int, problem: Any, graph: Any, params: Mapping[str, Any], record: bool = False) -> Agent:
        """Robot ``robot_id``'s agent; a swarm-wide change then takes effect ``diameter + 1`` rounds after it is set,
        when it has reached every robot."""
        objectives = getattr(problem, "objectives", None)
        objective = objectives[robot_id] if objectives is not None else None
        if objective is not None and self.constraints == "none" and constrained(objective):
            honour = ", ".join(n for n, s in ALGORITHM_SPECS.items() if s.constraints != "none"
                               and s.problem_kind == "consensus")
            raise ParameterError(f"{self.name} cannot honour the constraint set of robot {robot_id}'s objective "
                                 f"({type(objective).__name__} has project): algorithm must be one of {honour}")
        agent = self.build(robot_id, problem, graph, params, record)
        agent.tuning_delay = graph.diameter() + 1
        # Once robots leave or return the diameter is unknown; num_robots - 1 bounds it while connected.
        agent.loss_threshold = graph.num_nodes - 1 + int(params.get("stop_patience", 1))
        return agent

    @property
    def directed(self) -> bool:
        """True if the algorithm runs over a directed graph (``topology`` names a digraph)."""
        return self.transport == "digraph"


def _stop(graph: Graph, p: Mapping[str, Any]) -> dict[str, Any]:
    return {"tolerance": p["tolerance"], "stop_threshold": graph.diameter() + p["stop_patience"]}


def _decay(p: Mapping[str, Any]) -> float | None:
    return p["step_decay"] if p.get("step_decay", 0.0) > 0 else None


def _qudrc(i: int, prob: Problem, g: Digraph, p: Mapping[str, Any], rec: bool) -> Agent:
    if not isinstance(g, Digraph | LocalDigraph):
        raise ValueError("qudrc needs a directed topology (directed_ring or random_strongly_connected)")
    return QuDRCAladinAgent(i, prob.objectives[i], g, p["rho"], p["quantization_level"], p["max_iterations"],
                            seed=p["seed"], watchdog=p["watchdog"], record=rec,
                            coarse_level=p["quantization_coarse_level"], refine_bits=p["quantization_refine_bits"],
                            tokens=p["quantization_tokens"], shared_tokens=p["quantization_shared_tokens"],
                            frame=p["quantization_frame"])


def _fed_client(i: int, prob: Problem, g: Graph, p: Mapping[str, Any], rec: bool) -> Agent:
    f = prob.objectives[i]
    return FedClient(i, f, prob.num_agents, p["local_epochs"], p["local_step"],
                     getattr(f, "num_samples", 1), seed=p["seed"], max_iterations=p["max_iterations"], record=rec)


ALGORITHM_SPECS: dict[str, AlgorithmSpec] = {
    spec.name: spec for spec in (
        AlgorithmSpec(
            "admm", "consensus ADMM, global form with a coordinator", "star",
            lambda i, prob, g, p, rec: ConsensusADMMAgent(i, prob.objectives[i], p["rho"], p["max_iterations"],
                                                          record=rec),
            doc_section="Global consensus ADMM with a coordinator"),
        AlgorithmSpec(
            "radmm", "decentralized relaxed/edge consensus ADMM", "edge",
            lambda i, prob, g, p, rec: RelaxedADMMAgent(i, prob.objectives[i], g.neighbors(i), p["rho"], p["alpha"],
                                                        p["max_iterations"], record=rec, **_stop(g, p)),
            doc_section="Relaxed (edge) consensus ADMM"),
        AlgorithmSpec(
            "dgd", "decentralized gradient descent with Metropolis weights", "broadcast",
            lambda i, prob, g, p, rec: DGDAgent(i, prob.objectives[i], g.neighbors(i), metropolis_row(g, i),
                                                p["step"], p["max_iterations"], step_decay=_decay(p), record=rec,
                                                resilient_f=p.get("resilient_f", 0), **_stop(g, p)),
            doc_section="Distributed gradient descent (DGD)", constraints="project"),
        AlgorithmSpec(
            "diging", "DIGing gradient tracking", "broadcast",
            lambda i, prob, g, p, rec: DIGingAgent(i, prob.objectives[i], g.neighbors(i), metropolis_row(g, i),
                                                   p["step"], p["max_iterations"], record=rec, **_stop(g, p)),
            doc_section="DIGing gradient tracking", constraints="none"),
        AlgorithmSpec(
            "atc", "ATC gradient tracking (AugDGM / ATC-DIGing), two rounds per iteration", "broadcast",
            lambda i, prob, g, p, rec: ATCTrackingAgent(i, prob.objectives[i], g.neighbors(i), metropolis_row(g, i),
                                                        p["step"], p["max_iterations"], record=rec, **_stop(g, p)),
            doc_section="ATC and semi-ATC gradient tracking", constraints="none"),
        AlgorithmSpec(
            "semi_atc", "semi-ATC gradient tracking (push-pull with one W), one round per iteration", "broadcast",
            lambda i, prob, g, p, rec: SemiATCTrackingAgent(i, prob.objectives[i], g.neighbors(i),
                                                            metropolis_row(g, i), p["step"], p["max_iterations"],
                                                            record=rec, **_stop(g, p)),
            doc_section="ATC and semi-ATC gradient tracking", constraints="none"),
        AlgorithmSpec(
            "atg", "ADMM-tracking gradient, robust to loss and asynchrony", "edge",
            lambda i, prob, g, p, rec: ATGAgent(i, prob.objectives[i], g.neighbors(i), p["rho"], p["alpha"],
                                                p["gamma"], p["delta"], p["max_iterations"], record=rec,
                                                **_stop(g, p)),
            doc_section="ADMM-tracking gradient (ATG)", constraints="none"),
        AlgorithmSpec(
            "coupled", "constraint-coupled primal-dual with consensus-ADMM proxies", "edge",
            lambda i, prob, g, p, rec: CoupledADMMAgent(i, prob.objectives[i], prob.A[i], prob.b[i], g.neighbors(i),
                                                        p["rho"], p["alpha"], p["gamma"], p["kappa"],
                                                        p["max_iterations"], record=rec, **_stop(g, p)),
            problem_kind="coupled", doc_section="Constraint-coupled primal-dual with consensus-ADMM proxies",
            constraints="none"),
        AlgorithmSpec(
            "rcaladin", "RC-ALADIN with an averaging coordinator", "star",
            lambda i, prob, g, p, rec: RCAladinAgent(i, prob.objectives[i], p["rho"], p["max_iterations"],
                                                     record=rec),
            doc_section="RC-ALADIN with a coordinator"),
        AlgorithmSpec(
            "qudrc", "quantized decentralized RC-ALADIN over a digraph, integer payloads",
            "digraph", _qudrc, cap_unit="outer", doc_section="Quantized decentralized RC-ALADIN (QuDRC-ALADIN)"),
        AlgorithmSpec("fedavg", "FedAvg / FedOpt on a star with client sampling", "star",
                      _fed_client, doc_section="Federated averaging (FedAvg)", constraints="none"),
        AlgorithmSpec(
            "price", "dual decomposition with an auctioneer, or GDA / extragradient", "star",
            lambda i, prob, g, p, rec: BidderAgent(i, prob.costs[i], prob.matrices[i], p["price_mode"], p["step"],
                                                   p["max_iterations"], record=rec),
            problem_kind="resource", doc_section="Dual decomposition (price coordination)"),
    )
}


ENTRY_POINT_GROUP = "distopt_ros.algorithms"
"""Entry-point group under which installed packages register algorithms (an ``AlgorithmSpec`` each)."""


def register_algorithm(spec: AlgorithmSpec) -> None:
    """Make ``spec`` available as ``algorithm: spec.name`` in every node, runner and the simulator."""
    if not isinstance(spec, AlgorithmSpec):
        raise ValueError(f"spec must be an AlgorithmSpec, got {type(spec).__name__}")
    if spec.transport not in ("edge", "broadcast", "star", "digraph"):
        raise ValueError(f"transport must be edge, broadcast, star or digraph, got {spec.transport!r}")
    ALGORITHM_SPECS[spec.name] = spec


_loaded_entry_points = False


def load_entry_points() -> None:
    """Register the algorithms installed packages declare (once; an entry point that fails is named)."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in ALGORITHM_SPECS:
            continue
        try:
            spec = ep.load()
        except Exception as exc:
            raise ParameterError(f"algorithm {ep.name!r}: entry point {ep.value} cannot be loaded ({exc})") from None
        register_algorithm(spec)


def get_spec(name: str) -> AlgorithmSpec:
    """The spec of algorithm ``name``; ParameterError listing the known names otherwise."""
    if name not in ALGORITHM_SPECS:
        load_entry_points()
    try:
        return ALGORITHM_SPECS[name]
    except KeyError:
        raise ParameterError(f"algorithm must be one of {', '.join(ALGORITHM_SPECS)}, got {name!r}") from None


def build_coordinator(name: str, problem: Any, p: Mapping[str, Any], record: bool = False) -> Agent | None:
    """The coordinator agent of a star-form algorithm, else None."""
    n = problem.num_agents
    if name == "admm":
        return ConsensusADMMCoordinator(n, problem.dim, p["rho"], p["max_iterations"], p["tolerance"], record=record,
                                        residual_balancing=p.get("residual_balancing", False))
    if name == "rcaladin":
        return AveragingCoordinator("rcaladin", n, problem.dim, p["max_iterations"], p["tolerance"], record)
    if name == "fedavg":
        return FedServer(n, problem.dim, p["max_iterations"], p["server_optimizer"], p["client_fraction"],
                         p["server_step"], seed=p["seed"], record=record, tolerance=p["tolerance"])
    if name == "price":
        return AuctioneerAgent(n, problem.b.size, problem.b, p["price_mode"], p["step"], p["max_iterations"],
                               p["tolerance"], record=record, supports=problem_supports(problem))
    return None


def build_swarm(name: str, problem: Any, graph: Graph, p: Mapping[str, Any],
                record: bool = False) -> dict[int, Agent]:
    """Every agent of algorithm ``name`` on ``problem`` over ``graph`` (plus its coordinator)."""
    spec = get_spec(name)
    if graph.num_nodes != problem.num_agents:
        raise ValueError(f"graph has {graph.num_nodes} nodes but the problem has {problem.num_agents} agents")
    params = {"seed": 0, "kappa": 1.0, "quantization_level": 1e-3, "watchdog": 100_000, "local_epochs": 1,
              "local_step": 0.1, "client_fraction": 1.0,
              "server_optimizer": "fedavg", "server_step": 1.0, "price_mode": "dual", **p}
    agents = {i: spec.make(i, problem, graph, params, record) for i in range(problem.num_agents)}
    coord = build_coordinator(name, problem, params, record)
    if coord is not None:
        agents[coord.agent_id] = coord
    return agents
