"""The first iterates of every algorithm against an independent numpy recursion written from docs/algorithms.md.

Each test here pins the *equations* of one section of docs/algorithms.md: a plain numpy
implementation of the section's update rules, written from the document (not from the package's
code), runs next to the package's agents on a small problem, and the first iterates of every agent
must agree to 1e-12. A one-line change to any update (a sign, a weight, a missing term, a step
taken from the wrong point) moves some iterate by far more than that, so each test fails on a
wrong equation. The gradient and ADMM methods are also checked on a non-quadratic (logistic)
objective, whose gradient and prox are re-implemented here from their definitions.

The agents are driven by the simulator (lossless synchronous rounds, ``record=True``) or, where
the protocol is asynchronous, by hand. ``test_every_registered_algorithm_has_an_equation_test``
fails when an algorithm is added to the registry without a test here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from distopt_ros.core.algorithms.consensus import AverageConsensusAgent, GossipAgent, PushSumAgent
from distopt_ros.core.algorithms.coupled import CoupledProblem
from distopt_ros.core.algorithms.federated import SERVER_OPTIMIZERS, FedServer, fed_swarm, primal_dual_swarm
from distopt_ros.core.algorithms.gradient import DGDAgent
from distopt_ros.core.algorithms.price import MODES
from distopt_ros.core.graphs import Graph, make_digraph, make_graph, metropolis_row
from distopt_ros.core.messages import COORDINATOR
from distopt_ros.core.problems import (
    LeastSquaresObjective,
    LogisticObjective,
    Problem,
    QuadraticObjective,
    random_logistic_problem,
)
from distopt_ros.core.registry import ALGORITHM_SPECS, build_swarm
from distopt_ros.core.resources import QuadraticCost, ResourceProblem
from distopt_ros.sim.simulator import simulate

TOL = 1e-12
ITERATES = 3


# ----------------------------------------------------------------------------- independent objectives
class RefQuadratic:
    """``f(x) = 1/2 (x - m)^T P (x - m)``; prox from "Conventions": ``(P + t I)^-1 (P m + t v)``."""

    def __init__(self, precision: np.ndarray, mean: np.ndarray) -> None:
        self.P, self.m = np.array(precision, dtype=float), np.array(mean, dtype=float)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.P @ (x - self.m)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        return np.linalg.solve(self.P + t * np.eye(self.m.size), self.P @ self.m + t * v)

    def prox_inverse(self, x: np.ndarray, t: float) -> np.ndarray:
        """The ``v`` whose prox is ``x`` (for a quadratic the prox is an invertible affine map)."""
        return ((self.P + t * np.eye(self.m.size)) @ x - self.P @ self.m) / t

    def value(self, x: np.ndarray) -> float:
        d = x - self.m
        return 0.5 * float(d @ self.P @ d)


class RefLogistic:
    """``f(x) = sum_k log(1 + exp(-y_k a_k^T x)) + reg/2 ||x||^2`` (docs/algorithms.md, "Logistic regression").

    Gradient ``-A^T (y * sigma(-y A x)) + reg x``; prox by plain Newton on the strongly convex
    ``f + t/2 ||x - v||^2`` until the step is at rounding level.
    """

    def __init__(self, features: np.ndarray, labels: np.ndarray, reg: float) -> None:
        self.A, self.y, self.reg = np.array(features, dtype=float), np.array(labels, dtype=float), float(reg)

    def _sig_neg_margin(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(self.y * (self.A @ x)))

    def grad(self, x: np.ndarray) -> np.ndarray:
        return -self.A.T @ (self.y * self._sig_neg_margin(x)) + self.reg * x

    def hess(self, x: np.ndarray) -> np.ndarray:
        s = self._sig_neg_margin(x)
        return (self.A.T * (s * (1 - s))) @ self.A + self.reg * np.eye(x.size)

    def value(self, x: np.ndarray) -> float:
        return float(np.sum(np.log1p(np.exp(-self.y * (self.A @ x)))) + 0.5 * self.reg * x @ x)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        x = np.array(v, dtype=float)
        for _ in range(60):
            step = np.linalg.solve(self.hess(x) + t * np.eye(x.size), self.grad(x) + t * (x - v))
            x = x - step
            if np.linalg.norm(step) < 1e-15 * max(1.0, np.linalg.norm(x)):
                break
        return x


class RefLeastSquares:
    """``f(x) = 1/2 ||A x - b||^2`` ("Least squares"): gradient ``A^T (A x - b)``."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.A, self.b = np.array(a, dtype=float), np.array(b, dtype=float)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.A.T @ (self.A @ x - self.b)


def ref_objective(f: Any) -> RefQuadratic | RefLogistic | RefLeastSquares:
    """The independent twin of a package objective, built from its data only."""
    if isinstance(f, QuadraticObjective):
        return RefQuadratic(f.precision, f.mean)
    if isinstance(f, LogisticObjective):
        return RefLogistic(f.features, f.labels, f.reg)
    if isinstance(f, LeastSquaresObjective):
        return RefLeastSquares(f.A, f.b)
    raise TypeError(type(f).__name__)


# ----------------------------------------------------------------------------- small problems
def t1() -> Problem:
    """T1 of "Small reference problems": ``a_i/2 (x - c_i)^2``, a = [1, 2, 3, 4], c = [4, 1, 2, -1]."""
    return Problem(tuple(QuadraticObjective(np.array([[a]]), np.array([c]))
                         for a, c in zip([1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 2.0, -1.0], strict=True)))


def vector_quadratics(n: int = 4, dim: int = 2, seed: int = 7) -> Problem:
    """Random anisotropic quadratics (coupled coordinates: a wrong matrix product shows)."""
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(n):
        m = rng.normal(size=(dim, dim))
        objs.append(QuadraticObjective(m @ m.T + 0.5 * np.eye(dim), 2 * rng.normal(size=dim)))
    return Problem(tuple(objs))


def logistic(n: int = 4) -> Problem:
    """The package's seeded logistic-regression problem, 2-D (non-quadratic)."""
    return random_logistic_problem(n, 2, seed=3)


PROBLEMS: dict[str, Callable[[], Problem]] = {"t1": t1, "quadratic": vector_quadratics, "logistic": logistic}
P4 = make_graph("path", 4)
GRAPHS = {"path": P4, "ring": make_graph("ring", 4), "star": make_graph("star", 4)}


def adjacency(graph: Graph) -> np.ndarray:
    n = graph.num_nodes
    a = np.zeros((n, n))
    for u, v in graph.edges:
        a[u, v] = a[v, u] = 1.0
    return a


def metropolis(graph: Graph) -> np.ndarray:
    """Metropolis-Hastings weights from "Communication graphs and Metropolis weights"."""
    a = adjacency(graph)
    d = a.sum(axis=1)
    w = np.where(a > 0, 1.0 / (1.0 + np.maximum.outer(d, d)), 0.0)
    return w + np.diag(1.0 - w.sum(axis=1))


def neighbours(graph: Graph) -> list[list[int]]:
    a = adjacency(graph)
    return [list(np.nonzero(a[i])[0]) for i in range(graph.num_nodes)]


def trajectories(agents: dict[int, Any], ids: Sequence[int]) -> list[np.ndarray]:
    return [np.array(agents[i].trajectory, dtype=float) for i in ids]


