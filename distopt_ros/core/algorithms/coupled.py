"""Constraint-coupled optimization with consensus-ADMM proxies (Messilem, Carnevale, Carli 2025).

docs/algorithms.md, "Constraint-coupled primal-dual with consensus-ADMM proxies".

``min sum_i f_i(x_i)  s.t.  sum_i (A_i x_i - b_i) = 0`` over an undirected graph. Each agent
keeps a copy ``lambda_i`` of the multiplier and runs a primal-dual step on the alternative
Lagrangian with multiplier copies, with the two global quantities it needs (the average
multiplier and the average constraint violation) estimated by the consensus-ADMM tracker of
docs/algorithms.md, "Consensus-ADMM dynamic average tracker". Only ``m_ij = -z_ij + 2 rho y_i``
(2m floats) crosses the network; ``x_i``,
``lambda_i`` and ``f_i`` stay private.

The paper's synchronous algorithm is this agent in synchronous rounds; its robust algorithm is the same agent in
asynchronous mode: only active agents step, and ``z_ij`` moves only when ``m_ji`` arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from distopt_ros.core.agent import Agent, ToleranceStopper, within_tolerance
from distopt_ros.core.graphs import Graph
from distopt_ros.core.messages import Message, seal
from distopt_ros.core.problems import LocalObjective, QuadraticObjective
from distopt_ros.core.validation import as_finite_array, in_open_interval, positive


@dataclass
class CoupledProblem:
    """Local objectives ``f_i`` over ``x_i`` in R^{n_i}, couplings ``A_i`` (m x n_i) and ``b_i`` (m)."""

    objectives: Sequence[LocalObjective]
    A: Sequence[np.ndarray]
    b: Sequence[np.ndarray]

    def __post_init__(self) -> None:
        n = len(self.objectives)
        if n < 1 or len(self.A) != n or len(self.b) != n:
            raise ValueError("objectives, A and b must have one entry per agent "
                             f"(got {n}, {len(self.A)}, {len(self.b)})")
        self.A = [as_finite_array(a, f"A[{i}]", ndim=2) for i, a in enumerate(self.A)]
        self.b = [as_finite_array(b, f"b[{i}]").reshape(-1) for i, b in enumerate(self.b)]
        m = self.b[0].size
        for i, (f, a, b) in enumerate(zip(self.objectives, self.A, self.b, strict=True)):
            if a.shape != (m, f.dim):
                raise ValueError(f"A[{i}] must have shape ({m}, {f.dim}), got {a.shape}")
            if b.size != m:
                raise ValueError(f"b[{i}] must have {m} entries, got {b.size}")
        if np.linalg.matrix_rank(np.hstack(self.A)) < m:
            raise ValueError("A = [A_1 ... A_N] must have full row rank (an assumption of the method)")

    @property
    def m(self) -> int:
        return self.b[0].size

    @property
    def num_agents(self) -> int:
        return len(self.objectives)

    def violation(self, xs: Sequence[np.ndarray]) -> float:
        """``||sum_i (A_i x_i - b_i)||``."""
        return float(np.linalg.norm(sum(a @ x - b for a, x, b in zip(self.A, xs, self.b, strict=True))))

    def solve(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Centralized KKT point ``(x*, lambda*)`` (convention ``L = sum f + lambda^T sum(A x - b)``).

        Exact linear solve for quadratic objectives, SLSQP otherwise.
        """
        dims = [f.dim for f in self.objectives]
        cuts = np.cumsum([0, *dims])
        a_full = np.hstack(self.A)
        b_sum = sum(self.b)
        if all(isinstance(f, QuadraticObjective) for f in self.objectives):
            total = cuts[-1]
            kkt = np.zeros((total + self.m, total + self.m))
            rhs = np.zeros(total + self.m)
            for i, f in enumerate(self.objectives):
                sl = slice(cuts[i], cuts[i + 1])
                kkt[sl, sl] = f.precision
                rhs[sl] = f.precision @ f.mean
            kkt[:total, total:] = a_full.T
            kkt[total:, :total] = a_full
            rhs[total:] = b_sum
            sol = np.linalg.solve(kkt, rhs)
            return [sol[cuts[i]:cuts[i + 1]] for i in range(len(dims))], sol[total:]
        split = lambda z: [z[cuts[i]:cuts[i + 1]] for i in range(len(dims))]  # noqa: E731
        objs = self.objectives
        res = minimize(lambda z: sum(f.value(x) for f, x in zip(objs, split(z), strict=True)),
                       np.zeros(cuts[-1]),
                       jac=lambda z: np.concatenate([f.gradient(x) for f, x in zip(objs, split(z), strict=True)]),
                       constraints=[{"type": "eq", "fun": lambda z: a_full @ z - b_sum, "jac": lambda z: a_full}],
                       method="SLSQP", options={"ftol": 1e-15, "maxiter": 2000})
        xs = split(res.x)
        grad = np.concatenate([f.gradient(x) for f, x in zip(self.objectives, xs, strict=True)])
        lam = np.linalg.lstsq(a_full.T, -grad, rcond=None)[0]
        return xs, lam


