"""PNG plots of runs, and recording a live swarm into a rosbag2-compatible MCAP file."""

import importlib
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _optional(module: str):
    """The module if it is installed, else None (for checks by optional third-party readers)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# ---------------------------------------------------------------------------------------- plots
def _tracking_log(robots: int = 4, steps: int = 200) -> dict:
    """A target on a circle, robots closing in on offset goals, estimates converging to the target."""
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 20.0, steps)
    target = np.stack([5 * np.cos(0.2 * t), 5 * np.sin(0.2 * t)], axis=1)
    offsets = np.stack([np.cos(2 * np.pi * np.arange(robots) / robots),
                        np.sin(2 * np.pi * np.arange(robots) / robots)], axis=1)
    goals = target[None] + offsets[:, None]
    decay = np.exp(-0.5 * t)[None, :, None]
    robots_xy = goals + decay * rng.normal(0, 3, (robots, 1, 2))
    estimates = target[None] + decay * rng.normal(0, 1, (robots, 1, 2)) + 1e-4
    return {"t": t, "target": target, "robots": robots_xy, "estimates": estimates, "goals": goals,
            "centroid": robots_xy.mean(axis=0)}


def _check_png(path: Path, min_kb: float = 10.0) -> None:
    import matplotlib.image

    assert path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > min_kb * 1024
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300


def test_plot_tracking_writes_two_valid_pngs(tmp_path):
    from distopt_ros.sim.plots import plot_tracking

    paths = plot_tracking(_tracking_log(), tmp_path / "out", title="synthetic",
                          bounds={"estimate": 0.05, "formation": 0.1})
    assert [p.name for p in paths] == ["trajectories.png", "tracking_error.png"]
    for p in paths:
        _check_png(p)


def test_plot_tracking_works_with_only_target_and_estimates(tmp_path):
    from distopt_ros.sim.plots import plot_tracking

    log = _tracking_log()
    paths = plot_tracking({k: log[k] for k in ("t", "target", "estimates")}, str(tmp_path))
    for p in paths:
        _check_png(p, min_kb=5)
    paths = plot_tracking({k: log[k] for k in ("t", "target")}, tmp_path / "bare")  # nothing but the target
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in paths)


@pytest.mark.parametrize("change,key", [
    ({"target": np.zeros((199, 2))}, "target"),
    ({"target": np.zeros((200, 3))}, "target"),
    ({"robots": np.zeros((4, 200))}, "robots"),
    ({"estimates": np.zeros((3, 200, 2))}, "estimates"),   # N differs from robots
    ({"goals": np.zeros((4, 150, 2))}, "goals"),
    ({"centroid": np.zeros((200,))}, "centroid"),
    ({"t": np.zeros((200, 1))}, "'t'"),
    ({"t": np.linspace(1, 0, 200)}, "'t'"),
    ({"estimates": np.full((4, 200, 2), np.nan)}, "estimates"),
    ({"robots": "far away"}, "robots"),
])
def test_plot_tracking_refuses_bad_shapes_by_key(tmp_path, change, key):
    from distopt_ros.sim.plots import plot_tracking

    with pytest.raises(ValueError, match=key):
        plot_tracking({**_tracking_log(), **change}, tmp_path)
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_plot_tracking_refuses_missing_keys_and_bad_bounds(tmp_path):
    from distopt_ros.sim.plots import plot_tracking

    log = _tracking_log()
    with pytest.raises(ValueError, match="target"):
        plot_tracking({"t": log["t"]}, tmp_path)
    with pytest.raises(ValueError, match="bounds"):
        plot_tracking(log, tmp_path, bounds={"estimate": -1.0})
    with pytest.raises(ValueError, match="bounds"):
        plot_tracking(log, tmp_path, bounds={"speed": 1.0})


def test_plot_convergence_from_dict_and_array(tmp_path):
    from distopt_ros.sim.plots import plot_convergence

    k = np.arange(300)
    hist = {i: np.exp(-0.05 * (i + 1) * k) for i in range(5)}
    hist[2][-10:] = 0.0  # exact convergence must not break the log scale
    p = plot_convergence(hist, tmp_path / "conv.png", title="radmm")
    _check_png(p)
    q = plot_convergence(np.array(list(hist.values())), tmp_path / "sub" / "conv_array.png", ylabel="residual")
    _check_png(q)


@pytest.mark.parametrize("histories,needle", [
    ({}, "histories"),
    ({3: np.zeros((2, 2))}, r"histories\[3\]"),
    ({1: np.array([1.0, np.inf])}, r"histories\[1\]"),
    ({0: np.array([1.0, -1.0])}, r"histories\[0\]"),
    (np.zeros(5), "histories"),
])
def test_plot_convergence_refuses_bad_histories(tmp_path, histories, needle):
    from distopt_ros.sim.plots import plot_convergence

    with pytest.raises(ValueError, match=needle):
        plot_convergence(histories, tmp_path / "x.png")


# ---------------------------------------------------------------------------------------- recorder
@pytest.mark.ros
def test_msg_dependencies_parse_the_msg_format():
    from distopt_ros.ros.recorder import msg_dependencies

    text = """# comment with geometry_msgs/Pose inside
