"""The consensus family (graphs, consensus, DGD, DIGing, ADMM, ATG, stopping; docs/algorithms.md) in the simulator."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from distopt_ros.core.algorithms.admm import (
    ConsensusADMMAgent,
    ConsensusADMMCoordinator,
    RelaxedADMMAgent,
    radmm_optimal_penalty_regular,
)
from distopt_ros.core.algorithms.atg import ATGAgent
from distopt_ros.core.algorithms.consensus import (
    GossipAgent,
    PushSumAgent,
    consensus_swarm,
    gossip_averaging_time,
)
from distopt_ros.core.algorithms.gradient import DGDAgent, DIGingAgent
from distopt_ros.core.graphs import (
    Digraph,
    Graph,
    best_laplacian_step,
    consensus_rate,
    make_digraph,
    make_graph,
    metropolis_row,
    predicted_consensus_iterations,
)
from distopt_ros.core.messages import COORDINATOR
from distopt_ros.core.network import BernoulliLoss, GilbertElliottLoss, NetworkModel
from distopt_ros.core.problems import Problem, QuadraticObjective
from distopt_ros.core.stopping import StoppingRule
from distopt_ros.sim.simulator import simulate

A = [1.0, 2.0, 3.0, 4.0]
C = [4.0, 1.0, 2.0, -1.0]
P4 = make_graph("path", 4)


def t1():
    return [QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in zip(A, C, strict=True)]


def traj(res, n=4):
    return np.array([res.trajectories[i][:, 0] for i in range(n)]).T


def random_problem(n, dim, seed):
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(n):
        m = rng.normal(size=(dim, dim))
        objs.append(QuadraticObjective(0.3 * m @ m.T + np.eye(dim), rng.normal(size=dim) * 3))
    return objs, Problem(tuple(objs)).centralized_optimum()


# ----------------------------------------------------------------------------- graphs and spectral quantities
def test_metropolis_weights_and_rates_golden():
    w = P4.metropolis_weights()
    expected = np.array([[2, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 2]]) / 3
    np.testing.assert_allclose(w, expected, atol=1e-15)
    assert consensus_rate(w) == pytest.approx(0.804738, abs=1e-6)
    assert consensus_rate(make_graph("ring", 4).metropolis_weights()) == pytest.approx(1 / 3, abs=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(P4.laplacian()), [0, 0.5858, 2, 3.4142], atol=1e-4)
    for n in (4, 8, 16, 32):  # ring closed form 1 - sigma = 2/3 (1 - cos(2 pi / N))
        gap = 1 - consensus_rate(make_graph("ring", n).metropolis_weights())
        assert gap == pytest.approx(2 / 3 * (1 - np.cos(2 * np.pi / n)), rel=1e-9)
    eps, rate = best_laplacian_step(P4)
    assert consensus_rate(np.eye(4) - eps * P4.laplacian()) == pytest.approx(rate, abs=1e-12)


def test_disconnected_and_not_strongly_connected_graphs_refused():
    with pytest.raises(ValueError, match="connected"):
        Graph(nx.Graph([(0, 1), (2, 3)]))
    with pytest.raises(ValueError, match="strongly connected"):
        Digraph(nx.DiGraph([(0, 1), (1, 2)]))
    with pytest.raises(ValueError, match="topology"):
        make_digraph("moebius", 4)
    d = make_digraph("directed_ring", 5)
    assert d.out_neighbors(0) == (1,) and d.in_neighbors(0) == (4,) and d.diameter() == 4
    r = make_digraph("random_strongly_connected", 12, seed=3)
    assert nx.is_strongly_connected(r.nx_graph)
    assert r.edges == make_digraph("random_strongly_connected", 12, seed=3).edges


# ----------------------------------------------------------------------------- consensus, push-sum, gossip
def test_average_consensus_golden_67_iterations():
    res = simulate(consensus_swarm(np.array([4.0, 1, 2, -1]), P4, 200, record=True))
    err = np.abs(traj(res) - 1.5).max(axis=1)
    assert int(np.argmax(err <= 1e-6)) == 67
    assert predicted_consensus_iterations(P4.metropolis_weights(), 2.25, 1e-6) == pytest.approx(67.3, abs=0.05)


def test_average_consensus_stops_itself_on_tolerance():
    g = make_graph("grid", 9)
    vals = np.arange(18.0).reshape(9, 2)
    agents = consensus_swarm(vals, g, 10_000, tolerance=1e-12)
    res = simulate(agents)
    assert res.converged and max(res.iterations.values()) < 10_000
    assert res.max_error(vals.mean(axis=0)) < 1e-9


def test_gossip_conserves_the_sum_and_reaches_the_average():
    vals = [4.0, 1.0, 2.0, -1.0]
    agents = {i: GossipAgent(i, [v], P4.neighbors(i), 100_000, seed=5) for i, v in enumerate(vals)}
    net = NetworkModel(activation_probability=0.25, seed=1)
    simulate(agents, network=net, max_rounds=1600)
    for a in agents.values():
        a.initiating = False
    simulate(agents, network=net, max_rounds=200)  # let the handshakes under way finish
    assert all(a.idle for a in agents.values())
    assert sum(float(a.x[0]) for a in agents.values()) == pytest.approx(6.0, abs=1e-12)
    assert max(abs(float(a.x[0]) - 1.5) for a in agents.values()) < 1e-6
    assert 50 < gossip_averaging_time(P4, 1e-6) < 400


def test_push_sum_averages_on_a_digraph():
    d = make_digraph("random_strongly_connected", 7, seed=2)
    vals = np.random.default_rng(0).normal(size=(7, 3))
    agents = {i: PushSumAgent(i, vals[i], d.in_neighbors(i), len(d.out_neighbors(i)), 400) for i in range(7)}
    res = simulate(agents)
    assert res.max_error(vals.mean(axis=0)) < 1e-10


# ----------------------------------------------------------------------------- DGD and DIGing
def test_dgd_golden_iterates_and_biased_limit():
    agents = {i: DGDAgent(i, t1()[i], P4.neighbors(i), metropolis_row(P4, i), 0.05, 4000, record=True)
              for i in range(4)}
    x = traj(simulate(agents))
    np.testing.assert_allclose(x[1], [0.2, 0.1, 0.3, -0.2], atol=1e-12)
    np.testing.assert_allclose(x[2], [0.356667, 0.29, 0.321667, -0.193333], atol=1e-6)
    np.testing.assert_allclose(x[3], [0.516611, 0.393778, 0.391194, -0.183], atol=1e-6)
    np.testing.assert_allclose(x[-1], [1.6149018, 1.25713707, 0.97651346, 0.23532092], atol=1e-7)


def test_dgd_diminishing_step_approaches_the_optimum():
    agents = {i: DGDAgent(i, t1()[i], P4.neighbors(i), metropolis_row(P4, i), 0.2, 20_000, step_decay=0.75)
              for i in range(4)}
    res = simulate(agents, optimum=np.array([0.8]))
    assert res.error_history[2000] > res.error_history[-1]
    assert res.max_error(np.array([0.8])) < 0.02  # O(alpha_k) bias, shrinking; 8e-4 after 2e5 iterations


def test_diging_golden_iterates_and_exact_limit():
    agents = {i: DIGingAgent(i, t1()[i], P4.neighbors(i), metropolis_row(P4, i), 0.1, 500, record=True)
              for i in range(4)}
    res = simulate(agents)
    x = traj(res)
    np.testing.assert_allclose(x[1], [0.4, 0.2, 0.6, -0.4], atol=1e-12)
    np.testing.assert_allclose(x[2], [0.626667, 0.76, 0.086667, 0.026667], atol=1e-6)
    np.testing.assert_allclose(x[3], [0.964, 0.581333, 0.580667, -0.077333], atol=1e-6)
    assert res.max_error(np.array([0.8])) < 1e-12


# ----------------------------------------------------------------------------- ADMM and ATG
def test_atg_golden_iterates_and_limit():
    agents = {i: ATGAgent(i, t1()[i], P4.neighbors(i), 1.0, 0.5, 0.5, 0.2, 500, record=True) for i in range(4)}
    res = simulate(agents)
    x = traj(res)
    np.testing.assert_allclose(x[1], [0.2, 0.066667, 0.2, -0.2], atol=1e-6)
    np.testing.assert_allclose(x[2], [0.373333, 0.24, 0.268889, -0.21], atol=1e-6)
    np.testing.assert_allclose(x[3], [0.531333, 0.402519, 0.295704, -0.131056], atol=1e-6)
    assert res.max_error(np.array([0.8])) < 1e-12


def test_radmm_equals_shi_dadmm():
    """Relaxed ADMM at alpha = 1/2 generates Shi et al.'s D-ADMM iterates with c = rho/2."""
    rho = 1.0
    c = rho / 2
    agents = {i: RelaxedADMMAgent(i, t1()[i], P4.neighbors(i), rho, 0.5, 30, record=True) for i in range(4)}
    x_radmm = traj(simulate(agents))
    a, cc = np.array(A), np.array(C)
    deg = np.array([P4.degree(i) for i in range(4)], dtype=float)
    adj = nx.to_numpy_array(P4.nx_graph, nodelist=range(4))
    x, dual = np.zeros(4), np.zeros(4)
    for k in range(30):
        # grad f_i(x+) + alpha_i + 2 c d_i x+ - c (d_i x_i + sum_j x_j) = 0, then the dual step
        x = (a * cc - dual + c * (deg * x + adj @ x)) / (a + 2 * c * deg)
        dual = dual + c * (deg * x - adj @ x)
        np.testing.assert_allclose(x, x_radmm[k], atol=1e-12)


