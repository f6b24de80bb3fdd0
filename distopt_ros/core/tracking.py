"""Moving targets, robot kinematics, tracking control and the bounds that go with them.

Everything here is a pure function of time or state (no ROS): the target node, the
kinematic simulator node, the tracking robot node and the tests all use the same code.

* Targets (:func:`make_target`): circle, figure eight (lemniscate of Gerono), seeded random
  walk, waypoint polyline. Each gives ``position(t)``, ``velocity(t)`` and a ``max_speed``.
* Observations: :func:`observe` adds seeded gaussian noise; :func:`noise_levels` gives each
  robot its own level and :func:`observe_all` draws one observation per robot.
* Kinematics: a saturated single integrator and a unicycle, both integrated exactly for a
  command held constant over the step (what a zero-order-hold controller does).
* Control: a saturated proportional law toward a goal and a formation on a circle.
* Bounds: the lag of a proportional law behind a moving goal, and the ISS bound of the
  tracking dual ascent (docs/algorithms.md, "Centroid tracking") turned into a centroid error.
* :class:`TrackingLog`: the sampled time series of a run and its errors after the transient.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from distopt_ros.core.algorithms.price import iss_bound
from distopt_ros.core.validation import as_finite_array, at_least, positive

TARGET_KINDS = ("circle", "figure_eight", "random_walk", "waypoints")


def _point(value: Sequence[float], name: str) -> np.ndarray:
    return as_finite_array(value, name, size=2).reshape(2).astype(float)


class Target:
    """A moving point in the plane: ``position(t)``, ``velocity(t)`` and a bound on its speed.

    Both are pure functions of the time ``t`` (seconds), so every node that evaluates the
    target at the same time sees the same point, with no state to keep in sync.
    ``max_speed`` bounds ``|velocity(t)|`` for all ``t``: it is the ``V`` of the tracking
    bounds (:func:`proportional_tracking_bound`, :func:`centroid_tracking_bound`).
    """

    max_speed: float = 0.0

    def position(self, t: float) -> np.ndarray:
        """The position (2,) at time ``t``."""
        raise NotImplementedError

    def velocity(self, t: float) -> np.ndarray:
        """The velocity (2,) at time ``t``, the derivative of :meth:`position` (right derivative at a corner)."""
        raise NotImplementedError


class PeriodicTarget(Target):
    """A closed path of one ``scale`` (a length) around ``center``, one lap per ``period`` seconds."""

    def __init__(self, center: Sequence[float], scale: float, period: float, scale_name: str) -> None:
        self.center = _point(center, "center")
        self.scale = positive(scale, scale_name)
        self.period = positive(period, "period")
        self.omega = 2 * math.pi / self.period


class CircleTarget(PeriodicTarget):
    """Counter-clockwise circle of ``radius`` around ``center``, one lap per ``period`` seconds."""

    def __init__(self, center: Sequence[float] = (0.0, 0.0), radius: float = 3.0, period: float = 60.0) -> None:
        super().__init__(center, radius, period, "radius")
        self.radius = self.scale
        self.max_speed = self.radius * self.omega

    def position(self, t: float) -> np.ndarray:
        a = self.omega * t
        return self.center + self.radius * np.array([math.cos(a), math.sin(a)])

    def velocity(self, t: float) -> np.ndarray:
        a = self.omega * t
        return self.radius * self.omega * np.array([-math.sin(a), math.cos(a)])


class FigureEightTarget(PeriodicTarget):
    """Lemniscate of Gerono ``(s sin a, s sin a cos a)``, ``a = 2 pi t / period``, through ``center``.

    Gerono rather than Bernoulli because it is a trigonometric polynomial: smooth, constant
    angular rate in the parameter, and a closed-form speed bound (``sqrt 2 s w``, reached at
    the crossing point ``a = 0``).
    """

    def __init__(self, center: Sequence[float] = (0.0, 0.0), size: float = 3.0, period: float = 60.0) -> None:
        super().__init__(center, size, period, "size")
        self.size = self.scale
        # |v|^2 = s^2 w^2 (cos^2 a + cos^2 2a) <= 2 s^2 w^2
        self.max_speed = math.sqrt(2.0) * self.size * self.omega

    def position(self, t: float) -> np.ndarray:
        a = self.omega * t
        return self.center + self.size * np.array([math.sin(a), math.sin(a) * math.cos(a)])

    def velocity(self, t: float) -> np.ndarray:
        a = self.omega * t
        return self.size * self.omega * np.array([math.cos(a), math.cos(2 * a)])


class WaypointTarget(Target):
    """Constant ``speed`` along the polyline through ``points`` (closed when ``loop``, else it stops at the end)."""

    def __init__(self, points: Sequence[Sequence[float]], speed: float, loop: bool = True) -> None:
        pts = as_finite_array(points, "points", ndim=2)
        if pts.shape[1] != 2 or pts.shape[0] < 2:
            raise ValueError(f"points must be an (M, 2) array with M >= 2, got shape {pts.shape}")
        if loop:
            pts = np.vstack([pts, pts[:1]])
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        if np.any(seg <= 0):
            raise ValueError("points must not repeat consecutively (zero-length segment)")
        self.points = pts
        self.speed = positive(speed, "speed")
        self.loop = loop
        self.cumulative = np.concatenate([[0.0], np.cumsum(seg)])
        self.length = float(self.cumulative[-1])
        self.max_speed = self.speed

    def _locate(self, t: float) -> tuple[int, float, bool]:
        s = self.speed * max(t, 0.0)
        moving = True
        if self.loop:
            s = s % self.length
        elif s >= self.length:
            s, moving = self.length, False
        k = int(min(np.searchsorted(self.cumulative, s, side="right") - 1, len(self.cumulative) - 2))
        return k, s - self.cumulative[k], moving

    def position(self, t: float) -> np.ndarray:
        k, along, _ = self._locate(t)
        d = self.points[k + 1] - self.points[k]
        return self.points[k] + d * (along / np.linalg.norm(d))

    def velocity(self, t: float) -> np.ndarray:
        k, _, moving = self._locate(t)
        if not moving:
            return np.zeros(2)
        d = self.points[k + 1] - self.points[k]
        return self.speed * d / np.linalg.norm(d)


class RandomWalkTarget(WaypointTarget):
    """A seeded random walk at constant ``speed`` inside ``bounds`` (xmin, xmax, ymin, ymax).

    Precomputed as a long waypoint path (legs of ``leg_time`` seconds, heading changes with
    standard deviation ``turn_std`` radians per leg, reflected at the bounds), so
    ``position(t)`` is a pure function of ``t`` and the same seed gives the same path whatever
    the query times. A leg that would leave the box is reflected and then clipped to it, so
    it may be shorter than ``speed * leg_time``: the speed stays constant and the knot times
    are ``cumulative / speed``. After the last of ``legs`` legs (``legs * leg_time`` seconds at
    most) the target stops.
    """

    def __init__(self, start: Sequence[float], speed: float, seed: int = 0, turn_std: float = 0.6,
                 bounds: Sequence[float] = (-5.0, 5.0, -5.0, 5.0), leg_time: float = 2.0, legs: int = 2000) -> None:
        lo_x, hi_x, lo_y, hi_y = (float(b) for b in as_finite_array(bounds, "bounds", size=4))
        if not (lo_x < hi_x and lo_y < hi_y):
            raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with min < max, got {tuple(bounds)}")
        p = _point(start, "start")
        if not (lo_x <= p[0] <= hi_x and lo_y <= p[1] <= hi_y):
            raise ValueError(f"start must lie inside bounds, got {p.tolist()}")
        speed = positive(speed, "speed")
        if not (math.isfinite(turn_std) and turn_std >= 0):
            raise ValueError(f"turn_std must be a finite number >= 0, got {turn_std!r}")
        rng = np.random.default_rng(at_least(seed, "seed", 0))
        step = speed * positive(leg_time, "leg_time")
        heading = float(rng.uniform(0, 2 * math.pi))
        pts = [p.copy()]
        for _ in range(at_least(legs, "legs", 1)):
            heading += float(rng.normal(scale=float(turn_std)))
            q = pts[-1] + step * np.array([math.cos(heading), math.sin(heading)])
            if not lo_x <= q[0] <= hi_x:
                heading = math.pi - heading
            if not lo_y <= q[1] <= hi_y:
                heading = -heading
            q = np.clip(pts[-1] + step * np.array([math.cos(heading), math.sin(heading)]), [lo_x, lo_y], [hi_x, hi_y])
            if np.linalg.norm(q - pts[-1]) > 1e-9:
                pts.append(q)
        super().__init__(np.array(pts), speed, loop=False)
        self.bounds = (lo_x, hi_x, lo_y, hi_y)


class ShiftedTarget(Target):
    """``base`` run ``shift`` seconds ahead: several targets on one path, evenly spaced."""

    def __init__(self, base: Target, shift: float) -> None:
        if not math.isfinite(shift):
            raise ValueError(f"shift must be finite, got {shift!r}")
        self.base, self.shift, self.max_speed = base, float(shift), base.max_speed

    def position(self, t: float) -> np.ndarray:
        return self.base.position(t + self.shift)

    def velocity(self, t: float) -> np.ndarray:
        return self.base.velocity(t + self.shift)


def make_targets(kind: str, count: int, **params: object) -> list[Target]:
    """``count`` targets of one kind: evenly spaced along a circle, figure eight or waypoint loop
    (time shifts of a lap / count), or independent random walks (seeds ``seed + k``)."""
    n = at_least(count, "num_targets", 1)
    if kind == "random_walk":
        seed = int(params.pop("seed", 0))  # type: ignore[call-overload]
        return [make_target(kind, seed=seed + k, **params) for k in range(n)]
    base = make_target(kind, **params)
    if isinstance(base, PeriodicTarget):
        lap = base.period
    elif isinstance(base, WaypointTarget):
        lap = base.length / base.speed
    else:
        lap = 0.0
    return [base if k == 0 else ShiftedTarget(base, k * lap / n) for k in range(n)]


def make_target(kind: str, **params: object) -> Target:
    """A target by name: ``circle``, ``figure_eight``, ``random_walk`` or ``waypoints``.

    ``params`` are the constructor's keyword arguments. An unknown kind or keyword is a
    ValueError naming it (the ROS parameter is ``target_kind``), not a TypeError deep in a
    constructor, so a launch file's typo is refused with a readable message.
    """
    builders: dict[str, type[Target]] = {"circle": CircleTarget, "figure_eight": FigureEightTarget,
                                         "random_walk": RandomWalkTarget, "waypoints": WaypointTarget}
    if kind not in builders:
        raise ValueError(f"target_kind must be one of {', '.join(TARGET_KINDS)}; got {kind!r}")
    accepted = [n for n in inspect.signature(builders[kind]).parameters if n != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"{unknown[0]} is not a parameter of a {kind} target (accepted: {', '.join(accepted)})")
    return builders[kind](**params)  # type: ignore[arg-type]


def observe(position: np.ndarray, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy observation (2,): the position plus isotropic gaussian noise of ``noise_std`` per axis.

    ``noise_std`` must be > 0: the observation enters the fusion as a quadratic objective with
    precision ``I / noise_std^2``. Reproducible runs pass a seeded ``rng``.
    """
    return _point(position, "position") + rng.normal(scale=positive(noise_std, "noise_std"), size=2)


