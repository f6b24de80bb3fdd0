"""The swarm monitor: follows every robot's status topic, shows progress, reports the outcome.

``swarm_monitor`` is what a one-shot launch ends with: it declares the scenario parameters
(the same YAML as the robots), knows the centralized answer from them where the scenario
defines one, prints a progress line every ``progress_period`` seconds and, once every robot
has stopped, the swarm summary, then exits: 0 if the swarm converged, 3 if it stopped
without converging (the launch file shuts the launch down when the monitor exits). The
embedded runner reads its statuses from the same node class.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
from rclpy.node import Node

from distopt_ros.core.registry import get_spec
from distopt_ros.core.scenario import SwarmConfig, reference_solution
from distopt_ros.core.schema import SCHEMA
from distopt_ros.core.schema import group as schema_group
from distopt_ros.msg import RobotStatus
from distopt_ros.ros.conversions import status_to_dict
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.exit_codes import EXIT_NOT_CONVERGED, EXIT_OK
from distopt_ros.ros.params import declare, declare_node
from distopt_ros.ros.qos import status_qos


@dataclass
class SwarmReport:
    """Final state of a run, as seen on the status topics."""

    config: SwarmConfig
    statuses: dict[int, dict[str, Any]]
    reference: dict[int, np.ndarray] | None
    """What each robot must converge to (the common optimum, or its own share for coupled problems)."""
    wall_time: float
    finished: bool
    nodes: list[Any] = field(default_factory=list)
    interrupted: str = ""
    """The signal that ended the run early (``SIGINT``, ``SIGTERM``), or empty."""
    departed: tuple[int, ...] = ()
    """Robots that went silent without stopping (killed, cut off): the answer is the remaining robots'."""

    @property
    def live(self) -> dict[int, dict[str, Any]]:
        """Statuses of the robots still in the swarm."""
        return {i: s for i, s in self.statuses.items() if i not in self.departed}

    @property
    def iterations(self) -> int:
        return max((s["iteration"] for s in self.statuses.values()), default=0)

    @property
    def max_error(self) -> float:
        """Largest distance of a live robot's estimate to what it must converge to."""
        if self.reference is None:
            return float("nan")
        return max((float(np.linalg.norm(s["estimate"] - self.reference[rid])) for rid, s in self.live.items()),
                   default=float("inf"))

    @property
    def optimum(self) -> np.ndarray:
        """The common optimum (consensus problems), or robot 0's share."""
        return self.reference[0]

    @property
    def consensus_residual(self) -> float:
        """Largest distance of a live robot's estimate to the live robots' mean."""
        live = self.live
        if not live or len({s["estimate"].size for s in live.values()}) != 1:
            return float("nan")
        est = np.array([s["estimate"] for s in live.values()])
        return float(np.max(np.linalg.norm(est - est.mean(axis=0), axis=1)))

    @property
    def converged(self) -> bool:
        return self.finished and bool(self.live) and all(s["converged"] for s in self.live.values())

    @property
    def stop_reasons(self) -> dict[str, list[int]]:
        """Live robots by the reason they stopped (converged, iteration_cap, peer_lost, ...)."""
        out: dict[str, list[int]] = {}
        for i, st in sorted(self.live.items()):
            out.setdefault(st.get("stop_reason") or "running", []).append(i)
        return out

    def totals(self, key: str) -> int:
        return int(sum(s[key] for s in self.statuses.values()))

    def summary(self) -> str:
        rej: dict[str, int] = {}
        for s in self.statuses.values():
            for k, v in s["rejections"].items():
                rej[k] = rej.get(k, 0) + v
        cfg = self.config
        state = "CONVERGED" if self.converged else ("STOPPED WITHOUT CONVERGING" if self.finished else (
            f"INTERRUPTED by {self.interrupted} (what was done so far)" if self.interrupted else "TIMED OUT"))
        if self.reference is None:
            common, optimum = False, "unknown: the robots hold private objectives; give the monitor optimum"
        else:
            common = all(np.array_equal(v, self.reference[0]) for v in self.reference.values())
            optimum = f"centralized optimum {np.array2string(self.optimum, precision=6)}" if common else \
                "each robot against its share of the centralized solution"
        lines = [
            f"distopt_ros swarm summary: {cfg.algorithm} on {cfg.num_robots} robots "
            f"({'star + coordinator' if cfg.has_coordinator else cfg.topology}), problem {cfg.problem}, "
            f"seed {cfg.seed}",
            f"  status               : {state}",
            f"  robots reporting     : {len(self.statuses)} of {cfg.num_robots}"
            + (f"; gone: {list(self.departed)} (silent without stopping: the answer is the other robots')"
               if self.departed else ""),
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
        reasons = self.stop_reasons
        if set(reasons) - {"converged"}:
            lines.append("  stop reasons         : " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
        lines.append(f"  wall time            : {self.wall_time:.2f} s")
        return "\n".join(lines)


def progress_line(cfg: SwarmConfig, statuses: dict[int, dict[str, Any]], gone: tuple[int, ...] = ()) -> str:
    """One progress line: iterations, residual, robots done (a bar for round-counted caps); ``gone`` left out."""
    live = [s for i, s in statuses.items() if i not in gone] or list(statuses.values())
    its = [s["iteration"] for s in live]
    res = max((s["primal_residual"] for s in live), default=float("nan"))
    n_done = sum(s["done"] for s in live)
    if get_spec(cfg.algorithm).cap_unit == "rounds":
        frac, cap = min(1.0, max(its) / cfg.max_iterations), f"of {cfg.max_iterations}"
    else:  # the cap counts outer iterations of unknown length: show robots done
        frac, cap = n_done / cfg.num_robots, f"(cap {cfg.max_iterations} outer)"
    bar = "#" * int(20 * frac)
    return (f"[{bar:<20}] iteration {min(its):>6}-{max(its):<6} {cap}  "
            f"residual {res:.2e}  robots done {n_done}/{cfg.num_robots}" + (f"  gone {list(gone)}" if gone else ""))


class MonitorNode(Node):
    """Subscribes to ``<parent>/robot_<i>/status`` of every robot; reports progress and the outcome."""

    def __init__(self, node_name: str = "swarm_monitor", out: TextIO = sys.stdout, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        values = declare_node(self, "swarm_monitor")
        self.config = SwarmConfig.from_mapping(declare(self, schema_group("scenario")))
        self.progress_period = float(values["progress_period"])
        self.monitor_timeout = float(values["monitor_timeout"])
        self.optimum_given = list(values["optimum"])
        self.neighbor_timeout = float(declare(self, [SCHEMA["neighbor_timeout"]])["neighbor_timeout"])
        self.out = out
        self.statuses: dict[int, dict[str, Any]] = {}
        self._heard: dict[int, float] = {}
        self._coordinator_gone: set[int] = set()
        """Robots the coordinator (star algorithms) has declared gone: in a star only it watches the robots, and a
        robot killed before its first status reached the monitor is known gone from this alone."""
        self.reference = reference_solution(self.config)
        self._references: dict[tuple[int, ...], dict[int, np.ndarray]] = {}
        self.started = time.perf_counter()
        self.exit_code: int | None = None
        self.report: SwarmReport | None = None
        parent = self.get_namespace().rstrip("/")
        for i in range(self.config.num_robots):
            self.create_subscription(RobotStatus, f"{parent}/robot_{i}/status",
                                     lambda m, i=i: self._on_status(m, i), status_qos())
        if self.config.has_coordinator:
            self.create_subscription(RobotStatus, f"{parent}/coordinator/status", self._on_coordinator_status,
                                     status_qos())
        if self.progress_period > 0:
            self.create_timer(self.progress_period, self._progress)
        self.create_timer(0.05, self._check)

    def _on_status(self, msg: RobotStatus, topic_robot: int) -> None:
        status = status_to_dict(msg)
        rid = status["robot_id"]
        if rid == topic_robot:  # a status claiming another robot's id on this topic is not that robot's
            old = self.statuses.get(rid)
            if old is not None and status["incarnation"] < old["incarnation"]:
                return  # the last status of a replaced process
            self.statuses[rid] = status
            self._heard[rid] = time.monotonic()

    def _on_coordinator_status(self, msg: RobotStatus) -> None:
        self._coordinator_gone = {int(j) for j in msg.peers_gone}

    @property
    def departed(self) -> tuple[int, ...]:
        """Robots gone without having stopped: silent for neighbor_timeout (the monitor's own liveness verdict),
        or never heard here and declared gone by the robots that are (one killed before it was discovered)."""
        if self.neighbor_timeout <= 0:
            return ()
        now = time.monotonic()
        silent = {i for i, s in self.statuses.items() if not s["done"] and now - self._heard[i] > self.neighbor_timeout}
        reported = {j for i, s in self.statuses.items() if i not in silent for j in s["peers_gone"]}
        reported |= self._coordinator_gone
        unheard = {j for j in reported if j not in self.statuses and 0 <= j < self.config.num_robots}
        return tuple(sorted(silent | unheard))

    @property
    def finished(self) -> bool:
        """Every robot has reported that it stopped, or is gone (see :attr:`departed`) while the others stopped."""
        gone = self.departed
        live = [s for i, s in self.statuses.items() if i not in gone]
        return len(set(self.statuses) | set(gone)) == self.config.num_robots and bool(live) and all(
            s["done"] for s in live)

    def _reference(self, departed: tuple[int, ...]) -> dict[int, np.ndarray] | None:
        """The centralized answer of the robots still in the swarm."""
        if not departed:
            return self.reference
        if departed not in self._references:
            live = [i for i in range(self.config.num_robots) if i not in departed]
            self._references[departed] = reference_solution(self.config, live=live)
        return self._references[departed]

    def make_report(self, finished: bool | None = None, interrupted: str = "", nodes: list[Any] | None = None) \
            -> SwarmReport:
        departed = self.departed
        reference = self._reference(departed)
        if any(s.get("objective") for s in self.statuses.values()):  # private data: the scenario's answer is not theirs
            reference = ({i: np.asarray(self.optimum_given) for i in range(self.config.num_robots)}
                         if self.optimum_given and not departed else None)
        return SwarmReport(self.config, dict(self.statuses), reference, time.perf_counter() - self.started,
                           self.finished if finished is None else finished, list(nodes or []), interrupted,
                           departed)

    def on_signal(self, name: str) -> None:
        """Stopped by SIGINT/SIGTERM (the launch was interrupted): the summary of what was done so far."""
        if self.exit_code is None:
            print(self.make_report(interrupted=name).summary(), file=self.out, flush=True)

    def _progress(self) -> None:
        if self.statuses and self.exit_code is None:
            print(progress_line(self.config, self.statuses, self.departed), file=self.out, flush=True)

    def _check(self) -> None:
        if self.exit_code is not None:
            return
        timed_out = self.monitor_timeout > 0 and time.perf_counter() - self.started > self.monitor_timeout
        if self.finished or timed_out:
            self.report = self.make_report()
            print(self.report.summary(), file=self.out, flush=True)
            self.exit_code = EXIT_OK if self.report.converged else EXIT_NOT_CONVERGED


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros swarm_monitor --ros-args --params-file swarm.yaml``."""
    return run_node(MonitorNode, "swarm_monitor", args)


if __name__ == "__main__":
    sys.exit(main())
