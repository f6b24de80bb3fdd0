"""The one declarative table of every parameter a distopt_ros node, runner or simulator reads.

Each :class:`Param` says what a parameter is (type, default, allowed values, description),
where it applies (``scope``), whether it can change while a swarm runs (``live``) and which
algorithms read it. Everything else is derived from this table, so a new parameter is one
new entry here:

* :class:`~distopt_ros.core.scenario.SwarmConfig` (its fields and their checks),
* the ROS parameter descriptors of the nodes (``distopt_ros.ros.params``),
* the tunable list of every agent (:func:`live_parameters`),
* the launch arguments (``distopt_ros.launch_support``),
* the README's parameter table (:func:`markdown_table`).

Every refusal has the same wording, from :meth:`Param.check`:
``<name> must be <allowed>, got <value>``. This module never imports rclpy.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from distopt_ros.core.graphs import DIRECTED_TOPOLOGIES, TOPOLOGIES

SWARM = "swarm"
"""Scope: the value must be the same on every robot (it defines the problem or the iteration)."""
ROBOT = "robot"
"""Scope: each robot may have its own value (its radio, its clock, its controller)."""
NODE = "node"
"""Scope: a setting of one node only (ids, monitors, the simulator)."""

ALL_ALGORITHMS = ()
"""``algorithms`` / ``live`` value meaning every algorithm."""


class ParameterError(ValueError):
    """A parameter value that is not allowed; the message is the one line shown to the user."""


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, allowed values, description, scope and live tunability.

    Numeric bounds are ``low``/``high`` (``None`` = unbounded); ``low_open``/``high_open`` make
    them strict. ``zero_allowed`` admits 0 besides the range (``step_decay``: 0 = constant).
    ``choices`` lists the allowed strings (a callable for tables filled in by other modules).
    ``algorithms`` names the algorithms that read it (empty: all); ``live`` the algorithms for
    which it may change while running (``("*",)``: all, ``()``: none); ``nodes`` the node kinds
    that declare it.
    """

    name: str
    type: type
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    zero_allowed: bool = False
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    scope: str = SWARM
    live: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ALL_ALGORITHMS
    nodes: tuple[str, ...] = ("robot_node", "coordinator_node")
    group: str = "scenario"
    item: type = float
    """Element type of a ``list`` parameter (``int`` for robot ids)."""

    # ------------------------------------------------------------------ derived facts
    def allowed_choices(self) -> tuple[str, ...]:
        c = self.choices() if callable(self.choices) else self.choices
        return tuple(c or ())

    def allowed(self) -> str:
        """What the parameter accepts, in words (the second half of every refusal)."""
        if self.choices is not None:
            names = [c if c else "'' (none)" for c in self.allowed_choices()]
            return "one of " + ", ".join(names)
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "a string"
        if self.type is dict:
            return "a mapping of names to values"
        kind = {int: "an integer", float: "a finite number", list: "a list of finite numbers"}[self.type]
        if self.type is list and self.item is int:
            kind = "a list of integers"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            text = f"{kind} in {'(' if self.low_open else '['}{_num(lo)}, {_num(hi)}{')' if self.high_open else ']'}"
        elif lo is not None:
            text = f"{kind} {'>' if self.low_open else '>='} {_num(lo)}"
        elif hi is not None:
            text = f"{kind} {'<' if self.high_open else '<='} {_num(hi)}"
        else:
            text = kind
        if self.type is list and (lo is not None or hi is not None):
            text = text.replace("a list of finite numbers", "a list of finite numbers, each").replace(
                "a list of integers", "a list of integers, each")
        return f"0 or {text}" if self.zero_allowed else text

    def is_live(self, algorithm: str) -> bool:
        return "*" in self.live or algorithm in self.live

    def used_by(self, algorithm: str) -> bool:
        return not self.algorithms or algorithm in self.algorithms

    def refuse(self, value: Any) -> ParameterError:
        return ParameterError(f"{self.name} must be {self.allowed()}, got {value!r}")

    # ------------------------------------------------------------------ checking
    def check(self, value: Any) -> Any:
        """``value`` converted to this parameter's type (an int for a float is fine); ParameterError if not allowed."""
        v = self._typed(value)
        if self.choices is not None:
            if v not in self.allowed_choices():
                raise self.refuse(value)
            return v
        if self.type is list:
            for item in v:
                self._in_range(item, value)
            return v
        if self.type in (int, float):
            if self.zero_allowed and v == 0:
                return v
            self._in_range(v, value)
        return v

    def parse(self, text: str) -> Any:
        """A value given as text (a launch argument, ``-p name:=value``), checked."""
        from distopt_ros.config import yaml_value  # the YAML rules of ROS 2 parameter files

        try:
            value = yaml_value(text)
        except ValueError:
            raise self.refuse(text) from None
        if self.type is str and not isinstance(value, str):
            value = text  # "seed_3" and "1" are both strings to a string parameter
        return self.check(value)

    def _typed(self, value: Any) -> Any:
        t = self.type
        if t is bool:
            if isinstance(value, bool):
                return value
        elif t is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif t is float:
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
        elif t is str:
            if isinstance(value, str):
                return value
        elif t is list and self.item is int:
            if isinstance(value, list | tuple) and all(
                    (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())
                    for x in value):
                return [int(x) for x in value]
        elif t is list:
            if isinstance(value, list | tuple) and all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value):
                return [float(x) for x in value]
        elif t is dict:
            if isinstance(value, dict) and all(isinstance(k, str) for k in value):
                return dict(value)
        raise self.refuse(value)

    def _in_range(self, v: float, original: Any) -> None:
        lo, hi = self.low, self.high
        if lo is not None and (v < lo or (self.low_open and v == lo)):
            raise self.refuse(original)
        if hi is not None and (v > hi or (self.high_open and v == hi)):
            raise self.refuse(original)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _algorithm_names() -> tuple[str, ...]:
    from distopt_ros.core.registry import ALGORITHM_SPECS, load_entry_points

    load_entry_points()  # the algorithms installed packages register count as known names too
    return tuple(ALGORITHM_SPECS)


