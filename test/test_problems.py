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
    _enumerate_active_sets,
    objective_from_dict,
    objective_to_dict,
    problem_from_dicts,
    problem_to_dicts,
    random_least_squares_problem,
    random_logistic_problem,
    solve_box_qp,
)
from distopt_ros.core.registry import build_swarm
from distopt_ros.sim.simulator import simulate

PARAMS = {"rho": 1.0, "alpha": 0.5, "max_iterations": 30_000, "tolerance": 1e-12, "stop_patience": 3,
          "step": 0.02, "step_decay": 0.0, "gamma": 0.5, "delta": 0.02, "residual_balancing": False}


def finite_difference(f, x, h=1e-6):
    """Central differences of ``f`` at ``x``, one column per coordinate (``f`` scalar or vector valued)."""
    return np.array([(np.asarray(f(x + h * e)) - np.asarray(f(x - h * e))) / (2 * h) for e in np.eye(x.size)])


def random_box_quadratic(rng, dim, lower=-1.0, upper=1.0, spread=3.0):
    m = rng.normal(size=(dim, dim))
    inner = QuadraticObjective(m @ m.T + 0.2 * np.eye(dim), spread * rng.normal(size=dim))
    return BoxConstrainedObjective(inner, lower * np.ones(dim), upper * np.ones(dim))


def assert_box_kkt(grad, x, lower, upper, tol):
    """Projected-gradient optimality: g_k >= 0 at a lower bound, <= 0 at an upper bound, 0 inside."""
    assert np.all(x >= lower - 1e-12) and np.all(x <= upper + 1e-12)
    for k in range(x.size):
        if x[k] >= upper[k] - 1e-9:
            assert grad[k] <= tol
        elif x[k] <= lower[k] + 1e-9:
            assert grad[k] >= -tol
        else:
            assert abs(grad[k]) < tol


# ----------------------------------------------------------------------------- calculus of the objectives
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 4))
def test_gradients_and_prox_optimality(seed, dim):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    objs = [
        QuadraticObjective(m @ m.T + np.eye(dim), rng.normal(size=dim)),
        LeastSquaresObjective(rng.normal(size=(dim + 3, dim)), rng.normal(size=dim + 3)),
        LogisticObjective(rng.normal(size=(8, dim)), rng.choice([-1.0, 1.0], size=8), reg=0.2),
        LogisticObjective(rng.normal(size=(5, dim)), rng.choice([-1.0, 1.0], size=5), reg=0.0),
    ]
    x = rng.normal(size=dim)
    v = 3 * rng.normal(size=dim)
    t = float(rng.uniform(0.1, 5.0))
    for obj in objs:
        np.testing.assert_allclose(obj.gradient(x), finite_difference(obj.value, x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(obj.hessian(x), finite_difference(obj.gradient, x).T, rtol=1e-5, atol=1e-6)
        p = obj.prox(v, t)
        np.testing.assert_allclose(obj.gradient(p) + t * (p - v), 0.0, atol=1e-9)


def test_scalar_quadratics_prox_and_optimum_match_the_closed_forms():
    a, c = [1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 2.0, -1.0]
    objs = [QuadraticObjective([[ai]], [ci]) for ai, ci in zip(a, c, strict=True)]
    assert Problem(tuple(objs)).centralized_optimum() == pytest.approx([0.8], abs=1e-14)
    t, v = 0.7, 1.3  # prox with penalty t/2 (x - v)^2: (a c + t v) / (a + t), see "Small reference problems"
    for ai, ci, o in zip(a, c, objs, strict=True):
        assert o.prox(np.array([v]), t)[0] == pytest.approx((ci * ai / t + v) / (ai / t + 1), abs=1e-14)


def test_logistic_is_overflow_free_at_huge_margins():
    obj = LogisticObjective(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0]), reg=0.0)
    for x in (np.array([1e4, -1e4]), np.array([-1e4, 1e4])):
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            assert np.isfinite(obj.value(x)) and np.all(np.isfinite(obj.gradient(x)))
            assert np.all(np.isfinite(obj.hessian(x)))
    assert obj.value(np.array([-1e4, 1e4])) == pytest.approx(2e4)
    p = obj.prox(np.array([-50.0, 50.0]), 1e-3)  # far from the data: damped Newton still converges
    np.testing.assert_allclose(obj.gradient(p) + 1e-3 * (p - np.array([-50.0, 50.0])), 0.0, atol=1e-12)


