"""Large-swarm speed: 10,000 agents of edge ADMM and DGD on the 2-D fusion problem.

Target (issue: the consensus family and the simulator): >= 100 iterations/s on this machine.
Prints iterations/s and the ratio to the target for each graph and algorithm, and writes
benchmarks/results/large_swarm.md.

    python benchmarks/bench_large_swarm.py [--agents 10000] [--iterations 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # house rule, even without ROS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distopt_ros.core.graphs import make_graph  # noqa: E402
from distopt_ros.core.problems import target_fusion_problem  # noqa: E402
from distopt_ros.sim.vectorized import QuadraticBatch, run_dgd_vectorized, run_radmm_vectorized  # noqa: E402

TARGET = 100.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args(argv)
    n, iters = args.agents, args.iterations
    t0 = time.perf_counter()
    batch = QuadraticBatch.from_problem(target_fusion_problem(n, seed=0, dim=2)[0])
    print(f"problem: {n} agents, 2-D fusion ({time.perf_counter() - t0:.1f} s to build)")
    rows = []
    graphs = {"grid": make_graph("grid", n), "random geometric (r=0.025)": make_graph("random_geometric", n, seed=0,
                                                                                      radius=0.025)}
    for gname, graph in graphs.items():
        runs = {
            "radmm (rho=1, alpha=0.5)": lambda g=graph: run_radmm_vectorized(batch, g, 1.0, 0.5, iters),
            "radmm, 30% loss, 50% activation": lambda g=graph: run_radmm_vectorized(
                batch, g, 1.0, 0.5, iters, loss_probability=0.3, activation_probability=0.5, seed=1),
            "dgd (step 0.05)": lambda g=graph: run_dgd_vectorized(batch, g, 0.05, iters),
        }
        for name, run in runs.items():
            res = run()
            rate = res.iterations_per_second
            rows.append((gname, len(graph.edges), name, rate, rate / TARGET, res.errors[-1]))
            print(f"{gname:28s} edges={len(graph.edges):7d}  {name:34s} {rate:8.1f} it/s  "
                  f"ratio to target {rate / TARGET:5.2f}  max error after {iters}: {res.errors[-1]:.2e}")
    lines = [f"# Large swarm: {n} agents, 2-D, {iters} iterations\n",
             f"Target: {TARGET:.0f} iterations/s. `python benchmarks/bench_large_swarm.py`.\n",
             "| graph | edges | algorithm | iterations/s | ratio to target | max error |", "|---|---|---|---|---|---|"]
    lines += [f"| {g} | {e} | {a} | {r:.1f} | {q:.2f} | {err:.2e} |" for g, e, a, r, q, err in rows]
    out = ROOT / "benchmarks" / "results" / "large_swarm.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