def assert_iterates(pkg: np.ndarray, ref: np.ndarray, what: str) -> None:
    """``pkg`` and ``ref`` (iterates x agents x dim) agree to TOL, relative to the size of the iterates."""
    pkg, ref = np.asarray(pkg, dtype=float), np.asarray(ref, dtype=float)
    assert pkg.shape == ref.shape, f"{what}: shapes {pkg.shape} vs {ref.shape}"
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = float(np.max(np.abs(pkg - ref)))
    assert err <= TOL * scale, f"{what}: package differs from the documented recursion by {err:.3e}\n{pkg}\n{ref}"


def run(agents: dict[int, Any], rounds: int) -> dict[int, Any]:
    simulate(agents, max_rounds=rounds)
    return agents


def robot_iterates(agents: dict[int, Any], n: int, count: int, start: int = 0) -> np.ndarray:
    """iterates x agents x dim from the robots' recorded trajectories."""
    return np.stack([t[start:start + count] for t in trajectories(agents, range(n))], axis=1)


# ----------------------------------------------------------------------------- average consensus, push-sum, gossip
def test_average_consensus_is_metropolis_mixing() -> None:
    """"Average consensus": ``x <- W x`` with the Metropolis ``W`` of the graph (here the 4-star, uneven degrees)."""
    g = GRAPHS["star"]
    x0 = np.random.default_rng(1).normal(size=(4, 2))
    agents = {i: AverageConsensusAgent(i, x0[i], g.neighbors(i), metropolis_row(g, i), 10, record=True)
              for i in range(4)}
    run(agents, ITERATES)
    w = metropolis(g)
    ref = [x0]
    for _ in range(ITERATES):
        ref.append(w @ ref[-1])
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), np.array(ref), "consensus")


def test_push_sum_column_stochastic_split() -> None:
    """"Push-sum": mass and weight split equally over out-neighbours and self; estimate ``y_i / z_i``."""
    dg = make_digraph("random_strongly_connected", 5, seed=4)
    n = dg.num_nodes
    y0 = np.random.default_rng(2).normal(size=(n, 2))
    agents = {i: PushSumAgent(i, y0[i], dg.in_neighbors(i), len(dg.out_neighbors(i)), 10, record=True)
              for i in range(n)}
    run(agents, ITERATES)
    out_deg = np.array([len(dg.out_neighbors(i)) for i in range(n)], dtype=float)
    col = np.zeros((n, n))  # col[i, j]: share of j's mass that reaches i
    for j in range(n):
        col[j, j] = 1.0 / (out_deg[j] + 1)
        for i in dg.out_neighbors(j):
            col[i, j] = 1.0 / (out_deg[j] + 1)
    y, z = y0.copy(), np.ones(n)
    ref = [y / z[:, None]]
    for _ in range(ITERATES):
        y, z = col @ y, col @ z
        ref.append(y / z[:, None])
    assert_iterates(robot_iterates(agents, n, ITERATES + 1), np.array(ref), "pushsum")


def test_gossip_pair_replaces_both_values_by_their_mean_and_busy_changes_nothing() -> None:
    """"Randomized pairwise gossip": a req/reply exchange sets both values to ``(x_i + x_j) / 2``; a busy node
    answers ``busy`` and keeps its value. Driven by hand (gossip is asynchronous by nature)."""
    g = make_graph("path", 3)
    x0 = np.array([[1.0, -2.0], [4.0, 0.5], [-3.0, 7.0]])
    agents = {i: GossipAgent(i, x0[i], g.neighbors(i), 100, seed=5) for i in range(3)}
    for a in agents.values():
        a.set_asynchronous(True)
        assert a.start() == []
    # Node 1 wakes up and asks one of its neighbours j (0 or 2); the other one (whose only neighbour is 1) asks 1.
    req = agents[1].step()
    assert len(req) == 1 and req[0].kind == "req"
    j = req[0].receiver
    other = 2 if j == 0 else 0
    np.testing.assert_array_equal(req[0].primal, x0[1])
    req_other = agents[other].step()
    assert [(m.kind, m.receiver) for m in req_other] == [("req", 1)]
    agents[j].receive(req[0])
    reply = agents[j].step()
    assert [(m.kind, m.receiver) for m in reply] == [("reply", 1)]
    mean = 0.5 * (x0[1] + x0[j])
    assert np.max(np.abs(agents[j].estimate() - mean)) <= TOL
    # Node 1 is busy with j: the other request is answered busy; j's reply sets node 1 to the same mean.
    agents[1].receive(req_other[0])
    agents[1].receive(reply[0])
    out = agents[1].step()
    assert np.max(np.abs(agents[1].estimate() - mean)) <= TOL
    assert [m.kind for m in out if m.receiver == other] == ["busy"]
    agents[other].receive(out[0])
    agents[other].step()
    np.testing.assert_array_equal(agents[other].estimate(), x0[other])
    np.testing.assert_allclose(sum(a.estimate() for a in agents.values()), x0.sum(axis=0), rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- DGD and DIGing
def dgd_reference(problem: Problem, graph: Graph, step: float, decay: float | None, variant: str,
                  count: int) -> np.ndarray:
    """"Distributed gradient descent (DGD)": cta ``x <- W x - alpha_k grad f(x)``, atc ``x <- W (x - alpha_k grad)``,
    ``alpha_k = step / (k + 1)^p``."""
    fs = [ref_objective(f) for f in problem.objectives]
    w = metropolis(graph)
    x = np.zeros((len(fs), problem.dim))
    out = [x]
    for k in range(count):
        alpha = step if decay is None else step / (k + 1) ** decay
        grads = np.array([f.grad(xi) for f, xi in zip(fs, x, strict=True)])
        x = w @ x - alpha * grads if variant == "cta" else w @ (x - alpha * grads)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("decay", [None, 0.75])
def test_dgd_registry_agents_follow_the_cta_recursion(problem: str, decay: float | None) -> None:
    """DGD as the registry builds it (combine-then-adapt), constant and diminishing step."""
    prob, g = PROBLEMS[problem](), GRAPHS["path"]
    p = {"step": 0.07, "max_iterations": 50, "tolerance": 0.0, "stop_patience": 1, "step_decay": decay or 0.0}
    agents = run(build_swarm("dgd", prob, g, p, record=True), ITERATES)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), dgd_reference(prob, g, 0.07, decay, "cta", ITERATES),
                    f"dgd cta {problem}")


@pytest.mark.parametrize("problem", ["quadratic", "logistic"])
def test_dgd_adapt_then_combine_variant(problem: str) -> None:
    """DGD ``variant="atc"``: neighbours send ``x_j - alpha grad f_j(x_j)`` and the agent mixes those."""
    prob, g = PROBLEMS[problem](), GRAPHS["star"]
    agents = {i: DGDAgent(i, prob.objectives[i], g.neighbors(i), metropolis_row(g, i), 0.09, 50, step_decay=0.6,
                          variant="atc", record=True) for i in range(4)}
    run(agents, ITERATES)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), dgd_reference(prob, g, 0.09, 0.6, "atc", ITERATES),
                    f"dgd atc {problem}")


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_diging_tracking_recursion(problem: str) -> None:
    """"DIGing gradient tracking": ``x+ = W x - step y``, ``y+ = W y + grad(x+) - grad(x)``, ``y0 = grad(x0)``."""
    prob, g = PROBLEMS[problem](), GRAPHS["path"]
    step = 0.05
    agents = run(build_swarm("diging", prob, g, {"step": step, "max_iterations": 50, "tolerance": 0.0,
                                                  "stop_patience": 1}, record=True), ITERATES)
    fs = [ref_objective(f) for f in prob.objectives]
    w = metropolis(g)
    x = np.zeros((4, prob.dim))
    grad = lambda x: np.array([f.grad(xi) for f, xi in zip(fs, x, strict=True)])  # noqa: E731
    y = grad(x)
    ref = [x]
    for _ in range(ITERATES):
        x_new = w @ x - step * y
        y = w @ y + grad(x_new) - grad(x)
        x = x_new
        ref.append(x)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), np.array(ref), f"diging {problem}")