def test_logistic_prox_raises_when_newton_cannot_converge():
    class Stiff(LogisticObjective):
        def hessian(self, x):  # a wildly wrong curvature makes every Newton step negligible
            return 1e20 * np.eye(self.dim)

    obj = Stiff(np.ones((2, 1)), np.array([1.0, -1.0]), reg=1.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        obj.prox(np.array([5.0]), 1.0)


# ----------------------------------------------------------------------------- box constraints
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 4))
def test_box_prox_is_the_exact_qp_solution(seed, dim):
    rng = np.random.default_rng(seed)
    lower = rng.uniform(-2.0, 0.0, size=dim)
    upper = lower + rng.uniform(0.0, 2.0, size=dim)
    lower[rng.random(dim) < 0.2] = -np.inf  # some one-sided coordinates
    box = random_box_quadratic(rng, dim)
    box = BoxConstrainedObjective(box.inner, lower, upper)
    v, t = 2 * rng.normal(size=dim), float(rng.uniform(0.1, 3.0))
    p = box.prox(v, t)
    h = box.inner.precision + t * np.eye(dim)
    q = box.inner.precision @ box.inner.mean + t * v
    np.testing.assert_allclose(p, _enumerate_active_sets(h, q, lower, upper), atol=1e-10)  # brute force
    assert_box_kkt(box.gradient(p) + t * (p - v), p, lower, upper, 1e-9)
    ref = minimize(lambda x: box.smooth_value(x) + 0.5 * t * np.sum((x - v) ** 2), box.project(np.zeros(dim)),
                   jac=lambda x: box.gradient(x) + t * (x - v), method="L-BFGS-B",
                   bounds=[(lo if np.isfinite(lo) else None, hi) for lo, hi in zip(lower, upper, strict=True)],
                   options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 10_000})
    np.testing.assert_allclose(p, ref.x, atol=1e-7)  # scipy agrees to its own tolerance


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(7, 12))
def test_box_qp_in_higher_dimension_satisfies_kkt_to_rounding(seed, dim):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    h = m @ m.T + 0.05 * np.eye(dim)
    q = 5 * rng.normal(size=dim)
    lower, upper = -np.ones(dim), np.ones(dim)
    x = solve_box_qp(h, q, lower, upper)
    assert_box_kkt(h @ x - q, x, lower, upper, 1e-9)


def test_box_with_diagonal_precision_is_a_clip_and_value_is_infinite_outside():
    box = BoxConstrainedObjective(QuadraticObjective(np.diag([1.0, 4.0]), [3.0, -3.0]), -1.0, [1.0, 0.5])
    v, t = np.array([0.0, 0.0]), 2.0
    expected = np.clip((box.inner.precision @ box.inner.mean + t * v) / (np.diag(box.inner.precision) + t),
                       box.lower, box.upper)
    np.testing.assert_allclose(box.prox(v, t), expected, atol=1e-15)
    np.testing.assert_allclose(box.project([5.0, -5.0]), [1.0, -1.0])
    assert box.value([2.0, 0.0]) == np.inf and np.isfinite(box.value([1.0, 0.5]))
    np.testing.assert_allclose(box.gradient([2.0, 0.0]), box.inner.gradient([2.0, 0.0]))  # the smooth part


# ----------------------------------------------------------------------------- centralized optima
def test_least_squares_optimum_matches_stacked_lstsq():
    for problem in (random_least_squares_problem(7, 4, seed=3), random_least_squares_problem(5, 3, seed=8, rows=2)):
        a = np.vstack([o.A for o in problem.objectives])
        b = np.concatenate([o.b for o in problem.objectives])
        np.testing.assert_allclose(problem.centralized_optimum(), np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-10)


def test_least_squares_data_is_symmetric_and_seeded():
    problem = random_least_squares_problem(4, 3, seed=11)
    for o in problem.objectives:
        np.testing.assert_array_equal(o.A, o.A.T)
        np.testing.assert_allclose(o.hessian(None), o.A @ o.A, atol=1e-14)  # P_i = A_i^2
        np.testing.assert_allclose(o.gradient(np.zeros(3)), -o.A.T @ o.b)  # q_i = -A_i^T b_i
    again = random_least_squares_problem(4, 3, seed=11)
    np.testing.assert_array_equal(problem.objectives[2].b, again.objectives[2].b)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 4))
