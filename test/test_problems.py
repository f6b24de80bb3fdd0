"""Problems: objectives' calculus, centralized optima, construction from data, and every
consensus algorithm on least squares, logistic regression and box constraints."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from distopt_ros.core.graphs import make_graph
from distopt_ros.core.problems import (
    BoxConstrainedObjective,
    LeastSquaresObjective,
    LogisticObjective,
    Problem,
    QuadraticObjective,
    objective_from_dict,
    problem_from_dicts,
    random_least_squares_problem,
    random_logistic_problem,
)
from distopt_ros.core.registry import build_swarm
from distopt_ros.sim.simulator import simulate

PARAMS = {"rho": 1.0, "alpha": 0.5, "max_iterations": 30_000, "tolerance": 1e-12, "stop_patience": 3,
          "step": 0.02, "step_decay": 0.0, "gamma": 0.5, "delta": 0.02, "residual_balancing": False}


def finite_difference(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 4))
def test_gradients_and_prox_optimality(seed, dim):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    objs = [
        QuadraticObjective(m @ m.T + np.eye(dim), rng.normal(size=dim)),
        LeastSquaresObjective(rng.normal(size=(dim + 3, dim)), rng.normal(size=dim + 3)),
        LogisticObjective(rng.normal(size=(8, dim)), rng.choice([-1.0, 1.0], size=8), reg=0.2),
    ]
    x = rng.normal(size=dim)
    v = rng.normal(size=dim)
    for obj in objs:
        np.testing.assert_allclose(obj.gradient(x), finite_difference(obj.value, x), rtol=1e-5, atol=1e-6)
        p = obj.prox(v, 1.7)
        np.testing.assert_allclose(obj.gradient(p) + 1.7 * (p - v), 0.0, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 3))
def test_box_prox_is_the_exact_qp_solution(seed, dim):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    box = BoxConstrainedObjective(QuadraticObjective(m @ m.T + 0.2 * np.eye(dim), 3 * rng.normal(size=dim)),
                                  -np.ones(dim), np.ones(dim))
    v = 2 * rng.normal(size=dim)
    p = box.prox(v, 0.8)
    ref = minimize(lambda x: box.smooth_value(x) + 0.4 * np.sum((x - v) ** 2), np.zeros(dim),
                   jac=lambda x: box.gradient(x) + 0.8 * (x - v), method="L-BFGS-B", bounds=[(-1, 1)] * dim,
                   options={"ftol": 1e-16, "gtol": 1e-12})
    np.testing.assert_allclose(p, ref.x, atol=1e-7)
    assert np.all(p >= -1) and np.all(p <= 1)


def test_least_squares_optimum_matches_stacked_lstsq():
    problem = random_least_squares_problem(7, 4, seed=3)
    a = np.vstack([o.A for o in problem.objectives])
    b = np.concatenate([o.b for o in problem.objectives])
    np.testing.assert_allclose(problem.centralized_optimum(), np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-10)


def test_logistic_optimum_is_stationary():
    problem = random_logistic_problem(5, 3, seed=4)
    x = problem.centralized_optimum()
    assert np.linalg.norm(sum(o.gradient(x) for o in problem.objectives)) < 1e-8


def test_box_constrained_optimum_satisfies_kkt():
    inner = QuadraticObjective(np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([3.0, -2.0]))
    problem = Problem((BoxConstrainedObjective(inner, [-1, -1], [1, 1]), QuadraticObjective(np.eye(2), [2.0, 2.0])))
    x = problem.centralized_optimum()
    g = sum(o.gradient(x) for o in problem.objectives)
    for k in range(2):  # projected gradient is zero: g_k >= 0 at the lower bound, <= 0 at the upper, 0 inside
        if x[k] >= 1 - 1e-9:
            assert g[k] <= 1e-7
        elif x[k] <= -1 + 1e-9:
            assert g[k] >= -1e-7
        else:
            assert abs(g[k]) < 1e-7


def test_from_dict_round_trip_and_errors():
    items = [
        {"type": "quadratic", "mean": [1.0, 2.0], "covariance": [[1.0, 0.0], [0.0, 2.0]]},
        {"type": "least_squares", "A": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "b": [1.0, 2.0, 3.0]},
        {"type": "logistic", "features": [[1.0, 0.0], [0.0, 1.0]], "labels": [1, -1], "reg": 0.5},
        {"type": "box", "inner": {"type": "quadratic", "mean": [0.0, 0.0], "precision": [[1, 0], [0, 1]]},
         "lower": [-1, -1], "upper": [1, 1]},
    ]
    problem = problem_from_dicts(items)
    assert problem.num_agents == 4 and problem.dim == 2
    assert isinstance(problem.objectives[3], BoxConstrainedObjective)
    with pytest.raises(ValueError, match="objective 1: field 'b' is missing"):
        problem_from_dicts([items[0], {"type": "least_squares", "A": [[1.0]]}])
    with pytest.raises(ValueError, match="field 'type'"):
        objective_from_dict({"type": "hinge"})
    with pytest.raises(ValueError, match="labels"):
        objective_from_dict({"type": "logistic", "features": [[1.0]], "labels": [0.5]})


@pytest.mark.parametrize("make,needle", [
    (lambda: LeastSquaresObjective(np.ones((3, 2)), np.ones(2)), "b"),
    (lambda: LeastSquaresObjective(np.array([[np.nan, 1.0]]), np.ones(1)), "A"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, -1.0]), reg=-1.0), "reg"),
    (lambda: BoxConstrainedObjective(QuadraticObjective(np.eye(1), [0.0]), [1.0], [0.0]), "lower"),
])
def test_bad_problem_data_is_refused_by_name(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


# ----------------------------------------------------------------------------- algorithms on these problems
PROBLEMS = {
    "least_squares": lambda: random_least_squares_problem(6, 3, seed=5, rows=6),
    "logistic": lambda: random_logistic_problem(6, 3, seed=6),
}


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("algorithm,extra,accuracy", [
    ("admm", {}, 1e-8), ("radmm", {}, 1e-8), ("diging", {}, 1e-8), ("atg", {}, 1e-8),
])
def test_exact_algorithms_on_least_squares_and_logistic(problem_name, algorithm, extra, accuracy):
    problem = PROBLEMS[problem_name]()
    opt = problem.centralized_optimum()
    curvature = max(float(np.max(np.linalg.eigvalsh(o.hessian(opt)))) for o in problem.objectives)
    params = {**PARAMS, "step": 0.3 / curvature, "delta": 0.3 / curvature, **extra}
    res = simulate(build_swarm(algorithm, problem, make_graph("ring", 6), params), optimum=opt)
    assert res.max_error(opt, list(range(6))) < accuracy


def test_dgd_on_least_squares_diminishing_step_heads_to_the_optimum():
    problem = PROBLEMS["least_squares"]()
    opt = problem.centralized_optimum()
    curvature = max(float(np.max(np.linalg.eigvalsh(o.hessian(opt)))) for o in problem.objectives)
    params = {**PARAMS, "tolerance": 0.0, "max_iterations": 8000, "step": 0.5 / curvature, "step_decay": 0.6}
    res = simulate(build_swarm("dgd", problem, make_graph("ring", 6), params), optimum=opt)
    assert res.error_history[-1] < 0.2 * res.error_history[100]


@pytest.mark.parametrize("algorithm", ["admm", "radmm"])
def test_admm_handles_box_constraints_through_the_prox(algorithm):
    rng = np.random.default_rng(9)
    objs = []
    for _ in range(5):
        m = rng.normal(size=(2, 2))
        objs.append(BoxConstrainedObjective(QuadraticObjective(m @ m.T + np.eye(2), 4 * rng.normal(size=2)),
                                            [-0.5, -0.5], [0.5, 0.5]))
    problem = Problem(tuple(objs))
    opt = problem.centralized_optimum()
    res = simulate(build_swarm(algorithm, problem, make_graph("ring", 5), PARAMS), optimum=opt)
    assert res.max_error(opt, list(range(5))) < 1e-6  # L-BFGS-B reference accuracy
