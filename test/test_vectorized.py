"""The vectorized large-swarm simulator reproduces the agent simulator (sections 5 and 8.2)."""

import numpy as np
import pytest

from distopt_ros.core.algorithms.admm import RelaxedADMMAgent
from distopt_ros.core.algorithms.gradient import DGDAgent
from distopt_ros.core.graphs import make_graph, metropolis_row
from distopt_ros.core.problems import Problem, QuadraticObjective, target_fusion_problem
from distopt_ros.sim.simulator import simulate
from distopt_ros.sim.vectorized import (
    QuadraticBatch,
    metropolis_sparse,
    run_dgd_vectorized,
    run_radmm_vectorized,
)

T1 = Problem(tuple(QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in zip([1, 2, 3, 4], [4, 1, 2, -1],
                                                                                       strict=True)))


@pytest.mark.parametrize("topology,seed", [("ring", 0), ("grid", 1), ("random_geometric", 2), ("star", 3)])
def test_lossless_radmm_equals_agent_simulator(topology, seed):
    problem, _ = target_fusion_problem(9, seed=seed)
    graph = make_graph(topology, 9, seed=seed)
    vec = run_radmm_vectorized(QuadraticBatch.from_problem(problem), graph, 1.3, 0.6, 40, record=True)
    agents = {i: RelaxedADMMAgent(i, problem.objectives[i], graph.neighbors(i), 1.3, 0.6, 40, record=True)
              for i in range(9)}
    ref = simulate(agents)
    for i in range(9):
        np.testing.assert_allclose(np.array(vec.trajectory)[:, i, :], ref.trajectories[i], atol=1e-12)


def test_dgd_vectorized_golden_and_equal_to_agents():
    path = make_graph("path", 4)
    batch = QuadraticBatch.from_problem(T1)
    res = run_dgd_vectorized(batch, path, 0.05, 4000, record=True)
    x = np.array(res.trajectory)[:, :, 0]
    np.testing.assert_allclose(x[1], [0.2, 0.1, 0.3, -0.2], atol=1e-12)
    np.testing.assert_allclose(x[2], [0.356667, 0.29, 0.321667, -0.193333], atol=1e-6)
    np.testing.assert_allclose(x[-1], [1.6149018, 1.25713707, 0.97651346, 0.23532092], atol=1e-7)
    agents = {i: DGDAgent(i, T1.objectives[i], path.neighbors(i), metropolis_row(path, i), 0.05, 30, record=True)
              for i in range(4)}
    ref = simulate(agents)
    np.testing.assert_allclose(x[:31], np.array([ref.trajectories[i][:, 0] for i in range(4)]).T, atol=1e-12)
    np.testing.assert_allclose(metropolis_sparse(path).toarray(), path.metropolis_weights(), atol=1e-15)


def test_dgd_diminishing_golden_two_hundred_thousand_iterations():
    res = run_dgd_vectorized(QuadraticBatch.from_problem(T1), make_graph("path", 4), 0.2, 200_000,
                             diminishing_power=0.75)
    np.testing.assert_allclose(res.x[:, 0], [0.8005, 0.8003, 0.8001, 0.7996], atol=1e-4)


def test_lossy_radmm_still_converges():
    problem, _ = target_fusion_problem(12, seed=4)
    batch = QuadraticBatch.from_problem(problem)
    res = run_radmm_vectorized(batch, make_graph("ring", 12), 1.0, 0.8, 3000, loss_probability=0.3,
                               activation_probability=0.7, seed=5)
    assert res.messages_dropped > 0
    assert res.errors[-1] < 1e-8
    again = run_radmm_vectorized(batch, make_graph("ring", 12), 1.0, 0.8, 3000, loss_probability=0.3,
                                 activation_probability=0.7, seed=5)
    assert np.array_equal(res.x, again.x)


@pytest.mark.parametrize("kwargs,needle", [
    ({"rho": 0.0}, "rho"), ({"alpha": 1.0}, "alpha"), ({"loss_probability": 1.0}, "loss_probability"),
    ({"activation_probability": 0.0}, "activation_probability"),
])
def test_bad_input_names_the_argument(kwargs, needle):
    batch = QuadraticBatch.from_problem(T1)
    args = {"rho": 1.0, "alpha": 0.5, **kwargs}
    with pytest.raises(ValueError, match=needle):
        run_radmm_vectorized(batch, make_graph("ring", 4), args.pop("rho"), args.pop("alpha"), 10, **args)
    with pytest.raises(ValueError, match="step"):
        run_dgd_vectorized(batch, make_graph("ring", 4), -1.0, 10)
    with pytest.raises(ValueError, match="graph has"):
        run_dgd_vectorized(batch, make_graph("ring", 5), 0.1, 10)