class CoupledADMMAgent(Agent):
    """The constraint-coupled primal-dual agent, synchronous or (run asynchronously) robust to loss.

    docs/algorithms.md, "Constraint-coupled primal-dual with consensus-ADMM proxies".

    State: ``x_i``, ``lambda_i``, the proxy ``y_i = (y^lambda, y^c)`` in R^{2m} of
    ``(mean lambda, mean violation)``, and ``z_ij`` in R^{2m} per neighbour. ``kappa`` scales
    the violation in the dual step (1: average violation; N: the full sum), same fixed point.
    """

    algorithm = "coupled"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, coupling: np.ndarray, offset: np.ndarray,
                 neighbors: Sequence[int], rho: float, alpha: float, gamma: float, kappa: float = 1.0,
                 max_iterations: int = 10_000, tolerance: float = 0.0, stop_threshold: int = 1,
                 record: bool = False) -> None:
        nbrs = tuple(sorted(int(j) for j in neighbors))
        if not nbrs or agent_id in nbrs:
            raise ValueError(f"neighbors of agent {agent_id} must be non-empty and exclude the agent")
        a_i = as_finite_array(coupling, "coupling", ndim=2)
        b_i = as_finite_array(offset, "offset").reshape(-1)
        if a_i.shape != (b_i.size, objective.dim):
            raise ValueError(f"coupling must have shape ({b_i.size}, {objective.dim}), got {a_i.shape}")
        self.m = b_i.size
        super().__init__(agent_id, objective.dim, {j: {"consensus": 2 * self.m} for j in nbrs}, max_iterations,
                         record)
        self.wire_dim = self.m
        self.objective, self.coupling, self.offset = objective, a_i, b_i
        self.neighbors = nbrs
        self.rho = positive(rho, "rho")
        self.alpha = in_open_interval(alpha, "alpha", 0.0, 1.0)
        self.gamma = positive(gamma, "gamma")
        self.kappa = positive(kappa, "kappa")
        self.tolerance = float(tolerance)
        self.stopper = ToleranceStopper(tolerance, stop_threshold)
        self.x = np.zeros(objective.dim)
        self.lam = np.zeros(self.m)
        self.z = {j: np.zeros(2 * self.m) for j in nbrs}
        self._proxy()

    def set_offset(self, offset: Sequence[float] | np.ndarray) -> None:
        """Move ``b_i`` (a time-varying constraint, e.g. the target the centroid must follow).

        The primal-dual iteration continues from its current state and tracks the moving
        KKT point with an error set by how fast ``b`` moves (ISS-type behaviour).
        """
        self.offset = as_finite_array(offset, "offset", size=self.m).reshape(-1).copy()

    def _proxy(self) -> None:
        """Step 1: ``y_i = (phi_i(x_i, lambda_i) + sum_j z_ij) / (1 + rho d_i)``."""
        phi = np.concatenate([self.lam, self.coupling @ self.x - self.offset])
        self.proxy = (phi + np.sum([self.z[j] for j in self.neighbors], axis=0)) / (1 + self.rho * len(self.neighbors))

    def _outgoing(self) -> list[Message]:
        return [self._message(j, "edge", consensus=seal(-self.z[j] + 2 * self.rho * self.proxy))
                for j in self.neighbors]

    def _update(self, inbox: dict[int, Message]) -> None:
        y_lam, y_con = self.proxy[: self.m], self.proxy[self.m:]
        x_new = self.x - self.gamma * (self.objective.gradient(self.x) + self.coupling.T @ y_lam)
        lam_new = self.lam + self.gamma * (self.kappa * y_con - (self.lam - y_lam))
        for j, msg in inbox.items():
            self.z[j] = (1 - self.alpha) * self.z[j] + self.alpha * np.asarray(msg.consensus)
        moved = float(np.linalg.norm(np.concatenate([x_new - self.x, lam_new - self.lam])))
        self.x, self.lam = x_new, lam_new
        self._proxy()
        self.primal_residual = float(np.linalg.norm(self.proxy[self.m:]))  # local view of the mean violation
        self.dual_residual = moved
        ok = within_tolerance(moved, self.tolerance, float(np.linalg.norm(self.x)))
        if self.stopper.update(ok, self.peer_counts(inbox)):
            self.request_stop()

    def estimate(self) -> np.ndarray:
        return self.x

    # gamma, kappa, rho and alpha are tunable, swarm-wide (the schema's live list for coupled).

    def _forget(self, peer: int) -> bool:
        """Drop the edge's tracker state: the proxies forget it, and the live robots' coupled problem
        (their own ``A_i``, ``b_i``) is what the primal-dual iteration then solves."""
        self.neighbors = tuple(j for j in self.neighbors if j != peer)
        self.z.pop(peer, None)
        self._proxy()
        return True

    def _welcome(self, peer: int) -> None:
        self.neighbors = tuple(sorted({*self.neighbors, peer}))
        self.z[peer] = self.rho * self.proxy
        self._proxy()


