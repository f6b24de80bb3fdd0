"""The rendezvous example as a user runs it: each robot only from its own parameter file.

In the simulator (the same objects as on the robots), over DDS with one process per robot,
and the ways a deployment goes wrong: a neighbour list that the neighbour does not return,
an objective that cannot be imported, an algorithm that cannot honour the robots' boxes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from distopt_ros.config import load_params
from distopt_ros.core.objectives import make_objective
from distopt_ros.core.scenario import make_robot_agent, simulate_handshake, validate_parameters
from distopt_ros.core.schema import ParameterError
from distopt_ros.sim.simulator import simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "rendezvous")
FILES = [os.path.join(EXAMPLE, f"robot_{i}.yaml") for i in range(5)]
sys.path.insert(0, EXAMPLE)
from rendezvous_costs import rendezvous_point  # noqa: E402


def _robot(i: int, **changes):
    """Robot i as its node builds it: its own file, its own objective and neighbours, nothing else."""
    params = {**load_params(FILES[i], f"/robot_{i}/robot_node"), **changes}
    cfg, values = validate_parameters(params)
    objective = make_objective(values["objective"], values["objective_params"], cfg.dim)
    return objective, make_robot_agent(cfg, i, objective, values["neighbors"], values["diameter_bound"],
                                       in_neighbors=values.get("in_neighbors", ()),
                                       out_neighbors=values.get("out_neighbors", ()))


def test_each_file_holds_only_its_robot():
    for i, path in enumerate(FILES):
        data = yaml.safe_load(open(path))
        assert list(data) == [f"/robot_{i}/robot_node"]
        assert data[f"/robot_{i}/robot_node"]["ros__parameters"]["robot_id"] == i


def test_the_example_converges_in_the_simulator_to_the_centralized_rendezvous_point():
    built = [_robot(i) for i in range(5)]
    agents = {i: agent for i, (_, agent) in enumerate(built)}
    result = simulate(agents)
    optimum = rendezvous_point([obj for obj, _ in built])
    assert np.allclose(optimum, [2.25, 2.5])  # robot 0's box is active: the unconstrained mean is (2.25, 2.92)
    assert result.converged
    assert max(float(np.linalg.norm(a.estimate() - optimum)) for a in agents.values()) < 1e-8


@pytest.mark.parametrize("algorithm", ["diging", "atg"])
def test_algorithms_that_cannot_honour_the_box_refuse_at_start(algorithm):
    with pytest.raises(ParameterError, match=f"{algorithm} cannot honour the constraint set of robot 0's objective"):
        _robot(0, algorithm=algorithm)


def test_projected_dgd_stays_in_the_box():
    agents = {i: _robot(i, algorithm="dgd", step=0.2, step_decay=0.6, max_iterations=20000, tolerance=0.0)[1]
              for i in range(5)}
    simulate_handshake(agents)  # Metropolis weights from the neighbours' degrees, as the nodes' handshake does
    assert agents[3].weights == {2: 0.25, 3: 0.75}  # robot 2 has degree 3
    simulate(agents)
    for agent in agents.values():
        assert agent.estimate()[1] <= 2.5 + 1e-12 or agent.agent_id != 0
    assert agents[0].estimate()[1] <= 2.5 + 1e-12
    assert float(np.linalg.norm(agents[0].estimate() - [2.25, 2.5])) < 0.05  # diminishing step: slow but there


@pytest.mark.parametrize("objective,params,needle", [
    ("no_such_module:Cost", {}, "cannot import no_such_module (ModuleNotFoundError"),
    ("rendezvous_costs:Nope", {}, "module rendezvous_costs has no attribute 'Nope'"),
    ("rendezvous_costs:Rendezvous", {"position": [1.0, 2.0], "weight": -1.0}, "weight must be a finite number > 0"),
    ("rendezvous_costs:Rendezvous", {"position": [1.0, 2.0, 3.0]}, "has dim 3, but the swarm's dim is 2"),
    ("builtins:dict", {}, "dict has no method value, gradient, prox"),
])
def test_objective_mistakes_are_one_line_each(objective, params, needle):
    with pytest.raises(ParameterError) as err:
        make_objective(objective, params, 2)
    assert needle in str(err.value) and "\n" not in str(err.value)


def _env(domain_id: int) -> dict[str, str]:
    path = os.pathsep.join(p for p in (EXAMPLE, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "PYTHONPATH": path}


def _robot_process(i: int, path: str, domain_id: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.robot_node", "--ros-args", "-r",
                             f"__ns:=/robot_{i}", "--params-file", path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(domain_id))


@pytest.mark.ros
def test_the_example_converges_over_dds_with_one_process_per_robot_from_its_own_file(tmp_path, domain_id):
    optimum = rendezvous_point([_robot(i)[0] for i in range(5)])
    monitor_file = tmp_path / "monitor.yaml"
    monitor_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "num_robots": 5, "dim": 2, "tolerance": 1e-10, "max_iterations": 5000,
        "optimum": [float(v) for v in optimum]}}}))
    monitor = subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.monitor", "--ros-args", "--params-file",
                                str(monitor_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(domain_id))
    robots = [_robot_process(i, FILES[i], domain_id) for i in range(5)]
    try:
        out, err = monitor.communicate(timeout=120)
        robot_out = [p.communicate(timeout=60) for p in robots]
    finally:
        for p in [monitor, *robots]:
            if p.poll() is None:
                p.kill()
    assert monitor.returncode == 0, err
    assert "status               : CONVERGED" in out
    assert float(out.split("max error to optimum :")[1].split()[0]) < 1e-8
    assert [p.returncode for p in robots] == [0] * 5, [e for _, e in robot_out]
    assert "neighbors [1, 3, 4]" in robot_out[2][1]  # robot 2 took its neighbours from its own file


@pytest.mark.ros
def test_a_neighbour_list_the_neighbour_does_not_return_is_named_and_stops_the_robot(tmp_path, domain_id):
    """Robot 3 also lists robot 0, which does not list robot 3: robot 3 says so and stops (exit 2)."""
    data = yaml.safe_load(open(FILES[3]))
    data["/robot_3/robot_node"]["ros__parameters"]["neighbors"] = [0, 2]
    wrong = tmp_path / "robot_3.yaml"
    wrong.write_text(yaml.safe_dump(data))
    procs = [_robot_process(0, FILES[0], domain_id), _robot_process(2, FILES[2], domain_id),
             _robot_process(3, str(wrong), domain_id)]
    try:
        _, err = procs[2].communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert procs[2].returncode == 2
    assert "robot 3 lists robot 0 as a neighbour, but robot 0 lists [1, 4]" in err


@pytest.mark.ros
def test_a_robot_whose_objective_cannot_be_imported_says_so_in_one_line(domain_id):
    proc = subprocess.run([sys.executable, "-m", "distopt_ros.ros.robot_node", "--ros-args", "-r", "__ns:=/robot_1",
                           "--params-file", FILES[1], "-p", "objective:=my_pkg.costs:Rendezvous"],
                          capture_output=True, text=True, timeout=60, env=_env(domain_id))
    assert proc.returncode == 2
    assert "objective 'my_pkg.costs:Rendezvous': cannot import my_pkg.costs" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.ros
def test_a_robot_waiting_for_its_peers_names_them_and_their_topics(domain_id):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.robot_node", "--ros-args", "-r", "__ns:=/robot_2",
                             "--params-file", FILES[2], "-p", "startup_timeout:=0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(domain_id))
    time.sleep(4.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "still waiting after startup_timeout=0.5s for: /robot_1 to subscribe to /robot_2/edge_to_1" in err
    assert "a publisher on /robot_3/edge_to_2" in err
    assert "the start-up handshake of robot(s) [1, 3, 4]" in err and "ROS_DOMAIN_ID" in err


def test_installed_packages_register_objectives_and_algorithms_by_entry_point(tmp_path, monkeypatch):
    """What `pip install my_pkg` with entry points in its metadata gives: names the registry finds."""
    import importlib

    from distopt_ros.core import registry

    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "costs.py").write_text(open(os.path.join(EXAMPLE, "rendezvous_costs.py")).read())
    (pkg / "algos.py").write_text(
        "from dataclasses import replace\n"
        "from distopt_ros.core.registry import ALGORITHM_SPECS\n"
        "SPEC = replace(ALGORITHM_SPECS['radmm'], name='my_radmm', description='edge ADMM, registered by my_pkg')\n")
    info = tmp_path / "my_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my_pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[distopt_ros.objectives]\nrendezvous = my_pkg.costs:Rendezvous\n\n"
                                           "[distopt_ros.algorithms]\nmy_radmm = my_pkg.algos:SPEC\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(registry, "_loaded_entry_points", False)
    monkeypatch.delitem(registry.ALGORITHM_SPECS, "my_radmm", raising=False)
    try:
        objective = make_objective("rendezvous", {"position": [1.0, 2.0]}, 2)
        assert type(objective).__module__ == "my_pkg.costs"
        assert registry.get_spec("my_radmm").description == "edge ADMM, registered by my_pkg"
    finally:
        registry.ALGORITHM_SPECS.pop("my_radmm", None)


def test_a_digraph_robot_from_its_own_in_and_out_lists_runs_exactly_as_from_the_topology():
    from distopt_ros.core.scenario import SwarmConfig, make_swarm, scenario_graph

    cfg = SwarmConfig(algorithm="qudrc", topology="directed_ring", problem="fusion", num_robots=4, max_iterations=30)
    reference = make_swarm(cfg)
    simulate(reference)
    graph = scenario_graph(cfg)
    deployed = {i: make_robot_agent(cfg, i, in_neighbors=graph.in_neighbors(i), out_neighbors=graph.out_neighbors(i),
                                    diameter_bound=graph.diameter()) for i in range(4)}
    simulate(deployed)
    assert all(np.array_equal(reference[i].estimate(), deployed[i].estimate()) for i in range(4))


@pytest.mark.parametrize("changes,needle", [
    ({"algorithm": "admm"}, "neighbors must be empty for admm (its robots talk to the coordinator)"),
    ({"neighbors": [1, 9]}, "neighbors must be robot ids in [0, 4], got [9]"),
    ({"neighbors": [0, 1]}, "neighbors of robot 0 must not contain the robot itself"),
    ({"in_neighbors": [1]}, "in_neighbors and out_neighbors must be empty for radmm"),
])
def test_neighbour_mistakes_are_one_line_each(changes, needle):
    with pytest.raises(ParameterError) as err:
        _robot(0, **changes)
    assert needle in str(err.value)
