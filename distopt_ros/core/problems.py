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
    scalar case ``P = a``, ``m = c`` is test problem T1 of ALGORITHMS.md section 0.
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
        lhs = self.precision + t * np.eye(self.dim)
        rhs = self.precision @ self.mean + t * np.asarray(v, dtype=float)
        return np.linalg.solve(lhs, rhs)


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

    def centralized_optimum(self) -> np.ndarray:
        """The minimizer of the sum, as a central solver would compute it.

        Closed form for quadratics and least squares (normal equations, exact to rounding);
        otherwise scipy: L-BFGS-B over the intersection of the objectives' boxes, or BFGS
        without boxes, to a gradient norm of about 1e-10 (polished by Newton steps when
        every objective provides a Hessian).
        """
        objs = self.objectives
        if all(isinstance(o, QuadraticObjective | LeastSquaresObjective) for o in objs):
            lhs = sum(o.hessian(np.zeros(self.dim)) for o in objs)
            rhs = -sum(o.gradient(np.zeros(self.dim)) for o in objs)
            return np.linalg.solve(lhs, rhs)
        from scipy.optimize import minimize

        lower = np.full(self.dim, -np.inf)
        upper = np.full(self.dim, np.inf)
        for o in objs:
            if isinstance(o, BoxConstrainedObjective):
                lower, upper = np.maximum(lower, o.lower), np.minimum(upper, o.upper)
        if np.any(lower > upper):
            raise ValueError("the objectives' boxes do not intersect: the problem is infeasible")
        grad = lambda x: sum(o.gradient(x) for o in objs)  # noqa: E731
        smooth = lambda x: float(sum(o.smooth_value(x) if isinstance(o, BoxConstrainedObjective)  # noqa: E731
                                     else o.value(x) for o in objs))
        x0 = np.clip(np.zeros(self.dim), lower, upper)
        if np.all(np.isinf(lower)) and np.all(np.isinf(upper)):
            res = minimize(smooth, x0, jac=grad, method="BFGS", options={"gtol": 1e-12, "maxiter": 10_000})
            x = np.asarray(res.x)
            if all(hasattr(o, "hessian") for o in objs):
                for _ in range(20):  # Newton polish
                    x = x - np.linalg.solve(sum(o.hessian(x) for o in objs), grad(x))
            return x
        bounds = list(zip(np.where(np.isfinite(lower), lower, None), np.where(np.isfinite(upper), upper, None),
                          strict=True))
        res = minimize(smooth, x0, jac=grad, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
        return np.asarray(res.x)


@dataclass(frozen=True)
class LeastSquaresObjective(LocalObjective):
    """``f(x) = 1/2 ||A x - b||^2``: one agent's rows of a distributed least-squares fit (section 11.6)."""

    A: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        a = as_finite_array(self.A, "A", ndim=2)
        b = as_finite_array(self.b, "b", ndim=1)
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
        """Gradient of the rows ``rows`` only, scaled to the full data (minibatch SGD, section 12)."""
        a = self.A[rows]
        return (self.num_samples / max(1, len(rows))) * a.T @ (a @ np.asarray(x, dtype=float) - self.b[rows])

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.A.T @ self.A

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        lhs = self.A.T @ self.A + t * np.eye(self.dim)
        return np.linalg.solve(lhs, self.A.T @ self.b + t * np.asarray(v, dtype=float))


@dataclass(frozen=True)
class LogisticObjective(LocalObjective):
    """``f(x) = sum_k log(1 + exp(-y_k a_k^T x)) + reg/2 ||x||^2`` with labels ``y_k`` in {-1, +1}.

    Logistic regression on one robot's samples; ``reg > 0`` makes it strongly convex (the
    exact and gradient-tracking methods need that for linear convergence).
    """

    features: np.ndarray
    labels: np.ndarray
    reg: float = 0.1

    def __post_init__(self) -> None:
        a = as_finite_array(self.features, "features", ndim=2)
        y = as_finite_array(self.labels, "labels", ndim=1)
        if y.size != a.shape[0]:
            raise ValueError(f"labels must have {a.shape[0]} entries (one per row of features), got {y.size}")
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError("labels must be -1 or +1")
        if not (np.isfinite(self.reg) and self.reg >= 0):
            raise ValueError(f"reg must be a finite number >= 0, got {self.reg!r}")
        object.__setattr__(self, "features", a)
        object.__setattr__(self, "labels", y)

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
        sub = LogisticObjective(self.features[rows], self.labels[rows], 0.0)
        scale = self.num_samples / max(1, len(rows))
        return scale * sub.gradient(x) + self.reg * np.asarray(x, dtype=float)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        m = self._margins(x)
        s = 0.5 * (1.0 - np.tanh(0.5 * m))
        w = s * (1.0 - s)
        return (self.features.T * w) @ self.features + self.reg * np.eye(self.dim)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """Newton's method on the strongly convex ``f + t/2 ||x - v||^2`` (to a gradient norm of 1e-13)."""
        v = np.asarray(v, dtype=float)
        x = v.copy()
        for _ in range(100):
            g = self.gradient(x) + t * (x - v)
            if np.linalg.norm(g) <= 1e-13 * max(1.0, float(np.linalg.norm(x))):
                return x
            x = x - np.linalg.solve(self.hessian(x) + t * np.eye(self.dim), g)
        raise RuntimeError("logistic prox: Newton did not converge in 100 steps")


@dataclass(frozen=True)
class BoxConstrainedObjective(LocalObjective):
    """A quadratic restricted to a box ``[lower, upper]`` (``f`` + the box's indicator).

    ``value`` is +inf outside the box; ``gradient`` is that of the quadratic part; ``prox``
    solves the small box-constrained QP exactly (active-set enumeration for ``dim <= 6``,
    L-BFGS-B otherwise).
    """

    inner: QuadraticObjective
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        n = self.inner.dim
        lo = np.broadcast_to(np.asarray(self.lower, dtype=float), (n,)).copy()
        hi = np.broadcast_to(np.asarray(self.upper, dtype=float), (n,)).copy()
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
            raise ValueError("lower must be <= upper (and not NaN)")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    def project(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=float), self.lower, self.upper)

    def smooth_value(self, x: np.ndarray) -> float:
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
        h = self.inner.precision + t * np.eye(self.dim)
        q = self.inner.precision @ self.inner.mean + t * np.asarray(v, dtype=float)  # minimize 1/2 x'Hx - q'x
        free = np.linalg.solve(h, q)
        if np.all(free >= self.lower) and np.all(free <= self.upper):
            return free
        if self.dim <= 6:
            return self._active_set(h, q)
        from scipy.optimize import minimize

        res = minimize(lambda x: 0.5 * x @ h @ x - q @ x, self.project(free), jac=lambda x: h @ x - q,
                       method="L-BFGS-B", bounds=list(zip(self.lower, self.upper, strict=True)),
                       options={"ftol": 1e-16, "gtol": 1e-14, "maxiter": 10_000})
        return np.asarray(res.x)

    def _active_set(self, h: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Exact QP solution: try every assignment of coordinates to free / at lower / at upper."""
        import itertools

        best, best_val = None, np.inf
        for pattern in itertools.product((0, 1, 2), repeat=self.dim):
            x = np.where(np.array(pattern) == 1, self.lower, np.where(np.array(pattern) == 2, self.upper, 0.0))
            free = np.array(pattern) == 0
            if np.any(~np.isfinite(x[~free])):
                continue
            if free.any():
                fixed = ~free
                rhs = q[free] - h[np.ix_(free, fixed)] @ x[fixed]
                x[free] = np.linalg.solve(h[np.ix_(free, free)], rhs)
            if np.any(x < self.lower - 1e-12) or np.any(x > self.upper + 1e-12):
                continue
            val = 0.5 * x @ h @ x - q @ x
            if val < best_val:
                best, best_val = x, val
        assert best is not None
        return np.clip(best, self.lower, self.upper)


def random_least_squares_problem(num_agents: int, dim: int, seed: int, rows: int | None = None) -> Problem:
    """Seed 004's distributed least squares (section 11.6): ``P_i = A_i^2``, ``A_i`` random symmetric.

    ``f_i = 1/2 ||A_i x - b_i||^2`` with ``A_i`` symmetric (``rows = dim``) or, with ``rows``
    given, a random ``rows x dim`` matrix; ``b_i`` standard normal.
    """
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(at_least_one(num_agents, "num_agents")):
        if rows is None:
            m = rng.normal(size=(dim, dim))
            a = 0.5 * (m + m.T)
        else:
            a = rng.normal(size=(rows, dim))
        objs.append(LeastSquaresObjective(a, rng.normal(size=a.shape[0])))
    return Problem(tuple(objs))


def random_logistic_problem(num_agents: int, dim: int, seed: int, samples_per_agent: int = 20,
                            reg: float = 0.1) -> Problem:
    """Logistic regression with labels from a seeded ground-truth separator plus 10 % label noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=dim)
    objs = []
    for _ in range(at_least_one(num_agents, "num_agents")):
        feats = rng.normal(size=(samples_per_agent, dim))
        labels = np.sign(feats @ truth + 1e-12)
        flip = rng.random(samples_per_agent) < 0.1
        labels[flip] *= -1
        objs.append(LogisticObjective(feats, labels, reg))
    return Problem(tuple(objs))


