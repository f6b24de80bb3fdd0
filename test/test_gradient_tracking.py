"""ATC and semi-ATC gradient tracking (docs/algorithms.md, "ATC and semi-ATC gradient tracking") in the simulator.

Every reference here is computed independently of the package's agents: the centralized optima by
numpy's normal equations or scipy's minimize of the sum, the first iterates by a plain-numpy
transcription of the update equations with Metropolis weights built from the degrees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from distopt_ros.core.algorithms.gradient import ATCTrackingAgent, DIGingAgent, SemiATCTrackingAgent
from distopt_ros.core.graphs import Graph, make_graph
from distopt_ros.core.membership import StopReason
from distopt_ros.core.problems import (
    LeastSquaresObjective,
    LogisticObjective,
    Problem,
    QuadraticObjective,
    random_least_squares_problem,
    random_logistic_problem,
)
from distopt_ros.core.registry import build_swarm, get_spec
from distopt_ros.core.scenario import SwarmConfig, make_agent, make_problem, make_swarm, reference_solution
from distopt_ros.core.schema import SCHEMA, live_parameters
from distopt_ros.sim.faults import FaultSchedule, Kill, Restart
from distopt_ros.sim.simulator import simulate

NEW = ("atc", "semi_atc")
ROUNDS_PER_ITERATION = {"atc": 2, "semi_atc": 1, "diging": 1}
N = 6
DIM = 3


def quadratic_problem(seed: int = 11) -> Problem:
    """Random positive definite quadratics, curvatures between about 0.5 and 5."""
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(N):
        q, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
        objs.append(QuadraticObjective(q @ np.diag(rng.uniform(0.5, 5.0, DIM)) @ q.T, rng.normal(size=DIM) * 2))
    return Problem(tuple(objs))


def least_squares_problem() -> Problem:
    return random_least_squares_problem(N, DIM, seed=5, rows=DIM + 2)


def logistic_problem() -> Problem:
    return random_logistic_problem(N, DIM, seed=6)


def centralized(problem: Problem) -> np.ndarray:
    """The minimizer of the sum, computed here: normal equations, or scipy BFGS on the summed logistic loss."""
    objs = problem.objectives
    if all(isinstance(o, QuadraticObjective) for o in objs):
        return np.linalg.solve(sum(o.precision for o in objs), sum(o.precision @ o.mean for o in objs))
    if all(isinstance(o, LeastSquaresObjective) for o in objs):
        return np.linalg.lstsq(np.vstack([o.A for o in objs]), np.concatenate([o.b for o in objs]), rcond=None)[0]
    assert all(isinstance(o, LogisticObjective) for o in objs)

    def loss(x: np.ndarray) -> float:
        return float(sum(np.sum(np.logaddexp(0.0, -o.labels * (o.features @ x))) + 0.5 * o.reg * x @ x
                         for o in objs))

    def grad(x: np.ndarray) -> np.ndarray:
        return sum(-o.features.T @ (o.labels / (1.0 + np.exp(o.labels * (o.features @ x)))) + o.reg * x
                   for o in objs)

    return minimize(loss, np.zeros(DIM), jac=grad, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000}).x


def largest_curvature(problem: Problem) -> float:
    """``L_max``: the largest local curvature (the logistic Hessian is largest at margin 0, i.e. at x = 0)."""
    return max(float(np.linalg.eigvalsh(o.hessian(np.zeros(DIM))).max()) for o in problem.objectives)


def metropolis_matrix(graph: Graph) -> np.ndarray:
    """``W_ij = 1 / (1 + max(d_i, d_j))`` on edges, the rest on the diagonal (written here from the degrees)."""
    w = np.zeros((graph.num_nodes, graph.num_nodes))
    for i in range(graph.num_nodes):
        for j in graph.neighbors(i):
            w[i, j] = 1.0 / (1.0 + max(graph.degree(i), graph.degree(j)))
        w[i, i] = 1.0 - w[i].sum()
    return w


PROBLEMS = {"quadratic": quadratic_problem, "least_squares": least_squares_problem, "logistic": logistic_problem}


# ----------------------------------------------------------------------------- (a) the centralized optimum
@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("algorithm", NEW)
def test_converges_to_the_centralized_optimum(algorithm, problem_name):
    """Within 1e-8 of the independent centralized solve, certified by the decentralized stopping rule."""
    problem = PROBLEMS[problem_name]()
    opt = centralized(problem)
    np.testing.assert_allclose(opt, problem.centralized_optimum(), atol=1e-9)  # the two references agree
    step = 0.5 / largest_curvature(problem)
    graph = make_graph("ring", N)
    agents = build_swarm(algorithm, problem, graph, {"step": step, "max_iterations": 40_000, "tolerance": 1e-12,
                                                     "stop_patience": 3})
    res = simulate(agents, optimum=opt)
    assert res.converged and res.rounds < 40_000
    assert all(a.stop_reason is StopReason.CONVERGED for a in agents.values())
    assert res.max_error(opt) < 1e-8


# ----------------------------------------------------------------------------- (b) the equations, iterate by iterate
def numpy_iterates(algorithm: str, problem: Problem, w: np.ndarray, step: float, count: int) -> list[np.ndarray]:
    """``x_1 .. x_count`` of the update equations, stacked over robots, in plain numpy."""
    grad = lambda x: np.array([o.gradient(x[i]) for i, o in enumerate(problem.objectives)])  # noqa: E731
    x = np.zeros((problem.num_agents, problem.dim))
    g = grad(x)
    y = g.copy()
    out = []
    for _ in range(count):
        x_new = w @ (x - step * y)
        g_new = grad(x_new)
        if algorithm == "atc":  # y+ = W (y + grad f(x+) - grad f(x))
            y = w @ (y + g_new - g)
        else:  # semi-ATC: y+ = W y + grad f(x+) - grad f(x)
            y = w @ y + g_new - g
        x, g = x_new, g_new
        out.append(x)
    return out


@pytest.mark.parametrize("problem_name", ["quadratic", "logistic"])
@pytest.mark.parametrize("algorithm", NEW)
def test_first_iterates_equal_the_equations(algorithm, problem_name):
    problem = PROBLEMS[problem_name]()
    graph = make_graph("erdos_renyi", N, seed=2)
    step = 0.3 / largest_curvature(problem)
    agents = build_swarm(algorithm, problem, graph, {"step": step, "max_iterations": 12, "tolerance": 0.0,
                                                     "stop_patience": 3}, record=True)
    res = simulate(agents)
    per = ROUNDS_PER_ITERATION[algorithm]
    expected = numpy_iterates(algorithm, problem, metropolis_matrix(graph), step, 3)
    for k, x_k in enumerate(expected, 1):
        got = np.array([res.trajectories[i][per * k] for i in range(N)])
        np.testing.assert_allclose(got, x_k, rtol=0, atol=1e-12)
    # The two ATC rounds of an iteration: x moves in the adapt round only.
    if algorithm == "atc":
        np.testing.assert_array_equal(res.trajectories[0][1], res.trajectories[0][2])


def test_semi_atc_and_atc_differ_from_diging_from_the_first_iterate():
    """The three trackers really are different iterations (else the equality test above proves little)."""
    problem = quadratic_problem()
    graph = make_graph("ring", N)
    w = metropolis_matrix(graph)
    firsts = {a: numpy_iterates(a, problem, w, 0.1, 2)[1] for a in NEW}
    agents = {i: DIGingAgent(i, problem.objectives[i], graph.neighbors(i),
                             {i: w[i, i], **{j: w[i, j] for j in graph.neighbors(i)}}, 0.1, 2, record=True)
              for i in range(N)}
    diging = np.array([t[2] for t in simulate(agents).trajectories.values()])
    assert np.abs(firsts["atc"] - firsts["semi_atc"]).max() > 1e-3
    assert min(np.abs(firsts[a] - diging).max() for a in NEW) > 1e-3


# ----------------------------------------------------------------------------- larger steps than DIGing
@pytest.mark.parametrize("algorithm", NEW)
def test_a_step_that_makes_diging_diverge_still_converges(algorithm):
    """On the ring, DIGing's largest stable step is about 0.35 / L_max here; both ATC forms take 1.2 / L_max."""
    problem = quadratic_problem()
    opt = centralized(problem)
    step = 1.2 / largest_curvature(problem)
    graph = make_graph("ring", N)
    params = {"step": step, "max_iterations": 6000, "tolerance": 0.0, "stop_patience": 3}
    with np.errstate(over="ignore", invalid="ignore"):
        diverged = simulate(build_swarm("diging", problem, graph, params), optimum=opt)
    assert not diverged.converged and diverged.max_error(opt) > 1.0
    res = simulate(build_swarm(algorithm, problem, graph, params), optimum=opt)
    assert res.max_error(opt) < 1e-9


