"""Shared machinery of neighbour-broadcast agents (consensus, DGD, DIGing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from distopt_ros.core.agent import Agent, ToleranceStopper, within_tolerance
from distopt_ros.core.messages import Message
from distopt_ros.core.validation import at_least


def check_weight_row(agent_id: int, neighbors: Sequence[int], weights: Mapping[int, float]) -> dict[int, float]:
    """A mixing row over ``neighbors`` and the agent itself, summing to one."""
    keys = {agent_id, *neighbors}
    if set(weights) != keys:
        raise ValueError(f"weights of agent {agent_id} must cover itself and its neighbours {sorted(neighbors)}, "
                         f"got keys {sorted(weights)}")
    row = {int(k): float(v) for k, v in weights.items()}
    if not all(np.isfinite(v) for v in row.values()) or abs(sum(row.values()) - 1.0) > 1e-9:
        raise ValueError(f"weights of agent {agent_id} must be finite and sum to 1")
    return row


class MixingAgent(Agent):
    """An agent that broadcasts blocks to its neighbours and mixes them with a weight row.

    In asynchronous/lossy mode a neighbour whose message did not arrive this round
    contributes its last received value (stale mixing), the usual robot practice for DGD-type
    methods; exactness then depends on the algorithm (docs/algorithms.md, "Distributed gradient
    descent (DGD)" and "DIGing gradient tracking", document which survive).
    """

    def __init__(self, agent_id: int, dim: int, neighbors: Sequence[int], weights: Mapping[int, float],
                 blocks: Mapping[str, int], max_iterations: int, tolerance: float, stop_threshold: int,
                 record: bool) -> None:
        nbrs = tuple(sorted(int(j) for j in neighbors))
        if agent_id in nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must not contain the agent itself")
        super().__init__(agent_id, dim, {j: dict(blocks) for j in nbrs}, max_iterations, record)
        self.neighbors = nbrs
        self.weights = check_weight_row(agent_id, nbrs, weights)
        self._lent: dict[int, float] = {}
        """Weights of departed neighbours, held by the self-weight until they return."""
        self.tolerance = float(tolerance)
        self.stopper = ToleranceStopper(tolerance, at_least(stop_threshold, "stop_threshold", 1))

    def _values(self, inbox: Mapping[int, Message], block: str) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for j in self.neighbors:
            msg = inbox.get(j) or self.latest(j)
            if msg is not None:
                out[j] = np.asarray(getattr(msg, block))
        return out

    def mix(self, own: np.ndarray, inbox: Mapping[int, Message], block: str) -> np.ndarray:
        """``sum_j W_ij v_j`` (own value for ``j = i``); unknown neighbours count as ``own``."""
        values = self._values(inbox, block)
        total = self.weights[self.agent_id] * own
        for j in self.neighbors:
            total = total + self.weights[j] * values.get(j, own)
        return total

    def _forget(self, peer: int) -> bool:
        """The edge's weight goes to the self-weight: the remaining matrix stays symmetric and doubly stochastic.

        Both ends do it, each from its own row, so no degree needs to be exchanged again.
        """
        self.neighbors = tuple(j for j in self.neighbors if j != peer)
        self._lent[peer] = self.weights.pop(peer)
        self.weights[self.agent_id] += self._lent[peer]
        return True

    def _welcome(self, peer: int) -> None:
        """The edge's weight comes back from the self-weight."""
        w = self._lent.pop(peer, 0.0)
        self.weights[self.agent_id] -= w
        self.weights[peer] = w
        self.neighbors = tuple(sorted({*self.neighbors, peer}))

    def _get_tunable(self, name: str) -> float:
        return self.step_size if name == "step" else getattr(self, name)  # step() is the agent's method

    def _set_tunable(self, name: str, value: float) -> None:
        setattr(self, "step_size" if name == "step" else name, value)

    def check_stop(self, moved: float, scale: float, inbox: Mapping[int, Message]) -> None:
        """Local criterion ``moved <= tol * max(1, scale)``, aggregated by the stop counter."""
        ok = within_tolerance(moved, self.tolerance, scale)
        if self.stopper.update(ok, self.peer_counts(inbox)):
            self.request_stop()
