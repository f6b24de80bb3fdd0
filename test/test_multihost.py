"""The swarm across separate hosts: robots in different network namespaces converge over DDS.

Every other ROS test runs the swarm on one machine with discovery pinned to localhost, where
DDS never leaves loopback (or shared memory). Here each "host" is a Linux network namespace
with its own ``eth0`` on a private bridge (test/netns.py), every robot is one process started
as an operator would start it (``python -m distopt_ros.ros.robot_node`` with a parameter
file), with ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` so discovery goes out by UDP multicast,
and the monitor must see every robot stop converged, at the centralized optimum:

* a topology-configured swarm: robots 0 and 1 on host A, robot 2 on host B, robot 3 on
  host C, all from one shared file, the monitor on host B;
* the rendezvous example (examples/rendezvous): robots 0 and 1 on host A, 2 and 3 on B, 4 on
  C, each only from its own file (its objective, neighbours and box), the monitor on C.

So that a test cannot pass by accident (say, if the namespaces leaked into each other), it
also checks that the traffic crossed the namespaces: every host's ``eth0`` carried at least
the messages of its cross-host edges, and a node on host A with
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` sees the robots on its own host but none on the
others.

Needs root and iproute2; skipped (with the reason) where network namespaces cannot be made.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from netns import Host, can_create_namespaces, hosts, set_link

pytestmark = pytest.mark.ros

PARAMS = {"algorithm": "radmm", "num_robots": 4, "topology": "ring", "seed": 7, "max_iterations": 3000,
          "tolerance": 1e-10, "status_period": 0.2}
PLACEMENT = {0: 0, 1: 0, 2: 1, 3: 2}
"""Robot id -> host index: two robots on host A, one each on B and C (edges 1-2, 2-3, 3-0 cross hosts)."""
MONITOR_HOST = 1
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "rendezvous"
RENDEZVOUS_PLACEMENT = {0: 0, 1: 0, 2: 1, 3: 1, 4: 2}
"""Robot id -> host index for the example: its edges 1-2, 0-4 and 2-4 cross hosts, 0-1 and 2-3 do not."""
RENDEZVOUS_MONITOR_HOST = 2
RUN_TIMEOUT = 45.0
"""Seconds the swarm may take to stop (it takes a few; the rest is slack for a loaded 2-core machine)."""
KEEP_ENV = ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH", "VIRTUAL_ENV",
            "HOME", "LANG", "RMW_IMPLEMENTATION", "ROS_DISTRO", "ROS_VERSION", "ROS_PYTHON_VERSION")
"""What the processes in the namespaces inherit: enough for the venv and the colcon install to work."""
UDP_ONLY = "UDPv4"
"""Fast DDS's transports in the namespaces: UDP only. The namespaces share /dev/shm and /etc/machine-id, so
Fast DDS could take processes on different "hosts" for one machine and pass data between them in shared
memory, past the interfaces under test (and its ports, numbered per namespace, could collide)."""
ESTIMATE = re.compile(r"stopped at iteration (\d+) \((converged|iteration_cap)\); estimate (\[[^\]]*\])")
MAX_ERROR = re.compile(r"max error to optimum : (\S+)")
ITERATIONS = re.compile(r"iterations           : (\d+)")

PROBE = """
import os, sys, time
import rclpy
rclpy.init()
node = rclpy.create_node("netns_probe")
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