def tracking_reference(problem: Problem, graph: Graph, step: float, form: str, count: int) -> np.ndarray:
    """"ATC and semi-ATC gradient tracking": ``x+ = W (x - step y)``; ATC ``y+ = W (y + grad(x+) - grad(x))``,
    semi-ATC ``y+ = W y + grad(x+) - grad(x)``; ``y0 = grad f(x0)``."""
    fs = [ref_objective(f) for f in problem.objectives]
    w = metropolis(graph)
    grad = lambda x: np.array([f.grad(xi) for f, xi in zip(fs, x, strict=True)])  # noqa: E731
    x = np.zeros((len(fs), problem.dim))
    y = grad(x)
    out = [x]
    for _ in range(count):
        x_new = w @ (x - step * y)
        y = w @ (y + grad(x_new) - grad(x)) if form == "atc" else w @ y + grad(x_new) - grad(x)
        x = x_new
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("form", ["atc", "semi_atc"])
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_atc_and_semi_atc_tracking_recursions(form: str, problem: str) -> None:
    """ATC (two rounds per iteration: ``x_k`` is the estimate after round ``2k - 1``) and semi-ATC (one round)."""
    if form not in ALGORITHM_SPECS:
        pytest.skip(f"{form} is not registered")
    prob, g, step = PROBLEMS[problem](), GRAPHS["star"], 0.08
    rounds_per_iteration = 2 if form == "atc" else 1
    agents = run(build_swarm(form, prob, g, {"step": step, "max_iterations": 50, "tolerance": 0.0,
                                             "stop_patience": 1}, record=True), rounds_per_iteration * ITERATES)
    got = robot_iterates(agents, 4, rounds_per_iteration * ITERATES + 1)
    if form == "atc":
        got = got[[0, *range(1, 2 * ITERATES, 2)]]
    assert_iterates(got, tracking_reference(prob, g, step, form, ITERATES), f"{form} {problem}")


# ----------------------------------------------------------------------------- ADMM family
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_global_consensus_admm_recursion(problem: str) -> None:
    """"Global consensus ADMM with a coordinator", unscaled: ``x_i = prox(z - y_i/rho, rho)``,
    ``z = mean(x_i + y_i/rho)``, ``y_i += rho (x_i - z)``; zero start. T1 golden ``z`` = 0.841667, 1.022431, ..."""
    prob, rho = PROBLEMS[problem](), 1.0
    agents = run(build_swarm("admm", prob, P4, {"rho": rho, "max_iterations": 50, "tolerance": 0.0}, record=True),
                 2 * ITERATES + 2)
    fs = [ref_objective(f) for f in prob.objectives]
    z, y = np.zeros(prob.dim), np.zeros((4, prob.dim))
    x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
    xs, zs = [x], [z]
    for _ in range(ITERATES):
        z = np.mean(x + y / rho, axis=0)
        y = y + rho * (x - z)
        x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
        xs.append(x)
        zs.append(z)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), np.array(xs), f"admm x {problem}")
    assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], np.array(zs), f"admm z {problem}")
    if problem == "t1":
        np.testing.assert_allclose(np.array(zs)[1:, 0], [0.841667, 1.022431, 1.013003], atol=1e-6)


def test_global_admm_residual_balancing_doubles_rho_and_robots_adopt_it() -> None:
    """"Residual balancing": rho doubles when the primal residual exceeds 10x the dual one; the robots use the new
    rho (from the broadcast) for the next x-step, and ``y`` needs no rescaling (unscaled form)."""
    prob, rho = vector_quadratics(seed=11), 0.05
    agents = run(build_swarm("admm", prob, P4, {"rho": rho, "max_iterations": 50, "tolerance": 0.0,
                                                "residual_balancing": True}, record=True), 2 * ITERATES + 2)
    fs = [ref_objective(f) for f in prob.objectives]
    z, y = np.zeros(prob.dim), np.zeros((4, prob.dim))
    x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
    xs, rhos = [x], []
    for _ in range(ITERATES):
        z_new = np.mean(x + y / rho, axis=0)
        r_pri = np.sqrt(np.sum((x - z_new) ** 2))
        r_dual = np.sqrt(4) * rho * np.linalg.norm(z_new - z)
        z = z_new
        y = y + rho * (x - z)
        if r_pri > 10 * r_dual:
            rho *= 2
        elif r_dual > 10 * r_pri:
            rho /= 2
        rhos.append(rho)
        x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
        xs.append(x)
    assert rhos[0] != 0.05, "the problem must trigger a change of rho"
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), np.array(xs), "admm residual balancing")


def radmm_reference(problem: Problem, graph: Graph, rho: float, alpha: float, count: int) -> np.ndarray:
    """"Relaxed (edge) consensus ADMM": ``x_i = prox(sum_j z_ij / (rho d_i), rho d_i)``, ``m_ij = 2 rho x_i - z_ij``,
    ``z_ij <- (1 - alpha) z_ij + alpha m_ji``; z = 0 at the start."""
    fs = [ref_objective(f) for f in problem.objectives]
    nb = neighbours(graph)
    n, dim = len(fs), problem.dim
    z = np.zeros((n, n, dim))
    primal = lambda z: np.array([fs[i].prox(z[i, nb[i]].sum(axis=0) / (rho * len(nb[i])), rho * len(nb[i]))  # noqa: E731
                                 for i in range(n)])
    x = primal(z)
    out = [x]
    for _ in range(count):
        m = np.zeros_like(z)
        for i in range(n):
            for j in nb[i]:
                m[i, j] = 2 * rho * x[i] - z[i, j]
        z_new = z.copy()
        for i in range(n):
            for j in nb[i]:
                z_new[i, j] = (1 - alpha) * z[i, j] + alpha * m[j, i]
        z = z_new
        x = primal(z)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("graph", ["path", "star"])
def test_relaxed_admm_recursion(problem: str, graph: str) -> None:
    """Relaxed ADMM from the registry; T1 on the path also matches the doc's ``x^1``, ``x^2``."""
    prob, g = PROBLEMS[problem](), GRAPHS[graph]
    rho, alpha = 1.3, 0.7
    agents = run(build_swarm("radmm", prob, g, {"rho": rho, "alpha": alpha, "max_iterations": 50, "tolerance": 0.0,
                                                 "stop_patience": 1}, record=True), ITERATES)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), radmm_reference(prob, g, rho, alpha, ITERATES),
                    f"radmm {problem} {graph}")
    if problem == "t1" and graph == "path":
        ref = radmm_reference(prob, g, 1.0, 0.5, 1)
        np.testing.assert_allclose(ref[:, :, 0], [[2, 0.5, 1.2, -0.8], [2.25, 1.3, 1.14, -0.56]], atol=1e-12)


