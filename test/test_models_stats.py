"""Statistical and property checks of the models and rules the equation tests cannot see.

What each test pins, and why (each one fails on a plausible one-line change to the code):

* the loss models of ``distopt_ros/core/network.py`` (docs/algorithms.md, "Loss, activation and delay
  models"): the Bernoulli rate, the Gilbert-Elliott stationary loss rate and mean burst length, each
  within 4 sigma of the value the model's parameters imply (seeded, so the draws never change);
* FedAvg's data-count weighting (its weighted fixed point, "Federated averaging (FedAvg)");
* the finite-time quantized averaging ("Finite-time quantized average consensus") on 40 seeded random
  strongly connected digraphs: the documented output bound, the stop at the first window whose
  global max and min differ by at most one, and QuDRC-ALADIN's synchronized stop seen from outside;
* the decentralized stop rule ("Decentralized stopping rule"): min-consensus (a max would stop early,
  shown on a constructed case), certification of every robot, the flood within a diameter;
* the ISS bound's ``q = max(...)`` (``price.iss_bound``) against a simulated tracking run whose dual
  curvature varies, so ``max`` and ``min`` differ;
* FedAdam's second moment, the extragradient corrector's point, and that an asynchronous agent uses
  each fresh message once.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from distopt_ros.core.agent import ToleranceStopper
from distopt_ros.core.algorithms.admm import RelaxedADMMAgent
from distopt_ros.core.algorithms.aladin import QuantizedAverager
from distopt_ros.core.algorithms.atg import ATGAgent
from distopt_ros.core.algorithms.consensus import consensus_swarm
from distopt_ros.core.algorithms.federated import FedServer, fed_swarm, fedavg_fixed_point
from distopt_ros.core.algorithms.price import AuctioneerAgent, BidderAgent, iss_bound
from distopt_ros.core.graphs import make_digraph, make_graph
from distopt_ros.core.membership import StopReason
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.network import BernoulliLoss, GilbertElliottLoss, NetworkModel
from distopt_ros.core.problems import LeastSquaresObjective, Problem, QuadraticObjective
from distopt_ros.core.registry import build_swarm
from distopt_ros.core.resources import QuadraticCost, SmoothScalarCost
from distopt_ros.sim.simulator import simulate

SIGMAS = 4.0


# ----------------------------------------------------------------------------- loss models
def runs_of_losses(drops: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of consecutive losses."""
    padded = np.concatenate([[0], drops.astype(int), [0]])
    edges = np.diff(padded)
    return np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_bernoulli_loss_rate(p: float) -> None:
    """Each message lost independently with probability p: the count is Binomial(n, p)."""
    n = 20_000
    for model in (BernoulliLoss(p, seed=1), NetworkModel(loss="bernoulli", loss_probability=p, seed=2)):
        drops = np.array([model.drop(0, 1) for _ in range(n)])
        assert abs(drops.sum() - n * p) <= SIGMAS * math.sqrt(n * p * (1 - p))
        runs = runs_of_losses(drops)  # independent: the mean run is 1 / (1 - p)
        sd = math.sqrt(p) / (1 - p)  # geometric on {1, 2, ...} with success probability 1 - p
        assert abs(runs.mean() - 1 / (1 - p)) <= SIGMAS * sd / math.sqrt(runs.size)


def ge_rate_sigma(p_gb: float, p_bg: float, loss_good: float, loss_bad: float, n: int) -> tuple[float, float]:
    """Stationary loss rate of the two-state chain and the standard deviation of its sample mean over n messages.

    With ``lambda = 1 - p_gb - p_bg``, the loss indicators' covariance at lag k is
    ``(loss_bad - loss_good)^2 pi_b pi_g lambda^k``, so the asymptotic variance per message is
    ``r (1 - r) + 2 (loss_bad - loss_good)^2 pi_b pi_g lambda / (1 - lambda)``.
    """
    pi_b = p_gb / (p_gb + p_bg)
    pi_g = 1 - pi_b
    rate = pi_g * loss_good + pi_b * loss_bad
    lam = 1 - p_gb - p_bg
    var = rate * (1 - rate) + 2 * (loss_bad - loss_good) ** 2 * pi_b * pi_g * lam / (1 - lam)
    return rate, math.sqrt(var / n)


@pytest.mark.parametrize("p,burst", [(0.1, 4.0), (0.3, 2.5), (0.05, 8.0)])
def test_gilbert_elliott_network_rate_and_burst_length(p: float, burst: float) -> None:
    """``loss: gilbert_elliott``: bad state loses all, good nothing; ``p_bg = 1 / burst_length``, ``p_gb`` set so the
    stationary rate is ``loss_probability``. Bursts (sojourns in the bad state) are geometric with mean
    ``burst_length``. Two links are drawn interleaved: each has its own chain."""
    n = 60_000
    net = NetworkModel(loss="gilbert_elliott", loss_probability=p, burst_length=burst, seed=3)
    p_bg = 1 / burst
    p_gb = p * p_bg / (1 - p)
    drops = np.array([[net.drop(0, 1), net.drop(1, 0)] for _ in range(n)])
    rate, sigma = ge_rate_sigma(p_gb, p_bg, 0.0, 1.0, n)
    assert rate == pytest.approx(p, rel=1e-12)
    for link in range(2):
        d = drops[:, link]
        assert abs(d.mean() - p) <= SIGMAS * sigma, (link, d.mean(), p, sigma)
        runs = runs_of_losses(d)
        sd = math.sqrt(1 - p_bg) / p_bg
        assert abs(runs.mean() - burst) <= SIGMAS * sd / math.sqrt(runs.size), (link, runs.mean(), burst)
    # the links are independent chains: their loss indicators are uncorrelated
    corr = np.corrcoef(drops[:, 0], drops[:, 1])[0, 1]
    assert abs(corr) <= SIGMAS * math.sqrt((1 + (1 - p_gb - p_bg)) / (1 - (1 - p_gb - p_bg)) / n)


