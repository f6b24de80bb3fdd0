"""Ctrl-C and SIGTERM: nodes and runners end quickly and cleanly, also while both cores are busy.

Real processes get real signals mid-run; each must exit with its documented code, within 1 s
on an idle machine and inside launch's 5 s grace under a CPU burner, with no traceback, no
segfault and no rclpy error about an invalid context on its stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import yaml

pytestmark = pytest.mark.ros

BAD_SIGNS = ("Traceback", "Segmentation", "context is invalid", "RuntimeError", "Failed to publish")
LONG_RUN = {"algorithm": "radmm", "num_robots": 3, "topology": "ring", "seed": 1, "max_iterations": 10**9,
            "tolerance": 0.0, "status_period": 0.1}
"""A swarm that never stops by itself (no tolerance, no reachable cap)."""


@contextlib.contextmanager
def cpu_burner(processes: int = 2) -> Iterator[None]:
    """Keep every core busy (the load under which robots used to miss launch's grace period)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()


def _node_process(module: str, params: dict, namespace: str, domain_id: int, workdir: str) -> subprocess.Popen:
    path = os.path.join(workdir, f"{namespace}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({"/**": {"ros__parameters": params}}, fh)
    return subprocess.Popen([sys.executable, "-m", module, "--ros-args", "-r", f"__ns:=/{namespace}",
                             "--params-file", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ROS_DOMAIN_ID": str(domain_id)})


def _wait_running(procs: list[subprocess.Popen], domain_id: int, robots: int, timeout: float = 30.0) -> None:
    """Until every robot reports an iteration > 0 on its status topic (the swarm is mid-run)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from distopt_ros.msg import RobotStatus
    from distopt_ros.ros.qos import status_qos

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    seen: dict[int, int] = {}
    try:
        node = rclpy.create_node("signal_test_listener", context=context)
        for i in range(robots):
            node.create_subscription(RobotStatus, f"/robot_{i}/status",
                                     lambda m: seen.__setitem__(int(m.robot_id), int(m.iteration)), status_qos())
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (len(seen) == robots and min(seen.values()) > 0):
            executor.spin_once(timeout_sec=0.1)
            assert all(p.poll() is None for p in procs), "a node exited before the signal"
        assert len(seen) == robots and min(seen.values()) > 0, f"swarm not running: {seen}"
        executor.shutdown(timeout_sec=0)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def _signal_and_wait(proc: subprocess.Popen, sig: int, limit: float) -> tuple[int, float, str, str]:
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=limit + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no exit {limit + 5:.0f} s after {signal.Signals(sig).name}")
    return proc.returncode, time.monotonic() - start, out, err


def _stop_each_cleanly(procs: list[subprocess.Popen], domain_id: int, robots: int, limit: float) -> None:
    """Once the swarm runs, stop each process in turn (SIGINT, SIGTERM, alternately): quick, quiet, exit 0."""
    try:
        _wait_running(procs, domain_id, robots)
        for k, proc in enumerate(procs):
            sig = signal.SIGINT if k % 2 else signal.SIGTERM
            code, took, _, err = _signal_and_wait(proc, sig, limit)
            assert code == 0, f"process {k}, {signal.Signals(sig).name}: exit {code}\n{err}"
            assert took < limit, f"process {k}: {took:.2f} s to exit"
            assert not any(sign in err for sign in BAD_SIGNS), err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "cpu-burner"])
def test_robot_and_coordinator_nodes_exit_cleanly_on_sigint_and_sigterm(domain_id, loaded):
    limit = 5.0 if loaded else 1.0
    with tempfile.TemporaryDirectory() as workdir, (cpu_burner() if loaded else contextlib.nullcontext()):
        star = {**LONG_RUN, "algorithm": "admm"}
        procs = [_node_process("distopt_ros.ros.coordinator_node", star, "coordinator", domain_id, workdir)]
        procs += [_node_process("distopt_ros.ros.robot_node", {**star, "robot_id": i}, f"robot_{i}", domain_id,
                                workdir) for i in range(3)]
        _stop_each_cleanly(procs, domain_id, 3, limit)


@pytest.mark.parametrize("sig,mode", [(signal.SIGINT, "single"), (signal.SIGTERM, "single"),
                                      (signal.SIGINT, "multi")])
def test_the_runner_prints_what_was_done_so_far_when_stopped(domain_id, sig, mode):
    with tempfile.TemporaryDirectory() as workdir:
        path = os.path.join(workdir, "long.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump({"/**": {"ros__parameters": LONG_RUN}}, fh)
        proc = subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.runner", "--config", path, "--mode", mode,
                                 "--domain-id", str(domain_id), "--timeout", "600"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_running([proc], domain_id, 3)
            code, took, out, err = _signal_and_wait(proc, sig, 5.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert code == 128 + sig, err
    assert took < 5.0
    assert f"INTERRUPTED by {signal.Signals(sig).name}" in out and "iterations" in out
    assert not any(sign in err for sign in BAD_SIGNS), err


TRACKING = {"algorithm": "radmm", "problem": "fusion", "num_robots": 2, "topology": "ring", "seed": 3, "rho": 10.0,
            "tolerance": 0.0, "max_iterations": 10**9, "execution_mode": "async", "step_period": 0.01,
            "status_period": 0.1, "noise_std": [0.2], "publish_rate": 20.0}


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "cpu-burner"])
def test_every_tracking_node_exits_cleanly_on_sigint_and_sigterm(domain_id, loaded):
    """The tracking launch's nodes (target, kinematics, tracking robots, markers), stopped mid-run."""
    limit = 5.0 if loaded else 1.0
    with tempfile.TemporaryDirectory() as workdir, (cpu_burner() if loaded else contextlib.nullcontext()):
        procs = [_node_process("distopt_ros.ros.target_node", TRACKING, "target", domain_id, workdir)]
        for i in range(2):
            own = {**TRACKING, "robot_id": i, "initial_x": 3.0 * i}
            procs.append(_node_process("distopt_ros.ros.kinematics_node", own, f"robot_{i}", domain_id, workdir))
            procs.append(_node_process("distopt_ros.ros.tracking_node", own, f"robot_{i}", domain_id, workdir))
        procs.append(_node_process("distopt_ros.ros.visualization_node", TRACKING, "viz", domain_id, workdir))
        _stop_each_cleanly(procs, domain_id, 2, limit)


def test_the_tracking_runner_prints_what_was_done_so_far_when_stopped(domain_id, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.tracking_runner", "--duration", "600",
                             "--no-plots", "--out", str(tmp_path / "run"), "--domain-id", str(domain_id),
                             "-p", "num_robots:=3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_running([proc], domain_id, 3)
        time.sleep(2.0)  # a few control periods of tracking
        code, took, out, err = _signal_and_wait(proc, signal.SIGINT, 5.0)
        assert took < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 128 + signal.SIGINT, err
    assert "interrupted by SIGINT" in out and "formation error" in out
    assert not any(sign in err for sign in BAD_SIGNS), err
