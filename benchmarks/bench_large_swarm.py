"""Large-swarm speed: 10,000 agents of edge ADMM and DGD on the 2-D target-fusion problem.

Target (issue: vectorize so that large swarms are cheap): >= 100 iterations/s for 10,000
agents on this machine. Runs the vectorized simulator (distopt_ros/sim/vectorized.py) on a
grid and on a random geometric graph, prints iterations/s and the ratio to the target for
each algorithm, and writes benchmarks/results/large_swarm.md. The error to the centralized
optimum is computed at every iteration and counts in the time.

    python benchmarks/bench_large_swarm.py [--agents 10000] [--iterations 200]
"""

from __future__ import annotations

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # house rule for every script, even ROS-free ones

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distopt_ros.core.graphs import Graph, make_graph  # noqa: E402
from distopt_ros.core.problems import target_fusion_problem  # noqa: E402
from distopt_ros.outputs import add_out_arguments, out_path, write_out  # noqa: E402
from distopt_ros.sim.vectorized import (  # noqa: E402
    QuadraticBatch,
    VectorResult,
    run_dgd_vectorized,
    run_radmm_vectorized,
)

TARGET = 100.0  # iterations per second


def _runs(batch: QuadraticBatch, graph: Graph, iters: int) -> dict[str, Callable[[], VectorResult]]:
    return {
        "R-ADMM (rho=1, alpha=0.5)": lambda: run_radmm_vectorized(batch, graph, 1.0, 0.5, iters),
        "R-ADMM, 30% loss, 70% activation": lambda: run_radmm_vectorized(
            batch, graph, 1.0, 0.5, iters, loss_probability=0.3, activation_probability=0.7, seed=1),
        "DGD (step 0.05)": lambda: run_dgd_vectorized(batch, graph, 0.05, iters),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--radius", type=float, default=0.025, help="random geometric graph radius (unit square)")
    add_out_arguments(ap, "the results table (make results: benchmarks/results/large_swarm.md)")
    args = ap.parse_args(argv)
    path = out_path(ap, args)
    n, iters = args.agents, args.iterations

    t0 = time.perf_counter()
    problem, _ = target_fusion_problem(n, seed=0, dim=2)
    batch = QuadraticBatch.from_problem(problem)
    print(f"problem: {n} agents, 2-D target fusion, seed 0 ({time.perf_counter() - t0:.1f} s to build)")
    graphs: dict[str, Graph] = {}
    for name, build in (("grid", lambda: make_graph("grid", n)),
                        (f"random geometric r={args.radius}",
                         lambda: make_graph("random_geometric", n, seed=0, radius=args.radius))):
        t0 = time.perf_counter()
        graphs[name] = build()
        print(f"graph {name}: {len(graphs[name].edges)} edges ({time.perf_counter() - t0:.1f} s to build)")

    rows = []
    for gname, graph in graphs.items():
        for aname, run in _runs(batch, graph, iters).items():
            res = run()
            rate = res.iterations_per_second
            rows.append((gname, len(graph.edges), aname, rate, rate / TARGET, res.setup_time, res.final_error,
                         res.messages, res.messages_dropped))
            print(f"{gname:26s} {aname:34s} {rate:8.1f} it/s  ratio to target {rate / TARGET:6.2f}  "
                  f"setup {res.setup_time:5.2f} s  max error after {iters}: {res.final_error:.2e}")

    lines = [
        f"# Large swarm: {n} agents, 2-D target fusion (seed 0), {iters} iterations",
        "",
        f"Target: {TARGET:.0f} iterations/s (ratio >= 1 meets it). Vectorized simulator "
        "(`distopt_ros/sim/vectorized.py`), error to the optimum tracked every iteration. "
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"1-min load average {os.getloadavg()[0]:.1f} at the end (other jobs share the CPUs). "
        "Reproduce: `python benchmarks/bench_large_swarm.py`.",
        "",
        "| graph | edges | algorithm | iterations/s | ratio to target | setup s | max error | messages | dropped |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {g} | {e} | {a} | {r:.1f} | {q:.2f} | {s:.2f} | {err:.2e} | {m} | {d} |"
              for g, e, a, r, q, s, err, m, d in rows]
    print("\n".join(lines))
    write_out(path, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