int32 BROADCAST = -1
string NAME="a # b"
Header header
  geometry_msgs/Point[] points   # trailing comment
geometry_msgs/msg/Pose[<=3] poses
Other[4] fixed
string<=10 short_name
wstring<=5[<=2] names
float64[36] covariance
"""
    assert msg_dependencies(text, "my_pkg") == ["geometry_msgs/Point", "geometry_msgs/Pose", "my_pkg/Other",
                                                "std_msgs/Header"]


@pytest.mark.ros
def test_message_definitions_are_complete_ros2msg_texts():
    from distopt_ros.ros.recorder import DELIMITER, message_definition

    for type_name, nested in [
        ("distopt_ros/msg/AgentState", ["std_msgs/Header", "builtin_interfaces/Time"]),
        ("distopt_ros/msg/TargetEstimate", ["geometry_msgs/Point", "std_msgs/Header"]),
        ("nav_msgs/msg/Odometry", ["geometry_msgs/PoseWithCovariance", "geometry_msgs/Twist"]),
        ("visualization_msgs/msg/MarkerArray", ["visualization_msgs/Marker", "std_msgs/ColorRGBA"]),
        ("geometry_msgs/msg/PoseStamped", ["geometry_msgs/Quaternion"]),
    ]:
        encoding, text = message_definition(type_name)
        assert encoding == "ros2msg", type_name
        headers = [line for line in text.splitlines() if line.startswith("MSG: ")]
        assert len(headers) == len(set(headers)), f"{type_name}: a nested type appears twice"
        for dep in nested:
            assert f"\n{DELIMITER}\nMSG: {dep}\n" in text, (type_name, dep)
        assert not text.startswith(DELIMITER)
    with pytest.raises(ValueError, match="type_name"):
        message_definition("not a type")


@pytest.mark.ros
def test_message_definitions_decode_real_cdr_with_foxglove_decoder():
    """Foxglove's own ros2msg parser builds a decoder from the stored text that reads rclpy's CDR bytes."""
    decoder_mod = pytest.importorskip("mcap_ros2.decoder")
    from geometry_msgs.msg import Point
    from mcap.records import Schema
    from nav_msgs.msg import Odometry
    from rclpy.serialization import serialize_message
    from visualization_msgs.msg import Marker, MarkerArray

    from distopt_ros.msg import AgentState
    from distopt_ros.ros.recorder import message_definition

    marker = Marker(ns="swarm", id=3, text="robot 3")
    marker.points = [Point(x=1.0, y=2.0), Point(x=-1.0, z=0.5)]
    odom = Odometry(child_frame_id="base_link")
    odom.pose.covariance[7] = 0.25
    state = AgentState(sender_id=4, receiver_id=2, iteration=9, algorithm="radmm", kind="edge", dim=2)
    state.consensus = [1.5, -2.5]
    for msg, check in [
        (MarkerArray(markers=[marker]), lambda d: [(p.x, p.y, p.z) for p in d.markers[0].points] == [
            (1.0, 2.0, 0.0), (-1.0, 0.0, 0.5)] and d.markers[0].text == "robot 3"),
        (odom, lambda d: d.child_frame_id == "base_link" and d.pose.covariance[7] == 0.25),
        (state, lambda d: d.sender_id == 4 and list(d.consensus) == [1.5, -2.5] and d.kind == "edge"),
    ]:
        cls = type(msg)
        type_name = f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"
        encoding, text = message_definition(type_name)
        schema = Schema(id=1, name=type_name, encoding=encoding, data=text.encode())
        decode = decoder_mod.DecoderFactory().decoder_for("cdr", schema)
        assert check(decode(serialize_message(msg))), type_name


@pytest.mark.ros
def test_recorder_refuses_bad_arguments_by_name(domain_id, tmp_path):
    import rclpy
    from rclpy.context import Context

    from distopt_ros.ros.recorder import McapRecorder

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        node = rclpy.create_node("recorder_args", context=context)
        (tmp_path / "taken").mkdir()
        for kwargs, needle in [
            ({"path": tmp_path / "taken"}, "path"),
            ({"path": tmp_path / "a.mcap", "discover_period": 0.0}, "discover_period"),
            ({"path": tmp_path / "a.mcap", "discover_period": math.nan}, "discover_period"),
            ({"path": tmp_path / "a.mcap", "topics": "/robot_0/status"}, "topics"),
            ({"path": tmp_path / "a.mcap", "topics": ["robot_0/status"]}, "topics"),
            ({"path": tmp_path / "a.mcap", "exclude": ["/rosout/"]}, "exclude"),
            ({"path": tmp_path / "a.mcap", "depth": 0}, "depth"),
            ({"path": tmp_path / "a.mcap", "compression": "gzip"}, "compression"),
        ]:
            with pytest.raises(ValueError, match=needle):
                McapRecorder(node, **kwargs)
        with pytest.raises(ValueError, match="node"):
            McapRecorder("node", tmp_path / "b.mcap")
        assert not (tmp_path / "a.mcap").exists()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def _writers_matched(nodes, topics, reader_node: str) -> bool:
    """Every publisher of ``nodes`` on ``topics`` has matched every subscription the graph shows,
    and the graph shows one of ``reader_node``'s on each topic (so a message published now reaches it)."""
    for node in nodes:
        for pub in node.publishers:
            if pub.topic_name not in topics:
                continue
            subs = node.get_subscriptions_info_by_topic(pub.topic_name)
            if not any(info.node_name == reader_node for info in subs) or pub.get_subscription_count() < len(subs):
                return False
    return True