def atg_reference(problem: Problem, graph: Graph, rho: float, alpha: float, gamma: float, delta: float,
                  count: int) -> np.ndarray:
    """"ADMM-tracking gradient (ATG)": trackers ``(y, s) = ((x, grad f(x)) + sum_j z_ij) / (1 + rho d_i)``,
    ``m_ij = -z_ij + 2 rho (y_i, s_i)``, ``z_ij <- (1-alpha) z_ij + alpha m_ji``,
    ``x <- x + gamma (y - x - delta s)`` with the trackers of before the z-update."""
    fs = [ref_objective(f) for f in problem.objectives]
    nb = neighbours(graph)
    n, dim = len(fs), problem.dim
    x = np.zeros((n, dim))
    z = np.zeros((n, n, 2 * dim))

    def trackers(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.array([(np.concatenate([x[i], fs[i].grad(x[i])]) + z[i, nb[i]].sum(axis=0)) / (1 + rho * len(nb[i]))
                         for i in range(n)])

    ys = trackers(x, z)
    out = [x]
    for _ in range(count):
        m = np.zeros_like(z)
        for i in range(n):
            for j in nb[i]:
                m[i, j] = -z[i, j] + 2 * rho * ys[i]
        z_new = z.copy()
        for i in range(n):
            for j in nb[i]:
                z_new[i, j] = (1 - alpha) * z[i, j] + alpha * m[j, i]
        x = x + gamma * (ys[:, :dim] - x - delta * ys[:, dim:])
        z = z_new
        ys = trackers(x, z)
        out.append(x)
    return np.array(out)


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_atg_recursion(problem: str) -> None:
    """ATG from the registry (the doc's check ``x^1 = [0.2, 0.066667, 0.2, -0.2]`` on T1 too)."""
    prob, g = PROBLEMS[problem](), GRAPHS["path"]
    pars = (0.9, 0.6, 0.5, 0.2)
    agents = run(build_swarm("atg", prob, g, {"rho": pars[0], "alpha": pars[1], "gamma": pars[2], "delta": pars[3],
                                               "max_iterations": 50, "tolerance": 0.0, "stop_patience": 1},
                             record=True), ITERATES)
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), atg_reference(prob, g, *pars, ITERATES),
                    f"atg {problem}")
    if problem == "t1":
        np.testing.assert_allclose(atg_reference(prob, g, 1, 0.5, 0.5, 0.2, 1)[1, :, 0], [0.2, 0.066667, 0.2, -0.2],
                                   atol=1e-6)


def coupled_problem(kind: str) -> CoupledProblem:
    """T2 as a coupled problem (the doc's check) or logistic ``f_i`` with random ``A_i`` (2 x 2), ``b_i``."""
    if kind == "t2":
        objs = [QuadraticObjective(np.array([[a]]), np.zeros(1)) for a in (1.0, 2.0, 4.0)]
        return CoupledProblem(objs, [np.ones((1, 1))] * 3, [np.array([7 / 3])] * 3)
    rng = np.random.default_rng(9)
    objs = list(random_logistic_problem(3, 2, seed=5).objectives)
    return CoupledProblem(objs, [rng.normal(size=(2, 2)) for _ in range(3)], [rng.normal(size=2) for _ in range(3)])


@pytest.mark.parametrize("kind", ["t2", "logistic"])
@pytest.mark.parametrize("kappa", [1.0, 3.0])
def test_constraint_coupled_recursion(kind: str, kappa: float) -> None:
    """"Constraint-coupled primal-dual with consensus-ADMM proxies": proxy ``y = (phi + sum z) / (1 + rho d)``,
    ``x <- x - gamma (grad f(x) + A^T y_lam)``, ``lambda <- lambda + gamma (kappa y_con - (lambda - y_lam))``,
    ``m_ij = -z_ij + 2 rho y_i``, relaxed z-update, proxy recomputed. T2 golden ``lambda_1`` = -0.077778, ..."""
    prob, g = coupled_problem(kind), make_graph("path", 3)
    rho, alpha, gamma = 1.0, 0.5, 0.1
    count = 4  # lambda enters x one round late: 4 iterates catch a wrong dual step in x
    agents = run(build_swarm("coupled", prob, g, {"rho": rho, "alpha": alpha, "gamma": gamma, "kappa": kappa,
                                                   "max_iterations": 50, "tolerance": 0.0, "stop_patience": 1},
                             record=True), count)
    fs = [ref_objective(f) for f in prob.objectives]
    nb = neighbours(g)
    n, m = 3, prob.m
    x = [np.zeros(f.dim) for f in prob.objectives]
    lam = np.zeros((n, m))
    z = np.zeros((n, n, 2 * m))
    proxy = lambda x, lam, z: np.array([  # noqa: E731
        (np.concatenate([lam[i], prob.A[i] @ x[i] - prob.b[i]]) + z[i, nb[i]].sum(axis=0)) / (1 + rho * len(nb[i]))
        for i in range(n)])
    y = proxy(x, lam, z)
    xs, lams = [x], [lam]
    for _ in range(count):
        x = [x[i] - gamma * (fs[i].grad(x[i]) + prob.A[i].T @ y[i, :m]) for i in range(n)]
        lam = lam + gamma * (kappa * y[:, m:] - (lam - y[:, :m]))
        z_new = z.copy()
        for i in range(n):
            for j in nb[i]:
                z_new[i, j] = (1 - alpha) * z[i, j] + alpha * (-z[j, i] + 2 * rho * y[j])
        z = z_new
        y = proxy(x, lam, z)
        xs.append(x)
        lams.append(lam)
    assert_iterates(robot_iterates(agents, n, count + 1), np.array(xs), f"coupled x {kind}")
    assert_iterates(np.array([agents[i].lam for i in range(n)]), lams[-1], f"coupled lambda {kind}")
    if kind == "t2" and kappa == 1.0:
        np.testing.assert_allclose([lm[1, 0] for lm in lams[1:4]], [-0.077778, -0.228148, -0.411185], atol=1e-6)


# ----------------------------------------------------------------------------- ALADIN
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_rcaladin_recursion(problem: str) -> None:
    """"RC-ALADIN with a coordinator": ``x = prox(z - lambda/rho, rho)``, ``g = rho (z - x) - lambda``,
    ``z+ = mean(x - g/rho)``, ``lambda = rho (x - z+) - g``; ``sum lambda = 0`` from round 1. T1 golden at rho = 2."""
    prob, rho = PROBLEMS[problem](), 2.0
    agents = run(build_swarm("rcaladin", prob, P4, {"rho": rho, "max_iterations": 50, "tolerance": 0.0}, record=True),
                 2 * ITERATES + 2)
    fs = [ref_objective(f) for f in prob.objectives]
    z, lam = np.zeros(prob.dim), np.zeros((4, prob.dim))
    xs, zs = [], [z]
    for _ in range(ITERATES + 1):
        x = np.array([f.prox(z - li / rho, rho) for f, li in zip(fs, lam, strict=True)])
        g = rho * (z - x) - lam
        xs.append(x)
        z = np.mean(x - g / rho, axis=0)
        lam = rho * (x - z) - g
        zs.append(z)
        assert np.max(np.abs(lam.sum(axis=0))) <= 1e-12 * max(1.0, np.max(np.abs(lam)))
    assert_iterates(robot_iterates(agents, 4, ITERATES + 1), np.array(xs), f"rcaladin x {problem}")
    assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], np.array(zs[: ITERATES + 1]),
                    f"rcaladin z {problem}")
    if problem == "t1":
        np.testing.assert_allclose(np.array(zs)[1:4, 0], [1.183333, 0.851667, 0.790722], atol=1e-6)


def qudrc_params(**p: object) -> dict[str, object]:
    """Parameters for ``build_swarm("qudrc", ...)``: the schema's defaults for any newer ``quantization_*`` keys,
    with a constant level (a coarse first level, where the schema has one, set to ``quantization_level``), so the
    documented bound with one ``Delta`` applies to every outer iteration."""
    from distopt_ros.core.schema import SCHEMA

    extra = {name: SCHEMA[name].default for name in SCHEMA if name.startswith("quantization_") and name not in p}
    if "quantization_coarse_level" in SCHEMA:
        extra["quantization_coarse_level"] = p["quantization_level"]
    return {**extra, **p}


