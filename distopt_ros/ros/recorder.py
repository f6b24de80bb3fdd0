"""Record ROS 2 topics of a running rclpy graph into one MCAP file in rosbag2's format.

A run of the swarm is worth keeping: ``ros2 bag play``, Foxglove and RViz (through a played
bag) read what :class:`McapRecorder` writes, because it writes exactly what the rosbag2 MCAP
storage plugin writes: profile ``ros2``, one schema per message type with encoding
``ros2msg`` and the complete message definition (the type's ``.msg`` followed by every
nested type, each after a line of 80 ``=`` and ``MSG: pkg/Type``), one channel per topic with
message encoding ``cdr`` and the offered QoS profiles, the CDR bytes as they came off the
wire, ``log_time`` = reception time and ``publish_time`` = the publisher's source timestamp
(nanoseconds), and a ``rosbag2`` metadata record. Given a directory path it writes the
standard bag layout ``<dir>/metadata.yaml`` + ``<dir>/<dir name>_0.mcap`` (``ros2 bag play
<dir>``); given a ``*.mcap`` path it writes that single file.

The recorder only creates subscriptions (raw: bytes are stored without deserializing) and a
discovery timer on a node the caller owns and spins; it runs no executor of its own.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import yaml
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

DELIMITER = "=" * 80
"""Line between the definitions of a complete ``ros2msg`` schema (as rosbag2 writes it)."""
BAG_VERSION = 9
"""rosbag2 metadata version written (Jazzy: QoS profiles as a list with lower-case enum names)."""
PRIMITIVE_TYPES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "string", "wstring",
})
"""Field types of the .msg format that are not messages."""
COMPRESSION = {"none": CompressionType.NONE, "zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}
_INFINITE_SEC, _INFINITE_NSEC = 9223372036, 854775807  # RMW_DURATION_INFINITE, as rosbag2 serializes it
_IDL_INCLUDE = re.compile(r'^#include\s+["<]([A-Za-z0-9_/]+)\.idl[">]', re.MULTILINE)
_TYPE_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(?:(msg)/)?([A-Za-z][A-Za-z0-9_]*)$")


# ---------------------------------------------------------------------------- message definitions
def _share_prefixes() -> list[Path]:
    """Install prefixes whose ``share/<pkg>`` may hold interface files.

    ``AMENT_PREFIX_PATH`` (a sourced workspace or distro) first, then the Python environment's
    own prefix: the PyPI ROS wheels install their ``share/`` there without listing it.
    """
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for extra in (sys.prefix, sys.base_prefix):
        if Path(extra) not in prefixes:
            prefixes.append(Path(extra))
    return prefixes


def _split_type(type_name: str) -> tuple[str, str]:
    """``pkg/msg/Type`` or ``pkg/Type`` -> ``(pkg, Type)``; anything else is a ValueError."""
    match = _TYPE_NAME.match(type_name)
    if not match:
        raise ValueError(f"type_name must look like pkg/msg/Type or pkg/Type, got {type_name!r}")
    return match.group(1), match.group(3)


def _interface_file(package: str, name: str, ext: str) -> str | None:
    """Text of ``share/<package>/msg/<name>.<ext>`` from the first prefix that has it."""
    for prefix in _share_prefixes():
        path = prefix / "share" / package / "msg" / f"{name}.{ext}"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def msg_dependencies(text: str, package: str) -> list[str]:
    """Message types (``pkg/Type``) used by the fields of one .msg text, sorted and unique.

    Comments, blank lines and constants' values are ignored; array (``[]``, ``[N]``,
    ``[<=N]``) and bound (``string<=N``) suffixes are stripped; a type without package is
    ``Header`` = ``std_msgs/Header`` or a type of ``package``.
    """
    deps: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        field_type = line.split()[0]
        field_type = field_type.split("[", 1)[0].split("<=", 1)[0]
        if not field_type or field_type in PRIMITIVE_TYPES:
            continue
        if "/" in field_type:
            pkg, name = _split_type(field_type)
        elif field_type == "Header":
            pkg, name = "std_msgs", "Header"
        else:
            pkg, name = package, field_type
        deps.add(f"{pkg}/{name}")
    return sorted(deps)


@lru_cache(maxsize=256)
def message_definition(type_name: str) -> tuple[str, str]:
    """Complete definition of a message type as rosbag2 stores it: ``(encoding, text)``.

    ``ros2msg`` when every .msg file is found (the root's text, then each nested type,
    depth-first in sorted order, after ``\\n`` + 80 ``=`` + ``MSG: pkg/Type``); otherwise
    ``ros2idl`` from the .idl files (every definition after an ``IDL: pkg/msg/Type`` line);
    ``("", "")`` if neither is installed (the bytes are still recorded). Why this exact form:
    readers without the types installed (Foxglove, rosbags) build their decoders from it.
    """
    package, name = _split_type(type_name)
    try:
        return "ros2msg", _full_msg_text(package, name, set())
    except FileNotFoundError:
        pass
    try:
        root = f"{package}/msg/{name}"
        return "ros2idl", f"{DELIMITER}\nIDL: {root}\n" + _full_idl_text(root, set())
    except FileNotFoundError:
        return "", ""


def _full_msg_text(package: str, name: str, seen: set[str]) -> str:
    text = _interface_file(package, name, "msg")
    if text is None:
        raise FileNotFoundError(f"{package}/msg/{name}.msg")
    out = text
    for dep in msg_dependencies(text, package):
        if dep not in seen:
            seen.add(dep)
            dep_pkg, dep_name = dep.split("/")
            out += f"\n{DELIMITER}\nMSG: {dep}\n" + _full_msg_text(dep_pkg, dep_name, seen)
    return out


def _full_idl_text(type_name: str, seen: set[str]) -> str:
    package, name = _split_type(type_name)
    text = _interface_file(package, name, "idl")
    if text is None:
        raise FileNotFoundError(f"{type_name}.idl")
    out = text
    for dep in sorted(set(_IDL_INCLUDE.findall(text))):
        if dep not in seen:
            seen.add(dep)
            out += f"\n{DELIMITER}\nIDL: {dep}\n" + _full_idl_text(dep, seen)
    return out


def message_class(type_name: str) -> type:
    """The Python class of ``pkg/msg/Type`` (what ``rosidl_runtime_py.utilities.get_message`` does;
    that package has no PyPI wheel, so the venv set-up cannot rely on it)."""
    package, name = _split_type(type_name)
    try:
        cls = getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"type_name {type_name!r} is not an importable message type: {exc}") from None
    if not hasattr(cls, "_TYPE_SUPPORT") and not hasattr(type(cls), "__import_type_support__"):
        raise ValueError(f"type_name {type_name!r} is not a ROS message class")
    return cls


# ---------------------------------------------------------------------------- QoS
def _duration(value: Any) -> dict[str, int]:
    """rclpy Duration -> rosbag2's ``{sec, nsec}`` (infinite as RMW_DURATION_INFINITE)."""
    ns = int(getattr(value, "nanoseconds", 0))
    if ns >= _INFINITE_SEC * 10**9 + _INFINITE_NSEC:
        return {"sec": _INFINITE_SEC, "nsec": _INFINITE_NSEC}
    return {"sec": ns // 10**9, "nsec": ns % 10**9}


def qos_to_dict(qos: QoSProfile) -> dict[str, Any]:
    """One offered QoS profile in rosbag2's metadata form (version 9: lower-case enum names)."""
    return {
        "history": qos.history.name.lower(),
        "depth": int(qos.depth),
        "reliability": qos.reliability.name.lower(),
        "durability": qos.durability.name.lower(),
        "deadline": _duration(qos.deadline),
        "lifespan": _duration(qos.lifespan),
        "liveliness": qos.liveliness.name.lower(),
        "liveliness_lease_duration": _duration(qos.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


def _is_hidden(topic: str) -> bool:
    return any(token.startswith("_") for token in topic.split("/") if token)


# ---------------------------------------------------------------------------- recorder
class McapRecorder:
    """Records topics of a running graph into one rosbag2-compatible MCAP file.

    ``topics`` names the (fully qualified) topics to record; ``None`` records every topic
    discovered every ``discover_period`` seconds, except ``exclude`` and hidden topics
    (a ``_`` name token, as ``ros2 bag record`` does). A topic is subscribed once it has a
    publisher, with a QoS adapted to the publishers (as ``ros2 bag record`` does): reliable
    unless one of them is best-effort, transient-local if all are (so latched status topics
    are captured from the start), keep-last ``depth``. ``path``: a ``*.mcap`` file, or a bag
    directory to create. ``compression``: MCAP chunk compression, ``none`` (rosbag2's default),
    ``zstd`` or ``lz4``. The caller spins ``node``; :meth:`close` finishes the file.
    """

    def __init__(self, node: Node, path: str | Path, topics: Sequence[str] | None = None,
                 exclude: Sequence[str] = ("/rosout", "/parameter_events"), discover_period: float = 0.5,
                 *, depth: int = 100, compression: str = "none") -> None:
        if not isinstance(node, Node):
            raise ValueError(f"node must be an rclpy Node, got {type(node).__name__}")
        if isinstance(topics, str):
            raise ValueError(f"topics must be a sequence of topic names, not one string: {topics!r}")
        if isinstance(exclude, str):
            raise ValueError(f"exclude must be a sequence of topic names, not one string: {exclude!r}")
        for label, names in (("topics", topics or ()), ("exclude", exclude)):
            for t in names:
                if not (isinstance(t, str) and len(t) > 1 and t.startswith("/") and not t.endswith("/")):
                    raise ValueError(f"{label} must hold fully qualified topic names (/ns/name), got {t!r}")
        if isinstance(discover_period, bool) or not (
                isinstance(discover_period, int | float) and math.isfinite(discover_period) and discover_period > 0):
            raise ValueError(f"discover_period must be a finite number > 0 (seconds), got {discover_period!r}")
        if isinstance(depth, bool) or not (isinstance(depth, int) and 1 <= depth <= 100_000):
            raise ValueError(f"depth must be an integer in [1, 100000], got {depth!r}")
        if compression not in COMPRESSION:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSION)}, got {compression!r}")
        if not isinstance(path, str | Path) or not str(path):
            raise ValueError(f"path must be a file or directory path, got {path!r}")
        path = Path(path)
        if path.exists():
            raise ValueError(f"path {str(path)!r} already exists; the recorder never overwrites a recording")
        if path.suffix == ".mcap":
            self.bag_dir: Path | None = None
            self.file = path
        else:
            self.bag_dir = path
            self.file = path / f"{path.name}_0.mcap"
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._node = node
        self._wanted = None if topics is None else set(topics)
        self._exclude = set(exclude)
        self._depth = depth
        self._lock = threading.Lock()
        self._closed = False
        self._stream: IO[bytes] = open(self.file, "wb")  # closed in close()
        self._writer = Writer(self._stream, compression=COMPRESSION[compression])
        self._writer.start(profile="ros2", library="distopt_ros McapRecorder (mcap-python)")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._topic_meta: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}
        self._subs: list[Any] = []
        self._warned: set[str] = set()
        self._first_ns: int | None = None
        self._last_ns = 0
        self.discover()
        self._timer = node.create_timer(float(discover_period), self.discover)

    # ------------------------------------------------------------------ discovery
    def discover(self) -> list[str]:
        """Subscribe to every wanted topic that has appeared (with a publisher) since the last call.

        Called by the recorder's timer; call it yourself to pick up topics at once. Returns the
        topics newly subscribed.
        """
        if self._closed:
            return []
        added = []
        for topic, types in self._node.get_topic_names_and_types():
            if topic in self._channels or topic in self._exclude or not types:
                continue
            if self._wanted is None:
                if _is_hidden(topic):
                    continue
            elif topic not in self._wanted:
                continue
            if self._subscribe(topic, types):
                added.append(topic)
        return added

    def _subscribe(self, topic: str, types: list[str]) -> bool:
        type_name = types[0]
        if len(types) > 1 and topic not in self._warned:
            self._warned.add(topic)
            self._node.get_logger().warning(f"recorder: {topic} has several types {types}; recording {type_name}")
        pubs = [p for p in self._node.get_publishers_info_by_topic(topic) if p.topic_type == type_name]
        if not pubs:
            return False  # nothing to record yet, and no QoS to adapt to: try again on the next discovery
        try:
            msg_type = message_class(type_name)
        except ValueError as exc:
            if topic not in self._warned:
                self._warned.add(topic)
                self._node.get_logger().warning(f"recorder: cannot record {topic} ({type_name} not importable: {exc})")
            return False
        offered = [p.qos_profile for p in pubs]
        reliability = ReliabilityPolicy.RELIABLE if all(
            q.reliability == ReliabilityPolicy.RELIABLE for q in offered) else ReliabilityPolicy.BEST_EFFORT
        durability = DurabilityPolicy.TRANSIENT_LOCAL if all(
            q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered) else DurabilityPolicy.VOLATILE
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._depth, reliability=reliability,
                         durability=durability)
        type_hash = str(getattr(pubs[0], "topic_type_hash", "") or "")
        if not type_hash.startswith("RIHS"):
            type_hash = ""
        qos_dicts = [qos_to_dict(q) for q in offered]
        with self._lock:
            if self._closed:
                return False
            if type_name not in self._schemas:
                encoding, text = message_definition(type_name)
                self._schemas[type_name] = self._writer.register_schema(
                    name=type_name, encoding=encoding, data=text.encode("utf-8"))
            channel = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[type_name],
                metadata={"offered_qos_profiles": yaml.safe_dump(qos_dicts, sort_keys=False).strip(),
                          "topic_type_hash": type_hash})
            self._channels[topic] = channel
            self._counts[topic] = 0
            self._topic_meta[topic] = {"name": topic, "type": type_name, "serialization_format": "cdr",
                                       "offered_qos_profiles": qos_dicts, "type_description_hash": type_hash}
            # Under the lock, so a close() racing with the discovery timer never misses a subscription.
            self._subs.append(self._node.create_subscription(msg_type, topic, self._callback(topic, channel), qos,
                                                             raw=True))
        return True

    def _callback(self, topic: str, channel: int) -> Callable[[bytes, dict[str, Any]], None]:
        clock = self._node.get_clock()

        def on_message(data: bytes, info: dict[str, Any]) -> None:
            now = clock.now().nanoseconds
            with self._lock:
                if self._closed:
                    return
                sequence = self._counts[topic]
                self._writer.add_message(channel_id=channel, log_time=now, data=data,
                                         publish_time=int(info.get("source_timestamp") or now), sequence=sequence)
                self._counts[topic] = sequence + 1
                self._first_ns = now if self._first_ns is None else min(self._first_ns, now)
                self._last_ns = max(self._last_ns, now)

        return on_message

    # ------------------------------------------------------------------ results
    def counts(self) -> dict[str, int]:
        """Messages recorded so far per subscribed topic (0 for a topic with none yet)."""
        with self._lock:
            return dict(self._counts)

    def matched(self) -> dict[str, int]:
        """Publishers matched by the recorder's subscription of each subscribed topic so far.

        DDS delivers a message only to the subscriptions matched when it is published: a topic
        is being recorded once its count is > 0, not merely once it is subscribed.
        """
        with self._lock:
            subs = list(self._subs) if not self._closed else []
        return {sub.topic_name: sub.get_publisher_count() for sub in subs}

    def recording(self, topics: Sequence[str]) -> bool:
        """True once every topic in ``topics`` is subscribed and matched with all its publishers.

        For a caller that must record a run from its first message: call :meth:`discover` (or
        let the timer do it) until this holds, and only then let the run start.
        """
        if isinstance(topics, str):
            raise ValueError(f"topics must be a sequence of topic names, not one string: {topics!r}")
        matched = self.matched()
        for topic in topics:
            if matched.get(topic, 0) < 1:
                return False
            if matched[topic] < len(self._node.get_publishers_info_by_topic(topic)):
                return False
        return True

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has finished the file."""
        return self._closed

    def close(self) -> None:
        """Stop recording and finish the file (summary, rosbag2 metadata; metadata.yaml for a bag).

        Idempotent. Safe after the node's context has shut down: the subscriptions are then
        already gone, and only the file is finished.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs, self._subs = self._subs, []
            metadata = self._bag_metadata()
            self._writer.add_metadata("rosbag2", {"serialized_metadata": yaml.safe_dump(metadata, sort_keys=False)})
            self._writer.finish()
            self._stream.close()
        for entity, destroy in [(self._timer, self._node.destroy_timer),
                                *((sub, self._node.destroy_subscription) for sub in subs)]:
            try:
                destroy(entity)
            except Exception:  # context already shut down: nothing left to release
                pass
        if self.bag_dir is not None:
            with open(self.bag_dir / "metadata.yaml", "w", encoding="utf-8") as fh:
                yaml.safe_dump({"rosbag2_bagfile_information": metadata}, fh, sort_keys=False)

    def _bag_metadata(self) -> dict[str, Any]:
        """rosbag2 BagMetadata (version 9) of what was written."""
        start = self._first_ns or 0
        duration = self._last_ns - start if self._first_ns is not None else 0
        total = sum(self._counts.values())
        return {
            "version": BAG_VERSION,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": total,
            "topics_with_message_count": [
                {"topic_metadata": meta, "message_count": self._counts[topic]}
                for topic, meta in self._topic_meta.items()],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [self.file.name],
            "files": [{"path": self.file.name, "starting_time": {"nanoseconds_since_epoch": start},
                       "duration": {"nanoseconds": duration}, "message_count": total}],
            "custom_data": None,
            "ros_distro": os.environ.get("ROS_DISTRO", "jazzy"),
        }

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- reading back
def mcap_file(path: str | Path) -> Path:
    """The MCAP file of a recording: ``path`` itself, or the (first) file of a bag directory."""
    path = Path(path)
    if path.is_dir():
        meta = path / "metadata.yaml"
        if meta.is_file():
            info = yaml.safe_load(meta.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
            return path / Path(info["relative_file_paths"][0]).name
        files = sorted(path.glob("*.mcap"))
        if not files:
            raise ValueError(f"path {str(path)!r} holds no .mcap file")
        return files[0]
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} does not exist")
    return path


