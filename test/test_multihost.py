"""The swarm across separate hosts: robots in different network namespaces converge over DDS.

Every other ROS test runs the swarm on one machine with discovery pinned to localhost, where
DDS never leaves loopback (or shared memory). Here each "host" is a Linux network namespace
with its own ``eth0`` on a private bridge (test/netns.py): robots 0 and 1 run on host A,
robot 2 on host B, robot 3 on host C, one process each, started as an operator would start
them (``python -m distopt_ros.ros.robot_node`` with a parameter file), with
``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` so discovery goes out by UDP multicast. The
monitor on host B must see every robot stop converged, at the centralized optimum.

So that the test cannot pass by accident (say, if the namespaces leaked into each other),
it also checks that the traffic crossed the namespaces: every host's ``eth0`` carried
packets, and a node on host A with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` sees the
robots on its own host but none on the others.

Needs root and iproute2; skipped (with the reason) where network namespaces cannot be made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from netns import Host, can_create_namespaces, hosts

pytestmark = pytest.mark.ros

PARAMS = {"algorithm": "radmm", "num_robots": 4, "topology": "ring", "seed": 7, "max_iterations": 3000,
          "tolerance": 1e-10, "status_period": 0.2}
PLACEMENT = {0: 0, 1: 0, 2: 1, 3: 2}
"""Robot id -> host index: two robots on host A, one each on B and C (edges 1-2, 2-3, 3-0 cross hosts)."""
MONITOR_HOST = 1
RUN_TIMEOUT = 45.0
"""Seconds the swarm may take to stop (it takes a few; the rest is slack for a loaded 2-core machine)."""
KEEP_ENV = ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH", "VIRTUAL_ENV",
            "HOME", "LANG", "RMW_IMPLEMENTATION", "ROS_DISTRO", "ROS_VERSION", "ROS_PYTHON_VERSION")
"""What the processes in the namespaces inherit: enough for the venv and the colcon install to work."""
ESTIMATE = re.compile(r"stopped at iteration (\d+) \((converged|iteration cap)\); estimate (\[[^\]]*\])")
MAX_ERROR = re.compile(r"max error to optimum : (\S+)")
ITERATIONS = re.compile(r"iterations           : (\d+)")

PROBE = """
import os, sys, time
import rclpy
rclpy.init()
node = rclpy.create_node("netns_probe")
if len(sys.argv) > 3:
    from distopt_ros.msg import RobotStatus
    from distopt_ros.ros.qos import status_qos
    subs = [node.create_subscription(RobotStatus, f"/robot_{i}/status", lambda msg: None, status_qos())
            for i in range(int(sys.argv[3]))]
print("ready", flush=True)
seen, deadline = set(), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline and not os.path.exists(sys.argv[1]):
    rclpy.spin_once(node, timeout_sec=0.05)
    for name, ns in node.get_node_names_and_namespaces():
        full = ns.rstrip("/") + "/" + name
        if full not in seen and full != "/netns_probe":
            seen.add(full)
            print("seen", full, flush=True)
"""
"""Prints ``seen <node>`` for every other ROS node it discovers until the file argv[1] exists (or argv[2] s pass).

