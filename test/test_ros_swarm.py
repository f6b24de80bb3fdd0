"""ROS 2 integration: real nodes, real DDS (localhost), the colcon-built message types."""

import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

pytestmark = pytest.mark.ros

FAST = {"status_period": 0.2}


def _run(params, domain_id, **kw):
    from distopt_ros.ros.runner import run_swarm

    return run_swarm({**FAST, **params}, progress=False, domain_id=domain_id, timeout=kw.pop("timeout", 90.0), **kw)


def test_decentralized_swarm_converges_over_dds(domain_id):
    report = _run({"algorithm": "radmm", "num_robots": 5, "topology": "ring", "seed": 3,
                   "max_iterations": 2000, "tolerance": 1e-10}, domain_id)
    assert report.finished and report.converged
    assert len(report.statuses) == 5
    for status in report.statuses.values():
        assert np.linalg.norm(status["estimate"] - report.optimum) < 1e-6
        assert status["messages_received"] > 0 and status["rejections"] == {}


@pytest.mark.parametrize("algorithm,extra", [("diging", {"step": 0.03}), ("atg", {"delta": 0.05})])
def test_broadcast_and_tracking_algorithms_converge_over_dds(domain_id, algorithm, extra):
    report = _run({"algorithm": algorithm, "num_robots": 5, "topology": "ring", "seed": 3,
                   "max_iterations": 20_000, "tolerance": 1e-11, **extra}, domain_id)
    assert report.finished and report.converged
    assert report.max_error < 1e-6


def test_star_swarm_with_coordinator_converges_over_dds(domain_id):
    report = _run({"algorithm": "admm", "num_robots": 4, "seed": 1, "max_iterations": 2000,
                   "tolerance": 1e-10}, domain_id)
    assert report.finished and report.converged
    for status in report.statuses.values():
        assert np.linalg.norm(status["estimate"] - report.optimum) < 1e-6


@pytest.mark.parametrize("algorithm,topology,executor", [
    ("radmm", "grid", "events"), ("admm", "star", "events"), ("radmm", "grid", "single"), ("admm", "star", "single"),
])
def test_ros_iterates_equal_simulator_iterates(domain_id, algorithm, topology, executor):
    from distopt_ros.core.scenario import SwarmConfig, make_swarm
    from distopt_ros.sim.simulator import simulate

    params = {"algorithm": algorithm, "num_robots": 4, "topology": topology, "seed": 9,
              "max_iterations": 60, "tolerance": 0.0}
    report = _run(params, domain_id, record=True, executor=executor)
    assert report.finished
    sim = simulate(make_swarm(SwarmConfig.from_mapping(params), record=True))
    ros_traj = {node.agent.agent_id: np.array(node.agent.trajectory) for node in report.nodes}
    assert set(ros_traj) == set(sim.trajectories)
    for aid, traj in sim.trajectories.items():
        assert traj.shape == ros_traj[aid].shape
        assert np.array_equal(traj, ros_traj[aid]), f"agent {aid} iterates differ"


def test_one_process_per_robot(domain_id):
    report = _run({"algorithm": "radmm", "num_robots": 4, "topology": "path", "seed": 2,
                   "max_iterations": 3000, "tolerance": 1e-10}, domain_id, mode="multi", timeout=120.0)
    assert report.finished and report.converged
    assert report.max_error < 1e-6


