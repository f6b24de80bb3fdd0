"""Argument checks shared by the core: every failure names the offending argument."""

from __future__ import annotations

import math

import numpy as np


def as_finite_array(value: object, name: str, ndim: int | None = None, size: int | None = None) -> np.ndarray:
    """``value`` as a float array, refusing NaN/Inf and wrong shapes with a ValueError."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have {size} entries, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or Inf)")
    return arr


def require_positive_definite(mat: np.ndarray, name: str, semi: bool = False) -> None:
    """Refuse a matrix that is not symmetric positive (semi)definite."""
    if not np.allclose(mat, mat.T, rtol=1e-9, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    low = float(np.min(np.linalg.eigvalsh(0.5 * (mat + mat.T))))
    if low < 0 or (not semi and low <= 0):
        kind = "positive semidefinite" if semi else "positive definite"
        raise ValueError(f"{name} must be {kind} (smallest eigenvalue {low:.3g})")


def positive(value: float, name: str) -> float:
    """``value`` as a finite float > 0."""
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def in_open_interval(value: float, name: str, low: float, high: float, closed_high: bool = False) -> float:
    """``value`` in ``(low, high)`` (or ``(low, high]``)."""
    v = float(value)
    ok = math.isfinite(v) and low < v and (v <= high if closed_high else v < high)
    if not ok:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in ({low}, {high}{bracket}, got {value!r}")
    return v


def at_least(value: int, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)
