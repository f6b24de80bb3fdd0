"""Consensus ADMM agents in the simulator: golden values, convergence, stopping, bad input."""

import numpy as np
import pytest
from scipy.optimize import minimize

from distopt_ros.core.algorithms.admm import ConsensusADMMAgent, ConsensusADMMCoordinator, RelaxedADMMAgent
from distopt_ros.core.graphs import make_graph
from distopt_ros.core.membership import ReceiptKind, StopReason
from distopt_ros.core.messages import COORDINATOR, Message
from distopt_ros.core.network import NetworkModel
from distopt_ros.core.problems import QuadraticObjective, target_fusion_problem
from distopt_ros.core.scenario import SwarmConfig, make_problem, make_swarm
from distopt_ros.sim.simulator import simulate

A = [1.0, 2.0, 3.0, 4.0]
C = [4.0, 1.0, 2.0, -1.0]


def t1_objectives():
    """Problem T1 of docs/algorithms.md, "Small reference problems" (x* = 0.8)."""
    return [QuadraticObjective(np.array([[a]]), np.array([c])) for a, c in zip(A, C, strict=True)]


def test_relaxed_admm_golden_iterates():
    objs = t1_objectives()
    g = make_graph("path", 4)
    agents = {i: RelaxedADMMAgent(i, objs[i], g.neighbors(i), rho=1.0, alpha=0.5, max_iterations=2, record=True)
              for i in range(4)}
    res = simulate(agents)
    x = np.array([res.trajectories[i][:, 0] for i in range(4)]).T
    np.testing.assert_allclose(x[0], [2, 0.5, 1.2, -0.8], atol=1e-12)
    np.testing.assert_allclose(x[1], [2.25, 1.3, 1.14, -0.56], atol=1e-12)
    np.testing.assert_allclose(x[2], [2.275, 1.6225, 1.078, -0.372], atol=1e-12)


def test_relaxed_admm_error_at_100_iterations():
    objs = t1_objectives()
    g = make_graph("path", 4)
    for alpha, expected in ((0.5, 2.9e-6), (0.8, 2.9e-10)):
        agents = {i: RelaxedADMMAgent(i, objs[i], g.neighbors(i), 1.0, alpha, max_iterations=100) for i in range(4)}
        res = simulate(agents)
        err = res.max_error(np.array([0.8]))
        assert expected / 3 < err < expected * 3


def test_global_admm_golden_iterates():
    objs = t1_objectives()
    agents = {i: ConsensusADMMAgent(i, objs[i], rho=1.0, max_iterations=3, record=True) for i in range(4)}
    agents[COORDINATOR] = ConsensusADMMCoordinator(4, 1, rho=1.0, max_iterations=3, record=True)
    res = simulate(agents)
    np.testing.assert_allclose(res.trajectories[COORDINATOR][1:, 0], [0.841667, 1.022431, 1.013003], atol=1e-6)
    x = np.array([res.trajectories[i][:, 0] for i in range(4)]).T
    np.testing.assert_allclose(x[0], [2, 0.666667, 1.5, -0.8], atol=1e-6)
    np.testing.assert_allclose(x[1], [1.841667, 1.005556, 1.545833, -0.303333], atol=1e-6)
    np.testing.assert_allclose(x[2], [1.522431, 1.071435, 1.460174, -0.002028], atol=1e-6)
    assert abs(sum(float(agents[i].y[0]) for i in range(4))) < 1e-12


@pytest.mark.parametrize("algorithm", ["radmm", "admm"])
@pytest.mark.parametrize("num_robots,topology,seed", [
    (2, "path", 0), (4, "ring", 1), (5, "star", 2), (8, "ring", 7), (9, "grid", 3),
    (12, "random_geometric", 4), (16, "erdos_renyi", 5), (6, "complete", 6),
])
def test_reaches_closed_form_optimum(algorithm, num_robots, topology, seed):
    cfg = SwarmConfig(algorithm=algorithm, num_robots=num_robots, topology=topology, seed=seed,
                      max_iterations=20_000, tolerance=1e-12)
    res = simulate(make_swarm(cfg))
    optimum = make_problem(cfg).centralized_optimum()
    assert res.converged
    assert res.max_error(optimum, list(range(num_robots))) < 1e-8


