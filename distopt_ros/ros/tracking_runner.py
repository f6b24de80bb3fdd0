"""Embedded tracking run: moving robots follow a moving target, without launch_ros.

Starts, in one process on one executor, the same nodes ``launch/tracking.launch.py`` starts:
the target node, one kinematic simulator and one tracking robot node per robot, and the
visualization node; runs them for ``duration`` seconds of wall-clock time; samples the
truth (target path, robot poses, estimates) every ``log_period``; and reports the tracking
error after the transient against the bound the gains imply
(:func:`distopt_ros.core.tracking.proportional_tracking_bound`). Optionally writes PNG plots
and an MCAP recording of every topic (rosbag2 layout, for ``ros2 bag play`` or Foxglove).

    python -m distopt_ros.ros.tracking_runner --config config/tracking.yaml --duration 30 --out runs/tracking
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distopt_ros.config import default_config, load_params, parse_override, resolve_config
from distopt_ros.core.scenario import SwarmConfig
from distopt_ros.core.schema import check_values
from distopt_ros.core.tracking import TrackingLog, formation_offsets, initial_positions, proportional_tracking_bound
from distopt_ros.outputs import check_out

DEFAULTS: dict[str, Any] = {
    "gain": 1.0, "max_speed": 1.0, "formation_radius": 1.0, "drive": "holonomic", "model": "single_integrator",
    "start_radius": 6.0,
}


@dataclass
class TrackingReport:
    """What a tracking run measured; ``log`` holds the sampled time series."""

    config: SwarmConfig
    params: dict[str, Any]
    log: TrackingLog
    settle: float
    target_speed: float
    wall_time: float
    plots: list[Path] = field(default_factory=list)
    recording: Path | None = None
    recorded_counts: dict[str, int] = field(default_factory=dict)
    optimal: np.ndarray | None = None
    """Centroid task: every robot's instantaneous optimal position per sample (N, T, 2)."""
    interrupted: str = ""
    """The signal (SIGINT, SIGTERM) that ended the run before ``duration``, or empty."""
    rounds: int = 0
    round_log: list[tuple[float, int]] = field(default_factory=list)
    """(time, rounds completed) at every log sample: how evenly the rounds came."""
    """Rounds the algorithm completed (the coordinator's, else robot 0's)."""
    decisions: list[list[tuple[float, np.ndarray]]] = field(default_factory=list)
    """Per robot, (target time, decision) at every control instant."""
    target: Any = None
    """The target's path (``position(t)`` in the target node's time)."""
    messages_lost: int = 0
    """Payloads the modelled radio dropped, over all robots."""

    @property
    def centroid_task(self) -> bool:
        return self.config.problem == "centroid"

    def _arrays(self) -> dict[str, np.ndarray]:
        return self.log.as_arrays()

    def errors_after(self, settle: float | None = None) -> dict[str, float]:
        """Max errors after the transient.

        Estimation task: ``estimate`` (estimate vs target), ``formation`` (robot vs target +
        its offset), ``centroid`` (mean robot position vs target). Centroid task: ``allocation``
        (each robot's decision vs the instantaneous optimum), ``formation`` (robot vs that
        optimum) and ``centroid`` (mean decision vs target, the constraint violation).
        """
        a = self._arrays()
        keep = a["t"] >= (self.settle if settle is None else settle)
        if not np.any(keep):
            raise ValueError("no samples after the transient: run longer or lower settle")
        if self.centroid_task:
            opt = self.optimal[:, keep]  # type: ignore[index]
            alloc = np.linalg.norm(a["estimates"][:, keep] - opt, axis=2)
            form = np.linalg.norm(a["robots"][:, keep] - opt, axis=2)
            cen = np.linalg.norm(a["estimates"][:, keep].mean(axis=0) - a["target"][keep], axis=1)
            return {"allocation": float(alloc.max()), "formation": float(form.max()), "centroid": float(cen.max())}
        offsets = formation_offsets(self.config.num_robots, float(self.params["formation_radius"]))
        est = np.linalg.norm(a["estimates"][:, keep] - a["target"][None, keep], axis=2)
        goals = a["target"][None, keep] + offsets[:, None, :]
        form = np.linalg.norm(a["robots"][:, keep] - goals, axis=2)
        cen = np.linalg.norm(a["centroid"][keep] - a["target"][keep], axis=1)
        return {"estimate": float(est.max()), "formation": float(form.max()), "centroid": float(cen.max())}

    def decision_error(self) -> float:
        """Largest error of the decisions the controllers used, from ``5 / gain`` before the transient's end.

        The decision is the estimate in the estimation task and the robot's own allocation in
        the centroid task, compared at each control instant with what it should be then (the
        target, or the instantaneous optimum). The proportional law forgets older errors like
        ``exp(-gain t)``, so five time constants before the window are enough.
        """
        start = self.settle - 5.0 / float(self.params["gain"])
        worst = 0.0
        for i, decisions in enumerate(self.decisions):
            for t, value in decisions:
                if t < start:
                    continue
                truth = self._truth(i, t)
                worst = max(worst, float(np.linalg.norm(value - truth)))
        return worst

    def _truth(self, robot: int, t: float) -> np.ndarray:
        from distopt_ros.ros.tracking_runner import _centroid_optimum

        r = self.target.position(t)
        return _centroid_optimum(self.config, r)[robot] if self.centroid_task else r

    def control_period(self) -> float:
        """The longest measured gap between control instants plus one odometry period.

        A loaded machine stretches the nominal ``control_period``, and the pose a command is
        computed from is up to one odometry period old: both hold a command longer.
        """
        start = self.settle - 5.0 / float(self.params["gain"])
        gaps = [b[0] - a[0] for decisions in self.decisions for a, b in itertools.pairwise(decisions) if a[0] >= start]
        nominal = float(self.params.get("control_period", 0.1))
        return max(gaps, default=nominal) + 1.0 / float(self.params.get("integration_rate", 50.0))

    def bound(self) -> float:
        """Ultimate bound on the formation error (sampled proportional law, see the core docs).

        ``V_goal / k + e + (2 V_goal + k e) T`` with ``e`` the :meth:`decision_error`, ``T`` the
        measured :meth:`control_period` and ``V_goal`` the goal speed (the target's; scaled for
        the centroid task).
        """
        return proportional_tracking_bound(self.target_speed * self._goal_speed_factor(), float(self.params["gain"]),
                                           self.decision_error(), self.control_period())

    def _goal_speed_factor(self) -> float:
        """How fast a robot's goal moves relative to the target: 1 for rendezvous; N/(a_i S) for the centroid."""
        if not self.centroid_task:
            return 1.0
        from distopt_ros.core.scenario import centroid_problem

        prob = centroid_problem(self.config.num_robots, self.config.station_radius, self.config.seed)
        inv = np.array([1.0 / c.a[0] for c in prob.costs])
        return float(self.config.num_robots * inv.max() / inv.sum())

    def longest_round(self) -> float:
        """The longest interval between rounds after the transient, from the samples of ``round_log``.

        Measured between samples at which the round count changed, divided by the rounds in
        between: a sample window without a round merges into the next (resolution: the log
        period). Falls back to the mean (run time / rounds) without a log.
        """
        mean = float(self._arrays()["t"][-1]) / max(self.rounds, 1)
        marks = [(t, k) for t, k in self.round_log if t >= self.settle]
        changes = [marks[0]] if marks else []
        for t, k in marks[1:]:
            if k > changes[-1][1]:
                changes.append((t, k))
        gaps = [(t1 - t0) / (k1 - k0) for (t0, k0), (t1, k1) in itertools.pairwise(changes)]
        return max([mean, *gaps])

    def dual_bound(self) -> float | None:
        """Centroid task with the tracking dual ascent: a bound on the centroid error in wall-clock time.

        The ISS bound of the tracking dual ascent (docs/algorithms.md, "Tracking dual ascent and
        its ISS bound") bounds the error of round ``k`` against the target sample ``b_k`` that
        round used, with the target moving ``V dt`` per round (``dt`` measured: run time /
        rounds). At time ``t`` the decisions come from the last round and its target sample
        is at most one publish period plus one round old, which adds ``V`` times that age.
        ``dt`` is the longest round after the transient (:meth:`longest_round`): the bound's
        drift term is the largest target motion in one round, and on a loaded machine rounds
        come unevenly, so the mean interval would understate it.
        """
        if not self.centroid_task or self.config.algorithm != "price" or self.config.price_mode != "dual":
            return None
        from distopt_ros.core.scenario import centroid_problem
        from distopt_ros.core.tracking import centroid_tracking_bound

        prob = centroid_problem(self.config.num_robots, self.config.station_radius, self.config.seed)
        dt = self.longest_round()
        age = 1.0 / float(self.params.get("publish_rate", 20.0)) + dt
        iss = centroid_tracking_bound(self.config.step, [c.a[0] for c in prob.costs], self.config.num_robots,
                                      self.target_speed, dt)
        return iss + self.target_speed * age

    def summary(self) -> str:
        err = self.errors_after()
        cfg = self.config
        mode = f"{cfg.algorithm} ({cfg.price_mode})" if cfg.algorithm == "price" else cfg.algorithm
        lines = [
            f"distopt_ros tracking summary: {'centroid' if self.centroid_task else 'estimation'} task, {mode} on "
            f"{cfg.num_robots} robots ({'star' if cfg.has_coordinator else cfg.topology}), target "
            f"{self.params.get('target_kind', 'circle')} at {self.target_speed:.2f} m/s, seed {cfg.seed}",
            f"  duration             : {self.log.as_arrays()['t'][-1]:.1f} s (transient {self.settle:.1f} s)"
            + (f", interrupted by {self.interrupted}: what was done so far" if self.interrupted else ""),
        ]
        if self.centroid_task:
            dual = self.dual_bound()
            lines += [
                f"  allocation error     : {err['allocation']:.3f} m (decision vs the instantaneous optimum)",
                f"  centroid error       : {err['centroid']:.3f} m" + (
                    f"   bound (dual-ascent ISS + sample age) = {dual:.3f} m" if dual is not None else ""),
                f"  rounds               : {self.rounds} ({self.rounds / float(self._arrays()['t'][-1]):.1f} per s)",
            ]
        else:
            lines += [f"  estimate error       : {err['estimate']:.3f} m (max over robots after the transient)",
                      f"  centroid error       : {err['centroid']:.3f} m"]
        lines += [f"  formation error      : {err['formation']:.3f} m   bound V/k + e + (2V + ke)T = "
                  f"{self.bound():.3f} m (e = {self.decision_error():.3f} m at control instants, "
                  f"T = {self.control_period():.3f} s measured)",
                  f"  wall time            : {self.wall_time:.1f} s"]
        if self.plots:
            lines.append(f"  plots                : {', '.join(str(p) for p in self.plots)}")
        if self.recording is not None:
            lines.append(f"  recording            : {self.recording} ({sum(self.recorded_counts.values())} messages)")
        return "\n".join(lines)


