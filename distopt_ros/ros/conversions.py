"""Conversions between core :class:`Message` objects and the distopt_ros/msg wire types.

Float blocks are copied as float64 arrays, so a message survives the round trip bit for
bit; this is what makes a lossless ROS run reproduce the simulator's iterates exactly.
Malformed wire messages raise ValueError naming the field.
"""

from __future__ import annotations

import array

import numpy as np

from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message, Tuning
from distopt_ros.msg import AgentState, CoordinatorBroadcast, QuantizedPayload, RobotStatus

_EXACT_INT = 2**53
"""Integers up to this size survive the core's float64 blocks exactly."""


def to_agent_state(msg: Message, seq: int, stamp: object, frame_id: str = "",
                   out: AgentState | None = None) -> AgentState:
    """A robot's core message as an ``AgentState``.

    ``out``: a message object to fill instead of a new one. A publisher serializes when it
    publishes, so a node may reuse one object for all its sends (its constructor is a
    noticeable part of a small message's cost).
    """
    if msg.sender < 0:
        raise ValueError(f"sender must be a robot id >= 0 for AgentState, got {msg.sender}")
    if out is None:
        out = AgentState()
    out.header.stamp = stamp
    out.header.frame_id = frame_id
    out.sender_id = msg.sender
    out.receiver_id = msg.receiver if msg.receiver >= 0 else BROADCAST
    out.iteration = msg.iteration
    out.seq = seq
    out.incarnation = msg.incarnation
    out.algorithm = msg.algorithm
    out.kind = msg.kind
    out.dim = msg.dim
    out.done = msg.done
    out.converged_rounds = int(msg.converged_rounds)
    out.primal = _wire_block(msg.primal)
    out.dual = _wire_block(msg.dual)
    out.consensus = _wire_block(msg.consensus)
    out.aux = _wire_block(msg.aux)
    out.tuning = _EMPTY_WIRE if msg.tuning is None else array.array("d", msg.tuning.encode())
    return out


_EMPTY_WIRE = array.array("d")


def _wire_block(value: np.ndarray) -> array.array:
    """A message's float block (a float64 vector, see ``Message``) as the ``array('d')`` a float64[] field holds.

    One buffer copy, not a loop over entries.
    """
    return array.array("d", value.tobytes()) if len(value) else _EMPTY_WIRE


def from_agent_state(wire: AgentState, receiver: int) -> Message:
    """An ``AgentState`` as a core message addressed to ``receiver``.

    ``receiver`` is the id this subscription delivers to: a broadcast stays a broadcast,
    and a directed payload keeps the receiver it names (so a misrouted one is caught).
    """
    target = BROADCAST if wire.receiver_id == AgentState.BROADCAST else int(wire.receiver_id)
    if target == BROADCAST and receiver == COORDINATOR:
        target = COORDINATOR
    return Message(
        sender=int(wire.sender_id), receiver=target, iteration=int(wire.iteration),
        algorithm=str(wire.algorithm), kind=str(wire.kind), dim=int(wire.dim),
        done=bool(wire.done), converged_rounds=int(wire.converged_rounds),
        primal=wire.primal, dual=wire.dual, consensus=wire.consensus, aux=wire.aux,  # copied once, frozen
        tuning=Tuning.decode(wire.tuning) if len(wire.tuning) else None, incarnation=int(wire.incarnation),
    )


def to_coordinator_broadcast(msg: Message, seq: int, stamp: object, frame_id: str = "",
                             out: CoordinatorBroadcast | None = None) -> CoordinatorBroadcast:
    """A coordinator's core message as a ``CoordinatorBroadcast`` (``out``: as in :func:`to_agent_state`)."""
    if out is None:
        out = CoordinatorBroadcast()
    out.header.stamp = stamp
    out.header.frame_id = frame_id
    out.receiver_id = msg.receiver
    out.iteration = msg.iteration
    out.seq = seq
    out.incarnation = msg.incarnation
    out.algorithm = msg.algorithm
    out.kind = msg.kind
    out.dim = msg.dim
    out.done = msg.done
    out.converged_rounds = int(msg.converged_rounds)
    out.rho = float(msg.rho)
    out.consensus = _wire_block(msg.consensus)
    out.aux = _wire_block(msg.aux)
    return out


