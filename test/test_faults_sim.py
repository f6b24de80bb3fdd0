"""Faults in the simulator: robots that die, restart, or are cut off, against centralized solves.

Each test scripts the fault with :mod:`distopt_ros.sim.faults` (the calls the ROS liveness
module makes) and compares the survivors' answer with the centralized optimum of the robots
still running. Tolerances are stated per algorithm: exact methods 1e-6 (their stopping rule's
tolerance is 1e-9 relative), DGD's constant step leaves a bias of order step.
"""

import numpy as np
import pytest

from distopt_ros.core.membership import ChangeKind, StopReason
from distopt_ros.core.scenario import SwarmConfig, make_agent, make_problem, make_swarm, reference_solution
from distopt_ros.sim.faults import Cut, FaultSchedule, Kill, Restart
from distopt_ros.sim.simulator import simulate

EXACT = 1e-6


def _config(algorithm: str, **kw) -> SwarmConfig:
    base = {"algorithm": algorithm, "num_robots": 8, "topology": "ring", "seed": 3, "tolerance": 1e-10,
            "max_iterations": 20000}
    base.update(kw)
    return SwarmConfig.from_mapping(base)


def _error(result, reference, ids):
    return max(float(np.linalg.norm(result.estimates[i] - reference[i])) for i in ids)


@pytest.mark.parametrize("algorithm", ["radmm", "atg", "diging", "coupled"])
def test_survivors_converge_to_the_remaining_robots_optimum(algorithm):
    extra = {"problem": "centroid"} if algorithm == "coupled" else {}
    cfg = _config(algorithm, **extra)
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=40000, faults=FaultSchedule([Kill(5, at=30, detect=4)]))
    live = [i for i in range(8) if i != 5]
    assert set(result.estimates) == set(live)
    ref = reference_solution(cfg, live=live)
    full = reference_solution(cfg)
    assert result.converged
    assert all(agents[i].stop_reason is StopReason.CONVERGED for i in live)
    assert _error(result, ref, live) < EXACT
    assert _error(result, full, live) > 100 * EXACT  # the answer did change: robot 5's data is gone


def test_dgd_reweights_and_reaches_the_fixed_point_of_the_remaining_graph():
    """Constant-step DGD is biased: it must reach DGD's own fixed point on the survivors' re-weighted graph.

    The fixed point ``x_i = sum_j W_ij x_j - step grad f_i(x_i)`` is solved here independently (scipy root);
    its mean must also be near the survivors' optimum (within the step's bias)."""
    from scipy.optimize import root

    cfg = _config("dgd", step=0.01, tolerance=0.0, max_iterations=30000)
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=30000, faults=FaultSchedule([Kill(2, at=50, detect=3)]))
    live = [i for i in range(8) if i != 2]
    for i in live:  # the self-weight took the lost edge's weight: rows still sum to one
        assert sum(agents[i].weights.values()) == pytest.approx(1.0, abs=1e-15)
        assert 2 not in agents[i].weights
    idx = {i: k for k, i in enumerate(live)}
    w = np.zeros((7, 7))
    for i in live:
        for j, v in agents[i].weights.items():
            w[idx[i], idx[j]] = v
    assert np.allclose(w, w.T) and np.allclose(w.sum(axis=0), 1.0)  # still doubly stochastic
    objs = [agents[i].objective for i in live]

    def residual(flat):
        x = flat.reshape(7, -1)
        g = np.array([f.gradient(x[k]) for k, f in enumerate(objs)])
        return (x - (w @ x - 0.01 * g)).ravel()

    fixed = root(residual, np.zeros(7 * cfg.dim), tol=1e-14).x.reshape(7, -1)
    assert max(np.linalg.norm(result.estimates[i] - fixed[idx[i]]) for i in live) < 1e-6
    ref = reference_solution(cfg, live=live)[live[0]]
    assert np.linalg.norm(fixed.mean(axis=0) - ref) < np.linalg.norm(fixed.mean(axis=0) - reference_solution(cfg)[0])


def test_diging_without_the_tracker_restart_converges_to_a_wrong_point():
    """The sum invariant matters: skip the common restart and the survivors agree on a wrong answer."""
    cfg = _config("diging")
    agents = make_swarm(cfg)
    for a in agents.values():
        a._restart_tracker = lambda: None  # the restart of y at the common round, disabled
    result = simulate(agents, max_rounds=40000, faults=FaultSchedule([Kill(5, at=30, detect=4)]))
    live = [i for i in range(8) if i != 5]
    ref = reference_solution(cfg, live=live)
    assert _error(result, ref, live) > 1e-3


@pytest.mark.parametrize("algorithm", ["admm", "rcaladin", "price"])
def test_a_coordinator_goes_on_with_the_live_robots(algorithm):
    extra = {"problem": "allocation", "step": 0.1} if algorithm == "price" else {}
    cfg = _config(algorithm, topology="star", tolerance=1e-10, **extra)
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=40000, faults=FaultSchedule([Kill(6, at=2, detect=2)]))
    live = [i for i in range(8) if i != 6]
    ref = reference_solution(cfg, live=live)
    assert result.converged
    assert _error(result, ref, live) < 1e-5


def test_robots_whose_coordinator_is_gone_stop_with_that_status():
    cfg = _config("admm", topology="star")
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=1000, faults=FaultSchedule([Kill(-2, at=10, detect=3)]))
    assert not result.converged
    for i in range(8):
        assert agents[i].done and not agents[i].converged
        assert agents[i].stop_reason is StopReason.COORDINATOR_LOST


