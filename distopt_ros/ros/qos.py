"""QoS profiles for swarm topics, built from node parameters.

``reliable`` models a good link (DDS retransmits); ``best_effort`` models a radio that
drops what it drops. Status topics are reliable and transient-local (depth 1), so a
monitor that joins late still sees each robot's last status.
"""

from __future__ import annotations

from typing import Any

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
DURABILITY = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}


PRESETS: dict[str, dict[str, Any]] = {
    # A good link: DDS retransmits, a few rounds of history for peers that run ahead.
    "reliable": {"qos_reliability": "reliable", "qos_depth": 10, "qos_durability": "volatile"},
    # A radio: no retransmission, only the newest payload matters.
    "lossy_radio": {"qos_reliability": "best_effort", "qos_depth": 1, "qos_durability": "volatile"},
}
"""Named QoS presets; ``qos_preset`` overrides the individual ``qos_*`` parameters."""


def apply_preset(transport: dict[str, Any]) -> dict[str, Any]:
    """The transport parameters with ``qos_preset`` (if set) expanded over them."""
    name = transport.get("qos_preset", "")
    if not name:
        return dict(transport)
    if name not in PRESETS:
        raise ValueError(f"qos_preset must be one of {', '.join(PRESETS)} (or empty); got {name!r}")
    return {**transport, **PRESETS[name]}


def swarm_qos(reliability: str = "reliable", depth: int = 10, durability: str = "volatile",
              deadline_ms: float = 0.0, lifespan_ms: float = 0.0) -> QoSProfile:
    """Profile of the algorithm topics; unknown names raise ValueError naming the parameter.

    ``deadline_ms`` / ``lifespan_ms`` (0 = unset) map to the DDS deadline and lifespan: a
    payload older than its lifespan is never delivered, like a stale radio packet.
    """
    if reliability not in RELIABILITY:
        raise ValueError(f"qos_reliability must be one of {', '.join(RELIABILITY)}; got {reliability!r}")
    if durability not in DURABILITY:
        raise ValueError(f"qos_durability must be one of {', '.join(DURABILITY)}; got {durability!r}")
    if not 1 <= int(depth) <= 10_000:
        raise ValueError(f"qos_depth must be in [1, 10000], got {depth!r}")
    profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                         reliability=RELIABILITY[reliability], durability=DURABILITY[durability])
    for name, value in (("qos_deadline_ms", deadline_ms), ("qos_lifespan_ms", lifespan_ms)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    if deadline_ms > 0:
        profile.deadline = Duration(nanoseconds=int(deadline_ms * 1e6))
    if lifespan_ms > 0:
        profile.lifespan = Duration(nanoseconds=int(lifespan_ms * 1e6))
    return profile


def status_qos() -> QoSProfile:
    """Latched-style profile for status topics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
