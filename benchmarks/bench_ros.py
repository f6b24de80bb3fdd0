"""ROS transport benchmark: what the package costs per message on top of raw rclpy.

What: rounds per second and per-message cost of a swarm of the package's robot nodes in
one process (the embedded runner ``distopt_ros.ros.runner.run_swarm``: every node on one
``SingleThreadedExecutor``), running synchronous, lossless consensus ADMM for a fixed
number of rounds (``tolerance: 0``, so every run does exactly ``max_iterations`` rounds):

* ``radmm``: decentralized edge ADMM on a ring (one ``AgentState`` per edge and direction);
* ``admm``: the coordinator form (robots -> ``/robot_<i>/state`` -> coordinator ->
  ``/coordinator/consensus`` -> robots).

Against, in the same process run: raw rclpy nodes with the same communication pattern and
nothing else. Same message types (``distopt_ros.msg.AgentState`` / ``CoordinatorBroadcast``)
with the same payload sizes, same number of nodes and topics, the same QoS (reliable,
depth 10, volatile) and the same executor type driven the same way (``spin_once`` in a
loop); each raw node publishes its round to its neighbours (or the coordinator) and waits
for their messages of that round before publishing the next one. No algorithm, no
validation, no bookkeeping.

Why: the issue asks that the package's overhead stay within 2x raw rclpy per message
(validation, conversions, agent state machine, status) and that 100 robots in one process
still run >= 10 rounds/s.

Measurement: the clock starts when every node of the swarm has started its first round
(node creation and DDS discovery are excluded; a robot that started early may be a round
or two ahead, so rounds and messages are counted from that instant, not from zero) and
stops when the last node finishes its last round (teardown excluded). Messages delivered =
algorithm messages accepted by the receivers in that window, all robots (and the
coordinator), all topics; a raw run counts the same messages. Per-message cost = wall time
/ messages delivered. Status topics are not counted as messages but their cost
(``status_period`` 0.5 s) is part of the package's time. Each configuration runs
``--repeats`` times, interleaved with its raw twin (this VM's timing noise is large); the
table shows the run with the median per-message cost.

    source scripts/env.sh
    python benchmarks/bench_ros.py [--sizes 4 10 25 100] [--rounds 200] [--out benchmarks/results/ros_transport.md]
    python benchmarks/bench_ros.py --profile 25     # cProfile of one radmm run: package hot spots
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # before rclpy: DDS stays on this host
# Measure this source tree (the code being optimized), not the copy colcon installed, which may be older.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from distopt_ros.config import default_config
from distopt_ros.msg import AgentState, CoordinatorBroadcast
from distopt_ros.ros.runner import build_parameters, run_swarm

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(ROOT / "distopt_ros")
"""Source of the package's own code (the profile marks it; generated messages live elsewhere)."""
DIM = 2
"""Decision dimension of the shipped configs (2-D target fusion): 2 floats per block."""
QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.VOLATILE)
"""The package's ``reliable`` preset, spelled out with rclpy only."""
FORMS = {"radmm": ("ring", "consensus.yaml"), "admm": ("star", "consensus_star.yaml")}
"""Algorithm -> (topology, shipped config it starts from)."""


@dataclass
class Run:
    """One timed run: ``rounds`` rounds and ``messages`` deliveries in ``seconds``."""

    rounds: int
    messages: int
    seconds: float

    @property
    def rounds_per_s(self) -> float:
        return self.rounds / self.seconds

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def us_per_msg(self) -> float:
        return 1e6 * self.seconds / self.messages


# ---------------------------------------------------------------------------- raw rclpy
def _spin_until(executor: SingleThreadedExecutor, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"raw baseline: {what} not reached within {timeout:.0f} s")
        executor.spin_once(timeout_sec=0.05)


