"""Typed, documented, range-checked node parameters shared by robot and coordinator nodes.

The defaults come from :class:`SwarmConfig`, so a YAML file, the launch file, the embedded
runner and the simulator all mean the same thing by each name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from distopt_ros.core.graphs import DIRECTED_TOPOLOGIES, TOPOLOGIES
from distopt_ros.core.scenario import ALGORITHMS, SwarmConfig


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: default, description and (optional) numeric range."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None


_DESCRIPTIONS = {
    "algorithm": f"Algorithm: {'; '.join(f'{k} = {v}' for k, v in ALGORITHMS.items())}",
    "num_robots": "Number of robots in the swarm (>= 2)",
    "topology": f"Communication graph: {', '.join(TOPOLOGIES)}; qudrc: {', '.join(DIRECTED_TOPOLOGIES)}",
    "seed": "Seed of the scenario data and of random topologies",
    "dim": "Dimension of the decision variable (2 = planar target position)",
    "rho": "ADMM penalty (> 0)",
    "alpha": "Relaxation of edge ADMM, in (0, 1); 0.5 = standard ADMM",
    "max_iterations": "Iteration cap",
    "tolerance": "Stopping tolerance (0 = run to max_iterations)",
    "stop_patience": "Rounds the whole swarm must stay within tolerance before stopping",
    "step": "Gradient step of dgd/diging (> 0)",
    "step_decay": "dgd diminishing step alpha/(k+1)^p with p in (0.5, 1]; 0 = constant step",
    "gamma": "ATG mixing gain in (0, 1]",
    "delta": "ATG gradient step (> 0)",
    "residual_balancing": "admm: adapt rho to balance primal and dual residuals (coordinator)",
    "problem": "Problem: fusion, least_squares, logistic (consensus), microgrid (coupled), allocation (price), "
               "centroid (price or coupled)",
    "kappa": "coupled: dual gain on the constraint violation (1 = average, N = sum)",
    "local_epochs": "fedavg: local epochs per round",
    "local_step": "fedavg: client learning rate",
    "client_fraction": "fedavg: fraction of clients sampled per round, in (0, 1]",
    "server_optimizer": "fedavg: fedavg, fedadam, fedadagrad or fedyogi",
    "server_step": "fedavg: server learning rate",
    "price_mode": "price: dual (best response), gda or extragradient",
    "station_radius": "centroid problem: radius of the circle of robot home stations (m)",
    "quantization_level": "qudrc: quantization level Delta of the integer payloads (> 0)",
    "watchdog": "qudrc: inner steps after which a quantized averaging loop that has not stopped is an error",
}
_RANGES: dict[str, tuple[float, float]] = {
    "num_robots": (2, 100_000), "seed": (0, 2**31 - 1), "dim": (1, 1000),
    "rho": (0.0, 1e9), "alpha": (0.0, 1.0), "max_iterations": (1, 10**9),
    "tolerance": (0.0, 1.0), "stop_patience": (1, 10_000), "step": (0.0, 1e6), "step_decay": (0.0, 1.0),
    "gamma": (0.0, 1.0), "delta": (0.0, 1e6), "kappa": (0.0, 1e6), "local_epochs": (1, 10_000),
    "local_step": (0.0, 1e6), "client_fraction": (0.0, 1.0), "server_step": (0.0, 1e6),
    "quantization_level": (0.0, 1e6), "watchdog": (1, 10**9), "station_radius": (0.0, 1e6),
}

SWARM_PARAMETERS: tuple[ParamSpec, ...] = tuple(
    ParamSpec(f.name, f.default, _DESCRIPTIONS[f.name], *_RANGES.get(f.name, (None, None)))
    for f in fields(SwarmConfig)
)
TRANSPORT_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("qos_preset", "", "Named QoS preset (reliable, lossy_radio); overrides the qos_* values"),
    ParamSpec("qos_reliability", "reliable", "Algorithm topics: reliable or best_effort"),
    ParamSpec("qos_depth", 10, "History depth of algorithm topics", 1, 10_000),
    ParamSpec("qos_durability", "volatile", "Algorithm topics: volatile or transient_local"),
    ParamSpec("status_period", 0.5, "Seconds between status messages", 0.01, 3600.0),
    ParamSpec("startup_timeout", 30.0, "Seconds to wait for all peers to be discovered", 0.1, 3600.0),
    ParamSpec("qos_deadline_ms", 0.0, "DDS deadline of algorithm topics in ms (0 = none)", 0.0, 3.6e6),
    ParamSpec("qos_lifespan_ms", 0.0, "DDS lifespan of algorithm payloads in ms (0 = forever)", 0.0, 3.6e6),
    ParamSpec("execution_mode", "sync", "sync: step when the round is complete; async: step on a timer"),
    ParamSpec("step_period", 0.02, "async mode: seconds between wake-up chances", 0.001, 60.0),
    ParamSpec("round_timeout", 0.0, "sync mode: seconds after which missing messages count as lost (0 = wait)",
              0.0, 3600.0),
    ParamSpec("round_period", 0.0, "sync mode: at most one round per round_period seconds (0 = as fast as "
              "messages arrive); paces a controller-rate algorithm such as a tracking dual ascent", 0.0, 3600.0),
    ParamSpec("round_timeout_action", "auto",
              "sync mode, after round_timeout: skip (step without the late messages; loss-tolerant algorithms), "
              "retransmit (ask the missing senders again; keeps the round discipline), auto (skip if tolerated)"),
    ParamSpec("loss", "none", "Modelled radio loss: none, bernoulli or gilbert_elliott (seeded)"),
    ParamSpec("loss_probability", 0.0, "Probability (stationary rate) that a payload is lost", 0.0, 1.0),
    ParamSpec("burst_length", 4.0, "Mean burst length of gilbert_elliott loss, in messages", 1.0, 1e6),
    ParamSpec("activation_probability", 1.0, "async mode: chance to wake up at each step_period", 0.0, 1.0),
    ParamSpec("latency_ms", 0.0, "Modelled extra latency, uniform in [0, latency_ms]", 0.0, 60_000.0),
)
LIVE_TRANSPORT = ("loss_probability", "activation_probability")
"""Transport parameters that can be changed while running (they take effect at once)."""


def float_range(low: float, high: float, text: str) -> ParameterDescriptor:
    """A documented float parameter limited to ``[low, high]`` (refused outside, with the reason)."""
    return ParameterDescriptor(description=text, floating_point_range=[
        FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)])


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=spec.description)
    if spec.low is not None and spec.high is not None:
        if isinstance(spec.default, int) and not isinstance(spec.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
        else:
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    return desc


def declare(node: Node, specs: tuple[ParamSpec, ...]) -> dict[str, Any]:
    """Declare ``specs`` on ``node`` and return their values.

    A value outside its declared range raises ValueError naming the parameter.
    """
    values: dict[str, Any] = {}
    for spec in specs:
        try:
            param = node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        except Exception as exc:  # rclpy raises InvalidParameterValueException / type errors
            raise ValueError(f"parameter {spec.name}: {exc}") from None
        values[spec.name] = param.value
    return values


def declare_swarm(node: Node) -> tuple[SwarmConfig, dict[str, Any]]:
    """Declare all scenario and transport parameters; return the validated config and transport values."""
    cfg = SwarmConfig.from_mapping(declare(node, SWARM_PARAMETERS))
    transport = declare(node, TRANSPORT_PARAMETERS)
    return cfg, transport
