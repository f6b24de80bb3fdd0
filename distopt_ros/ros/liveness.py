"""Liveness of a node's peers: heartbeats in, "gone" and "back" out.

Every node publishes its status every ``status_period`` seconds, and that status is its
heartbeat; an accepted algorithm payload counts too. A peer silent for ``neighbor_timeout``
seconds is declared gone (a killed process, a dead battery, a cut radio link); a gone peer
heard again is back, and one heard with a larger incarnation is a new process. The node
then tells its agent (:meth:`Agent.peer_left`, :meth:`Agent.peer_joined`), which is the
same call the simulator's fault schedule makes.

Heartbeats are used rather than DDS liveliness leases because they carry what the agent
needs (the incarnation of the process behind them) and behave the same on every RMW.
Time is passed in, so the bookkeeping is tested without a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class PeerEvent(enum.Enum):
    """What a heartbeat told about its peer."""

    ALIVE = "alive"
    """Nothing new."""
    BACK = "back"
    """A peer declared gone is heard again, same process (a healed link)."""
    RESTARTED = "restarted"
    """A new process of the peer (a larger incarnation)."""
    OLD = "old"
    """A heartbeat of an older incarnation than the one already known (a stale sample): ignored."""


@dataclass
class _Peer:
    last: float
    incarnation: int = 0
    gone: bool = False


class Liveness:
    """Last-heard times and incarnations of ``peers``; ``timeout`` 0 disables the "gone" verdict."""

    def __init__(self, peers: Iterable[int], timeout: float, now: float) -> None:
        self.timeout = float(timeout)
        self._peers = {int(j): _Peer(now) for j in peers}

    def restart_clock(self, now: float) -> None:
        """Start counting from ``now`` (when the node starts its rounds: start-up is not silence)."""
        for p in self._peers.values():
            p.last = now

    def heard(self, peer: int, incarnation: int, now: float) -> PeerEvent:
        """A heartbeat (or payload) from ``peer`` of process ``incarnation`` at time ``now``."""
        p = self._peers.get(peer)
        if p is None:
            return PeerEvent.ALIVE
        if incarnation < p.incarnation:
            return PeerEvent.OLD
        event = PeerEvent.ALIVE
        if p.incarnation and incarnation > p.incarnation:
            event = PeerEvent.RESTARTED
        elif p.gone:
            event = PeerEvent.BACK
        p.last, p.incarnation, p.gone = now, incarnation, False
        return event

    def expired(self, now: float) -> list[int]:
        """Peers silent for more than ``timeout`` seconds, newly declared gone (each reported once)."""
        if self.timeout <= 0:
            return []
        out = [j for j, p in self._peers.items() if not p.gone and now - p.last > self.timeout]
        for j in out:
            self._peers[j].gone = True
        return out

    def never_heard(self, peer: int) -> bool:
        """True if no heartbeat or payload of ``peer`` has arrived yet."""
        return self._peers[peer].incarnation == 0

    def silence(self, peer: int, now: float) -> float:
        """Seconds since ``peer`` was last heard."""
        return now - self._peers[peer].last

    @property
    def gone(self) -> list[int]:
        return sorted(j for j, p in self._peers.items() if p.gone)
