"""Stopping rule (docs/algorithms.md, "Decentralized stopping rule"): smoothed progress plus consensus residual.

Two forms of the same rule:

* :class:`StoppingRule` is the rule as stated, for whoever sees every model (a server or
  coordinator): the moving average ``MA_t`` of the objective decrease over the last ``M``
  rounds and the weighted consensus residual ``R_t`` must both be small for ``P``
  consecutive rounds.
* :class:`LocalStoppingCriterion` is what one agent of a decentralized algorithm can check:
  the same moving average on its own ``f_i(x_i)`` and its own residual
  ``r_i = sum_j ||x_i - x_j||^2`` over its neighbours. Aggregation (decentralized form):
  the agent feeds the boolean into
  :class:`~distopt_ros.core.agent.ToleranceStopper`, a min-consensus on "consecutive rounds
  my criteria held", which certifies that *every* agent's criteria held for ``P`` rounds
  once the counter reaches ``diameter + P``; the first agent that sees that stops and its
  ``done`` flag floods the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from distopt_ros.core.validation import at_least, positive


class _MovingDecrease:
    """``MA_t = (1/M) sum_{s<M} (F_{t-s-1} - F_{t-s}) = (F_{t-M} - F_t) / M``."""

    def __init__(self, window: int) -> None:
        self.window = at_least(window, "window", 1)
        self.values: deque[float] = deque(maxlen=self.window + 1)

    def push(self, value: float) -> float | None:
        self.values.append(float(value))
        if len(self.values) <= self.window:
            return None
        return (self.values[0] - self.values[-1]) / self.window


class StoppingRule:
    """The stopping rule with full information (server/coordinator form)."""

    def __init__(self, window: int = 5, patience: int = 3, eps_f: float = 1e-6, eps_c: float = 1e-6,
                 max_rounds: int = 10_000, stochastic: bool = False) -> None:
        self._ma = _MovingDecrease(window)
        self.patience = at_least(patience, "patience", 1)
        self.eps_f = positive(eps_f, "eps_f")
        self.eps_c = positive(eps_c, "eps_c")
        self.max_rounds = at_least(max_rounds, "max_rounds", 1)
        self.stochastic = stochastic
        self.streak = 0
        self.rounds = 0

    def update(self, models: Sequence[np.ndarray], weights: Sequence[float], objective: float) -> bool:
        """Feed round ``t`` (agent models, weights ``p_k``, objective ``F_t``); True = stop now."""
        w = np.asarray(weights, dtype=float)
        if w.ndim != 1 or w.size != len(models) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError("weights must be non-negative, one per model, and sum to 1")
        x = np.array([np.asarray(m, dtype=float).reshape(-1) for m in models])
        mean = w @ x
        residual = float(w @ np.sum((x - mean) ** 2, axis=1))
        self.rounds += 1
        ma = self._ma.push(objective)
        ok = ma is not None
        if ok:
            progress = abs(ma) if self.stochastic else ma
            ok = progress <= self.eps_f * max(1.0, abs(objective)) and \
                residual <= self.eps_c * max(1.0, float(mean @ mean))
        self.streak = self.streak + 1 if ok else 0
        return self.streak >= self.patience or self.rounds >= self.max_rounds


class LocalStoppingCriterion:
    """The rule's two tests on what agent ``i`` knows: ``f_i(x_i)`` and neighbour residual."""

    def __init__(self, window: int = 5, eps_f: float = 1e-6, eps_c: float = 1e-6) -> None:
        self._ma = _MovingDecrease(window)
        self.eps_f = positive(eps_f, "eps_f")
        self.eps_c = positive(eps_c, "eps_c")

    def update(self, local_objective: float, x: np.ndarray, neighbour_models: Sequence[np.ndarray]) -> bool:
        """True when both local tests hold this round."""
        ma = self._ma.push(local_objective)
        if ma is None:
            return False
        xi = np.asarray(x, dtype=float).reshape(-1)
        r = float(sum(np.sum((xi - np.asarray(m).reshape(-1)) ** 2) for m in neighbour_models))
        return abs(ma) <= self.eps_f * max(1.0, abs(local_objective)) and r <= self.eps_c * max(1.0, float(xi @ xi))
