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


EXECUTORS = ("single", "events")
"""Executors a swarm process can spin: rclpy's ``SingleThreadedExecutor`` or the ``EventsExecutor``."""


def check_executor(kind: str) -> str:
    """``kind`` if it names one of :data:`EXECUTORS`; ValueError naming the choices otherwise."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    return kind


def make_executor(kind: str, context: Any) -> Any:
    """The executor named ``kind`` for ``context`` (``executor`` parameter / ``--executor``).

    ``single`` is rclpy's standard executor: it rebuilds a wait set over every entity of
    every node before each wait, a cost that grows with the number of nodes in the process.
    ``events`` is rclpy's ``EventsExecutor`` (``rclpy.experimental`` in Jazzy), driven by
    middleware callbacks instead, so a process hosting many robots pays per event, not per
    entity. Both run the same nodes and callbacks.
    """
    if check_executor(kind) == "single":
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
    from rclpy.experimental import EventsExecutor

    return EventsExecutor(context=context)