def noise_levels(noise_std: Sequence[float] | float, num_robots: int) -> np.ndarray:
    """One noise level per robot (N,): robot ``i`` gets ``noise_std[i % len(noise_std)]``.

    Repeating the list cyclically lets one value serve all robots and keeps a per-robot list
    valid when the number of robots is changed on the command line.
    """
    n = at_least(num_robots, "num_robots", 1)
    levels = as_finite_array(noise_std, "noise_std").reshape(-1)
    if levels.size == 0 or np.any(levels <= 0):
        raise ValueError(f"noise_std must be one or more finite values > 0, got {levels.tolist()}")
    return levels[np.arange(n) % levels.size].copy()


def observe_all(position: np.ndarray, noise_stds: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """One noisy observation per robot (N, 2), robot ``i`` with its own ``noise_stds[i]``, drawn in robot order."""
    levels = as_finite_array(noise_stds, "noise_stds", ndim=1)
    return np.array([observe(position, float(s), rng) for s in levels]).reshape(-1, 2)


# ---------------------------------------------------------------------- kinematics
def saturate(v: np.ndarray, vmax: float) -> np.ndarray:
    """``v`` scaled down to norm ``vmax`` if longer (direction kept)."""
    if not (math.isfinite(vmax) and vmax >= 0):
        raise ValueError(f"max_speed must be a finite number >= 0, got {vmax!r}")
    v = np.asarray(v, dtype=float)
    n = float(np.linalg.norm(v))
    return v if n <= vmax else v * (vmax / n)


@dataclass
class SingleIntegrator:
    """``p' = u`` with ``|u| <= max_speed``: a holonomic robot."""

    position: np.ndarray
    max_speed: float = 1.0

    def __post_init__(self) -> None:
        self.position = _point(self.position, "position")
        if not (math.isfinite(self.max_speed) and self.max_speed >= 0):
            raise ValueError(f"max_speed must be a finite number >= 0, got {self.max_speed!r}")

    @property
    def pose(self) -> np.ndarray:
        return np.array([self.position[0], self.position[1], 0.0])

    def step(self, velocity: Sequence[float], dt: float) -> np.ndarray:
        """Advance by ``dt`` with the saturated velocity held constant; returns the new position."""
        u = as_finite_array(velocity, "velocity", size=2).reshape(2)
        self.position = self.position + saturate(u, self.max_speed) * positive(dt, "dt")
        return self.position


@dataclass
class Unicycle:
    """``x' = v cos th, y' = v sin th, th' = w`` with ``|v| <= max_linear``, ``|w| <= max_angular``."""

    x: float
    y: float
    theta: float = 0.0
    max_linear: float = 1.0
    max_angular: float = 2.0

    def __post_init__(self) -> None:
        for name in ("x", "y", "theta", "max_linear", "max_angular"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.max_linear < 0 or self.max_angular < 0:
            raise ValueError("max_linear and max_angular must be >= 0")

    @property
    def pose(self) -> np.ndarray:
        return np.array([self.x, self.y, self.theta])

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y])

    def step(self, v: float, omega: float, dt: float) -> np.ndarray:
        """Exact solution for constant saturated ``(v, omega)`` over ``dt`` (arc of radius v/omega)."""
        if not (math.isfinite(v) and math.isfinite(omega)):
            raise ValueError(f"v and omega must be finite, got {v!r}, {omega!r}")
        dt = positive(dt, "dt")
        v = float(np.clip(v, -self.max_linear, self.max_linear))
        w = float(np.clip(omega, -self.max_angular, self.max_angular))
        th = self.theta
        if abs(w * dt) < 1e-9:  # straight line (the omega -> 0 limit, to second order)
            self.x += v * dt * math.cos(th + 0.5 * w * dt)
            self.y += v * dt * math.sin(th + 0.5 * w * dt)
        else:
            self.x += v / w * (math.sin(th + w * dt) - math.sin(th))
            self.y += v / w * (math.cos(th) - math.cos(th + w * dt))
        self.theta = math.atan2(math.sin(th + w * dt), math.cos(th + w * dt))
        return self.pose