def raw_ring(n: int, rounds: int, domain_id: int, rng: np.random.Generator) -> Run:
    """Raw rclpy ring: node i sends round k to both neighbours, steps when both sent it round k."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Node] = []
    x = rng.standard_normal((n, DIM))
    rnd = [0] * n
    count: list[dict[int, int]] = [{} for _ in range(n)]
    pubs: list[dict[int, Any]] = []
    subs: list[Any] = []
    delivered = [0]
    finished = [0]
    end = [0.0]

    def send(i: int) -> None:
        for j, pub in pubs[i].items():
            m = AgentState()
            m.sender_id, m.receiver_id, m.iteration = i, j, rnd[i]
            m.algorithm, m.kind, m.dim = "radmm", "edge", DIM
            m.primal, m.consensus = x[i], x[i]
            pub.publish(m)

    def on_msg(i: int, m: AgentState) -> None:
        k = m.iteration
        if k >= rounds:
            return  # the final round's messages (the package ignores them too)
        delivered[0] += 1
        c = count[i]
        c[k] = c.get(k, 0) + 1
        while rnd[i] < rounds and c.get(rnd[i], 0) == len(pubs[i]):
            del c[rnd[i]]
            rnd[i] += 1
            send(i)
            if rnd[i] == rounds:
                finished[0] += 1
                if finished[0] == n:
                    end[0] = time.perf_counter()

    try:
        for i in range(n):
            node = rclpy.create_node("raw_node", namespace=f"raw_{i}", context=context)
            nodes.append(node)
            executor.add_node(node)
        for i in range(n):
            peers = sorted({(i - 1) % n, (i + 1) % n} - {i})
            pubs.append({j: nodes[i].create_publisher(AgentState, f"edge_to_{j}", QOS) for j in peers})
            for j in peers:
                subs.append(nodes[i].create_subscription(
                    AgentState, f"/raw_{j}/edge_to_{i}", lambda m, i=i: on_msg(i, m), QOS))
        _spin_until(executor, lambda: all(p.get_subscription_count() >= 1 for ps in pubs for p in ps.values())
                    and all(s.get_publisher_count() >= 1 for s in subs), 120.0, "discovery")
        start = time.perf_counter()
        for i in range(n):
            send(i)
        _spin_until(executor, lambda: finished[0] == n, 600.0, f"{rounds} rounds")
        return Run(rounds, delivered[0], end[0] - start)
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def raw_star(n: int, rounds: int, domain_id: int, rng: np.random.Generator) -> Run:
    """Raw rclpy star: robots send round k to a coordinator, which answers all once it has all n."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Node] = []
    x = rng.standard_normal((n, DIM))
    z = np.zeros(DIM)
    rnd = [0] * n
    count: dict[int, int] = {}
    delivered = [0]
    finished = [0]
    end = [0.0]
    subs: list[Any] = []

    def propose(i: int) -> None:
        m = AgentState()
        m.sender_id, m.receiver_id, m.iteration = i, -2, rnd[i]
        m.algorithm, m.kind, m.dim = "admm", "proposal", DIM
        m.primal, m.dual = x[i], x[i]
        state_pubs[i].publish(m)

    def on_proposal(m: AgentState) -> None:
        k = m.iteration
        if k >= rounds:
            return
        delivered[0] += 1
        count[k] = count.get(k, 0) + 1
        if count[k] == n:
            del count[k]
            b = CoordinatorBroadcast()
            b.iteration, b.algorithm, b.kind, b.dim, b.rho = k, "admm", "consensus", DIM, 1.0
            b.consensus = z
            broadcast.publish(b)

    def on_broadcast(i: int, b: CoordinatorBroadcast) -> None:
        if b.iteration != rnd[i] or rnd[i] >= rounds:
            return
        delivered[0] += 1
        rnd[i] += 1
        propose(i)
        if rnd[i] == rounds:
            finished[0] += 1
            if finished[0] == n:
                end[0] = time.perf_counter()

    try:
        coord = rclpy.create_node("raw_coordinator_node", namespace="raw_coordinator", context=context)
        nodes.append(coord)
        broadcast = coord.create_publisher(CoordinatorBroadcast, "consensus", QOS)
        state_pubs = []
        for i in range(n):
            node = rclpy.create_node("raw_node", namespace=f"raw_{i}", context=context)
            nodes.append(node)
            state_pubs.append(node.create_publisher(AgentState, "state", QOS))
            subs.append(node.create_subscription(CoordinatorBroadcast, "/raw_coordinator/consensus",
                                                 lambda b, i=i: on_broadcast(i, b), QOS))
            subs.append(coord.create_subscription(AgentState, f"/raw_{i}/state", on_proposal, QOS))
        for node in nodes:
            executor.add_node(node)
        _spin_until(executor, lambda: broadcast.get_subscription_count() >= n
                    and all(p.get_subscription_count() >= 1 for p in state_pubs)
                    and all(s.get_publisher_count() >= 1 for s in subs), 120.0, "discovery")
        start = time.perf_counter()
        for i in range(n):
            propose(i)
        _spin_until(executor, lambda: finished[0] == n, 600.0, f"{rounds} rounds")
        return Run(rounds, delivered[0], end[0] - start)
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


