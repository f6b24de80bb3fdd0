"""Embedded swarm runner: the launch configuration without launch_ros.

``distopt-swarm --config config/consensus.yaml`` reads the same parameter YAML that the
launch files pass to the nodes, starts the same node classes as real ROS 2 nodes (all in
one process on one executor, or one process per robot), follows their status topics,
prints a progress line every few rounds and a final summary against the centralized
optimum. DDS discovery is pinned to localhost unless ``ROS_AUTOMATIC_DISCOVERY_RANGE``
is already set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import yaml

import distopt_ros.ros  # noqa: F401  (pins discovery to localhost before rclpy starts)
from distopt_ros.config import default_config, load_params, parse_override
from distopt_ros.core.registry import get_spec
from distopt_ros.core.scenario import SwarmConfig, reference_solution

DEFAULT_CONFIG = default_config()


@dataclass
class SwarmReport:
    """Final state of a run, as seen on the status topics."""

    config: SwarmConfig
    statuses: dict[int, dict[str, Any]]
    reference: dict[int, np.ndarray]
    """What each robot must converge to (the common optimum, or its own share for coupled problems)."""
    wall_time: float
    finished: bool
    nodes: list[Any] = field(default_factory=list)

    @property
    def iterations(self) -> int:
        return max((s["iteration"] for s in self.statuses.values()), default=0)

    @property
    def max_error(self) -> float:
        return max((float(np.linalg.norm(s["estimate"] - self.reference[rid])) for rid, s in self.statuses.items()),
                   default=float("inf"))

    @property
    def optimum(self) -> np.ndarray:
        """The common optimum (consensus problems), or robot 0's share."""
        return self.reference[0]

    @property
    def consensus_residual(self) -> float:
        """Largest distance of a robot's estimate to the swarm mean."""
        if not self.statuses or len({s["estimate"].size for s in self.statuses.values()}) != 1:
            return float("nan")
        est = np.array([s["estimate"] for s in self.statuses.values()])
        return float(np.max(np.linalg.norm(est - est.mean(axis=0), axis=1)))

    @property
    def converged(self) -> bool:
        return self.finished and all(s["converged"] for s in self.statuses.values())

    def totals(self, key: str) -> int:
        return int(sum(s[key] for s in self.statuses.values()))

    def summary(self) -> str:
        rej: dict[str, int] = {}
        for s in self.statuses.values():
            for k, v in s["rejections"].items():
                rej[k] = rej.get(k, 0) + v
        cfg = self.config
        state = "CONVERGED" if self.converged else ("STOPPED" if self.finished else "TIMED OUT")
        common = all(np.array_equal(v, self.reference[0]) for v in self.reference.values())
        optimum = f"centralized optimum {np.array2string(self.optimum, precision=6)}" if common else \
            "each robot against its share of the centralized solution"
        lines = [
            f"distopt_ros swarm summary: {cfg.algorithm} on {cfg.num_robots} robots "
            f"({'star + coordinator' if cfg.has_coordinator else cfg.topology}), problem {cfg.problem}, "
            f"seed {cfg.seed}",
            f"  status               : {state}",
            f"  iterations           : {self.iterations}",
            f"  max error to optimum : {self.max_error:.3e}   ({optimum})",
            f"  consensus residual   : {self.consensus_residual:.3e}",
            f"  messages sent/recv   : {self.totals('messages_sent')} / {self.totals('messages_received')}",
            f"  rejected messages    : {sum(rej.values())} {rej if rej else ''}".rstrip(),
        ]
        if self.totals("messages_dropped") or self.totals("messages_retransmitted"):
            lines.append(f"  radio                : {self.totals('messages_dropped')} lost, "
                         f"{self.totals('messages_retransmitted')} resent on request "
                         f"({self.totals('messages_redundant')} copies already held), "
                         f"{self.totals('rounds_stalled')} rounds waited past round_timeout")
        lines.append(f"  wall time            : {self.wall_time:.2f} s")
        return "\n".join(lines)