def from_coordinator_broadcast(wire: CoordinatorBroadcast) -> Message:
    """A ``CoordinatorBroadcast`` as a core message from the coordinator."""
    return Message(
        sender=COORDINATOR, receiver=int(wire.receiver_id), iteration=int(wire.iteration),
        algorithm=str(wire.algorithm), kind=str(wire.kind), dim=int(wire.dim),
        done=bool(wire.done), converged_rounds=int(wire.converged_rounds), rho=float(wire.rho),
        consensus=wire.consensus, aux=wire.aux,  # copied once, frozen (as from_agent_state)
        incarnation=int(wire.incarnation),
    )


def to_quantized_payload(msg: Message, seq: int, stamp: object, level: float, outer_iteration: int,
                         frame_id: str = "") -> QuantizedPayload:
    """A QuDRC node's inner-step message (integer blocks M, m, mass, tokens) as a ``QuantizedPayload``."""
    out = QuantizedPayload()
    out.header.stamp = stamp
    out.header.frame_id = frame_id
    out.sender_id = msg.sender
    out.receiver_id = msg.receiver
    out.outer_iteration = int(outer_iteration)
    out.inner_step = msg.iteration
    out.seq = seq
    out.level = float(level)
    out.done = msg.done
    for field_name, block in (("max_values", msg.primal), ("min_values", msg.dual), ("mass", msg.consensus),
                              ("tokens", msg.aux)):
        values = np.asarray(block)
        if values.size and (np.any(values != np.round(values)) or np.max(np.abs(values)) >= _EXACT_INT):
            raise ValueError(f"{field_name} must hold integers below 2**53 in magnitude")
        setattr(out, field_name, values.astype(np.int64))
    return out


def from_quantized_payload(wire: QuantizedPayload, level: float) -> Message:
    """A ``QuantizedPayload`` as a core ``qudrc`` message; ValueError naming the field if it cannot be one.

    ``level`` is the receiver's quantization level: payloads quantized with another level
    would silently average different grids, so they are refused.
    """
    if wire.level != level:
        raise ValueError(f"level {wire.level!r} differs from this swarm's quantization_level {level!r}")
    blocks = {}
    for name, field_name in (("primal", "max_values"), ("dual", "min_values"), ("consensus", "mass"),
                             ("aux", "tokens")):
        values = np.asarray(getattr(wire, field_name), dtype=np.int64)
        if values.size and np.max(np.abs(values)) >= _EXACT_INT:
            raise ValueError(f"{field_name} exceeds 2**53 in magnitude")
        blocks[name] = values.astype(float)
    return Message(
        sender=int(wire.sender_id), receiver=int(wire.receiver_id), iteration=int(wire.inner_step),
        algorithm="qudrc", kind="qavg", dim=int(blocks["primal"].size), done=bool(wire.done), **blocks,
    )


def status_to_dict(msg: RobotStatus) -> dict[str, object]:
    """A ``RobotStatus`` as plain data (for the monitor and tests)."""
    return {
        "robot_id": int(msg.robot_id),
        "iteration": int(msg.iteration),
        "done": bool(msg.done),
        "converged": bool(msg.converged),
        "estimate": np.asarray(msg.estimate, dtype=float),
        "primal_residual": float(msg.primal_residual),
        "dual_residual": float(msg.dual_residual),
        "messages_sent": int(msg.messages_sent),
        "messages_received": int(msg.messages_received),
        "messages_dropped": int(msg.messages_dropped),
        "messages_retransmitted": int(msg.messages_retransmitted),
        "retransmit_requests": int(msg.retransmit_requests),
        "rounds_stalled": int(msg.rounds_stalled),
        "messages_redundant": int(msg.messages_redundant),
        "rejections": dict(zip(msg.rejection_reasons, (int(c) for c in msg.rejection_counts), strict=True)),
        "objective": str(msg.objective),
        "neighbors": [int(j) for j in msg.neighbors],
        "incarnation": int(msg.incarnation),
        "stop_reason": str(msg.stop_reason),
        "peers_gone": [int(j) for j in msg.peers_gone],
    }