def unicycle_command(pose: Sequence[float], desired_velocity: Sequence[float],
                     heading_gain: float = 2.0) -> tuple[float, float]:
    """``(v, omega)`` that makes a unicycle follow a desired planar velocity.

    ``v`` is the desired velocity projected on the heading (never drive away from it) and
    ``omega = heading_gain * wrap(angle(desired) - theta)`` turns toward it.
    """
    th = float(as_finite_array(pose, "pose", size=3).reshape(3)[2])
    d = as_finite_array(desired_velocity, "desired_velocity", size=2).reshape(2)
    speed = float(np.linalg.norm(d))
    if speed == 0:
        return 0.0, 0.0
    err = math.atan2(d[1], d[0]) - th
    err = math.atan2(math.sin(err), math.cos(err))
    return max(0.0, speed * math.cos(err)), positive(heading_gain, "heading_gain") * err


# ---------------------------------------------------------------------- control
def formation_offsets(num_robots: int, radius: float) -> np.ndarray:
    """Robot slots evenly on a circle of ``radius`` around the formation centre (N x 2; zeros if radius 0)."""
    n = at_least(num_robots, "num_robots", 1)
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"formation_radius must be a finite number >= 0, got {radius!r}")
    a = 2 * math.pi * np.arange(n) / n
    return radius * np.column_stack([np.cos(a), np.sin(a)])


