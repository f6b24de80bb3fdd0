"""Array implementations of DGD and relaxed edge ADMM for large swarms of quadratic agents.

The agent objects of :mod:`distopt_ros.core` are the reference (and what runs on robots);
the functions here compute the *same iterates* for a whole swarm at once with a handful of
array operations per iteration, so that 10,000-robot studies take seconds instead of hours:

* :func:`run_dgd_vectorized`: DGD ``X <- W X - alpha_k grad F(X)`` (docs/algorithms.md,
  "Distributed gradient descent (DGD)") with the Metropolis weights as a sparse CSR matrix (never a dense N x N one);
* :func:`run_radmm_vectorized`: relaxed edge ADMM (docs/algorithms.md, "Relaxed (edge) consensus ADMM"),
  lossless or with i.i.d.
  message loss and random activation (the robust rule of edge ADMM and ATG).

Both need quadratic local costs ``f_i(x) = 1/2 (x - m_i)^T P_i (x - m_i)`` (:class:`QuadraticBatch`),
whose gradients and proximal maps are batched linear algebra. The lossless R-ADMM and DGD
iterates equal the agent simulator's to rounding (test/test_vectorized.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from distopt_ros.core.graphs import Graph
from distopt_ros.core.problems import Problem, QuadraticObjective
from distopt_ros.core.validation import as_finite_array, at_least, in_open_interval, positive


def _matvec(mats: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    """``out[i] = mats[i] @ vecs[i]`` for stacked ``(N, n, n)`` and ``(N, n)``.

    A sum of ``n`` column-times-entry products: for the small ``n`` of robot problems this is
    cheaper than ``einsum``/``matmul`` on 10,000 tiny matrices.
    """
    out = mats[:, :, 0] * vecs[:, 0:1]
    for j in range(1, vecs.shape[1]):
        out += mats[:, :, j] * vecs[:, j:j + 1]
    return out


@dataclass(frozen=True)
class QuadraticBatch:
    """All agents' ``f_i(x) = 1/2 (x - m_i)^T P_i (x - m_i)``: ``precision`` (N, n, n), ``mean`` (N, n).

    The stacked form of :class:`~distopt_ros.core.problems.QuadraticObjective` (the fusion
    problem of every robot), so gradients and proximal maps of the whole swarm are one batched
    operation each.
    """

    precision: np.ndarray
    mean: np.ndarray

    def __post_init__(self) -> None:
        m = as_finite_array(self.mean, "mean", ndim=2)
        p = as_finite_array(self.precision, "precision", ndim=3)
        if p.shape != (m.shape[0], m.shape[1], m.shape[1]):
            raise ValueError(f"precision must have shape (N, n, n) = {(m.shape[0], m.shape[1], m.shape[1])} "
                             f"to match mean {m.shape}, got {p.shape}")
        if m.shape[0] < 1 or m.shape[1] < 1:
            raise ValueError(f"mean must hold at least one agent and one coordinate, got shape {m.shape}")
        sym = 0.5 * (p + np.swapaxes(p, 1, 2))
        if not np.allclose(p, sym, rtol=1e-9, atol=1e-12):
            raise ValueError("precision must be symmetric for every agent")
        low = np.linalg.eigvalsh(sym)[:, 0]
        scale = np.maximum(1.0, np.abs(sym).max(axis=(1, 2)))
        bad = np.flatnonzero(low < -1e-12 * scale)
        if bad.size:
            raise ValueError(f"precision must be positive semidefinite; agent {int(bad[0])} has eigenvalue "
                             f"{low[bad[0]]:.3g}")
        object.__setattr__(self, "precision", sym)
        object.__setattr__(self, "mean", m)

    @classmethod
    def from_problem(cls, problem: Problem) -> QuadraticBatch:
        """Stack a problem whose objectives are all :class:`QuadraticObjective` (others are refused)."""
        objs = problem.objectives
        if not all(type(o) is QuadraticObjective for o in objs):
            kinds = sorted({type(o).__name__ for o in objs if type(o) is not QuadraticObjective})
            raise ValueError(f"problem must consist of QuadraticObjective agents for the vectorized "
                             f"simulator, it also has {', '.join(kinds)}")
        return cls(np.array([o.precision for o in objs]), np.array([o.mean for o in objs]))  # type: ignore[attr-defined]

    @property
    def num_agents(self) -> int:
        return int(self.mean.shape[0])

    @property
    def dim(self) -> int:
        return int(self.mean.shape[1])

    def _states(self, x: np.ndarray, name: str = "x") -> np.ndarray:
        arr = as_finite_array(x, name)
        if arr.shape != self.mean.shape:
            raise ValueError(f"{name} must have shape {self.mean.shape} (agents, dim), got {arr.shape}")
        return arr

    def values(self, x: np.ndarray) -> np.ndarray:
        """Per-agent costs ``f_i(x_i)``, shape (N,)."""
        d = self._states(x) - self.mean
        return 0.5 * np.einsum("ni,ni->n", d, _matvec(self.precision, d))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Per-agent gradients ``P_i (x_i - m_i)``, shape (N, n)."""
        return _matvec(self.precision, self._states(x) - self.mean)

    def prox(self, v: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """Per-agent proximal maps ``argmin_x f_i(x) + t_i/2 ||x - v_i||^2``, shape (N, n).

        Solves the stacked systems ``(P_i + t_i I) x_i = P_i m_i + t_i v_i`` in one call; use
        :meth:`prox_map` instead when the same ``t`` is applied many times.
        """
        vv = self._states(v, "v")
        tt = self._penalties(t)
        lhs = self.precision + tt[:, None, None] * np.eye(self.dim)
        rhs = _matvec(self.precision, self.mean) + tt[:, None] * vv
        return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]

    def prox_map(self, t: np.ndarray | float) -> Callable[[np.ndarray], np.ndarray]:
        """The proximal map for fixed penalties ``t`` (N,): ``v -> prox(v, t)`` with inverses computed once.

        Edge ADMM applies the prox with ``t_i = rho d_i`` at every iteration, so
        factoring ``P_i + t_i I`` once turns each iteration's solve into a batched mat-vec.
        """
        tt = self._penalties(t)
        inv = np.linalg.inv(self.precision + tt[:, None, None] * np.eye(self.dim))
        pm = _matvec(self.precision, self.mean)

        def apply(v: np.ndarray) -> np.ndarray:
            return _matvec(inv, pm + tt[:, None] * v)

        return apply

    def _penalties(self, t: np.ndarray | float) -> np.ndarray:
        tt = np.broadcast_to(as_finite_array(t, "t"), (self.num_agents,)).astype(float)
        if np.any(tt <= 0):
            raise ValueError(f"t must be > 0 for every agent, got minimum {tt.min()!r}")
        return tt

    def optimum(self) -> np.ndarray:
        """The centralized minimizer ``(sum P_i)^-1 sum P_i m_i`` (least squares if the sum is singular)."""
        h = self.precision.sum(axis=0)
        q = _matvec(self.precision, self.mean).sum(axis=0)
        try:
            return np.linalg.solve(h, q)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(h, q, rcond=None)[0]


