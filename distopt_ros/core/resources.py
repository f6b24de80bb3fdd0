"""Resource-allocation costs ``c_i(y_i)`` and the shared-resource problem of price coordination.

Each agent's cost answers one question for price coordination: "at price ``p``, how much
do you take?", i.e. ``y_i(p) = argmin_y c_i(y) - p^T A_i y`` (the best response). The
centralized problem ``min sum_i c_i(y_i)  s.t.  sum_i A_i y_i = b`` is solved by scipy for
reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, minimize

from distopt_ros.core.validation import as_finite_array


class ResourceCost:
    """Convex cost of one agent's allocation ``y`` in R^n (box ``[lower, upper]``, may be infinite)."""

    dim: int
    lower: np.ndarray
    upper: np.ndarray

    def value(self, y: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def response(self, price: np.ndarray) -> np.ndarray:
        """``argmin_y c(y) - price^T y`` over the box (``price`` already multiplied by ``A_i^T``)."""
        raise NotImplementedError

    def project(self, y: np.ndarray) -> np.ndarray:
        return np.clip(y, self.lower, self.upper)

    @property
    def strong_convexity(self) -> float:
        """``mu`` of the cost (0 when merely convex); sets the dual step bound of dual ascent."""
        return 0.0

    @property
    def smoothness(self) -> float:
        """``L`` of the cost's gradient (inf if unknown)."""
        return float("inf")


def _box(lower: object, upper: object, dim: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(dim, -np.inf) if lower is None else np.broadcast_to(np.asarray(lower, dtype=float), (dim,)).copy()
    hi = np.full(dim, np.inf) if upper is None else np.broadcast_to(np.asarray(upper, dtype=float), (dim,)).copy()
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
        raise ValueError("lower must be <= upper (and not NaN)")
    return lo, hi


@dataclass
class QuadraticCost(ResourceCost):
    """``c(y) = 1/2 sum_k a_k y_k^2 + beta_k y_k`` (diagonal, so a box is a clip)."""

    a: Sequence[float]
    beta: Sequence[float] | float = 0.0
    lower: object = None
    upper: object = None

    def __post_init__(self) -> None:
        self.a = as_finite_array(self.a, "a").reshape(-1)
        if np.any(self.a <= 0):
            raise ValueError("a must be > 0 (strongly convex quadratic cost)")
        self.dim = self.a.size
        self.beta = np.broadcast_to(as_finite_array(self.beta, "beta"), (self.dim,)).astype(float)
        self.lower, self.upper = _box(self.lower, self.upper, self.dim)

    def value(self, y: np.ndarray) -> float:
        y = np.asarray(y, dtype=float)
        return float(0.5 * self.a @ (y * y) + self.beta @ y)

    def gradient(self, y: np.ndarray) -> np.ndarray:
        return self.a * np.asarray(y, dtype=float) + self.beta

    def response(self, price: np.ndarray) -> np.ndarray:
        return self.project((np.asarray(price, dtype=float) - self.beta) / self.a)

    @property
    def strong_convexity(self) -> float:
        return float(np.min(self.a))

    @property
    def smoothness(self) -> float:
        return float(np.max(self.a))


@dataclass
class LinearCost(ResourceCost):
    """``c(y) = beta^T y`` on a capacity box: merely convex, the case where only extragradient converges."""

    beta: Sequence[float]
    lower: object = 0.0
    upper: object = 1.0

    def __post_init__(self) -> None:
        self.beta = as_finite_array(self.beta, "beta").reshape(-1)
        self.dim = self.beta.size
        self.lower, self.upper = _box(self.lower, self.upper, self.dim)
        if not (np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper))):
            raise ValueError("lower and upper must be finite for a linear cost (capacity box)")

    def value(self, y: np.ndarray) -> float:
        return float(self.beta @ np.asarray(y, dtype=float))

    def gradient(self, y: np.ndarray) -> np.ndarray:
        return self.beta.copy()

    def response(self, price: np.ndarray) -> np.ndarray:
        # Bang-bang (any point when price == beta): take the midpoint there.
        p = np.asarray(price, dtype=float)
        return np.where(p > self.beta, self.upper, np.where(p < self.beta, self.lower, 0.5 * (self.lower + self.upper)))

    @property
    def smoothness(self) -> float:
        return 0.0