def test_gilbert_elliott_general_stationary_rate_and_live_retuning() -> None:
    """The general formula ``(p_bg loss_good + p_gb loss_bad) / (p_gb + p_bg)`` with lossy good and leaky bad
    states, the model's own ``stationary_loss``, and ``set_rate`` keeping the burst length."""
    p_gb, p_bg, lg, lb, n = 0.04, 0.25, 0.1, 0.8, 60_000
    model = GilbertElliottLoss(p_gb, p_bg, lg, lb, seed=5)
    rate, sigma = ge_rate_sigma(p_gb, p_bg, lg, lb, n)
    assert model.stationary_loss == pytest.approx((p_bg * lg + p_gb * lb) / (p_gb + p_bg), rel=1e-12)
    drops = np.array([model.drop(2, 3) for _ in range(n)])
    assert abs(drops.mean() - rate) <= SIGMAS * sigma
    net = NetworkModel(loss="gilbert_elliott", loss_probability=0.1, burst_length=5.0, seed=1)
    net.set_rate("loss_probability", 0.25)
    ge = net._loss
    assert isinstance(ge, GilbertElliottLoss)
    assert ge.p_bg == pytest.approx(0.2) and ge.stationary_loss == pytest.approx(0.25, rel=1e-12)
    drops = np.array([net.drop(0, 1) for _ in range(n)])
    rate, sigma = ge_rate_sigma(ge.p_gb, ge.p_bg, 0.0, 1.0, n)
    assert abs(drops.mean() - 0.25) <= SIGMAS * sigma


def test_activation_probability_rate() -> None:
    """Random activation: an agent wakes up at a tick with ``activation_probability``."""
    n, q = 20_000, 0.35
    net = NetworkModel(activation_probability=q, seed=4)
    wakes = sum(net.active(0) for _ in range(n))
    assert abs(wakes - n * q) <= SIGMAS * math.sqrt(n * q * (1 - q))


# ----------------------------------------------------------------------------- FedAvg with unequal data counts
def test_fedavg_weighted_fixed_point_with_unequal_counts() -> None:
    """With ``p_k = n_k / n``, FedAvg (E = 3) ends at ``sum p_k (1 - q_k) c_k / sum p_k (1 - q_k)``, which the
    uniform weights would miss by far (the counts are 1, 4, 10)."""
    a, c, counts, eta, epochs = [1.0, 2.0, 3.0], [-2.0, 1.0, 5.0], [1, 4, 10], 0.1, 3
    prob = Problem(tuple(QuadraticObjective(np.array([[ai]]), np.array([ci])) for ai, ci in zip(a, c, strict=True)))
    agents = fed_swarm(prob, 400, epochs, eta, num_samples=counts)
    simulate(agents)
    weights = np.array(counts) / sum(counts)
    expected = fedavg_fixed_point(a, c, weights, eta, epochs)
    uniform = fedavg_fixed_point(a, c, [1 / 3] * 3, eta, epochs)
    assert abs(expected - uniform) > 0.5
    assert float(agents[COORDINATOR].estimate()[0]) == pytest.approx(expected, abs=1e-9)


def test_fedavg_registry_counts_are_the_clients_samples() -> None:
    """From the registry, a least-squares client's count is its number of rows; with E = 1 FedAvg is gradient
    descent on ``sum_k n_k f_k / n`` and ends at its minimizer (not the unweighted one)."""
    rng = np.random.default_rng(8)
    rows = [2, 6, 15]
    objs = [LeastSquaresObjective(rng.normal(size=(r, 2)), rng.normal(size=r) + 4 * k) for k, r in enumerate(rows)]
    prob = Problem(tuple(objs))
    agents = build_swarm("fedavg", prob, make_graph("path", 3), {"local_epochs": 1, "local_step": 0.01,
                                                                 "max_iterations": 3000, "tolerance": 0.0})
    simulate(agents)
    p = np.array(rows) / sum(rows)
    lhs = sum(pk * f.A.T @ f.A for pk, f in zip(p, objs, strict=True))
    rhs = sum(pk * f.A.T @ f.b for pk, f in zip(p, objs, strict=True))
    weighted = np.linalg.solve(lhs, rhs)
    unweighted = np.linalg.solve(sum(f.A.T @ f.A for f in objs) / 3, sum(f.A.T @ f.b for f in objs) / 3)
    assert np.linalg.norm(weighted - unweighted) > 0.1
    np.testing.assert_allclose(agents[COORDINATOR].estimate(), weighted, atol=1e-8)


