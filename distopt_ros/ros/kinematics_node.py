"""Kinematic robot simulator: integrates ``cmd_vel`` into odometry, as a robot driver would.

One node per robot, in the robot's namespace: subscribes ``cmd_vel`` (``geometry_msgs/Twist``)
and publishes ``odom`` (``nav_msgs/Odometry``, pose in ``frame_id`` = ``map``, child frame
``robot_<i>/base_link``) at ``integration_rate`` Hz. ``model`` is ``single_integrator`` (holonomic:
``linear.x, linear.y`` in the world frame) or ``unicycle`` (``linear.x`` forward, ``angular.z``
yaw rate; exact integration over the time that really passed). Commands are saturated, and a command older
than ``cmd_timeout`` is treated as zero, as real drivers do. When ``tf2_ros`` is available
(a ROS 2 distro) the node also broadcasts ``map -> robot_<i>/base_link``; the PyPI wheels
have no tf2, so there it publishes odometry only.

The robot node reads the same ``odom`` topic, so it drives a real robot's driver unchanged.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node

from distopt_ros.core.tracking import SingleIntegrator, Unicycle
from distopt_ros.ros.entry import run_node
from distopt_ros.ros.params import declare_node

MODELS = ("single_integrator", "unicycle")
MAX_STEP = 0.5
"""Longest interval integrated at once (seconds): after a longer stall the robot does not jump."""



class KinematicsNode(Node):
    """Integrates velocity commands of one simulated robot and reports its odometry."""

    def __init__(self, node_name: str = "kinematics_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_node(self, "kinematics_node")
        self.model = p["model"]
        x, y, theta = p["initial_x"], p["initial_y"], p["initial_theta"]
        vmax, wmax, rate = p["max_speed"], p["max_angular_speed"], p["integration_rate"]
        self.cmd_timeout = p["cmd_timeout"]
        self.frame_id = p["frame_id"]
        if self.model == "single_integrator":
            self.body: SingleIntegrator | Unicycle = SingleIntegrator((x, y), vmax)
        elif self.model == "unicycle":
            self.body = Unicycle(x, y, theta, vmax, wmax)
        else:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}")
        self.child_frame_id = f"{self.get_namespace().strip('/') or 'robot'}/base_link"
        self.dt = 1.0 / float(rate)
        self._cmd = Twist()
        self._cmd_time = None
        self.commands = 0
        self.moving_time = 0.0
        """Seconds integrated under a fresh command."""
        self._last = None
        self.odom_pub = self.create_publisher(Odometry, "odom", 10)
        self.create_subscription(Twist, "cmd_vel", self._on_cmd, 10)
        self._tf = self._tf_broadcaster()
        self.create_timer(self.dt, self._integrate)

    def _tf_broadcaster(self) -> Any:
        try:
            from tf2_ros import TransformBroadcaster
        except ImportError:
            return None
        return TransformBroadcaster(self)

    def _on_cmd(self, msg: Twist) -> None:
        values = (msg.linear.x, msg.linear.y, msg.angular.z)
        if not all(math.isfinite(v) for v in values):
            self.get_logger().warning("ignored cmd_vel with NaN/Inf", throttle_duration_sec=5.0)
            return
        self._cmd = msg
        self._cmd_time = self.get_clock().now()
        self.commands += 1

    def _integrate(self) -> None:
        now = self.get_clock().now()
        # Integrate the time that really passed: a timer that fires late (a loaded machine) must
        # not slow the robot down against the wall clock the target moves by.
        dt = self.dt if self._last is None else min((now - self._last).nanoseconds / 1e9, MAX_STEP)
        self._last = now
        if dt <= 0:
            return
        fresh = self._cmd_time is not None and (now - self._cmd_time).nanoseconds / 1e9 <= self.cmd_timeout
        cmd = self._cmd if fresh else Twist()
        self.moving_time += dt if fresh else 0.0
        if isinstance(self.body, SingleIntegrator):
            self.body.step((cmd.linear.x, cmd.linear.y), dt)
        else:
            self.body.step(cmd.linear.x, cmd.angular.z, dt)
        self._publish(now, cmd)

    def _publish(self, now: Any, cmd: Twist) -> None:
        x, y, theta = (float(v) for v in self.body.pose)
        odom = Odometry()
        odom.header.stamp = now.to_msg()
        odom.header.frame_id = self.frame_id
        odom.child_frame_id = self.child_frame_id
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(theta / 2), math.cos(theta / 2)
        odom.twist.twist = cmd
        self.odom_pub.publish(odom)
        if self._tf is not None:
            from geometry_msgs.msg import TransformStamped

            tf = TransformStamped()
            tf.header = odom.header
            tf.child_frame_id = self.child_frame_id
            tf.transform.translation.x, tf.transform.translation.y = x, y
            tf.transform.rotation = odom.pose.pose.orientation
            self._tf.sendTransform(tf)


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run distopt_ros kinematics_node --ros-args -r __ns:=/robot_0``."""
    return run_node(KinematicsNode, "kinematics_node", args)


if __name__ == "__main__":
    sys.exit(main())
