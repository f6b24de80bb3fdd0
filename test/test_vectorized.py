"""The vectorized large-swarm simulator reproduces the agent simulator (DGD and relaxed edge ADMM)."""

import numpy as np
import pytest

from distopt_ros.core.algorithms.admm import RelaxedADMMAgent
from distopt_ros.core.algorithms.gradient import DGDAgent
from distopt_ros.core.graphs import make_graph, metropolis_row
from distopt_ros.core.problems import LeastSquaresObjective, Problem, QuadraticObjective, target_fusion_problem
from distopt_ros.sim import vectorized
from distopt_ros.sim.simulator import simulate
from distopt_ros.sim.vectorized import (
    EdgeIndex,
    QuadraticBatch,
    metropolis_sparse,
    run_dgd_vectorized,
    run_radmm_vectorized,
)

# Problem T1 of docs/algorithms.md, "Small reference problems": f_i = a_i/2 (x - c_i)^2, optimum 0.8.
T1 = Problem(tuple(QuadraticObjective(np.array([[a]]), np.array([c]))
                   for a, c in zip([1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 2.0, -1.0], strict=True)))
P4 = make_graph("path", 4)


@pytest.mark.parametrize("topology,seed,rho,alpha", [
    ("ring", 0, 1.3, 0.6), ("grid", 1, 0.7, 0.5), ("random_geometric", 2, 2.0, 0.8), ("star", 3, 1.0, 0.3),
])
def test_lossless_radmm_equals_agent_simulator(topology, seed, rho, alpha):
    problem, _ = target_fusion_problem(9, seed=seed)
    graph = make_graph(topology, 9, seed=seed)
    iters = 40
    vec = run_radmm_vectorized(QuadraticBatch.from_problem(problem), graph, rho, alpha, iters, keep_trajectory=True)
    agents = {i: RelaxedADMMAgent(i, problem.objectives[i], graph.neighbors(i), rho, alpha, iters, record=True)
              for i in range(9)}
    ref = simulate(agents)
    assert vec.trajectory.shape == (iters + 1, 9, 2)
    for i in range(9):
        np.testing.assert_allclose(vec.trajectory[:, i, :], ref.trajectories[i], rtol=0, atol=1e-12)
    # The agents also send one last round after their final update, which nobody consumes.
    final_round = 2 * len(graph.edges)
    assert vec.messages == ref.messages_sent - final_round
    assert vec.bits == 64 * 2 * vec.messages


def test_radmm_golden_scalar_quadratics_path4():
    res = run_radmm_vectorized(QuadraticBatch.from_problem(T1), P4, 1.0, 0.5, 100, keep_trajectory=True)
    x = res.trajectory[:, :, 0]
    np.testing.assert_allclose(x[0], [2, 0.5, 1.2, -0.8], atol=1e-12)
    np.testing.assert_allclose(x[1], [2.25, 1.3, 1.14, -0.56], atol=1e-12)
    np.testing.assert_allclose(x[2], [2.275, 1.6225, 1.078, -0.372], atol=1e-12)
    # Index 0 holds x^1 (from z = 0), so x^100 is index 99: the reference error at k = 100.
    assert res.errors[99] == pytest.approx(2.9e-6, rel=0.05)
    fast = run_radmm_vectorized(QuadraticBatch.from_problem(T1), P4, 1.0, 0.8, 99)
    assert fast.errors[-1] == pytest.approx(2.9e-10, rel=0.05)


def test_dgd_vectorized_golden_and_equal_to_agents():
    batch = QuadraticBatch.from_problem(T1)
    res = run_dgd_vectorized(batch, P4, 0.05, 4000, keep_trajectory=True)
    x = res.trajectory[:, :, 0]
    np.testing.assert_allclose(x[1], [0.2, 0.1, 0.3, -0.2], atol=1e-12)
    np.testing.assert_allclose(x[2], [0.356667, 0.29, 0.321667, -0.193333], atol=1e-6)
    np.testing.assert_allclose(x[3], [0.516611, 0.393778, 0.391194, -0.183], atol=1e-6)
    np.testing.assert_allclose(x[-1], [1.6149018, 1.25713707, 0.97651346, 0.23532092], atol=1e-7)
    agents = {i: DGDAgent(i, T1.objectives[i], P4.neighbors(i), metropolis_row(P4, i), 0.05, 30, record=True)
              for i in range(4)}
    ref = simulate(agents)
    np.testing.assert_allclose(x[:31], np.array([ref.trajectories[i][:, 0] for i in range(4)]).T, atol=1e-12)
    assert res.messages == 6 * 4000 and res.bits == 64 * res.messages


