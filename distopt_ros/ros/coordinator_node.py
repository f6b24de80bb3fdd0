"""Coordinator node of star-form algorithms (e.g. docs/algorithms.md, "Global consensus ADMM with a coordinator").

Subscribes to ``<parent>/robot_<i>/state`` for every robot and publishes
``<ns>/consensus`` (``CoordinatorBroadcast``); its namespace is ``coordinator``.
"""

from __future__ import annotations

import sys
from typing import Any

from distopt_ros.core.messages import COORDINATOR, Message
from distopt_ros.core.scenario import make_coordinator
from distopt_ros.msg import AgentState, CoordinatorBroadcast
from distopt_ros.ros import conversions
from distopt_ros.ros.agent_node import AgentNode
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare_swarm
from distopt_ros.ros.robot_node import parent_namespace


class CoordinatorNode(AgentNode):
    """Hosts the coordinator agent of the configured star-form algorithm."""

    def __init__(self, node_name: str = "coordinator_node", record: bool = False, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.config, transport = declare_swarm(self, "coordinator_node")
        agent = make_coordinator(self.config, record=record)
        if agent is None:
            raise ValueError(f"algorithm {self.config.algorithm!r} has no coordinator; do not start coordinator_node")
        self.agent = agent
        self._configure_transport(transport, self.config.seed)
        parent = parent_namespace(self.get_namespace())
        for rid in sorted(agent.expected):
            self._subscribe(AgentState, f"{parent}/robot_{rid}/state",
                            lambda w: conversions.from_agent_state(w, COORDINATOR))
        self._watch_peers({rid: f"{parent}/robot_{rid}/status" for rid in agent.expected})  # heartbeats
        self._wire = CoordinatorBroadcast()
        self._pub = self._publisher(CoordinatorBroadcast, "consensus",
                                    [f"{parent}/robot_{rid}" for rid in range(self.config.num_robots)])

    def _publish(self, messages: list[Message]) -> None:
        stamp = self._stamp(self._wire)
        for msg in messages:
            self._pub.publish(conversions.to_coordinator_broadcast(msg, self._next_seq(), stamp, out=self._wire))


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros coordinator_node --ros-args -r __ns:=/coordinator``."""
    return run_node(CoordinatorNode, "coordinator_node", args)


if __name__ == "__main__":
    sys.exit(main())