@dataclass
class VectorResult:
    """Outcome of a vectorized run.

    ``x`` is the final (N, n) state; ``errors[r]`` is the largest agent distance to the
    optimum at iteration ``error_iterations[r]`` (iteration 0 is the starting state);
    ``trajectory`` holds the states at the same iterations when asked for. Messages and bits
    count what the robots would transmit (64-bit floats, ``n`` per message); ``wall_time`` is
    the iteration loop alone, ``setup_time`` the graph indexing and factorizations before it.
    """

    x: np.ndarray
    errors: np.ndarray
    error_iterations: np.ndarray
    iterations: int
    messages: int
    messages_dropped: int
    bits: int
    wall_time: float
    setup_time: float = 0.0
    trajectory: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    @property
    def iterations_per_second(self) -> float:
        return self.iterations / self.wall_time if self.wall_time > 0 else float("inf")

    @property
    def final_error(self) -> float:
        return float(self.errors[-1])


@dataclass(frozen=True)
class EdgeIndex:
    """Directed-edge bookkeeping of edge ADMM: one slot per ordered pair ``(i -> j)`` of neighbours.

    Slots are sorted by ``(src, dst)``, so agent ``i`` owns the contiguous block
    ``starts[i] : starts[i] + degree[i]`` (its ``z_ij``, one per neighbour ``j`` in increasing
    order, as :class:`~distopt_ros.core.algorithms.admm.RelaxedADMMAgent` keeps them), which
    makes "send x_i on every edge" an ``np.repeat`` and "sum own z_ij" an ``np.add.reduceat``;
    ``reverse[e]`` is the slot of ``(j -> i)`` for slot ``e = (i -> j)``.
    """

    src: np.ndarray
    dst: np.ndarray
    reverse: np.ndarray
    degree: np.ndarray
    starts: np.ndarray

    @classmethod
    def from_graph(cls, graph: Graph) -> EdgeIndex:
        n = graph.num_nodes
        und = np.array(list(graph.nx_graph.edges), dtype=np.int64).reshape(-1, 2)
        src = np.concatenate([und[:, 0], und[:, 1]])
        dst = np.concatenate([und[:, 1], und[:, 0]])
        order = np.lexsort((dst, src))
        src, dst = src[order], dst[order]
        key = src * n + dst
        reverse = np.searchsorted(key, dst * n + src)
        degree = np.bincount(src, minlength=n)
        starts = np.concatenate([[0], np.cumsum(degree)[:-1]]).astype(np.int64)
        return cls(src, dst, reverse, degree, starts)

    @property
    def num_directed(self) -> int:
        return int(self.src.size)

    def sum_by_owner(self, values: np.ndarray) -> np.ndarray:
        """``out[..., i] = sum_j values[..., (i -> j)]``: each agent's sum over its own edges (last axis)."""
        return np.add.reduceat(values, self.starts, axis=-1)


