"""Benchmark table: every algorithm of the library on the same problems.

For each algorithm and problem it reports the rounds needed to bring every agent within
1e-6 of the centralized optimum, the messages and bits sent, and the wall time of the
in-process simulator, and writes the table to benchmarks/results/algorithms.md.

    python benchmarks/bench_algorithms.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # house rule, even without ROS

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tables import to_markdown  # noqa: E402

from distopt_ros.core.algorithms.consensus import GossipAgent, PushSumAgent, consensus_swarm  # noqa: E402
from distopt_ros.core.graphs import make_digraph, make_graph  # noqa: E402
from distopt_ros.core.messages import COORDINATOR  # noqa: E402
from distopt_ros.core.network import NetworkModel  # noqa: E402
from distopt_ros.core.problems import Problem, QuadraticObjective, target_fusion_problem  # noqa: E402
from distopt_ros.core.registry import build_swarm  # noqa: E402
from distopt_ros.outputs import add_out_arguments, out_path, write_out  # noqa: E402
from distopt_ros.sim.simulator import SimResult, simulate  # noqa: E402

ACCURACY = 1e-6
BASE = {"rho": 1.0, "alpha": 0.5, "max_iterations": 20_000, "tolerance": 0.0, "stop_patience": 3,
        "step": 0.05, "step_decay": 0.0, "gamma": 0.5, "delta": 0.05, "residual_balancing": False}


def problems(quick: bool) -> dict[str, Problem]:
    """The benchmark problems (seeded, so every run measures the same thing)."""
    n = 8 if quick else 12
    out = {f"fusion (N={n}, n=2)": target_fusion_problem(n, seed=1, dim=2)[0]}
    rng = np.random.default_rng(2)
    quads = []
    for _ in range(n):
        m = rng.normal(size=(3, 3))
        quads.append(QuadraticObjective(0.3 * m @ m.T + np.eye(3), rng.normal(size=3) * 2))
    out[f"random quadratic (N={n}, n=3)"] = Problem(tuple(quads))
    try:  # least squares / logistic arrive with the problems module of the algorithm library
        from distopt_ros.core.problems import random_least_squares_problem, random_logistic_problem

        out[f"least squares (N={n}, n=3)"] = random_least_squares_problem(n, 3, seed=3)
        out[f"logistic (N={n}, n=3)"] = random_logistic_problem(n, 3, seed=4)
    except ImportError:
        pass
    return out


def row(name: str, settings: str, problem: str, res: SimResult, note: str = "") -> dict[str, str]:
    """One table row: cost until every agent is within ACCURACY (or the final error if never)."""
    n = max(1, len([k for k in res.sent_per_agent if k >= 0]))
    cost = res.cost_to(ACCURACY)
    if cost is None:
        hit = f"not reached in {res.rounds} (final {res.error_history[-1]:.1e})"
        msgs, bits, secs = res.messages_sent, res.bits_sent, res.wall_time
    else:
        hit = str(res.rounds_to(ACCURACY))
        msgs, bits, secs = cost
    return {
        "algorithm": name, "problem": problem, "settings": settings, "rounds to 1e-6": hit,
        "messages": str(msgs), "kbit per agent": f"{bits / n / 1e3:.1f}", "wall s": f"{secs:.2f}", "note": note,
    }


LOSSLESS_COLUMNS = ("rounds to 1e-6", "messages", "kbit per agent")
"""The columns of a lossless row that are a function of the code alone (the wall time is the machine's):
test/test_results_drift.py recomputes them and fails when the committed table differs."""


def run(quick: bool, only_lossless: bool = False) -> list[dict[str, str]]:
    """The rows of the main table (``only_lossless``: without the lossy/asynchronous runs)."""
    rows: list[dict[str, str]] = []
    lossy = NetworkModel(loss="bernoulli", loss_probability=0.3, activation_probability=0.5, seed=7)
    cases: list[tuple[str, str, dict, NetworkModel | None, int, str]] = [
        ("admm", "rho=1", {}, None, 2000, "coordinator"),
        ("admm", "rho=0.05, residual balancing", {"rho": 0.05, "residual_balancing": True}, None, 2000, "coordinator"),
        ("radmm", "rho=1, alpha=0.5", {}, None, 3000, ""),
        ("radmm", "rho=1, alpha=0.8", {"alpha": 0.8}, None, 3000, ""),
        ("radmm", "rho=1, alpha=0.8, 30% loss, 50% activation", {"alpha": 0.8}, lossy, 12000, "lossy/async"),
        ("diging", "step=0.03", {"step": 0.03}, None, 6000, ""),
        ("diging", "step=0.03, 30% loss, 50% activation", {"step": 0.03}, lossy, 6000, "lossy: stays biased"),
        ("atc", "step=0.03", {"step": 0.03}, None, 12000, "two rounds per iteration"),
        ("semi_atc", "step=0.03", {"step": 0.03}, None, 6000, ""),
        ("atg", "rho=1, alpha=0.5, gamma=0.5, delta=0.05", {}, None, 6000, ""),
        ("atg", "robust, 30% loss, 50% activation", {}, lossy, 20000, "lossy/async"),
        ("dgd", "step=0.02 constant", {"step": 0.02}, None, 4000, "biased by design"),
        ("dgd", "step=0.1/(k+1)^0.75", {"step": 0.1, "step_decay": 0.75}, None, 4000, "exact only asymptotically"),
    ]
    graph_cache: dict[int, object] = {}
    for pname, problem in problems(quick).items():
        graph = graph_cache.setdefault(problem.num_agents, make_graph("ring", problem.num_agents))
        opt = problem.centralized_optimum()
        for alg, settings, over, net, rounds, note in cases:
            if only_lossless and net is not None:
                continue
            if quick:
                rounds = min(rounds, 3000)
            params = {**BASE, **over, "max_iterations": rounds}
            agents = build_swarm(alg, problem, graph, params)
            res = simulate(agents, network=net, optimum=opt, max_rounds=rounds if net is None else 2 * rounds,
                           stop_within=ACCURACY)
            rows.append(row(alg, settings, pname, res, note))
    # Averaging problems: consensus, gossip, push-sum on the fusion means.
    values = np.array([o.mean for o in next(iter(problems(quick).values())).objectives])
    n = values.shape[0]
    ring = make_graph("ring", n)
    avg = values.mean(axis=0)
    res = simulate(consensus_swarm(values, ring, 3000), optimum=avg, stop_within=ACCURACY)
    rows.append(row("consensus", "Metropolis weights", f"averaging (N={n}, ring)", res))
    gossip = {i: GossipAgent(i, values[i], ring.neighbors(i), 10**9, seed=i) for i in range(n)}
    res = simulate(gossip, network=NetworkModel(activation_probability=1.0 / n, seed=3), optimum=avg,
                   max_rounds=40_000 if not quick else 20_000, stop_within=ACCURACY)
    rows.append(row("gossip", "pairwise, one wake-up per tick on average", f"averaging (N={n}, ring)", res,
                    "rounds = clock ticks"))
    dg = make_digraph("random_strongly_connected", n, seed=5)
    ps = {i: PushSumAgent(i, values[i], dg.in_neighbors(i), len(dg.out_neighbors(i)), 3000) for i in range(n)}
    res = simulate(ps, optimum=avg, stop_within=ACCURACY)
    rows.append(row("push-sum", "equal split", f"averaging (N={n}, random digraph)", res))
    return rows


def aladin_problem(num_agents: int = 8, seed: int = 8) -> Problem:
    """The random 2-D quadratic problem on which ALADIN variants and edge ADMM are compared."""
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(num_agents):
        m = rng.normal(size=(2, 2))
        objs.append(QuadraticObjective(m @ m.T + np.eye(2), rng.normal(size=2) * 2))
    return Problem(tuple(objs))


def run_library(quick: bool, only_lossless: bool = False) -> list[dict[str, str]]:
    """Price coordination, constraint-coupled primal-dual, ALADIN and federated learning on their own test problems
    (``only_lossless``: without the lossy/asynchronous runs)."""
    from distopt_ros.core.algorithms.aladin import qudrc_swarm, rcaladin_swarm
    from distopt_ros.core.algorithms.coupled import coupled_swarm, microgrid_problem
    from distopt_ros.core.algorithms.federated import fed_swarm
    from distopt_ros.core.algorithms.price import price_swarm
    from distopt_ros.core.resources import LinearCost, QuadraticCost, ResourceProblem

    rows: list[dict[str, str]] = []
    lossy = NetworkModel(loss="bernoulli", loss_probability=0.3, activation_probability=0.5, seed=7)
    t2 = ResourceProblem([QuadraticCost([1.0]), QuadraticCost([2.0]), QuadraticCost([4.0])], 7.0)
    linear_box = ResourceProblem([LinearCost([b], 0.0, 3.0) for b in (1.0, 2.0, 3.0)], 5.0)
    for name, problem, mode, step, rounds, opt in (
        ("dual ascent", t2, "dual", 0.2, 200, np.array([4.0, 2.0, 1.0])),
        ("dual ascent", t2, "dual", 1 / 1.75, 5, np.array([4.0, 2.0, 1.0])),
        ("gradient descent-ascent", linear_box, "gda", 0.1, 20_000, np.array([3.0, 2.0, 0.0])),
        ("extragradient", linear_box, "extragradient", 0.1, 20_000, np.array([3.0, 2.0, 0.0])),
    ):
        agents = price_swarm(problem, mode, step, rounds)
        err = {"err": lambda a, o=opt: float(np.max(np.abs(np.array([float(a[i].y[0]) for i in range(3)]) - o)))}
        res = simulate(agents, metrics=err)
        res.error_history = res.extra_history["err"]
        pname = "T2 (quadratic)" if problem is t2 else "linear costs, capacity box (N=3)"
        rows.append(row(name, f"step={step:.4g}", pname, res, "auctioneer"))
    mg = microgrid_problem(seed=0)
    xs, _lam = mg.solve()
    graph = make_graph("ring", len(mg.objectives))
    for label, net in (("synchronous", None), ("asynchronous, 30% loss, 50% activation", lossy)):
        if only_lossless and net is not None:
            continue
        agents = coupled_swarm(mg, graph, gamma=0.1, max_iterations=10**6)
        err = {"err": lambda a: max(float(np.linalg.norm(a[i].x - xs[i])) for i in range(len(xs)))}
        res = simulate(agents, network=net, max_rounds=3000 if quick else 8000, metrics=err)
        res.error_history = res.extra_history["err"]
        rows.append(row("coupled", f"{label}, gamma=0.1", "microgrid (5 EPC + grid, n=5)", res))
    # RC-ALADIN (coordinator, float64) and QuDRC-ALADIN (digraph, integers) against float64 edge ADMM.
    problem = aladin_problem()
    objs = list(problem.objectives)
    x_star = problem.centralized_optimum()
    res = simulate(rcaladin_swarm(objs, 2.0, 200), optimum=x_star, stop_within=ACCURACY)
    rows.append(row("RC-ALADIN", "rho=2, coordinator", "random quadratic (N=8, n=2)", res, "float64"))
    res = simulate(build_swarm("radmm", problem, make_graph("ring", 8), {**BASE, "max_iterations": 400}),
                   optimum=x_star, stop_within=ACCURACY)
    rows.append(row("radmm", "rho=1, alpha=0.5", "random quadratic (N=8, n=2)", res, "float64 baseline"))
    digraph = make_digraph("random_strongly_connected", 8, seed=1)
    for delta in (1e-2, 1e-3, 1e-4):
        agents = qudrc_swarm(objs, digraph, 2.0, delta, 25, seed=1)
        res = simulate(agents, optimum=x_star)
        final = res.error_history[-1]
        rows.append(row("QuDRC-ALADIN", f"rho=2, Delta={delta:g}", "random quadratic (N=8, n=2)", res,
                        f"integers; final error {final:.1e} (Delta-neighbourhood)"))
    t3 = Problem((QuadraticObjective(np.array([[1.0]]), np.array([0.0])),
                  QuadraticObjective(np.array([[3.0]]), np.array([4.0]))))
    for opt_name, eta in (("fedavg", 1.0), ("fedadam", 0.03)):
        res = simulate(fed_swarm(t3, 3000, 5, 0.1, optimizer=opt_name, server_step=eta),
                       optimum=np.array([2.680532285088285]), track=[COORDINATOR], stop_within=ACCURACY)
        rows.append(row(opt_name, f"E=5, eta_l=0.1, server step {eta}", "T3 (2 clients)", res,
                        "error to the drift fixed point 2.6805 (w* = 3)"))
    return rows


def bits_to_accuracy(accuracy: float = 1e-3) -> list[dict[str, str]]:
    """Bits per agent until every agent is within ``accuracy``: integer QuDRC vs float64 edge ADMM."""
    from distopt_ros.core.algorithms.aladin import qudrc_swarm

    problem = aladin_problem()
    objs = list(problem.objectives)
    x_star = problem.centralized_optimum()
    out = []
    res = simulate(build_swarm("radmm", problem, make_graph("ring", 8), {**BASE, "max_iterations": 400}),
                   optimum=x_star, stop_within=accuracy)
    cost = res.cost_to(accuracy)
    out.append({"algorithm": "radmm (float64, ring)", "kbit per agent to 1e-3": f"{cost[1] / 8 / 1e3:.1f}"
                if cost else "not reached"})
    for delta in (1e-3, 1e-4):
        res = simulate(qudrc_swarm(objs, make_digraph("random_strongly_connected", 8, seed=1), 2.0, delta, 25, seed=1),
                       optimum=x_star, stop_within=accuracy)
        cost = res.cost_to(accuracy)
        out.append({"algorithm": f"QuDRC-ALADIN (integers, digraph, Delta={delta:g})",
                    "kbit per agent to 1e-3": f"{cost[1] / 8 / 1e3:.1f}" if cost else "not reached"})
    return out


def lossless_rows() -> list[dict[str, str]]:
    """Every lossless row of the committed table (full size, not ``--quick``), recomputed."""
    return run(False, only_lossless=True) + run_library(False, only_lossless=True)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems and round caps")
    add_out_arguments(ap, "the results table (make results: benchmarks/results/algorithms.md)")
    args = ap.parse_args(argv)
    path = out_path(ap, args)
    rows = run(args.quick) + run_library(args.quick)
    table = to_markdown(rows) + "\n\nBits to reach 1e-3 on the same problem (N=8, n=2):\n\n" + to_markdown(
        bits_to_accuracy())
    header = (f"# Algorithm benchmark\n\nRounds for every agent to get within {ACCURACY:g} of the centralized "
              "optimum (simulator, ring graphs, seeded), and the messages, bits (64 per float) and wall time "
              "spent until then (or in the whole capped run when never reached). Generated from the code by "
              "`python benchmarks/bench_algorithms.py --out benchmarks/results/algorithms.md --force` (or "
              "`make results`); test/test_results_drift.py fails when a lossless row's rounds, messages or bits "
              "differ from what the code produces. The wall times are this machine's (2 CPUs, shared).\n\n")
    out(table)
    write_out(path, header + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
