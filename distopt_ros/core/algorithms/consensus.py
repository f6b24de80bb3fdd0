"""Average consensus, push-sum and randomized pairwise gossip.

docs/algorithms.md, "Average consensus", "Push-sum (ratio consensus) on digraphs" and
"Randomized pairwise gossip".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.algorithms.base import MixingAgent
from distopt_ros.core.graphs import Graph
from distopt_ros.core.membership import Receipt, ReceiptKind
from distopt_ros.core.messages import BROADCAST, Message
from distopt_ros.core.validation import as_finite_array, at_least


class AverageConsensusAgent(MixingAgent):
    """Linear average consensus ``x_i <- sum_j W_ij x_j`` (docs/algorithms.md, "Average consensus").

    Converges to the average of the initial values at rate ``sigma(W)`` when ``W`` is
    symmetric, doubly stochastic, supported on a connected graph (e.g. Metropolis weights).
    """

    algorithm = "consensus"

    def __init__(self, agent_id: int, value: Sequence[float], neighbors: Sequence[int],
                 weights: Mapping[int, float], max_iterations: int, tolerance: float = 0.0,
                 stop_threshold: int = 1, record: bool = False) -> None:
        x0 = as_finite_array(value, "value").reshape(-1)
        super().__init__(agent_id, x0.size, neighbors, weights, {"primal": x0.size}, max_iterations,
                         tolerance, stop_threshold, record)
        self.x = x0

    def _outgoing(self) -> list[Message]:
        return [self._message(BROADCAST, "state", primal=self.x)]

    def _update(self, inbox: dict[int, Message]) -> None:
        x_new = self.mix(self.x, inbox, "primal")
        self.primal_residual = float(np.linalg.norm(x_new - self.x))
        self.x = x_new
        self.check_stop(self.primal_residual, float(np.linalg.norm(x_new)), inbox)

    def estimate(self) -> np.ndarray:
        return self.x


class PushSumAgent(Agent):
    """Ratio consensus (push-sum) on a digraph (docs/algorithms.md, "Push-sum (ratio consensus) on digraphs").

    Each node splits its mass ``y`` and weight ``z`` equally among its out-neighbours and
    itself; ``y / z`` converges to the average of the initial values with column-stochastic
    mixing only, which is what a node of a digraph can do from its out-degree alone.
    """

    algorithm = "pushsum"

    def __init__(self, agent_id: int, value: Sequence[float], in_neighbors: Sequence[int],
                 out_degree: int, max_iterations: int, record: bool = False) -> None:
        y0 = as_finite_array(value, "value").reshape(-1)
        ins = tuple(sorted(int(j) for j in in_neighbors))
        super().__init__(agent_id, y0.size, {j: {"primal": y0.size, "aux": 1} for j in ins}, max_iterations, record)
        self.in_neighbors = ins
        self.out_degree = at_least(out_degree, "out_degree", 1)
        self.y = y0
        self.z = 1.0

    def _outgoing(self) -> list[Message]:
        share = 1.0 / (self.out_degree + 1)
        return [self._message(BROADCAST, "mass", primal=self.y * share, aux=[self.z * share])]

    def _update(self, inbox: dict[int, Message]) -> None:
        share = 1.0 / (self.out_degree + 1)
        y = self.y * share + sum((np.asarray(inbox[j].primal) for j in self.in_neighbors), np.zeros(self.dim))
        z = self.z * share + sum(float(inbox[j].aux[0]) for j in self.in_neighbors)
        self.primal_residual = float(np.linalg.norm(y / z - self.y / self.z))
        self.y, self.z = y, z

    def estimate(self) -> np.ndarray:
        return self.y / self.z


class GossipAgent(Agent):
    """Randomized pairwise gossip with a locking handshake (Boyd et al. 2006; docs/algorithms.md, "Randomized
    pairwise gossip").

    A node that wakes up and is free picks a neighbour uniformly and sends ``req(x_i)``; a
    free neighbour answers ``reply(x_j)`` and both set ``x = (x_i + x_j) / 2``, so the sum is
    conserved exactly; a busy one answers ``busy``. A requester that hears nothing within
    ``timeout`` wake-ups frees itself (a lost request changes nothing; a lost reply breaks sum
    conservation, which is gossip's documented fragility). Asynchronous by nature: it runs
    only under a network model (random activation).
    """

    algorithm = "gossip"
    supports_async = True

    def __init__(self, agent_id: int, value: Sequence[float], neighbors: Sequence[int], max_iterations: int,
                 seed: int = 0, timeout: int = 20, record: bool = False) -> None:
        x0 = as_finite_array(value, "value").reshape(-1)
        nbrs = tuple(sorted(int(j) for j in neighbors))
        if not nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must not be empty")
        super().__init__(agent_id, x0.size, {j: {"primal": x0.size} for j in nbrs}, max_iterations, record)
        self.neighbors = nbrs
        self.x = x0
        self.partner: int | None = None
        self.waited = 0
        self.timeout = at_least(timeout, "timeout", 1)
        self.rng = np.random.default_rng([seed, agent_id])
        self._queue: list[Message] = []
        self._pending: list[Message] = []
        self.exchanges = 0
        self.initiating = True

    def start(self) -> list[Message]:
        if not self.asynchronous:
            raise ValueError("gossip runs asynchronously: give the simulator a NetworkModel")
        return super().start()

    def receive(self, msg: Message) -> Receipt:
        receipt = super().receive(msg)
        if receipt.kind is ReceiptKind.ACCEPTED:
            self._queue.append(msg)  # every handshake message counts, not only the latest
        return receipt

    def _outgoing(self) -> list[Message]:
        out, self._pending = self._pending, []
        return out

    def _update(self, inbox: dict[int, Message]) -> None:
        pending: list[Message] = []
        queue, self._queue = self._queue, []
        for msg in queue:
            j = msg.sender
            if msg.kind == "req":
                if self.partner is None:
                    pending.append(self._message(j, "reply", primal=self.x))
                    self.x = 0.5 * (self.x + np.asarray(msg.primal))
                    self.exchanges += 1
                else:
                    pending.append(self._message(j, "busy", primal=self.x))
            elif j == self.partner and msg.kind in ("reply", "busy"):
                if msg.kind == "reply":
                    self.x = 0.5 * (self.x + np.asarray(msg.primal))
                    self.exchanges += 1
                self.partner = None
        if self.partner is None and not pending and self.initiating:
            self.partner = int(self.rng.choice(self.neighbors))
            self.waited = 0
            pending.append(self._message(self.partner, "req", primal=self.x))
        elif self.partner is not None:
            self.waited += 1
            if self.waited > self.timeout:
                self.partner = None
        self._pending = pending

    def estimate(self) -> np.ndarray:
        return self.x

    @property
    def idle(self) -> bool:
        """No handshake of this node is under way."""
        return self.partner is None and not self._queue and not self._pending


def gossip_expected_matrix(graph: Graph) -> np.ndarray:
    """``W_bar = I - D/(2N) + (P + P^T)/(2N)`` with ``P_ij = 1/d_i`` on edges (see "Randomized pairwise gossip")."""
    n = graph.num_nodes
    p = np.zeros((n, n))
    for i in range(n):
        for j in graph.neighbors(i):
            p[i, j] = 1.0 / graph.degree(i)
    d = np.diag((p + p.T).sum(axis=1))
    return np.eye(n) - d / (2 * n) + (p + p.T) / (2 * n)


def gossip_averaging_time(graph: Graph, accuracy: float) -> float:
    """Predicted ``eps``-averaging time in clock ticks, ``log(1/eps) / log(1/lambda_2(W_bar))``."""
    lam = np.sort(np.linalg.eigvalsh(gossip_expected_matrix(graph)))[::-1]
    return float(np.log(1.0 / accuracy) / np.log(1.0 / lam[1]))


def consensus_swarm(values: np.ndarray, graph: Graph, max_iterations: int, tolerance: float = 0.0,
                    patience: int = 3, record: bool = False) -> dict[int, Agent]:
    """Average-consensus agents with Metropolis weights over ``graph``."""
    from distopt_ros.core.graphs import metropolis_row

    vals = np.asarray(values, dtype=float).reshape(graph.num_nodes, -1)
    return {i: AverageConsensusAgent(i, vals[i], graph.neighbors(i), metropolis_row(graph, i), max_iterations,
                                     tolerance, graph.diameter() + patience, record)
            for i in range(graph.num_nodes)}