def test_an_algorithm_that_cannot_adapt_stops_instead_of_converging_wrong():
    cfg = _config("qudrc", topology="directed_ring", num_robots=6, quantization_level=1e-3, max_iterations=200)
    agents = make_swarm(cfg)
    result = simulate(agents, max_rounds=100000, faults=FaultSchedule([Kill(3, at=5, detect=2)]))
    assert not result.converged
    stopped = [i for i in agents if i != 3 and agents[i].stop_reason is StopReason.PEER_LOST]
    assert stopped  # the robots that heard robot 3 say why they stopped
    assert not any(agents[i].converged for i in agents if i != 3)


@pytest.mark.parametrize("algorithm", ["radmm", "diging", "atg"])
def test_a_restarted_robot_is_welcomed_and_the_full_optimum_is_reached_again(algorithm):
    cfg = _config(algorithm)
    problem = make_problem(cfg)
    agents = make_swarm(cfg)
    schedule = FaultSchedule([Kill(4, at=40, detect=4), Restart(4, at=120)],
                             factory=lambda i: make_agent(cfg, i, problem))
    result = simulate(agents, max_rounds=40000, faults=schedule)
    assert set(result.estimates) == set(range(8))
    assert result.estimates is not None and schedule.log[-1][1].startswith("robot 4 restarted")
    ref = reference_solution(cfg)
    assert result.converged
    assert _error(result, ref, range(8)) < EXACT


def test_a_restart_is_reproducible_bit_for_bit():
    cfg = _config("radmm")

    def run():
        problem = make_problem(cfg)
        schedule = FaultSchedule([Kill(4, at=40, detect=4), Restart(4, at=120)],
                                 factory=lambda i: make_agent(cfg, i, problem))
        return simulate(make_swarm(cfg), max_rounds=40000, faults=schedule)

    a, b = run(), run()
    assert a.rounds == b.rounds
    assert all(np.array_equal(a.estimates[i], b.estimates[i]) for i in range(8))


def test_a_partition_solves_each_part_then_the_whole_after_the_heal():
    cfg = _config("radmm", tolerance=0.0, max_iterations=3000)
    agents = make_swarm(cfg)
    side = frozenset({0, 1, 2, 3})
    seen = {}

    def snapshot(round_, live):
        if round_ == 590:
            seen.update({i: np.array(a.estimate()) for i, a in live.items()})

    result = simulate(agents, max_rounds=3000, on_round=snapshot,
                      faults=FaultSchedule([Cut(side, at=30, until=600, detect=5)]))
    left = reference_solution(cfg, live=sorted(side))
    right = reference_solution(cfg, live=sorted(set(range(8)) - side))
    assert max(np.linalg.norm(seen[i] - left[i]) for i in side) < EXACT
    assert max(np.linalg.norm(seen[i] - right[i]) for i in set(range(8)) - side) < EXACT
    assert _error(result, reference_solution(cfg), range(8)) < EXACT


def test_lossy_asynchronous_run_recovers_from_a_kill():
    from distopt_ros.core.network import NetworkModel

    cfg = _config("radmm", tolerance=1e-9)
    agents = make_swarm(cfg)
    net = NetworkModel(loss="bernoulli", loss_probability=0.1, activation_probability=0.8, seed=1)
    result = simulate(agents, max_rounds=60000, network=net, faults=FaultSchedule([Kill(1, at=33, detect=10)]))
    live = [i for i in range(8) if i != 1]
    assert result.converged
    assert _error(result, reference_solution(cfg, live=live), live) < 1e-5


def test_peer_left_reports_what_it_did():
    cfg = _config("radmm")
    agents = make_swarm(cfg)
    assert agents[0].peer_left(1) is ChangeKind.ADAPTED
    assert agents[0].peer_left(1) is ChangeKind.NO_CHANGE
    assert agents[0].peer_left(7) is ChangeKind.STOPPED  # ring: robot 0 had neighbours 1 and 7 only
    assert agents[0].stop_reason is StopReason.ISOLATED


def test_a_restarted_edge_admm_robot_starts_from_its_neighbours_values():
    """Its first z_ij are the neighbours' messages in full, so its first iterate is near the swarm's, not cold."""
    cfg = _config("radmm")
    problem = make_problem(cfg)
    firsts = {}

    def run(warm: bool):
        def factory(i):
            agent = make_agent(cfg, i, problem)
            if not warm:
                agent._warming = False  # blend the first messages in with alpha, from z = 0
            return agent

        agents = make_swarm(cfg)
        schedule = FaultSchedule([Kill(4, at=150, detect=4), Restart(4, at=300)], factory=factory)

        def watch(round_, live):
            if round_ == 302:
                firsts[warm] = np.array(live[4].estimate())

        result = simulate(agents, max_rounds=40000, faults=schedule, on_round=watch)
        assert result.converged and _error(result, reference_solution(cfg), range(8)) < EXACT

    run(True)
    run(False)
    optimum = reference_solution(cfg)[0]
    assert np.linalg.norm(firsts[True] - optimum) < 0.5 * np.linalg.norm(firsts[False] - optimum)


def test_the_readme_shows_the_committed_faults_table():
    """`make results` regenerates benchmarks/results/faults.md and copies its table into the README."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_faults", root / "benchmarks" / "bench_faults.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = bench.readme_table((root / "benchmarks" / "results" / "faults.md").read_text())
    readme = (root / "README.md").read_text()
    assert f"{bench.README_BEGIN}\n{table}\n{bench.README_END}" in readme
