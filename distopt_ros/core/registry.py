"""The algorithms a swarm can run, by name, and how to build their agents.

One table maps each configurable algorithm to its section of ALGORITHMS.md, its topic
layout (``edge``: a payload per neighbour; ``broadcast``: one payload for all neighbours;
``star``: robots talk to a coordinator) and a builder, so the simulator CLI, the ROS nodes,
the benchmarks and the tests construct agents the same way from the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from distopt_ros.core.agent import Agent
from distopt_ros.core.algorithms.admm import ConsensusADMMAgent, ConsensusADMMCoordinator, RelaxedADMMAgent
from distopt_ros.core.algorithms.atg import ATGAgent
from distopt_ros.core.algorithms.gradient import DGDAgent, DIGingAgent
from distopt_ros.core.graphs import Graph, metropolis_row
from distopt_ros.core.problems import LocalObjective, Problem


@dataclass(frozen=True)
class AlgorithmSpec:
    """A configurable algorithm: where its equations are and how its robots talk."""

    name: str
    description: str
    transport: str
    build: Callable[[int, LocalObjective, Graph, Mapping[str, Any], bool], Agent]

    @property
    def has_coordinator(self) -> bool:
        return self.transport == "star"


def _stop(graph: Graph, p: Mapping[str, Any]) -> dict[str, Any]:
    return {"tolerance": p["tolerance"], "stop_threshold": graph.diameter() + p["stop_patience"]}


def _decay(p: Mapping[str, Any]) -> float | None:
    return p["step_decay"] if p.get("step_decay", 0.0) > 0 else None


ALGORITHM_SPECS: dict[str, AlgorithmSpec] = {
    spec.name: spec for spec in (
        AlgorithmSpec(
            "admm", "consensus ADMM, global form with a coordinator (section 7)", "star",
            lambda i, f, g, p, rec: ConsensusADMMAgent(i, f, p["rho"], p["max_iterations"], record=rec)),
        AlgorithmSpec(
            "radmm", "decentralized relaxed/edge consensus ADMM (section 8.2)", "edge",
            lambda i, f, g, p, rec: RelaxedADMMAgent(i, f, g.neighbors(i), p["rho"], p["alpha"], p["max_iterations"],
                                                     record=rec, **_stop(g, p))),
        AlgorithmSpec(
            "dgd", "decentralized gradient descent with Metropolis weights (section 5)", "broadcast",
            lambda i, f, g, p, rec: DGDAgent(i, f, g.neighbors(i), metropolis_row(g, i), p["step"],
                                             p["max_iterations"], step_decay=_decay(p), record=rec, **_stop(g, p))),
        AlgorithmSpec(
            "diging", "DIGing gradient tracking (section 6)", "broadcast",
            lambda i, f, g, p, rec: DIGingAgent(i, f, g.neighbors(i), metropolis_row(g, i), p["step"],
                                                p["max_iterations"], record=rec, **_stop(g, p))),
        AlgorithmSpec(
            "atg", "ADMM-tracking gradient, robust to loss and asynchrony (section 9.2)", "edge",
            lambda i, f, g, p, rec: ATGAgent(i, f, g.neighbors(i), p["rho"], p["alpha"], p["gamma"], p["delta"],
                                             p["max_iterations"], record=rec, **_stop(g, p))),
    )
}


def get_spec(name: str) -> AlgorithmSpec:
    """The spec of algorithm ``name``; ValueError listing the known names otherwise."""
    try:
        return ALGORITHM_SPECS[name]
    except KeyError:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHM_SPECS)}; got {name!r}") from None


def build_coordinator(name: str, num_robots: int, dim: int, p: Mapping[str, Any], record: bool = False) -> Agent | None:
    """The coordinator agent of a star-form algorithm, else None."""
    if name == "admm":
        return ConsensusADMMCoordinator(num_robots, dim, p["rho"], p["max_iterations"], p["tolerance"], record=record,
                                        residual_balancing=p.get("residual_balancing", False))
    return None


def build_swarm(name: str, problem: Problem, graph: Graph, p: Mapping[str, Any],
                record: bool = False) -> dict[int, Agent]:
    """Every agent of algorithm ``name`` on ``problem`` over ``graph`` (plus its coordinator)."""
    spec = get_spec(name)
    if graph.num_nodes != problem.num_agents:
        raise ValueError(f"graph has {graph.num_nodes} nodes but the problem has {problem.num_agents} agents")
    agents = {i: spec.build(i, f, graph, p, record) for i, f in enumerate(problem.objectives)}
    coord = build_coordinator(name, problem.num_agents, problem.dim, p, record)
    if coord is not None:
        agents[coord.agent_id] = coord
    return agents