@pytest.mark.parametrize("override,needle", [
    ("rho:=0.0", "rho"), ("rho:=-2.0", "rho"), ("topology:=hypercube", "topology"), ("num_robots:=1", "num_robots"),
])
def test_runner_refuses_bad_parameters_by_name(override, needle):
    proc = subprocess.run([sys.executable, "-m", "distopt_ros.ros.runner", "-p", override, "--timeout", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert needle in proc.stderr and "error" in proc.stderr


def test_runner_refuses_an_unknown_executor_by_name(domain_id):
    with pytest.raises(ValueError, match="executor"):
        _run({"algorithm": "radmm", "num_robots": 4}, domain_id, executor="multi_threaded")
    proc = subprocess.run([sys.executable, "-m", "distopt_ros.ros.runner", "--executor", "bogus", "--timeout", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--executor" in proc.stderr


def test_robot_node_refuses_out_of_range_parameter_by_name():
    proc = subprocess.run([sys.executable, "-m", "distopt_ros.ros.robot_node", "--ros-args",
                           "-p", "alpha:=1.5"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ROS_DOMAIN_ID": "201"})
    assert proc.returncode == 2
    assert "alpha" in proc.stderr


def test_message_stamps_follow_the_node_clock_with_and_without_sim_time(domain_id):
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from distopt_ros.msg import AgentState
    from distopt_ros.ros.robot_node import RobotNode

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        params = [Parameter("algorithm", value="radmm"), Parameter("num_robots", value=4),
                  Parameter("robot_id", value=0)]
        node = RobotNode(namespace="robot_0", context=context, parameter_overrides=params)
        wire = AgentState()
        before = time.time_ns()
        stamp = node._stamp(wire)
        assert before <= stamp.sec * 10**9 + stamp.nanosec <= time.time_ns()  # the system clock
        node.set_parameters([Parameter("use_sim_time", value=True)])  # no /clock yet: simulated time is 0
        stamp = node._stamp(wire)
        assert (stamp.sec, stamp.nanosec) == (0, 0) and wire.header.stamp is stamp
        node.set_parameters([Parameter("use_sim_time", value=False)])
        assert node._stamp(wire).sec >= before // 10**9
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_malformed_and_foreign_messages_are_rejected_without_touching_state(domain_id):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from distopt_ros.msg import AgentState
    from distopt_ros.ros.robot_node import RobotNode

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        params = [Parameter("algorithm", value="radmm"), Parameter("num_robots", value=3),
                  Parameter("topology", value="path"), Parameter("robot_id", value=1)]
        robot = RobotNode(namespace="robot_1", context=context, parameter_overrides=params)
        peer = rclpy.create_node("fake_robot_0", context=context)
        pub = peer.create_publisher(AgentState, "/robot_0/edge_to_1", robot.qos)
        ex = SingleThreadedExecutor(context=context)
        ex.add_node(robot)
        ex.add_node(peer)
        deadline = time.time() + 20
        while pub.get_subscription_count() < 1 and time.time() < deadline:
            ex.spin_once(timeout_sec=0.05)
        x0 = robot.agent.x.copy()

        def send(seq, **fields):
            m = AgentState(sender_id=0, receiver_id=1, iteration=0, seq=seq, algorithm="radmm",
                           kind="edge", dim=2)
            m.consensus = [1.0, 1.0]
            for k, v in fields.items():
                setattr(m, k, v)
            pub.publish(m)

        send(1, consensus=[float("nan"), 1.0])       # non-finite
        send(2, consensus=[1.0, 2.0, 3.0])           # wrong dimension
        send(3, sender_id=7)                         # unknown sender on this edge
        send(4, algorithm="admm")                    # wrong algorithm
        send(5)                                      # a valid message: accepted (buffered, no step yet)
        send(5)                                      # the same sequence number again: a replay
        send(6, iteration=50)                        # far in the future
        deadline = time.time() + 10
        while sum(robot.rejections().values()) < 6 and time.time() < deadline:
            ex.spin_once(timeout_sec=0.05)
        rej = robot.rejections()
        assert rej == {"non_finite": 1, "wrong_dimension": 1, "unknown_sender": 1, "wrong_algorithm": 1,
                       "duplicate_seq": 1, "too_early": 1}
        assert robot.agent.iteration == 0 and np.array_equal(robot.agent.x, x0)
        ex.shutdown()
        robot.destroy_node()
        peer.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_live_retuning_validates_and_applies(lone_robot):
    from rclpy.parameter import Parameter

    robot = lone_robot
    # One wording for every refusal, whether rclpy's old range would have caught it or not.
    for value in (-1.0, 0.0):
        bad = robot.set_parameters([Parameter("rho", value=value)])[0]
        assert not bad.successful and bad.reason == f"rho must be a finite number > 0, got {value!r}"
    assert robot.agent.rho == 1.0 and robot.get_parameter("rho").value == 1.0
    fixed = robot.set_parameters([Parameter("num_robots", value=5)])[0]
    assert not fixed.successful and fixed.reason == (
        "num_robots is read at start-up; tunable while running here: rho, alpha, loss_probability, "
        "activation_probability")
    inert = robot.set_parameters([Parameter("activation_probability", value=0.5)])[0]
    assert not inert.successful and "async only" in inert.reason
    # `ros2 param set ... rho 2` sends an integer: accepted, stored as a float.
    ok = robot.set_parameters([Parameter("rho", value=2), Parameter("alpha", value=0.7)])
    assert all(r.successful for r in ok)
    rho = robot.get_parameter("rho")
    assert rho.type_ == Parameter.Type.DOUBLE and rho.value == 2.0
    # Swarm-wide: in force on every robot from one round, not at once on this one.
    assert robot.agent.tuning.values == (2.0, 0.7) and robot.agent.tuning.round == robot.agent.tuning_delay
    assert robot.agent.rho == 1.0


def test_retuned_swarm_still_reaches_the_optimum(domain_id):
    """Change rho and alpha on every robot mid-run (as `ros2 param set` would)."""
    from rclpy.parameter import Parameter

    from distopt_ros.ros import runner

    changed = []

    def retune(nodes, statuses):
        if not changed and nodes and min(n.agent.iteration for n in nodes) >= 5:
            for node in nodes:
                res = node.set_parameters([Parameter("rho", value=0.6), Parameter("alpha", value=0.7)])
                assert all(r.successful for r in res)
            changed.append(True)

    report = runner.run_swarm({**FAST, "algorithm": "radmm", "num_robots": 5, "topology": "ring", "seed": 4,
                               "max_iterations": 5000, "tolerance": 1e-10}, progress=False,
                              domain_id=domain_id, timeout=90.0, on_tick=retune)
    assert changed and report.converged
    assert report.max_error < 1e-6
    assert all(node.agent.rho == 0.6 for node in report.nodes)


@pytest.mark.parametrize("mode_params", [
    {"execution_mode": "async", "step_period": 0.01, "activation_probability": 0.5, "qos_preset": "lossy_radio"},
    {"execution_mode": "sync", "round_timeout": 0.05},
])
def test_lossy_radio_swarm_still_reaches_the_optimum(domain_id, mode_params):
    """Seeded transport loss (30 %; 50 % activation when async) over real DDS: edge ADMM converges, drops counted."""
    report = _run({"algorithm": "radmm", "num_robots": 4, "topology": "ring", "seed": 5, "alpha": 0.8,
                   "max_iterations": 6000, "tolerance": 1e-10, "loss": "bernoulli", "loss_probability": 0.3,
                   **mode_params}, domain_id, timeout=150.0)
    assert report.finished
    assert report.max_error < 1e-6
    assert report.totals("messages_dropped") > 0


@pytest.mark.parametrize("params,needle", [
    ({"loss": "bernoulli", "loss_probability": 0.1}, "round_timeout"),
    ({"algorithm": "admm", "execution_mode": "async"}, "execution_mode"),
    ({"qos_preset": "carrier_pigeon"}, "qos_preset"),
    ({"execution_mode": "later"}, "execution_mode"),
    ({"round_timeout_action": "pray"}, "round_timeout_action"),
    ({"algorithm": "admm", "round_timeout": 0.1, "round_timeout_action": "skip"}, "round_timeout_action"),
    ({"algorithm": "qudrc", "topology": "directed_ring", "loss": "bernoulli", "loss_probability": 0.1,
      "round_timeout": 0.1}, "directed link"),
])
def test_transport_configuration_errors_name_the_parameter(domain_id, params, needle):
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from distopt_ros.ros.robot_node import RobotNode

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        overrides = [Parameter("num_robots", value=3), Parameter("robot_id", value=0)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        with pytest.raises(ValueError, match=needle):
            RobotNode(namespace="robot_0", context=context, parameter_overrides=overrides)
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize("params", [
    {"algorithm": "coupled", "problem": "microgrid", "num_robots": 5, "topology": "ring", "gamma": 0.1},
    {"algorithm": "rcaladin", "problem": "fusion", "num_robots": 4},
    {"algorithm": "fedavg", "problem": "least_squares", "num_robots": 4, "dim": 3, "local_step": 0.05},
    {"algorithm": "price", "problem": "allocation", "num_robots": 4, "dim": 1, "step": 0.1},
    {"algorithm": "price", "problem": "edge_consensus", "num_robots": 4, "dim": 2, "step": 0.05},
    {"algorithm": "semi_atc", "problem": "fusion", "num_robots": 5, "topology": "ring", "step": 0.2},
    {"algorithm": "atc", "problem": "fusion", "num_robots": 4, "topology": "ring", "step": 0.2},
], ids=lambda p: f"{p['algorithm']}-{p['problem']}")
def test_every_family_converges_over_dds(domain_id, params):
    report = _run({"seed": 2, "max_iterations": 20_000, "tolerance": 1e-11, **params}, domain_id)
    assert report.finished and report.converged
    assert report.max_error < 1e-6


@pytest.mark.parametrize("params", [
    {"algorithm": "coupled", "problem": "microgrid", "num_robots": 4, "topology": "ring", "gamma": 0.1},
    {"algorithm": "price", "problem": "allocation", "num_robots": 4, "dim": 2, "step": 0.1},
    {"algorithm": "price", "problem": "allocation", "num_robots": 4, "price_mode": "extragradient", "step": 0.1},
    # per-robot price parts on the shared coordinator topic (each robot takes its own d_i n entries)
    {"algorithm": "price", "problem": "edge_consensus", "num_robots": 4, "price_mode": "extragradient", "step": 0.05},
    {"algorithm": "fedavg", "problem": "fusion", "num_robots": 4, "local_epochs": 3},
    {"algorithm": "rcaladin", "problem": "fusion", "num_robots": 4},
    {"algorithm": "dgd", "problem": "logistic", "num_robots": 4, "topology": "ring", "step": 0.02},
    {"algorithm": "diging", "problem": "least_squares", "num_robots": 4, "topology": "path", "step": 0.01},
    {"algorithm": "atc", "problem": "logistic", "num_robots": 4, "topology": "ring", "step": 0.1},
    {"algorithm": "semi_atc", "problem": "least_squares", "num_robots": 5, "topology": "ring", "step": 0.02},
    {"algorithm": "atg", "problem": "fusion", "num_robots": 5, "topology": "star"},
], ids=lambda p: f"{p['algorithm']}-{p.get('price_mode', p['problem'])}")
def test_ros_iterates_equal_simulator_for_more_families(domain_id, params):
    from distopt_ros.core.scenario import SwarmConfig, make_swarm
    from distopt_ros.sim.simulator import simulate

    full = {"seed": 4, "max_iterations": 40, "tolerance": 0.0, **params}
    report = _run(full, domain_id, record=True)
    sim = simulate(make_swarm(SwarmConfig.from_mapping(full), record=True))
    for node in report.nodes:
        aid = node.agent.agent_id
        assert np.array_equal(np.array(node.agent.trajectory), sim.trajectories[aid]), f"agent {aid} differs"


def test_async_coupled_microgrid_converges_over_a_lossy_radio(domain_id):
    """Asynchronous constraint-coupled primal-dual on the microgrid: 30 % loss, 50 % activation, error < 1e-6."""
    report = _run({"algorithm": "coupled", "problem": "microgrid", "num_robots": 4, "topology": "ring", "seed": 1,
                   "gamma": 0.1, "max_iterations": 20_000, "tolerance": 1e-10, "execution_mode": "async",
                   "step_period": 0.005, "activation_probability": 0.5, "loss": "bernoulli",
                   "loss_probability": 0.3, "qos_preset": "lossy_radio"}, domain_id, timeout=150.0)
    assert report.finished
    assert report.max_error < 1e-6
    assert report.totals("messages_dropped") > 0


def test_bad_messages_injected_into_a_running_swarm_are_rejected_and_it_converges(domain_id):
    """NaN, wrong size, unknown sender and a replayed sequence number hit robot 1 mid-run."""
    import rclpy

    from distopt_ros.msg import AgentState
    from distopt_ros.ros import runner

    state = {}

    def inject(nodes, statuses):
        if "pub" not in state:
            ctx = nodes[0].context
            state["node"] = rclpy.create_node("intruder", context=ctx)
            state["pub"] = state["node"].create_publisher(AgentState, "/robot_0/edge_to_1", nodes[0].qos)
            state["sent"] = 0
        matched = state["pub"].get_subscription_count() >= 1  # sent before matching = lost, not rejected
        if matched and state["sent"] < 4 and statuses and min(s["iteration"] for s in statuses.values()) >= 3:
            base = {"sender_id": 0, "receiver_id": 1, "algorithm": "radmm", "kind": "edge", "dim": 2}
            bad = [
                {**base, "iteration": 5, "seq": 10**9, "consensus": [float("nan"), 0.0]},
                {**base, "iteration": 6, "seq": 10**9 + 1, "consensus": [1.0, 2.0, 3.0]},
                {**base, "sender_id": 7, "iteration": 7, "seq": 10**9 + 2, "consensus": [1.0, 1.0]},
                {**base, "iteration": 0, "seq": 1, "consensus": [1.0, 1.0]},  # replay of seq 1
            ]
            m = AgentState(**{k: v for k, v in bad[state["sent"]].items() if k != "consensus"})
            m.consensus = bad[state["sent"]]["consensus"]
            state["pub"].publish(m)
            state["sent"] += 1

    # Paced rounds (round_period): the intruder, a node that joins mid-run, must be discovered
    # while the swarm still runs, however fast the executor steps it.
    report = runner.run_swarm({**FAST, "algorithm": "radmm", "num_robots": 4, "topology": "ring", "seed": 3,
                               "max_iterations": 5000, "tolerance": 1e-10, "round_period": 0.01},
                              progress=False, domain_id=domain_id, timeout=90.0, on_tick=inject)
    assert state["sent"] == 4 and report.converged and report.max_error < 1e-6
    robot1 = next(n for n in report.nodes if n.agent.agent_id == 1)
    assert sum(robot1.rejections().values()) >= 3  # every bad payload that arrived in time was refused


def test_quantized_aladin_over_a_digraph_equals_the_simulator_and_reaches_the_optimum(domain_id):
    """QuDRC-ALADIN over DDS: integer QuantizedPayload messages along directed edges only."""
    from distopt_ros.core.scenario import SwarmConfig, make_swarm
    from distopt_ros.sim.simulator import simulate

    params = {"algorithm": "qudrc", "problem": "least_squares", "num_robots": 5,
              "topology": "random_strongly_connected", "seed": 2, "rho": 2.0, "quantization_level": 1e-4,
              "max_iterations": 25}
    report = _run(params, domain_id, record=True, timeout=120.0)
    assert report.finished
    # Tolerance: the quantized averages are exact to ~Delta, so the fixed point is within a few Delta.
    assert report.max_error < 2e-4
    sim = simulate(make_swarm(SwarmConfig.from_mapping(params), record=True))
    for node in report.nodes:
        aid = node.agent.agent_id
        assert np.array_equal(np.array(node.agent.trajectory), sim.trajectories[aid]), f"agent {aid} differs"
        # Only out-neighbours are published to: the directed graph is honoured on the wire.
        edges = {t for t in node.out_topics if "/edge_to_" in t}
        assert {int(t.rsplit("_", 1)[1]) for t in edges} == set(node.agent.out_neighbors)


def test_quantized_payload_conversion_refuses_foreign_level_and_inexact_integers():
    from distopt_ros.core.messages import Message
    from distopt_ros.msg import QuantizedPayload
    from distopt_ros.ros import conversions

    msg = Message(sender=1, receiver=2, iteration=7, algorithm="qudrc", kind="qavg", dim=2, primal=[3.0, 4.0],
                  dual=[1.0, 2.0], consensus=[5.0, 0.0], aux=[1.0, 0.0])
    wire = conversions.to_quantized_payload(msg, 9, QuantizedPayload().header.stamp, 1e-3, outer_iteration=2)
    back = conversions.from_quantized_payload(wire, 1e-3)
    assert back.iteration == 7 and back.sender == 1 and back.receiver == 2 and not back.done
    assert np.array_equal(back.consensus, [5.0, 0.0]) and wire.outer_iteration == 2
    with pytest.raises(ValueError, match="level"):
        conversions.from_quantized_payload(wire, 1e-4)
    wire.mass = [2**60, 0]
    with pytest.raises(ValueError, match="mass"):
        conversions.from_quantized_payload(wire, 1e-3)
    with pytest.raises(ValueError, match="tokens"):
        conversions.to_quantized_payload(replace(msg, aux=[0.5, 0.0]), 1, wire.header.stamp, 1e-3, 0)


@pytest.mark.parametrize("params", [
    {"algorithm": "admm", "problem": "fusion", "num_robots": 4},
    {"algorithm": "fedavg", "problem": "fusion", "num_robots": 4, "client_fraction": 0.5, "local_epochs": 2},
    {"algorithm": "diging", "problem": "least_squares", "num_robots": 4, "topology": "ring", "step": 0.01,
     "round_timeout_action": "retransmit"},
    {"algorithm": "radmm", "problem": "fusion", "num_robots": 4, "topology": "ring",
     "round_timeout_action": "retransmit"},
], ids=lambda p: p["algorithm"])
def test_synchronous_algorithms_keep_their_round_discipline_under_loss(domain_id, params):
    """30 % loss on every link: missing messages are asked for again, so the iterates equal the lossless
    simulator's exactly; the loss, the retransmissions and the stalled rounds are reported."""
    from distopt_ros.core.scenario import SwarmConfig, make_swarm
    from distopt_ros.sim.simulator import simulate

    full = {"seed": 4, "max_iterations": 40, "tolerance": 0.0, **params}
    report = _run({**full, "loss": "bernoulli", "loss_probability": 0.3, "round_timeout": 0.03}, domain_id,
                  record=True, timeout=120.0)
    assert report.finished
    sim = simulate(make_swarm(SwarmConfig.from_mapping(full), record=True))
    for node in report.nodes:
        aid = node.agent.agent_id
        assert np.array_equal(np.array(node.agent.trajectory), sim.trajectories[aid]), f"agent {aid} differs"
    assert report.totals("messages_dropped") > 0
    assert report.totals("messages_retransmitted") > 0 and report.totals("rounds_stalled") > 0
    assert all(s["rejections"] == {} for s in report.statuses.values())  # resent copies are not rejections


def test_extragradient_converges_over_dds_where_descent_ascent_cycles(domain_id):
    """Linear costs on capacity boxes (y* = [3, 2, 0], p* = 2) with an auctioneer over DDS.

    The merely convex case of docs/algorithms.md, "Gradient descent-ascent and extragradient".
    """
    base = {"algorithm": "price", "problem": "linear_allocation", "num_robots": 3, "dim": 1, "step": 0.1,
            "max_iterations": 2000, "tolerance": 0.0}
    eg = _run({**base, "price_mode": "extragradient"}, domain_id, timeout=120.0)
    gda = _run({**base, "price_mode": "gda"}, domain_id, timeout=120.0)
    assert eg.finished and gda.finished
    assert eg.max_error < 1e-3  # 3e-5 after 2000 rounds in the simulator
    assert gda.max_error > 0.1  # still cycling (0.26 in the simulator)


@pytest.mark.parametrize("pattern", ["ring", "star"])
def test_transport_benchmark_measures_both_sides_of_a_pattern(domain_id, pattern):
    """The benchmark script still runs (tiny sizes): a row holds both sides' rates and costs and their ratio."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    try:
        import bench_ros_transport as bench
    finally:
        sys.path.pop(0)
    row = bench.measure(4, 30, 1, domain_id, "events", pattern)
    name, executor, n, rounds, sw_rate, sw_cost, raw_rate, raw_cost, ratio = row
    assert (name, executor, n, rounds) == (pattern, "events", 4, 30)
    assert min(sw_rate, sw_cost, raw_rate, raw_cost) > 0
    assert ratio == pytest.approx(sw_cost / raw_cost)