def test_dgd_diminishing_step_matches_agents_and_golden():
    batch = QuadraticBatch.from_problem(T1)
    res = run_dgd_vectorized(batch, P4, 0.2, 50, diminishing_power=0.75, keep_trajectory=True)
    agents = {i: DGDAgent(i, T1.objectives[i], P4.neighbors(i), metropolis_row(P4, i), 0.2, 50,
                          step_decay=0.75, record=True) for i in range(4)}
    ref = simulate(agents)
    np.testing.assert_allclose(res.trajectory[:, :, 0], np.array([ref.trajectories[i][:, 0] for i in range(4)]).T,
                               atol=1e-12)
    long = run_dgd_vectorized(batch, P4, 0.2, 200_000, diminishing_power=0.75, record_every=50_000)
    np.testing.assert_allclose(long.x[:, 0], [0.8005, 0.8003, 0.8001, 0.7996], atol=1e-4)
    assert list(long.error_iterations) == [0, 50_000, 100_000, 150_000, 200_000]


@pytest.mark.parametrize("sparse_mixing", [False, True])
def test_dgd_two_dimensional_swarm_matches_agents_with_shared_start(sparse_mixing, monkeypatch):
    if sparse_mixing:  # the CSR path that large swarms take
        monkeypatch.setattr(vectorized, "_DENSE_MIXING_MAX_AGENTS", 0)
    problem, _ = target_fusion_problem(12, seed=7)
    graph = make_graph("random_geometric", 12, seed=7)
    res = run_dgd_vectorized(QuadraticBatch.from_problem(problem), graph, 0.1, 25, x0=[1.0, -2.0],
                             keep_trajectory=True)
    agents = {i: DGDAgent(i, problem.objectives[i], graph.neighbors(i), metropolis_row(graph, i), 0.1, 25,
                          x0=[1.0, -2.0], record=True) for i in range(12)}
    ref = simulate(agents)
    for i in range(12):
        np.testing.assert_allclose(res.trajectory[:, i, :], ref.trajectories[i], atol=1e-12)


def test_lossy_radmm_still_converges_and_is_reproducible():
    problem, _ = target_fusion_problem(12, seed=4)
    batch = QuadraticBatch.from_problem(problem)
    ring = make_graph("ring", 12)
    kwargs = {"loss_probability": 0.3, "activation_probability": 0.7, "record_every": 100}
    res = run_radmm_vectorized(batch, ring, 1.0, 0.8, 3000, seed=5, **kwargs)
    assert res.errors[-1] < 1e-8
    np.testing.assert_allclose(res.x, np.tile(problem.centralized_optimum(), (12, 1)), atol=1e-8)
    assert 0 < res.messages_dropped < res.messages < 24 * 3000
    assert res.bits == 64 * 2 * res.messages
    again = run_radmm_vectorized(batch, ring, 1.0, 0.8, 3000, seed=5, **kwargs)
    assert np.array_equal(res.x, again.x) and np.array_equal(res.errors, again.errors)
    other = run_radmm_vectorized(batch, ring, 1.0, 0.8, 50, seed=6, **kwargs)
    assert not np.array_equal(other.x, run_radmm_vectorized(batch, ring, 1.0, 0.8, 50, seed=5, **kwargs).x)


def test_scalar_quadratics_lossy_golden_and_degenerate_noise_is_lossless():
    batch = QuadraticBatch.from_problem(T1)
    res = run_radmm_vectorized(batch, P4, 1.0, 0.5, 3000, loss_probability=0.3, activation_probability=0.7, seed=1)
    assert res.errors[-1] < 1e-12
    # Only activation (no loss) and only loss (no sleeping) each still converge.
    assert run_radmm_vectorized(batch, P4, 1.0, 0.5, 3000, activation_probability=0.5).errors[-1] < 1e-10
    assert run_radmm_vectorized(batch, P4, 1.0, 0.5, 3000, loss_probability=0.5).errors[-1] < 1e-10
    # Loss of everything: nothing ever changes after the first prox.
    frozen = run_radmm_vectorized(batch, P4, 1.0, 0.5, 10, loss_probability=1.0, keep_trajectory=True)
    np.testing.assert_array_equal(frozen.trajectory[-1], frozen.trajectory[0])
    assert frozen.messages_dropped == frozen.messages