def test_qudrc_outer_recursion_with_a_common_quantized_average() -> None:
    """"Quantized decentralized RC-ALADIN": the outer iteration is RC-ALADIN with ``z`` the quantized average.

    Only the public estimates ``x_i`` are read. From the doc's equations, ``lambda^0 = -rho prox^-1(x^0)``
    (``z^0 = 0``) and ``x^{k+1} = prox(2 z^{k+1} - v^k, rho)`` with ``v = x - g / rho``, so each node's
    ``z^{k+1}`` follows from its ``x`` sequence. The doc then requires that ``z`` to be the same on every node,
    a multiple of ``Delta`` and within ``(mean v - 2 Delta, mean v]``; and every node moves to a new ``x`` at the
    same round (the averager stops everywhere at the same step).
    """
    rng = np.random.default_rng(12)
    objs = [QuadraticObjective(np.diag(rng.uniform(1, 3, size=2)), rng.normal(size=2) * 3 + 0.123) for _ in range(5)]
    prob, dg, rho, delta = Problem(tuple(objs)), make_digraph("random_strongly_connected", 5, seed=2), 1.5, 1e-3
    agents = build_swarm("qudrc", prob, dg, qudrc_params(rho=rho, quantization_level=delta, max_iterations=4, seed=3,
                                                         watchdog=20_000), record=True)
    simulate(agents, max_rounds=200_000)
    trajs = trajectories(agents, range(5))
    changes = [tuple(k for k in range(1, len(t)) if np.any(t[k] != t[k - 1])) for t in trajs]
    assert len(set(changes)) == 1 and len(changes[0]) == 3, changes
    fs = [ref_objective(f) for f in objs]
    xs = [[t[0]] + [t[k] for k in changes[0]] for t in trajs]  # x^0 .. x^3 per node
    lam = [-rho * f.prox_inverse(x[0], rho) for f, x in zip(fs, xs, strict=True)]
    z = [np.zeros(2)] * 5
    for k in range(3):
        g = [rho * (z[i] - xs[i][k]) - lam[i] for i in range(5)]
        v = np.array([xs[i][k] - g[i] / rho for i in range(5)])
        z = [(fs[i].prox_inverse(xs[i][k + 1], rho) + v[i]) / 2 for i in range(5)]
        common = z[0]
        assert max(float(np.max(np.abs(zi - common))) for zi in z) <= 1e-9, f"outer {k}: z differs across nodes {z}"
        assert np.max(np.abs(common / delta - np.round(common / delta))) <= 1e-6, f"z {common} not on the grid"
        mean_v = v.mean(axis=0)
        assert np.all(common <= mean_v + 1e-9) and np.all(common > mean_v - 2 * delta - 1e-9), (common, mean_v)
        z = [np.round(common / delta) * delta] * 5
        lam = [rho * (xs[i][k] - z[i]) - g[i] for i in range(5)]
        # the next x from the doc's step 1 with this lambda must be the observed one
        for i in range(5):
            assert_iterates(fs[i].prox(z[i] - lam[i] / rho, rho), xs[i][k + 1], f"qudrc x node {i} outer {k + 1}")


# ----------------------------------------------------------------------------- federated
def fed_reference(fs: Sequence[Any], dim: int, counts: Sequence[float], epochs: int, eta_l: float, optimizer: str,
                  server_step: float, rounds: int, beta1: float = 0.9, beta2: float = 0.99,
                  tau: float = 1e-3) -> np.ndarray:
    """"Federated averaging (FedAvg)" (data-weighted) and "FedOpt server optimizers" (uniform mean delta,
    ``m = 0``, ``v = tau^2``, no bias correction), full participation, full-batch local gradient descent."""
    w = np.zeros(dim)
    m, v = np.zeros(dim), np.full(dim, tau**2)
    n = np.asarray(counts, dtype=float)
    out = [w]
    for _ in range(rounds):
        models = []
        for f in fs:
            wk = w.copy()
            for _ in range(epochs):
                wk = wk - eta_l * f.grad(wk)
            models.append(wk)
        deltas = np.array(models) - w
        if optimizer == "fedavg":
            w = w + server_step * (n @ deltas) / n.sum()
        else:
            d = deltas.mean(axis=0)
            m = beta1 * m + (1 - beta1) * d
            if optimizer == "fedadam":
                v = beta2 * v + (1 - beta2) * d**2
            elif optimizer == "fedadagrad":
                v = v + d**2
            else:
                v = v - (1 - beta2) * d**2 * np.sign(v - d**2)
            w = w + server_step * m / (np.sqrt(v) + tau)
        out.append(w)
    return np.array(out)


def least_squares_clients(rows: Sequence[int], dim: int = 2, seed: int = 4) -> Problem:
    """Least-squares clients with *different* data counts (``num_samples`` = rows): FedAvg weights by them."""
    rng = np.random.default_rng(seed)
    return Problem(tuple(LeastSquaresObjective(rng.normal(size=(r, dim)), rng.normal(size=r) + 3 * k)
                         for k, r in enumerate(rows)))


@pytest.mark.parametrize("epochs,server_step", [(1, 1.0), (3, 0.6)])
def test_fedavg_registry_round_weights_by_data_counts(epochs: int, server_step: float) -> None:
    """FedAvg from the registry on clients with 3, 5, 9 and 14 samples: ``w += s sum n_k (w_k - w) / sum n_k``."""
    prob = least_squares_clients([3, 5, 9, 14])
    p = {"local_epochs": epochs, "local_step": 0.02, "server_step": server_step, "max_iterations": 20,
         "tolerance": 0.0}
    agents = run(build_swarm("fedavg", prob, P4, p, record=True), 2 * ITERATES + 2)
    fs = [ref_objective(f) for f in prob.objectives]
    ref = fed_reference(fs, prob.dim, [3, 5, 9, 14], epochs, 0.02, "fedavg", server_step, ITERATES)
    assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], ref, "fedavg")


@pytest.mark.parametrize("optimizer", [o for o in SERVER_OPTIMIZERS if o != "fedavg"])
@pytest.mark.parametrize("problem", ["quadratic", "logistic"])
def test_fedopt_server_recursions(optimizer: str, problem: str) -> None:
    """FedAdam, FedAdagrad, FedYogi with non-default ``beta1``, ``beta2``, ``tau`` (a swapped constant shows)."""
    prob = PROBLEMS[problem]()
    kw = {"beta1": 0.7, "beta2": 0.9, "tau": 0.05}
    agents = fed_swarm(prob, 20, 2, 0.05, optimizer=optimizer, server_step=0.3, record=True, **kw)
    run(agents, 2 * ITERATES + 2)
    fs = [ref_objective(f) for f in prob.objectives]
    ref = fed_reference(fs, prob.dim, [1] * 4, 2, 0.05, optimizer, 0.3, ITERATES, **kw)
    assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], ref, f"{optimizer} {problem}")


def test_fedopt_server_default_constants() -> None:
    """The documented defaults ``beta1 = 0.9``, ``beta2 = 0.99``, ``tau = 1e-3`` (FedAdam, FedYogi)."""
    for optimizer in ("fedadam", "fedyogi"):
        server = FedServer(4, 2, 10, optimizer)
        assert (server.beta1, server.beta2, server.tau) == (0.9, 0.99, 1e-3)
        prob = vector_quadratics()
        agents = run(fed_swarm(prob, 20, 1, 0.05, optimizer=optimizer, server_step=0.2, record=True), 2 * ITERATES + 2)
        fs = [ref_objective(f) for f in prob.objectives]
        ref = fed_reference(fs, prob.dim, [1] * 4, 1, 0.05, optimizer, 0.2, ITERATES)
        assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], ref, optimizer)