def run_tracking(params: dict[str, Any], duration: float = 30.0, settle: float | None = None,
                 log_period: float = 0.1, out_dir: str | Path | None = None, plots: bool = False,
                 record: bool = False, domain_id: int | None = None, progress: bool = False,
                 extra_nodes: Callable[[Any], list[Any]] | None = None) -> TrackingReport:
    """Run the tracking scenario in ``params`` for ``duration`` seconds; see the module docstring.

    ``extra_nodes(context)`` may return more nodes (listeners, monitors) to spin alongside.
    DDS discovery is pinned to this host unless ``ROS_AUTOMATIC_DISCOVERY_RANGE`` is set.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from distopt_ros.ros.kinematics_node import KinematicsNode
    from distopt_ros.ros.target_node import TargetNode
    from distopt_ros.ros.tracking_node import TrackingCoordinatorNode, TrackingRobotNode
    from distopt_ros.ros.visualization_node import VisualizationNode

    params = {**DEFAULTS, **params}
    cfg = SwarmConfig.from_mapping(params)
    if duration <= 0 or log_period <= 0:
        raise ValueError(f"duration and log_period must be > 0, got {duration} and {log_period}")
    settle = duration / 2 if settle is None else float(settle)
    if (record or plots) and out_dir is None:
        raise ValueError("out_dir is needed to write plots or a recording")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    starts = initial_positions(cfg.num_robots, float(params["start_radius"]), cfg.seed)
    context = Context()
    from distopt_ros.ros.entry import StopSignals

    stop = StopSignals().__enter__()  # SIGINT/SIGTERM end the loop; the report holds what was done so far
    rclpy.init(args=["distopt-tracking"], context=context, domain_id=domain_id,
               signal_handler_options=_no_signal_handlers())
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Any] = []
    recorder = None
    began = time.perf_counter()
    try:
        shared = [Parameter(k, value=v) for k, v in params.items()]
        target = TargetNode(namespace="target", context=context, parameter_overrides=shared)
        nodes.append(target)
        bodies, robots = [], []
        for i in range(cfg.num_robots):
            own = [*shared, Parameter("robot_id", value=i), Parameter("initial_x", value=float(starts[i, 0])),
                   Parameter("initial_y", value=float(starts[i, 1]))]
            bodies.append(KinematicsNode(namespace=f"robot_{i}", context=context, parameter_overrides=own))
            robots.append(TrackingRobotNode(namespace=f"robot_{i}", context=context, parameter_overrides=own))
        nodes += bodies + robots
        if cfg.has_coordinator:
            nodes.append(TrackingCoordinatorNode(namespace="coordinator", context=context,
                                                 parameter_overrides=shared))
        nodes.append(VisualizationNode(context=context, parameter_overrides=shared))
        if extra_nodes is not None:
            nodes += extra_nodes(context)
        for n in nodes:
            executor.add_node(n)
        if record:
            from distopt_ros.ros.recorder import McapRecorder

            rec_node = rclpy.create_node("recorder", context=context)
            nodes.append(rec_node)
            executor.add_node(rec_node)
            recorder = McapRecorder(rec_node, out / "recording")  # type: ignore[operator]
        counter = next((n for n in nodes if isinstance(n, TrackingCoordinatorNode)), robots[0])
        round_log: list[tuple[float, int]] = []
        log = TrackingLog()
        optimal: list[np.ndarray] = []
        next_log = 0.0
        t = 0.0
        while t < duration and stop.received is None:
            executor.spin_once(timeout_sec=0.01)
            t = target.elapsed()
            if t >= next_log:
                next_log += log_period
                pos = np.array([b.body.position for b in bodies], dtype=float)
                est = np.array([r.agent.estimate() for r in robots], dtype=float)
                log.append(t, target.target.position(t), pos, est, pos.mean(axis=0))
                round_log.append((t, int(counter.agent.iteration)))
                if cfg.problem == "centroid":
                    optimal.append(_centroid_optimum(cfg, target.target.position(t)))
                if progress and int(t / log_period) % int(max(1, 2.0 / log_period)) == 0:
                    if optimal:
                        what, err = "allocation", float(np.max(np.linalg.norm(est - optimal[-1], axis=1)))
                    else:
                        what, err = "estimate", float(np.max(np.linalg.norm(est - target.target.position(t), axis=1)))
                    print(f"t = {t:6.1f} s  {what} error {err:.3f} m", flush=True)
        interrupted = "" if stop.received is None else signal.Signals(stop.received).name
        if interrupted:
            settle = min(settle, t / 2)  # a short run: judge its second half
        report = TrackingReport(cfg, params, log, settle, target.target.max_speed, time.perf_counter() - began,
                                interrupted=interrupted)
        report.rounds = int(counter.agent.iteration)
        report.round_log = round_log
        report.target = target.target
        t0 = target.t0.nanoseconds
        report.decisions = [[((ns - t0) / 1e9, v) for ns, v in r.decisions] for r in robots]
        report.messages_lost = sum(r.messages_lost for r in robots)
        if optimal:
            report.optimal = np.stack(optimal, axis=1)
        if recorder is not None:
            recorder.close()
            report.recording = Path(recorder.path)
            report.recorded_counts = recorder.counts()
        if plots:
            from distopt_ros.sim.plots import plot_convergence, plot_tracking

            arrays = dict(log.as_arrays())
            if report.centroid_task:
                arrays["goals"] = report.optimal
            else:
                offsets = formation_offsets(cfg.num_robots, float(params["formation_radius"]))
                arrays["goals"] = arrays["target"][None, :, :] + offsets[:, None, :]
            report.plots = plot_tracking(arrays, out, title=f"{cfg.algorithm}, {cfg.num_robots} robots",
                                         bounds={"formation": report.bound()})
            truth = report.optimal if report.centroid_task else arrays["target"][None, :, :]
            per_robot = np.linalg.norm(arrays["estimates"] - truth, axis=2)
            report.plots.append(plot_convergence(
                per_robot, out / "convergence.png",  # type: ignore[operator]
                ylabel="|decision - optimum| [m]" if report.centroid_task else "|estimate - target| [m]",
                title=f"per robot, every {log_period:g} s"))
        return report
    finally:
        if recorder is not None:
            recorder.close()
        executor.shutdown(timeout_sec=0)
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=context)
        stop.__exit__()


def _no_signal_handlers() -> Any:
    from rclpy.signals import SignalHandlerOptions

    return SignalHandlerOptions.NO


def _centroid_optimum(cfg: SwarmConfig, target: np.ndarray) -> np.ndarray:
    """Every robot's optimal position when the centroid must be at ``target`` (N x 2).

    Closed form of the KKT system: ``x_i = s_i + p / a_i`` with ``p = (N r - sum s_i) / sum 1/a_i``
    (``test_centroid_problem_reaches_the_closed_form`` checks it against the solvers).
    """
    from distopt_ros.core.scenario import centroid_problem

    prob = centroid_problem(cfg.num_robots, cfg.station_radius, cfg.seed)
    a = np.array([c.a[0] for c in prob.costs])
    s = np.array([-np.asarray(c.beta) / c.a[0] for c in prob.costs])
    p = (cfg.num_robots * np.asarray(target, dtype=float) - s.sum(axis=0)) / np.sum(1.0 / a)
    return s + p[None, :] / a[:, None]


def compare_price_modes(params: dict[str, Any], duration: float, **kw: Any) -> dict[str, TrackingReport]:
    """Centroid tracking with the tracking dual ascent and the extragradient, side by side."""
    out = {}
    for mode in ("dual", "extragradient"):
        out[mode] = run_tracking({**params, "algorithm": "price", "problem": "centroid", "price_mode": mode},
                                 duration, **kw)
    return out


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the embedded equivalent of ``ros2 launch distopt_ros tracking.launch.py``."""
    ap = argparse.ArgumentParser(prog="distopt-tracking", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(default_config("tracking.yaml")),
                    help="parameter YAML, or a shipped one: tracking (default), centroid_tracking")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="override any parameter (repeatable)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of wall-clock time")
    ap.add_argument("--settle", type=float, default=None, help="transient to ignore (default: half the run)")
    ap.add_argument("--out", default=None,
                    help="new directory for plots and the recording (default: a fresh one under the system's "
                         "temporary directory; an existing one is refused unless --force)")
    ap.add_argument("--force", action="store_true", help="write into --out even if it exists")
    ap.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    ap.add_argument("--record", action="store_true", help="record every topic to an MCAP bag in --out")
    ap.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for this run (default: the "
                                                                  "environment's)")
    ap.add_argument("--compare-price-modes", action="store_true",
                    help="centroid task: run dual ascent and extragradient and report them side by side")
    args = ap.parse_args(argv)
    try:
        params = load_params(resolve_config(args.config))
        params.update(dict(parse_override(p) for p in args.param))
        check_values(params)
        check_out(args.out, args.force)
        if args.compare_price_modes:
            reports = compare_price_modes(params, args.duration, settle=args.settle, domain_id=args.domain_id)
            for mode, rep in reports.items():
                print(f"--- price_mode {mode}")
                print(rep.summary())
            return 0
        out = args.out or tempfile.mkdtemp(prefix="distopt_tracking_")
        report = run_tracking(params, args.duration, args.settle, out_dir=out, plots=not args.no_plots,
                              record=args.record, domain_id=args.domain_id, progress=True)
    except ValueError as exc:
        print(f"distopt-tracking: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 128 + int(signal.Signals[report.interrupted]) if report.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
