"""A robot's own objective: the protocol it implements and the registry that finds it by name.

A robot's private cost ``f_i(x)`` is any object with

* ``dim`` -- the size of the decision variable ``x`` (the same on every robot);
* ``value(x) -> float`` -- ``f_i(x)`` (``+inf`` outside the objective's constraint set);
* ``gradient(x) -> ndarray`` -- the gradient of the smooth part;
* ``prox(v, t) -> ndarray`` -- ``argmin_x f_i(x) + t/2 |x - v|^2``, constraints included;

and, when the objective carries a constraint set ``X_i`` (its indicator is part of ``f_i``),

* ``project(x) -> ndarray`` -- the Euclidean projection onto ``X_i``.

:class:`distopt_ros.core.problems.LocalObjective` is a base class with that shape; any class
with these methods works. A robot names its objective with the ``objective`` parameter and
passes its constructor's keyword arguments in ``objective_params``:

* a registered name: the shipped ``quadratic``, ``box``, ``least_squares``, ``logistic``, or
  one that an installed package registers under the entry-point group
  ``distopt_ros.objectives`` (``rendezvous = my_pkg.costs:Rendezvous`` in its package metadata);
* ``module:attribute`` for a class or factory importable from the robot's Python path.

:func:`make_objective` builds and checks it before any message is sent: an import that fails,
a missing method, parameters the constructor refuses, a value or gradient of the wrong shape,
a dimension that disagrees with the swarm -- each is one :class:`ParameterError` line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import numpy as np

from distopt_ros.core.schema import ParameterError

ENTRY_POINT_GROUP = "distopt_ros.objectives"
REQUIRED = ("value", "gradient", "prox")
"""Methods every objective has (``project`` too, when it carries a constraint set)."""

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_objective(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**objective_params)`` available as ``objective: name`` (shipped and user code alike)."""
    if not name or ":" in name:
        raise ValueError(f"objective name must be non-empty and without ':', got {name!r}")
    _REGISTRY[name] = factory