def project_simplex_ref(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex, by bisection on the shift (independent of the sort formula)."""
    lo, hi = float(np.min(v)) - 1.0, float(np.max(v))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(v - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - 0.5 * (lo + hi), 0.0)


@pytest.mark.parametrize("mode", ["minmax", "fair"])
def test_min_max_and_fair_servers_recursion(mode: str) -> None:
    """"Min-max and fairness-constrained federated servers" (algorithm ``fedpd``): gradient descent-ascent on
    ``(w, lambda)`` resp. ``(w, mu)``, both updates from the losses and gradients reported at the current ``w``."""
    prob = vector_quadratics(n=3, seed=5)
    step, dual_step, eps, weights = 0.05, 0.3, 2.0, [0.2, 0.3, 0.5]
    agents = primal_dual_swarm(prob, 10, mode, step, dual_step, weights=weights, epsilon=eps)
    fs = [ref_objective(f) for f in prob.objectives]
    w = np.zeros(prob.dim)
    lam = np.full(3, 1 / 3) if mode == "minmax" else np.zeros(3)
    ws = [w]
    for _ in range(ITERATES):
        grads = np.array([f.grad(w) for f in fs])
        losses = np.array([f.value(w) for f in fs])
        if mode == "minmax":
            w, lam = w - step * lam @ grads, project_simplex_ref(lam + dual_step * losses)
        else:
            w, lam = w - step * (np.array(weights) + lam) @ grads, np.maximum(0.0, lam + dual_step * (losses - eps))
        ws.append(w)
    server = agents[COORDINATOR]
    server.record = True  # its trajectory: w after every step
    run(agents, 2 * ITERATES + 1)
    got = np.array([np.zeros(prob.dim), *server.trajectory[:ITERATES]])
    assert_iterates(got, np.array(ws), f"fedpd {mode} w")


# ----------------------------------------------------------------------------- price coordination
def price_problem(kind: str) -> ResourceProblem:
    """T2 (scalar, ``b = 7``) or a 2-resource problem with random ``A_i`` (2 x 3) and boxes that bind."""
    if kind == "t2":
        return ResourceProblem([QuadraticCost([a]) for a in (1.0, 2.0, 4.0)], 7.0)
    rng = np.random.default_rng(21)
    costs = [QuadraticCost(rng.uniform(1, 3, size=3), rng.normal(size=3), lower=-0.4, upper=0.5) for _ in range(3)]
    return ResourceProblem(costs, np.array([2.0, -1.0]), A=[rng.normal(size=(2, 3)) for _ in range(3)])


def price_reference(prob: ResourceProblem, mode: str, step: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Dual ascent (best responses), GDA, and the extragradient's predictor/corrector, from y = Pi(0), p = 0."""
    costs, mats, b = prob.costs, prob.matrices, prob.b
    proj = lambda c, y: np.clip(y, c.lower, c.upper)  # noqa: E731
    grad = lambda c, y: c.a * y + c.beta  # noqa: E731  (quadratic cost: a y + beta)
    y = [proj(c, np.zeros(c.dim)) for c in costs]
    p = np.zeros(b.size)
    ys, ps = [y], [p]
    for _ in range(count):
        if mode == "dual":
            y = [proj(c, (a.T @ p - c.beta) / c.a) for c, a in zip(costs, mats, strict=True)]
            p = p + step * (b - sum(a @ yi for a, yi in zip(mats, y, strict=True)))
        elif mode == "gda":
            y_new = [proj(c, yi - step * (grad(c, yi) - a.T @ p)) for c, a, yi in zip(costs, mats, y, strict=True)]
            p = p + step * (b - sum(a @ yi for a, yi in zip(mats, y, strict=True)))
            y = y_new
        else:
            y_hat = [proj(c, yi - step * (grad(c, yi) - a.T @ p)) for c, a, yi in zip(costs, mats, y, strict=True)]
            p_hat = p + step * (b - sum(a @ yi for a, yi in zip(mats, y, strict=True)))
            y = [proj(c, yi - step * (grad(c, yh) - a.T @ p_hat))
                 for c, a, yi, yh in zip(costs, mats, y, y_hat, strict=True)]
            p = p + step * (b - sum(a @ yh for a, yh in zip(mats, y_hat, strict=True)))
        ys.append(y)
        ps.append(p)
    return np.array(ys), np.array(ps)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["t2", "boxed"])
def test_price_modes_recursion(mode: str, kind: str) -> None:
    """"Dual decomposition", "Gradient descent-ascent and extragradient": bids and prices of every mode.

    Dual ascent's bidder answers the price it heard; GDA and the extragradient are simultaneous (both halves of
    a step use the same ``(y, p)``), the extragradient's corrector taken *from* ``y`` with the gradient at
    ``y_hat`` and the predicted price ``p_hat``. The bidders' recorded ``y`` lag the auctioneer's ``p``
    by the one round trip the doc describes (extragradient: the corrector lands when the next broadcast does).
    """
    prob, step = price_problem(kind), 0.2
    agents = run(build_swarm("price", prob, make_graph("path", 3), {"price_mode": mode, "step": step,
                                                                    "max_iterations": 50, "tolerance": 0.0},
                             record=True), 2 * ITERATES + 3)
    ys, ps = price_reference(prob, mode, step, ITERATES)
    assert_iterates(np.array(agents[COORDINATOR].trajectory)[: ITERATES + 1], ps, f"price {mode} p")
    lag = 2 if mode == "extragradient" else 1
    got = np.stack([np.array(agents[i].trajectory)[lag: lag + ITERATES] for i in range(3)], axis=1)
    assert_iterates(got, ys[1:], f"price {mode} y")
    if kind == "t2" and mode == "dual":
        # the doc: the error to p* = 4 contracts by |1 - step S| = 0.65 per round
        np.testing.assert_allclose(ps[1:, 0], [4 - 4 * 0.65**k for k in (1, 2, 3)], atol=1e-12)


# ----------------------------------------------------------------------------- coordinators: z-step and stop rules
def test_admm_coordinator_z_step_uses_the_sent_duals() -> None:
    """``z = mean_i (x_i + y_i / rho)`` with the duals as sent, also when ``sum_i y_i != 0`` (a restarted robot):
    the doc's reason for sending ``y_i``. Fed by hand, ``rho = 2.5``."""
    from distopt_ros.core.algorithms.admm import ConsensusADMMCoordinator
    from distopt_ros.core.messages import Message

    coord = ConsensusADMMCoordinator(3, 2, 2.5, 10)
    coord.start()
    x = np.array([[1.0, -2.0], [0.5, 4.0], [3.0, 1.0]])
    y = np.array([[0.7, 0.1], [-0.2, 0.9], [1.5, -0.3]])
    for i in range(3):
        coord.receive(Message(sender=i, receiver=COORDINATOR, iteration=0, algorithm="admm", kind="proposal", dim=2,
                              primal=x[i], dual=y[i]))
    (out,) = coord.step()
    np.testing.assert_allclose(out.consensus, np.mean(x + y / 2.5, axis=0), rtol=0, atol=1e-15)
    assert out.rho == 2.5


