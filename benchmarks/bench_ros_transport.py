"""ROS transport cost: the swarm's rounds per second and per-message cost against raw rclpy.

For 4, 10, 25 and 100 robots in one process (one single-threaded executor), runs
synchronous decentralized edge ADMM (``radmm``, ring, lossless, a fixed number of rounds)
with the package's nodes, and, in the same run, a raw rclpy baseline with the same
communication pattern: the same message type (``AgentState``) and payload size on the same
per-edge topics, each node publishing to its two neighbours and waiting for both before its
next round, with no algorithm, validation or bookkeeping. Per-message cost = wall time /
messages delivered; the ratio swarm / raw is the package's overhead (goal <= 2). The
clock starts once every node has started its first round (discovery excluded).

    python benchmarks/bench_ros_transport.py [--sizes 4 10 25 100] [--rounds 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this source tree, not an older install

import numpy as np


def raw_ring(n: int, rounds: int, domain_id: int) -> tuple[float, int]:
    """Raw rclpy ring exchange: (seconds for ``rounds`` rounds after discovery, messages delivered)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from distopt_ros.msg import AgentState

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    executor = SingleThreadedExecutor(context=context)
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

        while not all(p.get_subscription_count() >= 1 for ps in pubs for p in ps.values()):
            executor.spin_once(timeout_sec=0.01)
        start = time.perf_counter()
        for i in range(n):
            send(i)
        while min(rnd) < rounds:
            executor.spin_once(timeout_sec=0.1)
        return time.perf_counter() - start, delivered[0]
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def swarm_ring(n: int, rounds: int, domain_id: int) -> tuple[float, int]:
    """The package's robot nodes (radmm, sync, lossless): (seconds after every robot started, messages delivered)."""
    from distopt_ros.ros.runner import run_swarm

    started: list[float] = []
    last: list[float] = [0.0]

    def on_tick(nodes: list, statuses: dict) -> None:
        last[0] = time.perf_counter()  # the final call comes right before the runner sees the end
        if not started and nodes and all(node.started for node in nodes):
            started.append(last[0])

    report = run_swarm({"algorithm": "radmm", "num_robots": n, "topology": "ring", "seed": 1,
                        "max_iterations": rounds, "tolerance": 0.0, "status_period": 1.0, "startup_timeout": 120.0},
                       progress=False, domain_id=domain_id, timeout=600.0, on_tick=on_tick)
    end = last[0]  # not after run_swarm returns: that includes tearing the nodes down
    if not report.finished or not started:
        raise RuntimeError(f"{n} robots did not finish {rounds} rounds")
    delivered = sum(node.agent.stats.received for node in report.nodes)
    return end - started[0], delivered


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 10, 25, 100])
    ap.add_argument("--rounds", type=int, default=1000, help="rounds per run (100 robots: a quarter of it)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size; the median is reported")
    ap.add_argument("--domain-id", type=int, default=170)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ros_transport.md"))
    args = ap.parse_args(argv)
    rows = []
    for n in args.sizes:
        rounds = args.rounds if n < 100 else max(20, args.rounds // 4)
        raw, swarm = [], []
        for _ in range(args.repeats):  # interleaved, medians: this VM's timing noise is large
            raw.append(raw_ring(n, rounds, args.domain_id))
            swarm.append(swarm_ring(n, rounds, args.domain_id + 1))
        raw_t, raw_m = sorted(raw)[len(raw) // 2]
        sw_t, sw_m = sorted(swarm)[len(swarm) // 2]
        raw_cost, sw_cost = raw_t / raw_m, sw_t / sw_m
        rows.append((n, rounds, rounds / sw_t, sw_cost * 1e6, rounds / raw_t, raw_cost * 1e6, sw_cost / raw_cost))
        print(f"{n:>4} robots: swarm {rounds / sw_t:7.1f} rounds/s, {sw_cost * 1e6:6.1f} us/msg | raw "
              f"{rounds / raw_t:7.1f} rounds/s, {raw_cost * 1e6:6.1f} us/msg | ratio {sw_cost / raw_cost:4.2f}",
              flush=True)
    lines = [
        "# ROS transport: swarm vs raw rclpy",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, rclpy from the ros-jazzy PyPI wheels, "
        f"RMW {os.environ.get('RMW_IMPLEMENTATION', 'default (Fast DDS)')}, localhost discovery. "
        f"Date: {time.strftime('%Y-%m-%d')}. Reproduce: `python benchmarks/bench_ros_transport.py`.",
        "",
        "Synchronous edge ADMM (`radmm`, ring, lossless) with the package's robot nodes, against a raw rclpy "
        "ring exchange with the same message type, payload and topics in the same process (one single-threaded "
        f"executor). Discovery excluded. Per-message cost = wall time / messages delivered; median of "
        f"{args.repeats} interleaved runs.",
        "",
        "| robots | rounds | swarm rounds/s | swarm us/msg | raw rounds/s | raw us/msg | cost ratio swarm/raw |",
        "|---|---|---|---|---|---|---|",
        *(f"| {n} | {r} | {a:.1f} | {b:.1f} | {c:.1f} | {d:.1f} | {e:.2f} |" for n, r, a, b, c, d, e in rows),
        "",
        "Goals: cost ratio <= 2; 100 robots >= 10 rounds/s.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
