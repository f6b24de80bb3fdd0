"""Small hand-checked pins of distopt_ros/core/algorithms: the behaviour the equation tests do not reach.

test_equations.py checks the update rules of every algorithm against independent recursions; this file
pins the rest, each with values worked out by hand (or by an independent formula in the test) on a tiny
problem: argument validation (the error names the offending argument, the boundary value is accepted),
constructor defaults and stored parameters, the leave/rejoin hooks (``_forget``, ``_welcome``,
``_warm_start``, reached through :meth:`Agent.peer_left` / :meth:`Agent.peer_joined`), residual
attributes, the kind and block sizes of outgoing messages, coordinator stop tolerances just inside and
just outside, and the QuDRC helpers of aladin.py (levels, the quantized averager's token split, the edge
codec, the Delta bound's linear model and gains). Everything is seeded or deterministic and the whole file
runs in a few seconds (it is part of the mutation-testing selection in setup.cfg).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from distopt_ros.core.agent import ChangeKind, StopReason
from distopt_ros.core.algorithms import aladin
from distopt_ros.core.algorithms.aladin import (
    AveragingCoordinator,
    EdgeCodec,
    QuantizedAverager,
    QuDRCAladinAgent,
    RCAladinAgent,
    integer_bits,
    level_factor,
    payload_integers,
    quantize_floor,
    qudrc_error_gain,
    qudrc_level_bound,
    qudrc_level_exponents,
    qudrc_levels,
    qudrc_linear_model,
    qudrc_swarm,
    rcaladin_swarm,
)
from distopt_ros.core.graphs import make_digraph
from distopt_ros.core.membership import ReceiptKind
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.problems import QuadraticObjective
from distopt_ros.core.wire import frame_length, payload_length
from distopt_ros.sim.simulator import simulate


def quad(mean: Sequence[float], diag: Sequence[float] | None = None) -> QuadraticObjective:
    """``1/2 (x - mean)^T diag (x - mean)`` (identity precision by default)."""
    m = np.asarray(mean, dtype=float)
    return QuadraticObjective(np.diag(np.ones(m.size) if diag is None else np.asarray(diag, dtype=float)), m)


def raises_named(call: Callable[[], object], prefix: str) -> None:
    """``call()`` raises a ValueError whose message starts with ``prefix`` (the offending argument's name)."""
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(prefix), str(info.value)


def deliver(agent: Any, msg: Message) -> None:
    """``agent.receive(msg)``, which must accept it (a refused message would make a test pass for a wrong reason)."""
    receipt = agent.receive(msg)
    assert receipt.kind == ReceiptKind.ACCEPTED, receipt


class ScriptedRng:
    """Stands in for a numpy Generator: ``integers(n)`` returns the scripted choices in order."""

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = list(choices)
        self.asked: list[int] = []

    def integers(self, n: int) -> int:
        self.asked.append(n)
        return self.choices.pop(0)


# ----------------------------------------------------------------------------- RC-ALADIN
def test_rcaladin_agent_defaults_message_and_first_update() -> None:
    """A robot starts at ``lambda = 0``, ``z = 0``: ``x = prox(0)``, sends ``v = x - g/rho`` as kind ``proposal`` to
    the coordinator; on ``z+`` the residual is ``|x - z+|`` and ``lambda = rho (x - z+) - g`` (scalar, by hand)."""
    a = RCAladinAgent(0, quad([2.0]), rho=1.0, max_iterations=5)
    assert a.record is False and a.max_iterations == 5 and a.rho == 1.0
    np.testing.assert_array_equal(a.lam, [0.0])
    np.testing.assert_array_equal(a.z, [0.0])
    # x = (m + rho z) / (1 + rho) = 1, g = rho (z - x) - lam = -1, v = x - g / rho = 2
    assert a.x[0] == 1.0 and a.g[0] == -1.0
    (msg,) = a.start()
    assert (msg.receiver, msg.kind, msg.iteration) == (COORDINATOR, "proposal", 0)
    np.testing.assert_array_equal(msg.primal, [2.0])
    assert a.expected == {COORDINATOR: {"consensus": 1}}
    deliver(a, Message(COORDINATOR, BROADCAST, 0, "rcaladin", "consensus", 1, consensus=[0.5]))
    a.step()
    assert a.primal_residual == 0.5  # |1 - 0.5|
    # lambda = 1 * (1 - 0.5) - (-1) = 1.5; then x = prox(z - lam/rho) = (2 + (0.5 - 1.5)) / 2 = 0.5
    assert a.lam[0] == 1.5 and a.x[0] == 0.5 and a.z[0] == 0.5
    np.testing.assert_array_equal(a.estimate(), [0.5])
    b = RCAladinAgent(1, quad([2.0, 0.0]), rho=2.0, max_iterations=5, lam0=[1.0, -1.0], record=True)
    np.testing.assert_array_equal(b.lam, [1.0, -1.0])
    raises_named(lambda: RCAladinAgent(0, quad([1.0]), rho=0.0, max_iterations=5), "rho must")
    raises_named(lambda: RCAladinAgent(0, quad([1.0]), rho=1.0, max_iterations=5, lam0=[1.0, 2.0]), "lam0 must")


def coordinator_step(c: AveragingCoordinator, proposals: Sequence[Sequence[float]]) -> list[Message]:
    for i, p in enumerate(proposals):
        deliver(c, Message(i, COORDINATOR, c.iteration, c.algorithm, "proposal", c.dim, primal=p))
    return c.step()


def test_averaging_coordinator_mean_residual_and_tolerance_edges() -> None:
    """The z-step is the plain mean, ``dual_residual = |z+ - z|``; the stop is ``residual <= tol * max(1, |z|)``:
    a residual exactly at the tolerance stops, a hair above does not, tolerance 0 never stops."""
    c = AveragingCoordinator("rcaladin", 2, 1, max_iterations=10, tolerance=0.5)
    assert c.speaks_first is False and c.record is False and c.tolerance == 0.5
    assert c.expected == {0: {"primal": 1}, 1: {"primal": 1}}
    out = coordinator_step(c, [[1.0], [-1.0]])  # mean 0, residual 0 <= 0.5: stops
    assert c.dual_residual == 0.0 and c.done and c.converged
    (msg,) = out
    assert (msg.receiver, msg.kind, msg.iteration) == (BROADCAST, "consensus", 0)
    np.testing.assert_array_equal(msg.consensus, [0.0])
    edge = AveragingCoordinator("rcaladin", 2, 1, max_iterations=10, tolerance=0.5)
    coordinator_step(edge, [[1.0], [0.0]])  # residual 0.5 = 0.5 * max(1, 0.5): stops
    assert edge.dual_residual == 0.5 and edge.done
    over = AveragingCoordinator("rcaladin", 2, 1, max_iterations=10, tolerance=0.5)
    coordinator_step(over, [[1.0], [0.0000002]])
    assert not over.done
    scaled = AveragingCoordinator("rcaladin", 2, 1, max_iterations=10, tolerance=0.25)
    coordinator_step(scaled, [[4.0], [0.0]])  # residual 2 <= 0.25 * 2 = 0.5? no
    assert not scaled.done
    coordinator_step(scaled, [[4.0], [1.0]])  # residual 0.5 <= 0.25 * 2.5
    assert scaled.done and scaled.z[0] == 2.5
    never = AveragingCoordinator("rcaladin", 2, 1, max_iterations=10)
    coordinator_step(never, [[0.0], [0.0]])
    assert never.tolerance == 0.0 and not never.done and never.max_iterations == 10
    raises_named(lambda: AveragingCoordinator("rcaladin", 0, 1, 10), "num_robots must be >= 1")
    AveragingCoordinator("rcaladin", 1, 1, 10)


def test_averaging_coordinator_forgets_a_robot_and_averages_the_rest() -> None:
    """A robot that leaves is dropped from the z-step (``_forget`` returns True): the coordinator adapts."""
    c = AveragingCoordinator("rcaladin", 3, 1, max_iterations=10)
    assert c.peer_left(2) == ChangeKind.ADAPTED and not c.done
    out = coordinator_step(c, [[3.0], [1.0]])
    np.testing.assert_array_equal(out[0].consensus, [2.0])


def test_rcaladin_swarm_builds_robots_and_coordinator() -> None:
    """``rcaladin_swarm``: robots 0..N-1 with rho and the cap, the coordinator with N, dim, tolerance, record."""
    s = rcaladin_swarm([quad([1.0, 0.0]), quad([3.0, 1.0])], rho=2.5, max_iterations=7, tolerance=0.125, record=True)
    assert sorted(s) == [COORDINATOR, 0, 1]
    c = s[COORDINATOR]
    assert isinstance(c, AveragingCoordinator) and c.algorithm == "rcaladin" and c.dim == 2
    assert c.tolerance == 0.125 and c.record is True and c.max_iterations == 7 and sorted(c.expected) == [0, 1]
    for i in (0, 1):
        assert s[i].rho == 2.5 and s[i].max_iterations == 7 and s[i].record is True and s[i].agent_id == i
    d = rcaladin_swarm([quad([1.0])], rho=1.0, max_iterations=3)
    assert d[COORDINATOR].tolerance == 0.0 and d[COORDINATOR].record is False and d[0].record is False


# ----------------------------------------------------------------------------- QuDRC levels and bits
def test_level_factor_and_schedule_exponents() -> None:
    """``level_factor``: the power of two between two levels (ValueError naming both when there is none).
    The schedule: ``K`` least with ``Delta 2^K >= coarse``, ``e_k = max(0, K - refine_bits k)``."""
    assert level_factor(1.0, 0.25) == 4 and level_factor(0.5, 0.5) == 1 and level_factor(3.0, 0.375) == 8
    with pytest.raises(ValueError, match=r"^level 0\.3 is not 1\.0 / 2\^j$"):
        level_factor(1.0, 0.3)
    with pytest.raises(ValueError, match="is not"):
        level_factor(1.0, 2.0)
    assert qudrc_level_exponents(0.1, 0.5, 1, 5) == [3, 2, 1, 0, 0]  # 0.1 * 8 = 0.8 >= 0.5 > 0.4
    assert qudrc_level_exponents(0.1, 0.5, 2, 4) == [3, 1, 0, 0]
    assert qudrc_level_exponents(0.125, 0.5, 1, 4) == [2, 1, 0, 0]  # 0.125 * 4 == 0.5 exactly: K = 2
    assert qudrc_level_exponents(0.5, 0.25, 1, 2) == [0, 0]
    assert qudrc_level_exponents(0.5, 0.0, 3, 0) == []
    raises_named(lambda: qudrc_level_exponents(0.0, 0.5, 1, 2), "delta must")
    raises_named(lambda: qudrc_level_exponents(0.1, 0.5, 0, 2), "refine_bits must be >= 1")
    levels = qudrc_levels(0.1, 0.5, 1, 5)
    assert levels == [0.8, 0.4, 0.2, 0.1, 0.1] and all(isinstance(v, float) for v in levels)
    assert qudrc_levels(0.125, 1.0, 2, 3) == [1.0, 0.25, 0.125]


def test_integer_bits_and_quantizer() -> None:
    """``integer_bits``: ``bit_length(|v|) + 1`` per integer, summed; ``quantize_floor``: ``floor(v / Delta)``."""
    assert integer_bits(np.array([0, 1, -3, 4])) == 1 + 2 + 3 + 4
    assert integer_bits(np.array([[7, -8], [0, 0]])) == 4 + 5 + 1 + 1
    assert integer_bits(np.array([], dtype=np.int64)) == 0
    assert isinstance(integer_bits(np.array([5])), int)
    q = quantize_floor(np.array([1.0, -0.3, 0.75]), 0.25)
    np.testing.assert_array_equal(q, [4, -2, 3])
    assert q.dtype == np.int64
    assert payload_integers((np.array([1, 2]), np.array([3]), np.array([-4]), np.array([0]))) == [1, 2, 3, -4, 0]


# ----------------------------------------------------------------------------- the quantized averager
def test_quantized_averager_initial_state_and_validation() -> None:
    """Mass ``tokens * q``, ``tokens`` tokens per coordinate, window max/min = ``q``; each argument checked by name."""
    av = QuantizedAverager(0, np.array([1.0, -0.3]), 0.25, 2, (1,), ScriptedRng([]), tokens=3)
    np.testing.assert_array_equal(av.q, [4, -2])
    np.testing.assert_array_equal(av.y, [12, -6])
    np.testing.assert_array_equal(av.z, [3, 3])
    np.testing.assert_array_equal(av.M, [4, -2])
    np.testing.assert_array_equal(av.m, [4, -2])
    assert av.z.dtype == np.int64 and av.step == 0 and av.output is None and av.tokens == 3
    assert av.m.dtype == np.int64 and av.M.dtype == np.int64 and av.y.dtype == np.int64
    assert av.delta == 0.25 and av.diameter == 2 and av.out_neighbors == (1,) and av.shared_tokens is False
    assert av.node == 0
    d = QuantizedAverager(4, np.array([0.5]), 0.5, 1, [2, 3], ScriptedRng([]))
    assert d.tokens == 2 and d.shared_tokens is False and d.out_neighbors == (2, 3)
    np.testing.assert_array_equal(d.y, [2])
    assert QuantizedAverager(0, np.array([0.5]), 0.5, 1, (), ScriptedRng([]), shared_tokens=1).shared_tokens is True
    rng = ScriptedRng([])
    raises_named(lambda: QuantizedAverager(0, np.zeros(1), 0.25, 1, (), rng, tokens=1), "tokens must be >= 2")
    raises_named(lambda: QuantizedAverager(0, np.zeros(1), 0.0, 1, (), rng), "delta must")
    raises_named(lambda: QuantizedAverager(0, np.zeros(1), 0.25, 0, (), rng), "diameter must be >= 1")


def test_quantized_averager_token_split_per_coordinate() -> None:
    """``emit``: at a window start ``M = ceil(y/z)``, ``m = floor(y/z)``; the mass is split into ``z - 1`` tokens of
    ``ceil(rest / remaining)`` sent to ``targets[rng.integers(len(targets))]`` (out-neighbours, then self), the node
    keeping ``(rest, 1)``. Hand-worked for ``y = (7, -7)``, ``z = (3, 3)``: tokens 3, 2 and -2, -2; keeps (2, -3)."""
    rng = ScriptedRng([0, 1, 1, 0])
    av = QuantizedAverager(0, np.zeros(2), 0.25, 2, (1,), rng)
    av.y, av.z = np.array([7, -7]), np.array([3, 3])
    out = av.emit()
    assert rng.asked == [2, 2, 2, 2] and av.step == 1 and sorted(out) == [0, 1]
    big, small, mass, tokens = out[1]
    np.testing.assert_array_equal(big, [3, -2])
    np.testing.assert_array_equal(small, [2, -3])
    np.testing.assert_array_equal(mass, [3, -2])
    np.testing.assert_array_equal(tokens, [1, 1])
    np.testing.assert_array_equal(out[0][2], [2, -2])
    np.testing.assert_array_equal(out[0][3], [1, 1])
    np.testing.assert_array_equal(av.y, [2, -3])
    np.testing.assert_array_equal(av.z, [1, 1])
    # not a window start (step 2, diameter 2): M, m kept although y, z changed
    av.y, av.z = np.array([9, 1]), np.array([2, 2])
    av.M, av.m = np.array([3, -2]), np.array([2, -3])
    rng.choices = [1, 0]
    out = av.emit()
    np.testing.assert_array_equal(out[0][0], [3, -2])
    np.testing.assert_array_equal(out[0][1], [2, -3])
    np.testing.assert_array_equal(out[0][2], [5, 0])  # ceil(9/2) = 5 to self, ceil(1/2) = 1 to node 1
    np.testing.assert_array_equal(out[1][2], [0, 1])
    np.testing.assert_array_equal(av.y, [4, 0])
    # the third step starts a window again
    av.y, av.z = np.array([5, -5]), np.array([1, 1])
    out = av.emit()
    np.testing.assert_array_equal(out[0][0], [5, -5])
    np.testing.assert_array_equal(out[0][3], [0, 0])
    np.testing.assert_array_equal(out[1][2], [0, 0])


def test_quantized_averager_shared_token_split() -> None:
    """``shared_tokens``: one target per token index for every coordinate (one draw per token, not per coordinate)."""
    rng = ScriptedRng([1, 1])
    av = QuantizedAverager(0, np.zeros(2), 0.25, 1, (1,), rng, shared_tokens=True)
    av.y, av.z = np.array([7, -7]), np.array([3, 3])
    out = av.emit()
    assert rng.asked == [2, 2]
    np.testing.assert_array_equal(out[0][2], [5, -4])
    np.testing.assert_array_equal(out[0][3], [2, 2])
    np.testing.assert_array_equal(out[1][2], [0, 0])
    np.testing.assert_array_equal(out[1][3], [0, 0])
    np.testing.assert_array_equal(av.y, [2, -3])
    np.testing.assert_array_equal(av.z, [1, 1])
    solo = QuantizedAverager(0, np.zeros(0), 0.25, 1, (), ScriptedRng([]), shared_tokens=True)
    assert solo.emit()[0][2].size == 0


def test_quantized_averager_absorb_stops_at_window_end_when_max_min_within_one() -> None:
    """``absorb`` takes the max of M, the min of m and adds mass and tokens; it stops only at a window end
    (``step % D == 0``) with ``M - m <= 1`` everywhere, outputting ``m * Delta``."""
    av = QuantizedAverager(0, np.zeros(2), 0.25, 2, (1,), ScriptedRng([]))
    av.y, av.z, av.step = np.array([2, -3]), np.array([1, 1]), 1
    av.M, av.m = np.array([3, -2]), np.array([2, -3])
    pay = (np.array([4, -2]), np.array([3, -3]), np.array([5, 1]), np.array([1, 2]))
    assert av.absorb([pay]) is False  # step 1, not a window end
    np.testing.assert_array_equal(av.M, [4, -2])
    np.testing.assert_array_equal(av.m, [2, -3])
    np.testing.assert_array_equal(av.y, [7, -2])
    np.testing.assert_array_equal(av.z, [2, 3])
    assert av.output is None
    av.step = 2
    assert av.absorb([(np.array([3, -2]), np.array([3, -3]), np.zeros(2, dtype=np.int64),
                       np.zeros(2, dtype=np.int64))]) is False  # M - m = (2, 1)
    av.M, av.m = np.array([3, -2]), np.array([2, -3])
    assert av.absorb([]) is True  # (1, 1)
    np.testing.assert_array_equal(av.output, [0.5, -0.75])
    av.output, av.step = None, 4
    av.M, av.m = np.array([2, -3]), np.array([2, -3])
    assert av.absorb([]) is True
    np.testing.assert_array_equal(av.output, [0.5, -0.75])


def test_quantized_averager_rescale_and_restart() -> None:
    """``rescale(f)``: Delta / f, mass, q, M, m times f, tokens kept. ``restart(v, delta)``: rescale to the finer
    level, then ``y += tokens (q(v) - q_old)``, step 0, no output; a level that is not Delta / 2^j is refused."""
    av = QuantizedAverager(0, np.array([1.0, -0.3]), 0.25, 1, (), ScriptedRng([]))  # q (4, -2), y (8, -4)
    av.rescale(2)
    assert av.delta == 0.125
    np.testing.assert_array_equal(av.y, [16, -8])
    np.testing.assert_array_equal(av.q, [8, -4])
    np.testing.assert_array_equal(av.M, [8, -4])
    np.testing.assert_array_equal(av.m, [8, -4])
    np.testing.assert_array_equal(av.z, [2, 2])
    raises_named(lambda: av.rescale(0), "factor must be >= 1")
    av.step, av.output = 3, np.zeros(2)
    av.restart(np.array([1.5, -0.3]), 0.0625)  # factor 2: y (32, -16), q (16, -8); new q (24, -5)
    assert av.delta == 0.0625 and av.step == 0 and av.output is None
    np.testing.assert_array_equal(av.q, [24, -5])
    np.testing.assert_array_equal(av.y, [32 + 2 * 8, -16 + 2 * 3])
    np.testing.assert_array_equal(av.M, [16, -8])
    av.restart(np.array([1.5, 0.0]))  # same level: q (24, 0)
    assert av.delta == 0.0625
    np.testing.assert_array_equal(av.y, [48, -10 + 10])
    av.restart(np.array([1.5, 0.0]), 0.0625)
    np.testing.assert_array_equal(av.y, [48, 0])
    with pytest.raises(ValueError, match="is not"):
        av.restart(np.array([1.5, 0.0]), 0.05)


def test_quantized_averager_two_nodes_reach_the_floor_average() -> None:
    """Two nodes, each other's out-neighbour, seeded: the sums of mass and tokens are invariant every step, both
    stop at the same step and output the same multiple of Delta within ``(mean - 2 Delta, mean]``."""
    delta, vals = 0.125, [np.array([1.0, -2.0, 0.3]), np.array([0.25, 3.0, -0.7])]
    avs = [QuantizedAverager(i, vals[i], delta, 1, (1 - i,), np.random.default_rng([5, i])) for i in range(2)]
    total_y = sum(av.y for av in avs)
    done = [False, False]
    for _ in range(200):
        outs = [av.emit() for av in avs]
        done = [avs[i].absorb([outs[i][i], outs[1 - i][i]]) for i in range(2)]
        np.testing.assert_array_equal(sum(av.y for av in avs), total_y)
        np.testing.assert_array_equal(sum(av.z for av in avs), [4, 4, 4])
        if any(done):
            break
    assert done == [True, True] and avs[0].step == avs[1].step
    np.testing.assert_array_equal(avs[0].output, avs[1].output)
    mean = (vals[0] + vals[1]) / 2
    out = avs[0].output
    assert np.all(out <= mean + 1e-12) and np.all(out > mean - 2 * delta)
    np.testing.assert_array_equal(out / delta, np.round(out / delta))


# ----------------------------------------------------------------------------- the edge codec
def test_edge_codec_differences_round_trip_and_rescale() -> None:
    """``encode``: ``(M - M_last, m - m_last, mass - tokens r, tokens)``, ``r = floor(mass / tokens)`` of the last step
    with tokens (kept where no token went); ``decode`` inverts it exactly; ``rescale`` multiplies the state."""
    enc, dec = EdgeCodec(2), EdgeCodec(2)
    np.testing.assert_array_equal(enc.ref, [0, 0])
    assert enc.M.dtype == enc.m.dtype == enc.ref.dtype == np.int64
    p1 = (np.array([5, -2]), np.array([3, -4]), np.array([7, -9]), np.array([2, 3]))
    s1 = enc.encode(p1)
    for got, want in zip(s1, ([5, -2], [3, -4], [7, -9], [2, 3]), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(enc.ref, [3, -3])  # floor(7/2), floor(-9/3)
    np.testing.assert_array_equal(enc.M, [5, -2])
    np.testing.assert_array_equal(enc.m, [3, -4])
    p2 = (np.array([6, -2]), np.array([3, -5]), np.array([7, 0]), np.array([2, 0]))
    s2 = enc.encode(p2)
    for got, want in zip(s2, ([1, 0], [0, -1], [1, 0], [2, 0]), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(enc.ref, [3, -3])  # no token on coordinate 1: r kept
    assert s2[3] is not p2[3]
    for sent, orig in ((s1, p1), (s2, p2)):
        for got, want in zip(dec.decode(sent), orig, strict=True):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(dec.ref, enc.ref)
    one = EdgeCodec(1)
    sent = one.encode((np.array([0]), np.array([0]), np.array([5]), np.array([1])))
    assert all(b.dtype == np.int64 for b in sent)
    np.testing.assert_array_equal(one.ref, [5])  # one token: r = mass // 1
    one.encode((np.array([0]), np.array([0]), np.array([7]), np.array([1])))
    np.testing.assert_array_equal(one.ref, [7])
    enc.rescale(4)
    np.testing.assert_array_equal(enc.M, [24, -8])
    np.testing.assert_array_equal(enc.m, [12, -20])
    np.testing.assert_array_equal(enc.ref, [12, -12])
    assert enc.M.dtype == np.int64 and EdgeCodec(3).m.shape == (3,)


# ----------------------------------------------------------------------------- the Delta bound
P_A = [np.array([[3.0]]), np.array([[1.0 / 3.0]])]
"""Two scalar nodes with ``rho = 1``: ``k_i = rho / (p_i + rho) = (1/4, 3/4)``."""


def test_qudrc_linear_model_scalar_by_hand() -> None:
    """``A = I - 2K + 4K avg - 2 avg``, ``B = 4K 1 - 2 1``, ``C = 2K avg - K``, ``F = 2K 1`` with ``k = (1/4, 3/4)``."""
    a, b, c, f = qudrc_linear_model(P_A, 1.0)
    np.testing.assert_allclose(a, [[0.0, -0.5], [0.5, 0.0]], atol=1e-15)
    np.testing.assert_allclose(b, [[-1.0], [1.0]], atol=1e-15)
    np.testing.assert_allclose(c, [[0.0, 0.25], [0.75, 0.0]], atol=1e-15)
    np.testing.assert_allclose(f, [[0.5], [1.5]], atol=1e-15)
    raises_named(lambda: qudrc_linear_model(P_A, 0.0), "rho must")


def test_qudrc_linear_model_blocks_for_vector_nodes() -> None:
    """Two nodes in two dimensions with diagonal Hessians: every block from the scalar formulas per coordinate."""
    p = [np.diag([1.0, 3.0]), np.diag([2.0, 0.5])]
    rho = 2.0
    a, b, c, f = qudrc_linear_model([p[0], list(p[1])], rho)
    assert a.shape == (4, 4) and b.shape == (4, 2) and c.shape == (4, 4) and f.shape == (4, 2)
    k = [[rho / (p[i][d, d] + rho) for d in range(2)] for i in range(2)]
    for i in range(2):
        for j in range(2):
            for d in range(2):
                for e in range(2):
                    same = float(d == e)
                    eye = float(i == j) * same
                    assert a[2 * i + d, 2 * j + e] == pytest.approx(
                        eye - 2 * k[i][d] * eye + 2 * k[i][d] * same - same, abs=1e-14)
                    assert c[2 * i + d, 2 * j + e] == pytest.approx(k[i][d] * same - k[i][d] * eye, abs=1e-14)
            for e in range(2):
                same = float(d == e)
                assert b[2 * i + d, e] == pytest.approx((4 * k[i][d] - 2) * same, abs=1e-14)
                assert f[2 * i + d, e] == pytest.approx(2 * k[i][d] * same, abs=1e-14)


def test_qudrc_error_gain_geometric_sum_and_truncation() -> None:
    """With ``k = (1/4, 3/4)``: per node ``2 |F_i|`` = (1, 3), then terms (0.5, 1.5) halving every step, so
    ``gamma = max(1 + 1, 3 + 3) = 6``; one term gives 4.5, two 5.25. A nilpotent case (k = (1/2, 1/4)) stops
    after two terms at 3. Zero Hessians give spectral radius exactly 1: no bound."""
    assert qudrc_error_gain(P_A, 1.0) == pytest.approx(6.0, rel=1e-10)
    assert qudrc_error_gain(P_A, 1.0, max_terms=1) == pytest.approx(4.5, rel=1e-14)
    assert qudrc_error_gain(P_A, 1.0, max_terms=2) == pytest.approx(5.25, rel=1e-14)
    assert qudrc_error_gain(P_A, 1.0, rtol=0.2) == pytest.approx(5.25, rel=1e-14)  # 0.75 <= 0.2 * 5.25
    assert qudrc_error_gain(P_A, 1.0, rtol=0.1) == pytest.approx(5.625, rel=1e-14)
    assert qudrc_error_gain([np.array([[1.0]]), np.array([[3.0]])], 1.0) == 3.0
    zero = [np.array([[0.0]]), np.array([[0.0]])]
    with pytest.raises(ValueError, match=r"^RC-ALADIN does not contract at rho=1\.0 \(spectral radius 1\.0000\); "
                                         r"no Delta bound$"):
        qudrc_error_gain(zero, 1.0)


def test_node_terms_and_level_bound() -> None:
    """``_node_terms``: per node ``||M^i 1|| + sum_c ||M^i e_c||``; ``qudrc_level_bound`` weights the t-th response
    by the level ``t`` averagings back: node 1 gets ``3 L2 + 1.5 L1 + 0.75 L0``."""
    m = np.array([[3.0, 0.0], [4.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    got = aladin._node_terms(m, 2, 2)
    np.testing.assert_allclose(got, [np.hypot(3.0, 5.0) + 5.0 + 1.0, 2.0 + 0.0 + 2.0], rtol=1e-15)
    assert qudrc_level_bound(P_A, 1.0, [4.0, 2.0, 1.0]) == pytest.approx(9.0, rel=1e-14)
    assert qudrc_level_bound(P_A, 1.0, [1.0, 2.0, 4.0]) == pytest.approx(15.75, rel=1e-14)
    assert qudrc_level_bound(P_A, 1.0, [2.0]) == pytest.approx(6.0, rel=1e-14)
    assert qudrc_level_bound(P_A, 1.0, []) == 0.0
    raises_named(lambda: qudrc_level_bound(P_A, 1.0, [1.0, 0.0]), "level must")


# ----------------------------------------------------------------------------- QuDRC-ALADIN agents
RING = make_digraph("directed_ring", 3)


def qudrc_agent(**kw: Any) -> QuDRCAladinAgent:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0, -1.0]), "digraph": RING, "rho": 1.0,
                            "delta": 0.125, "max_outer": 2}
    args.update(kw)
    return QuDRCAladinAgent(**args)


def test_qudrc_agent_validation_names_the_argument() -> None:
    """Each bad argument is refused with its name; the boundary values are accepted."""
    with pytest.raises(ValueError, match=r"^diameter must be >= the digraph's diameter 2, got 1$"):
        qudrc_agent(diameter=1)
    raises_named(lambda: qudrc_agent(diameter=0), "diameter must be >= 1")
    assert qudrc_agent(diameter=2).diameter == 2 and qudrc_agent(diameter=5).diameter == 5
    with pytest.raises(ValueError, match=r"^code must be one of gamma, delta, got 'zeta'$"):
        qudrc_agent(code="zeta")
    with pytest.raises(ValueError, match=r"^frame must be one of flat, sparse, got 'dense'$"):
        qudrc_agent(frame="dense")
    with pytest.raises(ValueError, match=r"^coarse_level must be >= 0, got -0\.5$"):
        qudrc_agent(coarse_level=-0.5)
    raises_named(lambda: qudrc_agent(coarse_level=float("nan")), "coarse_level must be >= 0")
    assert qudrc_agent(coarse_level=0.0).level == 0.125
    raises_named(lambda: qudrc_agent(max_outer=0), "max_outer must be >= 1")
    raises_named(lambda: qudrc_agent(watchdog=0.5), "watchdog must be an integer")
    raises_named(lambda: qudrc_agent(watchdog=0), "watchdog must be >= 1")  # named, not the product cap
    raises_named(lambda: qudrc_agent(tokens=1), "tokens must be >= 2")
    raises_named(lambda: qudrc_agent(refine_bits=0), "refine_bits must be >= 1")
    raises_named(lambda: qudrc_agent(rho=0.0), "rho must")
    raises_named(lambda: qudrc_agent(delta=-1.0), "delta must")
    assert qudrc_agent(max_outer=1, watchdog=1, tokens=2, refine_bits=1).max_iterations == 1


def test_qudrc_agent_defaults_and_stored_parameters() -> None:
    """Defaults: diameter of the digraph, watchdog 100 000 (cap = max_outer * watchdog), warm start, differences,
    gamma code, coarse level 0.5, one refine bit, shared tokens, sparse frame, 4 tokens; the first level is
    ``Delta 2^K`` (0.125 -> 0.5), ``level_of`` follows the schedule; blocks M, m, mass, tokens from in-neighbours."""
    a = qudrc_agent()
    assert a.diameter == 2 and a.watchdog == 100_000 and a.max_iterations == 200_000 and a.max_outer == 2
    assert a.warm_start is True and a.differential is True and a.code == "gamma" and a.frame == "sparse"
    assert a.shared_tokens is True and a.tokens == 4 and a.coarse_level == 0.5 and a.refine_bits == 1
    assert a.record is False and a.rho == 1.0 and a.delta == 0.125 and a.algorithm == "qudrc"
    assert a.level == 0.5 and [a.level_of(k) for k in range(4)] == [0.5, 0.25, 0.125, 0.125]
    assert a.out_neighbors == (1,) and a.in_neighbors == (2,) and a.outer == 0 and a.inner_steps == []
    assert a.expected == {2: {"primal": 2, "dual": 2, "consensus": 2, "aux": 2}}
    assert sorted(a._encoders) == [1] and sorted(a._decoders) == [2]
    assert a.averager is not None and a.averager.tokens == 4 and a.averager.shared_tokens is True
    assert a.averager.delta == 0.5 and a.averager.diameter == 2 and a.averager.step == 1
    assert aladin.COARSE_LEVEL == 0.5 and aladin.REFINE_BITS == 1 and aladin.TOKENS == 4
    # lambda^0 is the node's seeded normal draw, as in the paper
    lam = np.random.default_rng([0, 0]).normal(size=2)
    np.testing.assert_array_equal(a.lam, lam)
    b = qudrc_agent(agent_id=1, seed=9, refine_bits=2, coarse_level=1.0, tokens=3, shared_tokens=False,
                    frame="flat", code="delta", warm_start=False, differential=False, watchdog=10, record=True)
    np.testing.assert_array_equal(b.lam, np.random.default_rng([9, 1]).normal(size=2))
    assert b.level == 1.0 and [b.level_of(k) for k in range(3)] == [1.0, 0.25, 0.125]
    assert b.max_iterations == 20 and b.record is True and b.tokens == 3 and b.averager.tokens == 3
    assert b.shared_tokens is False and b.averager.shared_tokens is False and b.frame == "flat"
    assert b.code == "delta" and b.warm_start is False and b.differential is False


def test_qudrc_agent_first_message_kind_blocks_and_bit_cost() -> None:
    """Round 0's message to the out-neighbour: kind ``qavg``, the four integer blocks of the differential payload
    (the first difference is the payload itself), charged ``payload_length`` (sparse) or ``frame_length`` (flat)."""
    for frame, code, shared in (("sparse", "gamma", True), ("flat", "delta", False), ("sparse", "delta", False)):
        a = qudrc_agent(frame=frame, code=code, shared_tokens=shared)
        (msg,) = a.start()
        assert (msg.receiver, msg.kind, msg.sender, msg.algorithm, msg.dim, msg.iteration) == (1, "qavg", 0, "qudrc",
                                                                                               2, 0)
        assert msg.done is False
        big, small, mass, tokens = a._wire[1]
        for block, want in ((msg.primal, big), (msg.dual, small), (msg.consensus, mass), (msg.aux, tokens)):
            np.testing.assert_array_equal(block, want)
        want_bits = (payload_length(a._wire[1], shared, code) if frame == "sparse"
                     else frame_length(a.wire_integers(1), code))
        assert msg.bit_cost == want_bits == a.wire_bits(1)
        assert a.wire_integers(1) == [int(v) for v in np.concatenate(a._wire[1])]
        # M, m at the first window are ceil and floor of the node's own quantized value
        assert np.array_equal(big, small)


def test_qudrc_swarm_runs_to_max_outer_and_ends_with_empty_frames() -> None:
    """A 3-node ring runs exactly ``max_outer`` outer iterations on every node, in the same number of rounds; the
    done messages carry the all-zero difference (the one-bit frame); residuals are ``|x - z|`` of the last z."""
    objs = [quad([1.0, -1.0]), quad([2.0, 0.5], [2.0, 1.0]), quad([-0.5, 1.5])]
    agents = qudrc_swarm(objs, RING, rho=1.0, delta=0.125, max_outer=3, seed=4)
    sent: list[Message] = []
    simulate(agents, max_rounds=5_000, on_round=None)
    for a in agents.values():
        assert a.outer == 3 and a.done and a.converged and len(a.inner_steps) == 3
        assert all(isinstance(k, int) and k >= 1 for k in a.inner_steps) and sum(a.inner_steps) == a.iteration
        assert a.averager.M.dtype == a.averager.m.dtype == a.averager.y.dtype == np.int64
        for codec in (*a._decoders.values(), *a._encoders.values()):
            assert codec.M.dtype == codec.m.dtype == codec.ref.dtype == np.int64
        assert all(block.dtype == np.int64 for j in a.out_neighbors for block in a._wire[j])
        assert a.primal_residual == pytest.approx(float(np.linalg.norm(a.x - a.z)), abs=0)
        for j in a.out_neighbors:
            assert all(int(v) == 0 for v in a.wire_integers(j)) and a.wire_bits(j) == 1
        sent += a._outgoing()
        assert a.iteration == agents[0].iteration
        assert a.level == 0.125
    assert all(m.done and m.bit_cost == 1 for m in sent)
    assert agents[0].inner_steps == agents[1].inner_steps == agents[2].inner_steps


def test_qudrc_swarm_passes_every_option_and_checks_the_node_count() -> None:
    """``qudrc_swarm`` forwards each option; ``None`` means the module default; a size mismatch is refused."""
    objs = [quad([1.0]), quad([2.0]), quad([3.0])]
    s = qudrc_swarm(objs, RING, rho=2.0, delta=0.25, max_outer=4, seed=3, diameter=3, watchdog=50, warm_start=False,
                    differential=False, code="delta", coarse_level=2.0, refine_bits=2, shared_tokens=False,
                    frame="flat", tokens=5)
    for i, a in s.items():
        assert a.agent_id == i and a.rho == 2.0 and a.delta == 0.25 and a.max_outer == 4 and a.diameter == 3
        assert a.watchdog == 50 and a.warm_start is False and a.differential is False and a.code == "delta"
        assert a.coarse_level == 2.0 and a.refine_bits == 2 and a.shared_tokens is False and a.frame == "flat"
        assert a.tokens == 5 and a.objective is objs[i]
        np.testing.assert_array_equal(a.lam, np.random.default_rng([3, i]).normal(size=1))
    d = qudrc_swarm(objs, RING, rho=1.0, delta=0.125, max_outer=2)
    for a in d.values():
        assert a.coarse_level == 0.5 and a.refine_bits == 1 and a.tokens == 4 and a.watchdog == 100_000
        assert a.warm_start and a.differential and a.code == "gamma" and a.shared_tokens and a.frame == "sparse"
        assert a.diameter == 2
        np.testing.assert_array_equal(a.lam, np.random.default_rng([0, a.agent_id]).normal(size=1))
    with pytest.raises(ValueError, match=r"^digraph has 3 nodes but there are 2 objectives$"):
        qudrc_swarm(objs[:2], RING, rho=1.0, delta=0.125, max_outer=2)


def test_qudrc_agent_watchdog_names_the_node_and_outer_iteration() -> None:
    """An averaging that does not stop within ``watchdog`` steps raises RuntimeError naming node and outer iteration."""
    agents = qudrc_swarm([quad([1.0]), quad([7.3]), quad([-4.1])], RING, rho=1.0, delta=1e-3, max_outer=2,
                         watchdog=2)
    with pytest.raises(RuntimeError, match=r"^node \d: quantized averaging did not stop within watchdog=2 steps "
                                           r"\(outer iteration 0\)$"):
        simulate(agents, max_rounds=100)
    assert max(a.averager.step for a in agents.values()) == 2  # raised at step 2 = watchdog, not later


# ----------------------------------------------------------------------------- federated
from distopt_ros.core.algorithms.federated import (  # noqa: E402
    FedClient,
    FedServer,
    LossClient,
    PrimalDualServer,
    fed_swarm,
    fedavg_fixed_point,
    heterogeneity,
    primal_dual_swarm,
    project_simplex,
)
from distopt_ros.core.problems import LeastSquaresObjective, LogisticObjective, Problem  # noqa: E402

LS = LeastSquaresObjective(np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, -1.0]]), np.array([1.0, 2.0, 0.0, -1.0]))
"""Four rows in two dimensions, for the minibatch client."""


