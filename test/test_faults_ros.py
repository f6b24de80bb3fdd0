"""Faults over DDS, one process per robot: the real fault (SIGKILL, a restart), the answer checked.

The embedded runner starts every robot as its own process (``--mode multi``); the test kills
one mid-run with SIGKILL. The survivors must notice it through their liveness module
(``neighbor_timeout``), go on, and converge to the centralized optimum of the robots still
running, which the test computes itself and compares with the optimum the runner's monitor
printed and with the reported error (tolerance 1e-6: the stopping rule's tolerance is 1e-10).
Rounds are paced (``round_period``) so that the kill lands mid-run.
"""

import os
import re
import signal

import numpy as np
import pytest
from swarm_process import Runner, config_of, optimum_and_error

from distopt_ros.core.scenario import reference_solution

pytestmark = pytest.mark.ros

def _kill_mid_run(domain_id: int, args: list[str], victim: str, at_iteration: int) -> tuple[Runner, str]:
    """Start the swarm, SIGKILL ``victim``'s process once the swarm is at ``at_iteration``, follow it to the end."""
    runner = Runner(domain_id, args)
    runner.wait_for_iteration(at_iteration)
    os.kill(runner.robot_pid(victim), signal.SIGKILL)
    return runner, runner.finish()


def _check_live_optimum(out: str, cfg, gone: int, tolerance: float) -> np.ndarray:
    """The monitor printed the centralized optimum of the robots other than ``gone`` and reached it."""
    assert "status               : CONVERGED" in out and f"gone: [{gone}]" in out, out
    expected = reference_solution(cfg, live=[i for i in range(cfg.num_robots) if i != gone])[0]
    printed, error = optimum_and_error(out)
    assert np.allclose(printed, expected, atol=1e-6)
    assert error < tolerance
    return expected


@pytest.mark.parametrize("algorithm", ["radmm", "diging"])
def test_a_killed_robot_is_reported_and_the_others_converge_to_their_own_optimum(domain_id, algorithm):
    # neighbor_timeout 6 s: a robot starved by a loaded machine is not taken for dead (the kill is still found).
    args = ["-p", "round_period:=0.03", "-p", "neighbor_timeout:=6.0", "-p", f"algorithm:={algorithm}"] + (
        ["-p", "step:=0.02", "-p", "max_iterations:=4000"] if algorithm == "diging" else [])
    runner, out = _kill_mid_run(domain_id, args, "robot_5", 30)
    assert runner.rc == 0, out
    assert "robot_5 died (killed by SIGKILL); its last lines:" in out and "going on without robot_5" in out
    cfg = config_of(args)
    expected = _check_live_optimum(out, cfg, 5, 1e-6)
    assert np.linalg.norm(expected - reference_solution(cfg)[0]) > 1e-3  # the 7-robot answer is another one
    assert "Traceback" not in out


def test_a_restarted_robot_is_taken_back_and_the_full_optimum_reached(domain_id):
    args = ["-p", "round_period:=0.05", "--restart"]
    runner = Runner(domain_id, args)
    runner.wait_for_iteration(30)
    os.kill(runner.robot_pid("robot_5"), signal.SIGKILL)
    out = runner.finish()
    assert runner.rc == 0, out
    assert "restarted robot_5 (restart 1 of 3)" in out
    assert "status               : CONVERGED" in out and "gone:" not in out
    printed, error = optimum_and_error(out)
    assert np.allclose(printed, reference_solution(config_of(args[:2]))[0], atol=1e-6)
    assert error < 1e-6


def test_robots_whose_coordinator_died_stop_and_say_so(domain_id):
    runner, out = _kill_mid_run(domain_id, ["--config", "consensus_star", "-p", "round_period:=0.05"],
                                "coordinator", 5)
    assert "coordinator died (killed by SIGKILL)" in out, out
    assert "STOPPED WITHOUT CONVERGING" in out
    assert re.search(r"stop reasons\s+: coordinator_lost \[0, 1, 2, 3, 4, 5, 6, 7\]", out), out
    assert runner.rc == 3


def test_lossy_asynchronous_swarm_recovers_from_a_kill(domain_id):
    runner, out = _kill_mid_run(domain_id, ["--config", "lossy_radio"], "robot_2", 20)
    assert runner.rc == 0, out
    _check_live_optimum(out, config_of([], "lossy_radio"), 2, 1e-5)