def build_parameters(config_file: str | Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Shared node parameters: the YAML ``/**`` section updated by command-line overrides."""
    params = load_params(config_file or DEFAULT_CONFIG)
    params.update(overrides)
    return params


def run_swarm(params: dict[str, Any], mode: str = "single", timeout: float = 120.0,
              progress: bool = True, record: bool = False, domain_id: int | None = None,
              out: TextIO = sys.stdout,
              on_tick: Callable[[list[Any], dict[int, dict[str, Any]]], None] | None = None,
              executor: str = "events") -> SwarmReport:
    """Start the swarm described by ``params`` and follow it to the end (or ``timeout``).

    ``on_tick(nodes, statuses)`` is called after every executor turn (single-process mode):
    a hook for scripted interventions such as live re-tuning. ``executor`` is the rclpy
    executor of the process (:data:`~distopt_ros.ros.entry.EXECUTORS`).
    """
    cfg = SwarmConfig.from_mapping(params)  # refuses bad parameters before any node starts
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from distopt_ros.msg import RobotStatus
    from distopt_ros.ros.conversions import status_to_dict
    from distopt_ros.ros.coordinator_node import CoordinatorNode
    from distopt_ros.ros.entry import check_executor, make_executor
    from distopt_ros.ros.qos import status_qos
    from distopt_ros.ros.robot_node import RobotNode

    check_executor(executor)  # before any DDS participant exists
    reference = reference_solution(cfg)
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    spinner = make_executor(executor, context)
    statuses: dict[int, dict[str, Any]] = {}
    nodes: list[Any] = []
    procs: list[subprocess.Popen] = []
    workdir = tempfile.TemporaryDirectory(prefix="distopt_swarm_")
    started = time.perf_counter()
    try:
        monitor = rclpy.create_node("swarm_monitor", context=context)
        spinner.add_node(monitor)
        for i in range(cfg.num_robots):
            monitor.create_subscription(
                RobotStatus, f"/robot_{i}/status",
                lambda m: statuses.__setitem__(int(m.robot_id), status_to_dict(m)), status_qos())
        ros_params = [Parameter(k, value=v) for k, v in params.items()]
        if mode == "single":
            if cfg.has_coordinator:
                nodes.append(CoordinatorNode(namespace="coordinator", context=context, record=record,
                                             parameter_overrides=ros_params))
            for i in range(cfg.num_robots):
                nodes.append(RobotNode(namespace=f"robot_{i}", context=context, record=record,
                                       parameter_overrides=[*ros_params, Parameter("robot_id", value=i)]))
            for n in nodes:
                spinner.add_node(n)
        elif mode == "multi":
            procs = _spawn_processes(cfg, params, domain_id, workdir.name)
        else:
            raise ValueError(f"mode must be single or multi, got {mode!r}")
        last_print = 0.0
        stopped: set[int] = set()
        for n in nodes:  # count stops as they happen: checking every node after every callback is O(N^2) a round
            n.on_done = lambda node: stopped.add(id(node))
        while time.perf_counter() - started < timeout:
            spinner.spin_once(timeout_sec=0.05)
            if on_tick is not None:
                on_tick(nodes, statuses)
            # In one process, also wait for the coordinator's last round (its node stops last).
            done = len(stopped) == len(nodes) and len(statuses) == cfg.num_robots and all(
                s["done"] for s in statuses.values())
            now = time.perf_counter() - started
            if progress and (done or now - last_print >= 0.5) and statuses:
                last_print = now
                its = [s["iteration"] for s in statuses.values()]
                res = max((s["primal_residual"] for s in statuses.values()), default=float("nan"))
                n_done = sum(s["done"] for s in statuses.values())
                if get_spec(cfg.algorithm).cap_unit == "rounds":
                    frac, cap = min(1.0, max(its) / cfg.max_iterations), f"of {cfg.max_iterations}"
                else:  # the cap counts outer iterations of unknown length: show robots done
                    frac, cap = n_done / cfg.num_robots, f"(cap {cfg.max_iterations} outer)"
                bar = "#" * int(20 * frac)
                print(f"[{bar:<20}] iteration {min(its):>6}-{max(its):<6} {cap}  "
                      f"residual {res:.2e}  robots done {n_done}/{cfg.num_robots}",
                      file=out, flush=True)
            if done:
                break
            if procs and any(p.poll() not in (None, 0) for p in procs):
                raise RuntimeError("a robot process exited with an error; see its output above")
        finished = len(statuses) == cfg.num_robots and all(s["done"] for s in statuses.values())
        return SwarmReport(cfg, dict(statuses), reference, time.perf_counter() - started, finished, nodes)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        spinner.shutdown()
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=context)
        workdir.cleanup()


def _spawn_processes(cfg: SwarmConfig, params: dict[str, Any], domain_id: int | None,
                     workdir: str) -> list[subprocess.Popen]:
    """One OS process per robot (and coordinator), each a plain ``robot_node``/``coordinator_node``."""
    path = os.path.join(workdir, "params.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({"/**": {"ros__parameters": params}}, fh)
    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    procs = []

    def spawn(module: str, ns: str, extra: list[str]) -> None:
        cmd = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:=/{ns}",
               "--params-file", path, *extra]
        procs.append(subprocess.Popen(cmd, env=env))

    if cfg.has_coordinator:
        spawn("distopt_ros.ros.coordinator_node", "coordinator", [])
    for i in range(cfg.num_robots):
        spawn("distopt_ros.ros.robot_node", f"robot_{i}", ["-p", f"robot_id:={i}"])
    return procs


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``distopt-swarm``."""
    ap = argparse.ArgumentParser(prog="distopt-swarm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="parameter YAML (ros__parameters layout)")
    ap.add_argument("--num-robots", type=int, help="override num_robots")
    ap.add_argument("--topology", help="override topology")
    ap.add_argument("--algorithm", help="override algorithm")
    ap.add_argument("--seed", type=int, help="override seed")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="override any parameter (repeatable)")
    ap.add_argument("--mode", choices=("single", "multi"), default="single",
                    help="single: one process, one executor; multi: one process per robot")
    ap.add_argument("--executor", choices=("events", "single"), default="events",
                    help="rclpy executor of the single-process swarm: events (EventsExecutor, cost per event) "
                         "or single (SingleThreadedExecutor, cost per entity and wait)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    ap.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for this swarm")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    try:
        overrides = dict(parse_override(p) for p in args.param)
        for key, val in (("num_robots", args.num_robots), ("topology", args.topology),
                         ("algorithm", args.algorithm), ("seed", args.seed)):
            if val is not None:
                overrides[key] = val
        params = build_parameters(args.config, overrides)
        SwarmConfig.from_mapping(params)
    except ValueError as exc:
        print(f"distopt-swarm: error: {exc}", file=sys.stderr)
        return 2
    print(f"distopt-swarm: {params.get('algorithm', 'radmm')} swarm, config {args.config}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}", flush=True)
    report = run_swarm(params, mode=args.mode, timeout=args.timeout, progress=not args.quiet,
                       domain_id=args.domain_id, executor=args.executor)
    print(report.summary(), flush=True)
    return 0 if report.finished else 1


if __name__ == "__main__":
    sys.exit(main())

