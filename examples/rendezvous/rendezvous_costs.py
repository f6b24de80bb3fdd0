"""The rendezvous example's objective: meet as close as possible to where each robot would like to be.

Robot i would like the meeting point at ``position`` (its own, private) and cares about it with
``weight``; its workspace limits the meeting point to the box ``[lower, upper]``. Its cost is

    f_i(x) = weight / 2 * |x - position|^2   for x in the box (+inf outside).

The swarm minimizes the sum over robots: the weighted mean of the positions, clipped to the
intersection of the boxes (the cost is isotropic and separable per coordinate, so the clip is
exact). This is all a user writes: the four methods of distopt_ros's objective protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Rendezvous:
    """``weight/2 |x - position|^2`` on the box ``[lower, upper]``."""

    def __init__(self, position: Sequence[float], weight: float = 1.0, lower: Sequence[float] | None = None,
                 upper: Sequence[float] | None = None) -> None:
        self.position = np.asarray(position, dtype=float).reshape(-1)
        self.dim = int(self.position.size)
        if not (np.isfinite(weight) and weight > 0):
            raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
        self.weight = float(weight)
        self.lower = np.full(self.dim, -np.inf) if lower is None else np.asarray(lower, dtype=float).reshape(-1)
        self.upper = np.full(self.dim, np.inf) if upper is None else np.asarray(upper, dtype=float).reshape(-1)
        if self.lower.size != self.dim or self.upper.size != self.dim:
            raise ValueError(f"lower and upper must have {self.dim} entries like position")
        if np.any(self.lower > self.upper):
            raise ValueError("lower must be <= upper")

    def value(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        if np.any(x < self.lower - 1e-12) or np.any(x > self.upper + 1e-12):
            return float("inf")
        return 0.5 * self.weight * float(np.sum((x - self.position) ** 2))

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self.weight * (np.asarray(x, dtype=float) - self.position)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        """``argmin_box weight/2 |x - position|^2 + t/2 |x - v|^2``: the unconstrained minimizer, clipped."""
        return self.project((self.weight * self.position + t * np.asarray(v, dtype=float)) / (self.weight + t))

    def project(self, x: np.ndarray) -> np.ndarray:
        """The workspace box: this objective carries a constraint, so algorithms must honour it."""
        return np.clip(np.asarray(x, dtype=float), self.lower, self.upper)


def rendezvous_point(robots: Sequence[Rendezvous]) -> np.ndarray:
    """The centralized answer: the weighted mean of the positions, clipped to the common box."""
    weights = np.array([r.weight for r in robots])
    mean = sum(w * r.position for w, r in zip(weights, robots, strict=True)) / weights.sum()
    lower = np.max([r.lower for r in robots], axis=0)
    upper = np.min([r.upper for r in robots], axis=0)
    return np.clip(mean, lower, upper)