@dataclass
class SmoothScalarCost(ResourceCost):
    """A general smooth strictly convex scalar cost given by ``c`` and ``c'``; responses by a 1-D root find.

    ``c'(y) = p`` is solved with Brent's method on ``[lower, upper]`` (bracket grown from
    +-1 when the box is unbounded), clipping when the root lies outside the box.
    """

    func: object
    derivative: object
    lower: object = None
    upper: object = None
    mu: float = 0.0

    def __post_init__(self) -> None:
        if not callable(self.func) or not callable(self.derivative):
            raise ValueError("func and derivative must be callables")
        self.dim = 1
        self.lower, self.upper = _box(self.lower, self.upper, 1)

    def value(self, y: np.ndarray) -> float:
        return float(self.func(float(np.asarray(y).reshape(-1)[0])))

    def gradient(self, y: np.ndarray) -> np.ndarray:
        return np.array([float(self.derivative(float(np.asarray(y).reshape(-1)[0])))])

    def response(self, price: np.ndarray) -> np.ndarray:
        p = float(np.asarray(price).reshape(-1)[0])
        g = lambda y: float(self.derivative(y)) - p  # noqa: E731
        lo, hi = float(self.lower[0]), float(self.upper[0])
        a = lo if np.isfinite(lo) else -1.0
        b = hi if np.isfinite(hi) else 1.0
        for _ in range(200):
            if g(a) <= 0 or np.isfinite(lo):
                break
            a = 2 * a - 1
        for _ in range(200):
            if g(b) >= 0 or np.isfinite(hi):
                break
            b = 2 * b + 1
        if g(a) >= 0:
            return np.array([a])
        if g(b) <= 0:
            return np.array([b])
        return np.array([brentq(g, a, b, xtol=1e-14, rtol=1e-14)])

    @property
    def strong_convexity(self) -> float:
        return float(self.mu)