def test_quadratic_batch_matches_objectives():
    problem, _ = target_fusion_problem(6, seed=3, dim=3)
    batch = QuadraticBatch.from_problem(problem)
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(6, 3)), rng.uniform(0.5, 3.0, size=6)
    objs = problem.objectives
    np.testing.assert_allclose(batch.gradient(x), [o.gradient(x[i]) for i, o in enumerate(objs)], atol=1e-12)
    np.testing.assert_allclose(batch.values(x), [o.value(x[i]) for i, o in enumerate(objs)], atol=1e-12)
    np.testing.assert_allclose(batch.prox(x, t), [o.prox(x[i], t[i]) for i, o in enumerate(objs)], atol=1e-12)
    np.testing.assert_allclose(batch.prox_map(t)(x), batch.prox(x, t), atol=1e-12)
    np.testing.assert_allclose(batch.optimum(), problem.centralized_optimum(), atol=1e-12)


@pytest.mark.parametrize("topology", ["path", "ring", "grid", "star", "random_geometric"])
def test_sparse_metropolis_and_edge_index(topology):
    graph = make_graph(topology, 10, seed=2)
    np.testing.assert_allclose(metropolis_sparse(graph).toarray(), graph.metropolis_weights(), atol=1e-15)
    idx = EdgeIndex.from_graph(graph)
    assert np.array_equal(idx.reverse[idx.reverse], np.arange(idx.num_directed))
    assert np.array_equal(idx.src[idx.reverse], idx.dst) and np.array_equal(idx.dst[idx.reverse], idx.src)
    for i in range(10):
        block = slice(idx.starts[i], idx.starts[i] + idx.degree[i])
        assert tuple(idx.dst[block]) == graph.neighbors(i) and set(idx.src[block]) == {i}


@pytest.mark.parametrize("kwargs,needle", [
    ({"rho": 0.0}, "rho"), ({"rho": -1.0}, "rho"), ({"alpha": 1.0}, "alpha"), ({"alpha": 0.0}, "alpha"),
    ({"loss_probability": 1.5}, "loss_probability"), ({"loss_probability": -0.1}, "loss_probability"),
    ({"activation_probability": 0.0}, "activation_probability"),
    ({"activation_probability": 1.2}, "activation_probability"),
    ({"iterations": 0}, "iterations"), ({"optimum": [1.0, 2.0]}, "optimum"), ({"record_every": 0}, "record_every"),
    ({"seed": -1}, "seed"),
])
def test_radmm_bad_input_names_the_argument(kwargs, needle):
    args = {"rho": 1.0, "alpha": 0.5, "iterations": 10, **kwargs}
    with pytest.raises(ValueError, match=needle):
        run_radmm_vectorized(QuadraticBatch.from_problem(T1), make_graph("ring", 4), **args)


@pytest.mark.parametrize("kwargs,needle", [
    ({"step": 0.0}, "step"), ({"step": -1.0}, "step"), ({"diminishing_power": 0.5}, "diminishing_power"),
    ({"x0": np.zeros((3, 1))}, "x0"), ({"x0": [1.0, 2.0]}, "x0"), ({"graph": make_graph("ring", 5)}, "graph"),
])
def test_dgd_bad_input_names_the_argument(kwargs, needle):
    args = {"graph": make_graph("ring", 4), "step": 0.1, "iterations": 10, **kwargs}
    with pytest.raises(ValueError, match=needle):
        run_dgd_vectorized(QuadraticBatch.from_problem(T1), **args)


def test_batch_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="precision"):
        QuadraticBatch(np.ones((3, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="precision"):
        QuadraticBatch(np.array([[[1.0, 0.0], [0.0, -1.0]]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="mean"):
        QuadraticBatch(np.ones((1, 1, 1)), [[np.nan]])
    with pytest.raises(ValueError, match="problem"):
        QuadraticBatch.from_problem(Problem((LeastSquaresObjective(np.eye(2), np.ones(2)),)))
    batch = QuadraticBatch.from_problem(T1)
    with pytest.raises(ValueError, match="t must"):
        batch.prox(np.zeros((4, 1)), 0.0)
    with pytest.raises(ValueError, match="v must"):
        batch.prox(np.zeros((3, 1)), 1.0)
