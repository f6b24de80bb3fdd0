"""In-process simulator for agent state machines.

Two drivers over the same agents:

* lossless synchronous (default): every message is delivered, and an agent steps as soon
  as its round is complete, in id order. A run is a deterministic function of the agents'
  construction, and the reference a lossless ROS run must reproduce bit for bit;
* a :class:`~distopt_ros.core.network.NetworkModel`: time advances in ticks; at each tick
  every awake agent (activation probability) steps with whatever has arrived, and each
  message may be lost (Bernoulli or Gilbert-Elliott), delayed or quantized. Agents switch
  to their asynchronous protocol (latest message per neighbour, used once).

Both count messages and bits per agent and can record, per round, the error to a known
optimum and the consensus residual. Nothing is printed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.messages import BROADCAST, Message
from distopt_ros.core.network import NetworkModel
from distopt_ros.sim.faults import FaultSchedule


@dataclass
class SimResult:
    """Outcome of a simulated run (arrays and counters)."""

    estimates: dict[int, np.ndarray]
    iterations: dict[int, int]
    converged: bool
    rounds: int
    messages_sent: int
    messages_delivered: int
    wall_time: float
    trajectories: dict[int, np.ndarray]
    messages_dropped: int = 0
    bits_sent: int = 0
    sent_per_agent: dict[int, int] = field(default_factory=dict)
    bits_per_agent: dict[int, int] = field(default_factory=dict)
    error_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residual_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra_history: dict[str, np.ndarray] = field(default_factory=dict)
    cost_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    """Per recorded round: cumulative messages sent, bits sent, wall seconds."""

    def max_error(self, optimum: np.ndarray, ids: list[int] | None = None) -> float:
        """Largest distance of an agent's estimate to ``optimum``."""
        keys = ids if ids is not None else list(self.estimates)
        return max(float(np.linalg.norm(self.estimates[i] - optimum)) for i in keys)

    def cost_to(self, accuracy: float) -> tuple[int, int, float] | None:
        """Messages, bits and seconds spent until the error first reached ``accuracy``."""
        hit = self.rounds_to(accuracy)
        if hit is None or hit >= len(self.cost_history):
            return None
        msgs, bits, secs = self.cost_history[hit]
        return int(msgs), int(bits), float(secs)

    def rounds_to(self, accuracy: float) -> int | None:
        """First recorded round whose error is <= ``accuracy`` (None if never)."""
        hit = np.nonzero(self.error_history <= accuracy)[0]
        return int(hit[0]) if hit.size else None


class _Recorder:
    """Per-round error/residual (and user metrics) of the tracked agents."""

    def __init__(self, agents: Mapping[int, Agent], optimum: np.ndarray | None, ids: list[int],
                 metrics: Mapping[str, Callable[[Mapping[int, Agent]], float]] | None,
                 stop_within: float | None = None) -> None:
        self.agents, self.optimum, self.ids = agents, optimum, ids
        self.stop_within = stop_within
        self.reached = False
        """True once the error is within ``stop_within``: the drivers end the run there."""
        self.metrics = dict(metrics or {})
        self.errors: list[float] = []
        self.residuals: list[float] = []
        self.costs: list[tuple[int, int, float]] = []
        self.started = time.perf_counter()
        self.sent: Mapping[int, int] = {}
        self.bits: Mapping[int, int] = {}
        self.extra: dict[str, list[float]] = defaultdict(list)
        self.hooks: list[Callable[[int, Mapping[int, Agent]], None]] = []

    def __call__(self) -> None:
        for hook in self.hooks:
            hook(len(self.costs), self.agents)
        self.costs.append((sum(self.sent.values()), sum(self.bits.values()), time.perf_counter() - self.started))
        vecs = [np.asarray(self.agents[i].estimate(), dtype=float).reshape(-1) for i in self.ids if i in self.agents]
        if len({v.size for v in vecs}) == 1:  # residual/error only when all estimates live in one space
            est = np.array(vecs)
            if self.optimum is not None:
                self.errors.append(float(np.max(np.linalg.norm(est - self.optimum.reshape(-1), axis=1))))
                self.reached = self.stop_within is not None and self.errors[-1] <= self.stop_within
            self.residuals.append(float(np.max(np.linalg.norm(est - est.mean(axis=0), axis=1))))
        for name, fn in self.metrics.items():
            self.extra[name].append(float(fn(self.agents)))

    def fill(self, result: SimResult) -> None:
        result.error_history = np.array(self.errors)
        result.residual_history = np.array(self.residuals)
        result.cost_history = np.array(self.costs, dtype=float).reshape(-1, 3)
        result.extra_history = {k: np.array(v) for k, v in self.extra.items()}