def initial_positions(num_robots: int, radius: float, seed: int) -> np.ndarray:
    """Seeded start positions: jittered slots on a circle of ``radius`` (N x 2), far from the target."""
    rng = np.random.default_rng(at_least(seed, "seed", 0))
    base = formation_offsets(num_robots, positive(radius, "start_radius"))
    return base * rng.uniform(0.8, 1.2, size=(num_robots, 1)) + np.array([radius, 0.0])


def tracking_command(position: Sequence[float], goal: Sequence[float], goal_velocity: Sequence[float],
                     gain: float, max_speed: float) -> np.ndarray:
    """``saturate(goal_velocity + gain (goal - position), max_speed)``: proportional tracking with feed-forward."""
    p = as_finite_array(position, "position", size=2).reshape(2)
    g = as_finite_array(goal, "goal", size=2).reshape(2)
    gv = as_finite_array(goal_velocity, "goal_velocity", size=2).reshape(2)
    if not (math.isfinite(gain) and gain >= 0):
        raise ValueError(f"gain must be a finite number >= 0, got {gain!r}")
    return saturate(gv + gain * (g - p), max_speed)


# ---------------------------------------------------------------------- bounds
def proportional_tracking_bound(goal_speed: float, gain: float, decision_error: float = 0.0,
                                period: float = 0.0) -> float:
    """Ultimate bound on ``|x - g|`` for ``x' = k (g_hat - x)`` with ``|g'| <= V`` and ``|g_hat - g| <= e``.

    Continuous time (``period = 0``): with ``d = x - g``, ``d' = -k d + k (g_hat - g) - g'``, so
    ``d/dt |d| <= -k |d| + k e + V`` and ``|d|`` ends below ``V / k + e``.

    Sampled control (a command computed every ``period = T`` and held, ``0 < k T <= 1``): at the
    sampling instants ``d+ = (1 - k T) d + k T (g_hat - g) - (g+ - g)`` gives the same ``V / k + e``;
    between them ``d`` moves at most ``(|u| + V) T`` with ``|u| <= V + k e`` in steady state, so
    ``(2 V + k e) T`` is added. (No feed-forward of ``g'``; the command must not saturate.)

    How tight: behind a circle of angular rate ``w`` the steady-state lag of the continuous law
    is ``V / sqrt(k^2 + w^2)`` (solve ``d' = -k d - g'`` for ``g = R exp(i w t)``), so ``V / k`` is
    approached when the target turns slowly compared with the gain (``w << k``).
    """
    k = positive(gain, "gain")
    if not (math.isfinite(goal_speed) and goal_speed >= 0):
        raise ValueError(f"goal_speed must be a finite number >= 0, got {goal_speed!r}")
    if not (math.isfinite(decision_error) and decision_error >= 0):
        raise ValueError(f"decision_error must be a finite number >= 0, got {decision_error!r}")
    if not (math.isfinite(period) and 0 <= period * k <= 1):
        raise ValueError(f"period must be >= 0 with gain * period <= 1, got period={period!r}")
    return goal_speed / k + decision_error + (2 * goal_speed + k * decision_error) * period