def test_mixed_quadratic_and_least_squares_optimum_is_the_stacked_fit(seed, dim):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(dim, dim))
    quad = QuadraticObjective(m @ m.T + np.eye(dim), rng.normal(size=dim))
    ls = LeastSquaresObjective(rng.normal(size=(dim + 2, dim)), rng.normal(size=dim + 2))
    root = np.linalg.cholesky(quad.precision).T  # 1/2 (x-m)'P(x-m) = 1/2 ||R x - R m||^2
    a = np.vstack([root, ls.A])
    b = np.concatenate([root @ quad.mean, ls.b])
    x = Problem((quad, ls)).centralized_optimum()
    np.testing.assert_allclose(x, np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-10)


def test_logistic_optimum_is_stationary():
    for reg in (0.1, 1e-3):
        problem = random_logistic_problem(5, 3, seed=4, reg=reg)
        x = problem.centralized_optimum()
        assert np.linalg.norm(sum(o.gradient(x) for o in problem.objectives)) < 1e-8


def test_box_constrained_optimum_satisfies_kkt():
    inner = QuadraticObjective(np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([3.0, -2.0]))
    problem = Problem((BoxConstrainedObjective(inner, [-1, -1], [1, 1]), QuadraticObjective(np.eye(2), [2.0, 2.0])))
    x = problem.centralized_optimum()
    assert_box_kkt(sum(o.gradient(x) for o in problem.objectives), x, -np.ones(2), np.ones(2), 1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 4), agents=st.integers(1, 4))
def test_box_constrained_optimum_is_exact_and_matches_scipy(seed, dim, agents):
    rng = np.random.default_rng(seed)
    objs = [random_box_quadratic(rng, dim, lower=-float(rng.uniform(0.2, 1.0)), upper=float(rng.uniform(0.2, 1.0)))
            for _ in range(agents)]
    ls = LeastSquaresObjective(rng.normal(size=(2, dim)), 3 * rng.normal(size=2))
    problem = Problem((*objs, ls))
    lower, upper = problem.box()
    x = problem.centralized_optimum()
    grad = sum(o.gradient(x) for o in problem.objectives)
    assert_box_kkt(grad, x, lower, upper, 1e-10)
    ref = minimize(lambda z: sum(o.inner.value(z) for o in objs) + ls.value(z), np.zeros(dim),
                   jac=lambda z: sum(o.gradient(z) for o in problem.objectives), method="L-BFGS-B",
                   bounds=list(zip(lower, upper, strict=True)), options={"ftol": 1e-16, "gtol": 1e-13})
    np.testing.assert_allclose(x, ref.x, atol=1e-6)


def test_logistic_with_a_box_optimum_satisfies_kkt():
    problem = random_logistic_problem(4, 3, seed=2, reg=0.01)
    free = problem.centralized_optimum()
    bound = 0.5 * float(np.max(np.abs(free)))  # cuts the unconstrained optimum off
    box = BoxConstrainedObjective(QuadraticObjective(0.1 * np.eye(3), np.zeros(3)), -bound, bound)
    constrained = Problem((*problem.objectives, box))
    x = constrained.centralized_optimum()
    assert_box_kkt(sum(o.gradient(x) for o in constrained.objectives), x, box.lower, box.upper, 1e-8)
    assert np.any(np.isclose(np.abs(x), bound))


def test_disjoint_boxes_are_refused():
    q = QuadraticObjective(np.eye(1), [0.0])
    problem = Problem((BoxConstrainedObjective(q, 0.0, 1.0), BoxConstrainedObjective(q, 2.0, 3.0)))
    with pytest.raises(ValueError, match="do not intersect"):
        problem.centralized_optimum()


# ----------------------------------------------------------------------------- construction from data
def test_from_dict_round_trip_and_errors():
    items = [
        {"type": "quadratic", "mean": [1.0, 2.0], "covariance": [[1.0, 0.0], [0.0, 2.0]]},
        {"type": "least_squares", "A": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "b": [1.0, 2.0, 3.0]},
        {"type": "logistic", "features": [[1.0, 0.0], [0.0, 1.0]], "labels": [1, -1], "reg": 0.5},
        {"type": "box", "inner": {"type": "quadratic", "mean": [0.0, 0.0], "precision": [[1, 0], [0, 1]]},
         "lower": [-1, -1], "upper": [1, np.inf]},
    ]
    problem = problem_from_dicts(items)
    assert problem.num_agents == 4 and problem.dim == 2
    assert isinstance(problem.objectives[3], BoxConstrainedObjective)
    np.testing.assert_allclose(problem.objectives[0].precision, np.diag([1.0, 0.5]))
    yaml = pytest.importorskip("yaml")
    again = problem_from_dicts(yaml.safe_load(yaml.safe_dump(problem_to_dicts(problem))))
    assert problem_to_dicts(again) == problem_to_dicts(problem)
    np.testing.assert_array_equal(again.centralized_optimum(), problem.centralized_optimum())
    assert objective_to_dict(again.objectives[2])["reg"] == 0.5
    for obj in problem.objectives:
        rebuilt = objective_from_dict(objective_to_dict(obj), index=7)
        assert type(rebuilt) is type(obj) and objective_to_dict(rebuilt) == objective_to_dict(obj)
    with pytest.raises(ValueError, match="objective 7: field 'A' is missing"):
        objective_from_dict({"type": "least_squares", "b": [1.0]}, index=7)


