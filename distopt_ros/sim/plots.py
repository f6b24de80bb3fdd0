"""PNG plots of tracking runs and convergence histories (matplotlib, no display, no rclpy).

Why a module of its own: the simulator, the ROS runners and the benchmarks all end with
arrays (paths, errors per round) that a person wants to look at; these functions turn them
into files under a headless Agg backend, so they work on CI and over SSH alike. Inputs are
checked first and a malformed one is refused with a ValueError naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot

import matplotlib.pyplot as plt
import numpy as np

_OPTIONAL_PER_ROBOT = ("robots", "estimates", "goals")


def _as_array(log: Mapping[str, Any], key: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``log[key]`` as a finite float array of ``shape`` (None = any length); else ValueError naming key."""
    try:
        arr = np.asarray(log[key], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"log[{key!r}] must be numeric, got {type(log[key]).__name__}: {exc}") from None
    want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape, strict=True)):
        raise ValueError(f"log[{key!r}] must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"log[{key!r}] must be finite (no NaN or inf)")
    return arr


def validate_tracking_log(log: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Checked arrays of a tracking log: ``t`` (T,), ``target`` (T,2), ``centroid`` (T,2) and
    ``robots`` / ``estimates`` / ``goals`` (N,T,2), every optional key may be missing.

    The same N for every per-robot array and the same T everywhere; ``t`` non-decreasing.
    """
    if not isinstance(log, Mapping):
        raise ValueError(f"log must be a mapping of arrays, got {type(log).__name__}")
    for key in ("t", "target"):
        if key not in log:
            raise ValueError(f"log must have key {key!r}")
    out = {"t": _as_array(log, "t", (None,))}
    steps = out["t"].shape[0]
    if steps < 1:
        raise ValueError("log['t'] must hold at least one time")
    if np.any(np.diff(out["t"]) < 0):
        raise ValueError("log['t'] must be non-decreasing")
    out["target"] = _as_array(log, "target", (steps, 2))
    if "centroid" in log:
        out["centroid"] = _as_array(log, "centroid", (steps, 2))
    robots = None
    for key in _OPTIONAL_PER_ROBOT:
        if key in log:
            out[key] = _as_array(log, key, (robots, steps, 2))
            if out[key].shape[0] < 1:
                raise ValueError(f"log[{key!r}] must hold at least one robot")
            robots = out[key].shape[0]
    return out


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_tracking(log: Mapping[str, Any], out_dir: Path | str, title: str = "",
                  bounds: Mapping[str, float] | None = None) -> list[Path]:
    """Write ``trajectories.png`` and ``tracking_error.png`` for a tracking run; return their paths.

    ``trajectories.png``: the target's path, each robot's path (start o, end square, id), and
    the centroid. ``tracking_error.png``: against time, the largest over robots of
    |estimate - target|, of |robot - goal| (if ``goals`` is given), and |centroid - target|; a
    log scale when every curve is positive and spans more than a decade. ``bounds`` maps
    ``"estimate"``, ``"formation"`` or ``"centroid"`` to a bound drawn as a dashed line.
    """
    arrays = validate_tracking_log(log)
    bounds = dict(bounds or {})
    for name, value in bounds.items():
        if name not in ("estimate", "formation", "centroid"):
            raise ValueError(f"bounds keys must be estimate, formation or centroid, got {name!r}")
        if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise ValueError(f"bounds[{name!r}] must be a finite number > 0, got {value!r}")
    out = Path(out_dir)
    t, target = arrays["t"], arrays["target"]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.plot(target[:, 0], target[:, 1], "k-", lw=2, label="target")
    ax.plot(*target[-1], "k*", ms=14)
    robots = arrays.get("robots")
    if robots is not None:
        colors = plt.cm.tab10(np.arange(robots.shape[0]) % 10)
        for i, path in enumerate(robots):
            ax.plot(path[:, 0], path[:, 1], "-", color=colors[i], lw=1.2, label=f"robot {i}" if i < 10 else None)
            ax.plot(*path[0], "o", color=colors[i], mfc="none", ms=7)
            ax.plot(*path[-1], "s", color=colors[i], ms=6)
            ax.annotate(str(i), path[-1], textcoords="offset points", xytext=(4, 4), fontsize=8, color=colors[i])
    if "centroid" in arrays:
        ax.plot(arrays["centroid"][:, 0], arrays["centroid"][:, 1], "--", color="tab:gray", lw=1.5, label="centroid")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{title} trajectories (o start, \u25a0 end)".strip())
    fig.tight_layout()
    paths.append(_save(fig, out / "trajectories.png"))

    curves: dict[str, np.ndarray] = {}
    if "estimates" in arrays:
        curves["estimate"] = np.linalg.norm(arrays["estimates"] - target[None], axis=2).max(axis=0)
    if "goals" in arrays and robots is not None:
        curves["formation"] = np.linalg.norm(robots - arrays["goals"], axis=2).max(axis=0)
    if "centroid" in arrays:
        curves["centroid"] = np.linalg.norm(arrays["centroid"] - target, axis=1)
    labels = {"estimate": "max |estimate - target|", "formation": "max |robot - goal|",
              "centroid": "|centroid - target|"}
    colors = {"estimate": "tab:blue", "formation": "tab:orange", "centroid": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, err in curves.items():
        ax.plot(t, err, color=colors[name], lw=1.5, label=labels[name])
    for name, value in bounds.items():
        ax.axhline(value, color=colors[name], ls="--", lw=1, label=f"{name} bound {value:g}")
    values = np.concatenate([*curves.values(), np.array(list(bounds.values()), dtype=float)])
    if values.size and np.all(values > 0) and values.max() / values.min() > 10:
        ax.set_yscale("log")
    if not curves:
        ax.text(0.5, 0.5, "no robots, estimates or centroid in the log", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("error [m]")
    ax.grid(True, which="both", alpha=0.3)
    if curves or bounds:
        ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{title} tracking error".strip())
    fig.tight_layout()
    paths.append(_save(fig, out / "tracking_error.png"))
    return paths


def plot_convergence(histories: Mapping[int, Any] | np.ndarray, out_path: Path | str,
                     ylabel: str = "error to optimum", title: str = "") -> Path:
    """Semilog-y of each robot's error per iteration; write ``out_path`` (PNG) and return it.

    ``histories``: ``{robot_id: errors (K_i,)}`` or an array (N, K), one row per robot.
    Zeros (exact convergence) are drawn at the smallest positive value so the log scale holds.
    """
    if isinstance(histories, Mapping):
        if not histories:
            raise ValueError("histories must hold at least one robot")
        items = []
        for rid, hist in histories.items():
            arr = np.asarray(hist, dtype=float)
            if arr.ndim != 1 or arr.size < 1:
                raise ValueError(f"histories[{rid!r}] must be a non-empty 1-D array, got shape {arr.shape}")
            items.append((rid, arr))
    else:
        arr = np.asarray(histories, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"histories must be a mapping or an array of shape (N, K), got shape {arr.shape}")
        items = list(enumerate(arr))
    for rid, arr in items:
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"histories[{rid!r}] must be finite and >= 0")
    positive = np.concatenate([a[a > 0] for _, a in items])
    floor = positive.min() if positive.size else 1.0
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for rid, arr in items:
        ax.semilogy(np.arange(arr.size), np.maximum(arr, floor), lw=1.2, label=f"robot {rid}")
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if len(items) <= 12:
        ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, Path(out_path))