def centroid_tracking_bound(step: float, curvatures: Sequence[float], num_robots: int, target_speed: float,
                            dt: float) -> float:
    """Asymptotic bound on the centroid error of the tracking dual ascent (docs/algorithms.md, "Centroid tracking").

    Problem: robot ``i`` has the cost ``c_i(x) = a_i/2 |x - s_i|^2`` (``a_i`` = ``curvatures[i]``)
    and together they must satisfy ``sum_i x_i = N r(t)``: their centroid is the target ``r``.
    With the convention of :mod:`distopt_ros.core.algorithms.price` (``L = sum c_i(x_i) -
    p^T (sum x_i - N r)``), robot ``i`` answers the price ``p`` in R^2 with its best response

        ``x_i(p) = argmin_x c_i(x) - p^T x``  =>  ``a_i (x_i - s_i) = p``  =>  ``x_i(p) = s_i + p / a_i``,

    and the auctioneer ascends ``p_{k+1} = p_k + step (N r(t_k) - sum_i x_i(p_k))``.

    Derivation. With ``S = sum_i 1/a_i`` the supply is ``sum_i x_i(p) = sum_i s_i + S p``, so the
    optimal price at round ``k`` is ``p*_k = (N r(t_k) - sum_i s_i) / S`` and the update reads
    ``p_{k+1} = p_k + step S (p*_k - p_k)``. The error ``e_k = p_k - p*_k`` obeys

        ``e_{k+1} = (1 - step S) e_k + (p*_k - p*_{k+1})``.

    The factor is a scalar times the identity, so the Euclidean norm in R^2 contracts by
    ``q = |1 - step S|`` (no per-axis splitting, no sqrt 2), and the drift is
    ``|p*_{k+1} - p*_k| = N |r(t_{k+1}) - r(t_k)| / S <= N V dt / S`` for a target slower than
    ``V``. This is the ISS bound of the tracking dual ascent with ``m_d = L_d = S``:
    ``|e_k| <= q^k |e_0| + (N V dt / S) / (1 - q)``, computed here by
    :func:`~distopt_ros.core.algorithms.price.iss_bound`. The centroid of the answers is
    ``(sum_i s_i + S p_k) / N``, so its error against ``r(t_k)`` is
    ``(sum_i s_i + S p_k - N r(t_k)) / N = S (p_k - p*_k) / N``, and ultimately

        ``|centroid_k - r(t_k)| <= (S / N) (N V dt / S) / (1 - q) = V dt / (1 - q)``.

    Returns that bound (metres, the ``k -> infinity`` limit). ``step`` must make ``q < 1``, i.e.
    ``0 < step < 2 / S``, else a ValueError naming ``step``.
    """
    a = as_finite_array(curvatures, "curvatures").reshape(-1)
    if a.size == 0 or np.any(a <= 0):
        raise ValueError(f"curvatures must be one or more finite values > 0, got {a.tolist()}")
    n = at_least(num_robots, "num_robots", 1)
    if n != a.size:
        raise ValueError(f"num_robots must equal the number of curvatures ({a.size}), got {num_robots!r}")
    if not (math.isfinite(target_speed) and target_speed >= 0):
        raise ValueError(f"target_speed must be a finite number >= 0, got {target_speed!r}")
    s = float(np.sum(1.0 / a))
    drift = n * float(target_speed) * positive(dt, "dt") / s
    price_bound = iss_bound(positive(step, "step"), s, s, 0.0, drift, 1)
    return s * price_bound / n


