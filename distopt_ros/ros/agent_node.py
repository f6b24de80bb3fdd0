"""The rclpy node that hosts one core agent: the thin adapter between an agent and DDS.

It wires the agent's outbox to publishers and its inbox to subscriptions, waits until
every peer endpoint is discovered before the first send (a message sent to nobody would
be lost for good in a synchronous round), steps the agent whenever its round is complete,
and reports progress on a status topic. Invalid wire messages are counted per reason and
logged at a throttled rate; they never reach the agent's state.

The radio is modelled here with the simulator's own :class:`NetworkModel` (seeded per
robot): loss is decided on arrival, per link (so a broadcast can reach one neighbour and
not another), latency delays the publish, and in ``async`` mode a timer offers the agent a
wake-up every ``step_period`` that it takes with ``activation_probability``. In ``sync``
mode a ``round_timeout`` decides what happens to a round whose messages are late
(``round_timeout_action``): ``skip`` steps without them (counted as lost) for algorithms that
tolerate missing messages (edge ADMM, ATG, DGD, DIGing, constraint-coupled); ``retransmit`` keeps the
round discipline of the algorithms that do not (coordinator forms, RC-ALADIN, FedAvg, price):
the robot asks each missing sender again (a ``nack`` payload on the same topics) every
``round_timeout`` until the round is complete, so the iterates equal a lossless run and only
the wall time pays for the loss. Without a timeout a lossy link would stall a round forever,
so that combination is refused; so is loss on a digraph (no reverse link to ask on).

Peers that die, restart or get cut off are noticed by :mod:`distopt_ros.ros.liveness` from
the status heartbeats (``neighbor_timeout``) and reported to the agent, which adapts or stops
with a status; each process stamps its payloads with its incarnation, so a restarted robot's
rounds are told from its old process's.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import JumpThreshold
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher

from distopt_ros.core.agent import Agent
from distopt_ros.core.membership import ChangeKind, Pairing, ReceiptKind, StopReason
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.network import NetworkModel
from distopt_ros.core.schema import ROS_BUILTIN, SCHEMA, ParameterError, check_transport
from distopt_ros.msg import RobotStatus
from distopt_ros.ros.exit_codes import EXIT_NOT_CONVERGED, EXIT_OK, EXIT_PEER_LOST
from distopt_ros.ros.liveness import Liveness, PeerEvent
from distopt_ros.ros.qos import apply_preset, status_qos, swarm_qos

LIVE_TRANSPORT = tuple(p.name for p in SCHEMA.values() if "*" in p.live)
"""Per-robot parameters that can change while running (the radio rates)."""
EXIT_LINGER = 1.0
"""Seconds a stopped robot stays up before it exits (farewells, last status)."""
EXIT_WAIT_FOR_MONITOR = 10.0
"""Further seconds it waits for a status subscriber (a monitor) before it exits without one."""
LAGGING_WINDOW = 100
"""Rounds ahead a message may be and still be buffered when sync rounds time out."""
NACK = "nack"
"""Message kind of a retransmission request: "send me your round ``iteration`` again"."""
HISTORY_ROUNDS = 8
"""Rounds of sent messages kept to answer retransmission requests."""
INCARNATION_SLACK_US = 86_400 * 10**6
"""An incarnation is a process start time in microseconds: one more than a day ahead of this clock is forged."""


class AgentNode(Node):
    """Base of robot and coordinator nodes: start barrier, step loop, status, rejections."""

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.agent: Agent | None = None
        self.started = False
        self.transport_rejections: Counter[str] = Counter()
        self._last_seq: dict[tuple[str, int], int] = {}
        self._seq = 0
        self._barrier: list[tuple[Publisher, list[str]]] = []
        self._subs: list[Any] = []
        self.out_topics: list[str] = []
        """Fully qualified algorithm topics this node publishes (for monitors and tests)."""
        self._status_pub = self.create_publisher(RobotStatus, "status", status_qos())
        self.on_done: Callable[[AgentNode], None] | None = None
        self.messages_lost = 0
        self.retransmitted = 0
        self.retransmit_requests = 0
        self.rounds_stalled = 0
        self._last_step_time = None
        self._last_request = None
        self._stalled_round = -1
        self._history: dict[int, list[Message]] = {}
        self._delayed: list[Any] = []
        self._syncing = False
        self._shown_tuning = None
        self._own_tuning = None
        self.keep_alive = False
        self.exit_code: int | None = None
        """Set once this node's job is done (see entry.run_node); None while it runs."""
        # Stamps read the system clock directly unless simulated time (use_sim_time) drives the
        # node clock; rclpy's Clock.now() costs about as much as the rest of a small send.
        clock = self.get_clock()
        self._sim_time = clock.ros_time_is_active
        self._clock_switch = clock.create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=None, on_clock_change=True),
            post_callback=self._on_clock_change)

    # ------------------------------------------------------------------ wiring
    def _configure_transport(self, transport: dict[str, Any], seed: int) -> None:
        """QoS, radio model and execution mode from the (schema-checked) transport parameters."""
        t = apply_preset(transport)
        agent = self.agent
        check_transport(t, agent.supports_async, self._directed(), agent.algorithm)
        self.qos = swarm_qos(t["qos_reliability"], t["qos_depth"], t["qos_durability"],
                             t["qos_deadline_ms"], t["qos_lifespan_ms"])
        self.startup_timeout = float(t["startup_timeout"])
        self.start_without_missing = bool(t["start_without_missing"])
        self._absent: set[str] = set()
        """Namespaces of peers this robot started without (``start_without_missing``): the start barrier skips them."""
        self.incarnation = time.time_ns() // 1000  # a restarted process is a later one
        agent.incarnation = self.incarnation
        self._incarnations: dict[int, int] = {}
        self._back_since: dict[int, int] = {}
        """Per peer taken back after a cut: the stamp (ns, its clock) of the heartbeat that brought it back."""
        self.neighbor_timeout = float(t["neighbor_timeout"])
        self.liveness = Liveness(agent.expected, self.neighbor_timeout, time.monotonic())
        if self.neighbor_timeout > 0:
            self.create_timer(min(0.25, self.neighbor_timeout / 4), self._check_liveness)
        per_robot_seed = seed * 100_003 + (agent.agent_id % 100_003)
        self.network = NetworkModel(loss=t["loss"], loss_probability=t["loss_probability"],
                                    burst_length=t["burst_length"],
                                    activation_probability=t["activation_probability"], seed=per_robot_seed)
        self.latency_s = float(t["latency_ms"]) / 1000.0
        self.round_timeout = float(t["round_timeout"])
        self.round_period = float(t["round_period"])
        self._timed = self.round_timeout > 0 or self.round_period > 0
        self.asynchronous = t["execution_mode"] == "async"
        self.keep_alive = bool(transport.get("keep_alive", False))
        action = t["round_timeout_action"]
        if action == "auto":
            action = "skip" if agent.supports_async else "retransmit"
        self.retransmit = action == "retransmit" and self.round_timeout > 0
        agent.expect_copies = self.retransmit
        if self.round_timeout > 0:
            # A robot that fell behind on timeouts must buffer its neighbours' later rounds
            # to catch up; refusing them as too early would turn every message into a loss.
            agent.future_window = max(agent.future_window, LAGGING_WINDOW)
        if self.asynchronous:
            agent.set_asynchronous(True)
            self._step_timer = self.create_timer(float(t["step_period"]), self._async_tick)
        self._start_time = self.get_clock().now()
        self._poll = self.create_timer(0.02, self._tick)
        self._status_timer = self.create_timer(float(t["status_period"]), self.publish_status)
        self._transport = t
        self.add_pre_set_parameters_callback(self._as_schema_types)
        self.add_on_set_parameters_callback(self._check_live)
        self.add_post_set_parameters_callback(self._apply_live)

    def _directed(self) -> bool:
        config = getattr(self, "config", None)
        return config is not None and config.transport == "digraph"

    # ------------------------------------------------------------------ live re-tuning
    # The set_parameters_callback pattern of ROS 2: convert (pre-set), validate (on-set), apply
    # (post-set). A refused batch changes nothing; an accepted one is applied as a whole.
    def _as_schema_types(self, params: list[Parameter]) -> list[Parameter]:
        """``ros2 param set ... rho 2`` sends an integer: store it as the float the schema declares."""
        out = []
        for p in params:
            spec = SCHEMA.get(p.name)
            if spec is not None and spec.type is float and p.type_ == Parameter.Type.INTEGER:
                p = Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            out.append(p)
        return out

    def _check_live(self, params: list[Parameter]) -> SetParametersResult:
        """Validate a change while running: only live parameters, each value by the schema."""
        if self._syncing:
            return SetParametersResult(successful=True)
        agent = self.agent
        live = (*agent.tunable, *LIVE_TRANSPORT)
        transport = dict(self._transport)
        for p in params:
            if not self.has_parameter(p.name) or p.name in ROS_BUILTIN:
                continue  # being declared (a subclass's own parameters), or rclpy's
            spec = SCHEMA.get(p.name)
            if spec is None:
                continue
            if p.name not in live:
                where = (f"{p.name} of {agent.algorithm} is set on the coordinator"
                         if spec.is_live(agent.algorithm) and "*" not in spec.live else f"{p.name} is read at start-up")
                return _refuse(f"{where}; tunable while running here: {', '.join(live)}")
            try:
                transport[p.name] = spec.check(p.value)
                if p.name == "activation_probability" and not self.asynchronous:
                    return _refuse("activation_probability applies in execution_mode async only; this robot runs "
                                   "sync (the value would have no effect)")
                if p.name in LIVE_TRANSPORT:
                    check_transport(transport, agent.supports_async, self._directed(), agent.algorithm)
            except ParameterError as exc:
                return _refuse(str(exc))
        return SetParametersResult(successful=True)

    def _apply_live(self, params: list[Parameter]) -> None:
        """Apply an accepted change: agent tunables swarm-wide (a Tuning), radio rates on this robot."""
        if self._syncing:
            return
        agent = self.agent
        tunables = {p.name: p.value for p in params if p.name in agent.tunable}
        if tunables:
            tuning = agent.tune(tunables)
            when = f"on every robot from round {tuning.round}" if tuning is not None else "now"
            self.get_logger().info(f"re-tuned {_text(tunables)} {when} (set here at iteration {agent.iteration})")
            self._own_tuning = tuning  # its values are this node's parameters already
        for p in params:
            if p.name in LIVE_TRANSPORT:
                self._transport[p.name] = float(p.value)
                self.network.set_rate(p.name, float(p.value))
                self.get_logger().info(f"re-tuned {p.name}={p.value} on this robot")

    def _show_tuning(self) -> None:
        """A change set on another robot is in force here: show it in this node's parameters too."""
        tuning = self._shown_tuning = self.agent.applied_tuning
        if tuning is None or tuning is self._own_tuning:
            return
        values = dict(zip(self.agent.tunable, tuning.values, strict=True))
        self._syncing = True
        try:
            self.set_parameters([Parameter(k, Parameter.Type.DOUBLE, v) for k, v in values.items()])
        finally:
            self._syncing = False
        self.get_logger().info(f"re-tuned {_text(values)} at round {tuning.round} "
                               f"(set on robot {tuning.origin}, epoch {tuning.epoch})")

    def _publisher(self, msg_type: type, topic: str, listeners: list[str]) -> Publisher:
        """An algorithm publisher; the first round waits until every node in ``listeners`` subscribes.

        ``listeners`` are the namespaces of the peer nodes that must receive this topic. They
        are checked by identity, not counted: a recorder (``ros2 bag record``) or a monitor on
        the topic must not let a robot start before the neighbour it talks to is listening.
        """
        pub = self.create_publisher(msg_type, topic, self.qos)
        self._barrier.append((pub, sorted(listeners)))
        self.out_topics.append(pub.topic_name)
        return pub

    def _subscribe(self, msg_type: type, topic: str, convert: Callable[[Any], Message],
                   ours: Callable[[Any], bool] | None = None) -> None:
        """Take ``topic``'s payloads; ``ours``: on a topic shared by several receivers, which are for this node
        (the others are skipped unseen, neither counted nor refused)."""
        def callback(wire: Any) -> None:
            if ours is None or ours(wire):
                self._on_wire(topic, wire, convert)

        self._subs.append(self.create_subscription(msg_type, topic, callback, self.qos))

    # ------------------------------------------------------------------ runtime
    def _tick(self) -> None:
        if not self.started:
            if self.can_start() and all(self._listening(pub, [n for n in ns if n not in self._absent])
                                        for pub, ns in self._barrier) and all(
                s.get_publisher_count() >= 1 for s in self._subs if s.topic_name.rsplit("/", 1)[0] not in self._absent
            ):
                self.started = True
                self.liveness.restart_clock(time.monotonic())
                self._last_step_time = self.get_clock().now()
                self._emit(self.agent.start())
                if not self.asynchronous:  # an asynchronous agent is always "ready": only its timer steps it
                    self._advance()
                if self.asynchronous or (self.round_timeout <= 0 and self.round_period <= 0):
                    # Nothing left for the poll: arrivals step a synchronous agent, the step timer an async one.
                    # Destroyed, not cancelled: a cancelled timer still costs every executor wait.
                    self.destroy_timer(self._poll)
            elif (self.get_clock().now() - self._start_time).nanoseconds > self.startup_timeout * 1e9:
                if self.start_without_missing and not self._absent and self._start_without_missing():
                    return
                self.get_logger().warning(
                    f"still waiting after startup_timeout={self.startup_timeout}s for: "
                    + "; ".join(self.waiting_for_peers())
                    + ". Check that every peer runs with the same ROS_DOMAIN_ID and RMW, that "
                      "ROS_AUTOMATIC_DISCOVERY_RANGE lets them meet (LOCALHOST keeps DDS on one host; SUBNET "
                      "or SYSTEM_DEFAULT across hosts), and that namespaces match (robot_<i> under one parent)",
                    throttle_duration_sec=self.startup_timeout)
            return
        if self.asynchronous:
            return
        self._advance()
        agent = self.agent
        if self.round_timeout > 0 and not agent.done and not agent.ready():
            now = self.get_clock().now()
            waited = (now - self._last_step_time).nanoseconds / 1e9
            if waited <= self.round_timeout:
                return
            if not self.retransmit:
                self._step_once()  # what has not arrived by now counts as lost
            elif self._last_request is None or (now - self._last_request).nanoseconds / 1e9 > self.round_timeout:
                self._request_missing(now)

    def _request_missing(self, now: Any) -> None:
        """Round discipline under loss: ask every missing sender for this round's message again."""
        agent = self.agent
        self._last_request = now
        if self._stalled_round != agent.iteration:
            self._stalled_round = agent.iteration
            self.rounds_stalled += 1
        missing = agent.missing()
        if not missing:
            return
        if agent.agent_id == COORDINATOR:  # one broadcast naming the robots it waits for
            requests = [Message(sender=COORDINATOR, receiver=BROADCAST, iteration=agent.iteration,
                                algorithm=agent.algorithm, kind=NACK, dim=agent.wire_dim, aux=missing,
                                incarnation=self.incarnation)]
        else:
            requests = [Message(sender=agent.agent_id, receiver=j, iteration=agent.iteration,
                                algorithm=agent.algorithm, kind=NACK, dim=agent.wire_dim,
                                incarnation=self.incarnation) for j in missing]
        self.retransmit_requests += len(missing)
        self._emit(requests, keep=False)

    def _answer_request(self, topic: str, msg: Message) -> None:
        """Resend what we sent ``msg.sender`` for round ``msg.iteration`` (if it was meant for us)."""
        agent = self.agent
        me = agent.agent_id
        if msg.sender not in agent.expected:
            self._reject(topic, "unknown_sender")
            return
        if not np.all(np.isfinite(msg.aux)):
            self._reject(topic, "non_finite")
            return
        meant = me in msg.aux.astype(int).tolist() if msg.sender == COORDINATOR else msg.receiver == me
        if not meant:
            return  # a request to another neighbour on a shared broadcast topic
        out = [m for m in self._history.get(msg.iteration, []) if m.receiver in (msg.sender, BROADCAST)]
        self.retransmitted += len(out)
        self._emit(out, keep=False)

    def _listening(self, pub: Publisher, namespaces: list[str]) -> bool:
        if pub.get_subscription_count() < len(namespaces):
            return False
        present = {info.node_namespace for info in self.get_subscriptions_info_by_topic(pub.topic_name)}
        return all(ns in present for ns in namespaces)

    def waiting_for_peers(self) -> list[str]:
        """What the start barrier still waits for, by peer and topic (logged when start-up takes too long)."""
        out = []
        for pub, namespaces in self._barrier:
            present = {info.node_namespace for info in self.get_subscriptions_info_by_topic(pub.topic_name)}
            absent = [ns for ns in namespaces if ns not in present]
            if absent:
                out.append(f"{', '.join(absent)} to subscribe to {pub.topic_name}")
        for sub in self._subs:
            if sub.get_publisher_count() < 1:
                out.append(f"a publisher on {sub.topic_name}")
        return out + self.waiting_for()

    def waiting_for(self) -> list[str]:
        """A subclass's own start conditions not yet met, in words (see :meth:`can_start`)."""
        return []

    def peer_namespace(self, peer: int) -> str:
        """The namespace of ``peer``'s node (its topics live under it)."""
        from distopt_ros.ros.robot_node import parent_namespace

        parent = parent_namespace(self.get_namespace())
        return f"{parent}/coordinator" if peer == COORDINATOR else f"{parent}/robot_{peer}"

    def _start_without_missing(self) -> bool:
        """After startup_timeout: go on without the peers never heard from (they join when they appear).

        False (keep waiting) if every peer is missing: a robot alone has nothing to compute.
        """
        missing = [j for j in self.agent.expected if self.liveness.never_heard(j)]
        if not missing or len(missing) == len(self.agent.expected):
            return False
        for j in missing:
            self.agent.peer_left(j)
            self._absent.add(self.peer_namespace(j))
        self.get_logger().warning(
            f"starting without {', '.join(self.peer_name(j) for j in missing)}: not heard within startup_timeout="
            f"{self.startup_timeout}s (start_without_missing); taken in when they appear")
        return True

    def can_start(self) -> bool:
        """Extra start condition of a subclass (e.g. a first observation); peers are checked separately."""
        return True

    def _async_tick(self) -> None:
        """Asynchronous mode: a wake-up chance; an awake agent steps with what has arrived."""
        if self.started and not self.agent.done and self.network.active(self.agent.agent_id):
            self._step_once()

    def _step_once(self) -> None:
        was_done = self.agent.done
        self._emit(self.agent.step())
        self._last_step_time = self.get_clock().now()
        self._after_step(was_done)

    def _on_wire(self, topic: str, wire: Any, convert: Callable[[Any], Message]) -> None:
        # Sequence numbers are tracked per (topic, sender, incarnation) and advanced only by an accepted
        # message, so a malformed or forged payload cannot push the counter ahead and make the genuine
        # sender's next messages look like replays, and a restarted process starts its own sequence.
        sender, incarnation = int(getattr(wire, "sender_id", COORDINATOR)), int(getattr(wire, "incarnation", 0))
        if incarnation < self._incarnations.get(sender, 0):
            self._reject(topic, "old_incarnation")
            return
        if incarnation > time.time_ns() // 1000 + INCARNATION_SLACK_US:
            self._reject(topic, "future_incarnation")
            return
        key = (topic, sender, incarnation)
        seq = int(getattr(wire, "seq", 0))
        if seq <= self._last_seq.get(key, 0):
            self._reject(topic, "duplicate_seq")
            return
        try:
            msg = convert(wire)
        except (ValueError, TypeError) as exc:
            self._reject(topic, f"malformed: {exc}"[:80])
            return
        if self.network.drop(msg.sender, self.agent.agent_id):
            self.messages_lost += 1  # the modelled radio lost it
            return
        if self._back_since and msg.sender in self._back_since and self._sent_before_back(msg.sender, wire):
            self._reject(topic, "before_rejoin")
            return
        if msg.kind == NACK:
            self._last_seq[key] = seq
            self._answer_request(topic, msg)
            return
        receipt = self.agent.receive(msg)
        self._emit(list(receipt.reply))  # a farewell, a welcome, or this round after catching up
        if receipt.kind is ReceiptKind.REFUSED:
            self.get_logger().warning(
                f"rejected message on {topic} (iteration {msg.iteration}): {receipt.reason}",
                throttle_duration_sec=5.0)
            return
        if not receipt.accepted:
            return  # after our stop, or a resent round someone else asked for
        self._last_seq[key] = seq
        self._incarnations[msg.sender] = incarnation
        if self.liveness.heard(msg.sender, incarnation, time.monotonic()) is PeerEvent.RESTARTED:
            self.get_logger().info(f"{self.peer_name(msg.sender)} restarted (a new process); taken back in at its "
                                   f"round {msg.iteration}")
        if self.started and not self.asynchronous:
            self._advance()

    # ------------------------------------------------------------------ liveness
    def peer_name(self, peer: int) -> str:
        return "the coordinator" if peer == COORDINATOR else f"robot {peer}"

    def _watch_peers(self, topics: dict[int, str]) -> None:
        """Subscribe to each peer's status topic: its heartbeat (and, for robots, its start-up handshake)."""
        for peer, topic in topics.items():
            self.create_subscription(RobotStatus, topic, lambda m, j=peer: self._on_peer_status(j, m), status_qos())

    def _on_peer_status(self, peer: int, status: RobotStatus) -> None:
        """A peer's heartbeat: it is alive; a peer declared gone that is heard again is taken back."""
        incarnation = int(status.incarnation)
        if incarnation < self._incarnations.get(peer, 0):
            return  # the last status of a process that has been replaced
        event = self.liveness.heard(peer, incarnation, time.monotonic())
        if event is not PeerEvent.BACK or not self.started or self.agent.done:
            return  # a restarted process is taken in by its first payload (its rounds say where it is)
        if self.agent.peer_joined(peer, incarnation) is ChangeKind.ADAPTED:
            self._back_since[peer] = status.header.stamp.sec * 10**9 + status.header.stamp.nanosec
            self.get_logger().info(f"{self.peer_name(peer)} is back (heard again); taken back into the rounds")
            self._emit(self.agent.welcome_messages())
            self.publish_status()
            if not self.asynchronous:
                self._advance()

    def _sent_before_back(self, peer: int, wire: Any) -> bool:
        """A payload the peer sent before the heartbeat that brought it back (held by a reliable writer through
        the cut): its rounds belong to before the cut and must not pair the rejoined edge's rounds."""
        if self.agent.membership.state[peer].pairing is Pairing.FIXED:
            del self._back_since[peer]  # paired on a payload sent after the heal: nothing old can pair it now
            return False
        stamp = wire.header.stamp
        return stamp.sec * 10**9 + stamp.nanosec < self._back_since[peer]

    def _check_liveness(self) -> None:
        """Peers silent for neighbor_timeout are gone: the agent goes on without them, or stops and says why."""
        agent = self.agent
        if not self.started or agent.done:
            return
        now = time.monotonic()
        for peer in self.liveness.expired(now):
            was_done = agent.done
            change = agent.peer_left(peer)
            gone = (f"{self.peer_name(peer)} is gone: nothing heard for {self.liveness.silence(peer, now):.1f} s "
                    f"(neighbor_timeout {self.neighbor_timeout} s)")
            if change is ChangeKind.ADAPTED:
                live = ", ".join(self.peer_name(j) for j in agent.membership.live_peers)
                self.get_logger().warning(f"{gone}; going on with {live}")
            elif change is ChangeKind.STOPPED:
                self.get_logger().error(f"{gone}; stopping ({agent.stop_reason.value})")
            self.publish_status()
            if not agent.done and self.started and not self.asynchronous:
                self._advance()
            self._after_step(was_done)

    def _reject(self, topic: str, reason: str) -> None:
        self.transport_rejections[reason] += 1
        self.get_logger().warning(f"rejected message on {topic}: {reason}", throttle_duration_sec=5.0)

    def _advance(self) -> None:
        agent = self.agent
        was_done = agent.done
        while agent.ready():
            if self.round_period > 0 and self._last_step_time is not None and \
                    (self.get_clock().now() - self._last_step_time).nanoseconds / 1e9 < self.round_period:
                break  # paced: the poll timer steps it when the period is over
            self._emit(agent.step())
            if self._timed:  # only round timeouts and pacing read it: a clock read per step is not free
                self._last_step_time = self.get_clock().now()
        self._after_step(was_done)

    def _after_step(self, was_done: bool) -> None:
        agent = self.agent
        if agent.applied_tuning is not self._shown_tuning:
            self._show_tuning()
        if agent.done and not was_done:
            self.publish_status()
            self.get_logger().info(
                f"stopped at iteration {agent.iteration} ({agent.stop_reason.value}); "
                f"estimate {agent.estimate().tolist()}")
            if self.on_done is not None:
                self.on_done(self)
            if not self.keep_alive:
                # Stay a moment to resend the final payload to a neighbour that missed it (farewell)
                # and to let the last status reach the monitors; then the process may exit.
                self._linger_until = time.monotonic() + max(EXIT_LINGER, 4 * self.round_timeout)
                self._monitor_seen = 0
                self._linger = self.create_timer(0.25, self._finish)

    def _finish(self) -> None:
        """The swarm has stopped and this node's part is over: its exit code (entry.run_node ends with it).

        A monitor that has not yet discovered this robot would never learn how it ended, so the
        robot waits (up to EXIT_WAIT_FOR_MONITOR) until its status topic has had a watcher (a
        subscriber that is not another robot) for a while since it stopped: the
        transient-local status then reaches it.
        """
        now = time.monotonic()
        # Ticks with a watcher since the stop (a monitor that has all it needs may leave first). Peers that
        # read this topic for the start-up handshake are robot nodes, not watchers: they do not count.
        self._monitor_seen += any(info.node_name != "robot_node" for info in
                                  self.get_subscriptions_info_by_topic(self._status_pub.topic_name))
        if now < self._linger_until or (self._monitor_seen < 3 and now < self._linger_until + EXIT_WAIT_FOR_MONITOR):
            return
        self.destroy_timer(self._linger)
        reason = self.agent.stop_reason
        self.exit_code = EXIT_OK if self.agent.converged else (
            EXIT_NOT_CONVERGED if reason is StopReason.ITERATION_CAP else EXIT_PEER_LOST)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit(self, messages: list[Message], keep: bool = True) -> None:
        """Publish now, or after the modelled latency (a one-shot timer per batch).

        ``keep``: remember the messages for a few rounds, to answer retransmission requests.
        """
        if not messages:
            return
        if keep and self.retransmit:
            for m in messages:
                self._history.setdefault(m.iteration, []).append(m)
            horizon = max(self._history) - HISTORY_ROUNDS
            for it in [k for k in self._history if k < horizon]:
                del self._history[it]
        if self.latency_s <= 0:
            self._publish(messages)
            return
        delay = self.network.latency(self.latency_s)
        holder: list[Any] = []

        def fire() -> None:
            holder[0].cancel()
            self.destroy_timer(holder[0])
            self._delayed.remove(holder[0])
            self._publish(messages)

        holder.append(self.create_timer(max(delay, 1e-4), fire))
        self._delayed.append(holder[0])

    def _publish(self, messages: list[Message]) -> None:
        raise NotImplementedError

    def _on_clock_change(self, jump: Any) -> None:
        self._sim_time = self.get_clock().ros_time_is_active

    def _stamp(self, wire: Any) -> Any:
        """Stamp ``wire``'s header with the node clock's time, in place, and return the stamp.

        A node reuses one outgoing message object (publishing serializes it at once), so a
        batch costs one clock read and no new ``Time`` message. Without simulated time the
        node's ROS clock is the system clock, read here without building an rclpy ``Time``.
        """
        stamp = wire.header.stamp
        now = self.get_clock().now().nanoseconds if self._sim_time else time.time_ns()
        stamp.sec, stamp.nanosec = divmod(now, 10**9)
        return stamp

    # ------------------------------------------------------------------ status
    def rejections(self) -> Counter[str]:
        """Rejected incoming messages by reason (transport checks plus agent checks)."""
        return self.transport_rejections + self.agent.stats.rejected

    def publish_status(self) -> None:
        agent = self.agent
        if agent is None:
            return
        msg = RobotStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.robot_id = max(agent.agent_id, 0) if agent.agent_id >= 0 else 2**32 - 1
        msg.iteration = agent.iteration
        msg.algorithm = agent.algorithm
        msg.done = agent.done
        msg.converged = agent.converged
        msg.estimate = agent.estimate().astype(float).tolist()
        msg.primal_residual = float(agent.primal_residual)
        msg.dual_residual = float(agent.dual_residual)
        msg.messages_sent = agent.stats.sent
        msg.messages_received = agent.stats.received
        rej = self.rejections()
        msg.messages_dropped = self.messages_lost
        msg.messages_retransmitted = self.retransmitted
        msg.retransmit_requests = self.retransmit_requests
        msg.rounds_stalled = self.rounds_stalled
        msg.messages_redundant = agent.stats.redundant
        msg.rejection_reasons = list(rej)
        msg.rejection_counts = [int(v) for v in rej.values()]
        msg.neighbors = [int(j) for j in getattr(self, "neighbor_list", ())]
        msg.objective = getattr(self, "objective_name", "")
        msg.incarnation = getattr(self, "incarnation", 0)
        msg.stop_reason = agent.stop_reason.value
        msg.peers_gone = [int(j) for j in agent.membership.departed]
        self._status_pub.publish(msg)


def _refuse(reason: str) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=reason)


def _text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
