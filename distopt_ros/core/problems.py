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

        Closed form for quadratics (the normal equations of weighted least squares);
        otherwise a quasi-Newton solve with scipy.
        """
        if all(isinstance(o, QuadraticObjective) for o in self.objectives):
            quads = [o for o in self.objectives if isinstance(o, QuadraticObjective)]
            lhs = sum(q.precision for q in quads)
            rhs = sum(q.precision @ q.mean for q in quads)
            return np.linalg.solve(lhs, rhs)
        from scipy.optimize import minimize

        res = minimize(
            self.value,
            np.zeros(self.dim),
            jac=lambda x: sum(o.gradient(x) for o in self.objectives),
            method="BFGS",
            options={"gtol": 1e-12},
        )
        return np.asarray(res.x)


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
