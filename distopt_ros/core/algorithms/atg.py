"""ADMM-Tracking Gradient and its robust variant (docs/algorithms.md, "ADMM-tracking gradient (ATG)").

ATG (Carnevale, Bastianello, Notarstefano, Carli, IEEE TAC 2025) tracks the network average
of ``(x_j, grad f_j(x_j))`` with the consensus-ADMM dynamic average tracker instead of
DIGing's sum-preserving tracker, so any initialization, lost message or asleep neighbour is
forgotten instead of biasing the result. The robust variant is the same agent run
asynchronously: only active agents step, and ``z_ij`` moves only when ``m_ji`` arrived.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distopt_ros.core.agent import Agent, ToleranceStopper, vector_norm, within_tolerance
from distopt_ros.core.messages import Message, seal
from distopt_ros.core.problems import LocalObjective
from distopt_ros.core.validation import as_finite_array, in_open_interval, positive


class ATGAgent(Agent):
    """One robot of ATG: state ``x_i``, trackers ``(y_i, s_i)``, and ``z_ij`` in R^{2n} per neighbour.

    Message to neighbour j (block ``consensus``, 2n floats): ``m_ij = -z_ij + 2 rho col(y_i, s_i)``, and nothing
    else: the local stopping check uses the tracker edge residual ``||m_ji - z_ij|| / rho`` (zero at the fixed
    point) instead of the neighbours' ``x_j``, and monitors read the estimate from the robot's status.
    """

    algorithm = "atg"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int], rho: float,
                 alpha: float, gamma: float, delta: float, max_iterations: int,
                 x0: Sequence[float] | None = None, tolerance: float = 0.0, stop_threshold: int = 1,
                 record: bool = False) -> None:
        nbrs = tuple(sorted(int(j) for j in neighbors))
        if not nbrs or agent_id in nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must be non-empty and exclude the agent")
        dim = objective.dim
        super().__init__(agent_id, dim, {j: {"consensus": 2 * dim} for j in nbrs},
                         max_iterations, record)
        self.objective = objective
        self.neighbors = nbrs
        self.rho = positive(rho, "rho")
        self.alpha = in_open_interval(alpha, "alpha", 0.0, 1.0)
        self.gamma = in_open_interval(gamma, "gamma", 0.0, 1.0, closed_high=True)
        self.delta = positive(delta, "delta")
        self.tolerance = float(tolerance)
        self.stopper = ToleranceStopper(tolerance, stop_threshold)
        self.x = np.zeros(dim) if x0 is None else as_finite_array(x0, "x0", size=dim).reshape(-1)
        self.z = {j: np.zeros(2 * dim) for j in nbrs}
        self._track()

    def _track(self) -> None:
        """Trackers from the current ``x`` and ``z`` (closed form of the consensus-ADMM tracker's step)."""
        local = np.concatenate([self.x, self.objective.gradient(self.x)])
        total = local + np.sum([self.z[j] for j in self.neighbors], axis=0)
        ys = total / (1.0 + self.rho * len(self.neighbors))
        self.y, self.s = ys[: self.dim], ys[self.dim:]

    def _outgoing(self) -> list[Message]:
        ys = np.concatenate([self.y, self.s])
        return [self._message(j, "edge", consensus=seal(-self.z[j] + 2 * self.rho * ys)) for j in self.neighbors]

    def _forget(self, peer: int) -> bool:
        """Drop the edge's tracker state: ATG's trackers forget any initialization, so they re-converge."""
        self.neighbors = tuple(j for j in self.neighbors if j != peer)
        self.z.pop(peer, None)
        self._track()
        return True

    def _welcome(self, peer: int) -> None:
        self.neighbors = tuple(sorted({*self.neighbors, peer}))
        self.z[peer] = self.rho * np.concatenate([self.y, self.s])
        self._track()

    def _update(self, inbox: dict[int, Message]) -> None:
        disagreement = 0.0
        for j, msg in inbox.items():
            m = msg.consensus
            disagreement = max(disagreement, vector_norm(m - self.z[j]) / self.rho)
            self.z[j] = (1 - self.alpha) * self.z[j] + self.alpha * m
        x_new = self.x + self.gamma * (self.y - self.x - self.delta * self.s)
        moved = vector_norm(x_new - self.x)
        self.primal_residual = disagreement
        self.dual_residual = moved
        self.x = x_new
        self._track()
        ok = within_tolerance(max(moved, disagreement), self.tolerance, vector_norm(x_new))
        if self.stopper.update(ok, self.peer_counts(inbox)):
            self.request_stop()

    def estimate(self) -> np.ndarray:
        return self.x

    # rho, alpha, gamma and delta are tunable, swarm-wide (the schema's live list for atg).