@pytest.mark.parametrize("items,needle", [
    ([{"type": "least_squares", "A": [[1.0]], "b": [1.0]}, {"type": "least_squares", "A": [[1.0]]}],
     "objective 1: field 'b' is missing"),
    ([{"type": "hinge"}], "objective 0: field 'type' must be"),
    ([{"mean": [1.0]}], "objective 0: field 'type' is missing"),
    ([{"type": "quadratic", "mean": [1.0]}], "objective 0: field 'precision'"),
    ([{"type": "quadratic", "precision": [[1.0]]}], "objective 0: field 'mean' is missing"),
    ([{"type": "logistic", "features": [[1.0]], "labels": [0.5]}], "objective 0: labels"),
    ([{"type": "logistic", "features": [[1.0]], "labels": [1], "reg": "lots"}], "objective 0: reg"),
    ([{"type": "least_squares", "A": [[1.0, 2.0]], "b": [1.0, 2.0]}], "objective 0: b must have 1"),
    ([{"type": "box", "inner": [1, 2], "lower": [0], "upper": [1]}], "objective 0: field 'inner'"),
    ([{"type": "box", "inner": {"type": "least_squares", "A": [[1.0]], "b": [1.0]}, "lower": 0, "upper": 1}],
     "objective 0: field 'inner' must be a quadratic"),
    ([{"type": "box", "inner": {"type": "quadratic", "mean": [0.0], "precision": [[1.0]]}, "lower": [0, 0],
       "upper": 1}], "objective 0: lower must be a scalar or have 1"),
    (["quadratic"], "objective 0: must be a mapping"),
])
def test_from_dict_errors_name_the_objective_and_field(items, needle):
    with pytest.raises(ValueError, match=needle):
        problem_from_dicts(items)


@pytest.mark.parametrize("make,needle", [
    (lambda: LeastSquaresObjective(np.ones((3, 2)), np.ones(2)), "b"),
    (lambda: LeastSquaresObjective(np.array([[np.nan, 1.0]]), np.ones(1)), "A"),
    (lambda: LeastSquaresObjective(np.ones(3), np.ones(3)), "A"),
    (lambda: LeastSquaresObjective(np.ones((1, 1)), [np.inf]), "b"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, -1.0]), reg=-1.0), "reg"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, -1.0]), reg=np.nan), "reg"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, 0.0])), "labels"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, np.nan])), "labels"),
    (lambda: LogisticObjective(np.ones((2, 2)), np.array([1.0, -1.0, 1.0])), "labels"),
    (lambda: LogisticObjective(np.ones(2), np.array([1.0, -1.0])), "features"),
    (lambda: BoxConstrainedObjective(QuadraticObjective(np.eye(1), [0.0]), [1.0], [0.0]), "lower"),
    (lambda: BoxConstrainedObjective(QuadraticObjective(np.eye(2), [0.0, 0.0]), [np.nan, 0.0], 1.0), "lower"),
    (lambda: BoxConstrainedObjective(QuadraticObjective(np.eye(2), [0.0, 0.0]), 0.0, [1.0, 2.0, 3.0]), "upper"),
    (lambda: BoxConstrainedObjective(QuadraticObjective(np.eye(1), [0.0]), -1.0, -np.inf), "upper"),
    (lambda: BoxConstrainedObjective(LeastSquaresObjective(np.eye(1), [0.0]), 0.0, 1.0), "inner"),
    (lambda: random_least_squares_problem(0, 3, seed=1), "num_agents"),
    (lambda: random_least_squares_problem(2, 0, seed=1), "dim"),
    (lambda: random_least_squares_problem(2, 2, seed=1, rows=0), "rows"),
    (lambda: random_logistic_problem(2, 2, seed=1, samples_per_agent=0), "samples_per_agent"),
    (lambda: random_logistic_problem(2, 2, seed=1, reg=-0.1), "reg"),
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
    params = {**PARAMS, "tolerance": 0.0, "max_iterations": 2000, "step": 0.5 / curvature, "step_decay": 0.6}
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