# ---------------------------------------------------------------------- logs
@dataclass
class TrackingLog:
    """Time series of a tracking run (the truth, sampled): what plots and error reports read.

    One :meth:`append` per sample with the target, every robot's position and estimate and
    the robots' centroid; :meth:`as_arrays` stacks them robot-major for plotting, and
    :meth:`tracking_errors` / :meth:`steady_state_max` give the errors the bounds are checked
    against.
    """

    t: list[float] = field(default_factory=list)
    target: list[np.ndarray] = field(default_factory=list)
    robots: list[np.ndarray] = field(default_factory=list)
    estimates: list[np.ndarray] = field(default_factory=list)
    centroid: list[np.ndarray] = field(default_factory=list)

    def append(self, t: float, target: np.ndarray, robots: np.ndarray, estimates: np.ndarray,
               centroid: np.ndarray) -> None:
        """Record one sample: ``target`` (2,), ``robots`` and ``estimates`` (N, 2), ``centroid`` (2,).

        Shapes are checked here (naming the argument), so a bad sample fails where it is
        recorded rather than when the log is stacked. Values are not: a robot that has no
        estimate yet may report NaN.
        """
        n = None if not self.robots else self.robots[0].shape[0]
        for name, value in (("robots", robots), ("estimates", estimates)):
            shape = np.shape(value)
            if len(shape) != 2 or shape[1] != 2 or (n is not None and shape[0] != n):
                want = f"({n}, 2)" if n is not None else "(N, 2)"
                raise ValueError(f"{name} must have shape {want}, got {shape}")
            n = shape[0]
        for name, value in (("target", target), ("centroid", centroid)):
            if np.size(value) != 2:
                raise ValueError(f"{name} must have 2 entries, got shape {np.shape(value)}")
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t!r}")
        self.t.append(float(t))
        self.target.append(np.asarray(target, dtype=float).copy())
        self.robots.append(np.asarray(robots, dtype=float).copy())
        self.estimates.append(np.asarray(estimates, dtype=float).copy())
        self.centroid.append(np.asarray(centroid, dtype=float).copy())

    def as_arrays(self) -> dict[str, np.ndarray]:
        """``t`` (T,), ``target`` (T, 2), ``robots`` and ``estimates`` (N, T, 2), ``centroid`` (T, 2)."""
        if not self.t:
            raise ValueError("the log is empty")
        return {"t": np.array(self.t), "target": np.array(self.target),
                "robots": np.array(self.robots).transpose(1, 0, 2),
                "estimates": np.array(self.estimates).transpose(1, 0, 2), "centroid": np.array(self.centroid)}

    def tracking_errors(self, formation_radius: float = 0.0) -> dict[str, np.ndarray]:
        """Per-sample errors, each (T,), for the estimation task (robots rendezvous on the target).

        * ``estimate``: ``max_i |estimate_i - target|``, the worst robot's belief;
        * ``formation``: ``max_i |robot_i - (target + offset_i)|`` with the slots of
          :func:`formation_offsets` (``formation_radius``; robot ``i`` in slot ``i``, as the
          tracking robots do), which :func:`proportional_tracking_bound` bounds;
        * ``centroid``: ``|centroid - target|``.
        """
        a = self.as_arrays()
        offsets = formation_offsets(a["robots"].shape[0], formation_radius)
        target = a["target"][None, :, :]
        return {
            "t": a["t"],
            "estimate": np.linalg.norm(a["estimates"] - target, axis=2).max(axis=0),
            "formation": np.linalg.norm(a["robots"] - (target + offsets[:, None, :]), axis=2).max(axis=0),
            "centroid": np.linalg.norm(a["centroid"] - a["target"], axis=1),
        }

    def steady_state_max(self, after: float, formation_radius: float = 0.0) -> dict[str, float]:
        """The largest of each :meth:`tracking_errors` over the samples with ``t >= after`` (past the transient)."""
        if not math.isfinite(after):
            raise ValueError(f"after must be finite, got {after!r}")
        errors = self.tracking_errors(formation_radius)
        keep = errors.pop("t") >= after
        if not np.any(keep):
            raise ValueError(f"after must leave at least one sample (last t = {self.t[-1]:g}), got {after!r}")
        return {name: float(np.max(values[keep])) for name, values in errors.items()}
