"""Synchronous in-process simulator for agent state machines.

It routes every message an agent emits to its receiver (or, for broadcasts, to every agent
that expects messages from the sender), then steps every agent whose round is complete,
in id order. Delivery is lossless and in order, which makes a run a deterministic function
of the agents' construction, and the reference that a lossless ROS run must reproduce.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from distopt_ros.core.agent import Agent
from distopt_ros.core.messages import BROADCAST, Message


@dataclass
class SimResult:
    """Outcome of a simulated run (arrays and counters; nothing is printed)."""

    estimates: dict[int, np.ndarray]
    iterations: dict[int, int]
    converged: bool
    rounds: int
    messages_sent: int
    messages_delivered: int
    wall_time: float
    trajectories: dict[int, np.ndarray]

    def max_error(self, optimum: np.ndarray, ids: list[int] | None = None) -> float:
        """Largest distance of an agent's estimate to ``optimum``."""
        keys = ids if ids is not None else list(self.estimates)
        return max(float(np.linalg.norm(self.estimates[i] - optimum)) for i in keys)


def simulate(agents: Mapping[int, Agent], max_rounds: int = 100_000) -> SimResult:
    """Run the agents to completion (all done, or nothing left to do) and collect the result."""
    listeners: dict[int, list[int]] = {}
    for aid, agent in agents.items():
        for sender in agent.expected:
            listeners.setdefault(sender, []).append(aid)
    order = sorted(agents)
    started = time.perf_counter()
    queue: list[Message] = [m for aid in order for m in agents[aid].start()]
    sent = len(queue)
    delivered = 0
    rounds = 0
    while rounds < max_rounds:
        for msg in queue:
            targets = listeners.get(msg.sender, []) if msg.receiver == BROADCAST else [msg.receiver]
            for t in targets:
                if t in agents and agents[t].receive(msg) is None:
                    delivered += 1
        queue = []
        stepped = False
        for aid in order:
            agent = agents[aid]
            if agent.ready():
                queue.extend(agent.step())
                stepped = True
        sent += len(queue)
        if not stepped:
            break
        rounds += 1
    return SimResult(
        estimates={aid: a.estimate().copy() for aid, a in agents.items()},
        iterations={aid: a.iteration for aid, a in agents.items()},
        converged=all(a.converged for a in agents.values()),
        rounds=rounds,
        messages_sent=sent,
        messages_delivered=delivered,
        wall_time=time.perf_counter() - started,
        trajectories={aid: np.array(a.trajectory) for aid, a in agents.items() if a.trajectory},
    )