def global_model(server_w: Sequence[float], mask: Sequence[float], iteration: int = 0) -> Message:
    return Message(COORDINATOR, BROADCAST, iteration, "fed", "global_model", len(server_w), consensus=server_w,
                   aux=mask)


def test_fed_client_validation_and_defaults() -> None:
    """Each argument is checked by name (boundary 1 accepted); defaults: one sample, full batch, seed 0, cap 10 000,
    no recording, zero models, nothing to send before the first broadcast."""
    f = quad([1.0, 2.0])
    raises_named(lambda: FedClient(0, f, 0, 1, 0.1), "num_clients must be >= 1")
    raises_named(lambda: FedClient(0, f, 1, 0, 0.1), "local_epochs must be >= 1")
    raises_named(lambda: FedClient(0, f, 1, 1, 0.0), "local_step must")
    raises_named(lambda: FedClient(0, f, 1, 1, 0.1, num_samples=0), "num_samples must be >= 1")
    raises_named(lambda: FedClient(0, LS, 1, 1, 0.1, batch_size=0), "batch_size must be >= 1")
    raises_named(lambda: FedClient(0, LS, 1, 1, 0.1, batch_size=1.5), "batch_size must be an integer")
    with pytest.raises(ValueError, match=r"^batch_size needs an objective with batch_gradient\(x, rows\); "
                                         r"use None \(full batch\)$"):
        FedClient(0, f, 1, 1, 0.1, batch_size=2)
    c = FedClient(3, f, 1, 1, 0.1)
    assert c.num_clients == 1 and c.local_epochs == 1 and c.num_samples == 1 and c.batch_size is None
    assert c.max_iterations == 10_000 and c.record is False and c.speaks_first is False
    assert c.expected == {COORDINATOR: {"consensus": 2, "aux": 1}}
    np.testing.assert_array_equal(c.w, [0.0, 0.0])
    np.testing.assert_array_equal(c.estimate(), [0.0, 0.0])
    assert c._outgoing() == [] and c.start() == []
    assert c.rng.integers(1 << 30) == np.random.default_rng([0, 3]).integers(1 << 30)
    b = FedClient(1, LS, 4, 2, 0.05, num_samples=4, batch_size=1, seed=6, max_iterations=3, record=True)
    assert b.batch_size == 1 and b.record is True and b.max_iterations == 3
    assert b.rng.integers(1 << 30) == np.random.default_rng([6, 1]).integers(1 << 30)