# ---------------------------------------------------------------------------- the package
def swarm_params(algorithm: str, n: int, rounds: int, seed: int) -> dict[str, Any]:
    """Runner parameters: the shipped config of the form, lossless sync, a fixed number of rounds."""
    topology, config = FORMS[algorithm]
    return build_parameters(default_config(config), {
        "algorithm": algorithm, "num_robots": n, "topology": topology, "seed": seed,
        "max_iterations": rounds, "tolerance": 0.0, "execution_mode": "sync", "loss": "none",
        "round_timeout": 0.0, "startup_timeout": 120.0,
    })


def swarm_run(algorithm: str, n: int, rounds: int, domain_id: int, seed: int,
              profiler: cProfile.Profile | None = None) -> Run:
    """The package's nodes in the embedded runner (one process, one executor), timed via its ``on_tick`` hook.

    The hook starts the clock once every node has started and wraps each node's ``on_done``
    (set by the runner before its loop) to stop it when the last node finishes, so the
    runner's own exit check (status topics) and teardown are not timed.
    """
    from distopt_ros.ros.robot_node import RobotNode

    t: dict[str, Any] = {"start": None, "end": None, "rx0": 0, "it0": 0, "left": 0}

    def received(nodes: list[Any]) -> int:
        return sum(nd.agent.stats.received for nd in nodes)

    def on_tick(nodes: list[Any], statuses: dict[int, dict[str, Any]]) -> None:
        if t["start"] is not None or not nodes:
            return
        if not t["left"]:  # first turn: the runner has set on_done; chain ours behind it
            t["left"] = len(nodes)
            for nd in nodes:
                nd.on_done = _chain(nd.on_done, lambda _nd: _finish(t, profiler))
        if all(nd.started for nd in nodes):
            t["rx0"] = received(nodes)
            t["it0"] = min(nd.agent.iteration for nd in nodes if isinstance(nd, RobotNode))
            if profiler is not None:
                profiler.enable()
            t["start"] = time.perf_counter()

    report = run_swarm(swarm_params(algorithm, n, rounds, seed), progress=False, domain_id=domain_id,
                       timeout=600.0, on_tick=on_tick)
    if profiler is not None:
        profiler.disable()
    if not report.finished or t["start"] is None or t["end"] is None:
        raise RuntimeError(f"{algorithm} with {n} robots did not finish {rounds} rounds")
    rejected = sum(sum(nd.rejections().values()) for nd in report.nodes)
    if rejected:
        raise RuntimeError(f"{algorithm} with {n} robots rejected {rejected} messages in a lossless run")
    return Run(rounds - t["it0"], received(report.nodes) - t["rx0"], t["end"] - t["start"])


def _chain(first: Callable[[Any], None] | None, then: Callable[[Any], None]) -> Callable[[Any], None]:
    def both(node: Any) -> None:
        if first is not None:
            first(node)
        then(node)

    return both


def _finish(t: dict[str, Any], profiler: cProfile.Profile | None) -> None:
    t["left"] -= 1
    if t["left"] == 0:
        t["end"] = time.perf_counter()
        if profiler is not None:
            profiler.disable()