# ----------------------------------------------------------------------------- (c) robots that leave and rejoin
def _config(algorithm: str, **kw: object) -> SwarmConfig:
    base = {"algorithm": algorithm, "num_robots": 8, "topology": "ring", "seed": 3, "tolerance": 1e-10,
            "max_iterations": 40_000, "step": 0.1}
    base.update(kw)
    return SwarmConfig.from_mapping(base)


def _error(result, reference, ids) -> float:
    return max(float(np.linalg.norm(result.estimates[i] - reference[i])) for i in ids)


@pytest.mark.parametrize("algorithm", NEW)
def test_survivors_of_a_peer_loss_converge_to_their_own_optimum(algorithm):
    cfg = _config(algorithm)
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=40_000, faults=FaultSchedule([Kill(5, at=31, detect=4)]))
    live = [i for i in range(8) if i != 5]
    ref = reference_solution(cfg, live=live)
    assert result.converged
    assert all(agents[i].stop_reason is StopReason.CONVERGED for i in live)
    assert _error(result, ref, live) < 1e-6
    assert _error(result, reference_solution(cfg), live) > 1e-4  # robot 5's data is gone: the answer changed
    for i in live:  # re-weighted: rows still sum to one, without robot 5
        assert 5 not in agents[i].weights and sum(agents[i].weights.values()) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("algorithm", NEW)