def admm_stop_round(prob: Problem, rho: float, tol: float, rounds: int) -> int:
    """First coordinator step at which "Residuals and stopping" holds: ``sqrt(sum ||x_i - z||^2)`` and
    ``sqrt(N) rho ||z - z_prev||`` below ``sqrt(N n) tol + tol * scale`` (scales ``max(||x||, sqrt(N) ||z||)``
    and ``||y||``)."""
    fs = [ref_objective(f) for f in prob.objectives]
    n, dim = prob.num_agents, prob.dim
    z, y = np.zeros(dim), np.zeros((n, dim))
    x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
    for k in range(1, rounds):
        z_new = np.mean(x + y / rho, axis=0)
        r_pri = np.sqrt(np.sum((x - z_new) ** 2))
        r_dual = np.sqrt(n) * rho * np.linalg.norm(z_new - z)
        base = np.sqrt(n * dim) * tol
        if r_pri <= base + tol * max(np.linalg.norm(x), np.sqrt(n) * np.linalg.norm(z_new)) and \
                r_dual <= base + tol * np.linalg.norm(y):
            return k
        z = z_new
        y = y + rho * (x - z)
        x = np.array([f.prox(z - yi / rho, rho) for f, yi in zip(fs, y, strict=True)])
    raise AssertionError("no stop")


@pytest.mark.parametrize("problem", ["quadratic", "logistic"])
def test_coordinator_stop_rules(problem: str) -> None:
    """The coordinators stop at the step their documented rule first holds: global ADMM's residual test, RC-ALADIN's
    ``||z+ - z|| <= tol max(1, ||z+||)``, FedAvg's "the model moved less than ``tol max(1, ||w||)``"; the price
    auctioneer when the imbalance and the price change are both below ``tol``."""
    prob, tol = PROBLEMS[problem](), 1e-6
    agents = build_swarm("admm", prob, P4, {"rho": 1.7, "max_iterations": 500, "tolerance": tol})
    simulate(agents)
    assert agents[COORDINATOR].iteration == admm_stop_round(prob, 1.7, tol, 500)
    assert all(a.done for a in agents.values())
    # RC-ALADIN
    agents = build_swarm("rcaladin", prob, P4, {"rho": 0.8, "max_iterations": 500, "tolerance": tol})
    simulate(agents)
    fs = [ref_objective(f) for f in prob.objectives]
    z, lam, k = np.zeros(prob.dim), np.zeros((4, prob.dim)), 0
    while True:
        k += 1
        x = np.array([f.prox(z - li / 0.8, 0.8) for f, li in zip(fs, lam, strict=True)])
        g = 0.8 * (z - x) - lam
        z_new = np.mean(x - g / 0.8, axis=0)
        lam = 0.8 * (x - z_new) - g
        moved, z = np.linalg.norm(z_new - z), z_new
        if moved <= tol * max(1.0, np.linalg.norm(z)):
            break
    assert agents[COORDINATOR].iteration == k
    # FedAvg (server step 0.5, two epochs): stop when the model moves less than tol max(1, ||w||)
    agents = fed_swarm(prob, 2000, 2, 0.05, server_step=0.5, tolerance=tol)
    simulate(agents)
    traj = fed_reference(fs, prob.dim, [1] * 4, 2, 0.05, "fedavg", 0.5, 2000)
    steps = np.linalg.norm(np.diff(traj, axis=0), axis=1)
    k = int(np.nonzero(steps <= tol * np.maximum(1.0, np.linalg.norm(traj[1:], axis=1)))[0][0]) + 1
    assert agents[COORDINATOR].iteration == k


@pytest.mark.parametrize("mode", MODES)
def test_auctioneer_stop_rule(mode: str) -> None:
    """The auctioneer stops at the first step with ``||b - sum A_i y_i|| <= tol`` and ``||p+ - p|| <= tol``."""
    from distopt_ros.core.algorithms.price import price_swarm

    prob, tol, step = price_problem("t2"), 1e-6, 0.2
    agents = price_swarm(prob, mode, step, 5000, tolerance=tol)
    simulate(agents)
    ys, ps = price_reference(prob, mode, step, 5000)
    for k in range(1, 5000):
        bids = ys[k] if mode == "dual" else ys[k - 1]  # dual: the best response to p_{k-1}; else the bid y_{k-1}
        imbalance = np.linalg.norm(prob.b - np.sum(bids, axis=0))
        if imbalance <= tol and np.linalg.norm(ps[k] - ps[k - 1]) <= tol:
            break
    assert agents[COORDINATOR].iteration == k


# ----------------------------------------------------------------------------- closed forms and builders
def test_resilient_dgd_trimmed_mix_recursion() -> None:
    """"Resilient mode (W-MSR)": per coordinate drop up to F neighbour values above the own one and F below, average
    the rest with the own value (equal weights), then ``- alpha_k grad f(x)`` with ``alpha_k = step / (k + 1)^p``."""
    g, f_max = make_graph("complete", 5), 1
    prob = vector_quadratics(n=5, seed=13)
    fs = [ref_objective(f) for f in prob.objectives]
    step, decay = 0.3, 0.8
    p = {"step": step, "step_decay": decay, "max_iterations": 50, "tolerance": 0.0, "stop_patience": 1,
         "resilient_f": f_max}
    nb = neighbours(g)
    x = np.zeros((5, prob.dim))
    x[:, 0] = [3.0, -1.0, 0.5, 2.0, -4.0]  # distinct values, so trimming matters from the first round
    agents = build_swarm("dgd", prob, g, p, record=True)
    for i in range(5):
        agents[i].x = x[i].copy()
    run(agents, ITERATES)
    ref = [x]
    for k in range(ITERATES):
        alpha = step / (k + 1) ** decay
        mixed = np.empty_like(x)
        for i in range(5):
            for d in range(prob.dim):
                own, vals = x[i, d], np.sort(x[nb[i], d])
                above, below, equal = vals[vals > own], vals[vals < own], vals[vals == own]
                kept = np.concatenate([below[min(f_max, below.size):], equal,
                                       above[: above.size - min(f_max, above.size)]])
                mixed[i, d] = (own + kept.sum()) / (1 + kept.size)
        x = mixed - alpha * np.array([f.grad(xi) for f, xi in zip(fs, x, strict=True)])
        ref.append(x)
    assert_iterates(robot_iterates(agents, 5, ITERATES + 1), np.array(ref), "dgd W-MSR")


def test_radmm_optimal_penalty_closed_form() -> None:
    """"Relaxed (edge) consensus ADMM": on a d-regular graph ``rho* = a / (d sqrt(1 - s^2))``, rate
    ``(1 + s / (1 + sqrt(1 - s^2))) / 2``, ``s = max(lambda_2(A/d), 0)``; irregular graphs are refused."""
    from distopt_ros.core.algorithms.admm import admm_optimal_rho_equal_curvature, radmm_optimal_penalty_regular

    for g, a in ((make_graph("ring", 6), 2.0), (make_graph("ring", 5), 0.7), (make_graph("complete", 4), 3.0)):
        adj = adjacency(g)
        d = adj.sum(axis=1)[0]
        s = max(float(np.sort(np.linalg.eigvalsh(adj / d))[-2]), 0.0)
        rho, rate = radmm_optimal_penalty_regular(g, a)
        assert rho == pytest.approx(a / (d * np.sqrt(1 - s**2)), rel=1e-12)
        assert rate == pytest.approx((1 + s / (1 + np.sqrt(1 - s**2))) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="regular"):
        radmm_optimal_penalty_regular(P4, 1.0)
    assert admm_optimal_rho_equal_curvature(2.5) == (2.5, 0.5)


