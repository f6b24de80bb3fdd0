"""Faults: how fast the swarm notices, how many rounds it needs to re-converge, how right it ends.

Per fault (kill, kill and restart, a 10 s partition, burst loss, fuzzed payloads, one lying
robot) and algorithm, on the default swarm (8 robots, ring, 2-D target fusion, seed 7):

* **time to detect**: in the simulator the scripted detection delay in rounds (the stand-in
  for ``neighbor_timeout``); over DDS the seconds from the SIGKILL until the monitor reports
  the robot gone (``neighbor_timeout`` 1.5 s, heartbeats every 0.25 s);
* **rounds to re-converge**: from the last event of the fault (detection, restart, heal) until
  every running robot is within 1e-6 of the centralized optimum of the robots then running;
* **final error** against that optimum, and **messages refused** (all reasons, all robots).

The simulated rows are exact and reproducible (seeded); the DDS rows use one process per robot
through the runner and depend on the machine's load.

    python benchmarks/bench_faults.py [--no-ros] [--out benchmarks/results/faults.md --force] [--readme README.md]

``--readme`` copies the table into the README between its faults-table markers (``make results`` does).
"""

from __future__ import annotations

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # house rule for every script, even ROS-free ones

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distopt_ros.config import swarm_parameters  # noqa: E402
from distopt_ros.core.agent import Agent  # noqa: E402
from distopt_ros.core.messages import BROADCAST, Message  # noqa: E402
from distopt_ros.core.network import NetworkModel  # noqa: E402
from distopt_ros.core.problems import Problem  # noqa: E402
from distopt_ros.core.scenario import SwarmConfig, make_agent, make_problem, make_swarm, reference_solution  # noqa: E402
from distopt_ros.outputs import add_out_arguments, out_path, write_out  # noqa: E402
from distopt_ros.sim.faults import Cut, FaultSchedule, Kill, Restart  # noqa: E402
from distopt_ros.sim.simulator import simulate  # noqa: E402

ACCURACY = 1e-6
DETECT = 10
"""Simulated detection delay in rounds."""
FAULT_AT = 60
CUT_ROUNDS = 200
"""A 10 s partition at the default swarm's paced 20 rounds/s."""


def _config(algorithm: str, **kw: object) -> SwarmConfig:
    params, _ = swarm_parameters("consensus", {"algorithm": algorithm, "max_iterations": 20000, **kw})
    return SwarmConfig.from_mapping(params)


class _Tracker:
    """Per round: the running robots' worst error to the optimum of exactly those robots."""

    def __init__(self, cfg: SwarmConfig) -> None:
        self.cfg = cfg
        self.refs: dict[tuple[int, ...], np.ndarray] = {}
        self.errors: list[float] = []

    def __call__(self, round_: int, agents: Mapping[int, Agent]) -> None:
        live = tuple(sorted(i for i in agents if i >= 0))
        if live not in self.refs:
            self.refs[live] = reference_solution(self.cfg, live=live)[live[0]]
        ref = self.refs[live]
        self.errors.append(max(float(np.linalg.norm(agents[i].estimate() - ref)) for i in live))

    def rounds_after(self, start: int) -> int | None:
        for k in range(start, len(self.errors)):
            if all(e < ACCURACY for e in self.errors[k:]):
                return k - start
        return None


def _refused(agents: Mapping[int, Agent]) -> int:
    return int(sum(sum(a.stats.rejected.values()) for a in agents.values()))


def _garbage(agent: Agent, rng: np.random.Generator) -> list[Message]:
    """Payloads each wrong in one way, addressed to ``agent`` from its peers (the fuzz test's categories)."""
    peer = int(rng.choice([j for j in agent.expected]))
    n = agent.wire_dim
    good = {"sender": peer, "receiver": agent.agent_id, "iteration": agent.iteration, "algorithm": agent.algorithm,
            "kind": "edge", "dim": n}
    blocks = {b: n for b in agent.expected[peer]}
    ok = {b: rng.normal(size=size) for b, size in blocks.items()}
    first = next(iter(blocks))
    return [
        Message(**{**good, "dim": n + 1}, **ok),
        Message(**good, **{**ok, first: np.full(n, np.nan)}),
        Message(**good, **{**ok, first: np.full(n, 1e300)}),
        Message(**{**good, "sender": 99}, **ok),
        Message(**{**good, "receiver": 98}, **ok),
        Message(**{**good, "algorithm": "none"}, **ok),
        Message(**{**good, "iteration": agent.iteration + 10**6}, **ok),
    ] + ([Message(**{**good, "iteration": agent.iteration - 1}, **ok)] if agent.iteration >= 1 else [])