def test_without_the_tracker_restart_the_survivors_agree_on_a_wrong_point(algorithm):
    """The common restart is what repairs the invariant: disabled, the limit is wrong."""
    cfg = _config(algorithm)
    agents = make_swarm(cfg)
    for a in agents.values():
        a._restart_tracker = lambda: None
    result = simulate(agents, max_rounds=40_000, faults=FaultSchedule([Kill(5, at=31, detect=4)]))
    live = [i for i in range(8) if i != 5]
    assert _error(result, reference_solution(cfg, live=live), live) > 1e-3


@pytest.mark.parametrize("algorithm", NEW)
def test_a_restarted_robot_is_welcomed_and_the_full_optimum_is_reached_again(algorithm):
    """Robot 4 dies and a new process of it starts 80 rounds later (paired out of ATC's phase: realigned)."""
    cfg = _config(algorithm)
    problem = make_problem(cfg)
    agents = make_swarm(cfg)
    schedule = FaultSchedule([Kill(4, at=40, detect=4), Restart(4, at=121)],
                             factory=lambda i: make_agent(cfg, i, problem))
    result = simulate(agents, max_rounds=40_000, faults=schedule)
    assert set(result.estimates) == set(range(8))
    assert result.converged
    assert _error(result, reference_solution(cfg), range(8)) < 1e-6


# ----------------------------------------------------------------------------- (d) registry, schema, tuning
@pytest.mark.parametrize("algorithm,cls", [("atc", ATCTrackingAgent), ("semi_atc", SemiATCTrackingAgent)])
def test_the_registry_builds_them_from_parameters(algorithm, cls):
    spec = get_spec(algorithm)
    assert spec.transport == "broadcast" and spec.problem_kind == "consensus"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "algorithms.md").read_text()
    assert f"## {spec.doc_section}\n" in docs
    problem = logistic_problem()
    graph = make_graph("erdos_renyi", N, seed=2)
    agents = build_swarm(algorithm, problem, graph, {"step": 0.07, "max_iterations": 900, "tolerance": 1e-9,
                                                     "stop_patience": 2})
    assert set(agents) == set(range(N))
    for i, a in agents.items():
        assert type(a) is cls and a.step_size == 0.07 and a.max_iterations == 900
        assert a.stopper is not None and a.stopper.threshold == graph.diameter() + 2
        assert a.neighbors == tuple(sorted(graph.neighbors(i)))
    # and from a scenario configuration, like every node
    cfg = SwarmConfig(algorithm=algorithm, problem="least_squares", num_robots=5, step=0.02)
    swarm = make_swarm(cfg)
    assert all(type(a) is cls and a.step_size == 0.02 for a in swarm.values())
    assert SCHEMA["step"].used_by(algorithm) and live_parameters(algorithm) == ("step",)


def test_atc_refuses_asynchronous_mode_semi_atc_takes_it():
    problem = quadratic_problem()
    graph = make_graph("ring", N)
    params = {"step": 0.05, "max_iterations": 10, "tolerance": 0.0, "stop_patience": 3}
    with pytest.raises(ValueError, match="asynchronous"):
        build_swarm("atc", problem, graph, params)[0].set_asynchronous()
    build_swarm("semi_atc", problem, graph, params)[0].set_asynchronous()


@pytest.mark.parametrize("algorithm", NEW)
def test_a_live_step_change_is_applied_everywhere_and_the_limit_stays_exact(algorithm):
    problem = logistic_problem()
    opt = centralized(problem)
    graph = make_graph("ring", N)
    agents = build_swarm(algorithm, problem, graph, {"step": 0.01, "max_iterations": 40_000, "tolerance": 1e-12,
                                                     "stop_patience": 3})
    new_step = 0.5 / largest_curvature(problem)

    def tune(round_: int, live: dict) -> None:
        if round_ == 25:  # odd: mid-iteration for ATC
            live[2].tune({"step": new_step})

    res = simulate(agents, optimum=opt, on_round=tune)
    assert all(a.step_size == new_step and a.late_tunings == 0 for a in agents.values())
    assert res.converged and res.max_error(opt) < 1e-8
    slow = simulate(build_swarm(algorithm, problem, graph, {"step": 0.01, "max_iterations": 40_000,
                                                            "tolerance": 1e-12, "stop_patience": 3}), optimum=opt)
    assert res.rounds < slow.rounds / 2  # the larger step did take effect


@pytest.mark.parametrize("algorithm", NEW)
def test_runs_are_reproducible_bit_for_bit(algorithm):
    cfg = _config(algorithm, problem="logistic", seed=7)

    def run():
        return simulate(make_swarm(cfg), faults=FaultSchedule([Kill(2, at=20, detect=3)]))

    a, b = run(), run()
    assert a.rounds == b.rounds
    assert all(np.array_equal(a.estimates[i], b.estimates[i]) for i in a.estimates)
