"""The rclpy node that hosts one core agent: the thin adapter between an agent and DDS.

It wires the agent's outbox to publishers and its inbox to subscriptions, waits until
every peer endpoint is discovered before the first send (a message sent to nobody would
be lost for good in a synchronous round), steps the agent whenever its round is complete,
and reports progress on a status topic. Invalid wire messages are counted per reason and
logged at a throttled rate; they never reach the agent's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher

from distopt_ros.core.agent import Agent
from distopt_ros.core.messages import Message
from distopt_ros.msg import RobotStatus
from distopt_ros.ros.qos import status_qos, swarm_qos


class AgentNode(Node):
    """Base of robot and coordinator nodes: start barrier, step loop, status, rejections."""

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.agent: Agent | None = None
        self.started = False
        self.transport_rejections: Counter[str] = Counter()
        self._last_seq: dict[str, int] = {}
        self._seq = 0
        self._barrier: list[tuple[Publisher, int]] = []
        self._subs: list[Any] = []
        self._status_pub = self.create_publisher(RobotStatus, "status", status_qos())
        self.on_done: Callable[[AgentNode], None] | None = None

    # ------------------------------------------------------------------ wiring
    def _configure_transport(self, transport: dict[str, Any]) -> None:
        self.qos = swarm_qos(transport["qos_reliability"], transport["qos_depth"], transport["qos_durability"])
        self.startup_timeout = float(transport["startup_timeout"])
        self._start_time = self.get_clock().now()
        self._poll = self.create_timer(0.02, self._tick)
        self._status_timer = self.create_timer(float(transport["status_period"]), self.publish_status)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Live re-tuning (``ros2 param set``): only the agent's tunables, validated first.

        All values are checked before any is applied, so a refused batch changes nothing.
        """
        agent = self.agent
        allowed = ", ".join(agent.tunable) or "none"
        for p in params:
            if p.name not in agent.tunable and p.name != "use_sim_time":
                return SetParametersResult(successful=False, reason=(
                    f"{p.name} is read at start-up; tunable while running: {allowed}"))
        previous = {name: getattr(agent, name) for name in agent.tunable}
        try:
            for p in params:
                if p.name in agent.tunable:
                    agent.set_parameter(p.name, p.value)
        except (ValueError, TypeError) as exc:
            for name, value in previous.items():
                setattr(agent, name, value)
            return SetParametersResult(successful=False, reason=str(exc))
        changed = [f"{p.name}={p.value}" for p in params if p.name in agent.tunable]
        if changed:
            self.get_logger().info(f"re-tuned {', '.join(changed)} from iteration {agent.iteration}")
        return SetParametersResult(successful=True)

    def _publisher(self, msg_type: type, topic: str, listeners: int) -> Publisher:
        pub = self.create_publisher(msg_type, topic, self.qos)
        self._barrier.append((pub, listeners))
        return pub

    def _subscribe(self, msg_type: type, topic: str, convert: Callable[[Any], Message]) -> None:
        def callback(wire: Any) -> None:
            self._on_wire(topic, wire, convert)

        self._subs.append(self.create_subscription(msg_type, topic, callback, self.qos))

    # ------------------------------------------------------------------ runtime
    def _tick(self) -> None:
        if not self.started:
            if all(pub.get_subscription_count() >= n for pub, n in self._barrier) and all(
                s.get_publisher_count() >= 1 for s in self._subs
            ):
                self.started = True
                self._publish(self.agent.start())
                self._advance()
            elif (self.get_clock().now() - self._start_time).nanoseconds > self.startup_timeout * 1e9:
                self.get_logger().error(
                    f"peers not discovered within startup_timeout={self.startup_timeout}s", once=True)
            return
        self._advance()

    def _on_wire(self, topic: str, wire: Any, convert: Callable[[Any], Message]) -> None:
        seq = int(getattr(wire, "seq", 0))
        if seq <= self._last_seq.get(topic, 0):
            self._reject(topic, "duplicate_seq")
            return
        self._last_seq[topic] = seq
        try:
            msg = convert(wire)
        except (ValueError, TypeError) as exc:
            self._reject(topic, f"malformed: {exc}"[:80])
            return
        reason = self.agent.receive(msg)
        if reason is not None:
            if reason != "after_stop":
                self.get_logger().warning(
                    f"rejected message on {topic} (iteration {msg.iteration}): {reason}",
                    throttle_duration_sec=5.0)
            return
        if self.started:
            self._advance()

    def _reject(self, topic: str, reason: str) -> None:
        self.transport_rejections[reason] += 1
        self.get_logger().warning(f"rejected message on {topic}: {reason}", throttle_duration_sec=5.0)

    def _advance(self) -> None:
        agent = self.agent
        was_done = agent.done
        while agent.ready():
            self._publish(agent.step())
        if agent.done and not was_done:
            self.publish_status()
            self.get_logger().info(
                f"stopped at iteration {agent.iteration} "
                f"({'converged' if agent.converged else 'iteration cap'}); estimate {agent.estimate().tolist()}")
            if self.on_done is not None:
                self.on_done(self)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _publish(self, messages: list[Message]) -> None:
        raise NotImplementedError

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
        msg.messages_dropped = sum(rej.values())
        msg.rejection_reasons = list(rej)
        msg.rejection_counts = [int(v) for v in rej.values()]
        self._status_pub.publish(msg)