def test_fed_client_minibatch_epochs_follow_the_seeded_permutation() -> None:
    """Minibatch training: per epoch a permutation of the ``num_samples`` rows from the client's generator, then
    steps on consecutive slices of ``batch_size`` rows with the gradient scaled to the full data."""
    c = FedClient(2, LS, 3, 2, 0.05, num_samples=4, batch_size=3, seed=1)
    rng = np.random.default_rng([1, 2])
    w = np.array([0.5, -0.5])
    for _ in range(2):
        order = rng.permutation(4)
        for rows in (order[0:3], order[3:4]):
            a, b = LS.A[rows], LS.b[rows]
            w = w - 0.05 * (4 / len(rows)) * a.T @ (a @ w - b)
    np.testing.assert_allclose(c._train(np.array([0.5, -0.5])), w, rtol=1e-14, atol=1e-15)
    full = FedClient(2, LS, 3, 2, 0.05)
    w = np.array([0.5, -0.5])
    for _ in range(2):
        w = w - 0.05 * LS.A.T @ (LS.A @ w - LS.b)
    np.testing.assert_allclose(full._train(np.array([0.5, -0.5])), w, rtol=1e-14)


def test_fed_client_answers_only_when_sampled() -> None:
    """A client answers a broadcast whose mask entry is > 0.5 with kind ``client_model`` of the same round, its model,
    its sample count and loss; a mask entry of exactly 0.5 (or 0) is silence, the global model is still taken."""
    c = FedClient(1, quad([2.0]), 2, 1, 0.5, num_samples=3)
    deliver(c, global_model([1.0], [1.0, 0.5]))
    assert c.step() == []
    np.testing.assert_array_equal(c.estimate(), [1.0])
    np.testing.assert_array_equal(c.w, [0.0])
    deliver(c, global_model([1.0], [0.0, 1.0], iteration=1))
    (msg,) = c.step()
    assert (msg.kind, msg.receiver, msg.iteration) == ("client_model", COORDINATOR, 1)
    np.testing.assert_array_equal(msg.primal, [1.5])  # 1 - 0.5 * (1 - 2)
    np.testing.assert_array_equal(msg.aux, [3.0, 0.125])  # loss 1/2 (1.5 - 2)^2
    deliver(c, global_model([1.0], [0.0, 0.0], iteration=2))
    assert c.step() == []


def server_round(s: FedServer, replies: dict[int, tuple[Sequence[float], float, float]]) -> list[Message]:
    for i, (model, count, loss) in replies.items():
        deliver(s, Message(i, COORDINATOR, s.iteration, "fed", "client_model", s.dim, primal=model, aux=[count, loss]))
    return s.step()


def test_fed_server_validation_defaults_and_boundaries() -> None:
    """Names in every error; ``fraction`` in (0, 1], ``beta1``/``beta2`` in [0, 1); defaults fedavg, C = 1,
    server step 1, betas 0.9/0.99, tau 1e-3 (``v`` starts at tau^2), seed 0, no tolerance, no recording."""
    raises_named(lambda: FedServer(0, 1, 5), "num_clients must be >= 1")
    with pytest.raises(ValueError, match=r"^optimizer must be one of fedavg, fedadam, fedadagrad, fedyogi; "
                                         r"got 'sgd'$"):
        FedServer(2, 1, 5, optimizer="sgd")
    raises_named(lambda: FedServer(2, 1, 5, fraction=0.0), "fraction must be in (0.0, 1.0]")
    raises_named(lambda: FedServer(2, 1, 5, fraction=1.5), "fraction must")
    raises_named(lambda: FedServer(2, 1, 5, server_step=0.0), "server_step must")
    for name in ("beta1", "beta2"):
        raises_named(lambda n=name: FedServer(2, 1, 5, **{n: 1.0}), f"{name} must")
        raises_named(lambda n=name: FedServer(2, 1, 5, **{n: 1.5}), f"{name} must")
        raises_named(lambda n=name: FedServer(2, 1, 5, **{n: -0.5}), f"{name} must")
        assert getattr(FedServer(2, 1, 5, **{name: 0.0}), name) == 0.0
    raises_named(lambda: FedServer(2, 1, 5, tau=0.0), "tau must")
    raises_named(lambda: FedServer(2, 2, 5, w0=[1.0]), "w0 must have 2 entries")
    s = FedServer(1, 2, 5, w0=np.array([[1.0], [2.0]]))
    np.testing.assert_array_equal(s.w, [1.0, 2.0])
    assert s.w.shape == (2,) and s.selected == (0,)
    d = FedServer(4, 2, 5)
    assert (d.optimizer, d.fraction, d.server_step, d.beta1, d.beta2, d.tau) == ("fedavg", 1.0, 1.0, 0.9, 0.99, 1e-3)
    assert d.tolerance == 0.0 and d.record is False and d.max_iterations == 5 and d.selected == (0, 1, 2, 3)
    np.testing.assert_array_equal(d.v, [1e-6, 1e-6])
    np.testing.assert_array_equal(d.w, [0.0, 0.0])
    np.testing.assert_array_equal(d.m, [0.0, 0.0])
    assert d.expected == {i: {"primal": 2, "aux": 2} for i in range(4)} and d.losses == []
    assert d.start()[0].aux.tolist() == [1.0, 1.0, 1.0, 1.0] and d.trajectory == []


def test_fed_server_sampling_fraction_seed_and_mask() -> None:
    """``count = min(max(ceil(C K), 1), K)`` clients without replacement from the server's seeded generator; the
    broadcast (kind ``global_model``) carries the model and a 0/1 mask of the sampled ones."""
    s = FedServer(4, 1, 5, fraction=0.5, seed=3)
    want = tuple(sorted(int(i) for i in np.random.default_rng(3).choice(range(4), size=2, replace=False)))
    assert s.selected == want and s.awaited() == want
    (msg,) = s.start()
    assert (msg.kind, msg.receiver) == ("global_model", BROADCAST)
    np.testing.assert_array_equal(msg.aux, [1.0 if i in want else 0.0 for i in range(4)])
    one = FedServer(4, 1, 5, fraction=0.1, seed=0)
    assert len(one.selected) == 1
    assert one.selected == (int(np.random.default_rng(0).choice(range(4), size=1, replace=False)[0]),)
    rec = FedServer(2, 1, 5, record=True, w0=[3.0])
    rec.start()
    assert [t.tolist() for t in rec.trajectory] == [[3.0]]
    rec.start()
    assert len(rec.trajectory) == 1


def test_fed_server_forgets_a_client_and_samples_the_live_ones() -> None:
    """A client that leaves drops out of this round's sample; an empty sample is redrawn among the live clients,
    and later rounds sample only live clients."""
    s = FedServer(3, 1, 10, fraction=0.1, seed=0)
    (gone,) = s.selected
    assert s.peer_left(gone) == ChangeKind.ADAPTED and not s.done
    assert len(s.selected) == 1 and s.selected[0] != gone
    two = FedServer(3, 1, 10, seed=0)
    assert two.peer_left(1) == ChangeKind.ADAPTED and two.selected == (0, 2)
    for _ in range(4):
        server_round(two, {i: ([1.0], 1.0, 0.0) for i in two.selected})
        assert two.selected == (0, 2)
    few = FedServer(3, 1, 10, fraction=0.1, seed=1)
    few.peer_left(0)
    few.peer_left(2)
    for _ in range(3):
        server_round(few, {i: ([1.0], 1.0, 0.0) for i in few.selected})
        assert few.selected == (1,)


def test_fed_server_fedavg_losses_residual_and_tolerance() -> None:
    """FedAvg: ``w += eta_s sum n_k (w_k - w) / sum n_k``; the loss is the count-weighted mean; the residual is
    ``|w+ - w|``; the stop is ``residual <= tol max(1, |w|)`` (exactly at it stops, tol 0 never)."""
    s = FedServer(2, 1, 10, server_step=0.5, tolerance=0.5)
    server_round(s, {0: ([2.0], 1.0, 2.0), 1: ([6.0], 3.0, 6.0)})
    assert s.w[0] == 0.5 * (1 * 2 + 3 * 6) / 4 and s.losses == [5.0]
    assert s.dual_residual == 2.5 and not s.done
    s2 = FedServer(2, 1, 10, tolerance=0.5)
    server_round(s2, {0: ([0.5], 1.0, 0.0), 1: ([0.5], 1.0, 0.0)})
    assert s2.dual_residual == 0.5 and s2.done and s2.converged
    s3 = FedServer(2, 1, 10, tolerance=0.25, w0=[2.0])
    server_round(s3, {0: ([2.5], 1.0, 0.0), 1: ([2.5], 1.0, 0.0)})  # 0.5 <= 0.25 * 2.5
    assert s3.done
    s4 = FedServer(2, 1, 10, tolerance=0.25, w0=[2.0])
    server_round(s4, {0: ([2.7], 1.0, 0.0), 1: ([2.7], 1.0, 0.0)})  # 0.7 > 0.25 * 2.7
    assert not s4.done
    s5 = FedServer(2, 1, 10)
    server_round(s5, {0: ([0.0], 1.0, 0.0), 1: ([0.0], 1.0, 0.0)})
    assert s5.dual_residual == 0.0 and not s5.done
    s6 = FedServer(2, 1, 10, tolerance=0.5, w0=[-3.0])
    server_round(s6, {0: ([-1.0], 1.0, 0.0), 1: ([-1.0], 1.0, 0.0)})  # residual 2 > 0.5 * 1; with w + w_old: 4
    assert s6.dual_residual == 2.0 and not s6.done


def test_fedyogi_keeps_v_where_v_equals_the_squared_delta() -> None:
    """FedYogi: ``v -= (1 - beta2) d^2 sign(v - d^2)``: with ``tau = 0.5`` and ``d = 0.5`` the sign is 0, ``v`` stays
    0.25 and ``w = eta m / (sqrt v + tau) = 0.05 / 1``."""
    s = FedServer(1, 1, 5, optimizer="fedyogi", tau=0.5)
    server_round(s, {0: ([0.5], 1.0, 0.0)})
    assert s.v[0] == 0.25 and s.m[0] == pytest.approx(0.05, abs=1e-16) and s.w[0] == pytest.approx(0.05, abs=1e-16)


def test_fed_swarm_defaults_and_forwarding() -> None:
    """``fed_swarm``: a client per objective (seeded with the swarm's seed, capped at ``rounds``, one sample each by
    default) and the server (optimizer, fraction, server step, seed, record and extra keywords)."""
    prob = Problem((quad([1.0]), quad([2.0]), quad([3.0])))
    s = fed_swarm(prob, rounds=7, local_epochs=2, local_step=0.1)
    srv = s[COORDINATOR]
    assert srv.server_step == 1.0 and srv.optimizer == "fedavg" and srv.fraction == 1.0 and srv.record is False
    assert srv.max_iterations == 7 and srv.num_clients == 3
    assert srv.rng.integers(1 << 30) == FedServer(3, 1, 7).rng.integers(1 << 30)
    for i in range(3):
        c = s[i]
        assert c.num_samples == 1 and c.max_iterations == 7 and c.record is False and c.local_epochs == 2
        assert c.rng.integers(1 << 30) == np.random.default_rng([0, i]).integers(1 << 30)
    t = fed_swarm(prob, rounds=4, local_epochs=1, local_step=0.2, optimizer="fedadam", fraction=0.5, server_step=0.3,
                  num_samples=[2, 5, 1], seed=8, record=True, beta1=0.5, tolerance=0.01)
    srv = t[COORDINATOR]
    assert (srv.optimizer, srv.fraction, srv.server_step, srv.beta1, srv.tolerance, srv.record) == (
        "fedadam", 0.5, 0.3, 0.5, 0.01, True)
    assert srv.selected == FedServer(3, 1, 4, fraction=0.5, seed=8).selected
    assert srv.rng.integers(1 << 30) == FedServer(3, 1, 4, fraction=0.5, seed=8).rng.integers(1 << 30)
    for i, n in enumerate([2, 5, 1]):
        assert t[i].num_samples == n and t[i].record is True and t[i].max_iterations == 4
        assert t[i].rng.integers(1 << 30) == np.random.default_rng([8, i]).integers(1 << 30)