def metropolis_sparse(graph: Graph) -> sp.csr_matrix:
    """Metropolis-Hastings weights as a CSR matrix, built from edges and degrees.

    ``Graph.metropolis_weights`` fills a dense N x N array, 800 MB at N = 10,000; this never does.
    """
    n = graph.num_nodes
    edges = np.array(list(graph.nx_graph.edges), dtype=np.int64).reshape(-1, 2)
    deg = np.bincount(edges.ravel(), minlength=n)
    w = 1.0 / (1.0 + np.maximum(deg[edges[:, 0]], deg[edges[:, 1]]))
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    off = sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))
    return (off + sp.diags(1.0 - np.asarray(off.sum(axis=1)).ravel())).tocsr()


def _check_common(batch: QuadraticBatch, graph: Graph, iterations: int, optimum: np.ndarray | None,
                  record_every: int) -> tuple[int, np.ndarray, int]:
    if not isinstance(batch, QuadraticBatch):
        raise ValueError(f"batch must be a QuadraticBatch, got {type(batch).__name__}")
    if not isinstance(graph, Graph):
        raise ValueError(f"graph must be a Graph, got {type(graph).__name__}")
    if graph.num_nodes != batch.num_agents:
        raise ValueError(f"graph has {graph.num_nodes} nodes but batch has {batch.num_agents} agents")
    iters = at_least(iterations, "iterations", 1)
    every = at_least(record_every, "record_every", 1)
    if optimum is None:
        opt = batch.optimum()
    else:
        opt = as_finite_array(optimum, "optimum").reshape(-1)
        if opt.size != batch.dim:
            raise ValueError(f"optimum must have {batch.dim} entries (the problem dimension), got {opt.size}")
    return iters, opt, every


def _max_error(x: np.ndarray, opt: np.ndarray) -> float:
    """``max_i ||x_i - opt||`` of an (N, n) array (also a transposed view of the (n, N) working layout)."""
    d = x.T - opt[:, None]
    return float(np.sqrt(np.max(np.sum(d * d, axis=0))))


def _matvec_t(mats_t: np.ndarray, vecs_t: np.ndarray) -> np.ndarray:
    """Coordinate-major batched mat-vec: ``out[:, i] = M_i @ v[:, i]`` with ``mats_t`` (n, n, N), ``vecs_t`` (n, N)."""
    out = mats_t[:, 0, :] * vecs_t[0]
    for j in range(1, vecs_t.shape[0]):
        out += mats_t[:, j, :] * vecs_t[j]
    return out


class _Recorder:
    """Error (and optionally state) at iterations 0, r, 2r, ... and the last one."""

    def __init__(self, opt: np.ndarray, every: int, iters: int, keep: bool) -> None:
        self.opt, self.every, self.iters, self.keep = opt, every, iters, keep
        self.errors: list[float] = []
        self.at: list[int] = []
        self.states: list[np.ndarray] = []

    def __call__(self, k: int, x: np.ndarray) -> None:
        if k % self.every == 0 or k == self.iters:
            self.errors.append(_max_error(x, self.opt))
            self.at.append(k)
            if self.keep:
                self.states.append(x.copy())

    def trajectory(self) -> np.ndarray:
        return np.array(self.states) if self.keep else np.zeros((0, 0, 0))


