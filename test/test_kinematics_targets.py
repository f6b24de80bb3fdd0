"""Targets, kinematics, control laws and tracking bounds (distopt_ros.core.tracking), against analytic answers."""

import math

import numpy as np
import pytest

from distopt_ros.core.tracking import (
    CircleTarget,
    SingleIntegrator,
    Unicycle,
    centroid_tracking_bound,
    formation_offsets,
    make_target,
    make_targets,
    proportional_tracking_bound,
    tracking_command,
    unicycle_command,
)

TARGETS = [
    ("circle", {"center": (1.0, -2.0), "radius": 3.0, "period": 20.0}),
    ("figure_eight", {"center": (0.0, 0.0), "size": 2.0, "period": 15.0}),
    ("random_walk", {"start": (0.0, 0.0), "speed": 0.5, "seed": 4, "bounds": (-3, 3, -3, 3)}),
    ("waypoints", {"points": [(0, 0), (3, 0), (3, 4)], "speed": 1.0}),
]


@pytest.mark.parametrize("kind,params", TARGETS, ids=[k for k, _ in TARGETS])
def test_target_velocity_is_the_derivative_and_bounded_by_max_speed(kind, params):
    target = make_target(kind, **params)
    h = 1e-5
    for t in np.linspace(0.1, 40.0, 400):
        fd = (target.position(t + h) - target.position(t - h)) / (2 * h)
        v = target.velocity(t)
        if np.linalg.norm(fd - v) > 1e-4:  # a waypoint corner: the derivative jumps there
            assert kind in ("random_walk", "waypoints")
            continue
        assert np.linalg.norm(v) <= target.max_speed + 1e-9


def test_circle_returns_after_a_period_and_moves_at_its_speed():
    c = CircleTarget((1.0, 2.0), radius=3.0, period=10.0)
    np.testing.assert_allclose(c.position(0.0), [4.0, 2.0])
    np.testing.assert_allclose(c.position(10.0), c.position(0.0), atol=1e-12)
    np.testing.assert_allclose(c.position(2.5), [1.0, 5.0], atol=1e-12)
    assert c.max_speed == pytest.approx(2 * math.pi * 3.0 / 10.0)
    assert np.linalg.norm(c.velocity(1.3)) == pytest.approx(c.max_speed)


