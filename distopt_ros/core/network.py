"""Models of an imperfect radio: message loss, random activation, delay, quantization.

One implementation, used by the in-process simulator and by the ROS transport layer (which
draws the same decisions from the same seeded generators before publishing), so a lossy
run means the same thing in both. Every model draws from its own stream derived from one
seed, so the same seed gives the same drops, wake-ups and delays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from distopt_ros.core.messages import BLOCKS, Message
from distopt_ros.core.validation import at_least, positive


def _probability(value: float, name: str, allow_zero: bool = True) -> float:
    v = float(value)
    low_ok = v >= 0 if allow_zero else v > 0
    if not (np.isfinite(v) and low_ok and v <= 1):
        bracket = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {bracket}, got {value!r}")
    return v


class LossModel:
    """Decides, per directed link and message, whether the message is lost."""

    def drop(self, sender: int, receiver: int) -> bool:
        raise NotImplementedError


class NoLoss(LossModel):
    """A perfect link."""

    def drop(self, sender: int, receiver: int) -> bool:
        return False


class BernoulliLoss(LossModel):
    """Each message is lost independently with probability ``probability``."""

    def __init__(self, probability: float, seed: int | np.random.SeedSequence = 0) -> None:
        self.probability = _probability(probability, "loss_probability")
        self.rng = np.random.default_rng(seed)

    def drop(self, sender: int, receiver: int) -> bool:
        return bool(self.rng.random() < self.probability)


class GilbertElliottLoss(LossModel):
    """Bursty loss: each link is a two-state Markov chain (good/bad) with its own loss rate.

    ``p_good_to_bad`` and ``p_bad_to_good`` are the per-message transition probabilities;
    the mean burst length is ``1 / p_bad_to_good`` and the stationary loss rate is
    ``(p_bg * loss_good + p_gb * loss_bad) / (p_gb + p_bg)``.
    """

    def __init__(self, p_good_to_bad: float, p_bad_to_good: float, loss_good: float = 0.0,
                 loss_bad: float = 1.0, seed: int | np.random.SeedSequence = 0) -> None:
        self.p_gb = _probability(p_good_to_bad, "p_good_to_bad")
        self.p_bg = _probability(p_bad_to_good, "p_bad_to_good", allow_zero=False)
        self.loss_good = _probability(loss_good, "loss_good")
        self.loss_bad = _probability(loss_bad, "loss_bad")
        self.rng = np.random.default_rng(seed)
        self.bad: dict[tuple[int, int], bool] = {}

    @property
    def stationary_loss(self) -> float:
        total = self.p_gb + self.p_bg
        return (self.p_bg * self.loss_good + self.p_gb * self.loss_bad) / total if total else self.loss_good

    def drop(self, sender: int, receiver: int) -> bool:
        link = (sender, receiver)
        bad = self.bad.get(link, False)
        u_state, u_loss = self.rng.random(2)
        bad = (u_state >= self.p_bg) if bad else (u_state < self.p_gb)
        self.bad[link] = bool(bad)
        return bool(u_loss < (self.loss_bad if bad else self.loss_good))


@dataclass
class UniformQuantizer:
    """Rounds every transmitted float to a multiple of ``step`` and charges ``bits`` per value.

    Models a radio that sends fixed-point numbers: the receiver sees ``step * round(v/step)``.
    """

    step: float
    bits: int = 32

    def __post_init__(self) -> None:
        positive(self.step, "quantization step")
        at_least(self.bits, "quantization bits", 1)

    def apply(self, msg: Message) -> Message:
        blocks = {b: self.step * np.round(np.asarray(getattr(msg, b)) / self.step) for b in BLOCKS}
        return replace(msg, **blocks)


@dataclass
class NetworkModel:
    """What the radio does to messages: loss, activation, delay (ticks) and quantization.

    ``activation_probability`` is the chance an agent wakes up at a tick (1 = synchronous
    rounds); ``max_delay`` adds a uniform 0..max_delay ticks of latency per message.
    """

    loss: str = "none"
    loss_probability: float = 0.0
    burst_length: float = 4.0
    activation_probability: float = 1.0
    max_delay: int = 0
    quantization_step: float = 0.0
    quantization_bits: int = 32
    seed: int = 0
    _loss: LossModel = field(init=False, repr=False)

    def __post_init__(self) -> None:
        seqs = np.random.SeedSequence(at_least(self.seed, "seed", 0)).spawn(3)
        _probability(self.loss_probability, "loss_probability")
        if self.loss == "none":
            self._loss = NoLoss()
        elif self.loss == "bernoulli":
            self._loss = BernoulliLoss(self.loss_probability, seqs[0])
        elif self.loss == "gilbert_elliott":
            # Bad state loses everything; mean burst `burst_length`; stationary rate = loss_probability.
            p_bg = 1.0 / positive(self.burst_length, "burst_length")
            p = self.loss_probability
            if p >= 1:
                raise ValueError("loss_probability must be < 1 for gilbert_elliott")
            self._loss = GilbertElliottLoss(p * p_bg / (1 - p), min(1.0, p_bg), 0.0, 1.0, seqs[0])
        else:
            raise ValueError(f"loss must be one of none, bernoulli, gilbert_elliott; got {self.loss!r}")
        _probability(self.activation_probability, "activation_probability", allow_zero=False)
        at_least(self.max_delay, "max_delay", 0)
        self._activation_rng = np.random.default_rng(seqs[1])
        self._delay_rng = np.random.default_rng(seqs[2])
        self.quantizer = UniformQuantizer(self.quantization_step, self.quantization_bits) \
            if self.quantization_step > 0 else None

    PARAMETERS = ("loss", "loss_probability", "burst_length", "activation_probability", "max_delay",
                  "quantization_step", "quantization_bits")
    """Configuration keys (the same names as the ROS parameters of the transport layer)."""

    @classmethod
    def from_mapping(cls, params: dict, seed: int = 0) -> NetworkModel:
        """Build from a parameter dict (unrelated keys are ignored)."""
        return cls(seed=seed, **{k: params[k] for k in cls.PARAMETERS if k in params})

    @property
    def lossless_synchronous(self) -> bool:
        return isinstance(self._loss, NoLoss) and self.activation_probability == 1.0 and self.max_delay == 0

    def drop(self, sender: int, receiver: int) -> bool:
        return self._loss.drop(sender, receiver)

    def active(self, agent_id: int) -> bool:
        return self.activation_probability >= 1.0 or bool(self._activation_rng.random() < self.activation_probability)

    def latency(self, max_seconds: float) -> float:
        """A latency drawn uniformly from ``[0, max_seconds]`` (the ROS transport's delay model)."""
        return float(self._delay_rng.uniform(0.0, max_seconds)) if max_seconds > 0 else 0.0

    def set_rate(self, name: str, value: float) -> None:
        """Change ``loss_probability`` or ``activation_probability`` while running (live re-tuning)."""
        if name == "activation_probability":
            self.activation_probability = _probability(value, name, allow_zero=False)
        elif name == "loss_probability":
            p = _probability(value, name)
            if isinstance(self._loss, BernoulliLoss):
                self._loss.probability = p
            elif isinstance(self._loss, GilbertElliottLoss):
                if p >= 1:
                    raise ValueError("loss_probability must be < 1 for gilbert_elliott")
                self._loss.p_gb = p * self._loss.p_bg / (1 - p)
            elif p > 0:
                raise ValueError("loss_probability can change while running only with loss bernoulli/gilbert_elliott")
            self.loss_probability = p
        else:
            raise ValueError(f"{name} cannot be changed while running")

    def delay(self) -> int:
        return int(self._delay_rng.integers(0, self.max_delay + 1)) if self.max_delay else 0

    def encode(self, msg: Message) -> tuple[Message, int]:
        """The message as the receiver will see it, and the bits it costs on the air."""
        if self.quantizer is None:
            return msg, msg.bits
        return self.quantizer.apply(msg), self.quantizer.bits * msg.floats
