"""Data from the robot: an objective updated from the robot's own measurement topic while the swarm runs."""

from __future__ import annotations

import numpy as np
import pytest

from distopt_ros.core.objectives import make_objective
from distopt_ros.core.schema import ParameterError

FIRST = [([1.0, 2.0], [[1.0, 0.0], [0.0, 1.0]]), ([3.0, 0.0], [[0.5, 0.1], [0.1, 0.4]]),
         ([2.0, 5.0], [[2.0, 0.0], [0.0, 0.5]])]
SECOND = [([-1.0, 1.0], [[1.0, 0.2], [0.2, 1.0]]), ([0.0, 4.0], [[0.3, 0.0], [0.0, 0.3]]),
          ([2.0, 2.0], [[1.0, 0.0], [0.0, 2.0]])]


def fused(measurements) -> np.ndarray:
    """The centralized answer: the information-weighted mean of every robot's measurement."""
    info = sum(np.linalg.inv(np.array(c)) for _, c in measurements)
    return np.linalg.solve(info, sum(np.linalg.inv(np.array(c)) @ np.array(m) for m, c in measurements))


def test_measured_position_fuses_its_window_and_refuses_malformed_data():
    obj = make_objective("measured_position", {"dim": 2, "window": 2}, 2)
    obj.observe([1.0, 1.0], np.eye(2).ravel())
    obj.observe([3.0, 1.0], (0.5 * np.eye(2)).ravel())
    assert np.allclose(obj.prox(np.zeros(2), 1e-12), [7 / 3, 1.0])  # information-weighted: 1 and 2
    obj.observe([5.0, 5.0])  # the window keeps the latest two
    assert len(obj.measurements) == 2
    for bad, field in (([1.0], "estimate"), ([np.nan, 1.0], "estimate"), (([1.0, 1.0], [1.0, 2.0, 3.0, 4.0]),
                                                                            "covariance")):
        args = bad if isinstance(bad, tuple) else (bad,)
        with pytest.raises(ValueError, match=field):
            obj.observe(*args)
    with pytest.raises(ParameterError, match="window must be an integer >= 1"):
        make_objective("measured_position", {"window": 0}, 2)


@pytest.mark.ros
def test_robots_follow_their_own_measurement_topics_to_the_fused_answer_over_dds(domain_id):
    from distopt_ros.msg import TargetEstimate
    from distopt_ros.ros.runner import run_swarm

    params = {"algorithm": "radmm", "num_robots": 3, "topology": "ring", "dim": 2, "tolerance": 1e-10,
              "max_iterations": 200000, "round_period": 0.004, "objective": "measured_position",
              "objective_params": {"dim": 2}, "measurement_topic": "measurement", "status_period": 0.1}
    state = {"pubs": None, "phase": 0}

    def send(nodes, data):
        for i, (mean, cov) in enumerate(data):
            msg = TargetEstimate()
            msg.robot_id = i
            msg.estimate = [float(v) for v in mean]
            msg.covariance = [float(v) for v in np.ravel(cov)]
            state["pubs"][i].publish(msg)

    def feed(nodes, statuses):
        if state["pubs"] is None:
            state["pubs"] = [nodes[0].create_publisher(TargetEstimate, f"/robot_{i}/measurement", 10)
                             for i in range(3)]
        if state["phase"] == 0:
            send(nodes, FIRST)  # again until every robot has one: the first publishes may beat discovery
            if all(n.measurements >= 1 for n in nodes):
                state["phase"] = 1
        elif state["phase"] == 1 and min(n.agent.iteration for n in nodes) >= 30:
            bad = TargetEstimate()
            bad.estimate = [float("nan"), 1.0]
            state["pubs"][1].publish(bad)  # refused and counted, the run goes on
            send(nodes, SECOND)
            state["phase"] = 2

    report = run_swarm(params, progress=False, domain_id=domain_id, timeout=120.0, on_tick=feed)
    assert state["phase"] == 2 and report.converged
    target = fused(SECOND)
    for node in report.nodes:
        assert float(np.linalg.norm(node.agent.estimate() - target)) < 1e-8
        assert node.measurements >= 2
    assert sum(n.rejected_measurements for n in report.nodes) == 1
    assert float(np.linalg.norm(target - fused(FIRST))) > 1.0  # the data really changed mid-run
