"""Price coordination and the constraint-coupled primal-dual algorithm (see docs/algorithms.md)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distopt_ros.core.algorithms.coupled import CoupledProblem, coupled_swarm, microgrid_problem
from distopt_ros.core.algorithms.price import AuctioneerAgent, BidderAgent, iss_bound, price_swarm
from distopt_ros.core.graphs import make_graph
from distopt_ros.core.messages import COORDINATOR
from distopt_ros.core.network import NetworkModel
from distopt_ros.core.problems import QuadraticObjective
from distopt_ros.core.resources import LinearCost, QuadraticCost, ResourceProblem, SmoothScalarCost
from distopt_ros.sim.simulator import simulate

T2 = ResourceProblem([QuadraticCost([1.0]), QuadraticCost([2.0]), QuadraticCost([4.0])], 7.0)
LINEAR_BOX = ResourceProblem([LinearCost([b], 0.0, 3.0) for b in (1.0, 2.0, 3.0)], 5.0)


def allocations(agents, n=3):
    return np.array([float(agents[i].y[0]) for i in range(n)])


# ----------------------------------------------------------------------------- dual decomposition
def test_dual_ascent_golden_on_three_quadratic_costs():
    assert T2.dual_lipschitz() == pytest.approx(1.75)
    agents = price_swarm(T2, "dual", 1 / 1.75, 1, record=True)
    simulate(agents)
    np.testing.assert_allclose(agents[COORDINATOR].trajectory[1], [4.0], atol=1e-12)  # one step
    agents = price_swarm(T2, "dual", 1 / 1.75, 2)
    simulate(agents)
    np.testing.assert_allclose(allocations(agents), [4, 2, 1], atol=1e-12)
    _ys, price = T2.solve()
    np.testing.assert_allclose(price, [4.0], atol=1e-6)  # lambda* = -4 in the other sign convention


@pytest.mark.parametrize("alpha,factor", [(0.2, 0.65), (1.1, 0.925)])
def test_dual_ascent_contraction_factor(alpha, factor):
    agents = price_swarm(T2, "dual", alpha, 30, record=True)
    simulate(agents)
    err = np.abs(np.array(agents[COORDINATOR].trajectory)[:, 0] - 4.0)
    np.testing.assert_allclose(err[1:20] / err[:19], factor, atol=1e-9)


def test_dual_ascent_diverges_beyond_two_over_lipschitz():
    agents = price_swarm(T2, "dual", 1.2, 200)
    simulate(agents)
    assert abs(float(agents[COORDINATOR].p[0]) - 4.0) > 100


def test_consensus_through_a_price():
    """min sum c/2 x_i^2 s.t. mean(x) = xbar: agents respond to lambda/K, lambda* = -c K xbar."""
    c, k, xbar = 2.0, 4, 1.5
    problem = ResourceProblem([QuadraticCost([c]) for _ in range(k)], xbar, A=[np.array([[1.0 / k]])] * k)
    agents = price_swarm(problem, "dual", c * k, 3)  # alpha = cK: one step
    simulate(agents)
    np.testing.assert_allclose(allocations(agents, k), [xbar] * k, atol=1e-12)
    assert float(agents[COORDINATOR].p[0]) == pytest.approx(c * k * xbar)  # p = -lambda


def test_general_coupling_boxes_and_smooth_costs_reach_the_centralized_optimum():
    rng = np.random.default_rng(3)
    costs = [QuadraticCost(rng.uniform(1, 3, size=2), rng.normal(size=2), lower=-1.0, upper=2.0) for _ in range(3)]
    costs.append(SmoothScalarCost(lambda y: np.exp(y) + y * y, lambda y: np.exp(y) + 2 * y, mu=2.0))
    mats = [rng.normal(size=(2, 2)) for _ in range(3)] + [rng.normal(size=(2, 1))]
    problem = ResourceProblem(costs, rng.normal(size=2), A=mats)
    ys, price = problem.solve()
    step = 1.0 / problem.dual_lipschitz()
    agents = price_swarm(problem, "dual", step, 20_000, tolerance=1e-12)
    simulate(agents)
    for i in range(4):
        np.testing.assert_allclose(agents[i].y, ys[i], atol=1e-6)  # SLSQP reference accuracy
    np.testing.assert_allclose(agents[COORDINATOR].p, price, atol=1e-5)


# ----------------------------------------------------------------------------- tracking dual ascent, GDA, extragradient
def test_tracking_error_within_iss_bound():
    drift = 2 * np.sin(0.05) / 1.75  # sup |p*_{k+1} - p*_k| for b_k = 7 + sin(0.1 k)
    for alpha, observed_ref in ((0.2, 0.1590), (0.4, 0.0814), (1 / 1.75, 0.0571)):
        agents = price_swarm(T2, "dual", alpha, 800, target=lambda k: np.array([7 + np.sin(0.1 * k)]), record=True)
        simulate(agents)
        p = np.array(agents[COORDINATOR].trajectory)[:, 0]
        pstar = (7 + np.sin(0.1 * np.arange(len(p)))) / 1.75
        observed = float(np.max(np.abs(p - pstar)[300:]))
        assert observed == pytest.approx(observed_ref, abs=2e-3)
        assert observed <= iss_bound(alpha, 1.75, 1.75, 0.0, drift, 800) + 1e-9


def test_extragradient_converges_where_gda_cycles_on_linear_costs():
    eg = price_swarm(LINEAR_BOX, "extragradient", 0.1, 20_000)
    simulate(eg)
    np.testing.assert_allclose(allocations(eg), [3, 2, 0], atol=1e-9)
    assert float(eg[COORDINATOR].p[0]) == pytest.approx(2.0, abs=1e-9)
    gda = price_swarm(LINEAR_BOX, "gda", 0.1, 20_000, record=True)
    simulate(gda)
    assert abs(float(gda[1].y[0]) - 2.0) > 0.3  # still cycling after 2e4 iterations
    late = np.array(gda[COORDINATOR].trajectory)[-2000:, 0]
    assert late.max() - late.min() > 0.5
    assert abs(late.mean() - 2.0) < abs(float(gda[COORDINATOR].p[0]) - 2.0) + 0.5  # only the average approaches


def test_extragradient_step_bound_on_quadratic_costs():
    # L_F of T2 is 4.2825, so eta < 0.2335: EG converges at 0.2 and diverges at 0.3.
    ok = price_swarm(T2, "extragradient", 0.2, 3000)
    simulate(ok)
    np.testing.assert_allclose(allocations(ok), [4, 2, 1], atol=1e-9)
    bad = price_swarm(T2, "extragradient", 0.3, 3000)
    with np.errstate(over="ignore", invalid="ignore"):
        simulate(bad)
    assert not np.all(np.abs(allocations(bad) - [4, 2, 1]) < 1.0)


def test_price_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="mode"):
        price_swarm(T2, "haggle")
    with pytest.raises(ValueError, match="step"):
        price_swarm(T2, "dual", 0.0)
    with pytest.raises(ValueError, match=r"A\[1\]"):
        ResourceProblem([QuadraticCost([1.0]), QuadraticCost([1.0, 2.0])], [1.0], A=[np.eye(1), np.eye(1)])
    with pytest.raises(ValueError, match="a must be > 0"):
        QuadraticCost([0.0])
    with pytest.raises(ValueError, match="coupling"):
        BidderAgent(0, QuadraticCost([1.0, 1.0]), np.eye(3))
    with pytest.raises(ValueError, match="target"):
        AuctioneerAgent(3, 1, [float("nan")])


# ----------------------------------------------------------------------------- constraint-coupled primal-dual
def t2_coupled():
    objs = [QuadraticObjective(np.array([[a]]), np.array([0.0])) for a in (1.0, 2.0, 4.0)]
    return CoupledProblem(objs, [np.eye(1)] * 3, [np.array([7 / 3])] * 3)


def test_coupled_sync_golden_and_limit():
    agents = coupled_swarm(t2_coupled(), make_graph("path", 3), rho=1.0, alpha=0.5, gamma=0.1, max_iterations=1000)
    res = simulate(agents, metrics={"lam": lambda a: float(a[1].lam[0])})
    history = res.extra_history["lam"]
    np.testing.assert_allclose(history[1:4], [-0.077778, -0.228148, -0.411185], atol=1e-6)
    np.testing.assert_allclose([float(agents[i].x[0]) for i in range(3)], [4, 2, 1], atol=1e-12)
    np.testing.assert_allclose([float(agents[i].lam[0]) for i in range(3)], [-4, -4, -4], atol=1e-12)


def test_coupled_sync_first_iterates():
    agents = coupled_swarm(t2_coupled(), make_graph("path", 3), gamma=0.1, max_iterations=3, record=True)
    simulate(agents)
    x = np.array([[float(v[0]) for v in agents[i].trajectory] for i in range(3)]).T
    np.testing.assert_allclose(x[1], [0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(x[2], [0.005833, 0.002593, 0.005833], atol=1e-6)
    np.testing.assert_allclose(x[3], [0.019866, 0.013568, 0.018116], atol=1e-6)


def test_coupled_random_vector_problem_matches_kkt():
    rng = np.random.default_rng(5)
    objs, mats, offs = [], [], []
    for _ in range(5):
        m = rng.normal(size=(3, 3))
        objs.append(QuadraticObjective(m @ m.T + np.eye(3), rng.normal(size=3)))
        mats.append(rng.normal(size=(2, 3)))
        offs.append(rng.normal(size=2))
    problem = CoupledProblem(objs, mats, offs)
    xs, lam = problem.solve()
    agents = coupled_swarm(problem, make_graph("ring", 5), gamma=0.02, max_iterations=60_000, tolerance=1e-13)
    simulate(agents)
    for i in range(5):
        np.testing.assert_allclose(agents[i].x, xs[i], atol=1e-9)
        np.testing.assert_allclose(agents[i].lam, lam, atol=1e-9)


def test_coupled_async_converges_under_loss_and_needs_more_iterations():
    problem = microgrid_problem(seed=2)
    xs, _lam = problem.solve()
    g = make_graph("ring", 6)
    sync = simulate(coupled_swarm(problem, g, gamma=0.1, max_iterations=10**6),
                    optimum=None, max_rounds=6000, metrics={"err": lambda a: max(
                        float(np.linalg.norm(a[i].x - xs[i])) for i in range(6))})
    net = NetworkModel(loss="bernoulli", loss_probability=0.3, activation_probability=0.5, seed=4)
    robust = simulate(coupled_swarm(problem, g, gamma=0.1, max_iterations=10**6), network=net, max_rounds=6000,
                      metrics={"err": lambda a: max(float(np.linalg.norm(a[i].x - xs[i])) for i in range(6))})
    assert sync.extra_history["err"][-1] < 1e-10 and robust.extra_history["err"][-1] < 1e-8
    first = lambda h: int(np.argmax(h <= 1e-6))  # noqa: E731
    assert first(robust.extra_history["err"]) > first(sync.extra_history["err"])
    assert problem.violation([a.x for a in
                              coupled_swarm(problem, g, gamma=0.1, max_iterations=1).values()]) > 1.0


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6))
def test_coupled_random_instances(seed, n):
    rng = np.random.default_rng(seed)
    objs = [QuadraticObjective(np.diag(rng.uniform(1, 3, size=2)), rng.normal(size=2)) for _ in range(n)]
    problem = CoupledProblem(objs, [rng.normal(size=(1, 2)) + np.array([[1.0, 0.0]]) for _ in range(n)],
                             [rng.normal(size=1) for _ in range(n)])
    xs, _ = problem.solve()
    g = make_graph("erdos_renyi", n, seed=seed)
    agents = coupled_swarm(problem, g, gamma=0.05, max_iterations=40_000, tolerance=1e-13)
    simulate(agents)
    assert max(float(np.linalg.norm(agents[i].x - xs[i])) for i in range(n)) < 1e-7


def test_coupled_bad_input_names_the_argument():
    objs = [QuadraticObjective(np.eye(2), np.zeros(2))] * 2
    with pytest.raises(ValueError, match=r"A\[1\]"):
        CoupledProblem(objs, [np.ones((1, 2)), np.ones((1, 3))], [np.zeros(1)] * 2)
    with pytest.raises(ValueError, match="full row rank"):
        CoupledProblem(objs, [np.zeros((1, 2))] * 2, [np.zeros(1)] * 2)
    with pytest.raises(ValueError, match="gamma"):
        coupled_swarm(t2_coupled(), make_graph("path", 3), gamma=-1.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 6), m=st.integers(1, 2))
def test_dual_ascent_random_quadratic_allocations(seed, n, m):
    rng = np.random.default_rng(seed)
    costs = [QuadraticCost(rng.uniform(0.5, 3, size=2), rng.normal(size=2)) for _ in range(n)]
    mats = [rng.normal(size=(m, 2)) for _ in range(n)]
    problem = ResourceProblem(costs, rng.normal(size=m), A=mats)
    # Reference: KKT of the equality-constrained quadratic program, solved exactly.
    q = np.diag(np.concatenate([c.a for c in costs]))
    beta = np.concatenate([c.beta for c in costs])
    a_full = np.hstack(mats)
    kkt = np.block([[q, -a_full.T], [a_full, np.zeros((m, m))]])
    sol = np.linalg.solve(kkt, np.concatenate([-beta, problem.b]))
    agents = price_swarm(problem, "dual", 1.0 / problem.dual_lipschitz(), 200_000, tolerance=1e-13)
    simulate(agents)
    np.testing.assert_allclose(np.concatenate([agents[i].y for i in range(n)]), sol[:-m], atol=1e-8)
    np.testing.assert_allclose(agents[COORDINATOR].p, sol[-m:], atol=1e-8)


@pytest.mark.parametrize("algorithm,extra", [("price", {}), ("price", {"price_mode": "extragradient", "step": 0.05}),
                                             ("coupled", {"gamma": 0.1})])
def test_centroid_problem_reaches_the_closed_form(algorithm, extra):
    """Stations on a circle, stiffness a_i: x_i* = s_i + p*/a_i with p* = (N r - sum s_i) / sum(1/a_i)."""
    from distopt_ros.core.scenario import SwarmConfig, centroid_problem, make_swarm, stations
    from distopt_ros.sim.simulator import simulate

    target = np.array([0.7, -0.4])
    cfg = SwarmConfig(algorithm=algorithm, problem="centroid", num_robots=5, seed=2, max_iterations=20_000,
                      tolerance=1e-11, **extra)
    agents = make_swarm(cfg)
    prob = centroid_problem(5, cfg.station_radius, 2, coupled=algorithm == "coupled", target=target)
    if algorithm == "coupled":
        for i in range(5):
            agents[i].set_offset(target)
        a = np.array([f.precision[0, 0] for f in prob.objectives])
    else:
        agents[-2].set_target(5 * target)
        a = np.array([c.a[0] for c in prob.costs])
    simulate(agents)
    s = stations(5, cfg.station_radius)
    p_star = (5 * target - s.sum(axis=0)) / np.sum(1 / a)
    for i in range(5):
        np.testing.assert_allclose(agents[i].estimate(), s[i] + p_star / a[i], atol=1e-6)


def test_centroid_setters_refuse_bad_input_by_name():
    from distopt_ros.core.scenario import SwarmConfig, make_swarm

    cfg = SwarmConfig(algorithm="coupled", problem="centroid", num_robots=4, seed=1, gamma=0.1,
                      max_iterations=10**6, tolerance=0.0)
    agents = make_swarm(cfg)
    with pytest.raises(ValueError, match="offset"):
        agents[0].set_offset([np.nan, 0.0])
    with pytest.raises(ValueError, match="offset"):
        agents[0].set_offset([1.0, 2.0, 3.0])
    price = make_swarm(cfg.with_overrides(algorithm="price"))
    with pytest.raises(ValueError, match="target"):
        price[-2].set_target([1.0])


@pytest.mark.parametrize("mode", ["dual", "gda", "extragradient"])
def test_sparse_price_messages_carry_only_the_rows_a_robot_touches(mode):
    """Dual decomposition over a ring's edges: each bid and each price part carries the robot's d_i n entries
    (never the |E| n of the whole vector), ``aux`` travels only in extragradient mode, and the iterates are those
    of the dense protocol (every robot told it touches every row) to the last bit."""
    from distopt_ros.core.algorithms.price import problem_supports
    from distopt_ros.core.resources import edge_consensus_problem

    rng = np.random.default_rng(5)
    n_agents, dim = 6, 3
    graph = make_graph("ring", n_agents)
    problem = edge_consensus_problem(10 ** rng.uniform(-0.35, 1.2, size=(n_agents, dim)),
                                     rng.normal(size=(n_agents, dim)), list(graph.edges))
    m = problem.b.size
    assert m == len(graph.edges) * dim
    sparse = price_swarm(problem, mode, step=0.02, max_iterations=60, record=True)
    assert [s.size for s in problem_supports(problem)] == [graph.degree(i) * dim for i in range(n_agents)]
    sizes = []
    original = sparse[COORDINATOR]._send

    def spy(out):
        sizes.extend((msg.receiver, msg.consensus.size, msg.aux.size) for msg in out)
        return original(out)

    sparse[COORDINATOR]._send = spy
    res = simulate(sparse)
    eg = mode == "extragradient"
    assert sizes and all(r >= 0 and c == 2 * dim and a == (2 * dim if eg else 0) for r, c, a in sizes)
    assert all(msg.primal.size == 2 * dim and msg.aux.size == (2 * dim if eg else 0)
               for i in range(n_agents) for msg in sparse[i]._outgoing())
    dense = price_swarm(problem, mode, step=0.02, max_iterations=60, record=True)
    dense[COORDINATOR] = AuctioneerAgent(n_agents, m, problem.b, mode, 0.02, 60, record=True)
    for i in range(n_agents):  # told every row, as before the sparse protocol
        dense[i].support = np.arange(m)
        dense[i]._rows = problem.matrices[i]
        dense[i].expected = {COORDINATOR: {"consensus": m, "aux": m if eg else 0}}
        dense[i]._block_sizes.clear()
    ref = simulate(dense)
    for aid, traj in res.trajectories.items():
        np.testing.assert_array_equal(traj, ref.trajectories[aid])
    assert res.bits_sent < ref.bits_sent


def test_a_bid_on_the_wrong_rows_is_refused():
    """The auctioneer knows each robot's support from the scenario: a bid of another size is wrong_dimension."""
    auctioneer = AuctioneerAgent(2, 4, np.zeros(4), supports=[[0, 1], [1, 2, 3]])
    auctioneer.start()
    bidder = BidderAgent(0, QuadraticCost([1.0]), np.array([[1.0], [-1.0], [0.0], [0.0]]))
    assert bidder.support.tolist() == [0, 1]
    from distopt_ros.core.messages import Message

    bad = Message(sender=1, receiver=COORDINATOR, iteration=0, algorithm="price", kind="bid", dim=4,
                  primal=[1.0, 2.0])
    assert auctioneer.receive(bad).reason == "wrong_dimension"
    with pytest.raises(ValueError, match="supports"):
        AuctioneerAgent(2, 4, np.zeros(4), supports=[[0, 4], [1]])