def test_gossip_expected_matrix_and_averaging_time() -> None:
    """"Randomized pairwise gossip": ``W_bar = I - D/(2N) + (P + P^T)/(2N)``, ``P_ij = 1/d_i``,
    ``D = diag(sum_j (P_ij + P_ji))``; time ``log(1/eps) / log(1/lambda_2(W_bar))``."""
    from distopt_ros.core.algorithms.consensus import gossip_averaging_time, gossip_expected_matrix

    g = GRAPHS["star"]
    adj = adjacency(g)
    p = adj / adj.sum(axis=1, keepdims=True)
    n = 4
    w = np.eye(n) - np.diag((p + p.T).sum(axis=1)) / (2 * n) + (p + p.T) / (2 * n)
    np.testing.assert_allclose(gossip_expected_matrix(g), w, rtol=0, atol=1e-15)
    lam2 = np.sort(np.linalg.eigvalsh(w))[-2]
    assert gossip_averaging_time(g, 1e-4) == pytest.approx(np.log(1e4) / np.log(1 / lam2), rel=1e-12)


def test_coupled_problem_kkt_solve_and_violation() -> None:
    """``CoupledProblem.solve``: the saddle point of ``L = sum f + lambda^T sum (A x - b)``; T2 as coupled gives
    ``x = [4, 2, 1]``, ``lambda = -4``; the logistic instance satisfies the KKT conditions."""
    xs, lam = coupled_problem("t2").solve()
    np.testing.assert_allclose(np.concatenate(xs), [4, 2, 1], atol=1e-12)
    np.testing.assert_allclose(lam, [-4], atol=1e-12)
    prob = coupled_problem("logistic")
    xs, lam = prob.solve()
    fs = [ref_objective(f) for f in prob.objectives]
    for f, a, x in zip(fs, prob.A, xs, strict=True):
        np.testing.assert_allclose(f.grad(x) + a.T @ lam, 0, atol=1e-6)
    residual = sum(a @ x - b for a, x, b in zip(prob.A, xs, prob.b, strict=True))
    np.testing.assert_allclose(residual, 0, atol=1e-8)
    shifted = [x + 0.1 for x in xs]
    expected = np.linalg.norm(sum(a @ x - b for a, x, b in zip(prob.A, shifted, prob.b, strict=True)))
    assert prob.violation(shifted) == pytest.approx(expected, rel=1e-12)


def test_microgrid_problem_structure() -> None:
    """"Microgrid": N converters with ``f_k = r_k ||x||^2 + h_k^T x`` (``r_k`` in [0.5, 2]), a grid agent with
    ``R_g ||x||^2``, ``R_g = 1``, Kirchhoff ``sum_k x_k = d`` with ``A_k = I`` and the demand in the grid's ``b``."""
    from distopt_ros.core.algorithms.coupled import microgrid_problem

    prob = microgrid_problem(4, seed=3)
    assert prob.num_agents == 5 and prob.m == 5
    for k, f in enumerate(prob.objectives):
        np.testing.assert_array_equal(prob.A[k], np.eye(5))
        r = f.precision[0, 0] / 2
        np.testing.assert_allclose(f.precision, 2 * r * np.eye(5), rtol=0, atol=1e-15)
        if k < 4:
            assert 0.5 <= r <= 2.0
            np.testing.assert_array_equal(prob.b[k], np.zeros(5))
            h = -2 * r * f.mean
            assert np.all(np.abs(h) < 0.1)
        else:
            assert r == 1.0 and np.all(f.mean == 0)
    assert np.linalg.norm(prob.b[4]) > 0
    again = microgrid_problem(4, seed=3)
    np.testing.assert_array_equal(again.b[4], prob.b[4])
    assert not np.array_equal(microgrid_problem(4, seed=4).b[4], prob.b[4])


def test_heterogeneity_closed_form_and_golden() -> None:
    """"Client heterogeneity": ``B = sum_k p_k ||grad f_k(w*)||^2`` at ``w* = argmin sum_k p_k f_k``: 9 on T3,
    18.8 on T1 with equal weights, and a logistic (non-quadratic) case against an independent Newton solve."""
    from distopt_ros.core.algorithms.federated import heterogeneity

    t3 = Problem(tuple(QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in ((1.0, 0.0), (3.0, 4.0))))
    assert heterogeneity(t3, [0.5, 0.5]) == pytest.approx(9.0, abs=1e-12)
    assert heterogeneity(t1(), [0.25] * 4) == pytest.approx(18.8, abs=1e-12)
    prob, p = logistic(3), np.array([0.2, 0.3, 0.5])
    fs = [ref_objective(f) for f in prob.objectives]
    w = np.zeros(2)
    for _ in range(50):
        w = w - np.linalg.solve(sum(pk * f.hess(w) for pk, f in zip(p, fs, strict=True)),
                                sum(pk * f.grad(w) for pk, f in zip(p, fs, strict=True)))
    expected = sum(pk * float(np.sum(f.grad(w) ** 2)) for pk, f in zip(p, fs, strict=True))
    assert heterogeneity(prob, p) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="weights"):
        heterogeneity(t3, [0.7, 0.7])


def test_swarm_builders_match_the_registry() -> None:
    """The convenience builders (``coupled_swarm``, ``price_swarm``, ``rcaladin_swarm``, ``fed_swarm``) make the same
    agents as the registry: their first iterates follow the same documented recursions."""
    from distopt_ros.core.algorithms.aladin import rcaladin_swarm
    from distopt_ros.core.algorithms.coupled import coupled_swarm
    from distopt_ros.core.algorithms.price import price_swarm

    prob, g = coupled_problem("logistic"), make_graph("path", 3)
    a = run(coupled_swarm(prob, g, 0.8, 0.6, 0.05, 2.0, 50, record=True), ITERATES)
    b = run(build_swarm("coupled", prob, g, {"rho": 0.8, "alpha": 0.6, "gamma": 0.05, "kappa": 2.0,
                                              "max_iterations": 50, "tolerance": 0.0, "stop_patience": 3},
                        record=True), ITERATES)
    assert_iterates(robot_iterates(a, 3, ITERATES + 1), robot_iterates(b, 3, ITERATES + 1), "coupled_swarm")
    for mode in MODES:
        rp = price_problem("boxed")
        a = run(price_swarm(rp, mode, 0.15, 50, record=True), 2 * ITERATES + 3)
        _, ps = price_reference(rp, mode, 0.15, ITERATES)
        assert_iterates(np.array(a[COORDINATOR].trajectory)[: ITERATES + 1], ps, f"price_swarm {mode}")
    rc = run(rcaladin_swarm(vector_quadratics().objectives, 2.0, 50, record=True), 2 * ITERATES + 2)
    rb = run(build_swarm("rcaladin", vector_quadratics(), P4, {"rho": 2.0, "max_iterations": 50, "tolerance": 0.0},
                         record=True), 2 * ITERATES + 2)
    assert_iterates(np.array(rc[COORDINATOR].trajectory), np.array(rb[COORDINATOR].trajectory), "rcaladin_swarm")


# ----------------------------------------------------------------------------- coverage of the registry
COVERED = {"admm", "radmm", "dgd", "diging", "atc", "semi_atc", "atg", "coupled", "rcaladin", "qudrc", "fedavg",
           "price"}


def test_every_registered_algorithm_has_an_equation_test() -> None:
    """A new algorithm in the registry (or a new price mode / server optimizer) needs its recursion pinned here."""
    assert set(ALGORITHM_SPECS) <= COVERED, f"no equation test for {sorted(set(ALGORITHM_SPECS) - COVERED)}"
    assert set(MODES) == {"dual", "gda", "extragradient"}
    assert set(SERVER_OPTIMIZERS) == {"fedavg", "fedadam", "fedadagrad", "fedyogi"}
