"""QoS profiles for swarm topics, built from node parameters.

``reliable`` models a good link (DDS retransmits); ``best_effort`` models a radio that
drops what it drops. Status topics are reliable and transient-local (depth 1), so a
monitor that joins late still sees each robot's last status.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
DURABILITY = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}


def swarm_qos(reliability: str = "reliable", depth: int = 10, durability: str = "volatile") -> QoSProfile:
    """Profile of the algorithm topics; unknown names raise ValueError naming the parameter."""
    if reliability not in RELIABILITY:
        raise ValueError(f"qos_reliability must be one of {', '.join(RELIABILITY)}; got {reliability!r}")
    if durability not in DURABILITY:
        raise ValueError(f"qos_durability must be one of {', '.join(DURABILITY)}; got {durability!r}")
    if not 1 <= int(depth) <= 10_000:
        raise ValueError(f"qos_depth must be in [1, 10000], got {depth!r}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=RELIABILITY[reliability], durability=DURABILITY[durability])


def status_qos() -> QoSProfile:
    """Latched-style profile for status topics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
