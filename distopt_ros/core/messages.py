"""The transport-neutral message every agent sends and receives.

A :class:`Message` is what an algorithm puts on the wire for one round; the ROS layer maps
it one-to-one onto ``distopt_ros/msg/AgentState`` (robot payloads) or
``distopt_ros/msg/CoordinatorBroadcast`` (coordinator payloads), and the simulator passes it
as is. Keeping it plain data (numpy arrays, ints, strings) is what lets the same agent
object run in both places with bit-identical iterates.
"""

from __future__ import annotations

import array
from dataclasses import dataclass, field

import numpy as np

BROADCAST = -1
"""Receiver id of a message meant for every listener of the sender."""

COORDINATOR = -2
"""Sender/receiver id of the (single) coordinator of a star-form algorithm."""

BLOCKS = ("primal", "dual", "consensus", "aux")
"""Names of the float blocks a message may carry, in wire order (``Message.__init__`` lists them too)."""


_EMPTY = np.zeros(0)
_EMPTY.setflags(write=False)
_FLOAT = np.dtype(float)
"""Native float64. Compared by identity on the hot path: numpy keeps one instance per builtin
type, and a float64 of another byte order merely takes the copying path."""


def _empty() -> np.ndarray:
    return _EMPTY


def _frozen_block(value: object) -> np.ndarray:
    """``value`` as a read-only 1-D float64 array over data nobody can write (shared as is if it already is one).

    Such an array owns its data, or views an immutable ``bytes`` copy (how wire blocks arrive).
    """
    if type(value) is np.ndarray:
        if not value.flags.writeable and value.dtype is _FLOAT and value.ndim == 1 and (
                value.base is None or type(value.base) is bytes):
            return value  # another message's block: immutable, nobody else can write it
        if value.size == 0:
            return _EMPTY
        arr = np.array(value, dtype=float, copy=True).reshape(-1)
    elif type(value) is array.array and value.typecode == "d":  # a wire block
        # A private bytes copy seen through a read-only array: immutable, one copy, no flag to set.
        return np.frombuffer(value.tobytes()) if value else _EMPTY  # float64 is frombuffer's default
    else:
        if isinstance(value, list | tuple | array.array) and len(value) == 0:
            return _EMPTY
        arr = np.array(value, dtype=float, copy=True, ndmin=1).reshape(-1)
    if arr.base is not None:
        arr = arr.copy()
    arr.setflags(write=False)
    return arr


def freeze(value: object) -> np.ndarray:
    """A read-only float vector copy of ``value``: one copy that several messages can share."""
    return _frozen_block(value)


def seal(arr: np.ndarray) -> np.ndarray:
    """Make a freshly computed float vector read-only in place, so a message takes it without a copy.

    Only for a temporary that nothing else references (the result of an expression); any
    other array is left as it is and the message copies it.
    """
    if type(arr) is np.ndarray and arr.base is None and arr.dtype is _FLOAT and arr.ndim == 1:
        arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Tuning:
    """A swarm-wide parameter set that every robot puts in force at the same round.

    Set on one robot (``ros2 param set``, or :meth:`Agent.tune` in the simulator), it travels
    with that robot's payloads and every robot forwards the newest one it knows, so under the
    synchronous round discipline it reaches a robot ``d`` hops away before that robot steps
    ``round - diameter + d``; all robots apply it at the step that consumes ``round``. Newer
    means a larger ``(epoch, origin)``: two robots tuned at once agree on one winner.
    ``values`` follow the algorithm's tunable list (:func:`distopt_ros.core.schema.live_parameters`).
    """

    epoch: int
    origin: int
    round: int
    values: tuple[float, ...]

    def newer_than(self, other: Tuning | None) -> bool:
        return other is None or (self.epoch, self.origin) > (other.epoch, other.origin)

    def encode(self) -> list[float]:
        """The wire form: ``[epoch, origin, round, *values]`` (integers are exact in float64 below 2^53)."""
        return [float(self.epoch), float(self.origin), float(self.round), *self.values]

    @classmethod
    def decode(cls, block: object) -> Tuning | None:
        """The inverse of :meth:`encode`; None for an empty block; ValueError for a malformed one."""
        vals = [float(v) for v in block]  # type: ignore[attr-defined]
        if not vals:
            return None
        if len(vals) < 3 or not all(v >= 0 and v.is_integer() and v < 2**53 for v in vals[:3]):
            raise ValueError("tuning must start with integer epoch, origin and round")
        return cls(int(vals[0]), int(vals[1]), int(vals[2]), tuple(vals[3:]))


@dataclass(frozen=True, init=False)
class Message:
    """One payload for one algorithm round.

    ``iteration`` is the algorithm round the payload belongs to, so receivers can tell
    stale, current and early messages apart; ``kind`` names the payload's role inside the
    algorithm. Float blocks are read-only copies so that a message cannot be changed after
    it was sent.
    """

    sender: int
    receiver: int
    iteration: int
    algorithm: str
    kind: str
    dim: int
    primal: np.ndarray = field(default_factory=_empty)
    dual: np.ndarray = field(default_factory=_empty)
    consensus: np.ndarray = field(default_factory=_empty)
    aux: np.ndarray = field(default_factory=_empty)
    done: bool = False
    converged_rounds: int = 0
    rho: float = 0.0
    bit_cost: int = 0
    """Bits this payload costs on the air when it is not plain float64 (0 = 64 per float)."""
    tuning: Tuning | None = None
    """The newest swarm-wide parameter set the sender knows (None until one was set)."""
    incarnation: int = 0
    """The sender's process incarnation: a restarted robot sends a larger one, so its new rounds are
    told from the old process's (0 in a simulation without restarts)."""

    def __init__(self, sender: int, receiver: int, iteration: int, algorithm: str, kind: str, dim: int,
                 primal: object = _EMPTY, dual: object = _EMPTY, consensus: object = _EMPTY,
                 aux: object = _EMPTY, done: bool = False, converged_rounds: int = 0, rho: float = 0.0,
                 bit_cost: int = 0, tuning: Tuning | None = None, incarnation: int = 0) -> None:
        # Written by hand (the dataclass's frozen __init__ sets each field through
        # object.__setattr__): every message sent and received is built here. The instance is
        # still frozen: attribute assignment raises FrozenInstanceError.
        self.__dict__.update(
            sender=sender, receiver=receiver, iteration=iteration, algorithm=algorithm, kind=kind, dim=dim,
            primal=primal if primal is _EMPTY else _frozen_block(primal),
            dual=dual if dual is _EMPTY else _frozen_block(dual),
            consensus=consensus if consensus is _EMPTY else _frozen_block(consensus),
            aux=aux if aux is _EMPTY else _frozen_block(aux),
            done=done, converged_rounds=converged_rounds, rho=rho, bit_cost=bit_cost, tuning=tuning,
            incarnation=incarnation)

    def blocks(self) -> dict[str, np.ndarray]:
        """The float blocks by name."""
        return {name: getattr(self, name) for name in BLOCKS}

    @property
    def floats(self) -> int:
        """Number of float64 values carried (for bit counting)."""
        return sum(getattr(self, name).size for name in BLOCKS)

    @property
    def bits(self) -> int:
        """Payload bits: ``bit_cost`` if the algorithm set it (integer payloads), else 64 per float."""
        return self.bit_cost if self.bit_cost > 0 else 64 * self.floats