def test_global_admm_residual_balancing_converges():
    objs, opt = random_problem(6, 3, seed=4)
    agents = {i: ConsensusADMMAgent(i, objs[i], rho=0.01, max_iterations=5000) for i in range(6)}
    plain = simulate({**agents, COORDINATOR: ConsensusADMMCoordinator(6, 3, 0.01, 5000, tolerance=1e-10)})
    agents = {i: ConsensusADMMAgent(i, objs[i], rho=0.01, max_iterations=5000) for i in range(6)}
    coord = ConsensusADMMCoordinator(6, 3, 0.01, 5000, tolerance=1e-10, residual_balancing=True)
    balanced = simulate({**agents, COORDINATOR: coord})
    assert balanced.max_error(opt, list(range(6))) < 1e-8
    assert balanced.rounds < plain.rounds  # a badly chosen rho is repaired
    assert coord.rho != 0.01


def test_radmm_optimal_penalty_on_regular_graphs():
    g = make_graph("ring", 6)
    rho_star, rate = radmm_optimal_penalty_regular(g, 1.0)
    assert rho_star / 2 == pytest.approx(0.28868, abs=1e-4)
    c = np.random.default_rng(0).normal(size=6)
    objs = [QuadraticObjective(np.eye(1), [ci]) for ci in c]
    errs = {}
    for scale in (0.6, 1.0, 1.6):
        agents = {i: RelaxedADMMAgent(i, objs[i], g.neighbors(i), scale * rho_star, 0.5, 60) for i in range(6)}
        errs[scale] = simulate(agents, optimum=np.array([c.mean()])).error_history
    assert errs[1.0][50] < errs[0.6][50] and errs[1.0][50] < errs[1.6][50]
    observed = (errs[1.0][50] / errs[1.0][20]) ** (1 / 30)
    assert observed == pytest.approx(rate, abs=0.05)
    with pytest.raises(ValueError, match="regular"):
        radmm_optimal_penalty_regular(P4, 1.0)