It subscribes to nothing: a stopped robot stays until its status topic has had a subscriber for
a moment (or 10 s more), so the robots wait for the monitor, which starts once the probes have
seen them; a swarm that converges in a second would otherwise be gone before a probe on a loaded
machine had learnt its nodes' names.
"""
PROBE_READY_TIMEOUT = 20.0
PROBE_SEEN_TIMEOUT = 8.0
"""Seconds the monitor's start waits for the probes to see the robots they should (then it starts anyway,
well within the 10 s a stopped robot waits for a status subscriber; the checks then say what was missed)."""


@pytest.fixture(scope="module")
def namespaces_possible() -> None:
    """Skip, with the reason, where network namespaces cannot be made (not root, no iproute2, no permission).

    A fixture rather than a collection-time check: probing creates a namespace, which only the
    tests that need it should do.
    """
    reason = can_create_namespaces()
    if reason is not None:
        pytest.skip(reason)


def _env(domain_id: int, discovery: str, log_dir: Path, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """The environment inside a namespace: this venv and install (plus ``pythonpath``), a test-only domain,
    the discovery range."""
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE=discovery, ROS_LOG_DIR=str(log_dir),
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0", FASTDDS_BUILTIN_TRANSPORTS=UDP_ONLY)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *filter(None, [env.get("PYTHONPATH")])])
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


def _wait_printed(procs: dict[str, subprocess.Popen[bytes]], log_dir: Path, lines: Mapping[str, set[str]],
                  timeout: float) -> set[str]:
    """Wait until each probe has printed all its ``lines`` to its log (fails if one ends); those still missing."""
    deadline = time.monotonic() + timeout
    missing = {name: set(want) for name, want in lines.items()}
    while any(missing.values()) and time.monotonic() < deadline:
        for name, want in missing.items():
            assert procs[name].poll() is None, (log_dir / f"{name}.log").read_text(errors="replace")
            want -= set((log_dir / f"{name}.log").read_text(errors="replace").splitlines())
        time.sleep(0.05)
    return {f"{name}: {line}" for name, want in missing.items() for line in want}


@dataclass
class SplitRun:
    """What a swarm split over namespaced hosts left: exit codes and logs by process, traffic, discoveries."""

    placement: Mapping[int, int]
    codes: dict[str, int | None]
    logs: dict[str, str]
    traffic: list[tuple[Host, dict[str, int], dict[str, int]]]
    """Per host: its ``eth0`` counters before the probes started and after everything ended."""
    seen: dict[str, set[str]] | None
    """The nodes the probe on host A (loopback only) and the one on host C (its subnet) discovered (None: no probes)."""

    @property
    def summary(self) -> str:
        return self.logs["monitor"]


def _run_split(tmp_path: Path, domain_id: int, placement: Mapping[int, int], monitor_host: int,
               robot_args: Callable[[int], list[str]], monitor_file: Path,
               pythonpath: Sequence[Path] = (), probes: bool = True) -> SplitRun:
    """Robot ``i`` (``python -m distopt_ros.ros.robot_node robot_args(i)``) on host ``placement[i]`` of 3, the
    monitor (from ``monitor_file``) on ``monitor_host``, all with ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``,
    and the two probes; run until all have ended (or :data:`RUN_TIMEOUT`).

    The probes need robots that wait for the monitor after they stop; without ``probes`` the monitor
    starts with the robots."""
    log_dir = tmp_path / "ros_log"
    env = _env(domain_id, "SUBNET", log_dir, pythonpath)
    stop_probes = tmp_path / "stop_probes"
    with hosts(3, prefix="distopt-mh") as machines:
        before = [h.counters() for h in machines]
        # Two listeners first, so they are up for the whole run (the swarm itself takes about a second):
        # one confined to loopback on host A, one on host C's subnet.
        probes = {"A": (machines[0], "LOCALHOST"), "C": (machines[2], "SUBNET")} if probes else {}
        probe_procs = {f"probe_{key}": _start_python(host, ["-c", PROBE, str(stop_probes), str(RUN_TIMEOUT)],
                                                     _env(domain_id, discovery, log_dir), tmp_path / f"probe_{key}.log")
                       for key, (host, discovery) in probes.items()}
        not_ready = _wait_printed(probe_procs, tmp_path, {name: {"ready"} for name in probe_procs}, PROBE_READY_TIMEOUT)
        assert not not_ready, f"probes not ready after {PROBE_READY_TIMEOUT} s: {sorted(not_ready)}"
        procs = {f"robot_{i}": _start_python(machines[h], ["-m", "distopt_ros.ros.robot_node", *robot_args(i)],
                                             env, tmp_path / f"robot_{i}.log")
                 for i, h in placement.items()}
        if probes:  # the monitor last, once host A's probe has seen A's robots and host C's every robot
            _wait_printed(probe_procs, tmp_path, {
                "probe_A": {f"seen /robot_{i}/robot_node" for i, h in placement.items() if h == 0},
                "probe_C": {f"seen /robot_{i}/robot_node" for i in placement}}, PROBE_SEEN_TIMEOUT)
        procs["monitor"] = _start_python(machines[monitor_host], ["-m", "distopt_ros.ros.monitor", "--ros-args",
                                                                  "--params-file", str(monitor_file)],
                                         env, tmp_path / "monitor.log")
        codes = _wait_all(procs, RUN_TIMEOUT)
        stop_probes.touch()
        codes.update(_wait_all(probe_procs, 10.0))
        after = [h.counters() for h in machines]
        logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in codes}
    seen = {key: set(re.findall(r"^seen (\S+)$", logs[f"probe_{key}"], re.MULTILINE)) for key in probes}
    return SplitRun(placement, codes, logs, list(zip(machines, before, after, strict=True)), seen if probes else None)


def _check_converged_across_hosts(run: SplitRun, neighbors: Mapping[int, Sequence[int]]) -> None:
    """Every process exited 0, the monitor saw every robot converge at the optimum, the traffic really crossed."""
    failed = {name: code for name, code in run.codes.items() if code != 0}
    assert not failed, "exit codes " + str(failed) + "\n" + "\n".join(
        f"--- {name}\n{run.logs[name][-3000:]}" for name in failed)

    summary, n = run.summary, len(run.placement)
    assert "status               : CONVERGED" in summary, summary
    assert f"robots reporting     : {n} of {n}" in summary, summary
    assert float(MAX_ERROR.search(summary).group(1)) < 1e-8, summary

    # The traffic went over the hosts' interfaces: a robot sends one message per iteration to each
    # neighbour, so a host's eth0 carried at least one message out per iteration for each edge from
    # one of its robots to another host, and one in for each edge back (on top of discovery and
    # reliability traffic).
    iterations = int(ITERATIONS.search(summary).group(1))
    for h, (host, b, a) in enumerate(run.traffic):
        crossing = sum(1 for i, host_i in run.placement.items() if host_i == h
                       for j in neighbors[i] if run.placement[j] != h)
        assert crossing > 0, (host.name, "no edge crosses this host: the placement proves nothing")
        sent, received = a["tx_packets"] - b["tx_packets"], a["rx_packets"] - b["rx_packets"]
        assert min(sent, received) >= crossing * iterations, (host.name, crossing, iterations, b, a)
    if run.seen is None:
        return
    # ...and nothing else carried it: discovery over host C's subnet finds every robot (the probe works;
    # the monitor may come and go too quickly to be listed), discovery confined to host A's loopback
    # finds A's robots and stops there.
    robots = {f"/robot_{i}/robot_node": h for i, h in run.placement.items()}
    assert set(robots) <= run.seen["C"], run.seen["C"]
    assert run.seen["A"] and run.seen["A"] <= {name for name, h in robots.items() if h == 0}, run.seen


def test_swarm_split_across_network_namespaces_converges_to_the_optimum(namespaces_possible: None, tmp_path: Path,
                                                                        domain_id: int) -> None:
    """4 robots on 3 namespaced hosts converge over UDP to the centralized optimum; the traffic really crossed."""
    from distopt_ros.core.scenario import SwarmConfig, reference_solution

    params_file = tmp_path / "swarm.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": PARAMS}}))
    optimum = reference_solution(SwarmConfig.from_mapping(PARAMS))
    run = _run_split(tmp_path, domain_id, PLACEMENT, MONITOR_HOST, lambda i: [
        "--ros-args", "-r", f"__ns:=/robot_{i}", "--params-file", str(params_file), "-p", f"robot_id:={i}"],
        params_file)
    n = PARAMS["num_robots"]
    _check_converged_across_hosts(run, {i: [(i - 1) % n, (i + 1) % n] for i in range(n)})

    for i in PLACEMENT:
        match = ESTIMATE.search(run.logs[f"robot_{i}"])
        assert match and match.group(2) == "converged", run.logs[f"robot_{i}"][-2000:]
        estimate = np.array(yaml.safe_load(match.group(3)), dtype=float)
        assert np.linalg.norm(estimate - optimum[i]) < 1e-8, (i, estimate, optimum[i])


def test_rendezvous_example_split_across_network_namespaces_meets_at_the_rendezvous_point(
        namespaces_possible: None, tmp_path: Path, domain_id: int) -> None:
    """The example's 5 robots on 3 namespaced hosts, each from only its own file, meet at the centralized point.

    The traffic's proof is the hosts' eth0 counters alone: these robots subscribe to their neighbours'
    status topics (the start-up handshake), count those as the subscriber they wait for and leave
    about 2 s after they stop, monitor or not, too soon for the probes' discovery on a loaded machine.
    """
    spec = importlib.util.spec_from_file_location("rendezvous_costs", EXAMPLE / "rendezvous_costs.py")
    costs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(costs)
    files = {i: EXAMPLE / f"robot_{i}.yaml" for i in RENDEZVOUS_PLACEMENT}
    own = {i: yaml.safe_load(path.read_text())[f"/robot_{i}/robot_node"]["ros__parameters"]
           for i, path in files.items()}
    optimum = costs.rendezvous_point([costs.Rendezvous(**own[i]["objective_params"]) for i in sorted(own)])
    monitor_file = tmp_path / "monitor.yaml"
    monitor_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "num_robots": len(own), "dim": 2, "tolerance": 1e-10, "max_iterations": 5000,
        "optimum": [float(v) for v in optimum]}}}))
    run = _run_split(tmp_path, domain_id, RENDEZVOUS_PLACEMENT, RENDEZVOUS_MONITOR_HOST, lambda i: [
        "--ros-args", "-r", f"__ns:=/robot_{i}", "--params-file", str(files[i])], monitor_file, [EXAMPLE],
        probes=False)
    _check_converged_across_hosts(run, {i: own[i]["neighbors"] for i in own})
    assert "neighbors [1, 3, 4]" in run.logs["robot_2"], run.logs["robot_2"][-2000:]  # from its own file


STATUS_PROBE = """
import json, os, sys
import rclpy
from distopt_ros.msg import RobotStatus
from distopt_ros.ros.qos import status_qos
rclpy.init()
node = rclpy.create_node("status_probe")
def show(m):
    print(json.dumps({"id": int(m.robot_id), "it": int(m.iteration), "est": list(m.estimate),
                      "gone": list(m.peers_gone)}), flush=True)