def test_closed_form_matches_numerical_solve():
    problem, truth = target_fusion_problem(6, seed=11, dim=3)
    closed = problem.centralized_optimum()
    numeric = minimize(problem.value, np.zeros(3), method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(closed, numeric, atol=1e-6)
    assert np.linalg.norm(closed - truth) < 3.0  # the fused estimate is near the truth


def test_decentralized_stop_is_swarm_wide_and_within_diameter():
    cfg = SwarmConfig(algorithm="radmm", num_robots=10, topology="path", seed=3,
                      max_iterations=50_000, tolerance=1e-9)
    agents = make_swarm(cfg)
    res = simulate(agents)
    its = [res.iterations[i] for i in range(10)]
    assert all(agents[i].converged for i in range(10))
    assert max(its) < 50_000
    assert max(its) - min(its) <= 9  # the stop flood needs at most diameter rounds


def test_iteration_cap_stops_everyone():
    cfg = SwarmConfig(algorithm="radmm", num_robots=6, max_iterations=7, tolerance=0.0)
    res = simulate(make_swarm(cfg))
    assert set(res.iterations.values()) == {7}
    assert not res.converged


def test_same_seed_same_run_different_seed_different_data():
    cfg = SwarmConfig(num_robots=6, seed=5, max_iterations=40, tolerance=0.0)
    r1 = simulate(make_swarm(cfg, record=True))
    r2 = simulate(make_swarm(cfg, record=True))
    for i in range(6):
        assert np.array_equal(r1.trajectories[i], r2.trajectories[i])
    r3 = simulate(make_swarm(cfg.with_overrides(seed=6), record=True))
    assert not np.array_equal(r1.trajectories[0], r3.trajectories[0])


@pytest.mark.parametrize("field,value,needle", [
    ("rho", 0.0, "rho"), ("rho", -1.0, "rho"), ("alpha", 1.0, "alpha"),
    ("topology", "hypercube", "topology"), ("num_robots", 1, "num_robots"),
    ("algorithm", "magic", "algorithm"), ("max_iterations", 0, "max_iterations"),
    ("tolerance", float("nan"), "tolerance"),
])
def test_bad_parameters_are_refused_by_name(field, value, needle):
    with pytest.raises(ValueError, match=needle):
        SwarmConfig(**{field: value})


def test_bad_problem_data_refused_by_name():
    with pytest.raises(ValueError, match="mean"):
        QuadraticObjective(np.eye(2), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="precision"):
        QuadraticObjective(np.eye(3), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="covariance"):
        QuadraticObjective.from_covariance([0.0, 0.0], np.array([[1.0, 0.0], [0.0, -1.0]]))


def _edge(sender, receiver, iteration, consensus, dim=None, **kw):
    return Message(sender=sender, receiver=receiver, iteration=iteration, algorithm="radmm", kind="edge",
                   dim=len(consensus) if dim is None else dim, consensus=consensus, **kw)


def test_bad_messages_are_rejected_and_leave_state_untouched():
    objs = t1_objectives()
    agent = RelaxedADMMAgent(1, objs[1], [0, 2], rho=1.0, alpha=0.5, max_iterations=10)
    x0 = agent.x.copy()
    cases = {
        "unknown_sender": _edge(3, 1, 0, [1.0]),
        "wrong_receiver": _edge(0, 2, 0, [1.0]),
        "wrong_dimension": _edge(0, 1, 0, [1.0, 2.0], dim=1),
        "non_finite": _edge(0, 1, 0, [float("nan")]),
        "too_early": _edge(0, 1, 9, [1.0]),
        "wrong_algorithm": Message(sender=0, receiver=1, iteration=0, algorithm="admm", kind="edge", dim=1,
                                   consensus=[1.0]),
    }
    # Robot 0's round 0 first: a new agent whose first message from a peer is rounds ahead pairs that
    # peer's rounds with its own (it joined a running swarm), so "too early" needs a paired peer.
    assert agent.receive(_edge(0, 1, 0, [1.0])).accepted
    for reason, msg in cases.items():
        assert agent.receive(msg).reason == reason
    assert not agent.ready()
    assert agent.receive(_edge(0, 1, 0, [5.0])).reason == "duplicate"
    assert agent.receive(_edge(2, 1, 0, [1.0])).accepted
    assert np.array_equal(agent.x, x0)
    agent.step()
    assert agent.receive(_edge(0, 1, 0, [1.0])).reason == "stale"
    assert sum(agent.stats.rejected.values()) == 8
    assert agent.stats.received == 2


def _exchange(a, b, msgs):
    return [(b if m.receiver == b.agent_id else a).receive(m) for m in msgs]


def test_lost_final_message_is_resent_and_stops_the_neighbour():
    """A robot's final ``done`` message is lost: the neighbour's repeated messages earn a resend."""
    objs = t1_objectives()
    a = RelaxedADMMAgent(0, objs[0], [1], rho=1.0, alpha=0.5, max_iterations=3)
    b = RelaxedADMMAgent(1, objs[1], [0], rho=1.0, alpha=0.5, max_iterations=100)
    _exchange(a, b, a.start() + b.start())
    for _ in range(2):
        _exchange(a, b, a.step() + b.step())
    final = a.step()  # iteration 3: a stops (cap); its final message is lost on the radio
    assert a.done and final[0].done
    (receipt,) = _exchange(a, b, b.step())  # b's round-3 message: the legitimate last round, nothing owed
    assert receipt.kind is ReceiptKind.AFTER_STOP and receipt.reply == ()
    assert not b.ready()
    (receipt,) = _exchange(a, b, b.step())  # b timed out and stepped without a: round 4, still not done
    assert not b.done
    resent = list(receipt.reply)  # the receipt's reply: what a's driver sends back
    assert resent == final and a.stats.farewells == 1
    x_before = b.x.copy()
    assert b.receive(resent[0]).accepted  # stale (round 3 < 4) but done: accepted for its flag only
    assert b.stats.done_notices == 1 and np.array_equal(b.x, x_before)
    b.step()  # the round times out again
    # a stopped at its cap (its final counter is 0): b stops too, without claiming convergence
    assert b.done and not b.converged and b.stop_reason is StopReason.ITERATION_CAP


@pytest.mark.parametrize("probability", [0.2, 0.4])
def test_lossy_simulation_everyone_stops_converged(probability):
    """Bernoulli loss and random activation: the stop flood still reaches every robot."""
    cfg = SwarmConfig(algorithm="radmm", num_robots=6, topology="ring", seed=2, alpha=0.8,
                      max_iterations=5000, tolerance=1e-8)
    agents = make_swarm(cfg)
    net = NetworkModel(loss="bernoulli", loss_probability=probability, activation_probability=0.5, seed=4)
    simulate(agents, network=net, max_rounds=50_000)
    assert all(ag.converged for ag in agents.values())
    assert max(ag.iteration for ag in agents.values()) < 5000


def test_set_objective_replaces_the_local_data_and_checks_the_dimension():
    """New observations replace the objectives (a time-varying problem); edge ADMM solves the new problem."""
    cfg = SwarmConfig(algorithm="radmm", num_robots=4, topology="ring", seed=1, max_iterations=400, tolerance=0.0)
    agents = make_swarm(cfg)
    simulate(agents)
    moved = [QuadraticObjective(np.eye(2) * (i + 1), np.array([5.0, -1.0]) + i) for i in range(4)]
    fresh = make_swarm(cfg.with_overrides(max_iterations=800))
    for i in range(4):
        fresh[i].set_objective(moved[i])
    simulate(fresh)
    x_star = sum(f.precision @ f.mean for f in moved) @ np.linalg.inv(sum(f.precision for f in moved))
    for i in range(4):
        np.testing.assert_allclose(fresh[i].estimate(), x_star, atol=1e-8)
    with pytest.raises(ValueError, match="dim"):
        agents[0].set_objective(QuadraticObjective(np.eye(3), np.zeros(3)))


@pytest.mark.parametrize("tolerance, cap, converged", [(0.0, 6, False), (1e-9, 5000, True)])
def test_robots_report_what_their_coordinator_stopped_for(tolerance, cap, converged):
    """A coordinator that stops at its iteration cap does not certify convergence: its robots stop with
    ``iteration_cap``; one that met its tolerance does, and they stop ``converged``."""
    objs = target_fusion_problem(4, seed=3)[0].objectives
    agents = {i: ConsensusADMMAgent(i, o, rho=1.0, max_iterations=10_000) for i, o in enumerate(objs)}
    agents[COORDINATOR] = ConsensusADMMCoordinator(4, objs[0].dim, 1.0, cap, tolerance=tolerance)
    simulate(agents)
    assert all(a.done for a in agents.values())
    robots = [agents[i] for i in range(4)]
    assert all(a.converged is converged for a in robots)
    want = StopReason.CONVERGED if converged else StopReason.ITERATION_CAP
    assert all(a.stop_reason is want for a in robots), [a.stop_reason for a in robots]
