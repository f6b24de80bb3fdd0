"""Decentralized gradient methods: DGD and gradient tracking (DIGing, ATC, semi-ATC).

docs/algorithms.md, "Distributed gradient descent (DGD)", "DIGing gradient tracking" and
"ATC and semi-ATC gradient tracking".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from distopt_ros.core.algorithms.base import MixingAgent
from distopt_ros.core.messages import BROADCAST, Message, Tuning
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


class TrackingAgent(MixingAgent):
    """Shared machinery of the gradient-tracking agents (DIGing, ATC, semi-ATC).

    Each holds an iterate ``x``, its gradient ``grad = grad f_i(x)`` and a tracker ``y`` started at
    ``y = grad f_i(x^0)``; every variant keeps the invariant ``sum_i y_i = sum_i grad f_i(x_i)``, which
    is what makes the limit exact. The invariant is lost for good when a robot leaves (its tracking
    error ``grad f_j(x_j) - y_j`` leaves with it) or a live change of the step lands mid-iteration, so
    all three repair it the same way: after re-weighting (MixingAgent keeps W doubly stochastic) the
    robot floods a resynchronization (:meth:`Agent.resync`, the mechanism of live tuning) and at that
    common round every robot restarts its tracker, ``y_i = grad f_i(x_i)``, before its messages go out
    (docs/algorithms.md, "Robots that leave and rejoin"). Subclasses say what they send and how they
    update; :meth:`_on_restart` is what a restart resets.
    """

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 weights: Mapping[int, float], step: float, max_iterations: int, blocks: Mapping[str, int],
                 x0: Sequence[float] | None, tolerance: float, stop_threshold: int, record: bool) -> None:
        dim = objective.dim
        super().__init__(agent_id, dim, neighbors, weights, blocks, max_iterations, tolerance, stop_threshold,
                         record)
        self.objective = objective
        self.step_size = positive(step, "step")
        self.x = np.zeros(dim) if x0 is None else as_finite_array(x0, "x0", size=dim).reshape(-1)
        self.grad = objective.gradient(self.x)
        self.y = self.grad.copy()
        self._restarted_for: Tuning | None = None

    def _outgoing(self) -> list[Message]:
        if self.tuning is not self._restarted_for:
            self._restart_tracker()
        return self._round_messages()

    def _round_messages(self) -> list[Message]:
        """This round's messages, from the current state."""
        raise NotImplementedError

    def estimate(self) -> np.ndarray:
        return self.x

    # Membership: the invariant sum_i y_i = sum_i grad f_i(x_i) loses the departed robot's tracking
    # error for good. Every robot therefore restarts its tracker, y_i = grad f_i(x_i), at one common
    # round (a flooded resynchronization, the mechanism of live tuning): the invariant then holds
    # exactly again over the live robots.
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
            self._on_restart()
            self._restarted_for = t

    def _on_restart(self) -> None:
        """What a restart resets: the tracker (subclasses whose payload uses the step also put the due
        tuning in force first, so the payload of the restart round already uses the new step)."""
        self.y = self.grad.copy()


class DIGingAgent(TrackingAgent):
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
        super().__init__(agent_id, objective, neighbors, weights, step, max_iterations,
                         {"primal": dim, "dual": dim}, x0, tolerance, stop_threshold, record)

    def _round_messages(self) -> list[Message]:
        return [self._message(BROADCAST, "state", primal=self.x, dual=self.y)]

    def _update(self, inbox: dict[int, Message]) -> None:
        x_new = self.mix(self.x, inbox, "primal") - self.step_size * self.y
        grad_new = self.objective.gradient(x_new)
        self.y = self.mix(self.y, inbox, "dual") + grad_new - self.grad
        self.primal_residual = float(np.linalg.norm(x_new - self.x))
        self.x, self.grad = x_new, grad_new
        self.check_stop(self.primal_residual, float(np.linalg.norm(x_new)), inbox)


