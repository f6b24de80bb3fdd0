"""Array implementations of DGD and relaxed edge ADMM for large swarms of quadratic agents.

The agent objects of :mod:`distopt_ros.core` are the reference (and what runs on robots);
these functions compute the *same iterates* for a whole swarm at once with sparse matrices,
so that 10,000-robot studies take seconds. Both cite their sections of ALGORITHMS.md:
DGD (section 5) and relaxed ADMM (section 8.2, including its lossy/asynchronous form).
The lossless R-ADMM iterates equal the agent simulator's to rounding (tested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from distopt_ros.core.graphs import Graph
from distopt_ros.core.problems import Problem, QuadraticObjective
from distopt_ros.core.validation import at_least, in_open_interval, positive


@dataclass(frozen=True)
class QuadraticBatch:
    """``f_i(x) = 1/2 (x - m_i)^T P_i (x - m_i)`` for all agents: ``precision`` (N, n, n), ``mean`` (N, n)."""

    precision: np.ndarray
    mean: np.ndarray

    def __post_init__(self) -> None:
        p = np.asarray(self.precision, dtype=float)
        m = np.asarray(self.mean, dtype=float)
        if m.ndim != 2 or p.shape != (m.shape[0], m.shape[1], m.shape[1]):
            raise ValueError(f"precision must have shape (N, n, n) and mean (N, n); got {p.shape} and {m.shape}")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(m))):
            raise ValueError("precision and mean must be finite")
        object.__setattr__(self, "precision", p)
        object.__setattr__(self, "mean", m)

    @classmethod
    def from_problem(cls, problem: Problem) -> QuadraticBatch:
        if not all(isinstance(o, QuadraticObjective) for o in problem.objectives):
            raise ValueError("problem must consist of QuadraticObjective agents for the vectorized simulator")
        return cls(np.array([o.precision for o in problem.objectives]),  # type: ignore[attr-defined]
                   np.array([o.mean for o in problem.objectives]))  # type: ignore[attr-defined]

    @property
    def num_agents(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.mean.shape[1]

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("nij,nj->ni", self.precision, x - self.mean)

    def optimum(self) -> np.ndarray:
        return np.linalg.solve(self.precision.sum(axis=0), np.einsum("nij,nj->i", self.precision, self.mean))


@dataclass
class VectorResult:
    """Final iterates (N, n), per-iteration max error to the optimum, counts and timing."""

    x: np.ndarray
    errors: np.ndarray
    iterations: int
    messages: int
    messages_dropped: int
    bits: int
    wall_time: float
    trajectory: list[np.ndarray] = field(default_factory=list)

    @property
    def iterations_per_second(self) -> float:
        return self.iterations / self.wall_time if self.wall_time > 0 else float("inf")


def _check_graph(batch: QuadraticBatch, graph: Graph) -> None:
    if graph.num_nodes != batch.num_agents:
        raise ValueError(f"graph has {graph.num_nodes} nodes but the batch has {batch.num_agents} agents")


def metropolis_sparse(graph: Graph) -> sp.csr_matrix:
    """Metropolis weights (section 1.1) as a CSR matrix, without any dense N x N step."""
    edges = np.array(graph.edges, dtype=np.int64).reshape(-1, 2)
    deg = np.bincount(edges.ravel(), minlength=graph.num_nodes)
    w = 1.0 / (1.0 + np.maximum(deg[edges[:, 0]], deg[edges[:, 1]]))
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    off = sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(graph.num_nodes,) * 2)
    return (off + sp.diags(1.0 - np.asarray(off.sum(axis=1)).ravel())).tocsr()


def run_dgd_vectorized(batch: QuadraticBatch, graph: Graph, step: float, iterations: int,
                       x0: np.ndarray | None = None, diminishing_power: float | None = None,
                       optimum: np.ndarray | None = None, record: bool = False) -> VectorResult:
    """DGD ``X <- W X - alpha_k grad F(X)`` for the whole swarm (section 5)."""
    _check_graph(batch, graph)
    alpha0 = positive(step, "step")
    iters = at_least(iterations, "iterations", 1)
    if diminishing_power is not None:
        in_open_interval(diminishing_power, "diminishing_power", 0.5, 1.0, closed_high=True)
    w = metropolis_sparse(graph)
    x = np.zeros_like(batch.mean) if x0 is None else np.array(x0, dtype=float).reshape(batch.mean.shape)
    opt = batch.optimum() if optimum is None else optimum
    errors = np.empty(iters + 1)
    errors[0] = float(np.max(np.linalg.norm(x - opt, axis=1)))
    traj = [x.copy()] if record else []
    started = time.perf_counter()
    for k in range(iters):
        a = alpha0 if diminishing_power is None else alpha0 / (k + 1) ** diminishing_power
        x = w @ x - a * batch.gradient(x)
        errors[k + 1] = float(np.max(np.linalg.norm(x - opt, axis=1)))
        if record:
            traj.append(x.copy())
    wall = time.perf_counter() - started
    messages = 2 * len(graph.edges) * iters
    return VectorResult(x, errors, iters, messages, 0, 64 * batch.dim * messages, wall, traj)


def run_radmm_vectorized(batch: QuadraticBatch, graph: Graph, rho: float, alpha: float, iterations: int,
                         loss_probability: float = 0.0, activation_probability: float = 1.0, seed: int = 0,
                         optimum: np.ndarray | None = None, record: bool = False) -> VectorResult:
    """Relaxed edge ADMM (section 8.2) for the whole swarm, optionally with loss and random activation.

    ``z`` holds one row per directed edge ``(owner i, neighbour j)``; an inactive agent neither
    updates nor sends, and ``z_ij`` moves only if ``m_ji`` arrived (the robust rule).
    """
    _check_graph(batch, graph)
    rho = positive(rho, "rho")
    alpha = in_open_interval(alpha, "alpha", 0.0, 1.0)
    iters = at_least(iterations, "iterations", 1)
    if not 0.0 <= loss_probability < 1.0:
        raise ValueError(f"loss_probability must be in [0, 1), got {loss_probability!r}")
    if not 0.0 < activation_probability <= 1.0:
        raise ValueError(f"activation_probability must be in (0, 1], got {activation_probability!r}")
    n, dim = batch.num_agents, batch.dim
    edges = np.array(graph.edges, dtype=np.int64).reshape(-1, 2)
    owner = np.concatenate([edges[:, 0], edges[:, 1]])
    num_e = edges.shape[0]
    rev = np.concatenate([np.arange(num_e, 2 * num_e), np.arange(num_e)])
    deg = np.bincount(owner, minlength=n).astype(float)
    gather = sp.csr_matrix((np.ones(2 * num_e), (owner, np.arange(2 * num_e))), shape=(n, 2 * num_e))
    inv = np.linalg.inv(batch.precision + (rho * deg)[:, None, None] * np.eye(dim))
    pm = np.einsum("nij,nj->ni", batch.precision, batch.mean)
    opt = batch.optimum() if optimum is None else optimum
    rng = np.random.default_rng(seed)
    z = np.zeros((2 * num_e, dim))

    def primal() -> np.ndarray:
        return np.einsum("nij,nj->ni", inv, pm + gather @ z)

    x = primal()
    errors = np.empty(iters + 1)
    errors[0] = float(np.max(np.linalg.norm(x - opt, axis=1)))
    traj = [x.copy()] if record else []
    sent = dropped = 0
    lossy = loss_probability > 0 or activation_probability < 1
    started = time.perf_counter()
    for k in range(iters):
        msg = -z + 2 * rho * x[owner]
        if not lossy:
            z = (1 - alpha) * z + alpha * msg[rev]
            x = primal()
            sent += 2 * num_e
        else:
            active = rng.random(n) < activation_probability
            delivered = (rng.random(2 * num_e) >= loss_probability) & active[owner]  # message e: owner -> nbr
            sent += int(active[owner].sum())
            dropped += int((active[owner] & ~delivered).sum())
            update = active[owner] & delivered[rev]
            z[update] = (1 - alpha) * z[update] + alpha * msg[rev][update]
            x_new = primal()
            x[active] = x_new[active]
        errors[k + 1] = float(np.max(np.linalg.norm(x - opt, axis=1)))
        if record:
            traj.append(x.copy())
    wall = time.perf_counter() - started
    return VectorResult(x, errors, iters, sent, dropped, 64 * dim * sent, wall, traj)