def at_least_one(value: int, name: str) -> int:
    if int(value) < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
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
    ``{"type": "logistic", "features": [[...]], "labels": [...], "reg": 0.1}``,
    ``{"type": "box", "inner": {quadratic}, "lower": [...], "upper": [...]}``.
    """
    if not isinstance(data, dict):
        raise ValueError(f"objective {index}: must be a mapping, got {type(data).__name__}")
    kind = data.get("type")
    try:
        if kind == "quadratic":
            if "mean" not in data:
                raise ValueError("field 'mean' is missing")
            if "covariance" in data:
                return QuadraticObjective.from_covariance(data["mean"], np.asarray(data["covariance"], dtype=float))
            if "precision" not in data:
                raise ValueError("field 'precision' (or 'covariance') is missing")
            return QuadraticObjective(np.asarray(data["precision"], dtype=float), np.asarray(data["mean"], dtype=float))
        if kind in _REQUIRED:
            for key in _REQUIRED[kind]:
                if key not in data:
                    raise ValueError(f"field '{key}' is missing")
            if kind == "least_squares":
                return LeastSquaresObjective(np.asarray(data["A"], dtype=float), np.asarray(data["b"], dtype=float))
            if kind == "logistic":
                return LogisticObjective(np.asarray(data["features"], dtype=float),
                                         np.asarray(data["labels"], dtype=float), float(data.get("reg", 0.1)))
            inner = objective_from_dict(data["inner"], index)
            if not isinstance(inner, QuadraticObjective):
                raise ValueError("field 'inner' must be a quadratic objective")
            return BoxConstrainedObjective(inner, np.asarray(data["lower"], dtype=float),
                                           np.asarray(data["upper"], dtype=float))
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith("objective ") else f"objective {index}: {msg}") from None
    raise ValueError(f"objective {index}: field 'type' must be quadratic, least_squares, logistic or box; got {kind!r}")


def problem_from_dicts(items: Sequence[dict]) -> Problem:
    """A problem from a list of objective mappings (see :func:`objective_from_dict`)."""
    return Problem(tuple(objective_from_dict(d, i) for i, d in enumerate(items)))


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