# ---------------------------------------------------------------------------- report
def median_run(runs: list[Run]) -> Run:
    """The run with the median per-message cost (the upper median for an even count)."""
    return sorted(runs, key=lambda r: r.us_per_msg)[len(runs) // 2]


def machine() -> str:
    try:
        rclpy_version = importlib.metadata.version("rclpy")
    except importlib.metadata.PackageNotFoundError:
        rclpy_version = "unknown"
    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, rclpy {rclpy_version} (ROS 2 Jazzy PyPI "
            f"wheels), RMW {rclpy.get_rmw_implementation_identifier()}, "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}")


def code_version() -> str:
    """Which package code ran: the source tree's commit, marked when it has uncommitted changes."""
    import subprocess

    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty=+uncommitted changes"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = "unknown commit"
    import distopt_ros.ros.agent_node as agent_node

    return f"distopt_ros imported from `{Path(agent_node.__file__).resolve().parents[1]}`, source tree at {rev}"


def render(rows: list[tuple[str, int, Run, Run, list[float]]], args: argparse.Namespace, elapsed: float) -> str:
    cmd = "python benchmarks/bench_ros.py --sizes " + " ".join(map(str, args.sizes)) + \
        f" --rounds {args.rounds} --big-rounds {args.big_rounds} --repeats {args.repeats} --seed {args.seed}"
    if args.forms != ["radmm", "admm"]:
        cmd += " --forms " + " ".join(args.forms)
    lines = [
        "# ROS transport: the package's swarm against raw rclpy",
        "",
        f"- Machine: {machine()}.",
        f"- Code: {code_version()}.",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; benchmark took {elapsed:.0f} s.",
        f"- Reproduce: `source scripts/env.sh && {cmd}`.",
        "",
        "One process, one `SingleThreadedExecutor`, synchronous lossless consensus ADMM for a fixed number of rounds "
        "(`tolerance: 0`), driven by the embedded runner (`distopt_ros.ros.runner.run_swarm`): `radmm` = edge ADMM "
        "on a ring, `admm` = coordinator form (star). *raw* = plain rclpy nodes, same message types, payload sizes, "
        "topics, QoS and executor, each waiting for its round's messages before sending the next, nothing else. "
        "Timed from the moment every node has started its first round to the last node's last round (node creation, "
        "discovery and teardown excluded). Per-message cost = wall time / algorithm messages delivered (all nodes, "
        f"all topics). Median (by cost) of {args.repeats} interleaved runs; *spread* = min-max of the cost ratio "
        "over the runs.",
        "",
        "| form | robots | rounds | swarm rounds/s | swarm msgs/s | swarm µs/msg | raw rounds/s | raw msgs/s "
        "| raw µs/msg | ratio swarm/raw | spread | ratio <= 2 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for form, n, sw, raw, ratios in rows:
        ratio = sw.us_per_msg / raw.us_per_msg
        lines.append(
            f"| {form} | {n} | {sw.rounds} | {sw.rounds_per_s:.1f} | {sw.msgs_per_s:.0f} | {sw.us_per_msg:.0f} "
            f"| {raw.rounds_per_s:.1f} | {raw.msgs_per_s:.0f} | {raw.us_per_msg:.0f} | **{ratio:.2f}** "
            f"| {min(ratios):.2f}-{max(ratios):.2f} | {'yes' if ratio <= 2 else 'no'} |")
    big = [(form, sw) for form, n, sw, _, _ in rows if n >= 100]
    lines += ["", "Goals: per-message cost <= 2x raw; 100 robots in one process >= 10 rounds/s."]
    for form, sw in big:
        lines.append(f"- `{form}`, {sw.rounds} rounds at 100+ robots: {sw.rounds_per_s:.1f} rounds/s -> "
                     f"{'met' if sw.rounds_per_s >= 10 else 'NOT met'}.")
    return "\n".join(lines) + "\n"


def profile(n: int, rounds: int, domain_id: int, seed: int, top: int = 25) -> None:
    """cProfile of one radmm run (timed window only): functions by own time, package code marked."""
    swarm_run("radmm", n, rounds, domain_id, seed)  # warm-up (imports, type support)
    profiler = cProfile.Profile()
    run = swarm_run("radmm", n, rounds, domain_id, seed, profiler)
    print(f"radmm, {n} robots, {run.rounds} rounds: {run.rounds_per_s:.1f} rounds/s, {run.us_per_msg:.0f} us/msg "
          "(under cProfile)")
    stats = pstats.Stats(profiler)
    entries = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        entries.append((tottime, cumtime, ncalls, path, line, func))
    total = sum(e[0] for e in entries)
    print(f"\ntop {top} by own time (total {total:.2f} s profiled); * = distopt_ros code")
    print(f"{'own s':>7} {'own %':>6} {'cum s':>7} {'calls':>9}  where")
    for tottime, cumtime, ncalls, path, line, func in sorted(entries, reverse=True)[:top]:
        mark = "*" if path.startswith(PACKAGE) else " "
        where = f"{_short(path)}:{line} {func}"
        print(f"{tottime:7.3f} {100 * tottime / total:5.1f}% {cumtime:7.3f} {ncalls:9d} {mark} {where}")
    print(f"\ndistopt_ros functions by cumulative time (top {top})")
    own = [e for e in entries if e[3].startswith(PACKAGE)]
    for tottime, cumtime, ncalls, path, line, func in sorted(own, key=lambda e: -e[1])[:top]:
        print(f"{cumtime:7.3f} {100 * cumtime / total:5.1f}% own {tottime:6.3f} {ncalls:9d}  "
              f"{_short(path)}:{line} {func}")


def _short(path: str) -> str:
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1:]
    return path.rsplit("site-packages/", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 10, 25, 100], help="robots per swarm")
    ap.add_argument("--rounds", type=int, default=200, help="rounds per run below 100 robots")
    ap.add_argument("--big-rounds", type=int, default=60, help="rounds per run at 100 robots or more")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per configuration (median reported)")
    ap.add_argument("--forms", nargs="+", choices=sorted(FORMS), default=["radmm", "admm"], help="algorithms")
    ap.add_argument("--seed", type=int, default=1, help="swarm seed and raw payload seed")
    ap.add_argument("--domain-id", type=int, default=184,
                    help="ROS_DOMAIN_ID of the raw runs; swarm runs use the next ones")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ros_transport.md"), help="markdown file")
    ap.add_argument("--profile", type=int, metavar="N", help="only profile one radmm run of N robots, write nothing")
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.profile, args.rounds if args.profile < 100 else args.big_rounds, args.domain_id + 1, args.seed)
        return 0
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    rows = []
    for form in args.forms:
        for n in args.sizes:
            rounds = args.rounds if n < 100 else args.big_rounds
            swarm, raw = [], []
            for _ in range(args.repeats):
                raw_fn = raw_ring if FORMS[form][0] == "ring" else raw_star
                raw.append(raw_fn(n, rounds, args.domain_id, rng))
                swarm.append(swarm_run(form, n, rounds, args.domain_id + 1 + list(FORMS).index(form), args.seed))
            ratios = [s.us_per_msg / r.us_per_msg for s, r in zip(swarm, raw, strict=True)]
            sw, rw = median_run(swarm), median_run(raw)
            rows.append((form, n, sw, rw, ratios))
            print(f"{form:>5} {n:>4} robots: swarm {sw.rounds_per_s:7.1f} rounds/s {sw.us_per_msg:6.0f} us/msg | "
                  f"raw {rw.rounds_per_s:7.1f} rounds/s {rw.us_per_msg:6.0f} us/msg | ratio "
                  f"{sw.us_per_msg / rw.us_per_msg:4.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)}; "
                  f"median {statistics.median(ratios):.2f})", flush=True)
    text = render(rows, args, time.perf_counter() - t0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n" + text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
