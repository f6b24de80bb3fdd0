"""Local objectives and the problems they make up.

Each robot holds one :class:`LocalObjective`; a :class:`Problem` is the collection of all of
them plus the centralized optimum that tests and benchmarks compare against. The
algorithms only need value, gradient and the proximal map, so any objective offering those
plugs into any consensus algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distopt_ros.core.validation import as_finite_array, require_positive_definite

_FLOAT64 = np.dtype(float)


class LocalObjective:
    """A private convex cost ``f_i(x)`` of one agent, ``x`` in R^dim."""

    dim: int

    def value(self, x: np.ndarray) -> float:
        """``f_i(x)``."""
        raise NotImplementedError

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """``grad f_i(x)``."""
        raise NotImplementedError

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """``argmin_x f_i(x) + t/2 ||x - v||^2`` (the proximal map with penalty ``t``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class QuadraticObjective(LocalObjective):
    """``f(x) = 1/2 (x - m)^T P (x - m)``: a Gaussian measurement ``m`` with precision ``P``.

    This is the negative log-likelihood of an observation ``m`` with covariance ``P^-1``,
    so summing it over robots gives the weighted least-squares fusion problem, and the
    scalar case ``P = a``, ``m = c`` is the T1 problem of docs/algorithms.md, "Small reference problems".
    """

    precision: np.ndarray
    mean: np.ndarray

    def __post_init__(self) -> None:
        mean = as_finite_array(self.mean, "mean", ndim=1)
        prec = as_finite_array(self.precision, "precision", ndim=2)
        if prec.shape != (mean.size, mean.size):
            raise ValueError(
                f"precision must be {mean.size}x{mean.size} to match mean, got {prec.shape}"
            )
        require_positive_definite(prec, "precision", semi=True)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "precision", 0.5 * (prec + prec.T))

    @classmethod
    def from_covariance(cls, mean: Sequence[float], covariance: np.ndarray) -> QuadraticObjective:
        """Objective of an observation ``mean`` with covariance ``covariance``."""
        cov = as_finite_array(covariance, "covariance", ndim=2)
        require_positive_definite(cov, "covariance")
        return cls(precision=np.linalg.inv(cov), mean=np.asarray(mean, dtype=float))

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.mean.size)

    def value(self, x: np.ndarray) -> float:
        d = np.asarray(x, dtype=float) - self.mean
        return 0.5 * float(d @ self.precision @ d)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self.precision @ (np.asarray(x, dtype=float) - self.mean)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.precision

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        # (P + t I)^-1 and P m are kept for the last t: ADMM calls this every round with the same
        # penalty, and a robot's round is otherwise dominated by re-factorizing a tiny matrix.
        cache = self.__dict__.get("_prox_cache")
        if cache is None or cache[0] != t:
            cache = (t, np.linalg.inv(self.precision + t * np.eye(self.dim)), self.precision @ self.mean)
            object.__setattr__(self, "_prox_cache", cache)
        if type(v) is not np.ndarray or v.dtype is not _FLOAT64:  # lists, ints, float32: computed in float64
            v = np.asarray(v, dtype=float)
        return cache[1].dot(cache[2] + t * v)  # ndarray.dot: a third of @'s call cost


