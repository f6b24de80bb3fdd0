"""Price coordination for a shared resource.

docs/algorithms.md, "Dual decomposition (price coordination)", "Tracking dual ascent and its ISS
bound" and "Gradient descent-ascent and extragradient".

Robots (bidders) answer a price; an auctioneer (the coordinator) moves the price toward
balance of supply and demand. Three modes share the message pattern (price down, bid up,
one round trip per iteration):

* ``dual``: dual decomposition / dual ascent; each bidder plays its best
  response ``y_i(p)``, the auctioneer ascends ``p += alpha (b_k - sum_i A_i y_i)``. With a
  time-varying target ``b_k`` this is the tracking dual ascent;
* ``gda``: plain gradient descent-ascent (Arrow-Hurwicz), bidders take projected gradient
  steps instead of best responses (the extragradient without its extra step);
* ``extragradient``: Korpelevich's predictor-corrector on the saddle; the
  auctioneer's broadcast carries the new price and the predicted price, each bid carries
  the current and the predicted allocation, so it too needs one round trip per iteration.

Convention: ``L = sum c_i(y_i) - p^T (sum A_i y_i - b)``, so at the optimum the marginal cost
equals the price (``grad c_i = A_i^T p``), and ``lambda* = -p*`` for ``L = sum f + lambda(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.resources import ResourceCost, ResourceProblem
from distopt_ros.core.validation import as_finite_array, at_least, positive

MODES = ("dual", "gda", "extragradient")


def coupling_support(coupling: np.ndarray | None, dim: int) -> np.ndarray:
    """The resource rows a robot's allocation touches: the rows of ``A_i`` with a non-zero entry (all of them if
    ``A_i`` is the identity default).

    Only these rows of ``A_i y_i`` can be non-zero, and only these prices enter the robot's response, so they are
    all a price message between the robot and the auctioneer carries (``d_i n`` of the ``|E| n`` entries when
    the resources are a graph's edges). The pattern is configuration, not private data: both ends compute it from
    the scenario, and a mismatch shows as a ``wrong_dimension`` refusal.
    """
    if coupling is None:
        return np.arange(dim)
    a = np.asarray(coupling, dtype=float)
    return np.flatnonzero(np.any(a != 0.0, axis=1))


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


class BidderAgent(Agent):
    """A robot with a private cost ``c_i`` and coupling matrix ``A_i`` (m x n_i).

    Sends ``primal = (A_i y_i)_S`` (and ``aux = (A_i y_hat_i)_S`` in extragradient mode) to the auctioneer, where
    ``S`` is :func:`coupling_support`: the only rows that can be non-zero. Receives the prices ``p_S`` (and the
    predicted ``p_hat_S``). Never reveals ``c_i``.
    """

    algorithm = "price"
    speaks_first = False

    def __init__(self, agent_id: int, cost: ResourceCost, coupling: np.ndarray | None, mode: str = "dual",
                 step: float = 0.1, max_iterations: int = 1000, y0: Sequence[float] | None = None,
                 record: bool = False) -> None:
        a_i = np.eye(cost.dim) if coupling is None else as_finite_array(coupling, "coupling", ndim=2)
        if a_i.shape[1] != cost.dim:
            raise ValueError(f"coupling must have {cost.dim} columns (the cost's dimension), got shape {a_i.shape}")
        self.m = a_i.shape[0]
        self.mode = _mode(mode)
        self.support = coupling_support(a_i, self.m)
        """Rows of ``A_i`` with a non-zero entry: the entries every price message carries."""
        size = self.support.size
        blocks = {"consensus": size, "aux": size if self.mode == "extragradient" else 0}
        super().__init__(agent_id, cost.dim, {COORDINATOR: blocks}, max_iterations, record)
        self.wire_dim = self.m
        self.cost = cost
        self.coupling = a_i
        self._rows = a_i[self.support]
        """``A_i`` restricted to its support: ``_rows @ y`` is the bid, ``_rows.T @ p_S`` equals ``A_i^T p``."""
        self.step_size = positive(step, "step")
        self.y = cost.project(np.zeros(cost.dim) if y0 is None else as_finite_array(y0, "y0", size=cost.dim))
        self.y_hat = self.y.copy()
        self._bid: np.ndarray | None = None
        self._bid_hat: np.ndarray | None = None

    def _outgoing(self) -> list[Message]:
        hat = {"aux": self._bid_hat} if self.mode == "extragradient" else {}
        return [self._message(COORDINATOR, "bid", iteration=self.iteration - 1, primal=self._bid, **hat)]

    def _update(self, inbox: dict[int, Message]) -> None:
        msg = inbox[COORDINATOR]
        price = np.asarray(msg.consensus)  # p_S
        eta = self.step_size
        a_t = self._rows.T
        y_old = self.y.copy()
        if self.mode == "dual":
            self.y = self.cost.response(a_t @ price)
            self._bid = self._rows @ self.y
        elif self.mode == "gda":
            self._bid = self._rows @ self.y
            self.y = self.cost.project(self.y - eta * (self.cost.gradient(self.y) - a_t @ price))
        else:
            if self.iteration > 0:  # corrector of the previous iteration, with the predicted price
                p_hat = np.asarray(msg.aux)
                self.y = self.cost.project(self.y - eta * (self.cost.gradient(self.y_hat) - a_t @ p_hat))
            self.y_hat = self.cost.project(self.y - eta * (self.cost.gradient(self.y) - a_t @ price))
            self._bid = self._rows @ self.y
            self._bid_hat = self._rows @ self.y_hat
        self.primal_residual = float(np.linalg.norm(self.y - y_old))

    def estimate(self) -> np.ndarray:
        return self.y


class AuctioneerAgent(Agent):
    """The price setter: ``p += step (b_k - sum_i A_i y_i)``, optionally projected to ``p >= 0``.

    ``target`` is ``b`` (constant) or a function ``k -> b_k`` (tracking dual ascent). Stops when the
    imbalance and the price change are both below ``tolerance`` (if > 0).

    ``supports`` lists, per robot, the resource rows its bid covers (:func:`coupling_support` of its ``A_i``;
    default: all ``m``). Bids then carry those entries only, and when some robot covers fewer than all rows the
    auctioneer sends each robot its own prices instead of broadcasting all ``m``: on DDS, where a topic reaches
    each subscriber separately, that is ``sum_i |S_i|`` floats a round instead of ``N m``.
    """

    algorithm = "price"

    def __init__(self, num_robots: int, m: int, target: Sequence[float] | float | Callable[[int], np.ndarray],
                 mode: str = "dual", step: float = 0.1, max_iterations: int = 1000, tolerance: float = 0.0,
                 nonnegative: bool = False, p0: Sequence[float] | None = None, record: bool = False,
                 supports: Sequence[Sequence[int]] | None = None) -> None:
        n = at_least(num_robots, "num_robots", 1)
        m = at_least(m, "m", 1)
        mode = _mode(mode)
        if supports is None:
            supports = [range(m)] * n
        if len(supports) != n:
            raise ValueError(f"supports must list {n} robots' rows, got {len(supports)}")
        self.supports = [np.asarray(sorted({int(r) for r in rows}), dtype=int) for rows in supports]
        if any(rows.size and (rows[0] < 0 or rows[-1] >= m) for rows in self.supports):
            raise ValueError(f"supports must be rows 0..{m - 1}")
        self.sparse = any(rows.size < m for rows in self.supports)
        """True when some robot covers fewer than all rows: prices then go out per robot."""
        eg = mode == "extragradient"
        super().__init__(COORDINATOR, m, {i: {"primal": rows.size, "aux": rows.size if eg else 0}
                                          for i, rows in enumerate(self.supports)}, max_iterations, record)
        self.mode = mode
        self.step_size = positive(step, "step")
        self.target = target if callable(target) else np.broadcast_to(as_finite_array(target, "target"), (m,)).copy()
        self.tolerance = float(tolerance)
        self.nonnegative = nonnegative
        self.p = np.zeros(m) if p0 is None else as_finite_array(p0, "p0", size=m).reshape(-1)
        self.p_hat = self.p.copy()
        self.imbalance = float("nan")

    def set_target(self, target: Sequence[float] | np.ndarray) -> None:
        """Move ``b`` (a tracking run: the resource to deliver changes with time)."""
        self.target = as_finite_array(target, "target", size=self.dim).reshape(-1).copy()

    def b(self, k: int) -> np.ndarray:
        return np.asarray(self.target(k) if callable(self.target) else self.target, dtype=float).reshape(-1)

    def start(self) -> list[Message]:
        if self.record and not self.trajectory:
            self.trajectory.append(self.p.copy())
        return self._send(self._outgoing())

    def _outgoing(self) -> list[Message]:
        eg = self.mode == "extragradient"
        if not self.sparse:
            return [self._message(BROADCAST, "price", consensus=self.p, **({"aux": self.p_hat} if eg else {}))]
        live = self.membership.live_peers if self.membership.changes else range(len(self.supports))
        out = []
        for i in live:
            rows = self.supports[i]
            out.append(self._message(i, "price", consensus=self.p[rows], **({"aux": self.p_hat[rows]} if eg else {})))
        return out

    def _proj(self, p: np.ndarray) -> np.ndarray:
        return np.maximum(p, 0.0) if self.nonnegative else p

    def _update(self, inbox: dict[int, Message]) -> None:
        ids = sorted(inbox)
        supply = self._total(inbox, ids, "primal")
        gap = self.b(self.iteration) - supply
        p_old = self.p
        if self.mode == "extragradient":
            supply_hat = self._total(inbox, ids, "aux")
            self.p_hat = self._proj(self.p + self.step_size * gap)
            self.p = self._proj(self.p + self.step_size * (self.b(self.iteration) - supply_hat))
        else:
            self.p = self._proj(self.p + self.step_size * gap)
        self.imbalance = float(np.linalg.norm(gap))
        self.primal_residual = self.imbalance
        self.dual_residual = float(np.linalg.norm(self.p - p_old))
        if self.tolerance > 0 and self.imbalance <= self.tolerance and self.dual_residual <= self.tolerance:
            self.request_stop()

    def _total(self, inbox: dict[int, Message], ids: list[int], block: str) -> np.ndarray:
        """``sum_i A_i y_i`` from the bids' support entries (block ``primal``, or ``aux`` for the predicted ones)."""
        total = np.zeros(self.dim)
        for i in ids:
            total[self.supports[i]] += getattr(inbox[i], block)
        return total

    def estimate(self) -> np.ndarray:
        return self.p

    def _forget(self, peer: int) -> bool:
        """The live bidders alone must now meet ``b``: the price moves to that problem's multiplier."""
        return True


def price_swarm(problem: ResourceProblem, mode: str = "dual", step: float = 0.1, max_iterations: int = 1000,
                tolerance: float = 0.0, target: Callable[[int], np.ndarray] | None = None,
                nonnegative: bool = False, record: bool = False) -> dict[int, Agent]:
    """Bidders for every cost of ``problem`` plus the auctioneer (ids ``0..N-1`` and ``COORDINATOR``)."""
    agents: dict[int, Agent] = {
        i: BidderAgent(i, c, a, mode, step, max_iterations, record=record)
        for i, (c, a) in enumerate(zip(problem.costs, problem.matrices, strict=True))
    }
    agents[COORDINATOR] = AuctioneerAgent(problem.num_agents, problem.b.size, target or problem.b, mode, step,
                                          max_iterations, tolerance, nonnegative, record=record,
                                          supports=problem_supports(problem))
    return agents


def problem_supports(problem: ResourceProblem) -> list[np.ndarray]:
    """Every robot's :func:`coupling_support`, for the auctioneer."""
    m = problem.b.size
    return [coupling_support(a, m) for a in problem.matrices]


def iss_bound(step: float, m_d: float, l_d: float, initial_error: float, drift: float, k: int) -> float:
    """ISS bound: ``|p^k - p*_k| <= q^k |p^0 - p*_0| + sup drift / (1 - q)``, ``q = max|1 - step * (m_d, L_d)|``."""
    q = max(abs(1 - step * m_d), abs(1 - step * l_d))
    if q >= 1:
        raise ValueError(f"step must make q = max(|1 - step m_d|, |1 - step L_d|) < 1, got q = {q:.3g}")
    return q**k * initial_error + drift / (1 - q)