def _listeners(agents: Mapping[int, Agent]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for aid in sorted(agents):
        for sender in agents[aid].expected:
            out.setdefault(sender, []).append(aid)
    return out


def simulate(agents: Mapping[int, Agent], max_rounds: int = 100_000, network: NetworkModel | None = None,
             optimum: np.ndarray | None = None, track: list[int] | None = None,
             metrics: Mapping[str, Callable[[Mapping[int, Agent]], float]] | None = None,
             on_round: Callable[[int, Mapping[int, Agent]], None] | None = None,
             faults: FaultSchedule | None = None, stop_within: float | None = None) -> SimResult:
    """Run the agents to completion (all done, nothing left to do, or ``max_rounds``).

    ``optimum`` (with ``track``, the ids whose estimates count; default all agents with
    id >= 0) enables the per-round error history; ``metrics`` adds named per-round values.
    ``on_round(round, agents)`` runs after every round (tick): scripted interventions such as
    a live parameter change (:meth:`Agent.tune`), exactly where the ROS runner's hook would.
    ``faults`` kills, restarts and cuts robots at scripted rounds (:mod:`distopt_ros.sim.faults`);
    the result then holds the robots running at the end (estimates of the dead are left out).
    ``stop_within`` (with ``optimum``) ends the run at the first round whose error is at most that: a
    cost-to-accuracy measurement needs nothing after it, and a run that never gets there goes to its cap.
    """
    ids = track if track is not None else sorted(a for a in agents if a >= 0)
    live = dict(agents)  # the running agents: faults change it
    recorder = _Recorder(live, optimum, ids, metrics, stop_within)
    if on_round is not None:
        recorder.hooks.append(on_round)
    schedule = faults if faults is not None else FaultSchedule([])
    if network is None or (network.lossless_synchronous and network.quantizer is None):
        return _simulate_sync(live, max_rounds, recorder, schedule)
    return _simulate_ticks(live, max_rounds, network, recorder, schedule)


def _result(agents: Mapping[int, Agent], rounds: int, sent: dict[int, int], bits: dict[int, int],
            delivered: int, dropped: int, started: float, recorder: _Recorder) -> SimResult:
    res = SimResult(
        estimates={aid: np.array(a.estimate(), dtype=float) for aid, a in agents.items()},
        iterations={aid: a.iteration for aid, a in agents.items()},
        converged=all(a.converged for a in agents.values()),
        rounds=rounds,
        messages_sent=sum(sent.values()),
        messages_delivered=delivered,
        wall_time=time.perf_counter() - started,
        trajectories={aid: np.array(a.trajectory) for aid, a in agents.items() if a.trajectory},
        messages_dropped=dropped,
        bits_sent=sum(bits.values()),
        sent_per_agent=dict(sent),
        bits_per_agent=dict(bits),
    )
    recorder.fill(res)
    return res


def _simulate_sync(agents: dict[int, Agent], max_rounds: int, recorder: _Recorder,
                   faults: FaultSchedule) -> SimResult:
    listeners = _listeners(agents)
    started = time.perf_counter()
    sent: dict[int, int] = defaultdict(int)
    bits: dict[int, int] = defaultdict(int)
    recorder.sent, recorder.bits = sent, bits

    def emit(messages: list[Message]) -> list[Message]:
        for msg in messages:
            sent[msg.sender] += 1
            bits[msg.sender] += msg.bits
        return messages

    order = sorted(agents)
    queue: list[Message] = emit([m for aid in order for m in agents[aid].start()])
    delivered = rounds = 0
    recorder()
    while True:
        while queue:  # replies (a welcome, a catch-up, a farewell) go out in the same round
            replies: list[Message] = []
            for msg in queue:
                targets = listeners.get(msg.sender, []) if msg.receiver == BROADCAST else [msg.receiver]
                for t in targets:
                    if t in agents and not faults.blocked(rounds, msg.sender, t):
                        receipt = agents[t].receive(msg)
                        delivered += receipt.accepted
                        replies.extend(receipt.reply)
            queue = emit(replies)
        if rounds >= max_rounds:
            break
        if faults.faults:
            queue = emit(faults.apply(rounds + 1, agents))
            order = sorted(agents)
        stepped = False
        for aid in order:
            agent = agents[aid]
            if agent.ready():
                queue.extend(emit(agent.step()))
                stepped = True
        if not stepped and not queue and not faults.pending(rounds + 1):
            break
        rounds += 1
        recorder()
        if recorder.reached:
            break
    return _result(agents, rounds, sent, bits, delivered, 0, started, recorder)


def _simulate_ticks(agents: dict[int, Agent], max_ticks: int, network: NetworkModel,
                    recorder: _Recorder, faults: FaultSchedule) -> SimResult:
    listeners = _listeners(agents)
    for agent in agents.values():
        agent.set_asynchronous(True)
    started = time.perf_counter()
    sent: dict[int, int] = defaultdict(int)
    bits: dict[int, int] = defaultdict(int)
    recorder.sent, recorder.bits = sent, bits
    in_flight: dict[int, list[tuple[int, Message]]] = defaultdict(list)
    delivered = dropped = 0

    def transmit(messages: list[Message], now: int) -> None:
        nonlocal dropped
        for msg in messages:
            wire, cost = network.encode(msg)
            sent[msg.sender] += 1
            bits[msg.sender] += cost
            targets = listeners.get(msg.sender, []) if msg.receiver == BROADCAST else [msg.receiver]
            for t in targets:
                if faults.blocked(now, msg.sender, t):
                    continue  # a dead robot or a cut link: nothing arrives (not the radio model's loss)
                if network.drop(msg.sender, t):
                    dropped += 1
                else:
                    in_flight[now + 1 + network.delay()].append((t, wire))

    for aid in sorted(agents):
        transmit(agents[aid].start(), 0)
    recorder()
    tick = 0
    while tick < max_ticks and not recorder.reached and (
            faults.pending(tick + 1) or not all(a.done for a in agents.values())):
        tick += 1
        transmit(faults.apply(tick, agents), tick)
        for target, msg in in_flight.pop(tick, []):
            if target in agents:
                receipt = agents[target].receive(msg)
                delivered += receipt.accepted
                transmit(list(receipt.reply), tick)
        for aid in sorted(agents):
            agent = agents[aid]
            if not agent.done and network.active(aid):
                transmit(agent.step(), tick)
        recorder()
    return _result(agents, tick, sent, bits, delivered, dropped, started, recorder)
