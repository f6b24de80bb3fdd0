"""Fuzzing every algorithm topic of a running swarm over DDS: nothing crashes, all is refused and counted.

An 8-robot edge-ADMM ring runs one process per robot. A fuzzer node in this process learns
each robot's incarnation from its status (what any listener can) and publishes, on every
``/robot_<i>/edge_to_<j>`` topic, messages that are each wrong in one way: wrong sizes, NaN,
Inf, huge values, unknown senders, misaddressed, another algorithm, replayed sequence numbers,
stale and far-future rounds, old and impossible incarnations, a malformed tuning block. The
swarm must still converge to the centralized optimum (tolerance 1e-8), every robot must exit 0,
and the robots' rejection counters must add up to exactly the number of messages fuzzed.
"""

import ast
import re
import threading
import time

import numpy as np
import pytest
from swarm_process import Runner, optimum_and_error

from distopt_ros.core.graphs import make_graph

pytestmark = pytest.mark.ros

ROUNDS_OF_FUZZ = 4


def _cases(rng: np.random.Generator, sender: int, receiver: int, incarnation: int) -> list[tuple[str, dict]]:
    """One defect each (the expected refusal first), on top of a genuine-looking payload."""
    ok = {"sender_id": sender, "receiver_id": receiver, "iteration": 5, "seq": int(rng.integers(10**9, 10**12)),
          "incarnation": incarnation, "algorithm": "radmm", "kind": "edge", "dim": 2,
          "consensus": [float(v) for v in rng.normal(size=2)]}
    huge = float(10.0 ** rng.integers(101, 308))
    return [
        ("wrong_dimension", {**ok, "consensus": [1.0, 2.0, 3.0]}),
        ("wrong_dimension", {**ok, "dim": 3}),
        ("non_finite", {**ok, "consensus": [float("nan"), 1.0]}),
        ("wrong_dimension", {**ok, "primal": [0.0, 0.0]}),  # a block edge ADMM does not send
        ("non_finite", {**ok, "consensus": [float("inf"), 0.0]}),
        ("out_of_range", {**ok, "consensus": [huge, -1.0]}),
        ("unknown_sender", {**ok, "sender_id": 40 + sender}),
        ("wrong_receiver", {**ok, "receiver_id": (receiver + 3) % 8}),
        ("wrong_algorithm", {**ok, "algorithm": "dgd"}),
        ("duplicate_seq", {**ok, "seq": 1}),
        ("stale", {**ok, "iteration": 0}),
        ("too_early", {**ok, "iteration": 10**9}),
        ("old_incarnation", {**ok, "incarnation": incarnation - 1}),
        ("future_incarnation", {**ok, "incarnation": incarnation + 10**15}),
        ("malformed", {**ok, "tuning": [1.5]}),
    ]


class Fuzzer:
    """A node on the swarm's domain that publishes refused-by-design payloads on every edge topic."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        from distopt_ros.msg import AgentState, RobotStatus
        from distopt_ros.ros.qos import status_qos, swarm_qos

        self.AgentState = AgentState
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("fuzzer", context=self.context)
        self.graph = make_graph("ring", 8)
        self.pubs = {(i, j): self.node.create_publisher(AgentState, f"/robot_{i}/edge_to_{j}", swarm_qos())
                     for i in range(8) for j in self.graph.neighbors(i)}
        self.incarnations: dict[int, int] = {}
        for i in range(8):
            self.node.create_subscription(RobotStatus, f"/robot_{i}/status",
                                          lambda m, i=i: self.incarnations.__setitem__(i, int(m.incarnation)),
                                          status_qos())
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self.sent: dict[str, int] = {}

    def fuzz(self, rng: np.random.Generator) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(self.incarnations) < 8 or not all(
                p.get_subscription_count() >= 1 for p in self.pubs.values())):
            time.sleep(0.05)
        assert len(self.incarnations) == 8, "the fuzzer never saw the robots"
        for _ in range(ROUNDS_OF_FUZZ):
            batches = {(i, j): _cases(rng, i, j, self.incarnations[i]) for i, j in self.pubs}
            for k in range(len(next(iter(batches.values())))):
                for (i, j), pub in self.pubs.items():  # one per topic in turn: no topic's history overflows
                    reason, fields = batches[i, j][k]
                    wire = self.AgentState()
                    for key, value in fields.items():
                        setattr(wire, key, value)
                    pub.publish(wire)
                    self.sent[reason] = self.sent.get(reason, 0) + 1
                    time.sleep(0.002)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_fuzzed_payloads_are_refused_counted_and_the_swarm_still_converges(domain_id):
    # A flood can push genuine payloads out of a keep-last history like a lossy radio would; round_timeout is
    # what a deployment under such traffic runs with (docs: "Robots that leave and rejoin"), so the test does too.
    runner = Runner(domain_id, ["-p", "round_period:=0.04", "-p", "round_timeout:=5.0"])
    fuzzer = Fuzzer(domain_id)
    try:
        runner.wait_for_iteration(20)
        fuzzer.fuzz(np.random.default_rng(2026))
        out = runner.finish()
    finally:
        fuzzer.close()
    assert runner.rc == 0, out
    assert "status               : CONVERGED" in out and "died" not in out and "Traceback" not in out
    _, error = optimum_and_error(out)
    assert error < 1e-8
    m = re.search(r"rejected messages    : (\d+) (\{.*\})", out)
    assert m, out
    total, reasons = int(m.group(1)), ast.literal_eval(m.group(2))  # the summary prints a dict
    assert total == sum(fuzzer.sent.values()), (reasons, fuzzer.sent)
    merged = {}
    for key, count in reasons.items():
        name = "malformed" if key.startswith("malformed") else key
        merged[name] = merged.get(name, 0) + count
    assert merged == fuzzer.sent
