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

import numpy as np

from distopt_ros.core.messages import COORDINATOR, Message
from distopt_ros.core.objectives import make_objective
from distopt_ros.core.scenario import complete_handshake, make_robot_agent
from distopt_ros.core.schema import ParameterError
from distopt_ros.msg import AgentState, CoordinatorBroadcast, QuantizedPayload, RobotStatus, TargetEstimate
from distopt_ros.ros import conversions
from distopt_ros.ros.agent_node import AgentNode
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.exit_codes import EXIT_BAD_PARAMETER
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
        self.objective_name = transport["objective"]
        objective = make_objective(self.objective_name, transport["objective_params"], self.config.dim) \
            if self.objective_name else None
        self.neighbor_list = tuple(sorted(transport["neighbors"]))
        self.measurement_topic = transport["measurement_topic"]
        if self.measurement_topic and not callable(getattr(objective, "observe", None)):
            raise ParameterError(f"measurement_topic {self.measurement_topic!r} needs an objective with an observe "
                                 f"method (e.g. objective: measured_position), got objective {self.objective_name!r}")
        self.agent = make_robot_agent(self.config, int(rid), objective, self.neighbor_list,
                                      transport["diameter_bound"], record=record,
                                      in_neighbors=transport["in_neighbors"], out_neighbors=transport["out_neighbors"])
        self.robot_id = int(rid)
        if transport["start_without_missing"] and self.neighbor_list and hasattr(self.agent, "weights"):
            raise ParameterError(f"start_without_missing must be false for {self.config.algorithm} with explicit "
                                 "neighbors, got true (its Metropolis weights need every neighbour's degree at start)")
        self._configure_transport(transport, self.config.seed)
        parent = parent_namespace(self.get_namespace())
        self._hello: dict[int, tuple[int, ...]] = {}
        # The peers' status topics: their heartbeats, and for explicit neighbours the start-up handshake.
        self._watch_peers({j: f"{parent}/coordinator/status" if j == COORDINATOR else f"{parent}/robot_{j}/status"
                           for j in self.agent.expected})
        if self.neighbor_list:  # deployed from its own parameters: learn the neighbours' lists first
            self.publish_status()  # transient local: our list reaches neighbours that start later
        self.measurements = self.rejected_measurements = 0
        if self.measurement_topic:
            self.create_subscription(TargetEstimate, self.measurement_topic, self._on_measurement, 10)
        self._edge_pubs = {}
        self._wire = AgentState()  # reused for every send: publish serializes it on the spot
        self._state_pub = None
        transport = self.config.transport
        self._digraph = transport == "digraph"
        peers = sorted(s for s in self.agent.expected if s != COORDINATOR)
        if transport == "star":
            # An auctioneer's per-robot prices share the topic: each robot takes the broadcasts and its own part.
            self._subscribe(CoordinatorBroadcast, f"{parent}/coordinator/consensus",
                            conversions.from_coordinator_broadcast,
                            ours=lambda w: w.receiver_id in (CoordinatorBroadcast.BROADCAST, self.robot_id))
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
        layout = "star" if transport == "star" else (
            f"neighbors {list(self.neighbor_list)}" if self.neighbor_list else self.config.topology)
        data = (f"objective {self.objective_name}" if self.objective_name else
                f"simulated data: problem {self.config.problem} from seed {self.config.seed}, which every robot can "
                "rebuild (set objective for a robot's private data)")
        self.get_logger().info(f"robot {self.robot_id}: {self.config.algorithm}, {layout} ({peers_text}); {data}")

    # ------------------------------------------------------------------ start-up handshake
    def _on_peer_status(self, peer: int, status: RobotStatus) -> None:
        super()._on_peer_status(peer, status)
        if self.neighbor_list:
            self._on_hello(peer, status)

    def _on_hello(self, sender: int, status: RobotStatus) -> None:
        """A neighbour's status: its neighbour list (symmetric with ours?) and so its degree."""
        if sender in self._hello or self.exit_code is not None:
            return
        theirs = tuple(sorted(int(j) for j in status.neighbors))
        if not theirs:
            return  # a robot started from topology: it has no list to compare (nor needs ours)
        if self.robot_id not in theirs:
            self.get_logger().error(
                f"neighbor lists disagree: robot {self.robot_id} lists robot {sender} as a neighbour, but robot "
                f"{sender} lists {list(theirs)}; fix neighbors on one of them. Stopping.")
            self.exit_code = EXIT_BAD_PARAMETER
            return
        self._hello[sender] = theirs

    def _on_measurement(self, msg: TargetEstimate) -> None:
        """Data from the robot's own sensor: the objective takes it (observe); a malformed one is refused."""
        try:
            updated = self.agent.objective.observe(np.asarray(msg.estimate, dtype=float),
                                                   np.asarray(msg.covariance, dtype=float))
            self.agent.set_objective(updated)
        except ValueError as exc:
            self.rejected_measurements += 1
            self.transport_rejections["bad_measurement"] += 1
            self.get_logger().warning(f"rejected measurement on {self.measurement_topic}: {exc}",
                                      throttle_duration_sec=5.0)
            return
        self.measurements += 1

    def can_start(self) -> bool:
        """Start once the first measurement is in (if any) and, with explicit neighbours, the handshake is done."""
        if self.measurement_topic and self.measurements == 0:
            return False
        if not self.neighbor_list:
            return True
        present = [j for j in self.neighbor_list if self.peer_namespace(j) not in self._absent]
        if any(j not in self._hello for j in present):
            return False
        if not getattr(self, "_handshake_done", False):
            complete_handshake(self.agent, {j: len(v) for j, v in self._hello.items()})
            self._handshake_done = True
        return True

    def waiting_for(self) -> list[str]:
        missing = [j for j in self.neighbor_list if j not in self._hello]
        out = [f"the start-up handshake of robot(s) {missing} (their status topics)"] if missing else []
        if self.measurement_topic and self.measurements == 0:
            out.append(f"a first measurement on {self.measurement_topic}")
        return out

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