With argv[3] = the number of robots it also subscribes to their status topics. A stopped robot
lingers until its status has had a subscriber for a moment, or for 10 s more if it has none;
the monitor leaves as soon as it has every final status, so without this second subscriber
the robots would sit out those 10 s after every run.
"""
PROBE_READY_TIMEOUT = 20.0
ROBOTS = {f"/robot_{i}/robot_node" for i in PLACEMENT}



@pytest.fixture(scope="module")
def namespaces_possible() -> None:
    """Skip, with the reason, where network namespaces cannot be made (not root, no iproute2, no permission).

    A fixture rather than a collection-time check: probing creates a namespace, which only the
    tests that need it should do.
    """
    reason = can_create_namespaces()
    if reason is not None:
        pytest.skip(reason)


def _env(domain_id: int, discovery: str, log_dir: Path) -> dict[str, str]:
    """The environment inside a namespace: this venv and install, a test-only domain, the discovery range."""
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE=discovery, ROS_LOG_DIR=str(log_dir),
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    return env


def _start_python(host: Host, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python ARGS`` in ``host``, stdout and stderr into ``log`` (a pipe could fill up and stall it)."""
    with log.open("wb") as out:
        return host.popen([sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_all(procs: dict[str, subprocess.Popen[bytes]], timeout: float) -> dict[str, int | None]:
    """Exit codes by name once all have ended, or None for those still running at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
        time.sleep(0.1)
    return {name: p.poll() for name, p in procs.items()}


def _wait_ready(procs: dict[str, subprocess.Popen[bytes]], log_dir: Path, timeout: float) -> None:
    """Wait until every probe has printed ``ready`` to its log (fails if one ends or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    waiting = set(procs)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            assert procs[name].poll() is None, (log_dir / f"{name}.log").read_text(errors="replace")
            if re.search(r"^ready$", (log_dir / f"{name}.log").read_text(errors="replace"), re.MULTILINE):
                waiting.discard(name)
        time.sleep(0.05)
    assert not waiting, f"probes not ready after {timeout} s: {sorted(waiting)}"


def test_swarm_split_across_network_namespaces_converges_to_the_optimum(namespaces_possible: None, tmp_path: Path,
                                                                        domain_id: int) -> None:
    """4 robots on 3 namespaced hosts converge over UDP to the centralized optimum; the traffic really crossed."""
    from distopt_ros.core.scenario import SwarmConfig, reference_solution

    params_file = tmp_path / "swarm.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": PARAMS}}))
    log_dir = tmp_path / "ros_log"
    env = _env(domain_id, "SUBNET", log_dir)
    optimum = reference_solution(SwarmConfig.from_mapping(PARAMS))
    stop_probes = tmp_path / "stop_probes"
    with hosts(3, prefix="distopt-mh") as machines:
        before = [h.counters() for h in machines]
        # Two listeners first, so they are up for the whole run (the swarm itself takes about a second):
        # one confined to loopback on host A, one on host C's subnet.
        probes = {"A": (machines[0], "LOCALHOST", []), "C": (machines[2], "SUBNET", [str(len(PLACEMENT))])}
        probe_procs = {f"probe_{key}": _start_python(host, ["-c", PROBE, str(stop_probes), str(RUN_TIMEOUT), *extra],
                                                     _env(domain_id, discovery, log_dir), tmp_path / f"probe_{key}.log")
                       for key, (host, discovery, extra) in probes.items()}
        _wait_ready(probe_procs, tmp_path, PROBE_READY_TIMEOUT)
        procs = {f"robot_{i}": _start_python(machines[h], ["-m", "distopt_ros.ros.robot_node", "--ros-args",
                                                           "-r", f"__ns:=/robot_{i}", "--params-file",
                                                           str(params_file), "-p", f"robot_id:={i}"],
                                             env, tmp_path / f"robot_{i}.log")
                 for i, h in PLACEMENT.items()}
        procs["monitor"] = _start_python(machines[MONITOR_HOST], ["-m", "distopt_ros.ros.monitor", "--ros-args",
                                                                  "--params-file", str(params_file)],
                                         env, tmp_path / "monitor.log")
        codes = _wait_all(procs, RUN_TIMEOUT)
        stop_probes.touch()
        codes.update(_wait_all(probe_procs, 10.0))
        after = [h.counters() for h in machines]
        logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in codes}

    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, "exit codes " + str(failed) + "\n" + "\n".join(
        f"--- {name}\n{logs[name][-3000:]}" for name in failed)

    summary = logs["monitor"]
    assert "status               : CONVERGED" in summary, summary
    assert "robots reporting     : 4 of 4" in summary, summary
    max_error = float(MAX_ERROR.search(summary).group(1))
    assert max_error < 1e-8, summary

    for i in PLACEMENT:
        match = ESTIMATE.search(logs[f"robot_{i}"])
        assert match and match.group(2) == "converged", logs[f"robot_{i}"][-2000:]
        estimate = np.array(yaml.safe_load(match.group(3)), dtype=float)
        assert np.linalg.norm(estimate - optimum[i]) < 1e-8, (i, estimate, optimum[i])

    # The traffic went over the hosts' interfaces. Each host has two ring edges to other hosts
    # (A: 0-3 and 1-2; B: 2-1 and 2-3; C: 3-0 and 3-2), so its eth0 carried at least two
    # messages out and two in per iteration (on top of discovery and reliability traffic).
    iterations = int(ITERATIONS.search(summary).group(1))
    for host, b, a in zip(machines, before, after, strict=True):
        sent, received = a["tx_packets"] - b["tx_packets"], a["rx_packets"] - b["rx_packets"]
        assert min(sent, received) >= 2 * iterations, (host.name, iterations, b, a)
    # ...and nothing else carried it: discovery over host C's subnet finds every robot (the probe works;
    # the monitor may come and go too quickly to be listed), discovery confined to host A's loopback
    # finds A's robots and stops there.
    seen = {key: set(re.findall(r"^seen (\S+)$", logs[f"probe_{key}"], re.MULTILINE)) for key in probes}
    assert ROBOTS <= seen["C"], seen["C"]
    assert seen["A"] and seen["A"] <= {"/robot_0/robot_node", "/robot_1/robot_node"}, seen