def test_fedavg_fixed_point_and_heterogeneity() -> None:
    """``fedavg_fixed_point`` on integer inputs; ``heterogeneity``: weights checked by name (a zero weight is allowed),
    ``B = sum p_k |grad f_k(w*)|^2`` for quadratics by hand and for logistic objectives at a Newton optimum."""
    # a = (1, 2), c = (0, 3), p = (1, 1), eta 0.25, E 2: q = (0.5625, 0.25); (0 + 0.75 * 3) / (0.4375 + 0.75)
    assert fedavg_fixed_point([1, 2], [0, 3], [1, 1], 0.25, 2) == pytest.approx(2.25 / 1.1875, rel=1e-15)
    prob = Problem((quad([0.0]), quad([4.0], [3.0])))
    # w* = (0.5 * 0 + 0.5 * 3 * 4) / (0.5 + 1.5) = 3; grads -3... f0' = 3, f1' = 3 (3 - 4) = -3: B = 9
    assert heterogeneity(prob, [0.5, 0.5]) == pytest.approx(9.0, rel=1e-12)
    assert heterogeneity(prob, [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match=r"^weights must have 2 entries, got 3$"):
        heterogeneity(prob, [0.3, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"^weights must be non-negative and sum to 1$"):
        heterogeneity(prob, [1.5, -0.5])
    with pytest.raises(ValueError, match=r"^weights must be non-negative and sum to 1$"):
        heterogeneity(prob, [0.5, 0.4])
    rng = np.random.default_rng(2)
    objs = [LogisticObjective(rng.normal(size=(5, 2)), rng.choice([-1.0, 1.0], size=5), 0.5) for _ in range(2)]
    p = np.array([0.25, 0.75])
    w = np.zeros(2)
    for _ in range(50):  # Newton on sum p_k f_k (an independent optimum)
        g = sum(pk * f.gradient(w) for pk, f in zip(p, objs, strict=True))
        h = sum(pk * f.hessian(w) for pk, f in zip(p, objs, strict=True))
        w = w - np.linalg.solve(h, g)
    want = sum(pk * float(np.sum(f.gradient(w) ** 2)) for pk, f in zip(p, objs, strict=True))
    got = heterogeneity(Problem(tuple(objs)), p)
    assert got == pytest.approx(want, rel=1e-10)  # BFGS with exact gradients to gtol 1e-12


def test_project_simplex_by_hand() -> None:
    """Sort-based projection onto the simplex: (0.5, 0.2, -1) -> theta -0.15 -> (0.65, 0.35, 0); a point on the
    simplex is kept; (3) -> (1)."""
    np.testing.assert_allclose(project_simplex(np.array([0.5, 0.2, -1.0])), [0.65, 0.35, 0.0], atol=1e-15)
    np.testing.assert_allclose(project_simplex(np.array([0.2, 0.5, 0.3])), [0.2, 0.5, 0.3], atol=1e-15)
    np.testing.assert_allclose(project_simplex(np.array([3.0])), [1.0], atol=0)
    np.testing.assert_allclose(project_simplex(np.array([2.0, 0.0])), [1.0, 0.0], atol=0)
    np.testing.assert_allclose(project_simplex(np.array([1.0, 1.0, 1.0, 1.0])), [0.25] * 4, atol=1e-15)


def test_primal_dual_server_and_loss_client_pins() -> None:
    """Validation names, defaults (uniform weights, epsilon 0, no recording), the loss client's message (kind
    ``loss``, gradient and value at the model, the previous round), and the fair dual step clipped at 0."""
    raises_named(lambda: PrimalDualServer(0, 1, 5, "minmax", 0.1, 0.1), "num_clients must be >= 1")
    with pytest.raises(ValueError, match=r"^mode must be 'minmax' or 'fair', got 'max'$"):
        PrimalDualServer(2, 1, 5, "max", 0.1, 0.1)
    raises_named(lambda: PrimalDualServer(2, 1, 5, "fair", 0.0, 0.1), "step must")
    raises_named(lambda: PrimalDualServer(2, 1, 5, "fair", 0.1, 0.0), "dual_step must")
    raises_named(lambda: PrimalDualServer(2, 1, 5, "fair", 0.1, 0.1, weights=[1.0]), "weights must have 2")
    one = PrimalDualServer(1, 1, 5, "minmax", 0.1, 0.1)
    assert one.lam.tolist() == [1.0] and one.record is False and one.epsilon == 0.0
    s = PrimalDualServer(2, 1, 5, "fair", 0.5, 1.0, epsilon=3.0)
    assert s.p.tolist() == [0.5, 0.5] and s.lam.tolist() == [0.0, 0.0]
    s.start()
    for i, (g, loss) in enumerate(((1.0, 1.0), (-3.0, 5.0))):
        deliver(s, Message(i, COORDINATOR, 0, "fedpd", "loss", 1, primal=[g], aux=[loss]))
    s.step()
    assert s.w[0] == -0.5 * (0.5 * 1.0 + 0.5 * -3.0) and s.lam.tolist() == [0.0, 2.0]
    c = LossClient(0, quad([2.0]), 5)
    np.testing.assert_array_equal(c.w, [0.0])
    deliver(c, Message(COORDINATOR, BROADCAST, 0, "fedpd", "model", 1, consensus=[1.0]))
    (msg,) = c.step()
    assert (msg.kind, msg.receiver, msg.iteration) == ("loss", COORDINATOR, 0)
    assert msg.primal.tolist() == [-1.0] and msg.aux.tolist() == [0.5]
    sw = primal_dual_swarm(Problem((quad([1.0]), quad([2.0]))), 5, "fair", 0.1, 0.2)
    assert sw[COORDINATOR].epsilon == 0.0 and sw[COORDINATOR].dual_step == 0.2 and sw[1].max_iterations == 5


# ----------------------------------------------------------------------------- price coordination
from distopt_ros.core.algorithms.price import (  # noqa: E402
    AuctioneerAgent,
    BidderAgent,
    coupling_support,
    iss_bound,
    price_swarm,
    problem_supports,
)
from distopt_ros.core.resources import QuadraticCost, ResourceProblem  # noqa: E402


def price_msg(p: Sequence[float], receiver: int = BROADCAST, iteration: int = 0,
              p_hat: Sequence[float] | None = None, dim: int | None = None) -> Message:
    hat = {} if p_hat is None else {"aux": p_hat}
    return Message(COORDINATOR, receiver, iteration, "price", "price", len(p) if dim is None else dim, consensus=p,
                   **hat)


def test_coupling_support_rows() -> None:
    """The rows of ``A_i`` with a non-zero entry, all ``m`` rows without a matrix; integer matrices work too."""
    np.testing.assert_array_equal(coupling_support(None, 3), [0, 1, 2])
    np.testing.assert_array_equal(coupling_support(np.array([[0, 0], [1, 0], [0, -2]]), 3), [1, 2])
    np.testing.assert_array_equal(coupling_support(np.zeros((2, 2)), 2), [])
    prob = ResourceProblem([QuadraticCost([1.0]), QuadraticCost([1.0, 1.0])], [1.0, 2.0],
                           A=[np.array([[0.0], [1.0]]), np.eye(2)])
    got = problem_supports(prob)
    assert [g.tolist() for g in got] == [[1], [0, 1]]


def test_bidder_validation_defaults_blocks_and_messages() -> None:
    """Bidder: names in the errors; defaults dual, step 0.1, cap 1000, no recording, ``y = project(0)``; the bid goes
    to the coordinator as kind ``bid`` of the previous round, only the support rows, plus the predicted bid in
    extragradient mode; the residual is ``|y+ - y|``."""
    cost = QuadraticCost([1.0, 2.0], beta=[0.5, -1.0])
    raises_named(lambda: BidderAgent(0, cost, np.ones(2)), "coupling must have 2 dimension(s)")
    with pytest.raises(ValueError, match=r"^coupling must have 2 columns \(the cost's dimension\), "
                                         r"got shape \(1, 3\)$"):
        BidderAgent(0, cost, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"^mode must be one of dual, gda, extragradient; got 'ascent'$"):
        BidderAgent(0, cost, None, mode="ascent")
    raises_named(lambda: BidderAgent(0, cost, None, step=0.0), "step must")
    raises_named(lambda: BidderAgent(0, cost, None, y0=[1.0]), "y0 must have 2 entries")
    d = BidderAgent(0, cost, None)
    assert d.mode == "dual" and d.step_size == 0.1 and d.max_iterations == 1000 and d.record is False
    assert d.speaks_first is False and d.wire_dim == 2 and d._bid is None and d._bid_hat is None
    np.testing.assert_array_equal(d.y, [0.0, 0.0])
    np.testing.assert_array_equal(d.y_hat, [0.0, 0.0])
    np.testing.assert_array_equal(d.coupling, np.eye(2))
    assert d.expected == {COORDINATOR: {"consensus": 2, "aux": 0}}
    a = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    boxed = QuadraticCost([1.0, 2.0], lower=[0.0, 0.0], upper=[1.0, 1.0])
    e = BidderAgent(1, boxed, a, mode="extragradient", step=0.5, y0=[3.0, -1.0], max_iterations=9, record=True)
    np.testing.assert_array_equal(e.y, [1.0, 0.0])  # y0 projected
    np.testing.assert_array_equal(e.y_hat, [1.0, 0.0])
    assert e.y_hat is not e.y and e.m == 3 and e.wire_dim == 3 and e.support.tolist() == [1, 2]
    np.testing.assert_array_equal(e.coupling, a)
    assert e.expected == {COORDINATOR: {"consensus": 2, "aux": 2}} and e.record is True
    # round 0, p_S = (1, 0.5): y_hat = proj(y - 0.5 (grad c(y) - A_S^T p)) = proj((1, 0) - 0.5 ((1, 0) - (1, 2)))
    deliver(e, price_msg([1.0, 0.5], p_hat=[0.0, 0.0], dim=3))
    (msg,) = e.step()
    assert (msg.kind, msg.receiver, msg.iteration) == ("bid", COORDINATOR, 0)
    np.testing.assert_array_equal(e.y_hat, [1.0, 1.0])
    np.testing.assert_array_equal(msg.primal, [1.0, 0.0])  # A_S y = (1 + 0, 2 * 0)
    np.testing.assert_array_equal(msg.aux, [2.0, 2.0])  # A_S y_hat
    assert e.primal_residual == 0.0
    g = BidderAgent(0, QuadraticCost([1.0]), None, mode="gda", step=0.5)
    deliver(g, price_msg([2.0]))
    (msg,) = g.step()
    assert msg.aux.size == 0 and msg.primal.tolist() == [0.0]  # the bid of the old y
    assert g.y.tolist() == [1.0] and g.primal_residual == 1.0  # 0 - 0.5 (0 - 2)
    du = BidderAgent(0, QuadraticCost([2.0]), None, y0=[3.0])
    deliver(du, price_msg([2.0]))
    du.step()
    assert du.y.tolist() == [1.0] and du.primal_residual == 2.0


def auction_round(s: AuctioneerAgent, bids: dict[int, tuple[Sequence[float], Sequence[float] | None]]) -> list[Message]:
    for i, (bid, hat) in bids.items():
        extra = {} if hat is None else {"aux": hat}
        deliver(s, Message(i, COORDINATOR, s.iteration, "price", "bid", s.dim, primal=bid, **extra))
    return s.step()


def test_auctioneer_validation_and_defaults() -> None:
    """Names in the errors (rows must lie in 0..m-1: m itself and -1 are refused); defaults dual, step 0.1, cap 1000,
    tolerance 0, no projection, ``p = 0``, imbalance NaN; full supports broadcast, a partial one goes per robot."""
    raises_named(lambda: AuctioneerAgent(0, 1, 1.0), "num_robots must be >= 1")
    raises_named(lambda: AuctioneerAgent(1, 0, 1.0), "m must be >= 1")
    raises_named(lambda: AuctioneerAgent(1, 1, 1.0, mode="x"), "mode must be one of dual, gda, extragradient")
    with pytest.raises(ValueError, match=r"^supports must list 2 robots' rows, got 1$"):
        AuctioneerAgent(2, 2, 1.0, supports=[[0]])
    for bad in ([0, 2], [-1, 0], [-1]):
        with pytest.raises(ValueError, match=r"^supports must be rows 0\.\.1$"):
            AuctioneerAgent(1, 2, 1.0, supports=[bad])
    raises_named(lambda: AuctioneerAgent(1, 1, 1.0, step=0.0), "step must")
    raises_named(lambda: AuctioneerAgent(1, 1, float("nan")), "target must")
    raises_named(lambda: AuctioneerAgent(1, 2, 1.0, p0=[1.0]), "p0 must have 2 entries")
    s = AuctioneerAgent(1, 2, [1.0, 2.0], p0=np.array([[3.0], [4.0]]))
    np.testing.assert_array_equal(s.p, [3.0, 4.0])
    np.testing.assert_array_equal(s.p_hat, [3.0, 4.0])
    assert s.p.shape == (2,) and s.p_hat is not s.p
    d = AuctioneerAgent(1, 2, 1.0)
    assert d.mode == "dual" and d.step_size == 0.1 and d.max_iterations == 1000 and d.tolerance == 0.0
    assert d.nonnegative is False and d.record is False and d.sparse is False and np.isnan(d.imbalance)
    np.testing.assert_array_equal(d.target, [1.0, 1.0])
    np.testing.assert_array_equal(d.b(5), [1.0, 1.0])
    assert d.expected == {0: {"primal": 2, "aux": 0}} and d.supports[0].dtype.kind == "i"
    (msg,) = d.start()
    assert (msg.kind, msg.receiver) == ("price", BROADCAST) and msg.aux.size == 0 and d.trajectory == []
    assert AuctioneerAgent(1, 1, 0.0, nonnegative=1).nonnegative == 1
    eg = AuctioneerAgent(2, 2, 0.0, mode="extragradient", supports=[[1, 0], [0, 1, 1]], record=True, p0=[1.0, 2.0])
    assert eg.sparse is False and eg.expected == {0: {"primal": 2, "aux": 2}, 1: {"primal": 2, "aux": 2}}
    (msg,) = eg.start()
    np.testing.assert_array_equal(msg.aux, [1.0, 2.0])
    assert [t.tolist() for t in eg.trajectory] == [[1.0, 2.0]]
    eg.start()
    assert len(eg.trajectory) == 1


def test_auctioneer_sparse_prices_per_robot_and_after_a_departure() -> None:
    """With a partial support each robot gets its own prices (kind ``price``, receiver the robot, predicted prices
    in ``aux`` for extragradient); an empty support gets an empty message; after a robot left, only live robots."""
    s = AuctioneerAgent(3, 3, 0.0, mode="extragradient", supports=[[2, 0], [], [1]], p0=[1.0, 2.0, 3.0])
    assert s.sparse is True and s.expected[1] == {"primal": 0, "aux": 0}
    s.p_hat = np.array([4.0, 5.0, 6.0])
    out = s.start()
    assert [(m.receiver, m.kind) for m in out] == [(0, "price"), (1, "price"), (2, "price")]
    assert out[0].consensus.tolist() == [1.0, 3.0] and out[0].aux.tolist() == [4.0, 6.0]
    assert out[1].consensus.size == 0 and out[2].consensus.tolist() == [2.0] and out[2].aux.tolist() == [5.0]
    assert s.peer_left(1) == ChangeKind.ADAPTED and not s.done
    assert [m.receiver for m in s.restate()] == [0, 2]
    dual = AuctioneerAgent(2, 2, 0.0, supports=[[0], [1]])
    assert [m.aux.size for m in dual.start()] == [0, 0]


def test_auctioneer_update_projection_residuals_and_stop_edges() -> None:
    """``p += step (b_k - sum A_i y_i)`` (projected to ``p >= 0`` when asked); ``primal_residual`` = imbalance
    ``|gap|``, ``dual_residual = |p+ - p|``; stop when both are <= tolerance (equal counts), never at tolerance 0."""
    s = AuctioneerAgent(2, 2, [1.0, 1.0], step=0.5, nonnegative=True, supports=[[0], [0, 1]])
    auction_round(s, {0: ([2.0], None), 1: ([1.0, -1.0], None)})  # supply (3, -1), gap (-2, 2)
    np.testing.assert_array_equal(s.p, [0.0, 1.0])
    assert s.imbalance == pytest.approx(np.sqrt(8.0), rel=1e-15) and s.primal_residual == s.imbalance
    assert s.dual_residual == 1.0
    free = AuctioneerAgent(1, 1, 1.0, step=0.5)
    auction_round(free, {0: ([3.0], None)})
    assert free.p.tolist() == [-1.0]
    edge = AuctioneerAgent(1, 1, 1.0, step=1.0, tolerance=0.5)
    auction_round(edge, {0: ([0.5], None)})  # gap 0.5, |dp| 0.5
    assert edge.done and edge.converged
    over = AuctioneerAgent(1, 1, 1.0, step=0.5, tolerance=0.5)
    auction_round(over, {0: ([0.0], None)})  # gap 1 > 0.5, |dp| 0.5
    assert not over.done
    slow = AuctioneerAgent(1, 1, 1.0, step=2.0, tolerance=0.5)
    auction_round(slow, {0: ([0.5], None)})  # gap 0.5, |dp| 1 > 0.5
    assert not slow.done
    zero = AuctioneerAgent(1, 1, 1.0, step=1.0)
    auction_round(zero, {0: ([1.0], None)})
    assert zero.imbalance == 0.0 and zero.dual_residual == 0.0 and not zero.done
    # extragradient: p_hat from the bids, p from the predicted bids, both against b_k of this round
    eg = AuctioneerAgent(1, 1, lambda k: np.array([float(k + 1)]), mode="extragradient", step=0.5)
    auction_round(eg, {0: ([0.0], [4.0])})  # b_0 = 1
    assert eg.p_hat.tolist() == [0.5] and eg.p.tolist() == [-1.5]
    auction_round(eg, {0: ([0.0], [0.0])})  # b_1 = 2
    assert eg.p_hat.tolist() == [-0.5] and eg.p.tolist() == [-0.5]


def test_auctioneer_targets() -> None:
    """``b(k)``: a callable target evaluated at k and flattened to a vector; ``set_target`` checks its size by name
    and flattens."""
    s = AuctioneerAgent(1, 2, lambda k: [[k], [2 * k]])
    np.testing.assert_array_equal(s.b(3), [3.0, 6.0])
    assert s.b(3).dtype == float and s.b(3).shape == (2,)
    s.set_target(np.array([[1.0], [5.0]]))
    np.testing.assert_array_equal(s.target, [1.0, 5.0])
    assert s.target.shape == (2,)
    raises_named(lambda: s.set_target([1.0]), "target must have 2 entries")
    raises_named(lambda: s.set_target([1.0, float("inf")]), "target must be finite")
    s.set_target([2.0, 3.0])
    auction_round(s, {0: ([0.0, 0.0], None)})
    np.testing.assert_allclose(s.p, [0.2, 0.3], rtol=1e-15)


def test_price_swarm_defaults_and_forwarding() -> None:
    """``price_swarm``: bidders with the problem's costs and matrices, the auctioneer with ``b`` (or the target),
    the problem's supports, nonnegativity and tolerance; defaults dual, step 0.1, cap 1000, no recording."""
    prob = ResourceProblem([QuadraticCost([1.0]), QuadraticCost([1.0, 1.0])], [1.0, 2.0],
                           A=[np.array([[0.0], [1.0]]), np.eye(2)])
    s = price_swarm(prob)
    auc = s[COORDINATOR]
    assert auc.mode == "dual" and auc.step_size == 0.1 and auc.max_iterations == 1000 and auc.record is False
    assert auc.nonnegative is False and auc.sparse is True and [r.tolist() for r in auc.supports] == [[1], [0, 1]]
    np.testing.assert_array_equal(auc.target, [1.0, 2.0])
    for i in (0, 1):
        b = s[i]
        assert b.mode == "dual" and b.step_size == 0.1 and b.max_iterations == 1000 and b.record is False
        np.testing.assert_array_equal(b.coupling, prob.matrices[i])
    t = price_swarm(prob, mode="gda", step=0.3, max_iterations=5, tolerance=0.1, target=lambda k: np.ones(2),
                    nonnegative=True, record=True)
    auc = t[COORDINATOR]
    assert (auc.mode, auc.step_size, auc.max_iterations, auc.tolerance, auc.nonnegative, auc.record) == (
        "gda", 0.3, 5, 0.1, True, True)
    assert callable(auc.target) and t[1].record is True and t[1].max_iterations == 5 and t[1].step_size == 0.3


def test_iss_bound_needs_a_contraction() -> None:
    """``q = max|1 - step (m_d, L_d)|``; ``q^k e0 + drift / (1 - q)``; q = 1 exactly (and above) is refused."""
    assert iss_bound(0.5, 1.0, 2.0, 4.0, 1.0, 2) == pytest.approx(0.25 * 4.0 + 1.0 / 0.5, rel=1e-15)
    with pytest.raises(ValueError, match=r"^step must make q = max\(\|1 - step m_d\|, \|1 - step L_d\|\) < 1, "
                                         r"got q = 1$"):
        iss_bound(1.0, 0.5, 2.0, 1.0, 0.0, 1)
    raises_named(lambda: iss_bound(1.0, 0.5, 2.5, 1.0, 0.0, 1), "step must make q")


# ----------------------------------------------------------------------------- constraint-coupled
import warnings  # noqa: E402

from distopt_ros.core.algorithms.coupled import (  # noqa: E402
    CoupledADMMAgent,
    CoupledProblem,
    coupled_swarm,
    microgrid_problem,
)
from distopt_ros.core.graphs import make_graph  # noqa: E402


def test_coupled_problem_validation_messages() -> None:
    """Sizes, shapes and rank are checked with the offending index in the message; one agent is a valid problem."""
    f1, f2 = quad([1.0]), quad([0.0, 1.0])
    with pytest.raises(ValueError, match=r"^objectives, A and b must have one entry per agent \(got 2, 1, 2\)$"):
        CoupledProblem([f1, f2], [np.ones((1, 1))], [[0.0], [0.0]])
    with pytest.raises(ValueError, match=r"^objectives, A and b must have one entry per agent \(got 2, 2, 1\)$"):
        CoupledProblem([f1, f2], [np.ones((1, 1)), np.ones((1, 2))], [[0.0]])
    with pytest.raises(ValueError, match=r"^objectives, A and b must have one entry per agent \(got 0, 0, 0\)$"):
        CoupledProblem([], [], [])
    one = CoupledProblem([f1], [np.ones((1, 1))], [np.array([[2.0]])])
    assert one.num_agents == 1 and one.m == 1 and one.b[0].shape == (1,)
    raises_named(lambda: CoupledProblem([f1], [np.ones(1)], [[0.0]]), "A[0] must have 2 dimension(s)")
    raises_named(lambda: CoupledProblem([f1, f2], [np.ones((1, 1)), [[1.0, float("nan")]]], [[0.0], [0.0]]),
                 "A[1] must be finite")
    raises_named(lambda: CoupledProblem([f1, f2], [np.ones((1, 1)), np.ones((1, 2))], [[0.0], [float("inf")]]),
                 "b[1] must be finite")
    with pytest.raises(ValueError, match=r"^A\[1\] must have shape \(1, 2\), got \(2, 2\)$"):
        CoupledProblem([f1, f2], [np.ones((1, 1)), np.ones((2, 2))], [[0.0], [0.0]])
    with pytest.raises(ValueError, match=r"^b\[1\] must have 1 entries, got 2$"):
        CoupledProblem([f1, f2], [np.ones((1, 1)), np.ones((1, 2))], [[0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"^A = \[A_1 \.\.\. A_N\] must have full row rank \(an assumption of the "
                                         r"method\)$"):
        CoupledProblem([f1, f2], [np.array([[1.0], [1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])], [[0.0, 0.0]] * 2)


def test_coupled_problem_violation_and_solves() -> None:
    """``violation = |sum A_i x_i - b_i|`` (a wrong number of blocks is an error); the KKT solve splits ``x`` per agent;
    the SLSQP path (non-quadratic objectives, here least squares) reaches the KKT point worked out by hand, with
    no solver warning."""
    f1, f2 = quad([1.0]), quad([0.0, 1.0], [1.0, 3.0])
    prob = CoupledProblem([f1, f2], [np.array([[1.0]]), np.array([[1.0, 2.0]])], [np.array([1.0]), np.array([0.5])])
    assert prob.violation([np.array([2.0]), np.array([1.0, 0.25])]) == 2.0  # (2 - 1) + (1 + 0.5 - 0.5)
    with pytest.raises(ValueError):
        prob.violation([np.array([2.0])])
    xs, lam = prob.solve()
    assert [x.shape for x in xs] == [(1,), (2,)]
    # stationarity P_i (x_i - m_i) + A_i^T lam = 0 and sum A_i x_i = b_1 + b_2 = 1.5
    # x1 = 1 - lam, x2 = (-lam, 1 - 2 lam / 3): 1 - lam - lam + 2 - 4 lam / 3 = 1.5 -> lam = 1.5 / (10 / 3)
    want_lam = 0.45
    assert lam[0] == pytest.approx(want_lam, rel=1e-12)
    np.testing.assert_allclose(xs[0], [1 - want_lam], rtol=1e-12)
    np.testing.assert_allclose(xs[1], [-want_lam, 1 - 2 * want_lam / 3], rtol=1e-12)
    # least squares 1/2 |x - m|^2 as A = I, b = m: the same problem for f1 and an identity-precision f2
    ls = CoupledProblem([LeastSquaresObjective(np.eye(1), [1.0]), LeastSquaresObjective(np.eye(2), [0.0, 1.0])],
                        [np.array([[1.0]]), np.array([[1.0, 2.0]])], [np.array([1.0]), np.array([0.5])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xs, lam = ls.solve()
    # x1 = 1 - lam, x2 = (-lam, 1 - 2 lam): 1 - lam - lam + 2 - 4 lam = 1.5 -> lam = 0.25; with the exact gradient
    # SLSQP lands on it to rounding (finite differences would be off by ~4e-9)
    assert lam[0] == pytest.approx(0.25, abs=1e-12)
    np.testing.assert_allclose(xs[0], [0.75], rtol=0, atol=1e-12)
    np.testing.assert_allclose(xs[1], [-0.25, 0.5], rtol=0, atol=1e-12)
    assert ls.violation(xs) < 1e-9


def coupled_agent(**kw: Any) -> CoupledADMMAgent:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0]), "coupling": [[1.0]], "offset": [0.5],
                            "neighbors": [2, 1], "rho": 1.0, "alpha": 0.5, "gamma": 0.1}
    args.update(kw)
    return CoupledADMMAgent(**args)


def test_coupled_agent_validation_and_defaults() -> None:
    """Names in the errors (alpha in (0, 1)); defaults kappa 1, cap 10 000, tolerance 0, stop after 1 round, no
    recording; the wire dimension is m; the proxy starts at ``phi / (1 + rho d)``; messages ``-z + 2 rho y``."""
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must be non-empty and exclude the agent$"):
        coupled_agent(neighbors=[])
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must be non-empty and exclude the agent$"):
        coupled_agent(neighbors=[0, 1])
    raises_named(lambda: coupled_agent(coupling=[1.0]), "coupling must have 2 dimension(s)")
    raises_named(lambda: coupled_agent(offset=[float("nan")]), "offset must be finite")
    with pytest.raises(ValueError, match=r"^coupling must have shape \(2, 1\), got \(1, 1\)$"):
        coupled_agent(offset=[[0.5], [1.0]])
    for name, bad in (("rho", 0.0), ("alpha", 1.0), ("alpha", 1.5), ("alpha", 0.0), ("gamma", 0.0), ("kappa", 0.0)):
        raises_named(lambda n=name, v=bad: coupled_agent(**{n: v}), f"{name} must")
    a = coupled_agent()
    assert a.kappa == 1.0 and a.max_iterations == 10_000 and a.tolerance == 0.0 and a.record is False
    assert a.stopper.threshold == 1 and a.stopper.tolerance == 0.0 and a.wire_dim == 1 and a.m == 1
    assert a.neighbors == (1, 2) and a.expected == {1: {"consensus": 2}, 2: {"consensus": 2}}
    np.testing.assert_array_equal(a.offset, [0.5])
    np.testing.assert_allclose(a.proxy, [0.0, -0.5 / 3], rtol=1e-15)  # phi = (lam, A x - b) = (0, -0.5)
    out = a.start()
    assert [(m.receiver, m.kind, m.dim) for m in out] == [(1, "edge", 1), (2, "edge", 1)]
    np.testing.assert_allclose(out[0].consensus, [0.0, -1.0 / 3], rtol=1e-15)
    b = coupled_agent(offset=np.array([[0.5]]), kappa=2.0, max_iterations=7, tolerance=0.1, stop_threshold=3,
                      record=True)
    assert b.offset.shape == (1,) and b.kappa == 2.0 and b.stopper.threshold == 3 and b.record is True


def test_coupled_agent_update_residuals() -> None:
    """One synchronous round by hand: ``x+ = x - gamma (grad f + A^T y_lam)``, ``lam+ = lam + gamma (kappa y_c -
    (lam - y_lam))``, ``z_ij = (1 - alpha) z + alpha m_ji``; the residuals are ``|y_c|`` and the move
    ``|(dx, dlam)|``."""
    a = coupled_agent(neighbors=[1], gamma=0.5, kappa=2.0)  # proxy (0, -0.25)
    deliver(a, Message(1, 0, 0, "coupled", "edge", 1, consensus=[0.5, 1.0]))
    a.step()
    assert a.x[0] == 0.5 and a.lam[0] == -0.25  # x: 0 - 0.5 (-1 + 0); lam: 0 + 0.5 (2 (-0.25) - 0)
    np.testing.assert_array_equal(a.z[1], [0.25, 0.5])
    # proxy = ((lam, x - b) + z) / 2 = ((-0.25 + 0.25) / 2, (0 + 0.5) / 2)
    np.testing.assert_allclose(a.proxy, [0.0, 0.25], atol=1e-16)
    assert a.primal_residual == 0.25 and a.dual_residual == pytest.approx(np.hypot(0.5, 0.25), rel=1e-15)
    # a tolerance just above the move (scaled by max(1, |x|) = 1) counts as converged for the stopper
    s = coupled_agent(neighbors=[1], gamma=0.5, kappa=2.0, tolerance=0.56)
    deliver(s, Message(1, 0, 0, "coupled", "edge", 1, consensus=[0.5, 1.0]))
    s.step()
    assert s.stopper.count >= 1
    t = coupled_agent(neighbors=[1], gamma=0.5, kappa=2.0, tolerance=0.55)
    deliver(t, Message(1, 0, 0, "coupled", "edge", 1, consensus=[0.5, 1.0]))
    t.step()
    assert t.stopper.count == 0


def test_coupled_agent_leave_rejoin_and_set_offset() -> None:
    """``_forget`` drops the edge (neighbours, z) and recomputes ``y = (phi + sum z) / (1 + rho d)``; ``_welcome``
    adds it back with ``z = rho y``, which leaves ``y`` unchanged, and the peer gets this round's message again.
    ``set_offset`` checks the size by name and flattens."""
    a = coupled_agent(rho=2.0)
    assert a.peer_left(2) == ChangeKind.ADAPTED and not a.done
    assert a.neighbors == (1,) and sorted(a.z) == [1]
    np.testing.assert_allclose(a.proxy, [0.0, -0.5 / 3], rtol=1e-15)
    assert a.peer_joined(2, incarnation=1) == ChangeKind.ADAPTED
    assert a.neighbors == (1, 2)
    np.testing.assert_allclose(a.z[2], [0.0, -1.0 / 3], rtol=1e-15)
    np.testing.assert_allclose(a.proxy, [0.0, -0.5 / 3], rtol=1e-15)
    (msg,) = a.welcome_messages()
    assert msg.receiver == 2 and msg.kind == "edge"
    np.testing.assert_allclose(msg.consensus, 1.0 / 3 + 4 * np.array([0.0, -0.5 / 3]) - np.array([1 / 3, 0]),
                               rtol=1e-15)
    a.set_offset(np.array([[1.5]]))
    np.testing.assert_array_equal(a.offset, [1.5])
    assert a.offset.shape == (1,)
    raises_named(lambda: a.set_offset([1.0, 2.0]), "offset must have 1 entries")
    raises_named(lambda: a.set_offset([float("nan")]), "offset must be finite")
    b = coupled_agent(neighbors=[1])
    assert b.peer_left(1) == ChangeKind.STOPPED and b.stop_reason == StopReason.ISOLATED


def test_coupled_swarm_defaults_and_forwarding() -> None:
    """``coupled_swarm``: defaults rho 1, alpha 0.5, gamma 0.1, kappa 1, cap 10 000, tolerance 0, stop threshold
    diameter + 3, no recording; a node-count mismatch is refused."""
    prob = CoupledProblem([quad([1.0]), quad([2.0]), quad([0.0])], [np.ones((1, 1))] * 3, [[0.0], [1.0], [0.0]])
    g = make_graph("path", 3)
    s = coupled_swarm(prob, g)
    for i, a in s.items():
        assert (a.rho, a.alpha, a.gamma, a.kappa, a.max_iterations, a.tolerance) == (1.0, 0.5, 0.1, 1.0, 10_000, 0.0)
        assert a.stopper.threshold == 2 + 3 and a.record is False and a.neighbors == g.neighbors(i)
        np.testing.assert_array_equal(a.offset, prob.b[i])
    t = coupled_swarm(prob, g, rho=2.0, alpha=0.25, gamma=0.3, kappa=3.0, max_iterations=9, tolerance=0.1, patience=1,
                      record=True)
    for a in t.values():
        assert (a.rho, a.alpha, a.gamma, a.kappa, a.max_iterations, a.tolerance) == (2.0, 0.25, 0.3, 3.0, 9, 0.1)
        assert a.stopper.threshold == 3 and a.record is True
    with pytest.raises(ValueError, match=r"^graph has 2 nodes but the problem has 3 agents$"):
        coupled_swarm(prob, make_graph("path", 2))


def test_microgrid_problem_from_its_seeded_draws() -> None:
    """Converters ``f = r |x|^2 + h^T x`` (precision 2r I, mean -h / 2r), r ~ U(0.5, 2), h ~ 0.01 N(0, 1), the grid
    2 I at 0, demand ~ N(0, 5^2) on the grid's ``b``; defaults 5 converters, seed 0."""
    for kw, n, seed in (({}, 5, 0), ({"num_converters": 2, "seed": 3}, 2, 3)):
        prob = microgrid_problem(**kw)
        rng = np.random.default_rng(seed)
        assert prob.num_agents == n + 1 and prob.m == 5
        for k in range(n):
            r = rng.uniform(0.5, 2.0)
            h = 0.01 * rng.normal(size=5)
            np.testing.assert_allclose(prob.objectives[k].precision, 2 * r * np.eye(5), rtol=1e-15)
            np.testing.assert_allclose(prob.objectives[k].mean, -h / (2 * r), rtol=1e-15)
            np.testing.assert_array_equal(prob.b[k], np.zeros(5))
        np.testing.assert_array_equal(prob.objectives[n].precision, 2 * np.eye(5))
        np.testing.assert_array_equal(prob.objectives[n].mean, np.zeros(5))
        np.testing.assert_allclose(prob.b[n], rng.normal(scale=5.0, size=5), rtol=1e-15)
        assert all(np.array_equal(a, np.eye(5)) for a in prob.A)


# ----------------------------------------------------------------------------- mixing agents, DGD, tracking
from distopt_ros.core.algorithms.base import check_weight_row  # noqa: E402
from distopt_ros.core.algorithms.gradient import (  # noqa: E402
    ADAPT,
    TRACK,
    ATCTrackingAgent,
    DGDAgent,
    DIGingAgent,
    SemiATCTrackingAgent,
    mix_kind,
)
from distopt_ros.core.problems import BoxConstrainedObjective  # noqa: E402
from distopt_ros.core.schema import ParameterError  # noqa: E402

W3 = {0: 0.5, 1: 0.25, 2: 0.25}
"""Robot 0's mixing row with neighbours 1 and 2."""


def state_msg(sender: int, primal: Sequence[float], iteration: int = 0, dual: Sequence[float] | None = None,
              kind: str = "state", algorithm: str = "dgd") -> Message:
    extra = {} if dual is None else {"dual": dual}
    return Message(sender, BROADCAST, iteration, algorithm, kind, len(primal), primal=primal, **extra)


def dgd(**kw: Any) -> DGDAgent:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0]), "neighbors": [2, 1], "weights": W3,
                            "step": 0.5, "max_iterations": 10}
    args.update(kw)
    return DGDAgent(**args)


def test_weight_row_and_mixing_agent_validation() -> None:
    """The row must cover exactly the agent and its neighbours and be finite summing to 1 (messages pinned); the
    agent may not be its own neighbour; ``stop_threshold`` >= 1 by name."""
    assert check_weight_row(0, [1, 2], W3) == W3
    with pytest.raises(ValueError, match=r"^weights of agent 0 must cover itself and its neighbours \[1, 2\], "
                                         r"got keys \[0, 1\]$"):
        check_weight_row(0, [2, 1], {0: 0.5, 1: 0.5})
    with pytest.raises(ValueError, match=r"^weights of agent 0 must be finite and sum to 1$"):
        check_weight_row(0, [1], {0: 0.5, 1: 0.6})
    with pytest.raises(ValueError, match=r"^weights of agent 0 must be finite and sum to 1$"):
        check_weight_row(0, [1], {0: float("nan"), 1: 0.5})
    assert check_weight_row(0, [1], {0: 0.5, 1: 0.5 + 5e-10}) == {0: 0.5, 1: 0.5 + 5e-10}
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must not contain the agent itself$"):
        dgd(neighbors=[0, 1], weights={0: 0.5, 1: 0.5})
    raises_named(lambda: dgd(stop_threshold=0), "stop_threshold must be >= 1")
    a = dgd()
    assert a.neighbors == (1, 2) and a.weights == W3 and a._lent == {} and a.stopper.threshold == 1


def test_mixing_uses_own_value_for_unknown_and_latest_for_stale_neighbours() -> None:
    """``mix``: ``sum_j W_ij v_j`` with ``own`` for a neighbour never heard; asynchronously a neighbour silent this
    round contributes its latest value."""
    a = dgd()
    deliver(a, state_msg(1, [3.0]))
    a.step()  # 0.5 * 0 + 0.25 * 3 + 0.25 * 0 (node 2 unknown: own), minus 0.5 * grad(0) = 0.5 * -1
    assert a.x[0] == 0.75 + 0.5
    b = dgd()
    b.set_asynchronous(True)
    b.start()
    deliver(b, state_msg(1, [4.0]))
    deliver(b, state_msg(2, [-4.0]))
    b.step()
    assert b.x[0] == 0.0 + 0.5  # mixes to 0, then -0.5 * grad(0)
    deliver(b, state_msg(2, [0.0], iteration=1))
    b.step()  # node 1 silent: its latest 4 counts; 0.5 * 0.5 + 0.25 * 4 + 0 - 0.5 * (0.5 - 1)
    assert b.x[0] == 0.25 + 1.0 + 0.25


def test_mixing_leave_and_rejoin_move_the_weight_through_the_self_weight() -> None:
    """``_forget``: the edge's weight goes to the self-weight (row still sums to 1), kept aside; ``_welcome`` gives it
    back; a peer that was never lent gets weight 0."""
    a = dgd()
    assert a.peer_left(2) == ChangeKind.ADAPTED and not a.done
    assert a.neighbors == (1,) and a.weights == {0: 0.75, 1: 0.25} and a._lent == {2: 0.25}
    assert a.peer_joined(2, incarnation=1) == ChangeKind.ADAPTED
    assert a.neighbors == (1, 2) and a.weights == W3 and a._lent == {}
    (msg,) = a.welcome_messages()
    assert msg.kind == "state" and msg.receiver == BROADCAST
    b = dgd()
    b._welcome(5)
    assert b.weights[5] == 0.0 and b.weights[0] == 0.5 and b.neighbors == (1, 2, 5)


def test_mixing_tunables_map_step_to_step_size() -> None:
    """The live parameter ``step`` reads and writes ``step_size`` (``step`` is the agent's method); other names are
    plain attributes."""
    a = dgd(step=0.25)
    assert a._get_tunable("step") == 0.25 and a._get_tunable("tolerance") == 0.0
    a._set_tunable("step", 0.125)
    a._set_tunable("tolerance", 0.5)
    assert a.step_size == 0.125 and a.tolerance == 0.5 and callable(a.step)
    assert a._tunable_values() == (0.125,)
    t = a.tune({"step": 0.3})
    assert t is not None and t.values == (0.3,) and a.step_size == 0.125


def test_dgd_validation_defaults_and_message() -> None:
    """DGD: step, step decay in (1/2, 1], variant, x0 and W-MSR's ``F <= (degree - 1) / 2`` are checked with the
    messages pinned; defaults constant step, CTA, x0 = 0, tolerance 0, one stop round, no recording, F = 0."""
    raises_named(lambda: dgd(step=0.0), "step must")
    raises_named(lambda: dgd(step_decay=0.5), "step_decay must be in (0.5, 1.0]")
    raises_named(lambda: dgd(step_decay=1.5), "step_decay must")
    assert dgd(step_decay=1.0).step_decay == 1.0
    with pytest.raises(ValueError, match=r"^variant must be 'cta' or 'atc', got 'mix'$"):
        dgd(variant="mix")
    raises_named(lambda: dgd(x0=[1.0, 2.0]), "x0 must have 1 entries")
    assert dgd(x0=np.array([[2.0]])).x.shape == (1,)
    a = dgd()
    assert a.step_decay is None and a.variant == "cta" and a.tolerance == 0.0 and a.stopper.threshold == 1
    assert a.record is False and a.resilient_f == 0 and a._project is None and a.x.tolist() == [0.0]
    (msg,) = a.start()
    assert (msg.kind, msg.receiver) == ("state", BROADCAST) and a.expected == {1: {"primal": 1}, 2: {"primal": 1}}
    d = dgd(step_decay=0.75, step=2.0)
    assert d.current_step() == 2.0
    d.iteration = 3
    assert d.current_step() == pytest.approx(2.0 / 4 ** 0.75, rel=1e-15)
    five = {i: 1.0 / 6 for i in range(6)}
    with pytest.raises(ParameterError, match=r"^resilient_f must be 0 or at most \(degree - 1\) / 2 = 2 for robot 0 "
                                             r"with 5 neighbours, got 3 \(W-MSR needs a \(2F\+1\)-robust graph\)$"):
        dgd(neighbors=[1, 2, 3, 4, 5], weights=five, resilient_f=3)
    with pytest.raises(ParameterError, match=r"= 0 for robot 0 with 2 neighbours, got 1 "):
        dgd(resilient_f=1)
    with pytest.raises(ParameterError, match=r"got -1 "):
        dgd(resilient_f=-1)
    four = {i: 0.2 for i in range(5)}
    with pytest.raises(ParameterError, match=r"= 1 for robot 0 with 4 neighbours, got 2 "):
        dgd(neighbors=[1, 2, 3, 4], weights=four, resilient_f=2)
    assert dgd(neighbors=[1, 2, 3], weights={i: 0.25 for i in range(4)}, resilient_f=1).resilient_f == 1
    assert dgd(neighbors=[1, 2, 3, 4, 5], weights=five, resilient_f=2).resilient_f == 2


def test_dgd_trimmed_mix_with_values_equal_to_own() -> None:
    """W-MSR keeps neighbour values equal to the own one, drops F strictly above and F strictly below:
    own 1, neighbours (1, 5, -3), F = 1 -> mean of (1, 1) = 1; own 1, (2, 5, 0) -> mean of (1, 2) = 1.5."""
    w = {i: 0.25 for i in range(4)}
    a = dgd(neighbors=[1, 2, 3], weights=w, resilient_f=1)
    got = a.trimmed_mix(np.array([1.0]), {1: state_msg(1, [1.0]), 2: state_msg(2, [5.0]), 3: state_msg(3, [-3.0])})
    assert got.tolist() == [1.0] and got.dtype == float
    got = a.trimmed_mix(np.array([1.0]), {1: state_msg(1, [2.0]), 2: state_msg(2, [5.0]), 3: state_msg(3, [0.0])})
    assert got.tolist() == [1.5]
    got = a.trimmed_mix(np.array([0.0]), {1: state_msg(1, [3.0]), 2: state_msg(2, [6.0]), 3: state_msg(3, [-9.0])})
    assert got.tolist() == [1.5]  # drops 6 and -9, averages (0, 3)
    assert a.trimmed_mix(np.array([2.0]), {}).tolist() == [2.0]


def test_dgd_projects_onto_the_objective_box() -> None:
    """Projected DGD: ``x0`` and every iterate are projected onto the box of a box-constrained objective."""
    box = BoxConstrainedObjective(quad([5.0]), np.array([-1.0]), np.array([1.0]))
    a = dgd(objective=box, x0=[3.0])
    assert a.x.tolist() == [1.0] and a.x.dtype == float
    deliver(a, state_msg(1, [1.0]))
    deliver(a, state_msg(2, [1.0]))
    a.step()  # 1 - 0.5 * (1 - 5) = 3, projected to 1
    assert a.x.tolist() == [1.0] and a.primal_residual == 0.0


def tracking(cls: type, **kw: Any) -> Any:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0]), "neighbors": [1], "weights": {0: 0.5, 1: 0.5},
                            "step": 0.5, "max_iterations": 20}
    args.update(kw)
    return cls(**args)


