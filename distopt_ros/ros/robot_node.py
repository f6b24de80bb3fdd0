"""Robot node: one swarm member running its agent over ROS 2 topics.

Topics (``<ns>`` is the node's namespace, ``robot_<i>``; ``<parent>`` its parent namespace):

* edge algorithms (``radmm``, ``atg``): publishes ``<ns>/edge_to_<j>`` per neighbour ``j``
  and subscribes to ``<parent>/robot_<j>/edge_to_<i>`` (``distopt_ros/msg/AgentState``);
* broadcast algorithms (``dgd``, ``diging``): publishes ``<ns>/state`` and subscribes to
  ``<parent>/robot_<j>/state`` of every neighbour;
* star algorithms (``admm``, ``rcaladin``, ``fedavg``, ``price``): publishes ``<ns>/state`` and
  subscribes to ``<parent>/coordinator/consensus`` (``distopt_ros/msg/CoordinatorBroadcast``);
* digraph algorithms (``qudrc``): publishes ``<ns>/edge_to_<j>`` per out-neighbour ``j`` and
  subscribes to ``<parent>/robot_<j>/edge_to_<i>`` per in-neighbour ``j``
  (``distopt_ros/msg/QuantizedPayload``, exact integers): edge direction is honoured;
* ``<ns>/status`` (``RobotStatus``, transient local) for monitors.
"""

from __future__ import annotations

import sys
from typing import Any

from distopt_ros.core.messages import COORDINATOR, Message
from distopt_ros.core.scenario import make_agent
from distopt_ros.msg import AgentState, CoordinatorBroadcast, QuantizedPayload
from distopt_ros.ros import conversions
from distopt_ros.ros.agent_node import AgentNode
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare_swarm


def parent_namespace(namespace: str) -> str:
    """``/a/robot_3`` -> ``/a``; ``/robot_3`` -> ``""`` (so topics join as ``{parent}/...``)."""
    return namespace.rstrip("/").rsplit("/", 1)[0]


class RobotNode(AgentNode):
    """Hosts the agent of robot ``robot_id``, built from the declared scenario parameters."""

    def __init__(self, node_name: str = "robot_node", record: bool = False, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.config, transport = declare_swarm(self, "robot_node")
        rid = transport["robot_id"]
        self.agent = make_agent(self.config, int(rid), record=record)
        self.robot_id = int(rid)
        self._configure_transport(transport, self.config.seed)
        parent = parent_namespace(self.get_namespace())
        self._edge_pubs = {}
        self._wire = AgentState()  # reused for every send: publish serializes it on the spot
        self._state_pub = None
        transport = self.config.transport
        self._digraph = transport == "digraph"
        peers = sorted(s for s in self.agent.expected if s != COORDINATOR)
        if transport == "star":
            self._subscribe(CoordinatorBroadcast, f"{parent}/coordinator/consensus",
                            conversions.from_coordinator_broadcast)
            self._state_pub = self._publisher(AgentState, "state", [f"{parent}/coordinator"])
        elif transport == "broadcast":
            self._state_pub = self._publisher(AgentState, "state", [f"{parent}/robot_{j}" for j in peers])
        elif transport == "digraph":
            level = self.config.quantization_level
            for sender in peers:  # in-neighbours
                self._subscribe(QuantizedPayload, f"{parent}/robot_{sender}/edge_to_{self.robot_id}",
                                lambda w: conversions.from_quantized_payload(w, level))
            for receiver in self.agent.out_neighbors:
                self._edge_pubs[receiver] = self._publisher(QuantizedPayload, f"edge_to_{receiver}",
                                                            [f"{parent}/robot_{receiver}"])
            peers = []
        for sender in peers:
            topic = f"edge_to_{self.robot_id}" if transport == "edge" else "state"
            self._subscribe(AgentState, f"{parent}/robot_{sender}/{topic}",
                            lambda w: conversions.from_agent_state(w, self.robot_id))
            if transport == "edge":
                self._edge_pubs[sender] = self._publisher(AgentState, f"edge_to_{sender}", [f"{parent}/robot_{sender}"])
        peers_text = "coordinator" if transport == "star" else f"peers {sorted(self.agent.expected)}"
        layout = "star" if transport == "star" else self.config.topology
        self.get_logger().info(f"robot {self.robot_id}: {self.config.algorithm}, {layout} ({peers_text})")

    def _publish(self, messages: list[Message]) -> None:
        stamp = self._stamp(self._wire)
        for msg in messages:
            pub = self._edge_pubs.get(msg.receiver, self._state_pub)  # broadcast topics carry addressed requests too
            if self._digraph:
                pub.publish(conversions.to_quantized_payload(msg, self._next_seq(), stamp,
                                                             self.config.quantization_level, self.agent.outer))
            else:
                pub.publish(conversions.to_agent_state(msg, self._next_seq(), stamp, out=self._wire))


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros robot_node --ros-args -p robot_id:=0 ...``."""
    return run_node(RobotNode, "robot_node", args)


if __name__ == "__main__":
    sys.exit(main())
