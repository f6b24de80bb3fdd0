"""RC-ALADIN and the quantized decentralized QuDRC-ALADIN of Du, Johansson and Rikos (2025).

* :class:`RCAladinAgent` + :class:`AveragingCoordinator`: reduced consensus ALADIN with a
  coordinator (docs/algorithms.md, "RC-ALADIN with a coordinator", ``M_i = rho I``): local AL step,
  gradient from optimality,
  coordinator average of ``v_i = x_i - g_i / rho``, dual update.
* :class:`QuantizedAverager`: finite-time quantized average consensus (docs/algorithms.md,
  "Finite-time quantized average consensus") over a
  digraph, in exact integer arithmetic, with max/min-consensus stopping every ``D`` steps.
* :class:`QuDRCAladinAgent`: docs/algorithms.md, "Quantized decentralized RC-ALADIN (QuDRC-ALADIN)",
  the coordinator of RC-ALADIN replaced by the
  quantized averager; only integers cross the network, and every node stops each inner loop
  at the same step because they share the global max and min. Each averaging is warm-started
  from the last, each edge sends differences (:class:`EdgeCodec`), and a message is charged the
  length of its decodable frame (:func:`distopt_ros.core.wire.encode_frame`).
* :func:`qudrc_linear_model`, :func:`qudrc_error_gain`, :func:`qudrc_level_bound`: the documented
  Delta bound on the final error for quadratic objectives (also under the coarse-to-fine
  schedule :func:`qudrc_levels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distopt_ros.core.agent import Agent, within_tolerance
from distopt_ros.core.graphs import Digraph
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.problems import LocalObjective
from distopt_ros.core.validation import as_finite_array, at_least, positive
from distopt_ros.core.wire import CODES, FRAMES, frame_length, payload_length


class RCAladinAgent(Agent):
    """A robot of RC-ALADIN with a coordinator (docs/algorithms.md, "RC-ALADIN with a coordinator").

    ``x = argmin f + lambda^T x + rho/2 ||x - z||^2``, ``g = rho (z - x) - lambda`` (the gradient
    at ``x``, from optimality), sends ``v = x - g / rho``; on ``z+`` sets ``lambda = rho (x - z+) - g``.
    """

    algorithm = "rcaladin"

    def __init__(self, agent_id: int, objective: LocalObjective, rho: float, max_iterations: int,
                 lam0: Sequence[float] | None = None, record: bool = False) -> None:
        super().__init__(agent_id, objective.dim, {COORDINATOR: {"consensus": objective.dim}}, max_iterations, record)
        self.objective = objective
        self.rho = positive(rho, "rho")
        self.lam = np.zeros(self.dim) if lam0 is None else as_finite_array(lam0, "lam0", size=self.dim).reshape(-1)
        self.z = np.zeros(self.dim)
        self._local_step()

    def _local_step(self) -> None:
        self.x = self.objective.prox(self.z - self.lam / self.rho, self.rho)
        self.g = self.rho * (self.z - self.x) - self.lam

    def _outgoing(self) -> list[Message]:
        return [self._message(COORDINATOR, "proposal", primal=self.x - self.g / self.rho)]

    def _update(self, inbox: dict[int, Message]) -> None:
        z_new = np.asarray(inbox[COORDINATOR].consensus)
        self.lam = self.rho * (self.x - z_new) - self.g
        self.primal_residual = float(np.linalg.norm(self.x - z_new))
        self.z = z_new
        self._local_step()

    def estimate(self) -> np.ndarray:
        return self.x


class AveragingCoordinator(Agent):
    """Averages the robots' ``primal`` blocks and broadcasts the mean (RC-ALADIN's ``z``-step)."""

    speaks_first = False

    def __init__(self, algorithm: str, num_robots: int, dim: int, max_iterations: int, tolerance: float = 0.0,
                 record: bool = False) -> None:
        self.algorithm = algorithm
        n = at_least(num_robots, "num_robots", 1)
        super().__init__(COORDINATOR, dim, {i: {"primal": dim} for i in range(n)}, max_iterations, record)
        self.tolerance = float(tolerance)
        self.z = np.zeros(self.dim)

    def _outgoing(self) -> list[Message]:
        return [self._message(BROADCAST, "consensus", iteration=self.iteration - 1, consensus=self.z)]

    def _update(self, inbox: dict[int, Message]) -> None:
        z_new = np.mean([inbox[i].primal for i in sorted(inbox)], axis=0)
        self.dual_residual = float(np.linalg.norm(z_new - self.z))
        self.z = z_new
        if self.tolerance > 0 and within_tolerance(self.dual_residual, self.tolerance, float(np.linalg.norm(z_new))):
            self.request_stop()

    def estimate(self) -> np.ndarray:
        return self.z

    def _forget(self, peer: int) -> bool:
        """The z-step averages the live robots' proposals."""
        return True