for i in range(int(sys.argv[2])):
    node.create_subscription(RobotStatus, f"/robot_{i}/status", show, status_qos())
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    rclpy.spin_once(node, timeout_sec=0.05)
"""
"""Prints every robot status it receives as one JSON line, until the file argv[1] exists."""
CUT_SECONDS = 10.0


def _latest(log: Path) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            status = json.loads(line)
            out[status["id"]] = status
    return out


def test_a_10_s_partition_splits_the_swarm_and_the_heal_restores_the_full_optimum(
        namespaces_possible: None, tmp_path: Path, domain_id: int) -> None:
    """8 robots, 4 per namespaced host; host B's cable pulled for 10 s mid-run, then plugged back.

    During the cut each half is a swarm of its own and converges to its own robots' centralized optimum
    (checked on the last statuses before the heal, 1e-5), naming the robots across the cut as gone; after
    the heal the whole swarm converges to the full optimum (every robot's final estimate, 1e-8). The
    stopping rule is off (tolerance 0), so both halves are still running when the link comes back."""
    from distopt_ros.core.scenario import SwarmConfig, reference_solution

    params = {"algorithm": "radmm", "num_robots": 8, "topology": "ring", "seed": 7, "tolerance": 0.0,
              "max_iterations": 1200, "round_period": 0.03, "neighbor_timeout": 1.5, "status_period": 0.25}
    cfg = SwarmConfig.from_mapping(params)
    params_file = tmp_path / "swarm.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    placement = {i: 0 if i < 4 else 1 for i in range(8)}
    log_dir = tmp_path / "ros_log"
    env = _env(domain_id, "SUBNET", log_dir)
    stop = tmp_path / "stop_probes"
    with hosts(2, prefix="distopt-pt") as machines:
        probes = {f"probe_{h}": _start_python(machines[h], ["-c", STATUS_PROBE, str(stop), "8"], env,
                                              tmp_path / f"probe_{h}.log") for h in range(2)}
        assert not _wait_printed(probes, tmp_path, {name: {"ready"} for name in probes}, PROBE_READY_TIMEOUT)
        procs = {f"robot_{i}": _start_python(machines[h], [
            "-m", "distopt_ros.ros.robot_node", "--ros-args", "-r", f"__ns:=/robot_{i}", "--params-file",
            str(params_file), "-p", f"robot_id:={i}"], env, tmp_path / f"robot_{i}.log")
            for i, h in placement.items()}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = _latest(tmp_path / "probe_0.log")
            if len(seen) == 8 and min(s["it"] for s in seen.values()) >= 40:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the swarm did not get going: " + str(_latest(tmp_path / "probe_0.log")))
        set_link(machines[1], False)
        time.sleep(CUT_SECONDS)
        during = {**{i: s for i, s in _latest(tmp_path / "probe_0.log").items() if i < 4},
                  **{i: s for i, s in _latest(tmp_path / "probe_1.log").items() if i >= 4}}
        set_link(machines[1], True)
        codes = _wait_all(procs, 90.0)
        stop.touch()
        _wait_all(probes, 10.0)
        logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in procs}

    left, right = reference_solution(cfg, live=range(4)), reference_solution(cfg, live=range(4, 8))
    for i, status in during.items():
        part = left if i < 4 else right
        assert np.linalg.norm(np.array(status["est"]) - part[i]) < 1e-5, (i, status, part[i])
    assert 7 in during[0]["gone"] and 4 in during[3]["gone"] and 3 in during[4]["gone"] and 0 in during[7]["gone"]
    assert "robot 7 is back" in logs["robot_0"], logs["robot_0"][-3000:]
    full = reference_solution(cfg)
    for i in range(8):
        assert codes[f"robot_{i}"] == 3, logs[f"robot_{i}"][-3000:]  # tolerance 0: every robot runs to its cap
        match = ESTIMATE.search(logs[f"robot_{i}"])
        assert match, logs[f"robot_{i}"][-3000:]
        estimate = np.array(yaml.safe_load(match.group(3)), dtype=float)
        assert np.linalg.norm(estimate - full[i]) < 1e-8, (i, estimate, full[i])