def test_a_coordinator_goes_on_with_the_live_robots(domain_id):
    runner, out = _kill_mid_run(domain_id, ["--config", "consensus_star", "-p", "round_period:=0.05"], "robot_3", 10)
    assert runner.rc == 0, out
    _check_live_optimum(out, config_of([], "consensus_star"), 3, 1e-6)


def test_a_robot_that_starts_late_joins_the_running_swarm(tmp_path, domain_id):
    """Seven robots start without robot 5 (start_without_missing, after startup_timeout); it starts 8 s later.

    The seven run as a swarm of seven, then take robot 5 in when it appears; the monitor reports the
    full optimum (1e-6) with every robot converged."""
    import subprocess
    import sys
    import time

    import yaml

    params = {"algorithm": "radmm", "num_robots": 8, "topology": "ring", "seed": 7, "tolerance": 1e-10,
              "max_iterations": 3000, "round_period": 0.05, "neighbor_timeout": 1.5, "status_period": 0.25,
              "start_without_missing": True, "startup_timeout": 6.0, "monitor_timeout": 120.0}
    path = tmp_path / "swarm.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}

    def start(args):
        return subprocess.Popen([sys.executable, "-m", *args, "--params-file", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    monitor = start(["distopt_ros.ros.monitor", "--ros-args"])
    robots = {i: start(["distopt_ros.ros.robot_node", "--ros-args", "-r", f"__ns:=/robot_{i}", "-p",
                        f"robot_id:={i}"]) for i in range(8) if i != 5}
    # startup_timeout gives seven processes starting at once on a loaded machine time to discover each other;
    # robot 5 comes well after it, while the seven run.
    time.sleep(14.0)
    robots[5] = start(["distopt_ros.ros.robot_node", "--ros-args", "-r", "__ns:=/robot_5", "-p", "robot_id:=5"])
    try:
        out, err = monitor.communicate(timeout=150)
        logs = {i: p.communicate(timeout=30)[1] for i, p in robots.items()}
    finally:
        for p in [monitor, *robots.values()]:
            if p.poll() is None:
                p.kill()
    assert monitor.returncode == 0, out + err
    assert "starting without robot 5" in logs[4] and "starting without robot 5" in logs[6], logs[4][-2000:]
    assert "gone [5]" in out  # the progress lines before it came
    assert "status               : CONVERGED" in out and "robots reporting     : 8 of 8\n" in out, out
    printed, error = optimum_and_error(out)
    assert np.allclose(printed, reference_solution(config_of([]))[0], atol=1e-6)
    assert error < 1e-6
    assert all(p.returncode == 0 for p in robots.values()), {i: p.returncode for i, p in robots.items()}


def test_the_monitor_takes_a_robot_its_coordinator_declared_gone(domain_id):
    """In a star only the coordinator watches the robots: a robot killed before its first status reached the
    monitor is known gone from the coordinator's status alone, and the run then counts as finished."""
    import time

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from distopt_ros.msg import RobotStatus
    from distopt_ros.ros.monitor import MonitorNode
    from distopt_ros.ros.qos import status_qos

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        monitor = MonitorNode(context=context, parameter_overrides=[
            Parameter("algorithm", value="admm"), Parameter("num_robots", value=3),
            Parameter("neighbor_timeout", value=60.0), Parameter("progress_period", value=0.0)])
        node = rclpy.create_node("fake_swarm", context=context)
        pubs = {name: node.create_publisher(RobotStatus, f"/{name}/status", status_qos())
                for name in ("robot_0", "robot_1", "coordinator")}
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(monitor)
        ex.add_node(node)

        def spin(seconds: float) -> None:
            end = time.time() + seconds
            while time.time() < end:
                ex.spin_once(timeout_sec=0.05)

        deadline = time.time() + 20
        while any(p.get_subscription_count() < 1 for p in pubs.values()) and time.time() < deadline:
            ex.spin_once(timeout_sec=0.05)
        for rid in (0, 1):
            pubs[f"robot_{rid}"].publish(RobotStatus(robot_id=rid, done=True, converged=True, estimate=[0.0, 0.0]))
        spin(0.5)
        assert monitor.departed == () and not monitor.finished  # robot 2 never heard, nobody said it is gone
        pubs["coordinator"].publish(RobotStatus(robot_id=2**32 - 1, peers_gone=[2]))  # the coordinator's id
        spin(0.5)
        assert monitor.departed == (2,) and monitor.finished
        ex.shutdown()
        monitor.destroy_node()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