def rcaladin_swarm(objectives: Sequence[LocalObjective], rho: float, max_iterations: int, tolerance: float = 0.0,
                   record: bool = False) -> dict[int, Agent]:
    """RC-ALADIN robots ``0..N-1`` plus the averaging coordinator."""
    agents: dict[int, Agent] = {i: RCAladinAgent(i, f, rho, max_iterations, record=record)
                                for i, f in enumerate(objectives)}
    agents[COORDINATOR] = AveragingCoordinator("rcaladin", len(objectives), objectives[0].dim, max_iterations,
                                               tolerance, record)
    return agents


def quantize_floor(values: np.ndarray, delta: float) -> np.ndarray:
    """Asymmetric (truncating) quantizer ``floor(v / Delta)`` as exact int64 (docs/algorithms.md)."""
    return np.floor(np.asarray(values, dtype=float) / delta).astype(np.int64)


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -((-a) // b)


COARSE_LEVEL = 0.5
"""Default ``coarse_level`` of QuDRC-ALADIN (benchmarks/results/quantized.md)."""
REFINE_BITS = 1
"""Default ``refine_bits``: the level is divided by ``2^refine_bits`` per outer iteration."""
TOKENS = 4
"""Default tokens per node of QuDRC-ALADIN's averaging."""


def level_factor(coarse: float, fine: float) -> int:
    """The integer ``2^j`` (``j >= 0``) with ``coarse == fine * 2^j`` exactly; ValueError if there is none."""
    factor = 1
    while fine * factor < coarse and factor < 2**62:
        factor *= 2
    if fine * factor != coarse:
        raise ValueError(f"level {fine!r} is not {coarse!r} / 2^j")
    return factor


def qudrc_level_exponents(delta: float, coarse_level: float, refine_bits: int, outer: int) -> list[int]:
    """The coarse-to-fine schedule: outer iteration ``k`` quantizes with ``Delta * 2^e_k`` (docs/algorithms.md).

    ``e_k = max(0, K - refine_bits * k)``, ``K`` the least integer with ``Delta * 2^K >=
    coarse_level`` (``K = 0``, the fixed level, when ``coarse_level <= Delta``). Every node computes
    it from its parameters: no message. The last iterations are at ``Delta`` itself.
    """
    delta = positive(delta, "delta")
    refine_bits = at_least(refine_bits, "refine_bits", 1)
    top = 0
    while delta * 2.0**top < coarse_level:
        top += 1
    return [max(0, top - refine_bits * k) for k in range(outer)]


def qudrc_levels(delta: float, coarse_level: float, refine_bits: int, outer: int) -> list[float]:
    """``Delta_k`` of :func:`qudrc_level_exponents` (exact: powers of two times ``Delta``)."""
    return [float(np.ldexp(delta, e)) for e in qudrc_level_exponents(delta, coarse_level, refine_bits, outer)]


def integer_bits(values: np.ndarray) -> int:
    """The old count, ``bit_length + 1`` per integer with no framing: NOT a decodable code, a lower bound.

    Kept to compare with the figures reported before (benchmarks/bench_quantized.py); messages
    are charged :func:`distopt_ros.core.wire.frame_length` instead.
    """
    return int(sum(int(abs(int(v))).bit_length() + 1 for v in np.asarray(values).reshape(-1)))


class QuantizedAverager:
    """Finite-time quantized average consensus of one node, one instance per coordinate.

    docs/algorithms.md, "Finite-time quantized average consensus".

    Integer mass ``y = 2 q(v)`` and tokens ``z = 2``; each step the node splits its mass into
    tokens that differ by at most one and sends each to an out-neighbour or itself chosen
    uniformly (``b_li = 1 / (1 + D_i^+)``); every ``D`` steps it checks the global max and min of
    ``ceil(y/z)`` and ``floor(y/z)`` (max/min-consensus run alongside) and stops when they differ by
    at most one, outputting ``m * Delta``. Sums of ``y`` and ``z`` over the network are invariant.
    :meth:`restart` starts a new averaging from where the last one ended (a warm start), at the
    same level or a finer one (``Delta / 2^j``: the stored state is re-quantized exactly).
    ``shared_tokens``: every coordinate's token ``j`` goes to the same (random) target, so every
    coordinate has the same token counts and a message needs only one (docs/algorithms.md).
    """

    def __init__(self, node: int, values: np.ndarray, delta: float, diameter: int, out_neighbors: Sequence[int],
                 rng: np.random.Generator, shared_tokens: bool = False, tokens: int = 2) -> None:
        self.node = node
        self.shared_tokens = bool(shared_tokens)
        self.tokens = at_least(tokens, "tokens", 2)
        """Tokens per node at the start (``z_i``; the mass is ``tokens * q``; 2 in the papers)."""
        self.delta = positive(delta, "delta")
        self.diameter = at_least(diameter, "diameter", 1)
        self.out_neighbors = tuple(out_neighbors)
        self.rng = rng
        self.q = quantize_floor(values, self.delta)
        """The quantized value this node contributes (``sum y = tokens * sum q`` over the network)."""
        self.y = self.tokens * self.q
        self.z = np.full(self.y.shape, self.tokens, dtype=np.int64)
        self.step = 0
        self.M = _ceil_div(self.y, self.z)
        self.m = self.y // self.z
        self.output: np.ndarray | None = None

    def rescale(self, factor: int) -> None:
        """Re-express the state at the level ``Delta / factor`` (an integer ``factor >= 1``): exact.

        Mass, quantized value and the window's max/min are multiplied by ``factor``, tokens kept:
        ``sum y = tokens * sum q`` and ``sum z = tokens * N`` still hold exactly, and every ratio ``y / z`` is the
        same real value in the finer unit.
        """
        factor = at_least(factor, "factor", 1)
        self.delta = self.delta / factor
        self.y, self.q = self.y * factor, self.q * factor
        self.M, self.m = self.M * factor, self.m * factor

    def restart(self, values: np.ndarray, delta: float | None = None) -> None:
        """Average new values, warm-started from the current mass and tokens (call on every node at one step).

        ``delta``: a new level ``Delta / 2^j`` (``j >= 0``, exactly; ValueError otherwise), reached
        by :meth:`rescale` first.

        The node adds the change of its quantized value to its mass, ``y += tokens (q(v) - q_old)``,
        and keeps its tokens: the network sums become ``tokens sum q(v)`` and ``tokens N`` exactly, as a
        fresh start would give, and that is all the output bound uses (it holds for any split of
        the mass). A state that was balanced stays nearly balanced when the values moved little,
        so the loop stops after few windows.
        """
        if delta is not None and delta != self.delta:
            factor = level_factor(self.delta, delta)
            self.rescale(factor)
            self.delta = float(delta)
        q = quantize_floor(values, self.delta)
        self.y = self.y + self.tokens * (q - self.q)
        self.q = q
        self.step = 0
        self.output = None

    def emit(self) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Start step ``l``: window bookkeeping and the token split; payload per out-neighbour and self."""
        self.step += 1
        if (self.step - 1) % self.diameter == 0:
            self.M = _ceil_div(self.y, self.z)
            self.m = self.y // self.z
        targets = (*self.out_neighbors, self.node)
        mass = {t: np.zeros_like(self.y) for t in targets}
        tokens = {t: np.zeros_like(self.z) for t in targets}
        cy, cz = self.y.copy(), self.z.copy()
        if self.shared_tokens:  # one target per token index, the same for every coordinate: cz is common
            while cz.size and cz[0] > 1:
                piece = -((-cy) // cz)
                cy -= piece
                cz -= 1
                t = targets[int(self.rng.integers(len(targets)))]
                mass[t] += piece
                tokens[t] += 1
        for k in range(0 if self.shared_tokens else self.y.size):
            while cz[k] > 1:
                piece = -((-cy[k]) // cz[k])
                cy[k] -= piece
                cz[k] -= 1
                t = targets[int(self.rng.integers(len(targets)))]
                mass[t][k] += piece
                tokens[t][k] += 1
        self.y, self.z = cy, cz  # the node keeps (c^y, 1) per coordinate
        return {t: (self.M.copy(), self.m.copy(), mass[t], tokens[t]) for t in targets}

    def absorb(self, payloads: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> bool:
        """Finish step ``l`` with the payloads of in-neighbours and self; True when the loop has stopped."""
        for big, small, mass, tokens in payloads:
            self.M = np.maximum(self.M, big)
            self.m = np.minimum(self.m, small)
            self.y = self.y + np.asarray(mass, dtype=np.int64)
            self.z = self.z + np.asarray(tokens, dtype=np.int64)
        if self.step % self.diameter == 0 and np.all(self.M - self.m <= 1):
            self.output = self.m.astype(float) * self.delta
            return True
        return False


Payload = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""One inner step on one edge: max values M, min values m, token mass, token count (int64, n each)."""


class EdgeCodec:
    """The difference code of one directed edge; the sender and the receiver each hold one, in lockstep.

    Sent instead of ``(M, m, mass, tokens)``: ``(M - M_last, m - m_last, mass - tokens * r,
    tokens)``, where ``M_last``, ``m_last`` are the values last sent on this edge and ``r`` is the
    per-token value last sent on it (``floor(mass / tokens)`` of the last step with tokens). Both
    ends update the same state from the same integers, so decoding is exact. Near a balanced
    state every token is worth ``floor`` or ``ceil`` of nearly the same ratio, and the max/min
    change rarely, so the sent integers are mostly 0 and +-1. Needs every payload delivered once,
    in order: what the quantized averager's conservation of mass needs anyway (lossless only).
    """

    def __init__(self, dim: int) -> None:
        self.M = np.zeros(dim, dtype=np.int64)
        self.m = np.zeros(dim, dtype=np.int64)
        self.ref = np.zeros(dim, dtype=np.int64)

    def encode(self, payload: Payload) -> Payload:
        big, small, mass, tokens = payload
        out = (big - self.M, small - self.m, mass - tokens * self.ref, tokens.copy())
        self._advance(big, small, mass, tokens)
        return out

    def decode(self, sent: Payload) -> Payload:
        d_big, d_small, offset, tokens = sent
        big, small, mass = self.M + d_big, self.m + d_small, offset + tokens * self.ref
        self._advance(big, small, mass, tokens)
        return big, small, mass, tokens

    def rescale(self, factor: int) -> None:
        """Both ends, at a level change to ``Delta / factor``: the stored values in the finer unit."""
        self.M, self.m, self.ref = self.M * factor, self.m * factor, self.ref * factor

    def _advance(self, big: np.ndarray, small: np.ndarray, mass: np.ndarray, tokens: np.ndarray) -> None:
        self.M, self.m = big.copy(), small.copy()
        self.ref = np.where(tokens > 0, mass // np.maximum(tokens, 1), self.ref)


def payload_integers(blocks: Payload) -> list[int]:
    """The ``4 n`` integers of a message in wire order (M, m, mass, tokens), as its frame codes them."""
    return [int(v) for v in np.concatenate(blocks).tolist()]


class QuDRCAladinAgent(Agent):
    """A node of QuDRC-ALADIN over a digraph, messages = the quantized averager's integer payloads.

    docs/algorithms.md, "Quantized decentralized RC-ALADIN (QuDRC-ALADIN)".

    Rounds are inner steps of the quantized averager; an outer iteration completes when the
    averager stops (at the same step on every node). Message blocks: ``primal`` = M, ``dual`` =
    m, ``consensus`` = mass, ``aux`` = tokens, exact integers; with ``differential`` (the
    default) each is sent as its :class:`EdgeCodec` difference. ``bit_cost`` is the length of the
    message's frame (:func:`distopt_ros.core.wire.encode_frame`: one flag bit, ``0`` for an all-zero
    message, else ``1`` and the ``4 n`` zig-zag Elias-``code`` codes; ``n`` is the header's ``dim``).
    ``warm_start`` (default) starts each averaging from the previous one's final state
    (:meth:`QuantizedAverager.restart`). Both off is the scheme as first published.

    Coarse-to-fine (``coarse_level`` > ``delta``): outer iteration ``k`` averages at the level
    ``Delta_k`` of :func:`qudrc_levels` (``coarse_level`` rounded up to ``Delta * 2^K``, divided by
    ``2^refine_bits`` per outer iteration down to ``delta``); at a level change the warm state
    and both ends of every :class:`EdgeCodec` are re-quantized exactly. ``shared_tokens``: one
    token route for all coordinates. ``frame``: ``"sparse"`` charges
    :func:`distopt_ros.core.wire.payload_length` (one token count when shared, unsigned counts,
    no mass without tokens), ``"flat"`` the ``4 n``-integer frame. ``coarse_level=0,
    shared_tokens=False, frame="flat"`` is the previous scheme (warm start + differences).
    """

    algorithm = "qudrc"

    def __init__(self, agent_id: int, objective: LocalObjective, digraph: Digraph, rho: float, delta: float,
                 max_outer: int, diameter: int | None = None, seed: int = 0, watchdog: int = 100_000,
                 record: bool = False, warm_start: bool = True, differential: bool = True,
                 code: str = "gamma", coarse_level: float = COARSE_LEVEL, refine_bits: int = REFINE_BITS,
                 shared_tokens: bool = True, frame: str = "sparse", tokens: int = TOKENS) -> None:
        d = digraph.diameter() if diameter is None else at_least(diameter, "diameter", 1)
        if d < digraph.diameter():
            raise ValueError(f"diameter must be >= the digraph's diameter {digraph.diameter()}, got {d}")
        if code not in CODES:
            raise ValueError(f"code must be one of {', '.join(CODES)}, got {code!r}")
        if frame not in FRAMES:
            raise ValueError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
        if not float(coarse_level) >= 0.0:
            raise ValueError(f"coarse_level must be >= 0, got {coarse_level!r}")
        dim = objective.dim
        ins = digraph.in_neighbors(agent_id)
        blocks = {"primal": dim, "dual": dim, "consensus": dim, "aux": dim}
        watchdog = at_least(watchdog, "watchdog", 1)  # before the product below, so a bad value is named
        super().__init__(agent_id, dim, {j: dict(blocks) for j in ins}, at_least(max_outer, "max_outer", 1) * watchdog,
                         record)
        self.objective = objective
        self.rho = positive(rho, "rho")
        self.delta = positive(delta, "delta")
        self.diameter = max(1, d)
        self.out_neighbors = digraph.out_neighbors(agent_id)
        self.in_neighbors = ins
        self.max_outer = max_outer
        self.watchdog = watchdog
        self.warm_start = bool(warm_start)
        self.differential = bool(differential)
        self.code = code
        self.frame = frame
        self.shared_tokens = bool(shared_tokens)
        self.tokens = at_least(tokens, "tokens", 2)
        self.coarse_level = float(coarse_level)
        self.refine_bits = at_least(refine_bits, "refine_bits", 1)
        top = qudrc_level_exponents(self.delta, self.coarse_level, self.refine_bits, 1)[0]
        self._levels_top = top
        self.level = float(np.ldexp(self.delta, top))
        """The quantization level of the current outer iteration (``Delta_k``)."""
        self._encoders = {j: EdgeCodec(dim) for j in self.out_neighbors}
        self._decoders = {j: EdgeCodec(dim) for j in ins}
        self.rng = np.random.default_rng([seed, agent_id])
        self.lam = self.rng.normal(size=dim)  # random lambda^0, as in the paper
        self.z = np.zeros(dim)
        self.outer = 0
        self.inner_steps: list[int] = []
        self.averager: QuantizedAverager | None = None
        self._local_step()
        self._start_inner()

    def _local_step(self) -> None:
        self.x = self.objective.prox(self.z - self.lam / self.rho, self.rho)
        self.g = self.rho * (self.z - self.x) - self.lam

    def level_of(self, outer: int) -> float:
        """``Delta_k`` of outer iteration ``outer`` (the schedule every node computes alike)."""
        return float(np.ldexp(self.delta, max(0, self._levels_top - self.refine_bits * outer)))

    def _start_inner(self) -> None:
        v = self.x - self.g / self.rho
        level = self.level_of(self.outer)
        if level != self.level:  # both ends of every edge re-quantize their codec state at the same point
            factor = level_factor(self.level, level)
            for codec in (*self._encoders.values(), *self._decoders.values()):
                codec.rescale(factor)
            self.level = level
        if self.warm_start and self.averager is not None:
            self.averager.restart(v, level)
        else:
            self.averager = QuantizedAverager(self.agent_id, v, level, self.diameter, self.out_neighbors,
                                              self.rng, self.shared_tokens, self.tokens)
        self._emit()

    def _emit(self) -> None:
        """One inner step's payloads, encoded once: :meth:`_outgoing` (also called to restate) only reads them."""
        assert self.averager is not None
        payload = self.averager.emit()
        self._own = payload[self.agent_id]
        self._wire = {j: self._encoders[j].encode(payload[j]) if self.differential else payload[j]
                      for j in self.out_neighbors}

    def wire_integers(self, receiver: int) -> list[int]:
        """The ``4 n`` integers of this step's message to ``receiver`` (M, m, mass, tokens)."""
        return payload_integers(self._wire[receiver])

    def wire_bits(self, receiver: int) -> int:
        """The length of this step's frame to ``receiver`` (``frame``: sparse or flat)."""
        if self.frame == "sparse":
            return payload_length(self._wire[receiver], self.shared_tokens, self.code)
        return frame_length(self.wire_integers(receiver), self.code)

    def _outgoing(self) -> list[Message]:
        out = []
        for j in self.out_neighbors:
            big, small, mass, tokens = self._wire[j]
            out.append(Message(sender=self.agent_id, receiver=j, iteration=self.iteration, algorithm=self.algorithm,
                               kind="qavg", dim=self.dim, primal=big, dual=small, consensus=mass, aux=tokens,
                               done=self.done, bit_cost=self.wire_bits(j)))
        return out

    def _update(self, inbox: dict[int, Message]) -> None:
        payloads = [self._own]
        for j in self.in_neighbors:
            msg = inbox[j]
            sent = (np.asarray(msg.primal).astype(np.int64), np.asarray(msg.dual).astype(np.int64),
                    np.asarray(msg.consensus).astype(np.int64), np.asarray(msg.aux).astype(np.int64))
            payloads.append(self._decoders[j].decode(sent) if self.differential else sent)
        assert self.averager is not None
        if self.averager.absorb(payloads):
            self.inner_steps.append(self.averager.step)
            self.z = self.averager.output
            self.lam = self.rho * (self.x - self.z) - self.g
            self.primal_residual = float(np.linalg.norm(self.x - self.z))
            self.outer += 1
            if self.outer >= self.max_outer:
                self.converged = True
                self.request_stop()
                if self.differential:  # the final (done) messages carry no change: the one-bit empty frame
                    zero = np.zeros(self.dim, dtype=np.int64)
                    self._wire = {j: (zero, zero, zero, zero) for j in self.out_neighbors}
                return
            self._local_step()
            self._start_inner()
        elif self.averager.step >= self.watchdog:
            raise RuntimeError(f"node {self.agent_id}: quantized averaging did not stop within watchdog="
                               f"{self.watchdog} steps (outer iteration {self.outer})")
        else:
            self._emit()

    def estimate(self) -> np.ndarray:
        return self.x


def qudrc_swarm(objectives: Sequence[LocalObjective], digraph: Digraph, rho: float, delta: float, max_outer: int,
                seed: int = 0, diameter: int | None = None, watchdog: int = 100_000, warm_start: bool = True,
                differential: bool = True, code: str = "gamma", coarse_level: float | None = None,
                refine_bits: int | None = None, shared_tokens: bool = True,
                frame: str = "sparse", tokens: int | None = None) -> dict[int, Agent]:
    """QuDRC-ALADIN nodes for every objective over ``digraph`` (strongly connected, checked).

    ``warm_start=False, differential=False`` is the scheme as first published (fresh averaging
    every outer iteration, absolute integers); ``coarse_level=0, shared_tokens=False,
    frame="flat"`` the previous scheme (warm start + differences at the fixed level).
    """
    coarse_level = COARSE_LEVEL if coarse_level is None else coarse_level
    refine_bits = REFINE_BITS if refine_bits is None else refine_bits
    tokens = TOKENS if tokens is None else tokens
    if digraph.num_nodes != len(objectives):
        raise ValueError(f"digraph has {digraph.num_nodes} nodes but there are {len(objectives)} objectives")
    return {i: QuDRCAladinAgent(i, f, digraph, rho, delta, max_outer, diameter, seed, watchdog,
                                warm_start=warm_start, differential=differential, code=code,
                                coarse_level=coarse_level, refine_bits=refine_bits, shared_tokens=shared_tokens,
                                frame=frame, tokens=tokens)
            for i, f in enumerate(objectives)}


# ----------------------------------------------------------------------------- the Delta bound (quadratics)
def qudrc_linear_model(precisions: Sequence[np.ndarray], rho: float) -> tuple[np.ndarray, ...]:
    """QuDRC-ALADIN on quadratics ``f_i`` with Hessians ``P_i``, as a linear system in the deviations.

    With ``v_i^k`` the value node ``i`` averages in outer iteration ``k + 1`` and ``e^k`` the
    averaging's error (``z^{k+1} = mean_j v_j^k + e^k``, the same ``z`` on every node), RC-ALADIN
    reads ``x_i^{k+1} = prox(2 z^{k+1} - v_i^k)``, ``v_i^{k+1} = v_i^k + 2 (x_i^{k+1} - z^{k+1})``; in
    deviations from the fixed point (``s = v - v*``): ``s^{k+1} = A s^k + B e^k`` and
    ``x^{k+1} - x* = C s^k + F e^k`` (stacked over nodes). Returns ``(A, B, C, F)``.
    """
    rho = positive(rho, "rho")
    mats = [np.atleast_2d(np.asarray(p, dtype=float)) for p in precisions]
    n, big_n = mats[0].shape[0], len(mats)
    k = np.zeros((big_n * n, big_n * n))
    for i, p in enumerate(mats):
        k[i * n:(i + 1) * n, i * n:(i + 1) * n] = rho * np.linalg.inv(p + rho * np.eye(n))
    spread = np.kron(np.ones((big_n, 1)), np.eye(n))  # 1 (x) I: the same z to every node
    avg = spread @ np.kron(np.ones((1, big_n)), np.eye(n)) / big_n  # s -> 1 (x) mean s
    eye = np.eye(big_n * n)
    a = eye - 2 * k + 4 * k @ avg - 2 * avg
    b = 4 * k @ spread - 2 * spread
    c = 2 * k @ avg - k
    f = 2 * k @ spread
    return a, b, c, f


def qudrc_error_gain(precisions: Sequence[np.ndarray], rho: float, rtol: float = 1e-12,
                     max_terms: int = 100_000) -> float:
    """``gamma`` with ``limsup_k max_i ||x_i^k - x*|| <= gamma * Delta`` for quadratic ``f_i`` (docs/algorithms.md).

    The averaging error of every outer iteration lies in ``(-2 Delta, 0]`` per coordinate, i.e.
    ``e = Delta (-1 + u)`` with ``|u| < 1``; through the impulse responses ``M_0 = F``,
    ``M_{t+1} = C A^t B`` of :func:`qudrc_linear_model` this gives, per node ``i``,
    ``||x_i - x*|| <= transient + Delta sum_t (||M_t^i 1|| + sum_c ||M_t^i e_c||)``. ValueError if
    the exact iteration does not contract (spectral radius of ``A`` >= 1: no bound).
    """
    a, b, c, f = qudrc_linear_model(precisions, rho)
    radius = float(max(abs(np.linalg.eigvals(a))))
    if radius >= 1.0:
        raise ValueError(f"RC-ALADIN does not contract at rho={rho} (spectral radius {radius:.4f}); no Delta bound")
    n = b.shape[1]
    nodes = a.shape[0] // n

    def node_terms(m: np.ndarray) -> np.ndarray:
        return _node_terms(m, nodes, n)

    total = node_terms(f)
    propagated = b  # A^t B
    for _ in range(max_terms):
        term = node_terms(c @ propagated)
        total = total + term
        if term.max() <= rtol * total.max():
            break
        propagated = a @ propagated
    return float(total.max())


def _node_terms(m: np.ndarray, nodes: int, n: int) -> np.ndarray:
    """Per node ``i``: ``||M^i 1|| + sum_c ||M^i e_c||`` (what a unit level contributes through ``M``)."""
    rows = m.reshape(nodes, n, n)  # rows[i] = node i's block of M
    return np.linalg.norm(rows.sum(axis=2), axis=1) + np.linalg.norm(rows, axis=1).sum(axis=1)


def qudrc_level_bound(precisions: Sequence[np.ndarray], rho: float, levels: Sequence[float]) -> float:
    """The quantization part of the bound on ``max_i ||x_i - x*||`` after averagings at ``levels`` (quadratics).

    ``levels[j]`` is the level ``Delta_j`` of the ``j``-th averaging (``e^j`` in ``(-2 Delta_j, 0]``);
    the ``x`` computed from ``e^0 .. e^(L-1)`` deviates from exact RC-ALADIN's by at most
    ``max_i sum_t (||M_t^i 1|| + sum_c ||M_t^i e_c||) Delta_(L-1-t)`` (impulse responses of
    :func:`qudrc_error_gain`). With the last levels at ``Delta`` this tends to ``gamma Delta``: the
    coarse levels add only terms through ``C A^t B`` with large ``t``, which decay like ``A^t``.
    """
    a, b, c, f = qudrc_linear_model(precisions, rho)
    n = b.shape[1]
    nodes = a.shape[0] // n
    levels = [positive(v, "level") for v in levels]
    total = np.zeros(nodes)
    response, propagated = f, b
    for t in range(len(levels)):
        total = total + _node_terms(response, nodes, n) * levels[len(levels) - 1 - t]
        response, propagated = c @ propagated, a @ propagated
    return float(total.max())