def _problem_names() -> tuple[str, ...]:
    from distopt_ros.core.scenario import PROBLEMS

    return tuple(PROBLEMS)


_ADMM_FAMILY = ("radmm", "atg", "coupled")
_TRACKING = ("robot_node",)
_P = Param

PARAMETERS: tuple[Param, ...] = (
    # ---------------------------------------------------------------- the scenario (SwarmConfig)
    _P("algorithm", str, "radmm", "Algorithm every robot runs (see docs/algorithms.md)", choices=_algorithm_names),
    _P("num_robots", int, 8, "Number of robots in the swarm", low=2, high=100_000),
    _P("topology", str, "ring", "Communication graph (directed_ring and random_strongly_connected are for qudrc)",
       choices=TOPOLOGIES + DIRECTED_TOPOLOGIES),
    _P("seed", int, 0, "Seed of the simulated scenario data and of random topologies", low=0, high=2**31 - 1),
    _P("dim", int, 2, "Dimension of the decision variable (2 = planar target position)", low=1, high=1000),
    _P("rho", float, 1.0, "ADMM penalty", low=0.0, low_open=True, live=("radmm", "atg", "coupled", "admm"),
       algorithms=("radmm", "atg", "coupled", "admm", "rcaladin", "qudrc")),
    _P("alpha", float, 0.5, "Relaxation of edge ADMM (0.5 = standard ADMM)", low=0.0, high=1.0, low_open=True,
       high_open=True, live=_ADMM_FAMILY, algorithms=_ADMM_FAMILY),
    _P("max_iterations", int, 500, "Iteration cap (outer iterations for qudrc)", low=1, high=10**12),
    _P("tolerance", float, 1e-10, "Stopping tolerance (0 = run to max_iterations)", low=0.0),
    _P("stop_patience", int, 3, "Rounds the whole swarm must stay within tolerance before stopping", low=1,
       high=10_000),
    _P("step", float, 0.05, "Gradient step of dgd/diging/atc/semi_atc, price step of gda/extragradient", low=0.0,
       low_open=True, live=("dgd", "diging", "atc", "semi_atc"), algorithms=("dgd", "diging", "atc", "semi_atc",
                                                                             "price")),
    _P("step_decay", float, 0.0, "dgd diminishing step step/(k+1)^p with this p (0 = constant step)", low=0.5,
       high=1.0, low_open=True, zero_allowed=True, algorithms=("dgd",)),
    _P("resilient_f", int, 0, "dgd resilient mode (W-MSR): per coordinate, ignore up to F neighbour values above "
       "and F below the robot's own; tolerates F lying neighbours on (2F+1)-robust graphs (0 = off)", low=0,
       high=100, algorithms=("dgd",)),
    _P("gamma", float, 0.5, "ATG mixing gain; coupled: dual step", low=0.0, high=1.0, low_open=True,
       live=("atg", "coupled"), algorithms=("atg", "coupled")),
    _P("delta", float, 0.1, "ATG gradient step", low=0.0, low_open=True, live=("atg",), algorithms=("atg",)),
    _P("residual_balancing", bool, False, "admm: the coordinator adapts rho to balance the residuals",
       algorithms=("admm",)),
    _P("problem", str, "fusion", "Problem the swarm solves (simulated data from seed)", choices=_problem_names),
    _P("kappa", float, 1.0, "coupled: dual gain on the constraint violation (1 = average, N = sum)", low=0.0,
       low_open=True, live=("coupled",), algorithms=("coupled",)),
    _P("local_epochs", int, 1, "fedavg: local epochs per round", low=1, high=10_000, algorithms=("fedavg",)),
    _P("local_step", float, 0.1, "fedavg: client learning rate", low=0.0, low_open=True, algorithms=("fedavg",)),
    _P("client_fraction", float, 1.0, "fedavg: fraction of clients sampled per round", low=0.0, high=1.0,
       low_open=True, algorithms=("fedavg",)),
    _P("server_optimizer", str, "fedavg", "fedavg: server update", choices=("fedavg", "fedadam", "fedadagrad",
                                                                            "fedyogi"), algorithms=("fedavg",)),
    _P("server_step", float, 1.0, "fedavg: server learning rate", low=0.0, low_open=True, algorithms=("fedavg",)),
    _P("price_mode", str, "dual", "price: best response (dual), gradient descent-ascent or extragradient",
       choices=("dual", "gda", "extragradient"), algorithms=("price",)),
    _P("station_radius", float, 2.0, "centroid problem: radius of the circle of home stations (m)", low=0.0,
       low_open=True),
    _P("quantization_level", float, 1e-3, "qudrc: quantization level of the integer payloads", low=0.0,
       low_open=True, algorithms=("qudrc",)),
    _P("watchdog", int, 100_000, "qudrc: inner steps after which a quantized averaging that has not stopped "
       "is an error", low=1, high=10**12, algorithms=("qudrc",)),
    _P("quantization_coarse_level", float, 0.5, "qudrc: level of the first outer iteration, rounded up to "
       "quantization_level * 2^K; the level halves refine_bits times per outer iteration down to "
       "quantization_level (coarse-to-fine; <= quantization_level = the fixed level)", low=0.0,
       algorithms=("qudrc",)),
    _P("quantization_refine_bits", int, 1, "qudrc: the level is divided by 2^refine_bits per outer iteration",
       low=1, high=62, algorithms=("qudrc",)),
    _P("quantization_tokens", int, 4, "qudrc: tokens per node of the quantized averaging (2 in the papers)",
       low=2, high=10**6, algorithms=("qudrc",)),
    _P("quantization_shared_tokens", bool, True, "qudrc: one token route for all coordinates (one token count "
       "per message)", algorithms=("qudrc",)),
    _P("quantization_frame", str, "sparse", "qudrc: bit code charged per message (sparse = one token count, "
       "no mass without tokens; flat = all 4 n integers)", choices=("sparse", "flat"), algorithms=("qudrc",)),
    # ---------------------------------------------------------------- transport and radio (per robot)
    _P("qos_preset", str, "", "Named QoS preset; overrides the qos_* values", choices=("", "reliable", "lossy_radio"),
       scope=ROBOT, group="transport"),
    _P("qos_reliability", str, "reliable", "QoS reliability of the algorithm topics",
       choices=("reliable", "best_effort"), scope=ROBOT, group="transport"),
    _P("qos_depth", int, 10, "History depth of the algorithm topics", low=1, high=10_000, scope=ROBOT,
       group="transport"),
    _P("qos_durability", str, "volatile", "QoS durability of the algorithm topics",
       choices=("volatile", "transient_local"), scope=ROBOT, group="transport"),
    _P("qos_deadline_ms", float, 0.0, "DDS deadline of the algorithm topics in ms (0 = none)", low=0.0,
       scope=ROBOT, group="transport"),
    _P("qos_lifespan_ms", float, 0.0, "DDS lifespan of algorithm payloads in ms (0 = forever)", low=0.0,
       scope=ROBOT, group="transport"),
    _P("status_period", float, 0.5, "Seconds between status messages", low=0.01, high=3600.0, scope=ROBOT,
       group="transport"),
    _P("neighbor_timeout", float, 3.0, "Seconds without a heartbeat (status) or payload after which a peer is "
       "declared gone and the swarm goes on without it (0 = never)", low=0.0, high=86_400.0, scope=ROBOT,
       group="transport"),
    _P("start_without_missing", bool, False, "After startup_timeout, start with the peers present; a missing one "
       "is taken in when it appears (it joins mid-run). Not with the mixing algorithms (dgd, diging, atc, "
       "semi_atc) and explicit neighbors (their weights need every neighbour's degree)",
       scope=ROBOT, group="transport"),
    _P("startup_timeout", float, 30.0, "Seconds to wait for the peers before reporting them missing", low=0.1,
       high=86_400.0, scope=ROBOT, group="transport"),
    _P("execution_mode", str, "sync", "sync: step when the round is complete; async: step on a timer",
       choices=("sync", "async"), scope=SWARM, group="transport"),
    _P("step_period", float, 0.02, "async: seconds between wake-up chances", low=0.001, high=60.0, scope=ROBOT,
       group="transport"),
    _P("round_timeout", float, 0.0, "sync: seconds after which a late round is skipped or asked again (0 = wait)",
       low=0.0, high=3600.0, scope=ROBOT, group="transport"),
    _P("round_period", float, 0.0, "sync: at most one round per round_period seconds (0 = as fast as messages "
       "arrive)", low=0.0, high=3600.0, scope=ROBOT, group="transport"),
    _P("round_timeout_action", str, "auto", "sync, after round_timeout: skip the late messages, retransmit "
       "(ask again), or auto (skip if the algorithm tolerates it)", choices=("auto", "skip", "retransmit"),
       scope=ROBOT, group="transport"),
    _P("loss", str, "none", "Modelled radio loss (seeded)", choices=("none", "bernoulli", "gilbert_elliott"),
       scope=ROBOT, group="transport"),
    _P("loss_probability", float, 0.0, "Probability (stationary rate) that a payload is lost", low=0.0, high=1.0,
       scope=ROBOT, live=("*",), group="transport"),
    _P("burst_length", float, 4.0, "Mean burst length of gilbert_elliott loss, in messages", low=1.0, high=1e6,
       scope=ROBOT, group="transport"),
    _P("activation_probability", float, 1.0, "async: chance to wake up at each step_period (no effect in sync)",
       low=0.0, high=1.0, low_open=True, scope=ROBOT, live=("*",), group="transport"),
    _P("latency_ms", float, 0.0, "Modelled extra latency, uniform in [0, latency_ms]", low=0.0, high=60_000.0,
       scope=ROBOT, group="transport"),
    # ---------------------------------------------------------------- one robot's own problem and neighbours
    _P("objective", str, "", "This robot's private objective: a registered name (quadratic, box, least_squares, "
       "logistic, or one from an installed package's distopt_ros.objectives entry points) or module:Class; "
       "empty = the simulated problem built from problem and seed", scope=ROBOT, nodes=("robot_node",),
       group="robot"),
    _P("objective_params", dict, {}, "Keyword arguments of the objective's constructor (a mapping in the YAML; "
       "objective_params.<name> on the command line)", scope=ROBOT, nodes=("robot_node",), group="robot"),
    _P("measurement_topic", str, "", "A distopt_ros/msg/TargetEstimate topic of this robot's own sensor whose "
       "messages update its objective while running (objective.observe); the robot starts after the first. "
       "Empty = none", scope=ROBOT, nodes=("robot_node",), group="robot"),
    _P("neighbors", list, [], "This robot's neighbours by robot id (empty = from topology); every neighbour "
       "must list this robot too", low=0, item=int, scope=ROBOT, nodes=("robot_node",), group="robot"),
    _P("in_neighbors", list, [], "qudrc: the robots this robot hears (directed edges into it; empty = from "
       "topology)", low=0, item=int, scope=ROBOT, nodes=("robot_node",), group="robot", algorithms=("qudrc",)),
    _P("out_neighbors", list, [], "qudrc: the robots this robot sends to (directed edges out of it)", low=0,
       item=int, scope=ROBOT, nodes=("robot_node",), group="robot", algorithms=("qudrc",)),
    _P("diameter_bound", int, 0, "An upper bound on the communication graph's diameter, for the stop rule and "
       "swarm-wide tuning (0 = from topology, or num_robots - 1 with explicit neighbors)", low=0, high=100_000,
       nodes=("robot_node",), group="robot"),
    # ---------------------------------------------------------------- one node
    _P("robot_id", int, 0, "This robot's id in [0, num_robots)", low=0, high=100_000, scope=NODE,
       nodes=("robot_node",), group="node"),
    _P("keep_alive", bool, False, "Keep the node running after its swarm has stopped (default: exit 0)",
       scope=NODE, group="node"),
    # ---------------------------------------------------------------- the swarm monitor
    _P("progress_period", float, 0.5, "Seconds between progress lines (0 = none)", low=0.0, high=3600.0,
       scope=NODE, nodes=("swarm_monitor",), group="monitor"),
    _P("monitor_timeout", float, 0.0, "Seconds after which the monitor reports the swarm as timed out (0 = wait)",
       low=0.0, scope=NODE, nodes=("swarm_monitor",), group="monitor"),
    _P("optimum", list, [], "The centralized optimum to report the error against (empty = the simulated "
       "problem's; robots with private objectives report none)", scope=NODE, nodes=("swarm_monitor",),
       group="monitor"),
    # ---------------------------------------------------------------- simulator only
    _P("max_rounds", int, 1_000_000, "Simulator: rounds before it gives up", low=1, scope=NODE, nodes=(),
       group="sim"),
    _P("max_delay", int, 0, "Simulator: bounded message delay in rounds", low=0, high=10_000, scope=NODE,
       nodes=(), group="sim"),
    _P("quantization_step", float, 0.0, "Simulator: uniform quantization step of payloads (0 = none)", low=0.0,
       scope=NODE, nodes=(), group="sim"),
    _P("quantization_bits", int, 64, "Simulator: bits counted per quantized entry", low=1, high=64, scope=NODE,
       nodes=(), group="sim"),
    # ---------------------------------------------------------------- tracking robots and their world
    _P("control_period", float, 0.1, "Seconds between commands", low=0.001, high=60.0, scope=ROBOT,
       nodes=_TRACKING, group="tracking"),
    _P("gain", float, 1.0, "Proportional gain toward the goal (1/s)", low=0.0, high=100.0, scope=ROBOT,
       nodes=_TRACKING, group="tracking"),
    _P("max_speed", float, 1.0, "Speed limit (m/s): commanded by the robot, applied by the kinematics",
       low=0.0, high=100.0, scope=ROBOT, nodes=("robot_node", "kinematics_node"), group="tracking"),
    _P("formation_radius", float, 1.0, "Robots sit on this circle around the estimate (m)", low=0.0, high=1e4,
       nodes=_TRACKING, group="tracking"),
    _P("drive", str, "holonomic", "Command form", choices=("holonomic", "unicycle"), scope=ROBOT,
       nodes=_TRACKING, group="tracking"),
    _P("heading_gain", float, 2.0, "unicycle: yaw-rate gain", low=0.0, high=100.0, scope=ROBOT, nodes=_TRACKING,
       group="tracking"),
    _P("observation_window", float, 1.0, "Seconds of observations averaged into the local objective (0 = latest "
       "only): less noise, a lag of about half the window times the target speed", low=0.0, high=60.0,
       scope=ROBOT, nodes=_TRACKING, group="tracking"),
    _P("start_radius", float, 6.0, "Simulated robots start on this circle (m)", low=0.0, high=1e6,
       low_open=True, scope=NODE, nodes=(), group="tracking"),
    _P("target_kind", str, "circle", "Target path", choices=("circle", "figure_eight", "random_walk", "waypoints"),
       scope=NODE, nodes=("target_node",), group="target"),
    _P("target_center_x", float, 0.0, "Path centre / start x (m)", low=-1e6, high=1e6, scope=NODE,
       nodes=("target_node",), group="target"),
    _P("target_center_y", float, 0.0, "Path centre / start y (m)", low=-1e6, high=1e6, scope=NODE,
       nodes=("target_node",), group="target"),
    _P("target_radius", float, 3.0, "Circle radius / figure-eight size / random-walk half-width (m)", low=0.0,
       high=1e6, scope=NODE, nodes=("target_node",), group="target"),
    _P("target_period", float, 60.0, "Seconds per lap", low=0.01, high=1e6, scope=NODE, nodes=("target_node",),
       group="target"),
    _P("target_speed", float, 0.3, "Random walk / waypoint speed (m/s)", low=0.0, high=1e3, scope=NODE,
       nodes=("target_node",), group="target"),
    _P("target_waypoints", list, [0.0, 0.0, 3.0, 0.0, 3.0, 3.0], "Waypoints x0, y0, x1, y1, ... (m), for "
       "target_kind waypoints", scope=NODE, nodes=("target_node",), group="target"),
    _P("num_targets", int, 1, "Targets on the path (evenly spaced); robots observe target 0", low=1, high=100,
       scope=NODE, nodes=("target_node",), group="target"),
    _P("noise_std", list, [0.3], "Observation noise std (m): one value for all robots or one per robot "
       "(repeated cyclically)", low=0.0, scope=NODE, nodes=("target_node",), group="target"),
    _P("publish_rate", float, 20.0, "Target and observation rate (Hz)", low=0.1, high=1000.0, scope=NODE,
       nodes=("target_node",), group="target"),
    _P("frame_id", str, "map", "Fixed frame of all positions", scope=NODE,
       nodes=("target_node", "kinematics_node", "visualization_node"), group="target"),
    _P("model", str, "single_integrator", "Kinematic model", choices=("single_integrator", "unicycle"),
       scope=ROBOT, nodes=("kinematics_node",), group="kinematics"),
    _P("initial_x", float, 0.0, "Start x (m)", low=-1e6, high=1e6, scope=ROBOT, nodes=("kinematics_node",),
       group="kinematics"),
    _P("initial_y", float, 0.0, "Start y (m)", low=-1e6, high=1e6, scope=ROBOT, nodes=("kinematics_node",),
       group="kinematics"),
    _P("initial_theta", float, 0.0, "Start heading (rad)", low=-math.pi, high=math.pi, scope=ROBOT,
       nodes=("kinematics_node",), group="kinematics"),
    _P("max_angular_speed", float, 2.0, "Yaw rate limit (rad/s), unicycle", low=0.0, high=100.0, scope=ROBOT,
       nodes=("kinematics_node",), group="kinematics"),
    _P("integration_rate", float, 50.0, "Integration and odometry rate (Hz)", low=1.0, high=1000.0, scope=ROBOT,
       nodes=("kinematics_node",), group="kinematics"),
    _P("cmd_timeout", float, 0.5, "Seconds after which a command expires", low=0.0, high=60.0, scope=ROBOT,
       nodes=("kinematics_node",), group="kinematics"),
    _P("marker_rate", float, 10.0, "Marker rate (Hz)", low=0.1, high=100.0, scope=NODE,
       nodes=("visualization_node",), group="visualization"),
)

