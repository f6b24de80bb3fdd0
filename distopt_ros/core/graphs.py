"""Communication graphs of the swarm (docs/algorithms.md, "Communication graphs and Metropolis weights").

Every robot derives the same graph from the shared configuration (topology name, number
of robots, seed), so neighbour sets, degrees and the diameter used by the stopping rule
are known locally without any discovery traffic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from distopt_ros.core.validation import at_least

TOPOLOGIES = ("ring", "path", "star", "complete", "grid", "random_geometric", "erdos_renyi")


@dataclass(frozen=True)
class Graph:
    """An undirected, connected communication graph over agents ``0..n-1``."""

    nx_graph: nx.Graph

    def __post_init__(self) -> None:
        g = self.nx_graph
        if g.number_of_nodes() < 1:
            raise ValueError("graph must have at least one node")
        if sorted(g.nodes) != list(range(g.number_of_nodes())):
            raise ValueError("graph nodes must be the integers 0..n-1")
        if nx.number_of_selfloops(g):
            raise ValueError("graph must not have self-loops")
        if not nx.is_connected(g):
            parts = nx.number_connected_components(g)
            raise ValueError(f"graph must be connected, it has {parts} components")

    @property
    def num_nodes(self) -> int:
        return self.nx_graph.number_of_nodes()

    def neighbors(self, i: int) -> tuple[int, ...]:
        """Sorted neighbour ids of ``i`` (sorted, so every sum over neighbours is reproducible)."""
        return tuple(sorted(self.nx_graph.neighbors(i)))

    def degree(self, i: int) -> int:
        return int(self.nx_graph.degree(i))

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return tuple(sorted((min(u, v), max(u, v)) for u, v in self.nx_graph.edges))

    def diameter(self) -> int:
        """Longest shortest path (computed once: every robot of a swarm asks for it)."""
        if "_diameter" not in self.__dict__:
            object.__setattr__(self, "_diameter", int(nx.diameter(self.nx_graph)) if self.num_nodes > 1 else 0)
        return self.__dict__["_diameter"]

    def laplacian(self) -> np.ndarray:
        return nx.laplacian_matrix(self.nx_graph, nodelist=range(self.num_nodes)).toarray().astype(float)

    def metropolis_weights(self) -> np.ndarray:
        """Metropolis-Hastings weights (docs/algorithms.md, "Communication graphs and Metropolis weights")."""
        w = np.zeros((self.num_nodes, self.num_nodes))
        for i in range(self.num_nodes):
            for j, wij in metropolis_row(self, i).items():
                w[i, j] = wij
        return w


def make_graph(topology: str, num_nodes: int, seed: int = 0, radius: float | None = None,
               edge_probability: float | None = None) -> Graph:
    """Build a named topology over ``num_nodes`` agents.

    Random topologies (``random_geometric``, ``erdos_renyi``) are drawn from ``seed`` and
    redrawn with the next seeds until connected (at most 100 tries), so a given
    ``(topology, num_nodes, seed)`` always yields the same connected graph.
    """
    n = at_least(num_nodes, "num_nodes", 2)
    if topology == "ring":
        g = nx.cycle_graph(n) if n > 2 else nx.path_graph(n)
    elif topology == "path":
        g = nx.path_graph(n)
    elif topology == "star":
        g = nx.star_graph(n - 1)
    elif topology == "complete":
        g = nx.complete_graph(n)
    elif topology == "grid":
        cols = math.ceil(math.sqrt(n))
        g = nx.Graph()
        g.add_nodes_from(range(n))
        for i in range(n):
            r, c = divmod(i, cols)
            if c + 1 < cols and i + 1 < n:
                g.add_edge(i, i + 1)
            if i + cols < n:
                g.add_edge(i, i + cols)
    elif topology in ("random_geometric", "erdos_renyi"):
        g = None
        for attempt in range(100):
            s = seed + attempt
            if topology == "random_geometric":
                r = radius if radius is not None else min(1.0, 2.0 * math.sqrt(math.log(n) / n))
                cand = nx.random_geometric_graph(n, r, seed=s)
            else:
                p = edge_probability if edge_probability is not None else min(1.0, 2.0 * math.log(n) / n)
                cand = nx.gnp_random_graph(n, p, seed=s)
            if nx.is_connected(cand):
                g = nx.Graph(cand.edges)
                g.add_nodes_from(range(n))
                break
        if g is None:
            raise ValueError(f"topology {topology!r}: no connected graph found for num_nodes={n}; "
                             "raise radius/edge_probability")
    else:
        raise ValueError(f"topology must be one of {', '.join(TOPOLOGIES)}; got {topology!r}")
    return Graph(nx.Graph(g))


def consensus_rate(weights: np.ndarray) -> float:
    """``sigma(W) = rho(W - 11^T/N)``: the per-iteration contraction of average consensus."""
    w = np.asarray(weights, dtype=float)
    n = w.shape[0]
    return float(np.max(np.abs(np.linalg.eigvals(w - np.ones((n, n)) / n))))


def spectral_gap(weights: np.ndarray) -> float:
    """``1 - sigma(W)``: larger means faster agreement."""
    return 1.0 - consensus_rate(weights)


def predicted_consensus_iterations(weights: np.ndarray, initial_error: float, accuracy: float) -> float:
    """Iterations for average consensus to shrink ``initial_error`` to ``accuracy``: ``ln(eps/e0)/ln(sigma)``."""
    sigma = consensus_rate(weights)
    if sigma <= 0:
        return 1.0
    return math.log(accuracy / initial_error) / math.log(sigma)


def best_laplacian_step(graph: Graph) -> tuple[float, float]:
    """Best constant step ``eps* = 2/(lambda_2 + lambda_N)`` of ``W = I - eps L`` and its rate."""
    lam = np.sort(np.linalg.eigvalsh(graph.laplacian()))
    l2, ln = float(lam[1]), float(lam[-1])
    return 2.0 / (l2 + ln), (ln - l2) / (ln + l2)


DIRECTED_TOPOLOGIES = ("directed_ring", "random_strongly_connected")


@dataclass(frozen=True)
class Digraph:
    """A directed, strongly connected communication graph (edge ``i -> j``: i can send to j)."""

    nx_graph: nx.DiGraph

    def __post_init__(self) -> None:
        g = self.nx_graph
        if not g.is_directed():
            raise ValueError("graph must be directed for a Digraph")
        if sorted(g.nodes) != list(range(g.number_of_nodes())):
            raise ValueError("graph nodes must be the integers 0..n-1")
        if nx.number_of_selfloops(g):
            raise ValueError("graph must not have self-loops")
        if g.number_of_nodes() > 1 and not nx.is_strongly_connected(g):
            parts = nx.number_strongly_connected_components(g)
            raise ValueError(f"graph must be strongly connected, it has {parts} strongly connected components")

    @property
    def num_nodes(self) -> int:
        return self.nx_graph.number_of_nodes()

    def out_neighbors(self, i: int) -> tuple[int, ...]:
        return tuple(sorted(self.nx_graph.successors(i)))

    def in_neighbors(self, i: int) -> tuple[int, ...]:
        return tuple(sorted(self.nx_graph.predecessors(i)))

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return tuple(sorted(self.nx_graph.edges))

    def diameter(self) -> int:
        """Longest shortest directed path (what finite-time max/min consensus needs)."""
        if "_diameter" not in self.__dict__:
            object.__setattr__(self, "_diameter", int(nx.diameter(self.nx_graph)) if self.num_nodes > 1 else 0)
        return self.__dict__["_diameter"]


def make_digraph(topology: str, num_nodes: int, seed: int = 0, edge_probability: float | None = None) -> Digraph:
    """A named directed topology: ``directed_ring`` or ``random_strongly_connected``.

    The random digraph is a directed ring through a seeded random permutation (which makes
    it strongly connected) plus each other ordered pair with ``edge_probability``.
    """
    n = at_least(num_nodes, "num_nodes", 2)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    if topology == "directed_ring":
        g.add_edges_from((i, (i + 1) % n) for i in range(n))
    elif topology == "random_strongly_connected":
        p = edge_probability if edge_probability is not None else min(1.0, 1.5 * math.log(n) / n)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"edge_probability must be in [0, 1], got {p}")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n)
        g.add_edges_from((int(perm[k]), int(perm[(k + 1) % n])) for k in range(n))
        extra = rng.random((n, n)) < p
        g.add_edges_from((i, j) for i in range(n) for j in range(n) if i != j and extra[i, j])
    else:
        raise ValueError(f"topology must be one of {', '.join(DIRECTED_TOPOLOGIES)}; got {topology!r}")
    return Digraph(g)


class LocalGraph:
    """One robot's view of the communication graph: its own neighbours, their degrees, a diameter bound.

    What a robot deployed from its own parameters knows (``neighbors``, ``diameter_bound``)
    and learns from its neighbours' start-up handshake (their degrees, for Metropolis weights).
    It answers the questions the algorithm builders ask of a :class:`Graph` about this robot;
    asking about another robot's neighbours raises, so no robot can use what it cannot know.
    """

    def __init__(self, robot_id: int, neighbors: Sequence[int], num_nodes: int, diameter_bound: int,
                 degrees: Mapping[int, int] | None = None) -> None:
        nbrs = tuple(sorted({int(j) for j in neighbors}))
        if not nbrs:
            raise ValueError(f"neighbors of robot {robot_id} must not be empty")
        if robot_id in nbrs:
            raise ValueError(f"neighbors of robot {robot_id} must not contain the robot itself")
        bad = [j for j in nbrs if not 0 <= j < num_nodes]
        if bad:
            raise ValueError(f"neighbors must be robot ids in [0, {num_nodes - 1}], got {bad}")
        self.robot_id = int(robot_id)
        self.num_nodes = int(num_nodes)
        self._neighbors = nbrs
        self._diameter = at_least(diameter_bound, "diameter_bound", 1)
        self.degrees = dict(degrees or {})

    def neighbors(self, i: int) -> tuple[int, ...]:
        if i != self.robot_id:
            raise ValueError(f"robot {self.robot_id} does not know robot {i}'s neighbours")
        return self._neighbors

    def degree(self, i: int) -> int:
        if i == self.robot_id:
            return len(self._neighbors)
        if i in self.degrees:
            return int(self.degrees[i])
        # Before the handshake: a provisional row (the node sets the real one before the first step).
        return len(self._neighbors)

    def diameter(self) -> int:
        return self._diameter


class LocalDigraph:
    """One robot's view of a directed communication graph: whom it hears, whom it sends to, a diameter bound."""

    def __init__(self, robot_id: int, in_neighbors: Sequence[int], out_neighbors: Sequence[int], num_nodes: int,
                 diameter_bound: int) -> None:
        ins, outs = tuple(sorted({int(j) for j in in_neighbors})), tuple(sorted({int(j) for j in out_neighbors}))
        if not ins or not outs:
            raise ValueError(f"in_neighbors and out_neighbors of robot {robot_id} must both be non-empty "
                             "(a strongly connected digraph)")
        bad = [j for j in (*ins, *outs) if not 0 <= j < num_nodes or j == robot_id]
        if bad:
            raise ValueError(f"in_neighbors and out_neighbors must be other robots' ids in [0, {num_nodes - 1}], "
                             f"got {bad}")
        self.robot_id, self.num_nodes = int(robot_id), int(num_nodes)
        self._in, self._out = ins, outs
        self._diameter = at_least(diameter_bound, "diameter_bound", 1)

    def _mine(self, i: int) -> None:
        if i != self.robot_id:
            raise ValueError(f"robot {self.robot_id} does not know robot {i}'s neighbours")

    def in_neighbors(self, i: int) -> tuple[int, ...]:
        self._mine(i)
        return self._in

    def out_neighbors(self, i: int) -> tuple[int, ...]:
        self._mine(i)
        return self._out

    def diameter(self) -> int:
        return self._diameter


def metropolis_row(graph: Graph, i: int) -> dict[int, float]:
    """Agent ``i``'s row of the Metropolis weights, from degrees it knows."""
    di = graph.degree(i)
    row = {j: 1.0 / (1.0 + max(di, graph.degree(j))) for j in graph.neighbors(i)}
    row[i] = 1.0 - sum(row.values())
    return row