def registered_objectives() -> dict[str, str]:
    """Every name ``objective`` accepts without a ``module:`` path, and where it comes from."""
    names = {name: f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', f)}" for name, f in _REGISTRY.items()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return names


def objective_factory(spec: str) -> Callable[..., Any]:
    """The class or factory named by ``spec`` (a registered name, an entry point, or ``module:attribute``)."""
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    if ":" not in spec:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == spec:
                try:
                    return ep.load()
                except Exception as exc:  # an installed package's import error: name it, one line
                    raise ParameterError(f"objective {spec!r}: entry point {ep.value} cannot be loaded ({exc})") \
                        from None
        known = ", ".join(sorted(registered_objectives()))
        raise ParameterError(f"objective must be a registered name ({known}) or module:Class, got {spec!r}")
    module, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # ImportError, or an error raised while importing the user's module
        raise ParameterError(f"objective {spec!r}: cannot import {module} ({type(exc).__name__}: {exc})") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ParameterError(f"objective {spec!r}: module {module} has no attribute {attr!r}") from None


def make_objective(spec: str, params: Mapping[str, Any] | None = None, dim: int | None = None) -> Any:
    """Build the objective ``spec`` with ``params`` and check it (see :func:`check_objective`)."""
    factory = objective_factory(spec)
    try:
        objective = factory(**dict(params or {}))
    except Exception as exc:  # the user's constructor refused its parameters: say which and why
        raise ParameterError(f"objective {spec!r} refused objective_params {dict(params or {})!r}: "
                             f"{type(exc).__name__}: {exc}") from None
    check_objective(objective, spec, dim)
    return objective


def check_objective(objective: Any, spec: str = "objective", dim: int | None = None) -> None:
    """Refuse an object that does not implement the protocol, or whose dimension is not the swarm's."""
    missing = [m for m in REQUIRED if not callable(getattr(objective, m, None))]
    if missing:
        raise ParameterError(f"objective {spec!r}: {type(objective).__name__} has no method "
                             f"{', '.join(missing)} (an objective needs value, gradient and prox)")
    d = getattr(objective, "dim", None)
    if not isinstance(d, int | np.integer) or isinstance(d, bool) or d < 1:
        raise ParameterError(f"objective {spec!r}: dim must be an integer >= 1, got {d!r}")
    if dim is not None and d != dim:
        raise ParameterError(f"objective {spec!r} has dim {d}, but the swarm's dim is {dim}")
    x = np.zeros(int(d))
    if constrained(objective):
        x = np.asarray(objective.project(x), dtype=float)
    try:
        checks = {"gradient": objective.gradient(x), "prox": objective.prox(x, 1.0)}
        value = float(objective.value(x))
    except Exception as exc:
        raise ParameterError(f"objective {spec!r}: evaluating it at a feasible point failed "
                             f"({type(exc).__name__}: {exc})") from None
    for name, out in checks.items():
        arr = np.asarray(out, dtype=float)
        if arr.shape != (int(d),) or not np.all(np.isfinite(arr)):
            raise ParameterError(f"objective {spec!r}: {name} must return {int(d)} finite numbers, got {out!r}")
    if not np.isfinite(value):
        raise ParameterError(f"objective {spec!r}: value must be finite at a feasible point, got {value!r}")


def constrained(objective: Any) -> bool:
    """True if the objective carries a constraint set (it has ``project``)."""
    return callable(getattr(objective, "project", None))


class LocalProblem:
    """What one robot knows of the problem: its own objective (in the shape the algorithm builders read)."""

    def __init__(self, robot_id: int, objective: Any, num_agents: int) -> None:
        self.objectives = {robot_id: objective}
        self.num_agents = num_agents
        self.dim = int(objective.dim)


class MeasuredPosition:
    """A position known only through the robot's own measurements: the fusion of its latest ``window``.

    Each measurement is a Gaussian ``(estimate, covariance)`` (covariance ``None``: identity);
    the objective is their information-weighted fusion ``1/2 sum_k |x - m_k|^2_{P_k^-1}``. Its
    :meth:`observe` takes a new measurement: the data of a robot deployed with
    ``objective: measured_position`` and ``measurement_topic`` come from its own sensor topic,
    never from a shared seed. Until the first measurement it is flat (the node waits for one).
    """

    def __init__(self, dim: int = 2, window: int = 1) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an integer >= 1, got {window!r}")
        from distopt_ros.core.problems import QuadraticObjective

        self.dim, self.window = dim, window
        self.measurements: list[tuple[np.ndarray, np.ndarray]] = []
        self._fused = QuadraticObjective(np.zeros((dim, dim)), np.zeros(dim))

    def observe(self, estimate: Any, covariance: Any | None = None) -> MeasuredPosition:
        """Fuse a new measurement (ValueError, naming the field, for a malformed one); returns self."""
        from distopt_ros.core.problems import QuadraticObjective
        from distopt_ros.core.validation import as_finite_array, require_positive_definite

        mean = as_finite_array(estimate, "estimate", ndim=1, size=self.dim)
        cov = np.eye(self.dim) if covariance is None or np.size(covariance) == 0 else \
            as_finite_array(covariance, "covariance", size=self.dim * self.dim).reshape(self.dim, self.dim)
        require_positive_definite(cov, "covariance")
        self.measurements = [*self.measurements, (mean, np.linalg.inv(cov))][-self.window:]
        info = sum(p for _, p in self.measurements)
        self._fused = QuadraticObjective(info, np.linalg.solve(info, sum(p @ m for m, p in self.measurements)))
        return self

    def value(self, x: np.ndarray) -> float:
        return self._fused.value(x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self._fused.gradient(x)

    def prox(self, v: np.ndarray, t: float) -> np.ndarray:
        return self._fused.prox(v, t)


def _shipped(kind: str) -> Callable[..., Any]:
    def factory(**params: Any) -> Any:
        from distopt_ros.core.problems import objective_from_dict

        data = dict(params)
        n = len(data.get("mean", ()))
        for key in ("precision", "covariance"):  # ROS 2 parameters hold no nested lists: a flat row-major matrix
            value = data.get(key)
            if isinstance(value, list | tuple) and n and len(value) == n * n and not isinstance(value[0], list):
                data[key] = [list(value[r * n:(r + 1) * n]) for r in range(n)]
        if kind == "box":
            inner = {k: data.pop(k) for k in ("mean", "precision", "covariance") if k in data}
            data = {"inner": {"type": "quadratic", **inner}, **data}
        return objective_from_dict({"type": kind, **data})

    factory.__qualname__ = f"{kind} objective"
    return factory


for _kind in ("quadratic", "box", "least_squares", "logistic"):
    register_objective(_kind, _shipped(_kind))
register_objective("measured_position", MeasuredPosition)
