"""Core messages: immutable blocks, copies only where needed, finiteness checks on both paths."""

import array

import numpy as np
import pytest

from distopt_ros.core.algorithms.admm import RelaxedADMMAgent
from distopt_ros.core.messages import Message, freeze, seal
from distopt_ros.core.problems import QuadraticObjective


def _msg(**blocks):
    return Message(sender=0, receiver=1, iteration=0, algorithm="radmm", kind="edge", dim=blocks.pop("dim", 2),
                   **blocks)


def test_a_writable_array_is_copied_and_every_block_is_read_only():
    x = np.array([1.0, 2.0])
    m = _msg(primal=x, consensus=[3, 4], dual=array.array("d", [5.0, 6.0]))
    x[0] = 99.0
    assert m.primal.tolist() == [1.0, 2.0]
    assert m.consensus.dtype == float and m.consensus.tolist() == [3.0, 4.0]
    assert m.dual.tolist() == [5.0, 6.0] and m.aux.size == 0
    for block in (m.primal, m.dual, m.consensus):
        with pytest.raises(ValueError):
            block[0] = 0.0


def test_frozen_blocks_are_shared_not_copied():
    x = freeze(np.array([1.0, 2.0]))
    first, second = _msg(primal=x), _msg(primal=x)
    assert first.primal is x and second.primal is x


def test_seal_takes_a_temporary_without_copy_and_leaves_views_alone():
    fresh = np.array([1.0, 2.0]) * 2.0
    m = _msg(consensus=seal(fresh))
    assert m.consensus is fresh and not fresh.flags.writeable
    base = np.arange(4.0)
    view = seal(base[:2])  # a view of someone else's array: not sealed, the message copies it
    assert view.flags.writeable
    m2 = _msg(primal=view)
    base[0] = 7.0
    assert m2.primal.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("dim", [2, 40])  # a short block is summed in Python, a long one by numpy
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "inf-inf"])
def test_non_finite_blocks_are_rejected_on_both_summation_paths(dim, bad):
    objective = QuadraticObjective(np.eye(dim), np.zeros(dim))
    agent = RelaxedADMMAgent(1, objective, [0, 2], rho=1.0, alpha=0.5, max_iterations=10)
    values = np.ones(dim)
    if bad == "inf-inf":
        values[0], values[1] = np.inf, -np.inf
    else:
        values[dim - 1] = bad
    msg = _msg(dim=dim, consensus=values)
    assert agent.receive(msg).reason == "non_finite"
    good = _msg(dim=dim, consensus=np.ones(dim))
    assert agent.receive(good).accepted


def test_a_message_is_frozen_and_a_wire_block_is_an_immutable_private_copy():
    import dataclasses

    wire = array.array("d", [1.0, 2.0])
    m = _msg(primal=wire)
    wire[0] = 99.0  # the wire message's own array: the core message does not see it
    assert m.primal.tolist() == [1.0, 2.0] and not m.primal.flags.writeable
    with pytest.raises(ValueError):
        m.primal.setflags(write=True)  # it views bytes: nobody can make it writable again
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.iteration = 5  # type: ignore[misc]
    assert _msg(consensus=m.primal).consensus is m.primal  # passed on without another copy
    changed = dataclasses.replace(m, dual=[3.0, 4.0])
    assert changed.dual.tolist() == [3.0, 4.0] and changed.primal is m.primal and changed.iteration == 0


@pytest.mark.parametrize("dim", [2, 40])  # a short vector goes through math.hypot, a long one through numpy
def test_vector_norm_matches_numpy_and_keeps_infinity_and_nan(dim):
    from distopt_ros.core.agent import vector_norm

    v = np.random.default_rng(dim).normal(size=dim)
    assert vector_norm(v) == pytest.approx(float(np.linalg.norm(v)), rel=1e-14)
    v[0] = np.inf
    assert vector_norm(v) == np.inf
    v[0] = np.nan
    assert np.isnan(vector_norm(v))