def sim_rows() -> list[tuple]:
    rows = []
    for algorithm in ("radmm", "atg", "diging"):
        rows += _sim_algorithm(algorithm)
    return rows + _lie_rows()


def _sim_algorithm(algorithm: str) -> list[tuple]:
    cfg = _config(algorithm, **({"step": 0.02} if algorithm == "diging" else {}))
    problem = make_problem(cfg)
    cases: dict[str, tuple[Callable[[], FaultSchedule], int, dict]] = {
        "kill": (lambda: FaultSchedule([Kill(5, FAULT_AT, DETECT)]), FAULT_AT + DETECT, {}),
        "kill and restart": (lambda: FaultSchedule([Kill(5, FAULT_AT, DETECT), Restart(5, FAULT_AT + 90)],
                                                   factory=lambda i: make_agent(cfg, i, problem)), FAULT_AT + 90, {}),
        "10 s partition": (lambda: FaultSchedule([Cut(frozenset(range(4)), FAULT_AT, FAULT_AT + CUT_ROUNDS, DETECT)]),
                           FAULT_AT + CUT_ROUNDS, {"tolerance": 0.0}),
    }
    rows = []
    for fault, (schedule, settle, over) in cases.items():
        run_cfg = cfg.with_overrides(**over) if over else cfg
        agents = make_swarm(run_cfg)
        tracker = _Tracker(run_cfg)
        simulate(agents, max_rounds=settle + 1500 if over else 20000, faults=schedule(), on_round=tracker)
        rows.append(("simulator", fault, algorithm, f"{DETECT} rounds", tracker.rounds_after(settle),
                     tracker.errors[-1], _refused(agents)))
    if algorithm != "diging":  # DIGing's sum invariant does not survive loss (docs/algorithms.md)
        agents = make_swarm(cfg)
        tracker = _Tracker(cfg)
        net = NetworkModel(loss="gilbert_elliott", loss_probability=0.3, burst_length=5.0,
                           activation_probability=0.8, seed=1)
        simulate(agents, max_rounds=60000, network=net, on_round=tracker)
        rows.append(("simulator", "burst loss 30 %, bursts of 5", algorithm, "-", tracker.rounds_after(0),
                     tracker.errors[-1], _refused(agents)))
    agents = make_swarm(cfg)
    tracker = _Tracker(cfg)
    rng = np.random.default_rng(5)

    def fuzz(round_: int, live: Mapping[int, Agent]) -> None:
        tracker(round_, live)
        if 1 <= round_ <= 200:  # from round 1: every peer's rounds are paired by then
            for agent in live.values():
                if not agent.done:
                    for msg in _garbage(agent, rng):
                        agent.receive(msg)

    simulate(agents, max_rounds=20000, on_round=fuzz)
    rows.append(("simulator", "fuzz (8 bad payloads per robot per round, 200 rounds)", algorithm, "-",
                 tracker.rounds_after(0), tracker.errors[-1], _refused(agents)))
    return rows


def _lie_rows() -> list[tuple]:
    rows = []
    lie = np.array([40.0, -40.0])
    for f in (0, 1):
        cfg = SwarmConfig.from_mapping({"algorithm": "dgd", "num_robots": 8, "topology": "complete", "seed": 7,
                                        "step": 0.05, "step_decay": 0.6, "tolerance": 0.0, "max_iterations": 20000,
                                        "resilient_f": f})
        agents = make_swarm(cfg)
        liar = agents[7]
        liar._outgoing = lambda liar=liar: [liar._message(BROADCAST, "state", primal=lie)]
        res = simulate(agents, max_rounds=20000)
        honest = list(range(7))
        problem = make_problem(cfg)
        mins = np.array([Problem((problem.objectives[i],)).centralized_optimum() for i in honest])
        est = np.array([res.estimates[i] for i in honest])
        inside = bool(np.all(est >= mins.min(axis=0) - 1e-3) and np.all(est <= mins.max(axis=0) + 1e-3))
        err = float(np.max(np.linalg.norm(est - reference_solution(cfg, live=honest)[0], axis=1)))
        rows.append(("simulator", f"one lying robot ({'W-MSR F=1' if f else 'plain mixing'}; honest range "
                                  f"{'kept' if inside else 'left'})", "dgd, complete graph", "-", None, err,
                     _refused(agents)))
    return rows


def dds_rows(domain_id: int) -> list[tuple]:
    return [_dds_run(domain_id, "kill", []), _dds_run(domain_id, "kill and restart", ["--restart"])]