_DENSE_MIXING_MAX_AGENTS = 256  # DGD mixes with a dense W up to this many agents, sparse CSR above


def run_dgd_vectorized(batch: QuadraticBatch, graph: Graph, step: float, iterations: int,
                       x0: np.ndarray | None = None, diminishing_power: float | None = None,
                       optimum: np.ndarray | None = None, record_every: int = 1,
                       keep_trajectory: bool = False) -> VectorResult:
    """Distributed gradient descent for the whole swarm (docs/algorithms.md, "Distributed gradient descent (DGD)").

    ``X^{k+1} = W X^k - alpha_k grad F(X^k)`` with ``W`` the sparse Metropolis matrix
    and ``alpha_k = step`` or, with ``diminishing_power = p`` in (1/2, 1],
    ``step / (k + 1)^p`` (the same schedule as ``DGDAgent(step_decay=p)``). ``x0`` is (N, n)
    or one (n,) start shared by all agents (default 0). Every iteration each agent sends its
    state to each neighbour: ``sum_i d_i = 2|E|`` messages of ``n`` float64 each.
    """
    started = time.perf_counter()
    iters, opt, every = _check_common(batch, graph, iterations, optimum, record_every)
    alpha0 = positive(step, "step")
    if diminishing_power is not None:
        diminishing_power = in_open_interval(diminishing_power, "diminishing_power", 0.5, 1.0, closed_high=True)
    if x0 is None:
        x = np.zeros_like(batch.mean)
    else:
        start = as_finite_array(x0, "x0")
        if start.shape not in (batch.mean.shape, (batch.dim,)):
            raise ValueError(f"x0 must have shape {batch.mean.shape} or ({batch.dim},), got {start.shape}")
        x = np.array(np.broadcast_to(start, batch.mean.shape))
    w = metropolis_sparse(graph)
    # (W X)^T = X^T W as W is symmetric. Small swarms mix with a dense W: there the per-call
    # overhead of scipy.sparse, not arithmetic, would dominate (long diminishing-step runs).
    w_dense = w.toarray() if graph.num_nodes <= _DENSE_MIXING_MAX_AGENTS else None
    # Coordinate-major (n, N) working layout, as in run_radmm_vectorized: long inner loops for n = 2.
    prec_t = np.ascontiguousarray(np.transpose(batch.precision, (1, 2, 0)))
    mean_t = np.ascontiguousarray(batch.mean.T)
    xt = np.ascontiguousarray(x.T)
    rec = _Recorder(opt, every, iters, keep_trajectory)
    rec(0, xt.T)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    for k in range(iters):
        a = alpha0 if diminishing_power is None else alpha0 / (k + 1) ** diminishing_power
        mixed = xt @ w_dense if w_dense is not None else np.stack([w @ xt[c] for c in range(batch.dim)])
        xt = mixed - a * _matvec_t(prec_t, xt - mean_t)
        rec(k + 1, xt.T)
    wall = time.perf_counter() - started
    messages = 2 * graph.nx_graph.number_of_edges() * iters  # sum of degrees per iteration
    return VectorResult(np.ascontiguousarray(xt.T), np.array(rec.errors), np.array(rec.at), iters, messages, 0,
                        64 * batch.dim * messages, wall, setup, rec.trajectory())