# ----------------------------------------------------------------------------- loss and asynchrony
def _swarm(kind, objs, g, tol=0.0, max_it=40_000):
    n = len(objs)
    stop = {"tolerance": tol, "stop_threshold": g.diameter() + 3}
    if kind == "radmm":
        return {i: RelaxedADMMAgent(i, objs[i], g.neighbors(i), 1.0, 0.8, max_it, **stop) for i in range(n)}
    if kind == "atg":
        return {i: ATGAgent(i, objs[i], g.neighbors(i), 1.0, 0.5, 0.5, 0.1, max_it, **stop) for i in range(n)}
    # DIGing's step must shrink with the curvature; 0.3 / L_max was stable on every seeded draw.
    step = min(0.1, 0.3 / max(float(np.linalg.eigvalsh(o.precision).max()) for o in objs))
    return {i: DIGingAgent(i, objs[i], g.neighbors(i), metropolis_row(g, i), step, max_it, **stop) for i in range(n)}


@pytest.mark.parametrize("kind", ["radmm", "atg"])
def test_robust_methods_converge_under_loss_and_asynchrony(kind):
    objs, opt = random_problem(6, 2, seed=7)
    g = make_graph("ring", 6)
    net = NetworkModel(loss="bernoulli", loss_probability=0.3, activation_probability=0.5, seed=3)
    res = simulate(_swarm(kind, objs, g), network=net, optimum=opt, max_rounds=20_000)
    assert res.messages_dropped > 0
    assert res.max_error(opt) < 1e-8