class ATCTrackingAgent(TrackingAgent):
    """Adapt-then-combine gradient tracking: AugDGM (Xu, Zhu, Soh, Xie 2015) = ATC-DIGing (Nedic,
    Olshevsky, Shi 2017); docs/algorithms.md, "ATC and semi-ATC gradient tracking".

    ``x_i+ = sum_j W_ij (x_j - alpha y_j)`` and ``y_i+ = sum_j W_ij (y_j + grad f_j(x_j+) - grad f_j(x_j))``
    from ``y_i = grad f_i(x_i^0)``. Both mixings act on *adapted* quantities, and the tracker's needs
    the neighbours' gradients at the new iterates, which exist only after the first mixing: an
    iteration is therefore two rounds of one ``n``-float message each (kind ``adapt``: ``primal =
    x - alpha y``; kind ``track``: ``primal = y + grad f(x+) - grad f(x)``). No one-round form exists:
    ``x_{k+2}`` depends on ``grad f_l(x_{k+1,l})`` two hops away (the ``alpha W^2`` term), and that
    gradient is computed only after round ``k``'s mixing. So ATC sends the same ``2n`` floats per
    iteration as DIGing, in twice the rounds. ``max_iterations`` counts rounds; the iterate ``x_k``
    is the estimate after round ``2k - 1``.

    Why: the gradient step is mixed too, which damps the disagreement it creates; the largest stable
    step is several times DIGing's (measured in benchmarks/results/gradient_tracking.md), and the
    number of iterations to a given accuracy is smaller. Synchronous rounds only (the two phases must
    line up across robots); a restart of the tracker (membership change, live step) also restarts the
    phase at the common round, so a rejoined robot whose rounds were paired out of phase is realigned.
    """

    algorithm = "atc"
    supports_async = False

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 weights: Mapping[int, float], step: float, max_iterations: int,
                 x0: Sequence[float] | None = None, tolerance: float = 0.0, stop_threshold: int = 1,
                 record: bool = False) -> None:
        super().__init__(agent_id, objective, neighbors, weights, step, max_iterations,
                         {"primal": objective.dim}, x0, tolerance, stop_threshold, record)
        self.phase = ADAPT
        """``adapt`` (send ``x - alpha y``, mix it into ``x``) or ``track`` (send ``s``, mix it into ``y``)."""
        self.s = self.y.copy()
        """The adapted tracker ``y + grad f(x+) - grad f(x)``, sent in the ``track`` round."""
        self.moved = float("inf")
        """``||x+ - x||`` of the last iteration: the local stopping criterion of both rounds."""

    def _on_restart(self) -> None:
        self._apply_due_tuning()  # the adapt payload uses the step: the new one from this round on
        super()._on_restart()
        self.phase = ADAPT

    def _round_messages(self) -> list[Message]:
        if self.phase == ADAPT:
            return [self._message(BROADCAST, ADAPT, primal=self.x - self.step_size * self.y)]
        return [self._message(BROADCAST, TRACK, primal=self.s)]

    def _update(self, inbox: dict[int, Message]) -> None:
        if self.phase == ADAPT:
            x_new = mix_kind(self, self.x - self.step_size * self.y, inbox, ADAPT)
            grad_new = self.objective.gradient(x_new)
            self.s = self.y + grad_new - self.grad
            self.moved = float(np.linalg.norm(x_new - self.x))
            self.x, self.grad = x_new, grad_new
            self.phase = TRACK
        else:
            self.y = mix_kind(self, self.s, inbox, TRACK)
            self.phase = ADAPT
        self.primal_residual = self.moved
        self.check_stop(self.moved, float(np.linalg.norm(self.x)), inbox)


class SemiATCTrackingAgent(TrackingAgent):
    """Semi-ATC gradient tracking, one round per iteration: push-pull (Pu, Shi, Xu, Nedic 2021) with one
    doubly stochastic ``W``; docs/algorithms.md, "ATC and semi-ATC gradient tracking".

    ``x_i+ = sum_j W_ij (x_j - alpha y_j)`` and ``y_i+ = sum_j W_ij y_j + grad f_i(x_i+) - grad f_i(x_i)``
    from ``y_i = grad f_i(x_i^0)``. Only the ``x`` step is adapt-then-combine; the tracker is
    combined before the new gradient is added, so both mixed quantities exist before the round and one
    broadcast of ``2n`` floats per iteration suffices (``primal = x - alpha y``, ``dual = y``), as in
    DIGing. Why: mixing the gradient step damps the disagreement it creates, which lets the step grow
    to several times DIGing's largest stable step (measured on a step grid in
    benchmarks/results/gradient_tracking.md; the published bounds of all three trackers are
    conservative sufficient conditions) at DIGing's cost per iteration. Under loss it mixes stale
    values like DIGing and is biased like it.
    """

    algorithm = "semi_atc"
    supports_async = True

    def __init__(self, agent_id: int, objective: LocalObjective, neighbors: Sequence[int],
                 weights: Mapping[int, float], step: float, max_iterations: int,
                 x0: Sequence[float] | None = None, tolerance: float = 0.0, stop_threshold: int = 1,
                 record: bool = False) -> None:
        dim = objective.dim
        super().__init__(agent_id, objective, neighbors, weights, step, max_iterations,
                         {"primal": dim, "dual": dim}, x0, tolerance, stop_threshold, record)

    def _on_restart(self) -> None:
        self._apply_due_tuning()  # the payload x - alpha y uses the step: the new one from this round on
        super()._on_restart()

    def _round_messages(self) -> list[Message]:
        return [self._message(BROADCAST, "state", primal=self.x - self.step_size * self.y, dual=self.y)]

    def _update(self, inbox: dict[int, Message]) -> None:
        x_new = self.mix(self.x - self.step_size * self.y, inbox, "primal")
        grad_new = self.objective.gradient(x_new)
        self.y = self.mix(self.y, inbox, "dual") + grad_new - self.grad
        self.primal_residual = float(np.linalg.norm(x_new - self.x))
        self.x, self.grad = x_new, grad_new
        self.check_stop(self.primal_residual, float(np.linalg.norm(x_new)), inbox)


ADAPT = "adapt"
"""Kind of an ATC message carrying ``x - alpha y``."""
TRACK = "track"
"""Kind of an ATC message carrying the adapted tracker ``y + grad f(x+) - grad f(x)``."""


def mix_kind(agent: MixingAgent, own: np.ndarray, inbox: Mapping[int, Message], kind: str) -> np.ndarray:
    """``sum_j W_ij v_j`` over this round's messages of ``kind`` (block ``primal``); ``own`` for the rest.

    A neighbour whose message is missing or of the other phase (a rejoined robot paired out of phase,
    until the common restart realigns it) counts as ``own``, which keeps the row summing to one.
    """
    total = agent.weights[agent.agent_id] * own
    for j in agent.neighbors:
        msg = inbox.get(j)
        total = total + agent.weights[j] * (msg.primal if msg is not None and msg.kind == kind else own)
    return total