def _probability(value: float, name: str, allow_zero: bool) -> float:
    v = float(value)
    ok = np.isfinite(v) and (0.0 <= v <= 1.0 if allow_zero else 0.0 < v <= 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {'[0, 1]' if allow_zero else '(0, 1]'}, got {value!r}")
    return v


def run_radmm_vectorized(batch: QuadraticBatch, graph: Graph, rho: float, alpha: float, iterations: int,
                         loss_probability: float = 0.0, activation_probability: float = 1.0, seed: int = 0,
                         optimum: np.ndarray | None = None, record_every: int = 1,
                         keep_trajectory: bool = False) -> VectorResult:
    """Relaxed edge ADMM (docs/algorithms.md, "Relaxed (edge) consensus ADMM") for the whole swarm.

    State: ``z`` with one entry per directed edge ``(i -> j)`` (see :class:`EdgeIndex`), zero at
    start, and ``x_i = prox_{f_i/(rho d_i)}(sum_j z_ij / (rho d_i))``. Per iteration every
    agent sends ``m_ij = -z_ij + 2 rho x_i`` to each neighbour and sets
    ``z_ij <- (1 - alpha) z_ij + alpha m_ji``, then recomputes ``x_i``. Iteration 0 of the
    result is the ``x`` computed from ``z = 0`` (``RelaxedADMMAgent``'s first trajectory entry,
    the ``x^1`` of the reference iterates), and ``messages`` counts the rounds that produced the later ones.

    With ``loss_probability > 0`` or ``activation_probability < 1`` each agent wakes with
    probability ``activation_probability`` and each message is lost independently with
    probability ``loss_probability`` (the robust rule of edge ADMM and ATG): an inactive
    agent neither sends nor updates; an active agent updates ``z_ij`` only if ``m_ji`` arrived
    (so ``j`` was active too) and keeps it otherwise. Draws come from
    ``np.random.default_rng(seed)``, so the same seed gives the same run.

    Internally arrays are coordinate-major, ``(n, 2|E|)`` and ``(n, N)``: with ``n = 2`` an
    edge-major layout would make every masked or broadcast operation loop over rows of two.
    """
    started = time.perf_counter()
    iters, opt, every = _check_common(batch, graph, iterations, optimum, record_every)
    rho = positive(rho, "rho")
    alpha = in_open_interval(alpha, "alpha", 0.0, 1.0)
    p_loss = _probability(loss_probability, "loss_probability", allow_zero=True)
    p_act = _probability(activation_probability, "activation_probability", allow_zero=False)
    seed = at_least(seed, "seed", 0)
    idx = EdgeIndex.from_graph(graph)
    n_agents, dim, n_dir = batch.num_agents, batch.dim, idx.num_directed
    # (P_i + rho d_i I) x_i = P_i m_i + sum_j z_ij: the edge-ADMM prox with t_i = rho d_i, factored once.
    inv = np.linalg.inv(batch.precision + (rho * idx.degree)[:, None, None] * np.eye(dim))
    inv_t = np.ascontiguousarray(np.transpose(inv, (1, 2, 0)))  # (n, n, N)
    pm_t = np.ascontiguousarray(_matvec(batch.precision, batch.mean).T)  # (n, N)
    degree, reverse = idx.degree, idx.reverse

    def primal(z: np.ndarray) -> np.ndarray:
        return _matvec_t(inv_t, pm_t + idx.sum_by_owner(z))

    rng = np.random.default_rng(seed)
    z = np.zeros((dim, n_dir))
    xt = primal(z)
    rec = _Recorder(opt, every, iters, keep_trajectory)
    rec(0, xt.T)
    sent = dropped = 0
    lossy = p_loss > 0 or p_act < 1
    setup = time.perf_counter() - started
    started = time.perf_counter()
    for k in range(iters):
        msg = np.repeat(2.0 * rho * xt, degree, axis=1)
        msg -= z  # column (i -> j): m_ij = -z_ij + 2 rho x_i
        incoming = np.take(msg, reverse, axis=1)  # column (i -> j): m_ji
        incoming *= alpha
        if not lossy:
            z *= 1.0 - alpha
            z += incoming  # (1 - alpha) z_ij + alpha m_ji, rounded exactly as written
            xt = primal(z)
            sent += n_dir
        else:
            active = rng.random(n_agents) < p_act if p_act < 1 else np.ones(n_agents, dtype=bool)
            sends = np.repeat(active, degree)  # column (i -> j): i is awake, so m_ij goes out
            arrived = sends & (rng.random(n_dir) >= p_loss) if p_loss > 0 else sends
            update = sends & np.take(arrived, reverse)  # i awake and m_ji arrived
            z = np.where(update, (1.0 - alpha) * z + incoming, z)
            xt = np.where(active, primal(z), xt)
            n_sent = int(np.count_nonzero(sends))
            sent += n_sent
            dropped += n_sent - int(np.count_nonzero(arrived))
        rec(k + 1, xt.T)
    wall = time.perf_counter() - started
    return VectorResult(np.ascontiguousarray(xt.T), np.array(rec.errors), np.array(rec.at), iters, sent, dropped,
                        64 * dim * sent, wall, setup, rec.trajectory())