@pytest.mark.parametrize("cls", [DIGingAgent, ATCTrackingAgent, SemiATCTrackingAgent])
def test_tracking_defaults_x0_and_tracker_start(cls: type) -> None:
    """Every tracker: defaults tolerance 0, one stop round, no recording; ``x0`` is used (flattened, size checked by
    name) and the tracker starts at ``y = grad f(x0)``; the step is checked by name."""
    a = tracking(cls)
    assert a.tolerance == 0.0 and a.stopper.threshold == 1 and a.record is False and a._restarted_for is None
    b = tracking(cls, x0=np.array([[3.0]]))
    assert b.x.tolist() == [3.0] and b.x.shape == (1,) and b.y.tolist() == [2.0] and b.grad.tolist() == [2.0]
    assert b.y is not b.grad
    raises_named(lambda: tracking(cls, x0=[1.0, 2.0]), "x0 must have 1 entries")
    raises_named(lambda: tracking(cls, step=0.0), "step must")


def test_diging_and_semi_atc_message_kinds() -> None:
    """DIGing sends ``(x, y)``, semi-ATC ``(x - alpha y, y)``, both of kind ``state``; ATC alternates ``adapt`` /
    ``track`` rounds and keeps ``s = y`` and ``moved = inf`` at the start."""
    d = tracking(DIGingAgent, x0=[3.0])
    (msg,) = d.start()
    assert msg.kind == "state" and msg.primal.tolist() == [3.0] and msg.dual.tolist() == [2.0]
    s = tracking(SemiATCTrackingAgent, x0=[3.0])
    (msg,) = s.start()
    assert msg.kind == "state" and msg.primal.tolist() == [2.0] and msg.dual.tolist() == [2.0]
    a = tracking(ATCTrackingAgent, x0=[3.0])
    assert a.phase == ADAPT == "adapt" and TRACK == "track" and a.s.tolist() == [2.0] and a.moved == float("inf")
    assert a.s is not a.y
    (msg,) = a.start()
    assert msg.kind == "adapt" and msg.primal.tolist() == [2.0]
    deliver(a, state_msg(1, [0.0], kind="adapt", algorithm="atc"))
    a.step()  # x+ = 0.5 * 2 + 0.5 * 0 = 1; s = y + grad(1) - grad(3) = 2 + 0 - 2
    assert a.phase == "track" and a.x.tolist() == [1.0] and a.s.tolist() == [0.0]
    assert a.moved == 2.0 and a.primal_residual == 2.0
    (msg,) = a._outgoing()
    assert msg.kind == "track"
    # a neighbour's message of the other phase counts as the own value
    got = mix_kind(a, np.array([4.0]), {1: state_msg(1, [8.0], kind="adapt", algorithm="atc")}, TRACK)
    assert got.tolist() == [4.0]
    got = mix_kind(a, np.array([4.0]), {1: state_msg(1, [8.0], kind="track", algorithm="atc")}, TRACK)
    assert got.tolist() == [6.0]
    assert mix_kind(a, np.array([4.0]), {}, TRACK).tolist() == [4.0]