def test_waypoints_pass_through_the_points_at_constant_speed():
    w = make_target("waypoints", points=[(0, 0), (3, 0), (3, 4)], speed=1.0)
    np.testing.assert_allclose(w.position(3.0), [3.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(w.position(7.0), [3.0, 4.0], atol=1e-12)
    np.testing.assert_allclose(w.position(12.0), [0.0, 0.0], atol=1e-12)  # closed loop: 3 + 4 + 5
    np.testing.assert_allclose(w.position(1.5), [1.5, 0.0], atol=1e-12)
    stop = make_target("waypoints", points=[(0, 0), (2, 0)], speed=1.0, loop=False)
    np.testing.assert_allclose(stop.position(5.0), [2.0, 0.0])
    np.testing.assert_allclose(stop.velocity(5.0), [0.0, 0.0])


def test_random_walk_is_seeded_and_stays_in_bounds():
    a = make_target("random_walk", start=(0, 0), speed=0.5, seed=4, bounds=(-3, 3, -2, 2))
    b = make_target("random_walk", start=(0, 0), speed=0.5, seed=4, bounds=(-3, 3, -2, 2))
    c = make_target("random_walk", start=(0, 0), speed=0.5, seed=5, bounds=(-3, 3, -2, 2))
    ts = np.linspace(0, 300, 3001)
    pa = np.array([a.position(t) for t in ts])
    assert np.array_equal(pa, np.array([b.position(t) for t in ts]))
    assert not np.array_equal(pa, np.array([c.position(t) for t in ts]))
    assert np.all(pa[:, 0] >= -3 - 1e-9) and np.all(pa[:, 0] <= 3 + 1e-9)
    assert np.all(pa[:, 1] >= -2 - 1e-9) and np.all(pa[:, 1] <= 2 + 1e-9)
    assert np.ptp(pa[:, 0]) > 1.0  # it really walks


def test_single_integrator_is_exact_and_saturates():
    body = SingleIntegrator((1.0, 1.0), max_speed=2.0)
    body.step((1.0, 0.5), 0.5)
    np.testing.assert_allclose(body.position, [1.5, 1.25])
    body.step((30.0, 40.0), 1.0)  # |u| = 50 -> 2 along (0.6, 0.8)
    np.testing.assert_allclose(body.position, [1.5 + 1.2, 1.25 + 1.6])


def test_unicycle_matches_the_analytic_solution():
    straight = Unicycle(0.0, 0.0, math.pi / 4, max_linear=5.0)
    straight.step(2.0, 0.0, 1.5)
    np.testing.assert_allclose(straight.position, 3.0 * np.array([1, 1]) / math.sqrt(2), atol=1e-12)
    v, w = 1.0, 0.5  # circle of radius 2, centre (0, 2) from the origin heading +x
    arc = Unicycle(0.0, 0.0, 0.0, max_linear=2.0, max_angular=1.0)
    arc.step(v, w, math.pi)  # a quarter turn: theta = pi/2, at (2, 2)
    np.testing.assert_allclose(arc.pose, [2.0, 2.0, math.pi / 2], atol=1e-12)
    arc.step(v, w, 3 * math.pi)  # the rest of the lap: back at the start
    np.testing.assert_allclose(arc.position, [0.0, 0.0], atol=1e-12)
    # One exact step equals many small Euler steps (to their accuracy).
    exact = Unicycle(1.0, -1.0, 0.3, max_linear=2.0, max_angular=2.0)
    exact.step(1.2, -0.7, 2.0)
    x, y, th = 1.0, -1.0, 0.3
    n = 200_000
    for _ in range(n):
        x, y, th = x + 1.2 * math.cos(th) * 2.0 / n, y + 1.2 * math.sin(th) * 2.0 / n, th - 0.7 * 2.0 / n
    np.testing.assert_allclose(exact.position, [x, y], atol=1e-4)
    sat = Unicycle(0.0, 0.0, 0.0, max_linear=1.0, max_angular=0.1)
    sat.step(10.0, 10.0, 1.0)
    assert sat.theta == pytest.approx(0.1)


def test_unicycle_command_turns_toward_and_never_backs_away():
    v, w = unicycle_command((0.0, 0.0, 0.0), (0.0, 1.0), heading_gain=2.0)
    assert v == pytest.approx(0.0, abs=1e-12) and w == pytest.approx(math.pi)
    v, w = unicycle_command((0.0, 0.0, 0.0), (1.0, 0.0))
    assert v == pytest.approx(1.0) and w == pytest.approx(0.0)
    v, _ = unicycle_command((0.0, 0.0, 0.0), (-1.0, 0.0))
    assert v == 0.0


def test_proportional_lag_behind_a_circle_is_below_v_over_k():
    """Steady state of x' = k (r - x) behind a circle: |e| = V / sqrt(k^2 + w^2) <= V / k."""
    target = CircleTarget((0.0, 0.0), radius=3.0, period=20.0)
    k, dt = 1.0, 0.01
    body = SingleIntegrator(target.position(0.0), max_speed=10.0)
    errs = []
    for step in range(6000):
        t = step * dt
        body.step(tracking_command(body.position, target.position(t), np.zeros(2), k, 10.0), dt)
        errs.append(np.linalg.norm(body.position - target.position(t + dt)))
    steady = max(errs[3000:])
    bound = proportional_tracking_bound(target.max_speed, k)
    expected = target.max_speed / math.hypot(k, target.omega)
    assert steady == pytest.approx(expected, rel=0.02)
    assert steady <= bound


def test_centroid_dual_ascent_stays_within_the_iss_bound():
    """Tracking dual ascent for the centroid: p += step (N r_k - sum x_i(p)), x_i(p) = s_i + p / a_i."""
    rng = np.random.default_rng(0)
    n, step, dt = 6, 0.1, 0.05
    a = rng.uniform(0.5, 2.0, size=n)
    s = formation_offsets(n, 2.0)
    target = CircleTarget((0.0, 0.0), 3.0, 20.0)
    p = np.zeros(2)
    worst = 0.0
    for k in range(2000):
        r = target.position(k * dt)
        x = s + p[None, :] / a[:, None]
        if k > 500:
            worst = max(worst, float(np.linalg.norm(x.mean(axis=0) - r)))
        p = p + step * (n * r - x.sum(axis=0))
    bound = centroid_tracking_bound(step, a, n, target.max_speed, dt)
    assert 0.2 * bound < worst <= bound
    with pytest.raises(ValueError, match="step"):
        centroid_tracking_bound(1.0, a, n, target.max_speed, dt)


@pytest.mark.parametrize("call,needle", [
    (lambda: make_target("teleport"), "target_kind"),
    (lambda: CircleTarget(radius=-1.0), "radius"),
    (lambda: CircleTarget(period=0.0), "period"),
    (lambda: CircleTarget(center=(np.nan, 0.0)), "center"),
    (lambda: make_target("waypoints", points=[(0, 0)], speed=1.0), "points"),
    (lambda: make_target("waypoints", points=[(0, 0), (1, 1)], speed=-1.0), "speed"),
    (lambda: SingleIntegrator((0.0, 0.0), max_speed=-1.0), "max_speed"),
    (lambda: SingleIntegrator((0.0, 0.0)).step((np.inf, 0.0), 0.1), "velocity"),
    (lambda: formation_offsets(3, -1.0), "formation_radius"),
    (lambda: proportional_tracking_bound(1.0, 0.0), "gain"),
])
def test_bad_input_is_refused_by_name(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_several_targets_are_evenly_spaced_on_one_path():
    three = make_targets("circle", 3, center=(0.0, 0.0), radius=2.0, period=30.0)
    angles = sorted(math.atan2(*t.position(4.0)[::-1]) % (2 * math.pi) for t in three)
    gaps = np.diff([*angles, angles[0] + 2 * math.pi])
    np.testing.assert_allclose(gaps, 2 * math.pi / 3, atol=1e-9)
    walks = make_targets("random_walk", 2, start=(0.0, 0.0), speed=0.5, seed=1, bounds=(-3, 3, -3, 3))
    assert not np.allclose(walks[0].position(20.0), walks[1].position(20.0))
    with pytest.raises(ValueError, match="num_targets"):
        make_targets("circle", 0, radius=1.0)
