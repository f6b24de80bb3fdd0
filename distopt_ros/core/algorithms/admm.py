"""Consensus ADMM: the global-variable (star) form and the decentralized edge form.

* :class:`ConsensusADMMAgent` + :class:`ConsensusADMMCoordinator`: docs/algorithms.md,
  "Global consensus ADMM with a coordinator" (Boyd et al. 2011, global-variable consensus
  form), unscaled form, with primal/dual residual stopping.
* :class:`RelaxedADMMAgent`: docs/algorithms.md, "Relaxed (edge) consensus ADMM" (relaxed
  ADMM of Bastianello et al. 2021, which equals Shi et al.'s decentralized ADMM at
  ``alpha = 1/2``). No
  coordinator: each robot talks to its graph neighbours only, one payload per edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
import numpy as np

from distopt_ros.core.agent import Agent, ToleranceStopper, vector_norm, within_tolerance
from distopt_ros.core.graphs import Graph
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message, seal
from distopt_ros.core.problems import LocalObjective
from distopt_ros.core.validation import at_least, in_open_interval, positive


class ConsensusADMMAgent(Agent):
    """A robot of global-form consensus ADMM (docs/algorithms.md, "Global consensus ADMM with a coordinator").

    Holds ``x_i`` and the dual ``y_i``; sends ``(x_i, y_i)`` to the coordinator as a
    ``proposal`` and waits for the coordinator's ``z``. Sending ``y_i`` lets the coordinator
    use the exact ``z`` update even if ``sum_i y_i`` drifts from zero.
    """

    algorithm = "admm"
    tunes_live = False  # rho comes with the coordinator's z (set it on the coordinator)

    def __init__(self, agent_id: int, objective: LocalObjective, rho: float,
                 max_iterations: int, record: bool = False) -> None:
        super().__init__(agent_id, objective.dim, {COORDINATOR: {"consensus": objective.dim}},
                         max_iterations, record)
        self.objective = objective
        self.rho = positive(rho, "rho")
        self.z = np.zeros(self.dim)
        self.y = np.zeros(self.dim)
        self.x = objective.prox(self.z - self.y / self.rho, self.rho)

    def _outgoing(self) -> list[Message]:
        return [self._message(COORDINATOR, "proposal", primal=self.x, dual=self.y)]

    def _update(self, inbox: dict[int, Message]) -> None:
        msg = inbox[COORDINATOR]
        self.z = msg.consensus  # read-only, like every message block
        gap = self.x - self.z
        # x and y are sealed (made read-only) fresh results: the next proposal shares them, no copy.
        self.y = seal(self.y + self.rho * gap)
        if msg.rho > 0:  # the penalty for the next x-update (residual balancing or live re-tuning)
            self.rho = msg.rho
        x_new = seal(self.objective.prox(self.z - self.y / self.rho, self.rho))
        self.primal_residual = vector_norm(gap)
        self.dual_residual = self.rho * vector_norm(x_new - self.x)
        self.x = x_new

    def estimate(self) -> np.ndarray:
        return self.x



class ConsensusADMMCoordinator(Agent):
    """The averaging coordinator of global-form consensus ADMM (docs/algorithms.md, "Global consensus ADMM with a
    coordinator").

    With ``residual_balancing`` the penalty doubles when the primal residual exceeds
    ``balance_mu`` times the dual one and halves in the opposite case; the new value travels
    with ``z`` in the broadcast's ``rho`` field.

    ``z = mean_i(x_i + y_i / rho)``; stops when the primal residual
    ``sqrt(sum ||x_i - z||^2)`` and dual residual ``sqrt(N) rho ||z - z_prev||`` are both
    below ``sqrt(N n) tol + tol * scale`` (absolute and relative tolerance both ``tol``).
    """

    algorithm = "admm"
    speaks_first = False

    def __init__(self, num_robots: int, dim: int, rho: float, max_iterations: int,
                 tolerance: float = 0.0, record: bool = False, residual_balancing: bool = False,
                 balance_mu: float = 10.0) -> None:
        n = at_least(num_robots, "num_robots", 1)
        super().__init__(COORDINATOR, dim,
                         {i: {"primal": dim, "dual": dim} for i in range(n)},
                         max_iterations, record)
        self.num_robots = n
        self.rho = positive(rho, "rho")
        self.tolerance = float(tolerance)
        self.residual_balancing = bool(residual_balancing)
        self.balance_mu = positive(balance_mu, "balance_mu")
        self.z = np.zeros(self.dim)

    def _outgoing(self) -> list[Message]:
        # z answers the proposals of the round just consumed, so it carries that round's tag.
        return [self._message(BROADCAST, "consensus", iteration=self.iteration - 1, consensus=self.z, rho=self.rho)]

    floods_tuning = False  # the new penalty goes out with the next z; robots adopt it in the same round

    def _update(self, inbox: dict[int, Message]) -> None:
        ids = sorted(inbox)
        x = np.array([inbox[i].primal for i in ids])
        y = np.array([inbox[i].dual for i in ids])
        # The mean as sum / count (what np.mean computes, without its dispatch); sealed, so the
        # broadcast shares it.
        z_new = seal((x + y / self.rho).sum(axis=0) / len(ids))
        n, dim = len(ids), self.dim  # the live robots
        self.primal_residual = vector_norm((x - z_new).ravel())
        self.dual_residual = math.sqrt(n) * self.rho * vector_norm(z_new - self.z)
        self.z = z_new
        if self.tolerance > 0:
            base = np.sqrt(n * dim) * self.tolerance
            eps_pri = base + self.tolerance * max(np.linalg.norm(x), np.sqrt(n) * np.linalg.norm(z_new))
            eps_dual = base + self.tolerance * np.linalg.norm(y)
            finite = all(math.isfinite(v) for v in (self.primal_residual, self.dual_residual, eps_pri, eps_dual))
            if finite and self.primal_residual <= eps_pri and self.dual_residual <= eps_dual:
                self.request_stop()
        if self.residual_balancing:
            # Residual balancing: keep the residuals within a factor mu; the robots adopt the new rho after
            # their dual update (unscaled form, so y needs no rescaling).
            if self.primal_residual > self.balance_mu * self.dual_residual:
                self.rho *= 2.0
            elif self.dual_residual > self.balance_mu * self.primal_residual:
                self.rho /= 2.0

    def estimate(self) -> np.ndarray:
        return self.z

    def _forget(self, peer: int) -> bool:
        """Global consensus ADMM from any state converges: the average simply runs over the live robots."""
        return True


class RelaxedADMMAgent(Agent):
    """A robot of decentralized relaxed ADMM, edge form (docs/algorithms.md, "Relaxed (edge) consensus ADMM").

    Holds ``x_i`` and one ``z_ij`` per neighbour; sends ``m_ij = -z_ij + 2 rho x_i`` (block
    ``consensus``, n floats) and nothing else to each neighbour: the local stopping check uses
    the edge residual ``||m_ji - z_ij|| / rho`` (zero exactly at the fixed point, and the
    neighbours' disagreement ``||x_j - x_i||`` there), and monitors read the estimate from the
    robot's status, so the payload is the one vector the iteration needs. ``alpha = 1/2``
    reproduces Shi et al.'s decentralized ADMM with ``c = rho / 2``.
    """

    algorithm = "radmm"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 rho: float, alpha: float, max_iterations: int, tolerance: float = 0.0,
                 stop_threshold: int = 1, record: bool = False) -> None:
        nbrs = tuple(sorted(int(j) for j in neighbors))
        if not nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must not be empty")
        if agent_id in nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must not contain the agent itself")
        dim = objective.dim
        super().__init__(agent_id, dim, {j: {"consensus": dim} for j in nbrs},
                         max_iterations, record)
        self.objective = objective
        self.neighbors = nbrs
        self.rho = positive(rho, "rho")
        self.alpha = in_open_interval(alpha, "alpha", 0.0, 1.0)
        self.tolerance = float(tolerance)
        self.stopper = ToleranceStopper(tolerance, stop_threshold)
        self.z = {j: np.zeros(dim) for j in nbrs}
        self.x = self._primal()
        self._warming = True
        """Until every neighbour is paired: a new process that met a running swarm starts from its neighbours'
        values (see :meth:`_warm_start`)."""

    def _primal(self) -> np.ndarray:
        penalty = self.rho * len(self.neighbors)
        first, *rest = self.neighbors
        total = self.z[first]
        for j in rest:
            total = total + self.z[j]
        return self.objective.prox(total / penalty, penalty)

    def _outgoing(self) -> list[Message]:
        push = 2 * self.rho * self.x  # m_ij = 2 rho x_i - z_ij, the same bits as -z_ij + 2 rho x_i
        return [self._message(j, "edge", consensus=seal(push - self.z[j])) for j in self.neighbors]

    def _update(self, inbox: dict[int, Message]) -> None:
        keep, take = 1 - self.alpha, self.alpha
        z = self.z
        disagreement = 0.0
        for j, msg in inbox.items():  # only neighbours' messages are accepted
            m = msg.consensus
            disagreement = max(disagreement, vector_norm(m - z[j]))
            z[j] = keep * z[j] + take * m
        disagreement /= self.rho  # ||m_ji - z_ij|| / rho: ||x_j - x_i|| at the fixed point's neighbourhood
        if self._warming:
            self._warm_start(inbox)
        x_new = seal(self._primal())
        scale = max(1.0, vector_norm(x_new))
        self.primal_residual = disagreement
        step = vector_norm(x_new - self.x)
        self.dual_residual = self.rho * step
        local_ok = within_tolerance(max(disagreement, step), self.tolerance, scale)
        self.x = x_new
        if self.tolerance > 0 and self.stopper.update(local_ok, self.peer_counts(inbox)):
            self.request_stop()

    def estimate(self) -> np.ndarray:
        return self.x

    # rho and alpha are tunable (the schema's live list), swarm-wide: any z is a valid starting
    # point of relaxed ADMM, so a change applied by every robot at one round acts as a warm restart.

    # Membership: any z is a valid starting point, so the remaining robots run edge ADMM on the
    # remaining graph from where they are, and converge to the remaining robots' optimum.
    def _warm_start(self, inbox: dict[int, Message]) -> None:
        """A restarted robot's first round: ``z_ij = m_ji``, the neighbours' current message, in full (not blended
        with ``alpha`` into a cold zero), so its first ``x`` is the prox of what its neighbours hold.
        Synchronous rounds only: asynchronous robots pair no rounds and blend every message in."""
        if self.asynchronous:
            self._warming = False
            return
        for j, msg in inbox.items():
            state = self.membership.state[j]
            if state.warm:
                self.z[j] = np.array(msg.consensus, dtype=float)
                state.warm = False
        self._warming = self.membership.unpaired > 0 or any(self.membership.state[j].warm for j in self.neighbors)

    def _forget(self, peer: int) -> bool:
        """The edge to ``peer`` is gone: drop its dual ``z_ij`` (docs/algorithms.md, "Robots that leave and rejoin")."""
        self.neighbors = tuple(j for j in self.neighbors if j != peer)
        self.z.pop(peer, None)
        return True

    def _welcome(self, peer: int) -> None:
        """The edge is back: ``z_ij = rho x_i``, half of the consensus value ``z_ij + z_ji = 2 rho x``."""
        self.neighbors = tuple(sorted({*self.neighbors, peer}))
        self.z[peer] = self.rho * np.asarray(self.x, dtype=float)


def admm_optimal_rho_equal_curvature(curvature: float) -> tuple[float, float]:
    """Best penalty of global consensus ADMM when every ``f_i = a/2 (x - c_i)^2`` (docs/algorithms.md).

    The mean contracts by ``rho/(a+rho)`` and the disagreement by ``a/(a+rho)``, so
    ``rho* = a`` with rate 1/2. Returns ``(rho*, rate)``.
    """
    a = positive(curvature, "curvature")
    return a, 0.5


def radmm_optimal_penalty_regular(graph: Graph, curvature: float) -> tuple[float, float]:
    """Best penalty of relaxed ADMM (alpha = 1/2) on a d-regular graph, equal curvature (docs/algorithms.md).

    ``c* = a / (2 d sqrt(1 - sigma_2^2))`` with ``sigma_2 = max(lambda_2(A/d), 0)``, rate
    ``(1 + sigma_2 / (1 + sqrt(1 - sigma_2^2))) / 2``; returns ``(rho* = 2 c*, rate)``.
    """
    a = positive(curvature, "curvature")
    degrees = {graph.degree(i) for i in range(graph.num_nodes)}
    if len(degrees) != 1:
        raise ValueError(f"graph must be regular for the closed-form penalty, it has degrees {sorted(degrees)}")
    d = degrees.pop()
    adj = np.array(nx.to_numpy_array(graph.nx_graph, nodelist=range(graph.num_nodes))) / d
    sigma2 = max(float(np.sort(np.linalg.eigvalsh(adj))[-2]), 0.0)
    root = np.sqrt(1.0 - sigma2**2)
    c_star = a / (2.0 * d * root)
    return 2.0 * c_star, 0.5 * (1.0 + sigma2 / (1.0 + root))
