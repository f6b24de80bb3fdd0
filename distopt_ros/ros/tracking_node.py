"""Tracking robots: follow a moving target by consensus (estimation) or by a price (centroid).

Two tasks, chosen by ``problem``:

* ``fusion`` (cooperative estimation + rendezvous), described below;
* ``centroid`` (constraint-coupled): each robot stays near its home station while the
  swarm's centroid must equal the moving target ``/target/pose``. With ``algorithm: price``
  an auctioneer (:class:`TrackingCoordinatorNode`) runs the tracking dual ascent
  (``price_mode: dual``) or the extragradient (docs/algorithms.md, "Centroid tracking"), with the
  resource ``N r(t)``; with ``algorithm: coupled`` there is no coordinator: the constraint-coupled
  primal-dual method with ``b_i = r(t)`` on every robot, which survives loss and asynchrony. Each robot
  drives to its own allocation ``x_i``.

A :class:`RobotNode` whose local objective is its latest observation of the target
(``<ns>/observation``, ``distopt_ros/TargetEstimate``: mean and covariance), so the swarm's
consensus (edge ADMM or gradient tracking, ``algorithm``) tracks the moving fused estimate.
Every ``control_period`` the robot reads its pose (``<ns>/odom``, ``nav_msgs/Odometry`` as a
real driver or :mod:`distopt_ros.ros.kinematics_node` provides), drives toward the estimate
plus its formation offset (robots evenly on a circle of ``formation_radius``) with a
saturated proportional law, and publishes ``geometry_msgs/Twist`` on ``<ns>/cmd_vel``
(holonomic, or converted for a unicycle with ``drive: unicycle``) and its current estimate on
``<ns>/estimate``. Consensus rounds and control run on their own clocks: the algorithm keeps
iterating between control periods, warm-started from the previous estimate.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry

from distopt_ros.core.problems import QuadraticObjective
from distopt_ros.core.schema import for_node
from distopt_ros.core.tracking import formation_offsets, tracking_command, unicycle_command
from distopt_ros.msg import TargetEstimate
from distopt_ros.ros.coordinator_node import CoordinatorNode
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare
from distopt_ros.ros.robot_node import RobotNode

DRIVES = ("holonomic", "unicycle")
TASKS = ("fusion", "centroid")
DECISION_HISTORY = 100_000



class TrackingRobotNode(RobotNode):
    """Consensus on the target position from private observations, plus a formation controller."""

    def __init__(self, node_name: str = "robot_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        p = declare(self, for_node("robot_node", ("tracking",)))
        self.control_period, self.gain, self.max_speed = p["control_period"], p["gain"], p["max_speed"]
        radius, self.drive, self.heading_gain = p["formation_radius"], p["drive"], p["heading_gain"]
        self.window = p["observation_window"]
        self._recent: list[tuple[float, np.ndarray, np.ndarray]] = []
        if self.agent.dim != 2:
            raise ValueError(f"dim must be 2 for tracking a planar target, got {self.agent.dim}")
        if self.config.problem not in TASKS:
            raise ValueError(f"problem must be one of {', '.join(TASKS)} for a tracking robot, "
                             f"got {self.config.problem!r}")
        self.centroid_task = self.config.problem == "centroid"
        self.offset = np.zeros(2) if self.centroid_task else formation_offsets(self.config.num_robots,
                                                                               radius)[self.robot_id]
        self.reference: np.ndarray | None = None
        self.pose: np.ndarray | None = None  # x, y, theta
        self.observations = 0
        self.rejected_observations = 0
        self.goal: np.ndarray | None = None
        self.decisions: list[tuple[int, np.ndarray]] = []
        """(clock ns, decision) of recent control periods: what the controller really used."""
        self.cmd_pub = self.create_publisher(Twist, "cmd_vel", 10)
        self.estimate_pub = self.create_publisher(TargetEstimate, "estimate", 10)
        if self.centroid_task:
            parent = self.get_namespace().rstrip("/").rsplit("/", 1)[0]
            self.create_subscription(PoseStamped, f"{parent}/target/pose", self._on_reference, 10)
        else:
            self.create_subscription(TargetEstimate, "observation", self._on_observation, 5)
        self.create_subscription(Odometry, "odom", self._on_odom, 10)
        self.create_timer(self.control_period, self._control)

    def can_start(self) -> bool:
        if self.centroid_task:  # constraint-coupled robots hold b_i = r(t); price bidders need nothing
            return self.reference is not None or not hasattr(self.agent, "set_offset")
        return self.observations > 0  # the first round needs a local objective from real data

    def _on_reference(self, msg: PoseStamped) -> None:
        r = np.array([msg.pose.position.x, msg.pose.position.y])
        if not np.all(np.isfinite(r)):
            self.get_logger().warning("ignored a non-finite target pose", throttle_duration_sec=5.0)
            return
        self.reference = r
        if hasattr(self.agent, "set_offset"):
            self.agent.set_offset(r)

    def _on_observation(self, msg: TargetEstimate) -> None:
        if msg.robot_id != self.robot_id:
            self.rejected_observations += 1
            self.get_logger().warning(f"rejected observation for robot {msg.robot_id}", throttle_duration_sec=5.0)
            return
        mean = np.asarray(msg.estimate, dtype=float)
        cov = np.asarray(msg.covariance, dtype=float)
        try:
            if mean.size != 2 or cov.size != 4:
                raise ValueError(f"estimate must have 2 entries and covariance 4, got {mean.size} and {cov.size}")
            QuadraticObjective.from_covariance(mean, cov.reshape(2, 2))  # validates mean and covariance
        except ValueError as exc:
            self.rejected_observations += 1
            self.get_logger().warning(f"rejected observation: {exc}", throttle_duration_sec=5.0)
            return
        now = self.get_clock().now().nanoseconds / 1e9
        self._recent = [o for o in self._recent if now - o[0] <= self.window] + [(now, mean, cov.reshape(2, 2))]
        self.agent.set_objective(self._windowed_objective())
        self.observations += 1

    def _windowed_objective(self) -> QuadraticObjective:
        """The information-weighted fusion of the observations in the window (one gaussian)."""
        info = sum(np.linalg.inv(c) for _, _, c in self._recent)
        vec = sum(np.linalg.inv(c) @ m for _, m, c in self._recent)
        return QuadraticObjective(info, np.linalg.solve(info, vec))

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        pose = np.array([p.x, p.y, 2.0 * math.atan2(q.z, q.w)])
        if np.all(np.isfinite(pose)):
            self.pose = pose

    def _control(self) -> None:
        if self.pose is None or not self.started:
            return
        estimate = np.asarray(self.agent.estimate(), dtype=float)
        self.goal = estimate + self.offset
        self.decisions.append((self.get_clock().now().nanoseconds, estimate.copy()))
        del self.decisions[:-DECISION_HISTORY]
        velocity = tracking_command(self.pose[:2], self.goal, np.zeros(2), self.gain, self.max_speed)
        cmd = Twist()
        if self.drive == "holonomic":
            cmd.linear.x, cmd.linear.y = float(velocity[0]), float(velocity[1])
        else:
            v, omega = unicycle_command(self.pose, velocity, self.heading_gain)
            cmd.linear.x, cmd.angular.z = float(v), float(omega)
        self.cmd_pub.publish(cmd)
        out = TargetEstimate()
        out.header.stamp = self.get_clock().now().to_msg()
        out.header.frame_id = "map"
        out.robot_id = self.robot_id
        out.iteration = self.agent.iteration
        out.position.x, out.position.y = float(estimate[0]), float(estimate[1])
        out.estimate = estimate.tolist()
        self.estimate_pub.publish(out)


class TrackingCoordinatorNode(CoordinatorNode):
    """The auctioneer of centroid tracking: the resource to deliver is ``N r(t)``, read from ``/target/pose``."""

    def __init__(self, node_name: str = "coordinator_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        if not hasattr(self.agent, "set_target"):
            raise ValueError(f"algorithm {self.config.algorithm!r} has no target to track; use price")
        parent = self.get_namespace().rstrip("/").rsplit("/", 1)[0]
        self.reference: np.ndarray | None = None
        self.create_subscription(PoseStamped, f"{parent}/target/pose", self._on_reference, 10)

    def can_start(self) -> bool:
        return self.reference is not None

    def _on_reference(self, msg: PoseStamped) -> None:
        r = np.array([msg.pose.position.x, msg.pose.position.y])
        if np.all(np.isfinite(r)):
            self.reference = r
            self.agent.set_target(self.config.num_robots * r)


def coordinator_main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros tracking_coordinator --ros-args -r __ns:=/coordinator``."""
    return run_node(TrackingCoordinatorNode, "tracking_coordinator", args)


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros tracking_node --ros-args -r __ns:=/robot_0 -p robot_id:=0``."""
    return run_node(TrackingRobotNode, "tracking_node", args)


if __name__ == "__main__":
    sys.exit(main())