@dataclass
class ResourceProblem:
    """``min sum_i c_i(y_i)  s.t.  sum_i A_i y_i = b`` (``A_i`` defaults to the identity)."""

    costs: Sequence[ResourceCost]
    b: Sequence[float] | float
    A: Sequence[np.ndarray] | None = None
    matrices: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.costs = list(self.costs)
        if not self.costs:
            raise ValueError("costs must not be empty")
        self.b = np.atleast_1d(as_finite_array(self.b, "b")).reshape(-1)
        m = self.b.size
        mats = []
        for i, c in enumerate(self.costs):
            if self.A is None:
                if c.dim != m:
                    raise ValueError(f"A must be given when cost {i} has dimension {c.dim} != len(b) = {m}")
                mats.append(np.eye(m))
            else:
                a_i = as_finite_array(self.A[i], f"A[{i}]", ndim=2)
                if a_i.shape != (m, c.dim):
                    raise ValueError(f"A[{i}] must have shape ({m}, {c.dim}), got {a_i.shape}")
                mats.append(a_i)
        self.matrices = mats

    @property
    def num_agents(self) -> int:
        return len(self.costs)

    def dual_lipschitz(self) -> float:
        """``L_d = sum ||A_i||^2 / mu_i``: dual ascent converges for ``alpha < 2 / L_d``."""
        mus = [c.strong_convexity for c in self.costs]
        if min(mus) <= 0:
            return float("inf")
        return float(sum(np.linalg.norm(a, 2) ** 2 / mu for a, mu in zip(self.matrices, mus, strict=True)))

    def solve(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Centralized optimum ``(y*, p*)``.

        Exact for quadratic costs without boxes (``y_i = (A_i^T p - beta_i) / a_i`` with ``p`` from
        the balance equation, the minimum-norm one if the coupling rows are dependent); otherwise SLSQP on the
        stacked problem (about 1e-8) with the price
        recovered from the KKT conditions of the agents strictly inside their boxes.
        """
        if all(isinstance(c, QuadraticCost) and np.all(np.isinf(c.lower)) and np.all(np.isinf(c.upper))
               for c in self.costs):
            lhs = sum(a @ np.diag(1.0 / c.a) @ a.T for c, a in zip(self.costs, self.matrices, strict=True))
            rhs = self.b + sum(a @ (c.beta / c.a) for c, a in zip(self.costs, self.matrices, strict=True))
            # Dependent coupling rows (the edges of a cycle, in dual decomposition) leave the price non-unique: the
            # allocation is still unique, and least squares picks the minimum-norm price of the consistent system.
            full = np.linalg.matrix_rank(lhs) == lhs.shape[0]
            price = np.linalg.solve(lhs, rhs) if full else np.linalg.lstsq(lhs, rhs, rcond=None)[0]
            return [c.response(a.T @ price) for c, a in zip(self.costs, self.matrices, strict=True)], price
        dims = [c.dim for c in self.costs]
        cuts = np.cumsum([0, *dims])
        split = lambda z: [z[cuts[i]:cuts[i + 1]] for i in range(len(dims))]  # noqa: E731
        a_full = np.hstack(self.matrices)
        bounds = [(lo, hi) for c in self.costs for lo, hi in zip(np.where(np.isfinite(c.lower), c.lower, None),
                                                                   np.where(np.isfinite(c.upper), c.upper, None),
                                                                   strict=True)]
        res = minimize(lambda z: sum(c.value(y) for c, y in zip(self.costs, split(z), strict=True)),
                       np.zeros(cuts[-1]),
                       jac=lambda z: np.concatenate([c.gradient(y) for c, y in zip(self.costs, split(z), strict=True)]),
                       constraints=[{"type": "eq", "fun": lambda z: a_full @ z - self.b, "jac": lambda z: a_full}],
                       bounds=bounds, method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
        ys = split(res.x)
        # Price from the agents strictly inside their boxes: grad c_i(y_i) = A_i^T p.
        rows, rhs = [], []
        for c, a, y in zip(self.costs, self.matrices, ys, strict=True):
            inside = (y > c.lower + 1e-7) & (y < c.upper - 1e-7)
            g = c.gradient(y)
            for k in np.nonzero(inside)[0]:
                rows.append(a[:, k])
                rhs.append(g[k])
        price = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0] if rows else np.zeros(self.b.size)
        return ys, price


def edge_consensus_problem(curvatures: np.ndarray, centers: np.ndarray,
                           edges: Sequence[tuple[int, int]]) -> ResourceProblem:
    """Consensus as a resource problem: dual decomposition over a graph's edges.

    ``min sum_i 1/2 sum_k a_ik (y_ik - c_ik)^2  s.t.  y_i - y_j = 0`` for every edge ``(i, j)``, ``i < j``:
    one resource row block of ``n`` rows per edge, ``A_i`` holding ``+I`` (``-I``) on the blocks of the edges
    where ``i`` is the smaller (larger) end, ``b = 0``. The price of edge ``(i, j)`` is its multiplier
    ``lambda_ij``, and the optimum puts every ``y_i`` at the curvature-weighted mean of the centres. Robot ``i``'s
    ``A_i`` is non-zero on its ``d_i n`` rows only, which is what its price messages carry
    (:func:`~distopt_ros.core.algorithms.price.coupling_support`).
    """
    a = np.atleast_2d(as_finite_array(curvatures, "curvatures"))
    c = np.atleast_2d(as_finite_array(centers, "centers"))
    if a.shape != c.shape:
        raise ValueError(f"curvatures and centers must have one shape, got {a.shape} and {c.shape}")
    n_agents, dim = a.shape
    pairs = sorted({(min(i, j), max(i, j)) for i, j in edges})
    if not pairs or any(i == j or i < 0 or j >= n_agents for i, j in pairs):
        raise ValueError(f"edges must join distinct agents 0..{n_agents - 1}")
    mats = [np.zeros((len(pairs) * dim, dim)) for _ in range(n_agents)]
    eye = np.eye(dim)
    for e, (i, j) in enumerate(pairs):
        mats[i][e * dim:(e + 1) * dim] = eye
        mats[j][e * dim:(e + 1) * dim] = -eye
    costs = [QuadraticCost(a[i], -a[i] * c[i]) for i in range(n_agents)]
    return ResourceProblem(costs, np.zeros(len(pairs) * dim), mats)