def _dds_run(domain_id: int, fault: str, extra: list[str]) -> tuple:
    """The default swarm through the runner, one process per robot; robot 5 SIGKILLed at iteration 30."""
    cmd = [sys.executable, "-m", "distopt_ros.ros.runner", "--mode", "multi", "--domain-id", str(domain_id),
           "--timeout", "120", "-p", "neighbor_timeout:=1.5", "-p", "status_period:=0.25",
           "-p", "round_period:=0.05", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        lines.extend((time.monotonic(), ln) for ln in proc.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    killed_at, kill_iteration = None, 0
    while proc.poll() is None:
        its = [int(m.group(2)) for _, ln in list(lines) if (m := re.search(r"iteration\s+(\d+)-(\d+)", ln))]
        if killed_at is None and its and its[-1] >= 30:
            os.kill(_child(proc.pid, "robot_5"), signal.SIGKILL)
            killed_at, kill_iteration = time.monotonic(), its[-1]
        time.sleep(0.05)
    reader.join(timeout=5)
    out = "".join(ln for _, ln in lines)
    gone = [t for t, ln in lines if "gone [5]" in ln]
    detect = f"{gone[0] - killed_at:.2f} s" if gone and killed_at else "-"
    error = re.search(r"max error to optimum : (\S+)", out)
    iterations = re.search(r"iterations           : (\d+)", out)
    refused = re.search(r"rejected messages    : (\d+)", out)
    return ("ROS 2, one process per robot", fault, "radmm", detect,
            int(iterations.group(1)) - kill_iteration if iterations else None,
            float(error.group(1)) if error else float("nan"), int(refused.group(1)) if refused else -1)


def _child(parent: int, name: str) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == parent and f"__ns:=/{name}".encode() in cmd:
                return int(entry)
    raise RuntimeError(f"no process for {name}")


COLUMNS = ("where", "fault", "algorithm", "time to detect", "rounds to re-converge", "final error",
           "messages refused")
KEY_COLUMNS = ("where", "fault", "algorithm")
LOSSLESS_COLUMNS = COLUMNS[3:]
"""The simulator rows are a function of the code alone: test/test_results_drift.py recomputes them (the DDS rows
depend on the machine's timing and are not)."""


def table_rows(rows: list[tuple]) -> list[dict[str, str]]:
    """The table's cells of :func:`sim_rows` / :func:`dds_rows` results, by column."""
    return [dict(zip(COLUMNS, (where, fault, algorithm, detect, "-" if rounds is None else str(rounds), f"{error:.1e}",
                               str(refused)), strict=True))
            for where, fault, algorithm, detect, rounds, error, refused in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--no-ros", action="store_true", help="simulated rows only")
    ap.add_argument("--domain-id", type=int, default=87)
    add_out_arguments(ap, "the results table (make results: benchmarks/results/faults.md)")
    ap.add_argument("--readme", type=Path, help="also put the table into this README, between its markers")
    args = ap.parse_args(argv)
    path = out_path(ap, args)
    rows = sim_rows() + ([] if args.no_ros else dds_rows(args.domain_id))
    lines = [
        "# Faults: detection, re-convergence, final error, refused messages",
        "",
        "Default swarm (8 robots, ring, 2-D target fusion, seed 7; DIGing with step 0.02). Re-convergence: "
        f"rounds from the fault's last event until every running robot stays within {ACCURACY:g} of the "
        "centralized optimum of the robots then running (DDS rows: rounds from the kill to the end of the run). "
        "The 10 s partition over DDS is checked by `test/test_multihost.py` (network namespaces). "
        "Reproduce: `python benchmarks/bench_faults.py`.",
        "",
        "| where | fault | algorithm | time to detect | rounds to re-converge | final error | messages refused |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r.values()) + " |" for r in table_rows(rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    write_out(path, text)
    if args.readme is not None:
        update_readme(args.readme, text)
    return 0


README_BEGIN = "<!-- faults table: generated by `python benchmarks/bench_faults.py --readme README.md` -->"
README_END = "<!-- end of faults table -->"


def readme_table(text: str) -> str:
    """The table's rows (from its header on) as the README shows them."""
    return text[text.index("| where |"):].rstrip("\n")


def update_readme(readme: Path, text: str) -> None:
    """Replace the README's faults table (between the markers) by the one in ``text``."""
    from tables import replace_between

    replace_between(readme, README_BEGIN, README_END, readme_table(text))


if __name__ == "__main__":
    sys.exit(main())
