"""Parameters as ROS 2 users give them: live re-tuning over DDS, parameter files, one wording for refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.ros

DEFAULT = {"algorithm": "radmm", "num_robots": 8, "topology": "ring", "seed": 7, "max_iterations": 3000,
           "tolerance": 1e-11, "status_period": 0.1}


def _cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_rho_set_on_one_robot_reaches_every_robot_and_the_swarm_converges_over_dds(domain_id):
    """The README's `ros2 param set /robot_3/robot_node rho 0.8`, mid-run, on the default ring."""
    from rclpy.parameter import Parameter

    from distopt_ros.core.scenario import SwarmConfig, reference_solution
    from distopt_ros.ros.runner import run_swarm

    changed = []

    def retune(nodes, statuses):
        if not changed and nodes and nodes[3].agent.iteration >= 60:
            result = nodes[3].set_parameters([Parameter("rho", value=0.8)])[0]
            assert result.successful, result.reason
            changed.append(nodes[3].agent.tuning)

    report = run_swarm(DEFAULT, progress=False, domain_id=domain_id, timeout=120.0, on_tick=retune)
    assert changed and report.converged
    optimum = reference_solution(SwarmConfig.from_mapping(DEFAULT))[0]
    for node in report.nodes:
        assert float(np.linalg.norm(node.agent.estimate() - optimum)) < 1e-8
        assert node.agent.rho == 0.8 and node.get_parameter("rho").value == 0.8  # shown on every robot too
        assert node.agent.applied_tuning == changed[0] and node.agent.late_tunings == 0


def test_an_integer_sent_by_a_parameter_client_is_stored_as_a_float(lone_robot):
    """What `ros2 param set /robot_0/robot_node rho 2` does: a SetParameters service call with an integer."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    robot = lone_robot
    client_node = rclpy.create_node("param_client", context=robot.context)
    executor = SingleThreadedExecutor(context=robot.context)
    executor.add_node(robot)
    executor.add_node(client_node)
    client = AsyncParameterClient(client_node, "/robot_0/robot_node")
    assert client.wait_for_services(timeout_sec=10.0)
    for value, ok in ((2, True), (-1, False)):
        future = client.set_parameters([Parameter("rho", Parameter.Type.INTEGER, value)])
        executor.spin_until_future_complete(future, timeout_sec=10.0)
        result = future.result().results[0]
        assert result.successful is ok, result.reason
    assert result.reason == "rho must be a finite number > 0, got -1.0"
    stored = robot.get_parameter("rho")
    assert stored.type_ == Parameter.Type.DOUBLE and stored.value == 2.0
    executor.shutdown(timeout_sec=0)
    client_node.destroy_node()


@pytest.mark.parametrize("args,needle", [
    (["-p", "rhoo:=1.0"], "unknown parameter 'rhoo' (did you mean 'rho'?)"),
    (["-p", "qos_depth:=0"], "qos_depth must be an integer in [1, 10000], got 0"),
    (["-p", "loss:=bernouli"], "loss must be one of none, bernoulli, gilbert_elliott, got 'bernouli'"),
    (["-p", "num_robots:=3", "-p", "robot_id:=5"], "robot_id must be an integer in [0, 2], got 5"),
])
def test_a_robot_node_refuses_a_bad_parameter_in_one_line(args, needle):
    proc = _cli("-m", "distopt_ros.ros.robot_node", "--ros-args", *args, env={"ROS_DOMAIN_ID": "202"})
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_node_specific_sections_and_numbers_in_parameter_files(tmp_path):
    """`/**/robot_node:` applies to every robot, `/robot_2/robot_node:` to one; `1e-6` is a number."""
    from distopt_ros.config import load_params, swarm_parameters

    path = tmp_path / "swarm.yaml"
    path.write_text(textwrap.dedent("""\
        /**:
          ros__parameters:
            num_robots: 4
            tolerance: 1e-6
        /**/robot_node:
          ros__parameters:
            rho: 2
        /robot_2/robot_node:
          ros__parameters:
            loss_probability: 0.0
            status_period: 0.25
        """))
    params, per_node = swarm_parameters(path, {})
    assert params["tolerance"] == 1e-6 and params["rho"] == 2
    assert per_node["/robot_2/robot_node"]["status_period"] == 0.25
    assert "status_period" not in per_node["/robot_1/robot_node"]
    assert "rho" not in load_params(path, "/coordinator/coordinator_node")


@pytest.mark.parametrize("text,needle", [
    ("/**:\n  ros__parameters:\n    toleranse: 1.0e-6\n", "unknown parameter 'toleranse' (did you mean 'tolerance'?)"),
    ("robot_node:\n  ros__parameters:\n    rho: 2.0\n", "no section applies to /robot_0/robot_node"),
    ("ros__parameters:\n  rho: 2.0\n", "ros__parameters must sit under a node name"),
    ("/**:\n  ros__parameters:\n    rho: 1.0\n/robot_1/robot_node:\n  ros__parameters:\n    rho: 2.0\n",
     "rho must be the same on every robot (it is swarm-wide), got 1.0 on robot 0 and 2.0 on robot 1"),
    ("/**:\n  ros__parameters:\n    qos_preset: lossy\n", "qos_preset must be one of '' (none), reliable, "
     "lossy_radio, got 'lossy'"),
    ("/**:\n  ros__parameters:\n    loss: bernoulli\n    loss_probability: 0.2\n",
     "round_timeout must be > 0 when loss is 'bernoulli' in sync mode"),
])
def test_the_runner_and_the_simulator_refuse_a_bad_file_in_one_line_naming_it(tmp_path, text, needle):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    for module in ("distopt_ros.ros.runner", "distopt_ros.sim.cli"):
        proc = _cli("-m", module, "--config", str(path))
        assert proc.returncode == 2, (module, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr, (module, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_runner_overrides_are_typed_like_parameter_files_and_raise_no_rcl_warning(domain_id):
    proc = _cli("-m", "distopt_ros.ros.runner", "--num-robots", "4", "-p", "tolerance:=1e-8",
                "-p", "round_timeout:=1", "--quiet", "--domain-id", str(domain_id))
    assert proc.returncode == 0, proc.stderr
    assert "CONVERGED" in proc.stdout
    assert "deprecated" not in proc.stderr and "Traceback" not in proc.stderr


def test_descriptors_say_scope_liveness_and_what_is_allowed(lone_robot):
    rho, loss, rid = lone_robot.describe_parameters(["rho", "loss_probability", "robot_id"])
    assert "swarm-wide" in rho.description and "takes effect at the same round" in rho.description
    assert rho.additional_constraints == "must be a finite number > 0"
    assert "per robot" in loss.description and "tunable while running on this robot" in loss.description
    assert "read at start-up" in rid.description
