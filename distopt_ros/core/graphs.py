"""Communication graphs of the swarm (ALGORITHMS.md section 1).

Every robot derives the same graph from the shared configuration (topology name, number
of robots, seed), so neighbour sets, degrees and the diameter used by the stopping rule
are known locally without any discovery traffic.
"""

from __future__ import annotations

import math
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
        return int(nx.diameter(self.nx_graph)) if self.num_nodes > 1 else 0

    def laplacian(self) -> np.ndarray:
        return nx.laplacian_matrix(self.nx_graph, nodelist=range(self.num_nodes)).toarray().astype(float)

    def metropolis_weights(self) -> np.ndarray:
        """Metropolis-Hastings weights, ALGORITHMS.md section 1.1."""
        n = self.num_nodes
        w = np.zeros((n, n))
        for i, j in self.edges:
            w[i, j] = w[j, i] = 1.0 / (1.0 + max(self.degree(i), self.degree(j)))
        w[np.diag_indices(n)] = 1.0 - w.sum(axis=1)
        return w


def make_graph(topology: str, num_nodes: int, seed: int = 0, radius: float | None = None,
               edge_probability: float | None = None) -> Graph:
    """Build a named topology over ``num_nodes`` agents.

    Random topologies (``random_geometric``, ``erdos_renyi``) are drawn from ``seed`` and
    redrawn with the next seeds until connected (at most 1000 tries), so a given
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
        for attempt in range(1000):
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
