"""Visualization node: the swarm as RViz markers.

Subscribes to ``/target/poses``, every robot's ``odom``, ``estimate`` and ``status`` and
publishes one ``visualization_msgs/MarkerArray`` on ``/swarm_markers`` at ``marker_rate`` Hz, all
in ``frame_id`` (``map``, the fixed frame of REP 105). Marker namespaces (one marker per
item, ``id`` = robot id or edge index):

* ``robots`` (blue spheres) and ``robot_ids`` (text) at each robot's odometry position;
* ``targets`` (red spheres, ``id`` = target index) at the true targets (``/target/poses``);
* ``estimates`` (small green cubes) at each robot's current estimate of the target;
* ``edges`` (one line per communication link), green when both ends lost nothing in the
  last status interval and shading to red as their recent loss rate grows (loss is counted
  per receiving robot, so an edge shows the worse of its two ends);
* ``centroid`` (yellow cylinder) at the mean robot position.

``config/swarm.rviz`` shows the topic with a grid in ``map``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, PoseArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from visualization_msgs.msg import Marker, MarkerArray

from distopt_ros.core.scenario import SwarmConfig, scenario_graph
from distopt_ros.core.schema import group as schema_group
from distopt_ros.msg import RobotStatus, TargetEstimate
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare, declare_node
from distopt_ros.ros.qos import status_qos


def loss_colour(rate: float) -> tuple[float, float, float]:
    """Green (no loss) to red (rate >= 0.5), linear in between."""
    r = float(np.clip(rate / 0.5, 0.0, 1.0))
    return r, 1.0 - r, 0.0


class VisualizationNode(Node):
    """Collects the swarm's state from its topics and draws it as a MarkerArray."""

    def __init__(self, node_name: str = "visualization_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        values = declare_node(self, "visualization_node")
        self.config = SwarmConfig.from_mapping(declare(self, schema_group("scenario")))
        rate = values["marker_rate"]
        self.frame_id = values["frame_id"]
        n = self.config.num_robots
        graph = scenario_graph(self.config)
        self.edges = sorted({(min(e), max(e)) for e in graph.edges})
        self.target: np.ndarray | None = None
        self.positions: dict[int, np.ndarray] = {}
        self.estimates: dict[int, np.ndarray] = {}
        self.loss_rate: dict[int, float] = {}
        self._counts: dict[int, tuple[int, int]] = {}
        parent = self.get_namespace().rstrip("/").rsplit("/", 1)[0]
        self.targets: list[np.ndarray] = []
        self.create_subscription(PoseArray, f"{parent}/target/poses", self._on_targets, 10)
        for i in range(n):
            ns = f"{parent}/robot_{i}"
            self.create_subscription(Odometry, f"{ns}/odom", lambda m, i=i: self._on_odom(i, m), 10)
            self.create_subscription(TargetEstimate, f"{ns}/estimate", lambda m, i=i: self._on_estimate(i, m), 10)
            self.create_subscription(RobotStatus, f"{ns}/status", lambda m, i=i: self._on_status(i, m), status_qos())
        self.pub = self.create_publisher(MarkerArray, f"{parent}/swarm_markers", 10)
        self.published = 0
        self.create_timer(1.0 / float(rate), self.publish)

    def _on_targets(self, msg: PoseArray) -> None:
        self.targets = [np.array([p.position.x, p.position.y]) for p in msg.poses]
        self.target = self.targets[0] if self.targets else None

    def _on_odom(self, i: int, msg: Odometry) -> None:
        self.positions[i] = np.array([msg.pose.pose.position.x, msg.pose.pose.position.y])

    def _on_estimate(self, i: int, msg: TargetEstimate) -> None:
        self.estimates[i] = np.array([msg.position.x, msg.position.y])

    def _on_status(self, i: int, msg: RobotStatus) -> None:
        dropped, received = int(msg.messages_dropped), int(msg.messages_received)
        old_d, old_r = self._counts.get(i, (0, 0))
        arrived = (dropped - old_d) + (received - old_r)
        if arrived > 0:
            self.loss_rate[i] = (dropped - old_d) / arrived
        self._counts[i] = (dropped, received)

    def _marker(self, ns: str, mid: int, kind: int, xy: np.ndarray, scale: float,
                rgb: tuple[float, float, float]) -> Marker:
        m = Marker()
        m.header.frame_id = self.frame_id
        m.header.stamp = self.get_clock().now().to_msg()
        m.ns, m.id, m.type, m.action = ns, mid, kind, Marker.ADD
        m.pose.position.x, m.pose.position.y = float(xy[0]), float(xy[1])
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = scale
        m.color.r, m.color.g, m.color.b = rgb
        m.color.a = 1.0
        return m

    def markers(self) -> MarkerArray:
        """The current picture (also used by tests without a publisher round trip)."""
        out = MarkerArray()
        for i, xy in sorted(self.positions.items()):
            out.markers.append(self._marker("robots", i, Marker.SPHERE, xy, 0.3, (0.1, 0.3, 1.0)))
            label = self._marker("robot_ids", i, Marker.TEXT_VIEW_FACING, xy + np.array([0.0, 0.35]), 0.25,
                                 (1.0, 1.0, 1.0))
            label.text = f"robot {i}"
            out.markers.append(label)
        for i, xy in sorted(self.estimates.items()):
            out.markers.append(self._marker("estimates", i, Marker.CUBE, xy, 0.12, (0.1, 0.9, 0.2)))
        for k, xy in enumerate(self.targets):
            out.markers.append(self._marker("targets", k, Marker.SPHERE, xy, 0.4, (1.0, 0.1, 0.1)))
        for k, (i, j) in enumerate(self.edges):
            if i not in self.positions or j not in self.positions:
                continue
            line = self._marker("edges", k, Marker.LINE_STRIP, np.zeros(2), 0.03,
                                loss_colour(max(self.loss_rate.get(i, 0.0), self.loss_rate.get(j, 0.0))))
            line.scale.y = line.scale.z = 0.0
            line.points = [Point(x=float(p[0]), y=float(p[1])) for p in (self.positions[i], self.positions[j])]
            out.markers.append(line)
        if self.positions:
            centroid = np.mean(list(self.positions.values()), axis=0)
            c = self._marker("centroid", 0, Marker.CYLINDER, centroid, 0.2, (1.0, 0.9, 0.1))
            c.scale.z = 0.05
            out.markers.append(c)
        return out

    def publish(self) -> None:
        self.pub.publish(self.markers())
        self.published += 1


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros visualization_node``."""
    return run_node(VisualizationNode, "visualization_node", args)


if __name__ == "__main__":
    sys.exit(main())
