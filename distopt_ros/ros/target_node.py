"""Target node: a moving target and every robot's noisy observation of it.

Publishes, at ``rate`` Hz, the true target as ``geometry_msgs/PoseStamped`` on
``/target/pose`` (orientation = direction of motion) and one noisy observation per robot as
``distopt_ros/TargetEstimate`` on ``<parent>/robot_<i>/observation`` (gaussian noise with the
robot's own ``noise_std``, its covariance ``noise_std^2 I`` attached so the fusion weights
each robot by how good its sensor is). Positions are in ``frame_id`` (REP 105: a fixed
world frame, ``map``). The noise is seeded per robot, so the same seed gives the same run.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose, PoseArray, PoseStamped
from rclpy.node import Node

from distopt_ros.core.schema import SCHEMA
from distopt_ros.core.tracking import Target, make_targets, noise_levels
from distopt_ros.msg import TargetEstimate
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare, declare_node

TARGET_KINDS = ("circle", "figure_eight", "random_walk", "waypoints")



def targets_from_parameters(p: dict[str, Any]) -> list[Target]:
    """The ``num_targets`` targets described by the node parameters (shared with the runner and the tests)."""
    kind = p["target_kind"]
    count = int(p.get("num_targets", 1))
    center = (p["target_center_x"], p["target_center_y"])
    if kind == "circle":
        return make_targets(kind, count, center=center, radius=p["target_radius"], period=p["target_period"])
    if kind == "figure_eight":
        return make_targets(kind, count, center=center, size=p["target_radius"], period=p["target_period"])
    if kind == "random_walk":
        r = p["target_radius"]
        return make_targets(kind, count, start=center, speed=p["target_speed"], seed=p["seed"],
                            bounds=(center[0] - r, center[0] + r, center[1] - r, center[1] + r))
    if kind == "waypoints":
        pts = np.asarray(p["target_waypoints"], dtype=float)
        if pts.size < 4 or pts.size % 2:
            raise ValueError("target_waypoints must be a flat list x0, y0, x1, y1, ... of at least 2 points")
        return make_targets(kind, count, points=pts.reshape(-1, 2), speed=p["target_speed"])
    raise ValueError(f"target_kind must be one of {', '.join(TARGET_KINDS)}; got {kind!r}")


def _pose(position: np.ndarray, velocity: np.ndarray) -> Pose:
    """A planar pose facing the direction of motion."""
    pose = Pose()
    pose.position.x, pose.position.y = float(position[0]), float(position[1])
    yaw = math.atan2(velocity[1], velocity[0]) if np.linalg.norm(velocity) > 0 else 0.0
    pose.orientation.z, pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return pose


class TargetNode(Node):
    """Moves the target along its path (wall-clock time) and publishes noisy observations."""

    def __init__(self, node_name: str = "target_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_node(self, "target_node")
        p.update(declare(self, (SCHEMA["num_robots"], SCHEMA["seed"])))
        self.targets = targets_from_parameters(p)
        self.target = self.targets[0]
        self.num_robots = int(p["num_robots"])
        self.noise = noise_levels(list(p["noise_std"]), self.num_robots).tolist()
        self.frame_id = str(p["frame_id"])
        seeds = np.random.SeedSequence(int(p["seed"])).spawn(self.num_robots)
        self.rngs = [np.random.default_rng(s) for s in seeds]
        parent = self.get_namespace().rstrip("/").rsplit("/", 1)[0]
        self.pose_pub = self.create_publisher(PoseStamped, "pose", 10)
        self.poses_pub = self.create_publisher(PoseArray, "poses", 10)
        self.obs_pubs = [self.create_publisher(TargetEstimate, f"{parent}/robot_{i}/observation", 5)
                         for i in range(self.num_robots)]
        self.t0 = self.get_clock().now()
        self.published = 0
        self.create_timer(1.0 / float(p["publish_rate"]), self.publish)

    def elapsed(self) -> float:
        """Seconds since the node started: the target's clock."""
        return (self.get_clock().now() - self.t0).nanoseconds / 1e9

    def publish(self) -> None:
        t = self.elapsed()
        pos = self.target.position(t)
        stamp = self.get_clock().now().to_msg()
        poses = [_pose(target.position(t), target.velocity(t)) for target in self.targets]
        first = PoseStamped()
        first.header.stamp = stamp
        first.header.frame_id = self.frame_id
        first.pose = poses[0]
        self.pose_pub.publish(first)
        every = PoseArray()
        every.header = first.header
        every.poses = poses
        self.poses_pub.publish(every)
        for i, pub in enumerate(self.obs_pubs):
            sigma = self.noise[i]
            seen = pos + self.rngs[i].normal(scale=sigma, size=2)
            obs = TargetEstimate()
            obs.header.stamp = stamp
            obs.header.frame_id = self.frame_id
            obs.robot_id = i
            obs.iteration = self.published
            obs.position.x, obs.position.y = float(seen[0]), float(seen[1])
            obs.estimate = seen.astype(float).tolist()
            obs.covariance = (sigma**2 * np.eye(2)).reshape(-1).tolist()
            pub.publish(obs)
        self.published += 1


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros target_node --ros-args -r __ns:=/target``."""
    return run_node(TargetNode, "target_node", args)


if __name__ == "__main__":
    sys.exit(main())