def coupled_swarm(problem: CoupledProblem, graph: Graph, rho: float = 1.0, alpha: float = 0.5, gamma: float = 0.1,
                  kappa: float = 1.0, max_iterations: int = 10_000, tolerance: float = 0.0, patience: int = 3,
                  record: bool = False) -> dict[int, Agent]:
    """Agents of the constraint-coupled algorithm for every agent of ``problem`` over ``graph``."""
    if graph.num_nodes != len(problem.objectives):
        raise ValueError(f"graph has {graph.num_nodes} nodes but the problem has {len(problem.objectives)} agents")
    return {i: CoupledADMMAgent(i, f, a, b, graph.neighbors(i), rho, alpha, gamma, kappa, max_iterations, tolerance,
                                graph.diameter() + patience, record)
            for i, (f, a, b) in enumerate(zip(problem.objectives, problem.A, problem.b, strict=True))}


def microgrid_problem(num_converters: int = 5, seed: int = 0) -> CoupledProblem:
    """The microgrid example of Messilem, Carnevale, Carli (2025) as a synthetic instance.

    docs/algorithms.md, "Problems" (microgrid).

    Agents ``0..N-1`` are converters with ``x_k`` = the 5 free dq sequence currents
    (i+_q, i-_d, i-_q, i0_d, i0_q), losses ``f_k = r_k ||x||^2 + h_k^T x``; agent ``N`` is the
    grid at the PCC with ``f_0 = R_g ||x||^2``. Kirchhoff: grid plus converter currents meet
    the uncontrollable demand, ``sum_k x_k = d`` (``A_k = I``; the demand is carried by the
    grid agent's ``b``). Data are synthetic, seeded and per-unit scaled: r_k in [0.5, 2], h_k ~ 0.01 N(0, 1),
    R_g = 1, demand ~ N(0, 5^2) per component; the paper's values are not published.
    """
    rng = np.random.default_rng(seed)
    objs: list[LocalObjective] = []
    for _ in range(num_converters):
        r = rng.uniform(0.5, 2.0)
        h = 0.01 * rng.normal(size=5)
        # r||x||^2 + h^T x = 1/2 (x - m)^T (2r I) (x - m) + const, with m = -h / (2r)
        objs.append(QuadraticObjective(2 * r * np.eye(5), -h / (2 * r)))
    objs.append(QuadraticObjective(2 * 1.0 * np.eye(5), np.zeros(5)))
    demand = rng.normal(scale=5.0, size=5)
    b = [np.zeros(5) for _ in range(num_converters)] + [demand]
    return CoupledProblem(objs, [np.eye(5)] * (num_converters + 1), b)
