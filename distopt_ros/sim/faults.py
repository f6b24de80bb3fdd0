"""Scripted faults for the simulator: robots that die, restart, or get cut off and come back.

A :class:`FaultSchedule` makes the calls the ROS layer makes when its liveness module
notices something (:meth:`Agent.peer_left`, :meth:`Agent.peer_joined`), at scripted rounds,
so every fault tested over DDS is reproducible here first, bit for bit for a given seed:

* :class:`Kill`: the robot stops at round ``at``; its peers declare it gone ``detect``
  rounds later (the simulated ``neighbor_timeout``);
* :class:`Restart`: a new process of the robot (a fresh agent from the schedule's factory,
  with the next incarnation) starts at round ``at``; its peers welcome it on its first message;
* :class:`Cut`: the links between ``side`` and the other robots drop every message from
  round ``at`` until ``until``; the robots at the cut declare their peers across it gone after
  ``detect`` rounds and take them back at the heal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from distopt_ros.core.agent import Agent
from distopt_ros.core.messages import Message


@dataclass(frozen=True)
class Kill:
    """Robot ``robot`` dies at round ``at``; its peers notice ``detect`` rounds later."""

    robot: int
    at: int
    detect: int = 5


@dataclass(frozen=True)
class Restart:
    """A new process of robot ``robot`` (next incarnation, fresh state) starts at round ``at``."""

    robot: int
    at: int


@dataclass(frozen=True)
class Cut:
    """Every link between ``side`` and the rest is cut from round ``at`` to ``until``; noticed after ``detect``."""

    side: frozenset[int]
    at: int
    until: int
    detect: int = 5

    def separates(self, a: int, b: int) -> bool:
        return (a in self.side) != (b in self.side)


Fault = Kill | Restart | Cut


class FaultSchedule:
    """The faults of one run, applied round by round to the simulator's live agents.

    ``factory(robot_id)`` builds a restarted robot's fresh agent (the same construction as the
    original, as a new process would do). The schedule owns which robots are running and
    which links are cut; the simulator asks it before every delivery.
    """

    def __init__(self, faults: Iterable[Fault], factory: Callable[[int], Agent] | None = None) -> None:
        self.faults = sorted(faults, key=lambda f: f.at)
        self.factory = factory
        if any(isinstance(f, Restart) for f in self.faults) and factory is None:
            raise ValueError("a Restart needs the schedule's factory to build the new process's agent")
        self.dead: dict[int, Agent] = {}
        self.last_round = max((self._last(f) for f in self.faults), default=-1)
        self.log: list[tuple[int, str]] = []
        """(round, what happened), for tests and benchmarks."""

    @staticmethod
    def _last(f: Fault) -> int:
        if isinstance(f, Kill):
            return f.at + f.detect
        if isinstance(f, Cut):
            return f.until
        return f.at

    def pending(self, round_: int) -> bool:
        """True while some fault has yet to act (the simulator keeps going even if nobody can step)."""
        return round_ <= self.last_round

    def blocked(self, round_: int, sender: int, receiver: int) -> bool:
        """True if a message from ``sender`` to ``receiver`` cannot get through at ``round_``."""
        if sender in self.dead or receiver in self.dead:
            return True
        return any(isinstance(f, Cut) and f.at <= round_ < f.until and f.separates(sender, receiver)
                   for f in self.faults)

    def apply(self, round_: int, agents: MutableMapping[int, Agent]) -> list[Message]:
        """Make this round's faults happen on ``agents`` (changed in place); returns the messages to send."""
        out: list[Message] = []
        for f in self.faults:
            if isinstance(f, Kill):
                if f.at == round_ and f.robot in agents:
                    self.dead[f.robot] = agents.pop(f.robot)
                    self.log.append((round_, f"robot {f.robot} killed"))
                if f.at + f.detect == round_:
                    for agent in agents.values():
                        if f.robot in agent.expected:
                            agent.peer_left(f.robot)
                    self.log.append((round_, f"robot {f.robot} declared gone"))
            elif isinstance(f, Restart) and f.at == round_:
                old = self.dead.pop(f.robot, None) or agents.get(f.robot)
                new = self.factory(f.robot)  # type: ignore[misc]
                new.incarnation = (old.incarnation if old is not None else 0) + 1
                agents[f.robot] = new
                self.log.append((round_, f"robot {f.robot} restarted (incarnation {new.incarnation})"))
                out += new.start()
            elif isinstance(f, Cut):
                if f.at + f.detect == round_:
                    for i, agent in list(agents.items()):
                        for j in list(agent.membership.live_peers):
                            if f.separates(i, j):
                                agent.peer_left(j)
                    self.log.append((round_, f"cut around {sorted(f.side)} detected"))
                if f.until == round_:
                    for i, agent in list(agents.items()):
                        for j in agent.membership.departed:
                            if f.separates(i, j) and j in agents:
                                agent.peer_joined(j, agent.membership.state[j].incarnation)
                                out += agent.welcome_messages()
                    self.log.append((round_, f"cut around {sorted(f.side)} healed"))
        return out
