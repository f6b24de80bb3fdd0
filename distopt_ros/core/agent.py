"""The agent state machine every algorithm implements.

An agent says what it sends (:meth:`Agent.start`, :meth:`Agent.step` return messages),
takes what it receives (:meth:`Agent.receive`), and steps when it has what its round needs
(:meth:`Agent.ready`). Nothing here knows about time, threads or ROS: the simulator and the
ROS node drive the same object, which is why a result in one is a result in the other.

Incoming messages are checked before they can touch the state: unknown senders, wrong
receivers, wrong algorithm or dimensions, NaN/Inf, stale rounds, duplicates, messages
from too far in the future, from a departed peer or from an old incarnation of a restarted
one are refused and counted per reason; :meth:`Agent.receive` says which in a typed
:class:`~distopt_ros.core.membership.Receipt`.

Robots that leave, restart or come back are reported to the agent by its driver
(:meth:`Agent.peer_left`, :meth:`Agent.peer_joined`); its :class:`Membership` then decides
whose messages a round waits for, and each algorithm adapts its own state (or stops with a
:class:`StopReason` where it cannot, instead of converging to a wrong point).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from distopt_ros.core.membership import (
    ACCEPTED,
    AFTER_STOP,
    DONE_NOTICE,
    REDUNDANT,
    ChangeKind,
    Membership,
    Pairing,
    Receipt,
    ReceiptKind,
    StopReason,
    refused,
)
from distopt_ros.core.messages import BLOCKS, BROADCAST, Message, Tuning
from distopt_ros.core.schema import SCHEMA, ParameterError, live_parameters
from distopt_ros.core.validation import at_least


@dataclass
class AgentStats:
    """Message counters of one agent."""

    sent: int = 0
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    ignored_after_stop: int = 0
    """Valid-looking messages that arrived after this agent stopped (the stop flood's tail)."""
    done_notices: int = 0
    """Old or repeated messages accepted only for their ``done`` flag (a neighbour's final message resent)."""
    redundant: int = 0
    """Copies of rounds already held, delivered by a retransmitting transport (see ``expect_copies``)."""
    farewells: int = 0
    """Final messages resent after stopping to neighbours that evidently missed them."""


class Agent:
    """Base class of all algorithm agents (synchronous-round protocol).

    Subclasses implement :meth:`_outgoing` (messages for the current round, from the
    current state), :meth:`_update` (consume the round's messages, advance the state) and
    :meth:`estimate`. ``expected`` maps each sender to the block sizes its messages must
    have; a round is complete when every sender's message for it has arrived.
    """

    algorithm: str = ""
    future_window: int = 2
    """How many rounds ahead a message may be and still be buffered."""
    supports_async: bool = False
    """True if the algorithm tolerates missing messages and runs on its own clock."""
    speaks_first: bool = True
    """False for agents that only answer (a coordinator waiting for proposals, a bidder waiting for a price)."""

    def __init__(self, agent_id: int, dim: int, expected: dict[int, dict[str, int]],
                 max_iterations: int, record: bool = False) -> None:
        self.agent_id = int(agent_id)
        self.dim = at_least(dim, "dim", 1)
        self.wire_dim = self.dim
        """The ``dim`` stamped on messages: the size of the shared quantity (may differ from ``dim``)."""
        self.max_iterations = at_least(max_iterations, "max_iterations", 1)
        self.expected = {int(s): dict(sizes) for s, sizes in expected.items()}
        self._all_senders = tuple(self.expected)
        self._block_sizes: dict[int, tuple[int, ...]] = {}
        """Per sender, the expected size of each block in ``BLOCKS`` order (filled as senders are first heard)."""
        self.iteration = 0
        self.done = False
        self.converged = False
        self.stats = AgentStats()
        self.record = record
        self.trajectory: list[np.ndarray] = []
        self.primal_residual = float("nan")
        self.dual_residual = float("nan")
        self._inbox: dict[int, dict[int, Message]] = {}
        self._stop_next = False
        self.stopper: ToleranceStopper | None = None
        self.asynchronous = False
        self._latest: dict[int, Message] = {}
        self._fresh: set[int] = set()
        self._peer_done = False
        self._peer_certified = False
        self._final: list[Message] = []
        self._after_stop_heard: Counter[int] = Counter()
        self._owed: set[int] = set()
        self.expect_copies = False
        """Set by a transport that resends rounds on request: stale or repeated rounds are then
        expected copies, counted as ``redundant`` (reason ``redundant``) rather than as rejections."""
        self.tuning: Tuning | None = None
        """The newest swarm-wide parameter set known here (sent along with every payload once set)."""
        self.applied_tuning: Tuning | None = None
        """The one in force."""
        self.tuning_delay = 1
        """Rounds between setting a swarm-wide parameter and its taking effect: at least the graph's
        diameter, so the change reaches every robot first (the builders set diameter + 1)."""
        self.late_tunings = 0
        """Swarm-wide changes that arrived after their round (a lost payload): applied at once, late."""
        self.membership = Membership(self._all_senders)
        """Which peers are live, and their incarnations (see :meth:`peer_left`, :meth:`peer_joined`)."""
        self.incarnation = 0
        """This agent's process incarnation, stamped on its messages (a restarted robot has a larger one)."""
        self.stop_reason = StopReason.RUNNING
        self._reply: list[Message] = []
        self.loss_threshold = 0
        """Stop-counter threshold once the graph has changed (its diameter is then unknown): the builders set
        ``num_robots - 1 + stop_patience``, a bound for any connected graph on the swarm's robots."""

    # ------------------------------------------------------------------ protocol
    def start(self) -> list[Message]:
        """Messages of round 0 (before any message has been received)."""
        if self.record and not self.trajectory:
            self.trajectory.append(self.estimate().copy())
        return self._send(self._outgoing()) if self.speaks_first else []

    def receive(self, msg: Message) -> Receipt:
        """Buffer ``msg`` for its round; the :class:`Receipt` says whether it was accepted, and if not why.

        After the agent has stopped, messages are ignored (kind ``AFTER_STOP``) but not
        counted as rejections: neighbours legitimately send one last round. A neighbour that
        sends a second not-done message after that evidently missed the final one (lost
        radio packet); it is owed a resend, see :meth:`farewell`.

        A well-formed message flagged ``done`` that is stale, repeated or rounds ahead (a
        resend, or a neighbour that ran ahead on round timeouts) still certifies that the
        swarm has converged: its values are not used, only its flag, so this agent stops at
        its next step too (kind ``DONE_NOTICE``).

        A message from a larger incarnation of a peer is a restarted robot: it is welcomed
        (:meth:`peer_joined`) and its message taken.
        """
        if self.done:
            self.stats.ignored_after_stop += 1
            if msg.sender in self.expected and not msg.done:
                self._after_stop_heard[msg.sender] += 1
                if self._after_stop_heard[msg.sender] >= 2:
                    self._owed.add(msg.sender)
            farewell = self.farewell()
            return Receipt(ReceiptKind.AFTER_STOP, "after_stop", tuple(farewell)) if farewell else AFTER_STOP
        self._reply = []
        receipt = self._take(msg)
        if self._reply:  # a welcome or a catch-up: messages to send now, whatever became of this one
            receipt = Receipt(receipt.kind, receipt.reason, tuple(self._reply))
            self._reply = []
        return receipt

    def _take(self, msg: Message) -> Receipt:
        reason = self._check(msg)
        if reason in ("stale", "duplicate", "too_early") and msg.done:
            self._peer_done = True
            self._peer_certified = self._peer_certified or msg.converged_rounds > 0
            self.stats.done_notices += 1
            return DONE_NOTICE
        if reason in ("stale", "duplicate") and self.expect_copies:
            self.stats.redundant += 1
            return REDUNDANT
        if reason is not None:
            self.stats.rejected[reason] += 1
            return refused(reason)
        if msg.tuning is not None and msg.tuning.newer_than(self.tuning):
            # Forwarded with our next payloads; applied at its round, in our round numbers.
            offset = self.membership.state[msg.sender].offset
            self.tuning = msg.tuning if not offset else replace(msg.tuning, round=max(0, msg.tuning.round + offset))
        last = self._latest.get(msg.sender)
        if last is None or msg.iteration >= last.iteration:
            self._latest[msg.sender] = msg
        if self.asynchronous:
            self._fresh.add(msg.sender)
        else:
            it = msg.iteration + self.membership.state[msg.sender].offset
            got = self._inbox.get(it)
            if got is None:
                got = self._inbox[it] = {}
            got[msg.sender] = msg
        self.stats.received += 1
        return ACCEPTED

    def restate(self, to: int | None = None) -> list[Message]:
        """This round's messages again (to ``to`` only, or all): for a peer that (re)joined and waits for them."""
        out = self._outgoing()
        if to is not None:
            out = [m for m in out if m.receiver in (to, BROADCAST)]
        return self._send(out)

    def set_asynchronous(self, on: bool = True) -> None:
        """Switch to the lossy/asynchronous protocol (before :meth:`start`).

        Instead of waiting for every neighbour's message of the round, the agent keeps the
        latest message of each sender with a *fresh* flag and steps whenever its driver says
        so (random activation, a timer, or a round timeout that counts as loss), using only
        fresh messages once (docs/algorithms.md, "Conventions and message blocks").
        """
        if on and not self.supports_async:
            raise ValueError(f"{self.algorithm} does not support asynchronous/lossy operation")
        self.asynchronous = on

    def latest(self, sender: int) -> Message | None:
        """The most recent accepted message of ``sender`` (fresh or already used), in either mode.

        Synchronous rounds that time out (missing messages counted as lost) use it for the
        stop counter, so a neighbour whose final message was lost still lets the agent stop.
        """
        return self._latest.get(sender)

    def awaited(self) -> tuple[int, ...]:
        """Senders whose message the current synchronous round needs: the live peers, by default.

        A peer that rejoined counts from the first round it sent (``PeerState.since_round``).
        """
        m = self.membership
        if not m.changes:
            return self._all_senders
        return tuple(j for j in m.live_peers if m.state[j].since_round <= self.iteration)

    def missing(self) -> list[int]:
        """Awaited senders whose message for the current round has not arrived (sync protocol).

        A transport that retransmits on request asks exactly these senders again.
        """
        if self.done or self.asynchronous:
            return []
        got = self._inbox.get(self.iteration, {})
        return [s for s in self.awaited() if s not in got]

    def ready(self) -> bool:
        """True when every awaited sender's message for the current round is here."""
        if self.done:
            return False
        if self.asynchronous:
            return True
        got = self._inbox.get(self.iteration)
        awaited = self.awaited()
        if got is None:
            return not awaited
        return len(got) >= len(awaited) and all([s in got for s in awaited])  # the count: a cheap "not yet"

    def step(self) -> list[Message]:
        """Consume the current round's messages, advance one round, return what to send."""
        if self.done:
            raise RuntimeError(f"agent {self.agent_id} has stopped; it cannot step")
        if self.tuning is not self.applied_tuning:
            self._apply_due_tuning()
        if self.asynchronous:
            inbox = {s: self._latest[s] for s in sorted(self._fresh)}
            self._fresh.clear()
        else:
            inbox = self._inbox.pop(self.iteration, {})
        self._update(inbox)
        self.iteration += 1
        if self.record:
            self.trajectory.append(self.estimate().copy())
        stopped = [m for m in inbox.values() if m.done]
        flood = self._peer_done or bool(stopped)
        # A final message certifies convergence only if its counter is > 0 (the stop rule's count, or 1 from an
        # agent without one that stopped converged, such as a coordinator at its tolerance): an agent that stopped
        # at its cap sends 0, and the agents it reaches then stop too, without claiming convergence.
        certified = self._peer_certified or any([m.converged_rounds > 0 for m in stopped])
        if self._stop_next or certified:
            self.converged = True
            self.stop_reason = StopReason.CONVERGED
        if self._stop_next or flood or self.iteration >= self.max_iterations:
            self.done = True
            if not self.converged:
                self.stop_reason = StopReason.ITERATION_CAP
            if self.stopper is not None:  # what the final messages certify
                self.stopper.count = max(self.stopper.count, 1) if self.converged else 0
        out = self._outgoing()
        if self.done:
            self._inbox.clear()
            self._final = list(out)
        return self._send(out)

    def farewell(self) -> list[Message]:
        """After stopping: the final messages again, for each neighbour owed them.

        Under loss a robot's final ``done`` message can vanish; its neighbour would then
        wait (or time out round after round) for a robot that has left. Answering the
        neighbour's repeated messages with the final ones lets the stop flood finish.
        Lossless synchronous runs never owe anything, so they send exactly what they did.
        """
        if not self._owed:
            return []
        owed, self._owed = self._owed, set()
        out = [m for m in self._final if m.receiver == BROADCAST or m.receiver in owed]
        self.stats.farewells += len(out)
        return self._send(out)

    # ------------------------------------------------------------------ membership
    def peer_left(self, peer: int) -> ChangeKind:
        """``peer`` is gone (dead, or cut off): go on without it, or stop if this algorithm cannot.

        The transport decides when (the ROS liveness module after ``neighbor_timeout``, the
        simulator's fault schedule). The peer's buffered messages are dropped, rounds stop
        waiting for it and its stop counter no longer counts; the stop threshold becomes
        :attr:`loss_threshold`, since the remaining graph's diameter is not known. Then the
        algorithm's :meth:`_forget` adapts its state (edge ADMM drops the edge's dual,
        mixing methods give the edge's weight to the self-weight, ...). An algorithm that
        cannot adapt stops with ``stop_reason`` ``PEER_LOST`` (``COORDINATOR_LOST`` for a
        star's robot; ``ISOLATED`` when no neighbour is left).
        """
        if self.done or not self.membership.leave(peer):
            return ChangeKind.NO_CHANGE
        for got in self._inbox.values():
            got.pop(peer, None)
        self._fresh.discard(peer)
        self._latest.pop(peer, None)
        self._graph_changed()
        if peer < 0:  # robots of a star compute nothing without their coordinator
            return self._halt(StopReason.COORDINATOR_LOST)
        if not self._forget(peer):
            return self._halt(StopReason.PEER_LOST)
        if not self.membership.live_peers:
            return self._halt(StopReason.ISOLATED)
        return ChangeKind.ADAPTED

    def peer_joined(self, peer: int, incarnation: int = 0, since_round: int | None = None) -> ChangeKind:
        """``peer`` is back (a restarted process, or a healed link): take it into the rounds again.

        ``since_round``: the first round of the peer's that a synchronous round waits for
        (default: this agent's next round). The algorithm's :meth:`_welcome` re-creates the
        peer's share of the state, warm-started from this agent's own.
        """
        s = self.membership.state.get(peer)
        if self.done or s is None or (s.live and incarnation <= s.incarnation):
            return ChangeKind.NO_CHANGE
        if s.live:  # restarted faster than it was declared gone: its old state goes first
            self.peer_left(peer)
            if self.done:
                return ChangeKind.STOPPED
        self.membership.join(peer, incarnation, self.iteration if since_round is None else since_round)
        self._after_stop_heard.pop(peer, None)
        self._graph_changed()
        self._welcome(peer)
        if self.speaks_first or self.iteration > 0:
            self._reply.extend(self.restate(to=peer))  # it waits for this round's message from us
        return ChangeKind.ADAPTED

    def welcome_messages(self) -> list[Message]:
        """After :meth:`peer_joined` called by a driver: the messages the joined peer must get now."""
        reply, self._reply = self._reply, []
        return reply

    def _graph_changed(self) -> None:
        if self.stopper is not None:
            self.stopper.threshold = max(self.stopper.threshold, self.loss_threshold)
            self.stopper.count = 0
        self.tuning_delay = max(self.tuning_delay, self.loss_threshold)

    def _halt(self, reason: StopReason) -> ChangeKind:
        """Stop now, not converged, with ``reason`` (the status says it; no message goes out)."""
        self.done, self.converged, self.stop_reason = True, False, reason
        self._inbox.clear()
        self._final = []
        return ChangeKind.STOPPED

    def _forget(self, peer: int) -> bool:
        """Drop ``peer``'s share of the algorithm state; False if the algorithm cannot go on without it.

        Default: it cannot (coordinator forms and algorithms whose invariants need every robot).
        """
        return False

    def _welcome(self, peer: int) -> None:
        """Re-create ``peer``'s share of the state after :meth:`_forget` (default: nothing to do)."""

    # ------------------------------------------------------------------ hooks
    def _outgoing(self) -> list[Message]:
        raise NotImplementedError

    def _update(self, inbox: dict[int, Message]) -> None:
        raise NotImplementedError

    def estimate(self) -> np.ndarray:
        """The agent's current answer to the global problem."""
        raise NotImplementedError

    # ------------------------------------------------------------------ time-varying data
    def set_objective(self, objective: object) -> None:
        """Replace the local objective (a time-varying problem: a new observation of a moving target).

        The algorithm continues from its current state, a warm start: edge ADMM and gradient
        tracking then track the moving optimum with an error set by how fast it moves.
        ValueError if this algorithm has no local objective or the dimension differs.
        """
        current = getattr(self, "objective", None)
        if current is None:
            raise ValueError(f"{self.algorithm} has no local objective to replace")
        if getattr(objective, "dim", None) != current.dim:
            raise ValueError(f"objective must have dim {current.dim}, got {getattr(objective, 'dim', None)}")
        self.objective = objective

    # ------------------------------------------------------------------ live tuning
    tunes_live = True
    """False for an agent whose tunables another agent owns (a consensus ADMM robot takes rho from
    its coordinator)."""

    @property
    def tunable(self) -> tuple[str, ...]:
        """Parameters that may change while running: the schema's live list for this algorithm."""
        return live_parameters(self.algorithm) if self.tunes_live else ()

    floods_tuning = True
    """True where every robot must use the same values (the decentralized algorithms): a change is
    flooded as a :class:`Tuning` and applied everywhere at one round. False for a coordinator, the
    single holder of its parameters, which applies a change at once and broadcasts its effect."""

    def tune(self, values: dict[str, float]) -> Tuning | None:
        """Change tunable parameters of the whole swarm; ParameterError (naming one) if not allowed.

        Decentralized algorithms: the change becomes the newest :class:`Tuning`, in force on
        every robot from round ``iteration + tuning_delay`` on (returned). A coordinator
        applies it at once (returns None). Nothing changes if any value is refused.
        """
        checked = {}
        for name, value in values.items():
            if name not in self.tunable:
                raise ParameterError(f"{name} cannot change while {self.algorithm} is running; tunable: "
                                     f"{', '.join(self.tunable) or 'none'}")
            checked[name] = SCHEMA[name].check(value)
        if not self.floods_tuning:
            for name, value in checked.items():
                self._set_tunable(name, value)
            return None
        base = self.tuning.values if self.tuning is not None else self._tunable_values()
        new = tuple(float(checked.get(name, old)) for name, old in zip(self.tunable, base, strict=True))
        epoch = self.tuning.epoch + 1 if self.tuning is not None else 1
        self.tuning = Tuning(epoch, max(self.agent_id, 0), self.iteration + self.tuning_delay, new)
        return self.tuning

    def set_parameter(self, name: str, value: float) -> None:
        """:meth:`tune` with one parameter."""
        self.tune({name: value})

    def _tunable_values(self) -> tuple[float, ...]:
        return tuple(float(self._get_tunable(name)) for name in self.tunable)

    def _get_tunable(self, name: str) -> float:
        return getattr(self, name)

    def _set_tunable(self, name: str, value: float) -> None:
        setattr(self, name, value)

    def _valid_tuning(self, tuning: Tuning) -> bool:
        if len(tuning.values) != len(self.tunable):
            return False
        try:
            for name, value in zip(self.tunable, tuning.values, strict=True):
                SCHEMA[name].check(value)
        except ParameterError:
            return False
        return True

    def _apply_due_tuning(self) -> None:
        """Put the newest known tuning in force if its round has come (asynchronous agents: at once)."""
        t = self.tuning
        if t is None or (not self.asynchronous and self.iteration < t.round):
            return
        if not self.asynchronous and self.iteration > t.round:
            self.late_tunings += 1
        for name, value in zip(self.tunable, t.values, strict=True):
            self._set_tunable(name, value)
        self.applied_tuning = t

    def resync(self) -> Tuning | None:
        """Flood a swarm-wide resynchronization: the current values, a new epoch, in force at a common round.

        Algorithms whose invariant a membership change breaks restart it at that round (DIGing's tracker).
        """
        return self.tune({})

    # ------------------------------------------------------------------ helpers
    def peer_counts(self, inbox: dict[int, Message]) -> list[int] | None:
        """Every expected peer's stop counter (this round's, else its latest); None if one was never heard."""
        counts = []
        for sender in (self.membership.live_peers if self.membership.changes else self.expected):
            msg = inbox.get(sender) or self.latest(sender)
            if msg is None:
                return None
            counts.append(int(msg.converged_rounds))
        return counts

    def request_stop(self) -> None:
        """Called from :meth:`_update`: this step's messages go out flagged done, then stop."""
        self._stop_next = True

    def _message(self, receiver: int, kind: str, iteration: int | None = None, **blocks: object) -> Message:
        it = self.iteration if iteration is None else iteration
        return Message(sender=self.agent_id, receiver=receiver, iteration=it,
                       algorithm=self.algorithm, kind=kind, dim=self.wire_dim, done=self.done,
                       converged_rounds=self.stopper.count if self.stopper else int(self.converged),
                       tuning=self.tuning,
                       incarnation=self.incarnation, **blocks)  # type: ignore[arg-type]

    def _send(self, out: list[Message]) -> list[Message]:
        self.stats.sent += len(out)
        return out

    def _check(self, msg: Message) -> str | None:
        sizes = self._block_sizes.get(msg.sender)
        if sizes is None:
            if msg.sender not in self.expected:
                return "unknown_sender"
            sizes = self._block_sizes[msg.sender] = tuple(self.expected[msg.sender].get(b, 0) for b in BLOCKS)
        if msg.receiver != self.agent_id and msg.receiver != BROADCAST:
            return "wrong_receiver"
        if msg.algorithm != self.algorithm:
            return "wrong_algorithm"
        if msg.dim != self.wire_dim:
            return "wrong_dimension"
        # Unrolled over BLOCKS: this runs for every message received.
        primal, dual, consensus, aux = msg.primal, msg.dual, msg.consensus, msg.aux
        n_primal, n_dual, n_consensus, n_aux = sizes
        if primal.size != n_primal or dual.size != n_dual or consensus.size != n_consensus or aux.size != n_aux:
            return "wrong_dimension"
        if not math.isfinite(msg.rho) or (n_primal and not _finite_sum(primal)) or (
                n_dual and not _finite_sum(dual)) or (n_consensus and not _finite_sum(consensus)) or (
                n_aux and not _finite_sum(aux)):
            return "non_finite"
        if (n_primal and not _bounded(primal)) or (n_dual and not _bounded(dual)) or (
                n_consensus and not _bounded(consensus)) or (n_aux and not _bounded(aux)):
            return "out_of_range"
        if msg.tuning is not None and msg.tuning is not self.tuning and not self._valid_tuning(msg.tuning):
            return "bad_tuning"
        peer = self.membership.state[msg.sender]
        if msg.incarnation != peer.incarnation:  # checked once the message is known to be well formed
            if msg.incarnation < peer.incarnation:
                return "old_incarnation"
            if peer.incarnation or not peer.live:  # a restarted robot (first contact only records it)
                self.peer_joined(msg.sender, msg.incarnation)
            else:
                peer.incarnation = msg.incarnation
        elif not peer.live:
            return "departed"
        if self.asynchronous:
            last = self._latest.get(msg.sender)
            if last is not None and msg.iteration < last.iteration:
                return "stale"
            if last is not None and msg.iteration == last.iteration:
                return "duplicate"
            return None
        if peer.pairing is not Pairing.FIXED:  # a new or (re)joined peer: pair its rounds with ours
            self.membership.pair(msg.sender, msg.iteration, self.iteration, self.future_window)
        it = msg.iteration + peer.offset
        if it < self.iteration:
            return "stale"
        if it > self.iteration + self.future_window:
            return "too_early"
        if msg.sender in self._inbox.get(it, {}):
            return "duplicate"
        return None


def _finite_sum(v: np.ndarray) -> bool:
    """True if every entry of ``v`` is finite: a sum is finite only if every term is (NaN and Inf propagate).

    A short block is summed in Python (a numpy reduction costs more than the arithmetic).
    """
    if v.size <= 32:
        return math.isfinite(sum(v.tolist()))
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is the answer here, not a warning
        return math.isfinite(float(v.sum()))


VALUE_BOUND = 1e100
"""Largest magnitude accepted in a payload: no robot's state is near it, and such a value would overflow the
receiver's arithmetic (squares, products) into Inf within a few rounds."""


def _bounded(v: np.ndarray) -> bool:
    """True if every entry of the (finite) block ``v`` is within +-VALUE_BOUND."""
    if v.size <= 32:
        values = v.tolist()
        return max(values) <= VALUE_BOUND and min(values) >= -VALUE_BOUND
    return float(np.abs(v).max()) <= VALUE_BOUND


def vector_norm(v: np.ndarray) -> float:
    """Euclidean norm of a 1-D vector, for residuals computed every round.

    ``np.linalg.norm`` costs several times the arithmetic on the short vectors robots
    exchange; ``math.hypot`` over the entries is also safe from overflow.
    """
    return math.hypot(*v.tolist()) if v.size <= 32 else math.sqrt(np.dot(v, v))


def within_tolerance(residual: float, tolerance: float, scale: float = 1.0) -> bool:
    """``residual <= tolerance * max(1, scale)``, and False whenever either is not finite.

    A diverging agent has infinite residual *and* scale; the plain comparison would call
    that converged (``inf <= tol * inf``).
    """
    return math.isfinite(residual) and math.isfinite(scale) and residual <= tolerance * max(1.0, scale)


class ToleranceStopper:
    """Decentralized stopping rule (docs/algorithms.md, "Decentralized stopping rule"; min-consensus counter).

    Each agent keeps ``g_i = 0`` if its local criterion fails this round, otherwise
    ``1 + min_j g_j`` over the counters its neighbours sent with this round's messages.
    ``g_i >= m`` means every agent within ``m - 1`` hops met its criterion in recent rounds,
    so ``g_i >= diameter + patience`` certifies the whole swarm has been within tolerance
    for ``patience`` rounds. The agent then stops and its ``done`` flag floods the graph
    (see :meth:`Agent.step`), so neighbours never wait for a robot that has left.
    """

    def __init__(self, tolerance: float, threshold: int) -> None:
        self.tolerance = float(tolerance)
        self.threshold = at_least(threshold, "stop threshold", 1)
        self.count = 0

    def update(self, local_ok: bool, neighbour_counts: Iterable[int] | None) -> bool:
        """Advance the counter; True when the agent should stop.

        ``neighbour_counts`` is None while some neighbour has never been heard from: then
        nothing is known about it and the counter restarts.
        """
        counts = None if neighbour_counts is None else list(neighbour_counts)
        if self.tolerance <= 0 or not local_ok or counts is None:
            self.count = 0
            return False
        self.count = min(1 + (min(counts) if counts else self.threshold), 1_000_000)
        return self.count >= self.threshold