def _edge_count(counts: dict, i: int, n: int) -> int:
    """Messages recorded on robot i's two edge topics of an n-ring."""
    return sum(counts.get(f"/robot_{i}/edge_to_{j}", 0) for j in ((i - 1) % n, (i + 1) % n))


@pytest.mark.ros
def test_recorder_captures_a_live_swarm_as_a_rosbag2(domain_id, tmp_path, monkeypatch):
    """Record a real 4-robot radmm run (every topic into a bag directory, robot 0's status alone into one
    .mcap file) and read both back with the mcap reader, rclpy and rosbags."""
    import rclpy
    from mcap.reader import make_reader
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from distopt_ros.ros.recorder import McapRecorder, mcap_file, read_mcap_counts, read_mcap_messages
    from distopt_ros.ros.robot_node import RobotNode
    from distopt_ros.ros.runner import run_swarm

    n = 4
    bag = tmp_path / "swarm_run"
    single = tmp_path / "status0.mcap"
    state: dict = {"stop": threading.Event(), "recording": threading.Event()}
    # The 300 rounds take ~0.35 s, a few discovery periods: the robots' start barrier also waits until
    # both recorders record every topic the swarm publishes, so no round runs unrecorded.
    can_start = RobotNode.can_start
    monkeypatch.setattr(RobotNode, "can_start", lambda self: state["recording"].is_set() and can_start(self))

    def spin(executor, context):
        try:
            while not state["stop"].is_set() and context.ok():
                executor.spin_once(timeout_sec=0.02)
        except ExternalShutdownException:
            pass

    def stop_recording():
        state["stop"].set()
        if "thread" in state:
            state["thread"].join(timeout=10)
            for rec in state["recorders"]:
                rec.close()

    def on_tick(nodes, statuses):
        if "recorders" not in state:
            context = nodes[0].context
            node = rclpy.create_node("recorder", context=context)
            # The rounds come faster than the recorder's thread takes them (one GIL): a history deeper
            # than the 301 messages of an edge topic keeps a burst from overflowing it (keep-last drops).
            state["recorders"] = [McapRecorder(node, bag, discover_period=0.1, depth=1000),
                                  McapRecorder(node, single, topics=["/robot_0/status"], compression="zstd",
                                               discover_period=0.1)]
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            state["node"], state["executor"] = node, executor
            state["thread"] = threading.Thread(target=spin, args=(executor, context), daemon=True)
            state["thread"].start()
        elif not state["recording"].is_set():
            topics = {t for node in nodes for t in node.out_topics} | {f"/robot_{i}/status" for i in range(n)}
            rec, rec_single = state["recorders"]
            if (rec.recording(sorted(topics)) and rec_single.recording(["/robot_0/status"])
                    and _writers_matched(nodes, topics, "recorder")):
                state["recording"].set()
        elif len(statuses) == n and all(s["done"] for s in statuses.values()) and not state["stop"].is_set():
            # Let the recorder take the messages still in flight: every edge message the robots report sent.
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and not all(
                    _edge_count(state["recorders"][0].counts(), i, n) >= statuses[i]["messages_sent"]
                    for i in range(n)):
                time.sleep(0.02)
            stop_recording()

    # A fixed 300 rounds (tolerance 0), every one of them recorded (the robots start once the recorders record).
    report = run_swarm({"status_period": 0.2, "algorithm": "radmm", "num_robots": n, "topology": "ring",
                        "seed": 3, "max_iterations": 300, "tolerance": 0.0}, progress=False,
                       domain_id=domain_id, timeout=60.0, on_tick=on_tick)
    stop_recording()
    assert report.finished and report.iterations == 300
    rec, rec_single = state["recorders"]
    live_counts = rec.counts()

    # Bag layout of `ros2 bag record -o swarm_run -s mcap`.
    assert (bag / "metadata.yaml").is_file() and (bag / "swarm_run_0.mcap").is_file()
    assert mcap_file(bag) == bag / "swarm_run_0.mcap"

    counts = read_mcap_counts(bag)
    assert counts == live_counts
    edges = {f"/robot_{i}/edge_to_{j}" for i in range(n) for j in ((i - 1) % n, (i + 1) % n)}
    statuses = {f"/robot_{i}/status" for i in range(n)}
    assert edges | statuses <= set(counts)
    assert "/rosout" not in counts and "/parameter_events" not in counts
    assert all(counts[t] > 0 for t in edges | statuses)
    for i in range(n):
        sent = report.statuses[i]["messages_sent"]
        assert _edge_count(counts, i, n) == sent, (i, _edge_count(counts, i, n), sent)  # every round recorded

    # The file as rosbag2 writes it: profile, schema encoding, full definition, CDR, nanosecond times.
    with open(mcap_file(bag), "rb") as fh:
        reader = make_reader(fh)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        schemas = {s.name: s for s in summary.schemas.values()}
        assert {"distopt_ros/msg/AgentState", "distopt_ros/msg/RobotStatus"} <= set(schemas)
        for schema in schemas.values():
            assert schema.encoding == "ros2msg"
            assert "=" * 80 + "\nMSG: std_msgs/Header\n" in schema.data.decode()
        assert all(ch.message_encoding == "cdr" and ch.metadata["topic_type_hash"].startswith("RIHS01_")
                   for ch in summary.channels.values())
        status_channel = next(ch for ch in summary.channels.values() if ch.topic == "/robot_0/status")
        assert "durability: transient_local" in status_channel.metadata["offered_qos_profiles"]
        assert any(m.name == "rosbag2" for m in reader.iter_metadata())
        first = next(reader.iter_messages())[2]
        assert abs(first.log_time / 1e9 - time.time()) < 300 and first.publish_time > 0

    # Deserialized with rclpy: right sender and receiver, finite payloads, rounds in order.
    msgs = read_mcap_messages(bag, "/robot_2/edge_to_3")
    assert msgs and all(m.sender_id == 2 and m.receiver_id == 3 and m.algorithm == "radmm" for m in msgs)
    assert all(len(m.consensus) == m.dim and np.all(np.isfinite(m.consensus)) for m in msgs)
    rounds = [m.iteration for m in msgs]
    assert rounds == list(range(301))  # from the first round on (round 0 is the start, then 300 steps)
    last_status = read_mcap_messages(bag, "/robot_1/status")[-1]
    assert last_status.robot_id == 1 and np.all(np.isfinite(last_status.estimate))

    # The explicit-topic recorder: one .mcap file, zstd chunks, the latched status topic only.
    assert read_mcap_counts(single) == rec_single.counts() and set(rec_single.counts()) == {"/robot_0/status"}
    assert rec_single.counts()["/robot_0/status"] > 0
    assert read_mcap_messages(single, "/robot_0/status")[0].robot_id == 0
    rec.close()  # idempotent
    assert rec.closed

    try:
        state["executor"].shutdown()
        state["node"].destroy_node()
    except Exception:  # the runner already shut the context down
        pass

    # Foxglove's decoder, from the stored definitions alone.
    if (decoder_mod := _optional("mcap_ros2.decoder")) is not None:
        with open(mcap_file(bag), "rb") as fh:
            decoded = [d for _, ch, _, d in make_reader(fh, decoder_factories=[decoder_mod.DecoderFactory()])
                       .iter_decoded_messages(topics=["/robot_2/edge_to_3"])]
        assert [d.iteration for d in decoded] == rounds

    # A reader that knows nothing of ROS opens both as rosbag2 and decodes from the stored definitions.
    highlevel = pytest.importorskip("rosbags.highlevel")
    with highlevel.AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.topic == "/robot_2/edge_to_3"]
        assert conns and conns[0].msgtype == "distopt_ros/msg/AgentState"
        assert sum(c.msgcount for c in reader.connections) == sum(counts.values())
        decoded = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
        assert [int(m.sender_id) for m in decoded] == [2] * len(msgs)
        assert np.array_equal(decoded[-1].consensus, np.asarray(msgs[-1].consensus))
    with highlevel.AnyReader([single]) as reader:
        assert [c.topic for c in reader.connections] == ["/robot_0/status"]
        _, _, raw = next(iter(reader.messages()))
        assert int(reader.deserialize(raw, "distopt_ros/msg/RobotStatus").robot_id) == 0
