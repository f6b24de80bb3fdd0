"""Honest wire sizes: exact CDR byte counts of the ROS messages, and a decodable integer code.

Two ways to count what a :class:`~distopt_ros.core.messages.Message` costs on the air:

* **Bytes as ROS really sends them.** :func:`cdr_size` is the exact size of the CDR payload
  (XCDR1, the 4-byte encapsulation header included) of the ``distopt_ros/msg/AgentState``
  the ROS layer builds from a core message; :func:`quantized_payload_cdr_size` is the same for
  ``distopt_ros/msg/QuantizedPayload``, the message ``qudrc`` actually uses over ROS.
  :func:`cdr_breakdown` splits a size into the fixed header, the strings, the array data and
  the alignment padding. Core code cannot import rclpy, so the layout is computed here from
  the ``.msg`` definitions (test/test_quantized.py checks it against
  ``rclpy.serialization`` when rclpy imports). RTPS/UDP/IP headers are not counted: they are
  the same per message for every algorithm.
* **Bits under a stated variable-length code.** Integers are zig-zag mapped to naturals and
  written with Elias-gamma (or Elias-delta) codes; :func:`encode_integers` frames a message as
  ``gamma(count + 1)`` followed by the ``count`` codes, so a concatenation of messages decodes
  without any other knowledge (:func:`decode_integers`). :func:`encoded_length` is the length of
  that bit string, computed without building it. A message whose size both ends already know
  (fixed blocks, ``dim`` in its header) needs no count: :func:`encode_frame` writes one flag bit
  (``0`` = all values zero, nothing follows) and then the codes; :func:`encode_payload` is the
  ``sparse`` frame of a QuDRC message (unsigned token counts, one when they are shared, no mass
  where no token goes). Bit strings are ``str`` of ``'0'``/``'1'``:
  slow but obviously right; :func:`pack_bits` turns one into bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from distopt_ros.core.messages import BLOCKS, Message

# ----------------------------------------------------------------------------- integer codes
CODES = ("gamma", "delta")
"""Elias-gamma (``2 floor(log2 u) + 1`` bits for ``u >= 1``: best for small values) and
Elias-delta (``floor(log2 u) + 2 floor(log2(floor(log2 u) + 1)) + 1``: better above ~30)."""


def zigzag(v: int) -> int:
    """Signed integer to natural: 0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ... (exact for any int)."""
    v = int(v)
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(u: int) -> int:
    """Inverse of :func:`zigzag`."""
    return u // 2 if u % 2 == 0 else -(u + 1) // 2


def gamma_length(u: int) -> int:
    """Bits of the Elias-gamma code of ``u >= 1``."""
    return 2 * int(u).bit_length() - 1


def delta_length(u: int) -> int:
    """Bits of the Elias-delta code of ``u >= 1``."""
    n = int(u).bit_length()
    return n - 1 + gamma_length(n)


def gamma_encode(u: int) -> str:
    """Elias-gamma code of ``u >= 1``: ``floor(log2 u)`` zeros, then ``u`` in binary."""
    if u < 1:
        raise ValueError(f"Elias-gamma codes integers >= 1, got {u}")
    b = bin(u)[2:]
    return "0" * (len(b) - 1) + b


def delta_encode(u: int) -> str:
    """Elias-delta code of ``u >= 1``: gamma of the bit length, then ``u`` without its leading 1."""
    if u < 1:
        raise ValueError(f"Elias-delta codes integers >= 1, got {u}")
    b = bin(u)[2:]
    return gamma_encode(len(b)) + b[1:]


def gamma_decode(bits: str, pos: int = 0) -> tuple[int, int]:
    """One Elias-gamma code from ``bits[pos:]``: (value, position after it); ValueError if cut short."""
    zeros = 0
    while pos + zeros < len(bits) and bits[pos + zeros] == "0":
        zeros += 1
    end = pos + 2 * zeros + 1
    if end > len(bits):
        raise ValueError("bit string ends inside an Elias-gamma code")
    return int(bits[pos + zeros:end], 2), end


def delta_decode(bits: str, pos: int = 0) -> tuple[int, int]:
    """One Elias-delta code from ``bits[pos:]``: (value, position after it)."""
    n, pos = gamma_decode(bits, pos)
    end = pos + n - 1
    if end > len(bits):
        raise ValueError("bit string ends inside an Elias-delta code")
    return int("1" + bits[pos:end], 2), end


_ENC = {"gamma": gamma_encode, "delta": delta_encode}
_DEC = {"gamma": gamma_decode, "delta": delta_decode}
_LEN = {"gamma": gamma_length, "delta": delta_length}


def _code(code: str) -> str:
    if code not in CODES:
        raise ValueError(f"code must be one of {', '.join(CODES)}, got {code!r}")
    return code


def _ints(values: Iterable[object]) -> list[int]:
    out = []
    for v in np.asarray(list(values) if not isinstance(values, np.ndarray) else values).reshape(-1).tolist():
        if float(v) != int(v):
            raise ValueError(f"only integers can be coded, got {v!r}")
        out.append(int(v))
    return out


def encode_integers(values: Iterable[object], code: str = "gamma") -> str:
    """One framed message: ``gamma(count + 1)``, then each value as ``code(zigzag(v) + 1)``.

    The count prefix makes the message self-delimiting (an empty message is the single bit ``1``).
    """
    enc = _ENC[_code(code)]
    ints = _ints(values)
    return gamma_encode(len(ints) + 1) + "".join(enc(zigzag(v) + 1) for v in ints)


def decode_integers(bits: str, pos: int = 0, code: str = "gamma") -> tuple[list[int], int]:
    """The inverse of :func:`encode_integers`: (values, position after the message)."""
    dec = _DEC[_code(code)]
    count, pos = gamma_decode(bits, pos)
    out = []
    for _ in range(count - 1):
        u, pos = dec(bits, pos)
        out.append(unzigzag(u - 1))
    return out, pos


def decode_stream(bits: str, code: str = "gamma") -> list[list[int]]:
    """Every framed message of a concatenation of :func:`encode_integers` outputs."""
    pos, out = 0, []
    while pos < len(bits):
        values, pos = decode_integers(bits, pos, code)
        out.append(values)
    return out


def encoded_length(values: Iterable[object], code: str = "gamma") -> int:
    """``len(encode_integers(values, code))``, without building the string (the bit count charged)."""
    length = _LEN[_code(code)]
    ints = _ints(values)
    return gamma_length(len(ints) + 1) + sum(length(zigzag(v) + 1) for v in ints)


def encode_frame(values: Iterable[object], code: str = "gamma") -> str:
    """A fixed-size message whose size both ends know (e.g. ``4 dim`` from the header's ``dim``): a flag bit,
    ``0`` when every value is zero (nothing to send), else ``1`` and each value as ``code(zigzag(v) + 1)``."""
    enc = _ENC[_code(code)]
    ints = _ints(values)
    if not any(ints):
        return "0"
    return "1" + "".join(enc(zigzag(v) + 1) for v in ints)


def decode_frame(bits: str, size: int, pos: int = 0, code: str = "gamma") -> tuple[list[int], int]:
    """The inverse of :func:`encode_frame` for a message of ``size`` values: (values, position after it)."""
    dec = _DEC[_code(code)]
    if pos >= len(bits):
        raise ValueError("bit string ends before the frame flag")
    if bits[pos] == "0":
        return [0] * size, pos + 1
    pos += 1
    out = []
    for _ in range(size):
        u, pos = dec(bits, pos)
        out.append(unzigzag(u - 1))
    return out, pos


def frame_length(values: Iterable[object], code: str = "gamma") -> int:
    """``len(encode_frame(values, code))`` without building the string."""
    length = _LEN[_code(code)]
    ints = _ints(values)
    return 1 if not any(ints) else 1 + sum(length(zigzag(v) + 1) for v in ints)


# ----------------------------------------------------------------------------- the QuDRC payload frame
FRAMES = ("flat", "sparse")
"""How a QuDRC message ``(M, m, mass, tokens)`` of ``n`` coordinates is coded: ``flat`` =
:func:`encode_frame` of its ``4 n`` integers; ``sparse`` = :func:`encode_payload`."""


def _natural(u: int) -> int:
    if u < 0:
        raise ValueError(f"token counts are natural numbers, got {u}")
    return u


def _payload_ints(blocks: Sequence[Iterable[object]], shared_tokens: bool) -> tuple[list[int], ...]:
    big, small, mass, tokens = (_ints(b) for b in blocks)
    n = len(big)
    if not len(small) == len(mass) == len(tokens) == n:
        raise ValueError("the four blocks of a payload must have the same size")
    if shared_tokens and len(set(tokens)) > 1:
        raise ValueError(f"shared_tokens needs one token count for every coordinate, got {tokens}")
    for t, w in zip(tokens, mass, strict=True):
        _natural(t)
        if t == 0 and w != 0:
            raise ValueError("a coordinate without tokens carries no mass")
    return big, small, mass, tokens


def encode_payload(blocks: Sequence[Iterable[object]], shared_tokens: bool = False, code: str = "gamma") -> str:
    """The ``sparse`` frame of one QuDRC message ``(M, m, mass, tokens)`` (sizes known from ``dim``).

    One flag bit, ``0`` when all ``4 n`` integers are zero (nothing follows); else ``1``, then
    the token counts as ``gamma(t + 1)`` (naturals: no sign; ONE count when ``shared_tokens``,
    every coordinate then having the same), the ``n`` values of ``M`` and of ``m`` as
    ``code(zigzag(v) + 1)``, and the mass only of the coordinates with ``t > 0`` (a coordinate
    sent no token carries no mass, so the decoder, having read the counts, knows which follow).
    """
    enc = _ENC[_code(code)]
    big, small, mass, tokens = _payload_ints(blocks, shared_tokens)
    if not any(big) and not any(small) and not any(tokens):
        return "0"
    counts = tokens[:1] if shared_tokens else tokens
    return ("1" + "".join(gamma_encode(t + 1) for t in counts) + "".join(enc(zigzag(v) + 1) for v in big + small)
            + "".join(enc(zigzag(w) + 1) for t, w in zip(tokens, mass, strict=True) if t > 0))


def decode_payload(bits: str, dim: int, shared_tokens: bool = False, pos: int = 0,
                   code: str = "gamma") -> tuple[tuple[list[int], ...], int]:
    """The inverse of :func:`encode_payload`: ``((M, m, mass, tokens), position after the frame)``."""
    dec = _DEC[_code(code)]
    if pos >= len(bits):
        raise ValueError("bit string ends before the frame flag")
    if bits[pos] == "0":
        return tuple([0] * dim for _ in range(4)), pos + 1
    pos += 1

    def values(count: int, decode: object) -> list[int]:
        nonlocal pos
        out = []
        for _ in range(count):
            u, pos = decode(bits, pos)  # type: ignore[operator]
            out.append(u)
        return out

    tokens = [u - 1 for u in values(1 if shared_tokens else dim, gamma_decode)]
    tokens = tokens * dim if shared_tokens else tokens
    big = [unzigzag(u - 1) for u in values(dim, dec)]
    small = [unzigzag(u - 1) for u in values(dim, dec)]
    sent = iter(unzigzag(u - 1) for u in values(sum(t > 0 for t in tokens), dec))
    mass = [next(sent) if t > 0 else 0 for t in tokens]
    return (big, small, mass, tokens), pos


def payload_length(blocks: Sequence[Iterable[object]], shared_tokens: bool = False, code: str = "gamma") -> int:
    """``len(encode_payload(blocks, shared_tokens, code))`` without building the string."""
    length = _LEN[_code(code)]
    big, small, mass, tokens = _payload_ints(blocks, shared_tokens)
    if not any(big) and not any(small) and not any(tokens):
        return 1
    counts = tokens[:1] if shared_tokens else tokens
    return (1 + sum(gamma_length(t + 1) for t in counts) + sum(length(zigzag(v) + 1) for v in big + small)
            + sum(length(zigzag(w) + 1) for t, w in zip(tokens, mass, strict=True) if t > 0))


def pack_bits(bits: str) -> bytes:
    """A bit string as bytes, zero-padded at the end to a whole byte (what a radio frame would carry)."""
    if not bits:
        return b""
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


# ----------------------------------------------------------------------------- CDR sizes
ENCAPSULATION = 4
"""The CDR encapsulation header (representation id + options) in front of every serialized message."""


@dataclass(frozen=True)
class CdrBreakdown:
    """Where the bytes of one serialized message go (they add up to :attr:`total`)."""

    encapsulation: int
    fixed: int
    """Fixed-size fields (stamp, ids, counters, flags, sequence lengths, string lengths)."""
    strings: int
    """String characters and their terminating NULs."""
    data: int
    """Array elements (8 bytes per float64 or int64)."""
    padding: int
    """Alignment padding."""

    @property
    def total(self) -> int:
        return self.encapsulation + self.fixed + self.strings + self.data + self.padding

    @property
    def overhead(self) -> int:
        """Everything but the array elements."""
        return self.total - self.data


class _Cdr:
    """Counts the bytes of an XCDR1 stream (alignment relative to the end of the encapsulation header)."""

    def __init__(self) -> None:
        self.pos = 0
        self.fixed = self.strings = self.data = self.padding = 0

    def _align(self, size: int) -> None:
        pad = -self.pos % size
        self.padding += pad
        self.pos += pad

    def prim(self, size: int) -> None:
        self._align(size)
        self.fixed += size
        self.pos += size

    def string(self, text: str) -> None:
        self.prim(4)
        n = len(text.encode("utf-8")) + 1
        self.strings += n
        self.pos += n

    def sequence(self, count: int, size: int = 8) -> None:
        self.prim(4)
        if count:  # Fast CDR aligns the elements only when there are some
            self._align(size)
            self.data += count * size
            self.pos += count * size

    def header(self, frame_id: str) -> None:
        self.prim(4)  # builtin_interfaces/Time sec
        self.prim(4)  # nanosec
        self.string(frame_id)

    def result(self) -> CdrBreakdown:
        return CdrBreakdown(ENCAPSULATION, self.fixed, self.strings, self.data, self.padding)


def cdr_breakdown(message: Message, frame_id: str = "") -> CdrBreakdown:
    """The CDR layout of ``message`` as the ``AgentState`` ``to_agent_state`` builds (msg/AgentState.msg).

    Fields in order: header (stamp, ``frame_id``), sender_id, receiver_id, iteration, seq,
    incarnation, algorithm, kind, dim, done, converged_rounds, the four blocks, tuning.
    Sizes do not depend on the values of numbers, only on string and array lengths.
    """
    c = _Cdr()
    c.header(frame_id)
    c.prim(4)
    c.prim(4)
    c.prim(8)
    c.prim(8)
    c.prim(8)
    c.string(message.algorithm)
    c.string(message.kind)
    c.prim(4)
    c.prim(1)
    c.prim(4)
    for name in BLOCKS:
        c.sequence(int(getattr(message, name).size))
    c.sequence(len(message.tuning.encode()) if message.tuning is not None else 0)
    return c.result()


def cdr_size(message: Message, frame_id: str = "") -> int:
    """Exact serialized bytes of ``message`` as an ``AgentState`` (see :func:`cdr_breakdown`)."""
    return cdr_breakdown(message, frame_id).total


def quantized_payload_breakdown(block_sizes: Sequence[int], frame_id: str = "") -> CdrBreakdown:
    """The CDR layout of a ``QuantizedPayload`` (msg/QuantizedPayload.msg) with int64 arrays of these sizes.

    Fields in order: header, sender_id, receiver_id, outer_iteration, inner_step, seq, level,
    max_values, min_values, mass, tokens, done.
    """
    c = _Cdr()
    c.header(frame_id)
    c.prim(4)
    c.prim(4)
    c.prim(8)
    c.prim(8)
    c.prim(8)
    c.prim(8)
    for size in block_sizes:
        c.sequence(int(size))
    c.prim(1)
    return c.result()


def quantized_payload_cdr_size(message: Message, frame_id: str = "") -> int:
    """Exact serialized bytes of a ``qudrc`` message as the ``QuantizedPayload`` the ROS layer sends."""
    return quantized_payload_breakdown([getattr(message, b).size for b in BLOCKS], frame_id).total
