"""Decentralized gradient methods: DGD and DIGing gradient tracking.

docs/algorithms.md, "Distributed gradient descent (DGD)" and "DIGing gradient tracking".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from distopt_ros.core.algorithms.base import MixingAgent
from distopt_ros.core.messages import BROADCAST, Message
from distopt_ros.core.problems import LocalObjective
from distopt_ros.core.schema import ParameterError
from distopt_ros.core.validation import as_finite_array, in_open_interval, positive


class DGDAgent(MixingAgent):
    """Distributed gradient descent ``x_i <- sum_j W_ij x_j - alpha_k grad f_i(x_i)``.

    With a constant step it converges to a biased point ``O(alpha / (1 - sigma))`` from the
    optimum; with ``step_decay = p`` in (1/2, 1] the step is ``alpha / (k + 1)^p`` and the
    iterates reach the optimum, slowly. ``variant="atc"`` is adapt-then-combine: neighbours
    send ``x_j - alpha grad f_j(x_j)`` and the agent mixes those.

    ``resilient_f = F > 0`` replaces the weighted mix by W-MSR (LeBlanc, Zhang, Koutsoukos,
    Sundaram 2013): per coordinate, up to F neighbour values above the robot's own and F below
    it are ignored and the rest averaged with the own value, so up to F lying neighbours cannot
    pull it outside the honest values (docs/algorithms.md, "Resilient mode (W-MSR)").
    """

    algorithm = "dgd"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 weights: Mapping[int, float], step: float, max_iterations: int,
                 step_decay: float | None = None, variant: str = "cta", x0: Sequence[float] | None = None,
                 tolerance: float = 0.0, stop_threshold: int = 1, record: bool = False, resilient_f: int = 0) -> None:
        super().__init__(agent_id, objective.dim, neighbors, weights, {"primal": objective.dim}, max_iterations,
                         tolerance, stop_threshold, record)
        self.resilient_f = int(resilient_f)
        if self.resilient_f < 0 or (self.resilient_f and len(self.neighbors) < 2 * self.resilient_f + 1):
            bound = (len(self.neighbors) - 1) // 2
            raise ParameterError(f"resilient_f must be 0 or at most (degree - 1) / 2 = {bound} for robot {agent_id} "
                                 f"with {len(self.neighbors)} neighbours, got {resilient_f} (W-MSR needs a "
                                 "(2F+1)-robust graph)")
        self.objective = objective
        self.step_size = positive(step, "step")
        self.step_decay = None if step_decay is None else in_open_interval(step_decay, "step_decay", 0.5, 1.0,
                                                                            closed_high=True)
        if variant not in ("cta", "atc"):
            raise ValueError(f"variant must be 'cta' or 'atc', got {variant!r}")
        self.variant = variant
        # Projected DGD (Nedic, Ozdaglar and Parrilo, "Constrained consensus and optimization in
        # multi-agent networks", 2010): an objective with a constraint set X_i projects every iterate.
        self._project = getattr(objective, "project", None)
        self.x = np.zeros(self.dim) if x0 is None else as_finite_array(x0, "x0", size=self.dim).reshape(-1)
        if self._project is not None:
            self.x = np.asarray(self._project(self.x), dtype=float)

    def current_step(self) -> float:
        if self.step_decay is None:
            return self.step_size
        return self.step_size / (self.iteration + 1) ** self.step_decay

    def _payload(self) -> np.ndarray:
        if self.variant == "atc":
            return self.x - self.current_step() * self.objective.gradient(self.x)
        return self.x

    def _outgoing(self) -> list[Message]:
        return [self._message(BROADCAST, "state", primal=self._payload())]

    def _combine(self, own: np.ndarray, inbox: dict[int, Message]) -> np.ndarray:
        return self.mix(own, inbox, "primal") if not self.resilient_f else self.trimmed_mix(own, inbox)

    def trimmed_mix(self, own: np.ndarray, inbox: dict[int, Message]) -> np.ndarray:
        """W-MSR: per coordinate, drop up to F neighbour values above ``own`` and F below, average the rest with it."""
        values = self._values(inbox, "primal")
        if not values:
            return own
        f = self.resilient_f
        others = np.array([values[j] for j in sorted(values)])  # (neighbours, dim)
        out = np.empty_like(own, dtype=float)
        for d in range(own.size):
            col = np.sort(others[:, d])
            above, below = col[col > own[d]], col[col < own[d]]
            kept = np.concatenate([below[min(f, below.size):], col[col == own[d]],
                                   above[: above.size - min(f, above.size)]])
            out[d] = (own[d] + kept.sum()) / (1 + kept.size)
        return out

    def _update(self, inbox: dict[int, Message]) -> None:
        if self.variant == "atc":
            x_new = self._combine(self._payload(), inbox)
        else:
            x_new = self._combine(self.x, inbox) - self.current_step() * self.objective.gradient(self.x)
        if self._project is not None:
            x_new = np.asarray(self._project(x_new), dtype=float)
        self.primal_residual = float(np.linalg.norm(x_new - self.x))
        self.x = x_new
        self.check_stop(self.primal_residual, float(np.linalg.norm(x_new)), inbox)

    def estimate(self) -> np.ndarray:
        return self.x

    # step is tunable, swarm-wide (the schema's live list); MixingAgent maps it to step_size.


class DIGingAgent(MixingAgent):
    """DIGing gradient tracking (Nedic-Olshevsky-Shi 2017; docs/algorithms.md, "DIGing gradient tracking").

    ``x_i <- sum_j W_ij x_j - alpha y_i`` and ``y_i <- sum_j W_ij y_j + grad f_i(x_i^+) - grad f_i(x_i)``
    with the mandatory start ``y_i = grad f_i(x_i^0)``. Exact linear convergence on lossless
    links; the invariant ``sum y = sum grad f`` is broken for good by one lost message (the
    fragility the ADMM-based trackers of ATG and the constraint-coupled algorithm remove), which the
    lossy tests show.
    Message blocks: ``primal`` = x, ``dual`` = y.
    """

    algorithm = "diging"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 weights: Mapping[int, float], step: float, max_iterations: int,
                 x0: Sequence[float] | None = None, tolerance: float = 0.0, stop_threshold: int = 1,
                 record: bool = False) -> None:
        dim = objective.dim
        super().__init__(agent_id, dim, neighbors, weights, {"primal": dim, "dual": dim}, max_iterations,
                         tolerance, stop_threshold, record)
        self.objective = objective
        self.step_size = positive(step, "step")
        self.x = np.zeros(dim) if x0 is None else as_finite_array(x0, "x0", size=dim).reshape(-1)
        self.grad = objective.gradient(self.x)
        self.y = self.grad.copy()
        self._restarted_for = None

    def _outgoing(self) -> list[Message]:
        if self.tuning is not self._restarted_for:
            self._restart_tracker()
        return [self._message(BROADCAST, "state", primal=self.x, dual=self.y)]

    def _update(self, inbox: dict[int, Message]) -> None:
        x_new = self.mix(self.x, inbox, "primal") - self.step_size * self.y
        grad_new = self.objective.gradient(x_new)
        self.y = self.mix(self.y, inbox, "dual") + grad_new - self.grad
        self.primal_residual = float(np.linalg.norm(x_new - self.x))
        self.x, self.grad = x_new, grad_new
        self.check_stop(self.primal_residual, float(np.linalg.norm(x_new)), inbox)

    def estimate(self) -> np.ndarray:
        return self.x

    # Membership: DIGing's invariant sum_i y_i = sum_i grad f_i(x_i) loses the departed robot's
    # tracking error for good. Every robot therefore restarts its tracker, y_i = grad f_i(x_i),
    # at one common round (a flooded resynchronization, the mechanism of live tuning): the
    # invariant then holds exactly again over the live robots.
    def _forget(self, peer: int) -> bool:
        super()._forget(peer)
        self.resync()
        return True

    def _welcome(self, peer: int) -> None:
        super()._welcome(peer)
        self.resync()

    def _restart_tracker(self) -> None:
        """At the common round, before its messages go out: ``y_i = grad f_i(x_i)`` on every robot, so the
        values everyone mixes in that round satisfy the invariant (docs/algorithms.md, "Robots that leave
        and rejoin"). Asynchronous robots have no common round and restart on arrival."""
        t = self.tuning
        if t is not self._restarted_for and t is not None and (self.asynchronous or self.iteration >= t.round):
            self.y = self.grad.copy()
            self._restarted_for = t