@dataclass(frozen=True)
class Problem:
    """``min_x sum_i f_i(x)``: one local objective per agent, all over the same ``x``."""

    objectives: tuple[LocalObjective, ...]

    def __post_init__(self) -> None:
        objs = tuple(self.objectives)
        if len(objs) < 1:
            raise ValueError("objectives must hold at least one local objective")
        dims = {o.dim for o in objs}
        if len(dims) != 1:
            raise ValueError(f"objectives must share one dimension, got dimensions {sorted(dims)}")
        object.__setattr__(self, "objectives", objs)

    @property
    def num_agents(self) -> int:
        return len(self.objectives)

    @property
    def dim(self) -> int:
        return self.objectives[0].dim

    def value(self, x: np.ndarray) -> float:
        return float(sum(o.value(x) for o in self.objectives))

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The feasible box: the intersection of the box-constrained objectives' boxes (all of R^n if none)."""
        lower = np.full(self.dim, -np.inf)
        upper = np.full(self.dim, np.inf)
        for o in self.objectives:
            if isinstance(o, BoxConstrainedObjective):
                lower, upper = np.maximum(lower, o.lower), np.minimum(upper, o.upper)
        if np.any(lower > upper):
            raise ValueError("the objectives' boxes do not intersect: the problem is infeasible")
        return lower, upper

    def centralized_optimum(self) -> np.ndarray:
        """The minimizer of the sum, as a central solver would compute it (the reference for tests).

        Accuracy, by the kind of objectives:

        * only quadratics and least squares: the normal equations, exact to rounding (minimum-norm
          least-squares solution if the summed Hessian is singular);
        * quadratics, least squares and box-constrained quadratics: a box-constrained QP solved
          exactly (active set identified and the KKT conditions verified), exact to rounding;
        * anything else (e.g. logistic): scipy BFGS, or L-BFGS-B over the intersected boxes, with
          ``gtol = 1e-12``, then projected Newton polishing when every objective has a Hessian, to
          a (projected) gradient norm of about 1e-12 relative to the gradient's scale.
        """
        objs = self.objectives
        n = self.dim
        zero = np.zeros(n)
        lower, upper = self.box()
        if all(isinstance(o, _QUADRATIC_KINDS) for o in objs):
            h = sum(o.hessian(zero) for o in objs)
            q = -sum(o.gradient(zero) for o in objs)  # the sum is 1/2 x'hx - q'x + const
            if not any(isinstance(o, BoxConstrainedObjective) for o in objs):
                try:
                    return np.linalg.solve(h, q)
                except np.linalg.LinAlgError:
                    return np.linalg.lstsq(h, q, rcond=None)[0]
            try:
                return solve_box_qp(h, q, lower, upper)
            except np.linalg.LinAlgError:
                pass  # singular Hessian: fall through to the general solver
        return self._numerical_optimum(lower, upper)

    def _smooth_value(self, x: np.ndarray) -> float:
        return float(sum(o.smooth_value(x) if isinstance(o, BoxConstrainedObjective) else o.value(x)
                         for o in self.objectives))

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        return np.sum([o.gradient(x) for o in self.objectives], axis=0)

    def _numerical_optimum(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        from scipy.optimize import minimize

        x0 = np.clip(np.zeros(self.dim), lower, upper)
        unbounded = bool(np.all(np.isinf(lower)) and np.all(np.isinf(upper)))
        if unbounded:
            res = minimize(self._smooth_value, x0, jac=self._gradient, method="BFGS",
                           options={"gtol": 1e-12, "maxiter": 10_000})
        else:
            bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                      for lo, hi in zip(lower, upper, strict=True)]
            res = minimize(self._smooth_value, x0, jac=self._gradient, method="L-BFGS-B", bounds=bounds,
                           options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
        x = np.clip(np.asarray(res.x, dtype=float), lower, upper)
        if all(hasattr(o, "hessian") for o in self.objectives):
            x = self._newton_polish(x, lower, upper)
        return x

    def _newton_polish(self, x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Projected Newton steps on the free coordinates, kept only while they reduce the projected gradient."""
        def projected_gradient(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g = self._gradient(z)
            active = ((z <= lower) & (g > 0)) | ((z >= upper) & (g < 0))
            return np.where(active, 0.0, g), active

        pg, active = projected_gradient(x)
        for _ in range(20):
            free = ~active
            if not free.any() or np.linalg.norm(pg) == 0.0:
                break
            hess = np.sum([o.hessian(x) for o in self.objectives], axis=0)  # type: ignore[attr-defined]
            step = np.zeros_like(x)
            try:
                step[free] = np.linalg.solve(hess[np.ix_(free, free)], pg[free])
            except np.linalg.LinAlgError:
                break
            cand = np.clip(x - step, lower, upper)
            cand_pg, cand_active = projected_gradient(cand)
            if np.linalg.norm(cand_pg) >= np.linalg.norm(pg):
                break
            x, pg, active = cand, cand_pg, cand_active
        return x


@dataclass(frozen=True)
class LeastSquaresObjective(LocalObjective):
    """``f(x) = 1/2 ||A x - b||^2``: one agent's rows of a distributed least-squares fit.

    Equivalent, up to the constant ``1/2 ||b||^2``, to QuDRC-ALADIN's benchmark quadratic ``1/2 x'Px + q'x``
    with ``P = A'A`` and ``q = -A'b``.
    """

    A: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        a = as_finite_array(self.A, "A", ndim=2)
        b = as_finite_array(self.b, "b", ndim=1)
        if a.shape[1] < 1:
            raise ValueError(f"A must have at least one column, got shape {a.shape}")
        if b.size != a.shape[0]:
            raise ValueError(f"b must have {a.shape[0]} entries (one per row of A), got {b.size}")
        object.__setattr__(self, "A", a)
        object.__setattr__(self, "b", b)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.A.shape[1])

    @property
    def num_samples(self) -> int:
        return int(self.A.shape[0])

    def value(self, x: np.ndarray) -> float:
        r = self.A @ np.asarray(x, dtype=float) - self.b
        return 0.5 * float(r @ r)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self.A.T @ (self.A @ np.asarray(x, dtype=float) - self.b)

    def batch_gradient(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Gradient of the rows ``rows`` only, scaled to the full data (minibatch SGD of federated clients)."""
        a = self.A[rows]
        return (self.num_samples / max(1, len(rows))) * a.T @ (a @ np.asarray(x, dtype=float) - self.b[rows])

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.A.T @ self.A

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """Exact: the solution of ``(A'A + t I) x = A'b + t v``."""
        lhs = self.A.T @ self.A + t * np.eye(self.dim)
        return np.linalg.solve(lhs, self.A.T @ self.b + t * np.asarray(v, dtype=float))


@dataclass(frozen=True)
class LogisticObjective(LocalObjective):
    """``f(x) = sum_k log(1 + exp(-y_k a_k^T x)) + reg/2 ||x||^2`` with labels ``y_k`` in {-1, +1}.

    Logistic regression on one robot's samples; ``reg > 0`` makes it strongly convex (the
    exact and gradient-tracking methods need that for linear convergence). All formulas are
    overflow-free for any margin.
    """

    features: np.ndarray
    labels: np.ndarray
    reg: float = 0.1

    def __post_init__(self) -> None:
        a = as_finite_array(self.features, "features", ndim=2)
        y = as_finite_array(self.labels, "labels", ndim=1)
        if a.shape[1] < 1:
            raise ValueError(f"features must have at least one column, got shape {a.shape}")
        if y.size != a.shape[0]:
            raise ValueError(f"labels must have {a.shape[0]} entries (one per row of features), got {y.size}")
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError("labels must be -1 or +1")
        try:
            reg = float(self.reg)
        except (TypeError, ValueError):
            raise ValueError(f"reg must be a finite number >= 0, got {self.reg!r}") from None
        if not (np.isfinite(reg) and reg >= 0):
            raise ValueError(f"reg must be a finite number >= 0, got {self.reg!r}")
        object.__setattr__(self, "features", a)
        object.__setattr__(self, "labels", y)
        object.__setattr__(self, "reg", reg)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.features.shape[1])

    @property
    def num_samples(self) -> int:
        return int(self.features.shape[0])

    def _margins(self, x: np.ndarray) -> np.ndarray:
        return self.labels * (self.features @ np.asarray(x, dtype=float))

    def value(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        return float(np.sum(np.logaddexp(0.0, -self._margins(x))) + 0.5 * self.reg * x @ x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        s = 0.5 * (1.0 - np.tanh(0.5 * self._margins(x)))  # sigmoid(-margin), overflow-free
        return -self.features.T @ (self.labels * s) + self.reg * x

    def batch_gradient(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Gradient of the rows ``rows`` only, scaled to the full data (minibatch SGD of federated clients)."""
        sub = LogisticObjective(self.features[rows], self.labels[rows], 0.0)
        scale = self.num_samples / max(1, len(rows))
        return scale * sub.gradient(x) + self.reg * np.asarray(x, dtype=float)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        m = self._margins(x)
        s = 0.5 * (1.0 - np.tanh(0.5 * m))
        w = s * (1.0 - s)
        return (self.features.T * w) @ self.features + self.reg * np.eye(self.dim)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """The proximal point, to a gradient norm of 1e-13 (relative to the data's scale, at least 1).

        Damped Newton on the strongly convex ``f + t/2 ||x - v||^2``; raises RuntimeError if it
        has not converged in 100 Newton steps (e.g. ``t = 0`` with ``reg = 0`` on separable data).
        """
        v = np.asarray(v, dtype=float)
        eye = np.eye(self.dim)
        data_scale = float(np.linalg.norm(self.features))

        def phi(z: np.ndarray) -> float:
            d = z - v
            return self.value(z) + 0.5 * t * float(d @ d)

        x = v.copy()
        fx = phi(x)
        for _ in range(100):
            g = self.gradient(x) + t * (x - v)
            gnorm = float(np.linalg.norm(g))
            scale = max(1.0, data_scale, (self.reg + t) * float(np.linalg.norm(x)), t * float(np.linalg.norm(v)))
            if gnorm <= 1e-13 * scale:
                return x
            step = np.linalg.solve(self.hessian(x) + t * eye, g)
            slope = -float(g @ step)
            s = 1.0
            for _ in range(60):  # backtracking: sufficient decrease, or (at rounding level) a smaller gradient
                cand = x - s * step
                fc = phi(cand)
                if fc <= fx + 1e-4 * s * slope:
                    break
                if (fc <= fx + 1e-14 * max(1.0, abs(fx))
                        and np.linalg.norm(self.gradient(cand) + t * (cand - v)) < gnorm):
                    break
                s *= 0.5
            x, fx = cand, fc
        raise RuntimeError("logistic prox: Newton did not converge in 100 steps")


@dataclass(frozen=True)
class BoxConstrainedObjective(LocalObjective):
    """A quadratic restricted to a box ``[lower, upper]`` (``f`` + the box's indicator).

    Models a robot whose decision is physically limited (actuator or workspace bounds).
    ``value`` is +inf outside the box; ``gradient`` is that of the quadratic part (the smooth
    part); ``prox`` is the exact solution of the small box-constrained QP, so ADMM-type methods
    handle the constraint without approximation. Bounds may be infinite on some coordinates.
    """

    inner: QuadraticObjective
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.inner, QuadraticObjective):
            raise ValueError(f"inner must be a QuadraticObjective, got {type(self.inner).__name__}")
        n = self.inner.dim
        lo = _bound(self.lower, "lower", n)
        hi = _bound(self.upper, "upper", n)
        if np.any(lo == np.inf):
            raise ValueError("lower must be < +inf")
        if np.any(hi == -np.inf):
            raise ValueError("upper must be > -inf")
        if np.any(lo > hi):
            raise ValueError(f"lower must be <= upper elementwise, got lower={lo.tolist()} upper={hi.tolist()}")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    def project(self, x: np.ndarray) -> np.ndarray:
        """The Euclidean projection onto the box."""
        return np.clip(np.asarray(x, dtype=float), self.lower, self.upper)

    def smooth_value(self, x: np.ndarray) -> float:
        """The quadratic part alone (finite everywhere), for solvers that handle the box themselves."""
        return self.inner.value(x)

    def value(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        if np.any(x < self.lower - 1e-12) or np.any(x > self.upper + 1e-12):
            return float("inf")
        return self.inner.value(x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self.inner.gradient(x)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.inner.precision

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """``argmin_{lower <= x <= upper} f(x) + t/2 ||x - v||^2``, exact to rounding (see :func:`solve_box_qp`)."""
        h = self.inner.precision + t * np.eye(self.dim)
        q = self.inner.precision @ self.inner.mean + t * np.asarray(v, dtype=float)  # minimize 1/2 x'Hx - q'x
        return solve_box_qp(h, q, self.lower, self.upper)


_QUADRATIC_KINDS = (QuadraticObjective, LeastSquaresObjective, BoxConstrainedObjective)


def _bound(value: object, name: str, n: int) -> np.ndarray:
    """A box bound as an ``(n,)`` float array (a scalar is broadcast); NaN refused, +-inf allowed."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have {n} entries, got shape {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN")
    return arr


def _box_kkt_holds(h: np.ndarray, q: np.ndarray, x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> bool:
    """Whether ``x`` satisfies the KKT conditions of ``min 1/2 x'hx - q'x`` over the box (to rounding)."""
    if np.any(x < lower) or np.any(x > upper):
        return False
    g = h @ x - q
    tol = 1e-11 * max(1.0, float(np.abs(h).max() * np.abs(x).max()), float(np.abs(q).max()))
    at_lo, at_hi = x <= lower, x >= upper
    free = ~(at_lo | at_hi)
    return bool(np.all(np.abs(g[free]) <= tol) and np.all(g[at_lo & ~at_hi] >= -tol)
                and np.all(g[at_hi & ~at_lo] <= tol))


def _solve_with_fixed(h: np.ndarray, q: np.ndarray, x: np.ndarray, free: np.ndarray) -> np.ndarray:
    """``x`` with its free coordinates re-solved so that the gradient vanishes on them."""
    x = x.copy()
    if free.any():
        fixed = ~free
        x[free] = np.linalg.solve(h[np.ix_(free, free)], q[free] - h[np.ix_(free, fixed)] @ x[fixed])
    return x


def _primal_dual_active_set(h: np.ndarray, q: np.ndarray, x: np.ndarray, lower: np.ndarray,
                            upper: np.ndarray, max_iter: int = 50) -> np.ndarray | None:
    """Primal-dual active-set iteration from ``x``; the KKT point if found (``None`` otherwise)."""
    c = 1.0 / max(float(np.max(np.diag(h))), 1e-300)
    prev: tuple[bytes, bytes] | None = None
    for _ in range(max_iter):
        g = h @ x - q
        at_lo = x - c * g <= lower
        at_hi = (x - c * g >= upper) & ~at_lo
        key = (at_lo.tobytes(), at_hi.tobytes())
        if key == prev:
            break
        prev = key
        x = np.where(at_lo, lower, np.where(at_hi, upper, x))
        x = _solve_with_fixed(h, q, x, ~(at_lo | at_hi))
    x = np.clip(x, lower, upper)
    return x if _box_kkt_holds(h, q, x, lower, upper) else None


def _enumerate_active_sets(h: np.ndarray, q: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Exact QP solution: try every assignment of coordinates to free / at lower / at upper."""
    import itertools

    best, best_val = None, np.inf
    for pattern in itertools.product((0, 1, 2), repeat=q.size):
        pat = np.array(pattern)
        x = np.where(pat == 1, lower, np.where(pat == 2, upper, 0.0))
        free = pat == 0
        if np.any(~np.isfinite(x[~free])):
            continue
        x = _solve_with_fixed(h, q, x, free)
        if np.any(x < lower - 1e-12) or np.any(x > upper + 1e-12):
            continue
        val = 0.5 * x @ h @ x - q @ x
        if val < best_val:
            best, best_val = x, val
    assert best is not None  # the box is non-empty, so some pattern is feasible
    return np.clip(best, lower, upper)


def solve_box_qp(h: np.ndarray, q: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``argmin_{lower <= x <= upper} 1/2 x'hx - q'x`` for positive definite ``h``, exact to rounding.

    Consensus references and ADMM's prox need the true solution, not a solver-tolerance one:
    a diagonal ``h`` is a clip; otherwise the active set is identified (primal-dual active set,
    checked against the KKT conditions), falling back to enumerating all active sets for
    ``dim <= 6`` or to L-BFGS-B (``gtol = 1e-14``) followed by the same active-set refinement.
    """
    h = np.asarray(h, dtype=float)
    q = np.asarray(q, dtype=float)
    if np.count_nonzero(h - np.diag(np.diag(h))) == 0:
        return np.clip(q / np.diag(h), lower, upper)
    free = np.linalg.solve(h, q)
    if np.all(free >= lower) and np.all(free <= upper):
        return free
    x = _primal_dual_active_set(h, q, np.clip(free, lower, upper), lower, upper)
    if x is not None:
        return x
    if q.size <= 6:
        return _enumerate_active_sets(h, q, lower, upper)
    from scipy.optimize import minimize

    bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
              for lo, hi in zip(lower, upper, strict=True)]
    res = minimize(lambda z: 0.5 * z @ h @ z - q @ z, np.clip(free, lower, upper), jac=lambda z: h @ z - q,
                   method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-16, "gtol": 1e-14, "maxiter": 10_000})
    approx = np.clip(np.asarray(res.x, dtype=float), lower, upper)
    refined = _primal_dual_active_set(h, q, approx, lower, upper)
    return approx if refined is None else refined


def random_least_squares_problem(num_agents: int, dim: int, seed: int, rows: int | None = None) -> Problem:
    """QuDRC-ALADIN's distributed least squares: ``P_i = A_i^2``, ``A_i`` random symmetric.

    docs/algorithms.md, "Problems" (least squares).

    ``f_i = 1/2 ||A_i x - b_i||^2`` with ``A_i`` symmetric (``rows = None``: ``P_i = A_i^2``,
    ``q_i = -A_i^T b_i``) or, with ``rows`` given, a random ``rows x dim`` matrix; ``b_i``
    standard normal. Deterministic in ``seed``; ``x* = (sum A_i'A_i)^-1 sum A_i'b_i``.
    """
    num_agents = at_least_one(num_agents, "num_agents")
    dim = at_least_one(dim, "dim")
    if rows is not None:
        rows = at_least_one(rows, "rows")
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(num_agents):
        if rows is None:
            m = rng.normal(size=(dim, dim))
            a = 0.5 * (m + m.T)
        else:
            a = rng.normal(size=(rows, dim))
        objs.append(LeastSquaresObjective(a, rng.normal(size=a.shape[0])))
    return Problem(tuple(objs))


def random_logistic_problem(num_agents: int, dim: int, seed: int, samples_per_agent: int = 20,
                            reg: float = 0.1) -> Problem:
    """Logistic regression with labels from a seeded ground-truth separator plus 10 % label noise.

    The noise keeps the data non-separable, so the optimum is bounded even for small ``reg``.
    """
    num_agents = at_least_one(num_agents, "num_agents")
    dim = at_least_one(dim, "dim")
    samples_per_agent = at_least_one(samples_per_agent, "samples_per_agent")
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=dim)
    objs = []
    for _ in range(num_agents):
        feats = rng.normal(size=(samples_per_agent, dim))
        labels = np.sign(feats @ truth + 1e-12)
        labels[labels == 0] = 1.0
        flip = rng.random(samples_per_agent) < 0.1
        labels[flip] *= -1
        objs.append(LogisticObjective(feats, labels, reg))
    return Problem(tuple(objs))


def at_least_one(value: int, name: str) -> int:
    """``value`` as an int >= 1 (a count of agents, dimensions or samples)."""
    try:
        ok = int(value) == value and int(value) >= 1 and not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


_REQUIRED = {
    "least_squares": ("A", "b"),
    "logistic": ("features", "labels"),
    "box": ("inner", "lower", "upper"),
}


def objective_from_dict(data: dict, index: int = 0) -> LocalObjective:
    """A local objective from plain data (e.g. a YAML mapping); errors name the objective and field.

    ``{"type": "quadratic", "mean": [...], "precision": [[...]]}`` (or ``"covariance"``),
    ``{"type": "least_squares", "A": [[...]], "b": [...]}``,
    ``{"type": "logistic", "features": [[...]], "labels": [...], "reg": 0.1}`` (``reg`` optional),
    ``{"type": "box", "inner": {quadratic}, "lower": [...], "upper": [...]}``.
    The inverse is :func:`objective_to_dict`.
    """
    if not isinstance(data, dict):
        raise ValueError(f"objective {index}: must be a mapping, got {type(data).__name__}")
    if "type" not in data:
        raise ValueError(f"objective {index}: field 'type' is missing")
    kind = data["type"]
    try:
        if kind == "quadratic":
            if "mean" not in data:
                raise ValueError("field 'mean' is missing")
            if "covariance" in data:
                return QuadraticObjective.from_covariance(data["mean"], data["covariance"])
            if "precision" not in data:
                raise ValueError("field 'precision' (or 'covariance') is missing")
            return QuadraticObjective(data["precision"], data["mean"])
        if kind in _REQUIRED:
            for key in _REQUIRED[kind]:
                if key not in data:
                    raise ValueError(f"field '{key}' is missing")
            if kind == "least_squares":
                return LeastSquaresObjective(data["A"], data["b"])
            if kind == "logistic":
                return LogisticObjective(data["features"], data["labels"], data.get("reg", 0.1))
            if not isinstance(data["inner"], dict):
                raise ValueError(f"field 'inner' must be a mapping, got {type(data['inner']).__name__}")
            inner = objective_from_dict(data["inner"], index)
            if not isinstance(inner, QuadraticObjective):
                raise ValueError("field 'inner' must be a quadratic objective")
            return BoxConstrainedObjective(inner, data["lower"], data["upper"])
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith("objective ") else f"objective {index}: {msg}") from None
    raise ValueError(f"objective {index}: field 'type' must be quadratic, least_squares, logistic or box; got {kind!r}")


def objective_to_dict(objective: LocalObjective) -> dict:
    """Plain (YAML-safe) data for ``objective``; :func:`objective_from_dict` rebuilds it exactly."""
    if isinstance(objective, QuadraticObjective):
        return {"type": "quadratic", "precision": objective.precision.tolist(), "mean": objective.mean.tolist()}
    if isinstance(objective, LeastSquaresObjective):
        return {"type": "least_squares", "A": objective.A.tolist(), "b": objective.b.tolist()}
    if isinstance(objective, LogisticObjective):
        return {"type": "logistic", "features": objective.features.tolist(), "labels": objective.labels.tolist(),
                "reg": float(objective.reg)}
    if isinstance(objective, BoxConstrainedObjective):
        return {"type": "box", "inner": objective_to_dict(objective.inner), "lower": objective.lower.tolist(),
                "upper": objective.upper.tolist()}
    raise ValueError(f"objective must be quadratic, least squares, logistic or box, got {type(objective).__name__}")


def problem_from_dicts(items: Sequence[dict]) -> Problem:
    """A problem from a list of objective mappings (see :func:`objective_from_dict`)."""
    if isinstance(items, dict | str | bytes):
        raise ValueError(f"items must be a list of objective mappings, got {type(items).__name__}")
    return Problem(tuple(objective_from_dict(d, i) for i, d in enumerate(items)))


def problem_to_dicts(problem: Problem) -> list[dict]:
    """Plain data for every objective of ``problem`` (the inverse of :func:`problem_from_dicts`)."""
    return [objective_to_dict(o) for o in problem.objectives]


def target_fusion_problem(
    num_robots: int,
    seed: int,
    dim: int = 2,
    target: Sequence[float] | None = None,
    noise_scale: float = 1.0,
) -> tuple[Problem, np.ndarray]:
    """The swarm's default job: fuse noisy observations of one target position.

    Robot ``i`` sees the target through its own sensor: a random covariance (anisotropic,
    condition number up to ~10) and one sample of noise drawn from it. The problem is a
    deterministic function of ``(num_robots, seed, dim)``, so every robot node can rebuild
    its own private objective, and the monitor the centralized answer, from the shared
    configuration alone. Returns the problem and the true target.
    """
    if num_robots < 1:
        raise ValueError(f"num_robots must be >= 1, got {num_robots}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not noise_scale > 0:
        raise ValueError(f"noise_scale must be > 0, got {noise_scale}")
    rng = np.random.default_rng(seed)
    truth = (
        rng.uniform(-5.0, 5.0, size=dim)
        if target is None
        else as_finite_array(target, "target", ndim=1, size=dim)
    )
    objectives = []
    for _ in range(num_robots):
        basis, _r = np.linalg.qr(rng.normal(size=(dim, dim)))
        variances = noise_scale**2 * rng.uniform(0.1, 1.0, size=dim)
        cov = basis @ np.diag(variances) @ basis.T
        obs = truth + rng.multivariate_normal(np.zeros(dim), cov)
        objectives.append(QuadraticObjective.from_covariance(obs, cov))
    return Problem(tuple(objectives)), np.asarray(truth, dtype=float)
