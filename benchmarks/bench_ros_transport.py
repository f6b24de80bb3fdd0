"""ROS transport cost: the swarm's rounds per second and per-message cost against raw rclpy.

For 4, 10, 25 and 100 robots in one process (one executor), runs synchronous consensus
ADMM with the package's nodes (lossless, a fixed number of rounds) in two communication
patterns, and, in the same run, a raw rclpy baseline with the same pattern, message types,
payload size and topics but no algorithm, validation or bookkeeping:

* ``ring``: decentralized edge ADMM (``radmm``); each node publishes to its two neighbours
  on per-edge topics and waits for both before its next round.
* ``star``: consensus ADMM with a coordinator (``admm``); robots publish to the
  coordinator, which answers all of them with one broadcast once it has every message.
 Per-message cost = wall time /
messages delivered; the ratio swarm / raw is the package's overhead (goal <= 2). The
clock starts once every node has started its first round (discovery excluded).

    python benchmarks/bench_ros_transport.py [--sizes 4 10 25 100] [--patterns ring star]
                                             [--executors events single] [--rounds 1000]
                                             [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this source tree, not an older install

import numpy as np

from distopt_ros.outputs import add_out_arguments, out_path, write_out


def _drive(executor: Any, matched: Callable[[], bool], kick: Callable[[], object], rnd: list[int],
           rounds: int) -> float:
    """Spin until every link is matched, ``kick`` the first round, spin until every node did
    ``rounds`` rounds; the seconds after the kick (discovery excluded)."""
    while not matched():
        executor.spin_once(timeout_sec=0.01)
    start = time.perf_counter()
    kick()
    while min(rnd) < rounds:
        executor.spin_once(timeout_sec=0.1)
    return time.perf_counter() - start


def _teardown(executor: Any, nodes: list, context: Any) -> None:
    import rclpy

    executor.shutdown()
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def raw_ring(n: int, rounds: int, domain_id: int, executor_kind: str = "single") -> tuple[float, int]:
    """Raw rclpy ring exchange: (seconds for ``rounds`` rounds after discovery, messages delivered)."""
    import rclpy
    from rclpy.context import Context

    from distopt_ros.msg import AgentState
    from distopt_ros.ros.entry import make_executor

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = make_executor(executor_kind, context)
    nodes, pubs, got, rnd = [], [], [], [0] * n
    delivered = [0]
    try:
        for i in range(n):
            node = rclpy.create_node(f"raw_{i}", namespace=f"raw_{i}", context=context)
            nodes.append(node)
            got.append({})
            executor.add_node(node)
        payload = np.zeros(2)
        for i in range(n):
            peers = sorted({(i - 1) % n, (i + 1) % n})
            pubs.append({j: nodes[i].create_publisher(AgentState, f"edge_to_{j}", 10) for j in peers})
            for j in peers:
                def on(msg: AgentState, i: int = i) -> None:
                    delivered[0] += 1
                    got[i].setdefault(int(msg.iteration), set()).add(int(msg.sender_id))
                    advance(i)
                nodes[i].create_subscription(AgentState, f"/raw_{j}/edge_to_{i}", on, 10)

        def send(i: int) -> None:
            for j, pub in pubs[i].items():
                m = AgentState(sender_id=i, receiver_id=j, iteration=rnd[i], algorithm="raw", kind="edge", dim=2)
                m.primal, m.consensus = payload, payload
                pub.publish(m)

        def advance(i: int) -> None:
            while rnd[i] < rounds and len(got[i].get(rnd[i], ())) == len(pubs[i]):
                got[i].pop(rnd[i])
                rnd[i] += 1
                send(i)

        seconds = _drive(executor, lambda: all(p.get_subscription_count() >= 1 for ps in pubs for p in ps.values()),
                         lambda: [send(i) for i in range(n)], rnd, rounds)
        return seconds, delivered[0]
    finally:
        _teardown(executor, nodes, context)


def raw_star(n: int, rounds: int, domain_id: int, executor_kind: str = "single") -> tuple[float, int]:
    """Raw rclpy star ping-pong: robots send to a coordinator, which answers all once it has every robot's message.

    The global consensus ADMM pattern (coordinator form) with the same types as the swarm: ``AgentState``
    up on ``/raw_<i>/state``, one ``CoordinatorBroadcast`` down on ``/raw_coordinator/consensus``.
    """
    import rclpy
    from rclpy.context import Context

    from distopt_ros.msg import AgentState, CoordinatorBroadcast
    from distopt_ros.ros.entry import make_executor

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = make_executor(executor_kind, context)
    nodes, ups = [], []
    rnd = [0] * n
    got: dict[int, set[int]] = {}
    coord_round = [0]
    delivered = [0]
    payload = np.zeros(2)
    try:
        coord = rclpy.create_node("raw_coordinator_node", namespace="raw_coordinator", context=context)
        nodes.append(coord)
        executor.add_node(coord)
        down = coord.create_publisher(CoordinatorBroadcast, "consensus", 10)

        def send_up(i: int) -> None:
            m = AgentState(sender_id=i, receiver_id=AgentState.BROADCAST, iteration=rnd[i], algorithm="raw",
                           kind="proposal", dim=2)
            m.primal, m.dual = payload, payload
            ups[i].publish(m)

        def on_up(msg: AgentState) -> None:
            delivered[0] += 1
            it = int(msg.iteration)
            got.setdefault(it, set()).add(int(msg.sender_id))
            while len(got.get(coord_round[0], ())) == n:
                got.pop(coord_round[0])
                b = CoordinatorBroadcast(iteration=coord_round[0], algorithm="raw", kind="consensus", dim=2, rho=1.0)
                b.consensus = payload
                coord_round[0] += 1
                down.publish(b)

        for i in range(n):
            node = rclpy.create_node(f"raw_{i}", namespace=f"raw_{i}", context=context)
            nodes.append(node)
            executor.add_node(node)
            ups.append(node.create_publisher(AgentState, "state", 10))
            coord.create_subscription(AgentState, f"/raw_{i}/state", on_up, 10)

            def on_down(msg: CoordinatorBroadcast, i: int = i) -> None:
                delivered[0] += 1
                if int(msg.iteration) == rnd[i]:
                    rnd[i] += 1
                    if rnd[i] < rounds:
                        send_up(i)
            node.create_subscription(CoordinatorBroadcast, "/raw_coordinator/consensus", on_down, 10)

        seconds = _drive(executor, lambda: all(p.get_subscription_count() >= 1 for p in ups)
                         and down.get_subscription_count() >= n, lambda: [send_up(i) for i in range(n)], rnd, rounds)
        return seconds, delivered[0]
    finally:
        _teardown(executor, nodes, context)


def swarm_run(n: int, rounds: int, domain_id: int, executor_kind: str = "single",
              algorithm: str = "radmm") -> tuple[float, int]:
    """The package's nodes (sync, lossless; ``radmm`` on a ring or ``admm`` with its coordinator).

    Returns (seconds after every node started, messages delivered).
    """
    from distopt_ros.ros.runner import run_swarm

    started: list[float] = []
    last: list[float] = [0.0]

    def on_tick(nodes: list, statuses: dict) -> None:
        last[0] = time.perf_counter()  # the final call comes right before the runner sees the end
        if not started and nodes and all(node.started for node in nodes):
            started.append(last[0])

    report = run_swarm({"algorithm": algorithm, "num_robots": n, "topology": "ring", "seed": 1,
                        "max_iterations": rounds, "tolerance": 0.0, "status_period": 1.0, "startup_timeout": 120.0},
                       progress=False, domain_id=domain_id, timeout=600.0, on_tick=on_tick,
                       executor=executor_kind)
    end = last[0]  # not after run_swarm returns: that includes tearing the nodes down
    if not report.finished or not started:
        raise RuntimeError(f"{n} robots did not finish {rounds} rounds")
    delivered = sum(node.agent.stats.received for node in report.nodes)
    return end - started[0], delivered


PATTERNS = {"ring": (raw_ring, "radmm"), "star": (raw_star, "admm")}
"""Communication pattern -> (raw baseline, the package's algorithm with that pattern)."""


def measure(n: int, rounds: int, repeats: int, domain_id: int, executor: str, pattern: str = "ring") -> tuple:
    """One table row: medians over ``repeats`` interleaved raw/swarm pairs with ``executor``.

    The cost ratio is the median of the per-pair ratios: a pair runs back to back, so it
    shares the machine's state of the moment (this VM's timing drifts by +-20 %).
    """
    pairs = []
    for _ in range(repeats):
        raw, algorithm = PATTERNS[pattern]
        raw_t, raw_m = raw(n, rounds, domain_id, executor)
        sw_t, sw_m = swarm_run(n, rounds, domain_id + 1, executor, algorithm)
        pairs.append((raw_t / raw_m, sw_t / sw_m, rounds / raw_t, rounds / sw_t))
    med = [float(np.median([p[k] for p in pairs])) for k in range(4)]
    ratio = float(np.median([p[1] / p[0] for p in pairs]))
    return (pattern, executor, n, rounds, med[3], med[1] * 1e6, med[2], med[0] * 1e6, ratio)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 10, 25, 100])
    ap.add_argument("--patterns", nargs="+", default=["ring", "star"], choices=list(PATTERNS),
                    help="ring: edge ADMM (radmm) vs a raw ring; star: consensus ADMM (admm) vs a raw star ping-pong")
    ap.add_argument("--executors", nargs="+", default=["events", "single"], choices=["events", "single"],
                    help="rclpy executors to measure (the embedded runner's default first)")
    ap.add_argument("--rounds", type=int, default=1000, help="rounds per run (100 robots: a quarter of it)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="raw/swarm pairs per size; medians are reported (this VM scatters by +-20 %% per run)")
    ap.add_argument("--domain-id", type=int, default=170)
    add_out_arguments(ap, "the results table (make results: benchmarks/results/ros_transport.md)")
    args = ap.parse_args(argv)
    path = out_path(ap, args)
    rows = []
    for pattern in args.patterns:
        for executor in args.executors:
            for n in args.sizes:
                rounds = args.rounds if n < 100 else max(20, args.rounds // 4)
                row = measure(n, rounds, args.repeats, args.domain_id, executor, pattern)
                rows.append(row)
                _, _, _, _, sw_rate, sw_cost, raw_rate, raw_cost, ratio = row
                print(f"{pattern:>4} {executor:>6} {n:>4} robots: swarm {sw_rate:7.1f} rounds/s, {sw_cost:6.1f} "
                      f"us/msg | raw {raw_rate:7.1f} rounds/s, {raw_cost:6.1f} us/msg | ratio {ratio:4.2f}", flush=True)
    lines = [
        "# ROS transport: swarm vs raw rclpy",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, rclpy from the ros-jazzy PyPI wheels, "
        f"RMW {os.environ.get('RMW_IMPLEMENTATION', 'default (Fast DDS)')}, localhost discovery. "
        f"Date: {time.strftime('%Y-%m-%d')}. Reproduce: `python benchmarks/bench_ros_transport.py`.",
        "",
        "Synchronous, lossless, all nodes in one process. `ring`: decentralized edge ADMM (`radmm`, ring) against "
        "a raw rclpy ring exchange; `star`: consensus ADMM with its coordinator (`admm`) against a raw rclpy star "
        "ping-pong. Each raw baseline uses the same message types, payload and topic layout and is spun by the same "
        "executor (`events`: rclpy's EventsExecutor, the embedded runner's default; `single`: "
        "SingleThreadedExecutor). Discovery excluded. Per-message cost = wall time / messages delivered; medians "
        f"of {args.repeats} interleaved raw/swarm pairs, the ratio is the median of the pairs' ratios.",
        "",
        "| pattern | executor | robots | rounds | swarm rounds/s | swarm us/msg | raw rounds/s | raw us/msg | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {p} | {x} | {n} | {r} | {a:.1f} | {b:.1f} | {c:.1f} | {d:.1f} | {e:.2f} |"
          for p, x, n, r, a, b, c, d, e in rows),
        "",
        "Goals: cost ratio <= 2 (4, 10, 25 robots); 100 robots >= 10 rounds/s.",
    ]
    print("\n".join(lines))
    write_out(path, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
