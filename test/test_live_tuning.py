"""Swarm-wide live tuning in the simulator: set on one robot, in force on every robot at one round."""

from __future__ import annotations

import numpy as np
import pytest

from distopt_ros.core.messages import Message, Tuning
from distopt_ros.core.scenario import SwarmConfig, make_swarm, reference_solution
from distopt_ros.core.schema import ParameterError
from distopt_ros.sim.simulator import simulate

CASES = [
    ({"algorithm": "radmm", "num_robots": 8, "seed": 7, "max_iterations": 3000}, {"rho": 0.8}),
    ({"algorithm": "radmm", "num_robots": 6, "topology": "path", "seed": 2, "max_iterations": 3000},
     {"alpha": 0.7, "rho": 2.0}),
    ({"algorithm": "atg", "num_robots": 6, "seed": 3, "max_iterations": 20000}, {"gamma": 0.8}),
    ({"algorithm": "diging", "num_robots": 6, "seed": 3, "step": 0.05, "max_iterations": 20000}, {"step": 0.03}),
    ({"algorithm": "coupled", "problem": "microgrid", "num_robots": 5, "seed": 1, "gamma": 0.1,
      "max_iterations": 20000}, {"kappa": 1.5}),
]


def _run(params: dict, change: dict, robot: int = 3, at: int = 40):
    cfg = SwarmConfig(tolerance=1e-11, **params)
    agents = make_swarm(cfg)
    seen: list[set] = []
    names = list(change)

    def hook(rnd: int, swarm) -> None:
        if rnd == at:
            swarm[robot].tune(change)
        seen.append({tuple(a._get_tunable(n) for n in names) for i, a in swarm.items() if i >= 0})

    result = simulate(agents, max_rounds=100_000, on_round=hook)
    return cfg, agents, result, seen


@pytest.mark.parametrize("params,change", CASES, ids=lambda v: "-".join(f"{k}" for k in v))
def test_a_change_on_one_robot_is_in_force_on_every_robot_at_one_round_and_the_swarm_converges(params, change):
    cfg, agents, result, seen = _run(params, change)
    assert result.converged
    ref = reference_solution(cfg)
    error = max(float(np.linalg.norm(agents[i].estimate() - ref[i])) for i in range(cfg.num_robots))
    assert error < 1e-8, f"error {error:.2e} to the centralized optimum"
    # Every round, every robot uses the same values: the switch happened at one round.
    assert all(len(s) == 1 for s in seen)
    assert seen[-1] == {tuple(float(v) for v in change.values())}
    assert all(a.late_tunings == 0 and a.applied_tuning == agents[3].tuning for a in agents.values())


def test_the_swarm_wide_change_fixes_the_failure_of_a_per_robot_change():
    """Setting rho on one robot alone (the old behaviour) ends away from the optimum at the cap."""
    cfg = SwarmConfig(algorithm="radmm", num_robots=8, seed=7, max_iterations=800, tolerance=1e-11)
    agents = make_swarm(cfg)

    def local_only(rnd, swarm):
        if rnd == 40:
            swarm[3]._set_tunable("rho", 0.8)

    simulate(agents, on_round=local_only)
    ref = reference_solution(cfg)[0]
    assert max(float(np.linalg.norm(a.estimate() - ref)) for a in agents.values()) > 1e-3


def test_two_robots_tuned_in_the_same_round_agree_on_one_winner():
    cfg = SwarmConfig(algorithm="radmm", num_robots=6, seed=4, max_iterations=3000, tolerance=1e-11)
    agents = make_swarm(cfg)

    def hook(rnd, swarm):
        if rnd == 30:
            swarm[1].tune({"rho": 0.5})
            swarm[4].tune({"rho": 3.0})  # same epoch, larger origin: this one wins everywhere

    result = simulate(agents, on_round=hook)
    assert result.converged
    assert {a.rho for a in agents.values()} == {3.0}
    ref = reference_solution(cfg)[0]
    assert max(float(np.linalg.norm(a.estimate() - ref)) for a in agents.values()) < 1e-8


def test_refused_changes_name_the_parameter_and_change_nothing():
    agent = make_swarm(SwarmConfig(algorithm="radmm", num_robots=4))[0]
    with pytest.raises(ParameterError, match=r"rho must be a finite number > 0, got 0"):
        agent.tune({"alpha": 0.7, "rho": 0})
    with pytest.raises(ParameterError, match="num_robots cannot change while radmm is running; tunable: rho, alpha"):
        agent.tune({"num_robots": 5})
    assert agent.tuning is None and agent.rho == 1.0 and agent.alpha == 0.5
    tuning = agent.tune({"rho": 2})  # an integer for a float parameter is fine
    assert tuning.values == (2.0, 0.5) and isinstance(tuning.values[0], float)
    assert tuning.round == agent.iteration + agent.tuning_delay and agent.tuning_delay == 3  # ring of 4: diameter 2


def test_a_coordinator_applies_its_own_change_at_once():
    swarm = make_swarm(SwarmConfig(algorithm="admm", num_robots=4))
    coordinator = swarm[-2]
    assert coordinator.tune({"rho": 2.5}) is None and coordinator.rho == 2.5
    assert swarm[0].tunable == ()  # a robot of consensus ADMM takes rho from its coordinator


def test_tuning_survives_its_wire_form_and_a_malformed_one_is_refused():
    t = Tuning(3, 7, 120, (0.8, 0.5))
    assert Tuning.decode(t.encode()) == t and Tuning.decode([]) is None
    with pytest.raises(ValueError, match="tuning"):
        Tuning.decode([1.5, 0, 0])
    swarm = make_swarm(SwarmConfig(algorithm="radmm", num_robots=4))
    receiver = swarm[0]
    for a in swarm.values():
        for m in a.start():
            if m.receiver == 0:
                good = m
    bad_values = Tuning(1, 1, 3, (-1.0, 0.5))  # rho < 0
    bad_length = Tuning(1, 1, 3, (1.0,))
    for tuning in (bad_values, bad_length):
        forged = Message(sender=good.sender, receiver=0, iteration=0, algorithm="radmm", kind="edge", dim=2,
                         primal=good.primal, consensus=good.consensus, tuning=tuning)
        assert receiver.receive(forged).reason == "bad_tuning"
    assert receiver.tuning is None and receiver.stats.rejected["bad_tuning"] == 2
