"""The one ``main`` every node executable shares: build, spin, shut down cleanly.

Invalid parameters are reported in one line naming the parameter (exit code 2) and only
while the node is being built; an error raised later, while spinning, is a real failure
and propagates with its traceback. Ctrl-C and an external shutdown end the node quietly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException


def run_node(factory: Callable[[], Any], name: str, args: list[str] | None = None) -> int:
    """``rclpy.init``, build the node with ``factory``, spin it until shutdown; the process exit code."""
    rclpy.init(args=args)
    try:
        node = factory()
    except ValueError as exc:
        print(f"{name}: invalid parameter: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