@pytest.mark.parametrize("cls", [DIGingAgent, ATCTrackingAgent, SemiATCTrackingAgent])
def test_tracker_restarts_at_the_common_round_after_a_departure(cls: type) -> None:
    """A robot that leaves triggers a resynchronization: the tracker restarts, ``y = grad f(x)``, exactly at the
    tuning's round (not before), once; ATC also goes back to its ``adapt`` phase."""
    w = {0: 0.5, 1: 0.25, 2: 0.25}
    a = tracking(cls, neighbors=[1, 2], weights=w, x0=[3.0])
    a.start()
    a.y = np.array([7.0])
    assert a.peer_left(2) == ChangeKind.ADAPTED and a.tuning is not None
    t = a.tuning
    assert t.round == a.iteration + a.tuning_delay == 1
    a.phase = TRACK if cls is ATCTrackingAgent else None
    a._outgoing()  # round 0 < 1: no restart yet
    assert a.y.tolist() == [7.0] and a._restarted_for is None
    a.iteration = 1
    a._outgoing()
    assert a.y.tolist() == [a.grad[0]] and a._restarted_for is t
    if cls is ATCTrackingAgent:
        assert a.phase == ADAPT
    a.y = np.array([9.0])
    a._outgoing()  # the same tuning does not restart twice
    assert a.y.tolist() == [9.0]
    if cls.supports_async:
        b = tracking(cls, neighbors=[1, 2], weights=w, x0=[3.0])
        b.set_asynchronous(True)
        b.y = np.array([7.0])
        b.peer_left(2)
        b._outgoing()  # asynchronous: restarts on arrival
        assert b.y.tolist() == [2.0]
    c = tracking(cls, neighbors=[1, 2], weights=w, x0=[3.0])
    c.peer_left(2)
    c.peer_joined(2, incarnation=1)
    assert c.tuning is not None and c.tuning.epoch == 2 and c.weights == w


# ----------------------------------------------------------------------------- consensus ADMM
import networkx as nx  # noqa: E402

from distopt_ros.core.algorithms.admm import (  # noqa: E402
    ConsensusADMMAgent,
    ConsensusADMMCoordinator,
    RelaxedADMMAgent,
    admm_optimal_rho_equal_curvature,
    radmm_optimal_penalty_regular,
)
from distopt_ros.core.graphs import Graph  # noqa: E402


def z_msg(z: Sequence[float], rho: float = 0.0, iteration: int = 0) -> Message:
    return Message(COORDINATOR, BROADCAST, iteration, "admm", "consensus", len(z), consensus=z, rho=rho)


def test_global_admm_robot_update_residuals_and_rho_adoption() -> None:
    """Robot: ``y += rho (x - z)``, adopts the broadcast ``rho`` only when it is > 0, then ``x = prox(z - y/rho)``;
    ``primal_residual = |x - z|``, ``dual_residual = rho |x+ - x|`` (f = 1/2 (x - 2)^2, by hand)."""
    raises_named(lambda: ConsensusADMMAgent(0, quad([2.0]), 0.0, 5), "rho must")
    a = ConsensusADMMAgent(0, quad([2.0]), 1.0, 5)
    assert a.record is False and a.x.tolist() == [1.0] and a.expected == {COORDINATOR: {"consensus": 1}}
    (msg,) = a.start()
    assert (msg.kind, msg.receiver) == ("proposal", COORDINATOR) and msg.dual.tolist() == [0.0]
    deliver(a, z_msg([0.0]))  # rho 0 in the broadcast: keep rho = 1
    a.step()
    assert a.rho == 1.0 and a.y.tolist() == [1.0] and a.x.tolist() == [0.5]
    assert a.primal_residual == 1.0 and a.dual_residual == 0.5
    b = ConsensusADMMAgent(0, quad([2.0]), 1.0, 5, record=True)
    deliver(b, z_msg([0.0], rho=2.0))
    b.step()
    assert b.rho == 2.0 and b.y.tolist() == [1.0] and b.x[0] == pytest.approx(1.0 / 3, rel=1e-15)
    assert b.dual_residual == pytest.approx(4.0 / 3, rel=1e-15) and len(b.trajectory) == 1


def coord_round(c: ConsensusADMMCoordinator, xs: Sequence[float], ys: Sequence[float]) -> list[Message]:
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        deliver(c, Message(i, COORDINATOR, c.iteration, "admm", "proposal", 1, primal=[x], dual=[y]))
    return c.step()


def test_global_admm_coordinator_defaults_and_stop_thresholds() -> None:
    """Coordinator: names in the errors; defaults tolerance 0, no balancing, mu 10; ``z = mean(x + y / rho)``,
    ``r = |x - 1 z|``, ``s = sqrt(N) rho |z - z_old|``; stops when ``r <= sqrt(N n) tol + tol max(|x|, sqrt(N) |z|)``
    and ``s <= sqrt(N n) tol + tol |y|`` (a case where the ``sqrt(N) |z|`` term decides); tolerance 0 never stops."""
    raises_named(lambda: ConsensusADMMCoordinator(0, 1, 1.0, 5), "num_robots must be >= 1")
    raises_named(lambda: ConsensusADMMCoordinator(1, 1, 0.0, 5), "rho must")
    raises_named(lambda: ConsensusADMMCoordinator(1, 1, 1.0, 5, balance_mu=0.0), "balance_mu must")
    c = ConsensusADMMCoordinator(1, 1, 1.0, 5)
    assert c.num_robots == 1 and c.tolerance == 0.0 and c.residual_balancing is False and c.balance_mu == 10.0
    assert c.record is False and c.speaks_first is False and c.expected == {0: {"primal": 1, "dual": 1}}
    (msg,) = coord_round(c, [0.0], [0.0])
    assert not c.done and c.primal_residual == 0.0 and c.dual_residual == 0.0
    assert (msg.kind, msg.receiver, msg.iteration, msg.rho) == ("consensus", BROADCAST, 0, 1.0)
    s = ConsensusADMMCoordinator(2, 1, 1.0, 5, tolerance=0.6)
    s.z = np.array([5.0])
    coord_round(s, [1.0, 3.0], [4.0, 4.0])  # z = 6, r = sqrt(34) ~ 5.83 <= 5.94, s = sqrt(2) <= 4.24
    assert s.z.tolist() == [6.0] and s.primal_residual == pytest.approx(np.sqrt(34.0), rel=1e-15)
    assert s.dual_residual == pytest.approx(np.sqrt(2.0), rel=1e-15) and s.done and s.converged
    t = ConsensusADMMCoordinator(2, 1, 1.0, 5, tolerance=0.55)
    t.z = np.array([5.0])
    coord_round(t, [1.0, 3.0], [4.0, 4.0])  # eps_pri = 0.55 (sqrt 2 + sqrt 72) ~ 5.44 < 5.83
    assert not t.done
    u = ConsensusADMMCoordinator(2, 1, 1.0, 5, tolerance=0.6)
    coord_round(u, [1.0, 3.0], [4.0, 4.0])  # s = 6 sqrt(2) > 4.24
    assert not u.done