# ----------------------------------------------------------------------------- quantized averaging
def run_averager(values: np.ndarray, delta: float, dg, diameter: int, seed: int) -> tuple[list, int, list]:
    """Run one averager per node; return the outputs, the stop step, and per window start the global
    ``(max ceil(y/z), min floor(y/z))`` (the doc's ``M``, ``m`` after a window of max/min-consensus)."""
    n = dg.num_nodes
    nodes = [QuantizedAverager(i, values[i], delta, diameter, dg.out_neighbors(i), np.random.default_rng([seed, i]))
             for i in range(n)]
    total_y, total_z = sum(v.y for v in nodes), sum(v.z for v in nodes)
    np.testing.assert_array_equal(total_y, 2 * sum(np.floor(values[i] / delta).astype(np.int64) for i in range(n)))
    windows = []
    for step in range(1, 100_001):
        if (step - 1) % diameter == 0:
            ys, zs = np.array([v.y for v in nodes]), np.array([v.z for v in nodes])
            windows.append((np.max(-((-ys) // zs), axis=0), np.min(ys // zs, axis=0)))
        pay = [v.emit() for v in nodes]
        stops = {nodes[i].absorb([pay[i][i], *(pay[j][i] for j in dg.in_neighbors(i))]) for i in range(n)}
        np.testing.assert_array_equal(sum(v.y for v in nodes), total_y)  # integer mass and tokens conserved
        np.testing.assert_array_equal(sum(v.z for v in nodes), total_z)
        assert len(stops) == 1, f"step {step}: the nodes do not stop together"
        if stops.pop():
            return [v.output for v in nodes], step, windows
    raise AssertionError("the averager did not stop")


@pytest.mark.parametrize("seed", range(40))
def test_quantized_averaging_bound_and_stop_on_random_digraphs(seed: int) -> None:
    """40 seeded random strongly connected digraphs (3-9 nodes, 1-2 coordinates, Delta 1e-1..1e-3, D = diameter
    or more): every node outputs the same value ``m Delta`` with ``mean v - 2 Delta < m Delta <= mean v``; the stop
    falls at the end of the *first* window whose global max and min differ by at most one, and the output is that
    window's global min times Delta."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 10))
    dg = make_digraph("random_strongly_connected", n, seed=seed)
    delta = float(10.0 ** -rng.integers(1, 4))
    dim = int(rng.integers(1, 3))
    diameter = dg.diameter() + int(rng.integers(0, 2))
    values = rng.normal(scale=5.0, size=(n, dim))
    outputs, step, windows = run_averager(values, delta, dg, diameter, seed)
    mean = values.mean(axis=0)
    for out in outputs:
        np.testing.assert_array_equal(out, outputs[0])
    out = outputs[0]
    assert np.all(out <= mean + 1e-12) and np.all(out > mean - 2 * delta), (out, mean, delta)
    assert step % diameter == 0
    ok = [bool(np.all(big - small <= 1)) for big, small in windows]
    assert ok[-1] and not any(ok[:-1]), f"stopped at window {len(ok)}, the condition held at {ok}"
    np.testing.assert_array_equal(out, windows[-1][1].astype(float) * delta)


def test_quantized_averaging_stop_is_not_looser_than_one() -> None:
    """Across the random cases some windows have ``max - min = 2``: the averager must go on there (a threshold of 2
    would stop and could output ``mean - 3 Delta``)."""
    seen_two = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 10))
        dg = make_digraph("random_strongly_connected", n, seed=seed)
        values = rng.normal(scale=5.0, size=(n, 1))
        _, _, windows = run_averager(values, 1e-2, dg, dg.diameter(), seed + 100)
        seen_two += sum(int(np.max(big - small)) == 2 for big, small in windows[:-1])
    assert seen_two > 0


def qudrc_params(**p: object) -> dict[str, object]:
    """Parameters for ``build_swarm("qudrc", ...)``: the schema's defaults for any newer ``quantization_*`` keys,
    with a constant level (a coarse first level, where the schema has one, set to ``quantization_level``), so the
    documented bound with one ``Delta`` applies to every outer iteration."""
    from distopt_ros.core.schema import SCHEMA

    extra = {name: SCHEMA[name].default for name in SCHEMA if name.startswith("quantization_") and name not in p}
    if "quantization_coarse_level" in SCHEMA:
        extra["quantization_coarse_level"] = p["quantization_level"]
    return {**extra, **p}


@pytest.mark.parametrize("seed", range(30))
def test_qudrc_first_outer_iteration_public_behaviour(seed: int) -> None:
    """QuDRC-ALADIN seen from outside on 30 random digraphs: every node takes its new ``x`` at the same round, and
    the ``z`` implied by the doc's outer step (``x^1 = prox(2 z - v^0, rho)``) is common, on the Delta-grid and
    within ``(mean v^0 - 2 Delta, mean v^0]``. Only estimates are read, so internal rewrites do not matter."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 8))
    dg = make_digraph("random_strongly_connected", n, seed=seed)
    rho, delta = float(rng.uniform(0.5, 3)), 1e-2
    prec = rng.uniform(0.5, 3, size=n)
    means = rng.normal(scale=3, size=n) + 0.0037
    objs = [QuadraticObjective(np.array([[a]]), np.array([m])) for a, m in zip(prec, means, strict=True)]
    agents = build_swarm("qudrc", Problem(tuple(objs)), dg,
                         qudrc_params(rho=rho, quantization_level=delta, max_iterations=2, seed=seed, watchdog=50_000),
                         record=True)
    res = simulate(agents, max_rounds=200_000)
    assert res.converged and all(a.done for a in agents.values())
    trajs = [np.array(agents[i].trajectory)[:, 0] for i in range(n)]
    changes = {tuple(np.nonzero(np.diff(t))[0]) for t in trajs}
    assert len(changes) == 1 and len(next(iter(changes))) == 1, changes
    x0 = np.array([t[0] for t in trajs])
    x1 = np.array([t[-1] for t in trajs])
    inv = lambda x: ((prec + rho) * x - prec * means) / rho  # noqa: E731  (prox^-1 of a_i/2 (x - m_i)^2)
    lam0 = -rho * inv(x0)
    v0 = x0 - (rho * (0 - x0) - lam0) / rho
    z = (inv(x1) + v0) / 2
    assert np.max(np.abs(z - z[0])) <= 1e-9
    assert abs(z[0] / delta - round(z[0] / delta)) <= 1e-6
    assert v0.mean() - 2 * delta < z[0] <= v0.mean() + 1e-12


# ----------------------------------------------------------------------------- decentralized stop rule
def test_stop_counter_is_a_min_consensus() -> None:
    """``g_i = 1 + min_j g_j`` when the local test passes, 0 when it fails or a neighbour was never heard."""
    s = ToleranceStopper(1e-3, threshold=4)
    assert not s.update(True, [0, 7]) and s.count == 1  # a max would give 8 and stop
    assert not s.update(True, [2, 9]) and s.count == 3
    assert s.update(True, [3, 5]) and s.count == 4
    assert not s.update(False, [9, 9]) and s.count == 0
    assert not s.update(True, None) and s.count == 0
    assert not ToleranceStopper(0.0, 1).update(True, [5])  # tolerance 0 disables the rule
    lone = ToleranceStopper(1e-3, threshold=3)
    assert [lone.update(True, []) for _ in range(1)] == [True]  # no neighbours: nothing to wait for


def test_min_consensus_waits_for_the_farthest_robot() -> None:
    """A constructed case on the 8-path: every robot's local test passes except robot 7's for the first 10 rounds.
    With min-consensus robot 0 reaches ``diameter + patience`` only once robot 7 has passed for ``patience``
    rounds and the news has travelled 7 hops; a max-consensus counter would stop robot 0 after 10 rounds."""
    n, patience = 8, 3
    threshold = (n - 1) + patience
    stoppers = [ToleranceStopper(1e-3, threshold) for _ in range(n)]
    first_stop = None
    for k in range(1, 60):
        counts = [s.count for s in stoppers]
        stops = []
        for i, s in enumerate(stoppers):
            nbr = [counts[j] for j in (i - 1, i + 1) if 0 <= j < n]
            stops.append(s.update(not (i == 7 and k <= 10), nbr))
        if any(stops):
            first_stop = k
            break
    # A max-consensus counter would stop robot 0 at round `threshold` = 10, while robot 7 still fails its test.
    # With min-consensus no robot stops before robot 7 has passed for `patience` rounds and its counter has
    # travelled the path: g_0 >= threshold needs every robot within threshold - 1 hops to have passed that long.
    assert first_stop is not None and first_stop > threshold
    assert first_stop >= 10 + patience + (n - 1) - 1


def test_swarm_stop_certifies_every_robot_and_floods_within_a_diameter() -> None:
    """Average consensus on the 8-path from a spike at robot 7 (robots near 0 sit still for rounds, so a counter
    that does not wait for the far end would stop them early). When the first robot stops converged, every robot
    has passed its local test (moved less than ``tol * max(1, |x|)``) in each of the last ``patience`` rounds, every
    robot stops within ``diameter`` rounds of the first, and all stop converged."""
    n, tol, patience = 8, 1e-3, 3
    g = make_graph("path", n)
    values = np.zeros((n, 1))
    values[7] = 10.0
    agents = consensus_swarm(values, g, max_iterations=2000, tolerance=tol, patience=patience, record=True)
    stopped_at: dict[int, int] = {}

    def watch(k: int, a) -> None:
        for i, agent in a.items():
            if agent.done and i not in stopped_at:
                stopped_at[i] = k

    simulate(agents, on_round=watch)
    assert len(stopped_at) == n and all(a.stop_reason is StopReason.CONVERGED for a in agents.values())
    first = min(stopped_at.values())
    assert max(stopped_at.values()) - first <= g.diameter()
    trajs = [np.array(agents[i].trajectory)[:, 0] for i in range(n)]
    for i in range(n):
        for k in range(first - patience + 1, first + 1):
            moved = abs(trajs[i][k] - trajs[i][k - 1])
            assert moved <= tol * max(1.0, abs(trajs[i][k])), (i, k, moved)
    # robot 0 sits still (local test passes) for the first 6 rounds: its stop must come much later than that
    assert first > 2 * g.diameter()


def reference_stop_round(traj: np.ndarray, graph, tol: float, patience: int) -> int:
    """First round at which some robot's min-consensus counter reaches ``diameter + patience`` ("Decentralized
    stopping rule"), from the iterates alone: local test ``|x^k - x^{k-1}| <= tol max(1, |x^k|)``, counter
    ``g_i^k = 1 + min_j g_j^{k-1}`` (the neighbours' counters ride on their previous messages), ``g^0 = 0``."""
    n = traj.shape[1]
    threshold = graph.diameter() + patience
    g = np.zeros(n, dtype=int)
    for k in range(1, traj.shape[0]):
        new = np.zeros(n, dtype=int)
        for i in range(n):
            moved = np.linalg.norm(traj[k, i] - traj[k - 1, i])
            if moved <= tol * max(1.0, np.linalg.norm(traj[k, i])):
                new[i] = 1 + min(g[j] for j in graph.neighbors(i))
        g = new
        if np.any(g >= threshold):
            return k
    raise AssertionError("the reference rule never stops")


@pytest.mark.parametrize("name", ["dgd", "diging", "semi_atc", "consensus"])
def test_stop_round_is_the_documented_rule(name: str) -> None:
    """For the "my iterate moved less than tol max(1, |x|)" algorithms, the first robot stops exactly at the round
    the documented counter gives (computed here from the recorded iterates), the rest within a diameter after,
    all converged. A counter taking the max, a wrong scale or a wrong threshold stops at another round."""
    g, tol, patience = make_graph("path", 5), 1e-5, 2
    rng = np.random.default_rng(6)
    objs = [QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in zip(rng.uniform(1, 3, 5),
                                                                                 rng.normal(scale=4, size=5),
                                                                                 strict=True)]
    if name == "consensus":
        agents = consensus_swarm(rng.normal(scale=4, size=(5, 1)), g, 5000, tolerance=tol, patience=patience,
                                 record=True)
    else:
        from distopt_ros.core.registry import ALGORITHM_SPECS

        if name not in ALGORITHM_SPECS:
            pytest.skip(f"{name} is not registered")
        agents = build_swarm(name, Problem(tuple(objs)), g, {"step": 0.1, "max_iterations": 5000, "tolerance": tol,
                                                             "stop_patience": patience}, record=True)
    stopped_at: dict[int, int] = {}

    def watch(k: int, a) -> None:
        for i, agent in a.items():
            if agent.done and i not in stopped_at:
                stopped_at[i] = k

    simulate(agents, on_round=watch)
    assert all(a.stop_reason is StopReason.CONVERGED for a in agents.values())
    length = min(len(agents[i].trajectory) for i in range(5))
    traj = np.stack([np.array(agents[i].trajectory)[:length] for i in range(5)], axis=1)
    first = min(stopped_at.values())
    assert first == reference_stop_round(traj, g, tol, patience)
    assert max(stopped_at.values()) - first <= g.diameter()


@pytest.mark.parametrize("name", ["radmm", "atg", "coupled", "atc"])
def test_edge_and_tracking_algorithms_stop_converged_and_together(name: str) -> None:
    """The other decentralized algorithms with their own local tests (rho != 1, so a residual scaled by rho instead
    of divided shows in the accuracy): everyone stops ``converged`` within a diameter of the first, near the
    optimum, and a stop never comes before the iterates have settled to the tolerance."""
    from distopt_ros.core.algorithms.coupled import CoupledProblem
    from distopt_ros.core.registry import ALGORITHM_SPECS

    if name not in ALGORITHM_SPECS:
        pytest.skip(f"{name} is not registered")
    g, tol, patience = make_graph("path", 4), 1e-7, 2
    rng = np.random.default_rng(10)
    objs = [QuadraticObjective(np.array([[a]]), np.array([c]) + 2.0) for a, c in zip(rng.uniform(1, 3, 4),
                                                                                        rng.normal(scale=3, size=4),
                                                                                        strict=True)]
    params = {"rho": 2.5, "alpha": 0.6, "gamma": 0.3, "delta": 0.2, "kappa": 1.0, "step": 0.2,
              "max_iterations": 20_000, "tolerance": tol, "stop_patience": patience}
    if name == "coupled":
        prob = CoupledProblem(objs, [np.ones((1, 1))] * 4, [np.array([1.5])] * 4)
        optimum = np.concatenate(prob.solve()[0])
    else:
        prob = Problem(tuple(objs))
        optimum = prob.centralized_optimum()
    agents = build_swarm(name, prob, g, params, record=True)
    stopped_at: dict[int, int] = {}

    def watch(k: int, a) -> None:
        for i, agent in a.items():
            if agent.done and i not in stopped_at:
                stopped_at[i] = k

    simulate(agents, on_round=watch)
    assert all(a.stop_reason is StopReason.CONVERGED for a in agents.values()), [a.stop_reason for a in agents.values()]
    assert max(stopped_at.values()) - min(stopped_at.values()) <= g.diameter() + (1 if name == "atc" else 0)
    final = np.array([agents[i].estimate() for i in range(4)]).reshape(-1) if name == "coupled" else \
        np.array([agents[i].estimate() for i in range(4)])
    err = np.max(np.abs(final - (optimum if name == "coupled" else optimum[None, :])))
    assert err <= 1e-4, err
    traj = np.array(agents[0].trajectory)
    first = min(stopped_at.values())
    step_len = 2 if name == "atc" else 1
    moved = np.abs(traj[first] - traj[first - step_len]).max()
    assert moved <= 10 * tol * max(1.0, float(np.abs(traj[first]).max())), moved


def _record_kinds(agent, sink: set[str]) -> None:
    """Wrap the agent's send hook so every message kind it sends lands in ``sink``."""
    original = agent._send

    def send(out: list) -> list:
        sink.update(m.kind for m in out)
        return original(out)

    agent._send = send


def test_message_kinds_named_in_the_doc() -> None:
    """The message kinds docs/algorithms.md names in each section's "Message blocks" (``edge``, ``proposal``,
    ``consensus``, ``global_model``, ``client_model``, ``price``, ``adapt``/``track``): receivers over ROS and the
    recorder tell payloads apart by them."""
    from distopt_ros.core.algorithms.federated import primal_dual_swarm
    from distopt_ros.core.registry import ALGORITHM_SPECS
    from distopt_ros.core.resources import ResourceProblem

    prob = Problem(tuple(QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in ((1, 4), (2, 1), (3, 2))))
    g = make_graph("path", 3)
    expected = {"radmm": ({"edge"}, set()), "atg": ({"edge"}, set()), "coupled": ({"edge"}, set()),
                "admm": ({"proposal"}, {"consensus"}), "rcaladin": ({"proposal"}, {"consensus"}),
                "fedavg": ({"client_model"}, {"global_model"}), "price": (set(), {"price"}),
                "atc": ({"adapt", "track"}, set())}
    base = {"rho": 1.0, "alpha": 0.5, "gamma": 0.5, "delta": 0.1, "kappa": 1.0, "step": 0.1, "max_iterations": 4,
            "tolerance": 0.0, "stop_patience": 1}
    for name, (robot_kinds, coord_kinds) in expected.items():
        if name not in ALGORITHM_SPECS:
            continue
        if name == "coupled":
            from distopt_ros.core.algorithms.coupled import CoupledProblem
            problem = CoupledProblem(list(prob.objectives), [np.ones((1, 1))] * 3, [np.ones(1)] * 3)
        elif name == "price":
            problem = ResourceProblem([QuadraticCost([a]) for a in (1.0, 2.0, 4.0)], 7.0)
        else:
            problem = prob
        agents = build_swarm(name, problem, g, base)
        kinds: dict[bool, set[str]] = {True: set(), False: set()}
        for i, a in agents.items():
            _record_kinds(a, kinds[i == COORDINATOR])
        simulate(agents, max_rounds=4)
        if robot_kinds:
            assert kinds[False] == robot_kinds, (name, kinds)
        if coord_kinds:
            assert kinds[True] == coord_kinds, (name, kinds)
    pd = primal_dual_swarm(prob, 3, "minmax", 0.1, 0.1)
    msgs = pd[COORDINATOR].start()
    assert {m.kind for m in msgs} == {"model"}
    for i in range(3):
        pd[i].receive(msgs[0])
        pd[i].step()
        assert {m.kind for m in pd[i]._outgoing()} == {"loss"}


def test_iteration_cap_final_message_does_not_certify() -> None:
    """A robot that stops at its cap sends counter 0: its neighbours stop too, but with ``iteration_cap``."""
    g = make_graph("path", 4)
    agents = consensus_swarm(np.arange(4.0).reshape(4, 1), g, max_iterations=5, tolerance=1e-9, patience=2)
    agents[0].max_iterations = 3
    simulate(agents)
    assert all(a.done for a in agents.values())
    assert all(a.stop_reason is StopReason.ITERATION_CAP and not a.converged for a in agents.values())


# ----------------------------------------------------------------------------- ISS bound
def _logcosh_cost(a: float, b: float, shift: float) -> SmoothScalarCost:
    """``c(y) = a y^2 / 2 + b log cosh(y - shift)``: curvature between ``a`` (far) and ``a + b`` (near shift)."""
    return SmoothScalarCost(lambda y: 0.5 * a * y * y + b * math.log(math.cosh(y - shift)),
                            lambda y: a * y + b * math.tanh(y - shift), mu=a)


def test_iss_bound_uses_the_worse_contraction_and_holds_on_a_tracking_run() -> None:
    """"Tracking dual ascent and its ISS bound": ``q = max(|1 - step m_d|, |1 - step L_d|)``. Costs whose curvature
    runs from ``mu_i`` to ``L_i = mu_i + b_i`` make ``m_d = sum 1/L_i`` and ``L_d = sum 1/mu_i`` differ; the run
    stays where the dual is flattest (curvature ``m_d``), so its error exceeds a bound built with the ``min``."""
    mus, bs = [1.0, 2.0, 1.5], [6.0, 8.0, 5.0]
    costs = [_logcosh_cost(a, b, 0.0) for a, b in zip(mus, bs, strict=True)]
    m_d = sum(1 / (a + b) for a, b in zip(mus, bs, strict=True))
    l_d = sum(1 / a for a in mus)
    step = 0.5 / l_d
    q_max = max(abs(1 - step * m_d), abs(1 - step * l_d))
    target = lambda k: np.array([0.3 * math.sin(0.05 * k)])  # noqa: E731
    agents = {i: BidderAgent(i, c, None, "dual", step, 400) for i, c in enumerate(costs)}
    agents[COORDINATOR] = AuctioneerAgent(3, 1, target, "dual", step, 400, record=True, p0=[2.0])
    simulate(agents)
    prices = np.array(agents[COORDINATOR].trajectory)[:, 0]

    def p_star(b: float) -> float:
        supply = lambda p: sum(float(c.response(np.array([p]))[0]) for c in costs) - b  # noqa: E731
        return brentq(supply, -50, 50, xtol=1e-14)

    stars = np.array([p_star(float(target(k)[0])) for k in range(len(prices))])
    errors = np.abs(prices - stars)
    drift = float(np.max(np.abs(np.diff(stars))))
    e0 = errors[0]
    bounds = np.array([iss_bound(step, m_d, l_d, e0, drift, k) for k in range(len(prices))])
    assert bounds[5] == pytest.approx(q_max**5 * e0 + drift / (1 - q_max), rel=1e-12)
    assert np.all(errors <= bounds + 1e-12)
    q_min = min(abs(1 - step * m_d), abs(1 - step * l_d))
    wrong = np.array([q_min**k * e0 + drift / (1 - q_min) for k in range(len(prices))])
    assert np.any(errors > wrong), "the case must tell max from min"
    with pytest.raises(ValueError, match="q"):
        iss_bound(3.0 / l_d, m_d, l_d, 1.0, 0.1, 0)


# ----------------------------------------------------------------------------- FedAdam, extragradient, async
def test_fedadam_second_moment_one_round() -> None:
    """FedAdam's ``v <- beta2 v + (1 - beta2) Delta^2`` from ``v = tau^2``, and the step ``m / (sqrt(v) + tau)``."""
    server = FedServer(2, 2, 5, "fedadam", server_step=0.5, beta1=0.6, beta2=0.8, tau=0.1)
    server.start()
    models = [np.array([1.0, -2.0]), np.array([3.0, 0.5])]
    for k, wk in enumerate(models):
        server.receive(Message(sender=k, receiver=COORDINATOR, iteration=0, algorithm="fed", kind="client_model",
                               dim=2, primal=wk, aux=[1.0, 0.0]))
    server.step()
    delta = np.mean(models, axis=0)
    v = 0.8 * 0.01 + 0.2 * delta**2
    m = 0.4 * delta
    np.testing.assert_allclose(server.v, v, rtol=0, atol=1e-15)
    np.testing.assert_allclose(server.w, 0.5 * m / (np.sqrt(v) + 0.1), rtol=0, atol=1e-15)


def test_extragradient_corrector_starts_from_y_not_from_the_prediction() -> None:
    """The corrector ``y+ = Pi(y - step (grad c(y_hat) - A^T p_hat))`` starts from ``y``, with the gradient at
    ``y_hat``."""
    cost = QuadraticCost([2.0], [0.5])
    bidder = BidderAgent(0, cost, None, "extragradient", 0.3, 10, y0=[1.0])
    bidder.start()
    price = lambda k, p, p_hat: Message(sender=COORDINATOR, receiver=BROADCAST, iteration=k,  # noqa: E731
                                        algorithm="price", kind="price", dim=1, consensus=[p], aux=[p_hat])
    bidder.receive(price(0, 0.4, 0.4))
    bidder.step()
    y_hat = 1.0 - 0.3 * (2.0 * 1.0 + 0.5 - 0.4)
    assert bidder.y_hat[0] == pytest.approx(y_hat, abs=1e-15)
    bidder.receive(price(1, 0.9, 0.7))
    bidder.step()
    assert bidder.y[0] == pytest.approx(1.0 - 0.3 * (2.0 * y_hat + 0.5 - 0.7), abs=1e-15)


@pytest.mark.parametrize("kind", ["radmm", "atg"])
def test_asynchronous_agent_uses_each_fresh_message_once(kind: str) -> None:
    """Asynchronous protocol: a message is blended into ``z_ij`` once; a second step without a new message keeps
    ``z`` (and so ``x`` for relaxed ADMM) where the first left it. The message is the neighbour agent's own."""
    fs = [QuadraticObjective(np.array([[2.0]]), np.array([1.0])),
          QuadraticObjective(np.array([[1.0]]), np.array([-3.0]))]
    if kind == "radmm":
        pair = [RelaxedADMMAgent(i, fs[i], [1 - i], rho=1.0, alpha=0.5, max_iterations=10) for i in range(2)]
    else:
        pair = [ATGAgent(i, fs[i], [1 - i], 1.0, 0.5, 0.5, 0.2, 10, x0=[2.0 * i - 1]) for i in range(2)]
    for a in pair:
        a.set_asynchronous(True)
    pair[0].start()
    (msg,) = pair[1].start()
    assert pair[0].receive(msg).accepted
    pair[0].step()
    z_once = pair[0].z[1].copy()
    np.testing.assert_allclose(z_once, 0.5 * np.asarray(msg.consensus), rtol=0, atol=1e-15)
    x_once = pair[0].estimate().copy()
    pair[0].step()
    np.testing.assert_array_equal(pair[0].z[1], z_once)
    if kind == "radmm":
        np.testing.assert_array_equal(pair[0].estimate(), x_once)


# ----------------------------------------------------------------------------- parameters refused by name, defaults
def _bad_constructors() -> list[tuple[str, object, str]]:
    """(label, a call that must raise ValueError, the parameter name the message must contain)."""
    from distopt_ros.core.algorithms.consensus import GossipAgent, PushSumAgent
    from distopt_ros.core.algorithms.coupled import CoupledADMMAgent
    from distopt_ros.core.algorithms.federated import FedClient, PrimalDualServer
    from distopt_ros.core.algorithms.gradient import DGDAgent, DIGingAgent

    f = QuadraticObjective(np.eye(2), np.zeros(2))
    one = np.eye(1, 2)
    w = {0: 0.5, 1: 0.5}
    cases: list[tuple[str, object, str]] = [
        ("atg rho", lambda: ATGAgent(0, f, [1], 0.0, 0.5, 0.5, 0.1, 10), "rho"),
        ("atg alpha", lambda: ATGAgent(0, f, [1], 1.0, 1.0, 0.5, 0.1, 10), "alpha"),
        ("atg gamma", lambda: ATGAgent(0, f, [1], 1.0, 0.5, 1.5, 0.1, 10), "gamma"),
        ("atg delta", lambda: ATGAgent(0, f, [1], 1.0, 0.5, 0.5, 0.0, 10), "delta"),
        ("atg x0", lambda: ATGAgent(0, f, [1], 1.0, 0.5, 0.5, 0.1, 10, x0=[1.0]), "x0"),
        ("atg neighbours", lambda: ATGAgent(0, f, [0, 1], 1.0, 0.5, 0.5, 0.1, 10), "neighbors"),
        ("atg no neighbours", lambda: ATGAgent(0, f, [], 1.0, 0.5, 0.5, 0.1, 10), "neighbors"),
        ("coupled rho", lambda: CoupledADMMAgent(0, f, one, [0.0], [1], 0.0, 0.5, 0.1), "rho"),
        ("coupled alpha", lambda: CoupledADMMAgent(0, f, one, [0.0], [1], 1.0, 0.0, 0.1), "alpha"),
        ("coupled gamma", lambda: CoupledADMMAgent(0, f, one, [0.0], [1], 1.0, 0.5, 0.0), "gamma"),
        ("coupled kappa", lambda: CoupledADMMAgent(0, f, one, [0.0], [1], 1.0, 0.5, 0.1, kappa=-1.0), "kappa"),
        ("coupled shape", lambda: CoupledADMMAgent(0, f, np.eye(2), [0.0], [1], 1.0, 0.5, 0.1), "coupling"),
        ("coupled neighbours", lambda: CoupledADMMAgent(0, f, one, [0.0], [], 1.0, 0.5, 0.1), "neighbors"),
        ("pd step", lambda: PrimalDualServer(2, 2, 5, "minmax", 0.0, 0.1), "step"),
        ("pd dual_step", lambda: PrimalDualServer(2, 2, 5, "minmax", 0.1, -1.0), "dual_step"),
        ("pd mode", lambda: PrimalDualServer(2, 2, 5, "maxmin", 0.1, 0.1), "mode"),
        ("pd weights", lambda: PrimalDualServer(2, 2, 5, "fair", 0.1, 0.1, weights=[1.0]), "weights"),
        ("pd clients", lambda: PrimalDualServer(0, 2, 5, "fair", 0.1, 0.1), "num_clients"),
        ("gossip timeout", lambda: GossipAgent(0, [1.0], [1], 10, timeout=0), "timeout"),
        ("gossip neighbours", lambda: GossipAgent(0, [1.0], [], 10), "neighbors"),
        ("pushsum out_degree", lambda: PushSumAgent(0, [1.0], [1], 0, 10), "out_degree"),
        ("dgd step", lambda: DGDAgent(0, f, [1], w, 0.0, 10), "step"),
        ("dgd decay", lambda: DGDAgent(0, f, [1], w, 0.1, 10, step_decay=0.4), "step_decay"),
        ("dgd variant", lambda: DGDAgent(0, f, [1], w, 0.1, 10, variant="tca"), "variant"),
        ("dgd weights", lambda: DGDAgent(0, f, [1], {0: 0.7, 1: 0.7}, 0.1, 10), "weights"),
        ("diging step", lambda: DIGingAgent(0, f, [1], w, -0.1, 10), "step"),
        ("diging x0", lambda: DIGingAgent(0, f, [1], w, 0.1, 10, x0=[1.0, 2.0, 3.0]), "x0"),
        ("fed epochs", lambda: FedClient(0, f, 2, 0, 0.1), "local_epochs"),
        ("fed step", lambda: FedClient(0, f, 2, 1, 0.0), "local_step"),
        ("fed optimizer", lambda: FedServer(2, 2, 5, "fedsgd"), "optimizer"),
        ("fed fraction", lambda: FedServer(2, 2, 5, fraction=0.0), "fraction"),
        ("fed tau", lambda: FedServer(2, 2, 5, "fedadam", tau=0.0), "tau"),
        ("fed beta1", lambda: FedServer(2, 2, 5, "fedadam", beta1=1.0), "beta1"),
        ("fed beta2", lambda: FedServer(2, 2, 5, "fedadam", beta2=1.5), "beta2"),
        ("price mode", lambda: BidderAgent(0, QuadraticCost([1.0]), None, "auction"), "mode"),
        ("price step", lambda: AuctioneerAgent(2, 1, 1.0, step=0.0), "step"),
    ]
    return cases


@pytest.mark.parametrize("case", range(len(_bad_constructors())))
def test_bad_parameters_are_refused_by_name(case: int) -> None:
    """Every documented parameter range is enforced at construction, and the error names the parameter."""
    _label, make, name = _bad_constructors()[case]
    with pytest.raises(ValueError, match=name):
        make()  # type: ignore[operator]


def test_documented_defaults() -> None:
    """Defaults the doc states: ATG starts at ``x0 = 0`` with the rule disabled (tolerance 0), the fairness server
    weighs clients uniformly without ``weights``, a gossip requester frees itself after ``timeout`` silent wake-ups."""
    from distopt_ros.core.algorithms.consensus import GossipAgent
    from distopt_ros.core.algorithms.federated import PrimalDualServer

    f = QuadraticObjective(np.eye(2), np.ones(2))
    atg = ATGAgent(0, f, [1], 1.0, 0.5, 0.5, 0.1, 10)
    np.testing.assert_array_equal(atg.estimate(), np.zeros(2))
    assert atg.stopper.tolerance == 0.0 and atg.stopper.threshold == 1
    server = PrimalDualServer(4, 2, 5, "fair", 0.1, 0.1)
    np.testing.assert_allclose(server.p, 0.25)
    np.testing.assert_array_equal(server.lam, np.zeros(4))
    np.testing.assert_allclose(PrimalDualServer(4, 2, 5, "minmax", 0.1, 0.1).lam, 0.25)
    node = GossipAgent(0, [1.0], [1], 100, timeout=3)
    node.set_asynchronous(True)
    node.start()
    kinds = [[m.kind for m in node.step()] for _ in range(8)]
    assert kinds[0] == ["req"] and kinds[1:5] == [[]] * 4 and kinds[5] == ["req"], kinds
