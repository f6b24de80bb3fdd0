"""Who is in the swarm: typed receive results and the membership an agent consults.

Robots die, restart and get cut off. The transport layer notices (the ROS liveness module,
or the simulator's fault schedule) and tells the agent; the agent consults its
:class:`Membership` to know whose messages a round waits for, whose stop counters count, and
which incarnation of a restarted robot it is talking to. Nothing here knows about time or
ROS: a fault scripted in the simulator drives exactly the calls the ROS node makes.

:class:`Receipt` is what :meth:`Agent.receive <distopt_ros.core.agent.Agent.receive>`
returns: a kind (accepted, refused, a redundant copy, after the agent stopped, a stop notice)
and, for refusals, the reason counted in the statistics. Drivers branch on the kind, never on
a reason string.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ReceiptKind(enum.Enum):
    """What became of a received message."""

    ACCEPTED = "accepted"
    """Buffered for its round (or as the sender's latest, asynchronously)."""
    REFUSED = "refused"
    """Failed a check; ``Receipt.reason`` names which (counted in ``AgentStats.rejected``)."""
    REDUNDANT = "redundant"
    """A copy of a round already held, sent again by a retransmitting transport."""
    AFTER_STOP = "after_stop"
    """The agent has stopped (the reply resends its final round to a neighbour that evidently missed it)."""
    DONE_NOTICE = "done_notice"
    """Not usable for its values, but its ``done`` flag certified the stop: the agent stops at its next step."""


@dataclass(frozen=True)
class Receipt:
    """Result of :meth:`Agent.receive`: the kind, the refusal reason where there is one, and the reply.

    ``reply`` holds messages the driver must send now: the final round again for a neighbour
    that missed it (after the stop), or this round's messages for a peer that just (re)joined
    or after catching up with a swarm that is rounds ahead. Drivers send it whatever the kind.
    """

    kind: ReceiptKind
    reason: str = ""
    reply: tuple = ()

    @property
    def accepted(self) -> bool:
        """True if the message's values will be used (or its stop flag counted)."""
        return self.kind in (ReceiptKind.ACCEPTED, ReceiptKind.DONE_NOTICE)


ACCEPTED = Receipt(ReceiptKind.ACCEPTED)
REDUNDANT = Receipt(ReceiptKind.REDUNDANT, "redundant")
AFTER_STOP = Receipt(ReceiptKind.AFTER_STOP, "after_stop")
DONE_NOTICE = Receipt(ReceiptKind.DONE_NOTICE)
_REFUSALS: dict[str, Receipt] = {}


def refused(reason: str) -> Receipt:
    """The (shared) refusal receipt for ``reason``."""
    receipt = _REFUSALS.get(reason)
    if receipt is None:
        receipt = _REFUSALS[reason] = Receipt(ReceiptKind.REFUSED, reason)
    return receipt


class StopReason(enum.Enum):
    """Why an agent stopped; ``RUNNING`` while it has not."""

    RUNNING = "running"
    CONVERGED = "converged"
    """The decentralized stopping rule (or the coordinator) certified convergence."""
    ITERATION_CAP = "iteration_cap"
    """``max_iterations`` reached without the certificate."""
    PEER_LOST = "peer_lost"
    """A peer left and this algorithm cannot go on without it (it would converge to a wrong point)."""
    COORDINATOR_LOST = "coordinator_lost"
    """The coordinator of a star-form algorithm is gone: nothing can be computed without it."""
    ISOLATED = "isolated"
    """Every neighbour left: this robot alone cannot take part in a consensus."""


class ChangeKind(enum.Enum):
    """What a membership change did to the agent."""

    ADAPTED = "adapted"
    """The algorithm goes on with the remaining peers, towards their optimum."""
    STOPPED = "stopped"
    """The agent stopped with ``Agent.stop_reason`` saying why."""
    NO_CHANGE = "no_change"
    """Nothing to do (the peer was already gone, or already back)."""


class Pairing(enum.Enum):
    """How the next message of a peer fixes the pairing of its round numbers with this agent's."""

    FIXED = "fixed"
    """Paired: the peer's round ``r`` is this agent's round ``r + offset``."""
    FIRST = "first"
    """A new process: paired with the same round numbers, unless the first message is beyond the buffering
    window (a swarm that has been running without this agent): then it is paired with this agent's round."""
    JOIN = "join"
    """A peer just (re)joined: its next message is paired with this agent's current round."""


@dataclass
class PeerState:
    """What an agent knows about one peer."""

    live: bool = True
    incarnation: int = 0
    """The peer's process incarnation (0 until heard from): a larger one is a restarted robot."""
    since_round: int = 0
    """First round of this agent's whose round waits for the peer (a rejoined peer: from its rejoining)."""
    offset: int = 0
    """Synchronous rounds: the peer's round ``r`` counts as this agent's round ``r + offset``. Rounds only
    label messages, so a robot that restarted at round 0, or two sides of a healed partition, are lined
    up by pairing each edge's rounds where they meet again; each edge still carries one message per round."""
    pairing: Pairing = Pairing.FIRST
    warm: bool = False
    """The peer's first payload came from a swarm that ran without this (new) agent: the algorithm may take
    its values as its starting point (a warm start from the neighbours) instead of blending them in."""


@dataclass
class Membership:
    """The peers of one agent and whether each is live, with their incarnations.

    ``peers`` are all the senders the agent was built to hear (its neighbours, or a star's
    robots/coordinator). ``live_peers`` is what a round waits for. A departure or a rejoin is
    recorded here by :meth:`Agent.peer_left` / :meth:`Agent.peer_joined`, which also adapt
    the algorithm's state.
    """

    peers: tuple[int, ...]
    state: dict[int, PeerState] = field(default_factory=dict)
    changes: int = 0
    """Departures and rejoins so far."""

    def __post_init__(self) -> None:
        for j in self.peers:
            self.state.setdefault(j, PeerState())
        self._live = tuple(j for j in self.peers if self.state[j].live)
        self.unpaired = len(self.peers)
        """Peers whose round pairing is not yet fixed (checked only while > 0: the common case costs nothing)."""

    def pair(self, peer: int, their_round: int, my_round: int, window: int) -> int:
        """Fix ``peer``'s pairing from its first message (round ``their_round``); returns the offset."""
        s = self.state[peer]
        if s.pairing is Pairing.JOIN or (s.pairing is Pairing.FIRST and their_round - my_round > window):
            s.offset = my_round - their_round
            s.warm = s.pairing is Pairing.FIRST
        s.pairing = Pairing.FIXED
        self.unpaired = sum(st.pairing is not Pairing.FIXED for st in self.state.values())
        return s.offset

    @property
    def live_peers(self) -> tuple[int, ...]:
        return self._live

    @property
    def departed(self) -> tuple[int, ...]:
        return tuple(j for j in self.peers if not self.state[j].live)

    def is_live(self, peer: int) -> bool:
        s = self.state.get(peer)
        return s is not None and s.live

    def leave(self, peer: int) -> bool:
        """Record ``peer`` as gone; False if it already was (or is not a peer)."""
        s = self.state.get(peer)
        if s is None or not s.live:
            return False
        s.live = False
        self.changes += 1
        self._live = tuple(j for j in self.peers if self.state[j].live)
        return True

    def join(self, peer: int, incarnation: int, since_round: int) -> bool:
        """Record ``peer`` (incarnation ``incarnation``) as live again from ``since_round``; False if not a peer."""
        s = self.state.get(peer)
        if s is None:
            return False
        s.live, s.incarnation, s.since_round = True, max(s.incarnation, int(incarnation)), int(since_round)
        s.offset, s.pairing = 0, Pairing.JOIN
        self.unpaired += 1
        self.changes += 1
        self._live = tuple(j for j in self.peers if self.state[j].live)
        return True
