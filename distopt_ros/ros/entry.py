"""The one ``main`` every node executable shares: build, spin, end cleanly, report by exit code.

* Invalid parameters are reported in one line naming the parameter (exit code 2), only
  while the node is being built; an error raised later, while spinning, is a real failure
  and propagates with its traceback (exit code 1).
* SIGINT (Ctrl-C, and what ``ros2 launch`` sends first) and SIGTERM end the node quietly
  with exit code 0: rclpy's own signal handlers are not installed (they shut the context
  down under a running callback, which raised errors and crashed nodes at exit); ours only
  set a flag that the spin loop reads between callbacks, so the node is destroyed and the
  context shut down in order, within a spin timeout of the signal.
* A node may define ``on_signal(name)``, called before it is destroyed (the monitor prints
  what was done so far).
* A node that has finished its job sets ``exit_code`` (a robot once its swarm has stopped:
  0 if it converged, 3 if it stopped without converging); the loop then ends with it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException

from distopt_ros.ros.exit_codes import EXIT_BAD_PARAMETER, EXIT_OK

SPIN_TIMEOUT = 0.1
"""Longest wait of the spin loop between two looks at the stop flag (seconds)."""


class StopSignals:
    """SIGINT and SIGTERM set :attr:`received` instead of raising; the previous handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def init_without_signal_handlers(args: list[str] | None = None, **kwargs: Any) -> None:
    """``rclpy.init`` without rclpy's signal handlers (:class:`StopSignals` takes their place)."""
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO, **kwargs)


def run_node(factory: Callable[[], Any], name: str, args: list[str] | None = None, exit_process: bool = True) -> int:
    """``rclpy.init``, build the node with ``factory``, spin it until it finishes or is stopped; the exit code.

    ``exit_process`` (the node executables): once the node is destroyed and the context shut
    down, end the process at once with that code. Python's own teardown of the imported
    numerics (scipy, networkx) takes 0.3 s on an idle machine and seconds under load, which
    is what pushed robots past launch's grace period into SIGTERM and SIGKILL.
    """
    code = _run_node(factory, name, args)
    if exit_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run_node(factory: Callable[[], Any], name: str, args: list[str] | None) -> int:
    from rclpy.executors import SingleThreadedExecutor

    with StopSignals() as stop:
        init_without_signal_handlers(args)
        node = executor = None
        try:
            try:
                node = factory()
            except ValueError as exc:  # ParameterError and the builders' argument checks: one line
                print(f"{name}: invalid parameter: {exc}", file=sys.stderr, flush=True)
                return EXIT_BAD_PARAMETER
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while stop.received is None:
                code = getattr(node, "exit_code", None)
                if code is not None:
                    return int(code)
                executor.spin_once(timeout_sec=SPIN_TIMEOUT)
            on_signal = getattr(node, "on_signal", None)
            if on_signal is not None:
                on_signal(signal.Signals(stop.received).name)
            return EXIT_OK
        except (KeyboardInterrupt, ExternalShutdownException):
            return EXIT_OK
        finally:
            if executor is not None:
                executor.shutdown(timeout_sec=0)
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()


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