def test_global_admm_coordinator_forgets_a_robot() -> None:
    """Global consensus ADMM goes on over the live robots: a departure is adapted to."""
    c = ConsensusADMMCoordinator(3, 1, 1.0, 5)
    assert c.peer_left(1) == ChangeKind.ADAPTED and not c.done


@pytest.mark.parametrize(("xs", "ys", "rho0", "mu", "rho1"), [
    ([1.0], [1.0], 1.0, 0.5, 0.5),  # r = 1 == mu s = 1: no doubling; s = 2 > mu r = 0.5: halve
    ([1.0], [1.0], 1.0, 2.0, 1.0),  # r = 1 < 4; s = 2 == mu r = 2: unchanged
    ([1.0], [2.0], 1.0, 4.0, 1.0),  # r = 2, s = 3: 3 > 8? no: unchanged
    ([0.0, 4.0], [0.0, 0.0], 3.0, 2.0, 1.5),  # r = 2 sqrt 2, s = sqrt 2 * 3 * 2 > 2 r: halve
])
def test_global_admm_residual_balancing_edges(xs: list[float], ys: list[float], rho0: float, mu: float,
                                              rho1: float) -> None:
    """Residual balancing: ``rho *= 2`` when ``r > mu s``, ``rho /= 2`` when ``s > mu r`` (strict), else unchanged."""
    c = ConsensusADMMCoordinator(len(xs), 1, rho0, 5, residual_balancing=True, balance_mu=mu)
    coord_round(c, xs, ys)
    assert c.rho == rho1


def test_global_admm_residual_balancing_doubles_and_halves_exactly() -> None:
    """Doubling from rho = 3 gives 6 and halving from 3 gives 1.5 (scaled from the current value)."""
    up = ConsensusADMMCoordinator(2, 1, 3.0, 5, residual_balancing=True, balance_mu=1.0)
    up.z = np.array([2.0])
    coord_round(up, [0.0, 4.0], [0.0, 0.0])  # z = 2, r = 2 sqrt 2, s = 0
    assert up.rho == 6.0
    down = ConsensusADMMCoordinator(1, 1, 3.0, 5, residual_balancing=True, balance_mu=1.0)
    coord_round(down, [1.0], [3.0])  # z = 2, r = 1, s = 2 > 1
    assert down.rho == 1.5


def radmm(**kw: Any) -> RelaxedADMMAgent:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0]), "neighbors": [2, 1], "rho": 1.0, "alpha": 0.5,
                            "max_iterations": 10}
    args.update(kw)
    return RelaxedADMMAgent(**args)


def edge_msg(sender: int, m: Sequence[float], iteration: int = 0, receiver: int = 0) -> Message:
    return Message(sender, receiver, iteration, "radmm", "edge", len(m), consensus=m)


def test_relaxed_admm_validation_defaults_and_first_messages() -> None:
    """Names in the errors (alpha in (0, 1)); defaults tolerance 0, one stop round, no recording, warming up;
    ``x = prox(sum z / (rho d), rho d)`` and ``m_ij = 2 rho x - z_ij`` of kind ``edge`` per neighbour."""
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must not be empty$"):
        radmm(neighbors=[])
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must not contain the agent itself$"):
        radmm(neighbors=[0, 1])
    raises_named(lambda: radmm(rho=0.0), "rho must")
    for bad in (0.0, 1.0, 1.5):
        raises_named(lambda v=bad: radmm(alpha=v), "alpha must be in (0.0, 1.0)")
    a = radmm()
    assert a.tolerance == 0.0 and a.stopper.threshold == 1 and a.record is False and a._warming is True
    assert a.neighbors == (1, 2) and a.x[0] == pytest.approx(1.0 / 3, rel=1e-15)  # prox(0, 2) of 1/2 (x - 1)^2
    out = a.start()
    assert [(m.receiver, m.kind) for m in out] == [(1, "edge"), (2, "edge")]
    assert out[0].consensus[0] == pytest.approx(2.0 / 3, rel=1e-15)


def test_relaxed_admm_update_residuals() -> None:
    """``z_ij = (1 - alpha) z_ij + alpha m_ji``; ``primal_residual = max |m_ji - z_ij| / rho``, ``dual_residual =
    rho |x+ - x|``; a round is paired normally, so the warm-up ends."""
    a = radmm(rho=2.0)
    deliver(a, edge_msg(1, [4.0]))
    deliver(a, edge_msg(2, [-2.0]))
    a.step()
    assert a.z[1].tolist() == [2.0] and a.z[2].tolist() == [-1.0]
    assert a.primal_residual == 2.0  # max(4, 2) / 2
    # x = prox((2 - 1) / 4, 4) = (1 + 4 * 0.25) / 5 = 0.4; x0 = prox(0, 4) = 0.2
    assert a.x[0] == pytest.approx(0.4, rel=1e-15) and a.dual_residual == pytest.approx(0.4, rel=1e-14)
    assert a._warming is False


def test_relaxed_admm_stop_uses_the_scaled_edge_residual() -> None:
    """With a tolerance the local test is ``max(disagreement, step) <= tol max(1, |x|)``: at the fixed point
    (messages equal to z) with x = 0.5 a tolerance above 0 stops after one round (threshold 1)."""
    a = radmm(tolerance=1e-9)
    a.x = a._primal()
    deliver(a, edge_msg(1, [0.0]))
    deliver(a, edge_msg(2, [0.0]))
    a.step()
    assert a.primal_residual == 0.0 and a.dual_residual == 0.0 and a.done and a.converged
    b = radmm(tolerance=0.3)
    deliver(b, edge_msg(1, [0.5]))  # disagreement 0.5 > 0.3 max(1, |x|)
    deliver(b, edge_msg(2, [0.5]))
    b.step()
    assert not b.done
    c = radmm(tolerance=0.3, rho=2.0)
    deliver(c, edge_msg(1, [0.5]))  # disagreement 0.5 / 2 = 0.25; x: prox(0.25/4... ) moves 0.05
    deliver(c, edge_msg(2, [0.5]))
    c.step()
    assert c.primal_residual == 0.25 and c.done


def test_relaxed_admm_warm_start_of_a_new_process() -> None:
    """A new robot whose neighbours have run far ahead (first messages beyond the buffering window) takes their
    messages as its duals in full (``z_ij = m_ji``, not blended); its warm-up ends once every neighbour is paired."""
    a = radmm()
    deliver(a, edge_msg(1, [4.0], iteration=50))
    assert a._warming is True
    deliver(a, edge_msg(2, [-2.0], iteration=50))
    a.step()
    assert a.z[1].tolist() == [4.0] and a.z[2].tolist() == [-2.0] and a.z[1].dtype == float
    assert a._warming is False and not a.membership.state[1].warm and not a.membership.state[2].warm
    b = radmm()
    deliver(b, edge_msg(1, [4.0], iteration=50))
    b.step()  # only neighbour 1 heard: still warming for 2
    assert b.z[1].tolist() == [4.0] and b._warming is True
    c = radmm()
    c.set_asynchronous(True)
    deliver(c, edge_msg(1, [4.0], iteration=50))
    c.step()  # asynchronous robots blend every message in
    assert c.z[1].tolist() == [2.0] and c._warming is False


def test_relaxed_admm_leave_and_rejoin() -> None:
    """``_forget`` drops the edge's dual; ``_welcome`` restores it at ``z_ij = rho x_i``; the last neighbour leaving
    isolates the robot."""
    a = radmm(rho=2.0)
    assert a.peer_left(2) == ChangeKind.ADAPTED and a.neighbors == (1,) and sorted(a.z) == [1]
    assert a.peer_joined(2, incarnation=1) == ChangeKind.ADAPTED
    assert a.neighbors == (1, 2) and a.z[2].tolist() == [2.0 * a.x[0]] and a.z[2].dtype == float
    (msg,) = a.welcome_messages()
    assert msg.receiver == 2 and msg.consensus.tolist() == [2 * 2.0 * a.x[0] - 2.0 * a.x[0]]
    b = radmm(neighbors=[1])
    assert b.peer_left(1) == ChangeKind.STOPPED and b.stop_reason == StopReason.ISOLATED


def test_admm_penalty_closed_forms() -> None:
    """``rho* = a`` at rate 1/2 for global ADMM; relaxed ADMM on a regular graph: ``rho* = a / (d sqrt(1 - s2^2))``,
    rate ``(1 + s2 / (1 + sqrt(1 - s2^2))) / 2`` with ``s2 = max(lambda_2(A / d), 0)`` (a random 3-regular graph,
    whose second and third eigenvalues differ); irregular graphs are refused."""
    assert admm_optimal_rho_equal_curvature(2.5) == (2.5, 0.5)
    raises_named(lambda: admm_optimal_rho_equal_curvature(0.0), "curvature must")
    raises_named(lambda: radmm_optimal_penalty_regular(make_graph("ring", 4), 0.0), "curvature must")
    g = Graph(nx.random_regular_graph(3, 10, seed=1))
    lam = np.sort(np.linalg.eigvalsh(nx.to_numpy_array(g.nx_graph, nodelist=range(10)) / 3))
    assert lam[-2] - lam[-3] > 1e-3
    s2 = max(lam[-2], 0.0)
    rho, rate = radmm_optimal_penalty_regular(g, 2.0)
    assert rho == pytest.approx(2.0 / (3 * np.sqrt(1 - s2**2)), rel=1e-12)
    assert rate == pytest.approx(0.5 * (1 + s2 / (1 + np.sqrt(1 - s2**2))), rel=1e-12)
    with pytest.raises(ValueError, match=r"^graph must be regular for the closed-form penalty, it has degrees "
                                         r"\[1, 2\]$"):
        radmm_optimal_penalty_regular(make_graph("path", 3), 1.0)


# ----------------------------------------------------------------------------- consensus family
from distopt_ros.core.algorithms.atg import ATGAgent  # noqa: E402
from distopt_ros.core.algorithms.consensus import (  # noqa: E402
    AverageConsensusAgent,
    GossipAgent,
    PushSumAgent,
    consensus_swarm,
    gossip_averaging_time,
)


def test_average_consensus_defaults_value_and_message() -> None:
    """The value is flattened and checked by name; defaults one stop round, no recording; kind ``state``; the
    residual is ``|x+ - x|``."""
    raises_named(lambda: AverageConsensusAgent(0, [float("nan")], [1], {0: 0.5, 1: 0.5}, 5), "value must be finite")
    a = AverageConsensusAgent(0, np.array([[1.0], [2.0]]), [1], {0: 0.5, 1: 0.5}, 5)
    assert a.x.shape == (2,) and a.dim == 2 and a.stopper.threshold == 1 and a.record is False
    (msg,) = a.start()
    assert (msg.kind, msg.receiver) == ("state", BROADCAST) and msg.primal.tolist() == [1.0, 2.0]
    deliver(a, Message(1, BROADCAST, 0, "consensus", "state", 2, primal=[3.0, 2.0]))
    a.step()
    assert a.x.tolist() == [2.0, 2.0] and a.primal_residual == 1.0


def test_push_sum_defaults_split_and_residual() -> None:
    """Push-sum: value flattened and named, ``out_degree >= 1`` by name; kind ``mass`` with ``y / (d + 1)`` and
    ``z / (d + 1)``; the update adds the in-neighbours' shares; the residual is ``|y+/z+ - y/z|``."""
    raises_named(lambda: PushSumAgent(0, [float("inf")], [1], 1, 5), "value must be finite")
    raises_named(lambda: PushSumAgent(0, [1.0], [1], 0, 5), "out_degree must be >= 1")
    p = PushSumAgent(0, np.array([[4.0], [2.0]]), [2, 1], 1, 5)
    assert p.y.shape == (2,) and p.in_neighbors == (1, 2) and p.record is False and p.z == 1.0
    (msg,) = p.start()
    assert (msg.kind, msg.receiver) == ("mass", BROADCAST)
    assert msg.primal.tolist() == [2.0, 1.0] and msg.aux.tolist() == [0.5]
    deliver(p, Message(1, BROADCAST, 0, "pushsum", "mass", 2, primal=[1.0, 1.0], aux=[0.5]))
    deliver(p, Message(2, BROADCAST, 0, "pushsum", "mass", 2, primal=[3.0, 0.0], aux=[1.0]))
    p.step()  # y = (2, 1) + (1, 1) + (3, 0) = (6, 2), z = 0.5 + 0.5 + 1 = 2
    assert p.y.tolist() == [6.0, 2.0] and p.z == 2.0
    assert p.primal_residual == pytest.approx(float(np.hypot(3.0 - 4.0, 1.0 - 2.0)), rel=1e-15)
    np.testing.assert_array_equal(p.estimate(), [3.0, 1.0])


def gossip(**kw: Any) -> GossipAgent:
    args: dict[str, Any] = {"agent_id": 0, "value": [1.0], "neighbors": [2, 1], "max_iterations": 50}
    args.update(kw)
    g = GossipAgent(**args)
    g.set_asynchronous(True)
    return g


def gossip_msg(sender: int, kind: str, x: float, iteration: int = 0) -> Message:
    return Message(sender, 0, iteration, "gossip", kind, 1, primal=[x])


def test_gossip_handshake_exchanges_busy_and_timeout() -> None:
    """Gossip: a free node picks a neighbour with its seeded generator and sends ``req``; a ``reply`` from that partner
    averages and frees it (one exchange); a ``req`` while busy is answered ``busy`` with the own value; replies from
    a non-partner are ignored; with ``timeout`` 1 a request unanswered for two wake-ups is dropped."""
    raises_named(lambda: GossipAgent(0, [1.0], [], 5), "neighbors of agent 0 must not be empty")
    raises_named(lambda: GossipAgent(0, [1.0], [1], 5, timeout=0), "timeout must be >= 1")
    raises_named(lambda: GossipAgent(0, [float("nan")], [1], 5), "value must be finite")
    with pytest.raises(ValueError, match=r"^gossip runs asynchronously: give the simulator a NetworkModel$"):
        GossipAgent(0, [1.0], [1], 5).start()
    g = gossip()
    assert g.timeout == 20 and g.waited == 0 and g.exchanges == 0 and g.partner is None and g.record is False
    assert g.idle and g.x.shape == (1,) and g.expected == {1: {"primal": 1}, 2: {"primal": 1}}
    assert g.rng.integers(1 << 30) == np.random.default_rng([0, 0]).integers(1 << 30)
    g = gossip()
    rng = np.random.default_rng([0, 0])
    assert g.start() == []
    (req,) = g.step()
    partner = int(rng.choice((1, 2)))
    other = 3 - partner
    assert (req.kind, req.receiver, req.primal.tolist()) == ("req", partner, [1.0]) and g.partner == partner
    deliver(g, gossip_msg(other, "reply", 9.0, 1))  # not the partner: ignored
    deliver(g, gossip_msg(other, "req", 5.0, 2))  # busy: answered busy with the own value
    (busy,) = g.step()
    assert (busy.kind, busy.receiver, busy.primal.tolist()) == ("busy", other, [1.0])
    assert g.x.tolist() == [1.0] and g.partner == partner and g.waited == 1
    deliver(g, gossip_msg(partner, "reply", 3.0, 2))
    out = g.step()
    assert g.x.tolist() == [2.0] and g.exchanges == 1
    assert [m.kind for m in out] == ["req"] and g.partner == int(rng.choice((1, 2)))
    h = gossip(value=[4.0], seed=3)
    h.start()
    deliver(h, gossip_msg(1, "req", 2.0))
    (rep,) = h.step()  # free: answers reply with its old value and averages
    assert (rep.kind, rep.receiver, rep.primal.tolist()) == ("reply", 1, [4.0])
    assert h.x.tolist() == [3.0] and h.exchanges == 1 and h.partner is None
    t = gossip(timeout=1)
    t.start()
    t.step()
    first = t.partner
    t.step()
    assert t.partner == first and t.waited == 1
    t.step()
    assert t.partner is None and t.waited == 2
    deliver(t, gossip_msg(first, "busy", 0.0, 3))
    t.step()
    assert t.partner is not None and t.waited == 0
    b = gossip()
    b.start()
    b.step()
    deliver(b, gossip_msg(b.partner, "busy", 7.0, 1))
    b.step()  # a busy answer frees the requester (no exchange), which asks again
    assert b.exchanges == 0 and b.x.tolist() == [1.0] and b.partner is not None and b.waited == 0


def test_gossip_averaging_time_uses_the_second_largest_eigenvalue() -> None:
    """``log(1/eps) / log(1/lambda_2(W_bar))`` with ``W_bar = I - D/(2N) + (P + P^T)/(2N)``, built here from the
    definition on a 4-node path (distinct eigenvalues)."""
    g = make_graph("path", 4)
    p = np.zeros((4, 4))
    for i in range(4):
        for j in g.neighbors(i):
            p[i, j] = 1.0 / g.degree(i)
    w = np.eye(4) - np.diag((p + p.T).sum(axis=1)) / 8 + (p + p.T) / 8
    lam = np.sort(np.linalg.eigvalsh(w))
    assert len(set(np.round(lam, 9))) == 4
    assert gossip_averaging_time(g, 1e-3) == pytest.approx(np.log(1e3) / np.log(1 / lam[-2]), rel=1e-12)


def test_consensus_swarm_reshapes_values_and_defaults() -> None:
    """``consensus_swarm``: one row of ``values`` per node (vector values kept), Metropolis rows, defaults tolerance
    0, stop threshold diameter + 3, no recording."""
    g = make_graph("path", 3)
    s = consensus_swarm(np.array([[1, 2], [3, 4], [5, 6]]), g, 9)
    for i, a in s.items():
        assert a.x.tolist() == [2.0 * i + 1, 2.0 * i + 2] and a.x.dtype == float
        assert a.tolerance == 0.0 and a.stopper.threshold == 2 + 3 and a.record is False and a.max_iterations == 9
    t = consensus_swarm(np.array([1.0, 2.0, 3.0]), g, 9, tolerance=0.1, patience=1, record=True)
    assert t[1].x.tolist() == [2.0] and t[1].stopper.threshold == 3 and t[1].record is True