def test_diging_breaks_under_loss_where_atg_does_not():
    """One lost message breaks DIGing's tracking invariant for good."""
    objs, opt = random_problem(6, 2, seed=7)
    g = make_graph("ring", 6)
    lossless = simulate(_swarm("diging", objs, g), optimum=opt, max_rounds=3000)
    net = NetworkModel(loss="bernoulli", loss_probability=0.1, seed=3)
    lossy = simulate(_swarm("diging", objs, g), network=net, optimum=opt, max_rounds=3000)
    assert lossless.max_error(opt) < 1e-10
    assert lossy.max_error(opt) > 1e-3


def test_gilbert_elliott_loss_is_bursty_with_the_requested_rate():
    ge = GilbertElliottLoss(0.05, 0.25, seed=1)
    drops = np.array([ge.drop(0, 1) for _ in range(40_000)])
    assert drops.mean() == pytest.approx(ge.stationary_loss, abs=0.02)
    bern = BernoulliLoss(drops.mean(), seed=1)
    iid = np.array([bern.drop(0, 1) for _ in range(40_000)])
    burst = lambda d: d.sum() / max(1, np.sum(np.diff(d.astype(int)) == 1))  # noqa: E731
    assert burst(drops) > 2 * burst(iid)
    again = GilbertElliottLoss(0.05, 0.25, seed=1)
    assert np.array_equal(drops, [again.drop(0, 1) for _ in range(40_000)])


def test_quantized_payloads_cost_fewer_bits_and_bound_the_error():
    objs, opt = random_problem(5, 2, seed=1)
    g = make_graph("ring", 5)
    exact = simulate(_swarm("radmm", objs, g), optimum=opt, max_rounds=400)
    net = NetworkModel(quantization_step=1e-4, quantization_bits=24, seed=0)
    quant = simulate(_swarm("radmm", objs, g), network=net, optimum=opt, max_rounds=400)
    assert quant.bits_sent < exact.bits_sent
    assert 1e-12 < quant.max_error(opt) < 1e-2


# ----------------------------------------------------------------------------- decentralized stopping rule
def test_stopping_rule_waits_for_progress_and_agreement():
    rule = StoppingRule(window=5, patience=3, eps_f=1e-6, eps_c=1e-6, max_rounds=1000)
    w = [0.5, 0.5]
    decisions = [rule.update([np.array([1.0]), np.array([1.0 + 0.5**t])], w, 1.0 + 0.5**t) for t in range(60)]
    first = decisions.index(True)
    assert 20 < first < 40  # needs both the residual ~ 2^-2t and the progress ~ 2^-t below 1e-6
    with pytest.raises(ValueError, match="weights"):
        rule.update([np.zeros(1)], [0.3], 0.0)


def test_decentralized_stop_for_gradient_trackers():
    objs, opt = random_problem(8, 2, seed=2)
    g = make_graph("random_geometric", 8, seed=2)
    agents = {i: ATGAgent(i, objs[i], g.neighbors(i), 1.0, 0.5, 0.5, 0.1, 100_000, tolerance=1e-11,
                          stop_threshold=g.diameter() + 3) for i in range(8)}
    res = simulate(agents)
    assert res.converged and max(res.iterations.values()) < 100_000
    assert res.max_error(opt) < 1e-8


