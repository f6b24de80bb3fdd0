"""RC-ALADIN, QuDRC-ALADIN with quantized averaging, and federated learning (see docs/algorithms.md)."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distopt_ros.core.algorithms.aladin import QuantizedAverager, qudrc_swarm, rcaladin_swarm
from distopt_ros.core.algorithms.federated import (
    FedServer,
    fed_swarm,
    fedavg_fixed_point,
    heterogeneity,
    primal_dual_swarm,
    project_simplex,
)
from distopt_ros.core.graphs import Digraph, make_digraph
from distopt_ros.core.messages import COORDINATOR
from distopt_ros.core.problems import Problem, QuadraticObjective
from distopt_ros.sim.simulator import simulate

SEED_DIGRAPH = Digraph(nx.DiGraph([(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 1), (4, 0)]))


def scalar_quadratics(a, c):
    return [QuadraticObjective(np.array([[ai]]), np.array([ci])) for ai, ci in zip(a, c, strict=True)]


T1 = scalar_quadratics([1, 2, 3, 4], [4, 1, 2, -1])
T3 = Problem(tuple(scalar_quadratics([1, 3], [0, 4])))


def run_averaging(values, delta, digraph, diameter, seed=0, watchdog=100_000):
    n = digraph.num_nodes
    nodes = {i: QuantizedAverager(i, np.atleast_1d(values[i]), delta, diameter, digraph.out_neighbors(i),
                                  np.random.default_rng([seed, i])) for i in range(n)}
    total_y = sum(nodes[i].y for i in range(n))
    total_z = sum(nodes[i].z for i in range(n))
    for step in range(1, watchdog + 1):
        pay = {i: nodes[i].emit() for i in range(n)}
        stops = {nodes[i].absorb([pay[i][i], *(pay[j][i] for j in digraph.in_neighbors(i))]) for i in range(n)}
        assert np.array_equal(sum(nodes[i].y for i in range(n)), total_y)  # integer mass conserved exactly
        assert np.array_equal(sum(nodes[i].z for i in range(n)), total_z)
        assert len(stops) == 1  # every node stops at the same step
        if stops.pop():
            return [nodes[i].output for i in range(n)], step
    raise AssertionError("watchdog")


# ----------------------------------------------------------------------------- RC-ALADIN with a coordinator
def test_rcaladin_golden_and_limit():
    agents = rcaladin_swarm(T1, rho=2.0, max_iterations=60, record=True)
    simulate(agents)
    np.testing.assert_allclose(np.array(agents[COORDINATOR].trajectory)[1:4, 0], [1.183333, 0.851667, 0.790722],
                               atol=1e-6)
    np.testing.assert_allclose([agents[i].trajectory[0][0] for i in range(4)], [1.333333, 0.5, 1.2, -0.666667],
                               atol=1e-6)
    np.testing.assert_allclose([agents[i].trajectory[1][0] for i in range(4)], [1.133333, 1.183333, 1.186667,
                                                                                0.566667], atol=1e-6)
    np.testing.assert_allclose([float(agents[i].x[0]) for i in range(4)], [0.8] * 4, atol=1e-12)
    assert abs(sum(float(agents[i].lam[0]) for i in range(4))) < 1e-12


def test_rcaladin_equal_curvature_one_step():
    c = [4.0, 1.0, 2.0, -1.0]
    agents = rcaladin_swarm(scalar_quadratics([2.0] * 4, c), rho=2.0, max_iterations=1, record=True)
    simulate(agents)
    assert agents[COORDINATOR].trajectory[1][0] == pytest.approx(np.mean(c), abs=1e-14)


# ----------------------------------------------------------------------------- finite-time quantized averaging
@pytest.mark.parametrize("delta,expected", [(0.1, 0.5), (0.01, 0.62), (0.001, 0.629)])
def test_quantized_averaging_golden(delta, expected):
    values = [0.31, -1.27, 2.05, 0.66, 1.40]
    outputs, steps = run_averaging(values, delta, SEED_DIGRAPH, 4)
    assert len({float(o[0]) for o in outputs}) == 1
    assert float(outputs[0][0]) == pytest.approx(expected, abs=1e-12)
    assert steps < 500


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 10), seed=st.integers(0, 10_000), exp=st.integers(1, 3), dim=st.integers(1, 3))
def test_quantized_averaging_bound_and_invariants(n, seed, exp, dim):
    delta = 10.0**-exp
    rng = np.random.default_rng(seed)
    values = rng.uniform(-3, 3, size=(n, dim))
    d = make_digraph("random_strongly_connected", n, seed=seed)
    outputs, _ = run_averaging(values, delta, d, d.diameter(), seed=seed)
    mean = values.mean(axis=0)
    for o in outputs:
        np.testing.assert_array_equal(o, outputs[0])
        assert np.all(o > mean - 2 * delta - 1e-12) and np.all(o <= mean + 1e-12)


def test_qudrc_error_shrinks_with_delta_off_grid():
    objs = scalar_quadratics([1, 2, 3, 4, 5], [4, 1, 2, -1, 0.5123457])
    x_star = 0.7041152333333334
    errors = []
    for delta in (1e-2, 1e-3, 1e-4):
        agents = qudrc_swarm(objs, SEED_DIGRAPH, rho=1.0, delta=delta, max_outer=40, seed=0)
        res = simulate(agents)
        assert all(a.done for a in agents.values())
        assert len({len(a.inner_steps) for a in agents.values()}) == 1
        errors.append(max(abs(float(agents[i].x[0]) - x_star) for i in range(5)))
        assert res.bits_sent > 0
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4 and errors[0] < 0.05


def test_qudrc_vector_problem_sends_only_small_integers():
    rng = np.random.default_rng(4)
    objs = []
    for _ in range(6):
        m = rng.normal(size=(3, 3))
        objs.append(QuadraticObjective(m @ m.T + np.eye(3), rng.normal(size=3)))
    x_star = Problem(tuple(objs)).centralized_optimum()
    d = make_digraph("random_strongly_connected", 6, seed=1)
    agents = qudrc_swarm(objs, d, rho=2.0, delta=1e-4, max_outer=30, seed=2)
    quant = simulate(agents)
    err = max(float(np.linalg.norm(agents[i].x - x_star)) for i in range(6))
    assert err < 1e-2
    # Every payload is integers; on average far fewer bits than 64 per value.
    values_sent = quant.messages_sent * 4 * 3
    assert quant.bits_sent < 32 * values_sent


def test_qudrc_refuses_bad_input():
    objs = scalar_quadratics([1, 2, 3], [0, 1, 2])
    with pytest.raises(ValueError, match="strongly connected"):
        qudrc_swarm(objs, Digraph(nx.DiGraph([(0, 1), (1, 2)])), 1.0, 0.01, 5)
    with pytest.raises(ValueError, match="delta"):
        qudrc_swarm(objs, make_digraph("directed_ring", 3), 1.0, 0.0, 5)
    with pytest.raises(ValueError, match="diameter"):
        qudrc_swarm(objs, make_digraph("directed_ring", 3), 1.0, 0.01, 5, diameter=1)


def test_qudrc_watchdog_fires():
    objs = scalar_quadratics([1, 2, 3], [0, 1, 2])
    agents = qudrc_swarm(objs, make_digraph("directed_ring", 3), 1.0, 1e-9, 5, watchdog=3)
    with pytest.raises(RuntimeError, match="watchdog"):
        simulate(agents)


# ----------------------------------------------------------------------------- federated learning
@pytest.mark.parametrize("epochs,expected", [(1, 3.0), (2, 2.914286), (5, 2.680532), (20, 2.128651)])
def test_fedavg_drift_fixed_point(epochs, expected):
    agents = fed_swarm(T3, 400, epochs, 0.1)
    simulate(agents)
    assert float(agents[COORDINATOR].w[0]) == pytest.approx(expected, abs=1e-6)
    assert fedavg_fixed_point([1, 3], [0, 4], [0.5, 0.5], 0.1, epochs) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("optimizer", ["fedadam", "fedyogi"])
@pytest.mark.parametrize("eta", [0.01, 0.03])
def test_fedopt_same_fixed_point(optimizer, eta):
    agents = fed_swarm(T3, 6000, 5, 0.1, optimizer=optimizer, server_step=eta)
    simulate(agents)
    assert float(agents[COORDINATOR].w[0]) == pytest.approx(2.680532, abs=1e-6)


def test_fedadam_hovers_at_large_step_and_adagrad_converges():
    agents = fed_swarm(T3, 4000, 5, 0.1, optimizer="fedadam", server_step=0.1, record=True)
    simulate(agents)
    late = np.array(agents[COORDINATOR].trajectory)[-500:, 0]
    assert 1e-5 < late.std() < 1e-2 and abs(late.mean() - 2.680532) < 1e-2
    agents = fed_swarm(T3, 6000, 5, 0.1, optimizer="fedadagrad", server_step=0.1)
    simulate(agents)
    assert float(agents[COORDINATOR].w[0]) == pytest.approx(2.680532, abs=1e-6)


def test_client_sampling_uses_a_fraction_of_clients_per_round():
    objs = scalar_quadratics([1.0] * 10, np.linspace(-1, 1, 10))
    agents = fed_swarm(Problem(tuple(objs)), 50, 1, 0.5, fraction=0.3, seed=3)
    res = simulate(agents)
    client_msgs = sum(v for k, v in res.sent_per_agent.items() if k >= 0)
    assert client_msgs == 50 * 3  # ceil(0.3 * 10) clients answer each round
    assert abs(float(agents[COORDINATOR].w[0])) < 0.5


def test_heterogeneity_golden():
    assert heterogeneity(T3, [0.5, 0.5]) == pytest.approx(9.0)
    assert heterogeneity(Problem(tuple(T1)), [0.25] * 4) == pytest.approx(18.8)


def test_minmax_and_fairness_constrained_golden():
    agents = primal_dual_swarm(T3, 20_000, "minmax", 0.01, 0.01)
    simulate(agents)
    assert float(agents[COORDINATOR].w[0]) == pytest.approx(2.535898, abs=1e-4)
    np.testing.assert_allclose(agents[COORDINATOR].lam, [0.634, 0.366], atol=1e-3)
    agents = primal_dual_swarm(T3, 20_000, "fair", 0.01, 0.01, weights=[0.5, 0.5], epsilon=3.5)
    simulate(agents)
    assert float(agents[COORDINATOR].w[0]) == pytest.approx(np.sqrt(7), abs=1e-4)
    np.testing.assert_allclose(agents[COORDINATOR].lam, [0.2678, 0.0], atol=1e-3)


def test_simplex_projection():
    p = project_simplex(np.array([0.5, 2.0, -1.0]))
    np.testing.assert_allclose(p, [0.0, 1.0, 0.0])
    q = project_simplex(np.array([0.3, 0.3, 0.3]))
    np.testing.assert_allclose(q, [1 / 3] * 3)


@pytest.mark.parametrize("kwargs,needle", [
    ({"fraction": 1.5}, "fraction"), ({"fraction": 0.0}, "fraction"), ({"optimizer": "sgd"}, "optimizer"),
    ({"tau": 0.0}, "tau"), ({"server_step": -1.0}, "server_step"),
])
def test_fed_bad_input_names_the_argument(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FedServer(2, 1, 10, **kwargs)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 7))
def test_rcaladin_random_least_squares(seed, n):
    from distopt_ros.core.problems import random_least_squares_problem

    problem = random_least_squares_problem(n, 3, seed=seed, rows=5)
    opt = problem.centralized_optimum()
    agents = rcaladin_swarm(problem.objectives, rho=2.0, max_iterations=5000, tolerance=1e-14)
    simulate(agents)
    assert max(float(np.linalg.norm(agents[i].x - opt)) for i in range(n)) < 1e-8


def test_fedavg_single_local_step_solves_least_squares_exactly():
    """E = 1 full-batch FedAvg is centralized gradient descent on sum p_k f_k: no drift, exact optimum."""
    from distopt_ros.core.problems import random_least_squares_problem

    problem = random_least_squares_problem(5, 3, seed=2, rows=8)
    opt = problem.centralized_optimum()
    curvature = max(float(np.max(np.linalg.eigvalsh(o.hessian(opt)))) for o in problem.objectives)
    agents = fed_swarm(problem, 20_000, 1, 1.0 / curvature, num_samples=[8] * 5)
    for a in agents.values():
        a.max_iterations = 6000
    simulate(agents)
    np.testing.assert_allclose(agents[COORDINATOR].w, opt, atol=1e-8)
    agents = fed_swarm(problem, 3000, 5, 0.5 / curvature, num_samples=[8] * 5)
    simulate(agents)
    assert np.linalg.norm(agents[COORDINATOR].w - opt) > 1e-6  # E > 1 with different data: client drift


def test_fedavg_minibatch_sgd_runs_seeded():
    from distopt_ros.core.problems import random_least_squares_problem

    problem = random_least_squares_problem(4, 2, seed=3, rows=12)
    runs = []
    for _ in range(2):
        agents = fed_swarm(problem, 50, 2, 0.01, num_samples=[12] * 4, seed=9)
        for i in range(4):
            agents[i].batch_size = 4
        simulate(agents)
        runs.append(agents[COORDINATOR].w.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.linalg.norm(runs[0] - problem.centralized_optimum()) < 0.5