def atg(**kw: Any) -> ATGAgent:
    args: dict[str, Any] = {"agent_id": 0, "objective": quad([1.0]), "neighbors": [2, 1], "rho": 1.0, "alpha": 0.5,
                            "gamma": 0.5, "delta": 1.0, "max_iterations": 10}
    args.update(kw)
    return ATGAgent(**args)


def test_atg_validation_defaults_and_trackers() -> None:
    """ATG: names in the errors (gamma in (0, 1], alpha in (0, 1)); defaults tolerance 0, one stop round, no
    recording; ``x0`` flattened; trackers ``(y, s) = (x, grad f(x)) + sum z) / (1 + rho d)``."""
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must be non-empty and exclude the agent$"):
        atg(neighbors=[0, 1])
    with pytest.raises(ValueError, match=r"^neighbors of agent 0 must be non-empty and exclude the agent$"):
        atg(neighbors=[])
    for name, bad in (("rho", 0.0), ("alpha", 1.0), ("gamma", 0.0), ("gamma", 1.5), ("delta", 0.0)):
        raises_named(lambda n=name, v=bad: atg(**{n: v}), f"{name} must")
    raises_named(lambda: atg(x0=[1.0, 2.0]), "x0 must have 1 entries")
    assert atg(gamma=1.0).gamma == 1.0
    a = atg(x0=np.array([[3.0]]))
    assert a.x.shape == (1,) and a.tolerance == 0.0 and a.stopper.threshold == 1 and a.record is False
    assert a.y[0] == 1.0 and a.s[0] == pytest.approx(2.0 / 3, rel=1e-15)  # (3, 2) / 3
    out = a.start()
    assert [(m.receiver, m.kind) for m in out] == [(1, "edge"), (2, "edge")]
    np.testing.assert_allclose(out[0].consensus, [2.0, 4.0 / 3], rtol=1e-15)


def test_atg_update_residuals_and_stop() -> None:
    """One round by hand: ``primal_residual = max |m_ji - z_ij| / rho``, ``dual_residual = |x+ - x|``,
    ``x+ = x + gamma (y - x - delta s)``; the stop test scales by ``max(1, |x+|)``."""
    a = atg(rho=2.0, neighbors=[1], x0=[3.0])  # y, s = (3, 2) / 3
    deliver(a, Message(1, 0, 0, "atg", "edge", 1, consensus=[4.0, 2.0]))
    a.step()
    assert a.primal_residual == pytest.approx(np.hypot(4.0, 2.0) / 2, rel=1e-15)
    # x+ = 3 + 0.5 (1 - 3 - 2/3) = 3 - 4/3
    assert a.x[0] == pytest.approx(3 - 4.0 / 3, rel=1e-15) and a.dual_residual == pytest.approx(4.0 / 3, rel=1e-15)
    np.testing.assert_allclose(a.z[1], [2.0, 1.0], rtol=1e-15)
    b = atg(rho=2.0, neighbors=[1], x0=[3.0], tolerance=1.2)  # max(4/3, 2.236) <= 1.2 * 5/3 = 2.0? no
    deliver(b, Message(1, 0, 0, "atg", "edge", 1, consensus=[4.0, 2.0]))
    b.step()
    assert b.stopper.count == 0
    c = atg(rho=2.0, neighbors=[1], x0=[3.0], tolerance=1.35)  # 2.236 <= 1.35 * 5/3 = 2.25
    deliver(c, Message(1, 0, 0, "atg", "edge", 1, consensus=[4.0, 2.0]))
    c.step()
    assert c.stopper.count == 1 and c.done


def test_atg_leave_and_rejoin() -> None:
    """``_forget`` drops ``z_ij`` and recomputes the trackers over the remaining edges; ``_welcome`` restores the edge
    at ``z_ij = rho (y, s)``, which leaves the trackers where they were."""
    a = atg(rho=2.0, x0=[3.0])
    assert a.peer_left(2) == ChangeKind.ADAPTED and a.neighbors == (1,) and sorted(a.z) == [1]
    assert a.y[0] == pytest.approx(1.0, rel=1e-15)  # (3, 2) / (1 + 2)
    assert a.peer_joined(2, incarnation=1) == ChangeKind.ADAPTED and a.neighbors == (1, 2)
    np.testing.assert_allclose(a.z[2], [2.0, 4.0 / 3], rtol=1e-15)
    np.testing.assert_allclose([a.y[0], a.s[0]], [1.0, 2.0 / 3], rtol=1e-15)
    b = atg(neighbors=[1])
    assert b.peer_left(1) == ChangeKind.STOPPED and b.stop_reason == StopReason.ISOLATED


# ----------------------------------------------------------------------------- QuDRC extras
def test_level_factor_gives_up_on_a_zero_level() -> None:
    """``level_factor(1, 0)``: no power of two reaches 1 from 0; the doubling stops at 2^62 and the level is refused,
    so is 2^-63 (one doubling beyond the cap); 2^-62 is the last level reached."""
    with pytest.raises(ValueError, match=r"^level 0\.0 is not 1\.0 / 2\^j$"):
        level_factor(1.0, 0.0)
    with pytest.raises(ValueError, match="is not"):
        level_factor(1.0, 2.0**-63)
    assert level_factor(1.0, 2.0**-62) == 2**62


def test_qudrc_agent_local_step_first_average_and_small_ring() -> None:
    """The first local step from ``z = 0``: ``x = (m - lambda) / (1 + rho)`` (identity Hessian), ``g = rho (z - x) -
    lambda``; the first averaging quantizes ``v = x - g / rho`` at the first level; on a 2-node ring the diameter is 1;
    ``lam0`` of RC-ALADIN is flattened."""
    a = qudrc_agent(rho=2.0)
    lam = np.random.default_rng([0, 0]).normal(size=2)
    np.testing.assert_allclose(a.x, (np.array([1.0, -1.0]) - lam) / 3.0, rtol=1e-14)
    np.testing.assert_allclose(a.g, -2.0 * a.x - lam, rtol=1e-14)
    np.testing.assert_array_equal(a.averager.q, np.floor((a.x - a.g / 2.0) / 0.5).astype(np.int64))
    pair = make_digraph("directed_ring", 2)
    b = qudrc_agent(digraph=pair)
    assert b.diameter == 1 and b.averager.diameter == 1 and b.out_neighbors == (1,) and b.in_neighbors == (1,)
    r = RCAladinAgent(0, quad([1.0, 2.0]), 1.0, 5, lam0=np.array([[1.0], [2.0]]))
    assert r.lam.shape == (2,) and r.lam.tolist() == [1.0, 2.0]


def test_qudrc_warm_start_keeps_the_averager_and_fresh_start_replaces_it() -> None:
    """``warm_start`` (default) restarts the same averager at each outer iteration; ``warm_start=False`` builds a new
    one. Without ``differential`` the final messages carry the raw payload (not the empty frame). The final
    ``lambda = rho (x - z) - g`` of the last outer iteration."""
    objs = [quad([1.0, -1.0]), quad([2.0, 0.5]), quad([-0.5, 1.5])]
    for warm in (True, False):
        agents = qudrc_swarm(objs, RING, rho=1.0, delta=0.125, max_outer=2, seed=4, warm_start=warm,
                             differential=False, coarse_level=0.0)
        first = {i: a.averager for i, a in agents.items()}
        simulate(agents, max_rounds=5_000)
        for i, a in agents.items():
            assert a.outer == 2 and (a.averager is first[i]) is warm
            np.testing.assert_allclose(a.lam, a.rho * (a.x - a.z) - a.g, rtol=1e-14, atol=1e-15)
            assert any(int(v) != 0 for v in a.wire_integers(a.out_neighbors[0]))
            assert a.level == 0.125 and a.averager.delta == 0.125


class IntegerBox:
    """A 1-D quadratic ``1/2 (x - 5)^2`` whose ``project`` rounds to integers in [-1, 1] and returns a list."""

    dim = 1

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float) - 5.0

    def project(self, x: np.ndarray) -> list[int]:
        return [int(v) for v in np.clip(np.round(np.asarray(x, dtype=float)), -1, 1)]


def test_dgd_iterates_stay_float_whatever_the_projection_returns() -> None:
    """Projected DGD stores ``x`` as a float vector even when ``project`` returns integers; W-MSR's output is float
    for an integer own value (here the mean of 1 and 2)."""
    a = dgd(objective=IntegerBox(), x0=[3.0])
    assert a.x.dtype == float and a.x.tolist() == [1.0]
    deliver(a, state_msg(1, [1.0]))
    deliver(a, state_msg(2, [1.0]))
    a.step()
    assert a.x.dtype == float and a.x.tolist() == [1.0]
    w = {i: 0.25 for i in range(4)}
    b = dgd(neighbors=[1, 2, 3], weights=w, resilient_f=1)
    got = b.trimmed_mix(np.array([1]), {1: state_msg(1, [2.0]), 2: state_msg(2, [5.0]), 3: state_msg(3, [0.0])})
    assert got.dtype == float and got.tolist() == [1.5]


def test_edge_methods_scale_the_stop_test_by_the_iterate() -> None:
    """The local stop test of edge ADMM and of the constraint-coupled agent is relative: ``<= tol max(1, |x+|)``,
    checked with iterates of norm 13/3 and 5 (a test against ``tol`` alone would not stop)."""
    a = radmm(objective=quad([10.0]), tolerance=0.75)  # x0 = 10/3; z = 1.5 each; x+ = 13/3; step 1, edge residual 3
    deliver(a, edge_msg(1, [3.0]))
    deliver(a, edge_msg(2, [3.0]))
    a.step()
    assert a.primal_residual == 3.0 and a.dual_residual == pytest.approx(1.0, rel=1e-14) and a.done
    c = coupled_agent(objective=quad([10.0]), neighbors=[1], gamma=0.5, tolerance=1.01)
    deliver(c, Message(1, 0, 0, "coupled", "edge", 1, consensus=[0.0, 0.0]))
    c.step()  # x+ = 5, lam+ = -0.125: moved 5.0016 <= 1.01 * 5
    assert c.x.tolist() == [5.0] and c.lam.tolist() == [-0.125] and c.done
    d = coupled_agent(objective=quad([10.0]), neighbors=[1], gamma=0.5, tolerance=0.99)
    deliver(d, Message(1, 0, 0, "coupled", "edge", 1, consensus=[0.0, 0.0]))
    d.step()
    assert not d.done


def test_qudrc_difference_code_is_lossless_through_level_changes() -> None:
    """The edge difference code (with its exact re-quantization at each coarse-to-fine level change) decodes every
    payload exactly: the run with ``differential`` takes the same steps, to the same ``z`` and ``x``, as the run
    sending absolute integers; the frame (sparse or flat) changes only the bit cost."""
    objs = [quad([1.3, -1.0]), quad([2.0, 0.7], [2.0, 1.0]), quad([-0.5, 1.5])]
    runs = {}
    for differential, frame in ((True, "sparse"), (False, "sparse"), (True, "flat")):
        agents = qudrc_swarm(objs, RING, rho=1.0, delta=0.0625, max_outer=4, seed=7, differential=differential,
                             frame=frame, coarse_level=1.0)
        bits = []
        simulate(agents, max_rounds=20_000, on_round=lambda _r, ags, b=bits: b.append(
            sum(ags[i].wire_bits(ags[i].out_neighbors[0]) for i in ags)))
        runs[differential, frame] = (agents, bits)
    base, _ = runs[True, "sparse"]
    for key in ((False, "sparse"), (True, "flat")):
        other, _ = runs[key]
        for i in base:
            assert base[i].inner_steps == other[i].inner_steps and len(base[i].inner_steps) == 4
            np.testing.assert_array_equal(base[i].z, other[i].z)
            np.testing.assert_array_equal(base[i].x, other[i].x)
    assert runs[True, "sparse"][1] != runs[True, "flat"][1]
    for a in base.values():  # levels 1, 1/2, 1/4, 1/8: the warm averager was re-quantized down to 1/8
        assert a.level == 0.125 and a.averager.delta == 0.125
        np.testing.assert_array_equal(a.z / 0.125, np.round(a.z / 0.125))
    assert base[0].level_of(0) == 1.0 and base[0].level_of(4) == 0.0625


def test_global_admm_coordinator_stops_with_both_residuals_exactly_at_their_thresholds() -> None:
    """One robot, ``x = 0``, ``y = 1``, ``rho = 1``, ``tol = 0.5``: ``z = 1``, ``r = 1 = 0.5 + 0.5 max(0, 1)`` and
    ``s = 1 = 0.5 + 0.5 |y|``: both exactly at their thresholds, which counts as converged."""
    c = ConsensusADMMCoordinator(1, 1, 1.0, 5, tolerance=0.5)
    coord_round(c, [0.0], [1.0])
    assert c.primal_residual == 1.0 and c.dual_residual == 1.0 and c.done and c.converged


def test_qudrc_gain_stops_when_a_term_is_exactly_rtol_of_the_total() -> None:
    """The series stops at the first term ``<= rtol * total``, equality included: with ``rtol = 1/3`` the first
    term 1.5 is exactly a third of the total 4.5 (a hair smaller rtol takes the next term, 5.25)."""
    assert qudrc_error_gain(P_A, 1.0, rtol=1 / 3) == 4.5
    assert qudrc_error_gain(P_A, 1.0, rtol=(1 / 3) * (1 - 1e-15)) == 5.25


def test_qudrc_linear_model_single_node_and_non_square_hessian() -> None:
    """One node (p = 3, rho = 1, k = 1/4): ``A = 1 - 2k + 4k - 2 = -1/2``, ``B = 4k - 2``, ``C = k``, ``F = 2k``; a
    Hessian that is not square is refused by the inverse."""
    a, b, c, f = qudrc_linear_model([[[3]]], 1.0)
    assert (a.tolist(), b.tolist(), c.tolist(), f.tolist()) == ([[-0.5]], [[-1.0]], [[0.25]], [[0.5]])
    with pytest.raises(np.linalg.LinAlgError):
        qudrc_linear_model([np.array([1.0, 2.0])], 1.0)


def test_edge_hooks_tolerate_an_edge_they_do_not_hold() -> None:
    """``_forget`` of a peer whose edge state is already gone is a no-op that still adapts (edge ADMM, ATG,
    constraint-coupled)."""
    for agent in (radmm(), atg(), coupled_agent()):
        z_before = sorted(agent.z)
        assert agent._forget(7) is True and sorted(agent.z) == z_before


def test_more_consensus_pins() -> None:
    """Push-sum's residual uses the previous ratio ``y / z`` (second step, z != 1); gossip flattens its value, keeps
    ``record`` and counts every exchange; a fixed departure keeps the rest of the server's sample."""
    p = PushSumAgent(0, [4.0], [1], 1, 5)
    deliver(p, Message(1, BROADCAST, 0, "pushsum", "mass", 1, primal=[2.0], aux=[1.0]))
    p.step()  # y = 2 + 2 = 4, z = 0.5 + 1 = 1.5
    deliver(p, Message(1, BROADCAST, 1, "pushsum", "mass", 1, primal=[1.0], aux=[0.5]))
    p.step()  # y = 2 + 1 = 3, z = 0.75 + 0.5 = 1.25: |3 / 1.25 - 4 / 1.5|
    assert p.primal_residual == pytest.approx(abs(3 / 1.25 - 4 / 1.5), rel=1e-14)
    g = GossipAgent(0, np.array([[1.0], [2.0]]), [1], 5, record=True)
    assert g.x.shape == (2,) and g.record is True
    h = gossip(value=[4.0], seed=3)
    h.start()
    deliver(h, gossip_msg(1, "req", 2.0))
    h.step()
    deliver(h, gossip_msg(2, "req", 1.0))
    h.step()  # two requests served: two exchanges (4 -> 3 -> 2)
    assert h.exchanges == 2 and h.x.tolist() == [2.0]
    r = gossip()
    r.start()
    for it in range(1, 3):
        r.step()
        deliver(r, gossip_msg(r.partner, "reply", 5.0, it))
    r.step()
    assert r.exchanges == 2
    s = FedServer(4, 1, 10, fraction=0.5, seed=3)
    gone, kept = s.selected
    s.peer_left(gone)
    assert s.selected == (kept,)
    pd = PrimalDualServer(2, 1, 5, "fair", 0.1, 0.1, record=True)
    assert pd.record is True


def test_w_msr_does_not_count_values_equal_to_own_as_above_or_below() -> None:
    """W-MSR with F = 1, own 1, neighbours (1, 3, 5, -3): drop 5 and -3, keep 1 and 3: (1 + 1 + 3) / 3."""
    w = {i: 0.2 for i in range(5)}
    a = dgd(neighbors=[1, 2, 3, 4], weights=w, resilient_f=1)
    inbox = {j: state_msg(j, [v]) for j, v in zip((1, 2, 3, 4), (1.0, 3.0, 5.0, -3.0), strict=True)}
    assert a.trimmed_mix(np.array([1.0]), inbox)[0] == pytest.approx(5.0 / 3, rel=1e-15)


def test_set_offset_flattens_a_column_of_two() -> None:
    """``set_offset`` of a 2-row constraint accepts a 2 x 1 column and stores a flat vector."""
    a = coupled_agent(coupling=[[1.0], [2.0]], offset=[0.0, 0.0])
    a.set_offset(np.array([[1.0], [2.0]]))
    assert a.offset.tolist() == [1.0, 2.0]


def test_atg_flattens_a_two_dimensional_start() -> None:
    """ATG's ``x0`` given as a 2 x 1 column becomes the flat start vector."""
    a = atg(objective=quad([1.0, 2.0]), x0=np.array([[1.0], [2.0]]))
    assert a.x.tolist() == [1.0, 2.0]


def test_dgd_and_trackers_flatten_a_two_dimensional_start() -> None:
    """DGD's and the trackers' ``x0`` given as a 2 x 1 column becomes the flat start vector."""
    assert dgd(objective=quad([1.0, 2.0]), x0=np.array([[1.0], [2.0]])).x.tolist() == [1.0, 2.0]
    for cls in (DIGingAgent, ATCTrackingAgent, SemiATCTrackingAgent):
        assert tracking(cls, objective=quad([1.0, 2.0]), x0=np.array([[1.0], [2.0]])).x.tolist() == [1.0, 2.0]