# ----------------------------------------------------------------------------- property tests
@settings(max_examples=15, deadline=None)
@example(n=7, seed=102, kind="diging")  # diverged with a fixed step 0.1 (L_max = 3.7); must not claim convergence
@given(n=st.integers(3, 8), seed=st.integers(0, 10_000), kind=st.sampled_from(["radmm", "diging", "atg"]))
def test_random_connected_graphs_and_data_reach_the_optimum(n, seed, kind):
    g = make_graph("erdos_renyi", n, seed=seed)
    objs, opt = random_problem(n, 2, seed)
    res = simulate(_swarm(kind, objs, g, tol=1e-12, max_it=20_000), optimum=opt)
    assert res.converged
    assert res.max_error(opt) < 1e-8


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make,needle", [
    (lambda: DGDAgent(0, t1()[0], [1], metropolis_row(P4, 0), -0.1, 10), "step"),
    (lambda: DGDAgent(0, t1()[0], [1], {0: 0.5, 1: 0.2}, 0.1, 10), "weights"),
    (lambda: DIGingAgent(0, t1()[0], [1], metropolis_row(P4, 0), 0.0, 10), "step"),
    (lambda: ATGAgent(0, t1()[0], [1], 1.0, 0.5, 1.5, 0.1, 10), "gamma"),
    (lambda: ATGAgent(0, t1()[0], [1], -1.0, 0.5, 0.5, 0.1, 10), "rho"),
    (lambda: RelaxedADMMAgent(0, t1()[0], [1], 1.0, 0.0, 10), "alpha"),
    (lambda: DGDAgent(0, t1()[0], [1], metropolis_row(P4, 0), 0.1, 10, x0=[1.0, 2.0]), "x0"),
    (lambda: consensus_swarm(np.array([1.0, np.nan, 0, 0]), P4, 10), "value"),
    (lambda: NetworkModel(loss="bernoulli", loss_probability=1.5), "loss_probability"),
    (lambda: NetworkModel(activation_probability=0.0), "activation_probability"),
    (lambda: NetworkModel(loss="carrier-pigeon"), "loss"),
    (lambda: Problem((QuadraticObjective(np.eye(1), [0.0]), QuadraticObjective(np.eye(2), [0.0, 0.0]))), "dimension"),
])
def test_bad_input_names_the_argument(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


# ----------------------------------------------------------------------------- more golden values
def test_radmm_lossy_async_golden():
    """30 % loss and 70 % activation still reach 0.8 (error < 1e-15 after 3000 iterations)."""
    agents = {i: RelaxedADMMAgent(i, t1()[i], P4.neighbors(i), 1.0, 0.5, 10**6) for i in range(4)}
    net = NetworkModel(loss="bernoulli", loss_probability=0.3, activation_probability=0.7, seed=11)
    res = simulate(agents, network=net, max_rounds=3000)
    assert res.max_error(np.array([0.8])) < 1e-13


def test_atg_slow_setting_and_robust_golden():
    agents = {i: ATGAgent(i, t1()[i], P4.neighbors(i), 1.0, 0.5, 0.1, 0.1, 500) for i in range(4)}
    err = simulate(agents).max_error(np.array([0.8]))
    assert 3e-6 < err < 3e-5  # 9.7e-6 at t = 500
    agents = {i: ATGAgent(i, t1()[i], P4.neighbors(i), 1.0, 0.5, 0.5, 0.2, 10**6) for i in range(4)}
    net = NetworkModel(loss="bernoulli", loss_probability=0.2, activation_probability=0.7, seed=5)
    assert simulate(agents, network=net, max_rounds=20_000).max_error(np.array([0.8])) < 1e-12


def test_diging_step_threshold():
    def final_error(step):
        agents = {i: DIGingAgent(i, t1()[i], P4.neighbors(i), metropolis_row(P4, i), step, 600) for i in range(4)}
        return simulate(agents).max_error(np.array([0.8]))

    assert final_error(0.13) < 1e-6
    assert final_error(0.16) > 1.0  # spectral radius 1.038 at 0.15: diverges


def test_a_diverging_run_never_claims_convergence():
    """inf <= tol * inf: without a finiteness check a blown-up agent would pass its own stopping test."""
    n, seed = 7, 102
    g = make_graph("erdos_renyi", n, seed=seed)
    objs, opt = random_problem(n, 2, seed)
    agents = {i: DIGingAgent(i, objs[i], g.neighbors(i), metropolis_row(g, i), 0.14, 20_000, tolerance=1e-12,
                             stop_threshold=g.diameter() + 3) for i in range(n)}
    with np.errstate(over="ignore", invalid="ignore"):
        res = simulate(agents, optimum=opt)
    assert res.max_error(opt) > 1e50  # blown up (payloads beyond VALUE_BOUND are then refused: the run halts)
    assert not res.converged