def read_mcap_counts(path: str | Path) -> dict[str, int]:
    """Messages per topic of a recording (file or bag directory), from its summary if it has one."""
    with open(mcap_file(path), "rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        if summary is not None and summary.statistics is not None:
            stats = summary.statistics.channel_message_counts
            return {ch.topic: int(stats.get(cid, 0)) for cid, ch in summary.channels.items()}
        counts: dict[str, int] = {}
        for _schema, channel, _message in reader.iter_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
        return counts


def iter_mcap_messages(path: str | Path, topic: str) -> Iterator[tuple[int, Any]]:
    """``(log_time_ns, message)`` of one topic, deserialized with rclpy and the installed type."""
    from rclpy.serialization import deserialize_message

    with open(mcap_file(path), "rb") as fh:
        types: dict[str, Any] = {}
        for schema, _channel, message in make_reader(fh).iter_messages(topics=[topic]):
            if schema is None:
                raise ValueError(f"topic {topic!r} has no schema in {str(path)!r}")
            if schema.name not in types:
                types[schema.name] = message_class(schema.name)
            yield message.log_time, deserialize_message(message.data, types[schema.name])


def read_mcap_messages(path: str | Path, topic: str) -> list[Any]:
    """Every message of ``topic`` in a recording, deserialized (for tests and quick analysis)."""
    return [msg for _, msg in iter_mcap_messages(path, topic)]