SCHEMA: dict[str, Param] = {p.name: p for p in PARAMETERS}
"""Every parameter by name."""

ROS_BUILTIN = ("use_sim_time", "start_type_description_service")
"""Parameters rclpy declares on every node by itself: known, never refused."""


def group(name: str) -> tuple[Param, ...]:
    """The parameters of one group (``scenario``, ``transport``, ``node``, ``sim``, ``tracking``, ...)."""
    return tuple(p for p in PARAMETERS if p.group == name)


def for_node(node: str, groups: Iterable[str] | None = None) -> tuple[Param, ...]:
    """What a node kind declares (optionally limited to some groups)."""
    wanted = None if groups is None else set(groups)
    return tuple(p for p in PARAMETERS if node in p.nodes and (wanted is None or p.group in wanted))


@functools.lru_cache(maxsize=64)
def live_parameters(algorithm: str) -> tuple[str, ...]:
    """The scenario parameters ``algorithm`` can change while running (its agents' ``tunable``)."""
    return tuple(p.name for p in group("scenario") if p.is_live(algorithm) and "*" not in p.live)


def suggest(name: str, known: Iterable[str] | None = None) -> str:
    """`` (did you mean 'rho'?)`` for a misspelled ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known if known is not None else SCHEMA), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known(params: Mapping[str, Any], where: str = "") -> None:
    """Refuse any key that no distopt_ros node, runner or simulator reads, with a "did you mean"."""
    for key in params:
        head = key.split(".", 1)[0]
        if "." in key and head in SCHEMA and SCHEMA[head].type is dict:
            continue  # objective_params.weight: one entry of a mapping parameter, as ROS 2 flattens it
        if key not in SCHEMA and key not in ROS_BUILTIN:
            prefix = f"{where}: " if where else ""
            raise ParameterError(f"{prefix}unknown parameter {key!r}{suggest(key)}")


def check_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every known parameter of ``params`` checked and converted (unknown keys pass through)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        spec = SCHEMA.get(key)
        out[key] = spec.check(value) if spec is not None else value
    return out


def check_transport(params: Mapping[str, Any], supports_async: bool, directed: bool, algorithm: str) -> None:
    """The rules that tie transport parameters together and to the algorithm (one line each)."""
    p = {**{q.name: q.default for q in group("transport")}, **params}
    lossy = p["loss"] != "none" and p["loss_probability"] > 0
    asynchronous = p["execution_mode"] == "async"
    if asynchronous and not supports_async:
        raise ParameterError(f"execution_mode must be sync for {algorithm}, got 'async' (it needs every message "
                             "of a round; use round_timeout with round_timeout_action retransmit under loss)")
    if p["round_timeout_action"] == "skip" and p["round_timeout"] > 0 and not supports_async:
        raise ParameterError(f"round_timeout_action must be retransmit or auto for {algorithm}, got 'skip' "
                             "(it cannot step without a message)")
    if lossy and not asynchronous and p["round_timeout"] <= 0:
        raise ParameterError(f"round_timeout must be > 0 when loss is {p['loss']!r} in sync mode, got "
                             f"{p['round_timeout']!r} (a lost message would stall the round forever)")
    if 0 < p["neighbor_timeout"] <= 2 * p["status_period"]:
        raise ParameterError(f"neighbor_timeout must be 0 or > 2 * status_period = {2 * p['status_period']:g}, got "
                             f"{p['neighbor_timeout']!r} (the status messages are the heartbeats: a live peer "
                             "would look gone)")
    if directed and (lossy or p["round_timeout"] > 0):
        raise ParameterError(f"loss and round_timeout must be none and 0 for {algorithm}, got "
                             f"{p['loss']!r} / {p['round_timeout']!r} (a directed link has no way back to ask "
                             "for a lost payload)")


def markdown_table(groups: Iterable[str] = ("scenario", "robot", "transport", "node")) -> str:
    """The README's parameter table, generated from :data:`PARAMETERS`."""
    rows = ["| parameter | type | default | allowed | scope | live | algorithms | what |",
            "|---|---|---|---|---|---|---|---|"]
    for g in groups:
        for p in group(g):
            live = "all" if "*" in p.live else (", ".join(p.live) if p.live else "")
            algos = ", ".join(p.algorithms) if p.algorithms else "all"
            default = repr(p.default) if isinstance(p.default, str) else str(p.default).lower() \
                if isinstance(p.default, bool) else f"{p.default}"
            rows.append(f"| `{p.name}` | {p.type.__name__} | `{default}` | {p.allowed()} | {p.scope} | {live} | "
                        f"{algos} | {p.description} |")
    return "\n".join(rows)


README_BEGIN = "<!-- parameter table: generated by `python -m distopt_ros.core.schema --readme README.md` -->"
README_END = "<!-- end of parameter table -->"


def update_readme(path: str) -> bool:
    """Rewrite the parameter table between the README's markers from :data:`PARAMETERS`; True if it changed."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    head, sep, rest = text.partition(README_BEGIN)
    _, sep2, tail = rest.partition(README_END)
    if not sep or not sep2:
        raise ValueError(f"{path} has no parameter table markers")
    new = f"{head}{README_BEGIN}\n{markdown_table()}\n{README_END}{tail}"
    if new != text:
        p.write_text(new)
    return new != text


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--readme":
        print("updated" if update_readme(sys.argv[2]) else "up to date")
    else:
        print(markdown_table())
