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
  at the same step because they share the global max and min.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distopt_ros.core.agent import Agent, within_tolerance
from distopt_ros.core.graphs import Digraph
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.problems import LocalObjective
from distopt_ros.core.validation import as_finite_array, at_least, positive


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


def integer_bits(values: np.ndarray) -> int:
    """Bits to send these integers with a sign bit and their own length (what the radio really carries)."""
    return int(sum(int(abs(int(v))).bit_length() + 1 for v in np.asarray(values).reshape(-1)))


class QuantizedAverager:
    """Finite-time quantized average consensus of one node, one instance per coordinate.

    docs/algorithms.md, "Finite-time quantized average consensus".

    Integer mass ``y = 2 q(v)`` and tokens ``z = 2``; each step the node splits its mass into
    tokens that differ by at most one and sends each to an out-neighbour or itself chosen
    uniformly (``b_li = 1 / (1 + D_i^+)``); every ``D`` steps it checks the global max and min of
    ``ceil(y/z)`` and ``floor(y/z)`` (max/min-consensus run alongside) and stops when they differ by
    at most one, outputting ``m * Delta``. Sums of ``y`` and ``z`` over the network are invariant.
    """

    def __init__(self, node: int, values: np.ndarray, delta: float, diameter: int, out_neighbors: Sequence[int],
                 rng: np.random.Generator) -> None:
        self.node = node
        self.delta = positive(delta, "delta")
        self.diameter = at_least(diameter, "diameter", 1)
        self.out_neighbors = tuple(out_neighbors)
        self.rng = rng
        self.y = 2 * quantize_floor(values, self.delta)
        self.z = np.full(self.y.shape, 2, dtype=np.int64)
        self.step = 0
        self.M = _ceil_div(self.y, self.z)
        self.m = self.y // self.z
        self.output: np.ndarray | None = None

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
        for k in range(self.y.size):
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


class QuDRCAladinAgent(Agent):
    """A node of QuDRC-ALADIN over a digraph, messages = the quantized averager's integer payloads.

    docs/algorithms.md, "Quantized decentralized RC-ALADIN (QuDRC-ALADIN)".

    Rounds are inner steps of the quantized averager; an outer iteration completes when the
    averager stops (at the same step on every node). Message blocks: ``primal`` = M, ``dual`` =
    m, ``consensus`` = mass, ``aux`` = tokens (exact integers; ``bit_cost`` counts their bits).
    """

    algorithm = "qudrc"

    def __init__(self, agent_id: int, objective: LocalObjective, digraph: Digraph, rho: float, delta: float,
                 max_outer: int, diameter: int | None = None, seed: int = 0, watchdog: int = 100_000,
                 record: bool = False) -> None:
        d = digraph.diameter() if diameter is None else at_least(diameter, "diameter", 1)
        if d < digraph.diameter():
            raise ValueError(f"diameter must be >= the digraph's diameter {digraph.diameter()}, got {d}")
        dim = objective.dim
        ins = digraph.in_neighbors(agent_id)
        blocks = {"primal": dim, "dual": dim, "consensus": dim, "aux": dim}
        super().__init__(agent_id, dim, {j: dict(blocks) for j in ins}, at_least(max_outer, "max_outer", 1) * watchdog,
                         record)
        self.objective = objective
        self.rho = positive(rho, "rho")
        self.delta = positive(delta, "delta")
        self.diameter = max(1, d)
        self.out_neighbors = digraph.out_neighbors(agent_id)
        self.in_neighbors = ins
        self.max_outer = max_outer
        self.watchdog = at_least(watchdog, "watchdog", 1)
        self.rng = np.random.default_rng([seed, agent_id])
        self.lam = self.rng.normal(size=dim)  # random lambda^0, as in the paper
        self.z = np.zeros(dim)
        self.outer = 0
        self.inner_steps: list[int] = []
        self._local_step()
        self._start_inner()

    def _local_step(self) -> None:
        self.x = self.objective.prox(self.z - self.lam / self.rho, self.rho)
        self.g = self.rho * (self.z - self.x) - self.lam

    def _start_inner(self) -> None:
        self.averager = QuantizedAverager(self.agent_id, self.x - self.g / self.rho, self.delta, self.diameter,
                                          self.out_neighbors, self.rng)
        self._payload = self.averager.emit()

    def _outgoing(self) -> list[Message]:
        out = []
        for j in self.out_neighbors:
            big, small, mass, tokens = self._payload[j]
            out.append(Message(sender=self.agent_id, receiver=j, iteration=self.iteration, algorithm=self.algorithm,
                               kind="qavg", dim=self.dim, primal=big, dual=small, consensus=mass, aux=tokens,
                               done=self.done, bit_cost=integer_bits(np.concatenate([big, small, mass, tokens]))))
        return out

    def _update(self, inbox: dict[int, Message]) -> None:
        payloads = [self._payload[self.agent_id]]
        payloads += [(np.asarray(inbox[j].primal).astype(np.int64), np.asarray(inbox[j].dual).astype(np.int64),
                      np.asarray(inbox[j].consensus).astype(np.int64), np.asarray(inbox[j].aux).astype(np.int64))
                     for j in self.in_neighbors]
        if self.averager.absorb(payloads):
            self.inner_steps.append(self.averager.step)
            self.z = self.averager.output
            self.lam = self.rho * (self.x - self.z) - self.g
            self.primal_residual = float(np.linalg.norm(self.x - self.z))
            self.outer += 1
            if self.outer >= self.max_outer:
                self.converged = True
                self.request_stop()
                return
            self._local_step()
            self._start_inner()
        elif self.averager.step >= self.watchdog:
            raise RuntimeError(f"node {self.agent_id}: quantized averaging did not stop within watchdog="
                               f"{self.watchdog} steps (outer iteration {self.outer})")
        else:
            self._payload = self.averager.emit()

    def estimate(self) -> np.ndarray:
        return self.x


def qudrc_swarm(objectives: Sequence[LocalObjective], digraph: Digraph, rho: float, delta: float, max_outer: int,
                seed: int = 0, diameter: int | None = None, watchdog: int = 100_000) -> dict[int, Agent]:
    """QuDRC-ALADIN nodes for every objective over ``digraph`` (strongly connected, checked)."""
    if digraph.num_nodes != len(objectives):
        raise ValueError(f"digraph has {digraph.num_nodes} nodes but there are {len(objectives)} objectives")
    return {i: QuDRCAladinAgent(i, f, digraph, rho, delta, max_outer, diameter, seed, watchdog)
            for i, f in enumerate(objectives)}
