"""The liveness bookkeeping and the membership pairing, without a clock or DDS (time is passed in)."""

from distopt_ros.core.membership import Membership, Pairing
from distopt_ros.ros.liveness import Liveness, PeerEvent


def test_a_silent_peer_is_declared_gone_once_and_back_when_heard_again():
    live = Liveness([1, 2], timeout=3.0, now=0.0)
    assert live.heard(1, 100, 1.0) is PeerEvent.ALIVE
    assert live.heard(2, 200, 1.0) is PeerEvent.ALIVE
    assert live.expired(3.9) == []
    live.heard(2, 200, 3.5)
    assert live.expired(4.1) == [1]  # silent for 3.1 s
    assert live.expired(9.0) == [2]  # robot 1 is reported once
    assert live.gone == [1, 2]
    assert live.heard(1, 100, 9.5) is PeerEvent.BACK
    assert live.heard(2, 250, 9.5) is PeerEvent.RESTARTED  # a larger incarnation: a new process
    assert live.heard(2, 200, 9.6) is PeerEvent.OLD  # the replaced process's last sample
    assert live.gone == []


def test_the_clock_starts_when_the_rounds_do_and_zero_disables():
    live = Liveness([1], timeout=2.0, now=0.0)
    live.restart_clock(10.0)  # start-up (waiting for discovery) is not silence
    assert live.expired(11.0) == []
    assert live.expired(12.5) == [1]
    assert Liveness([1], timeout=0.0, now=0.0).expired(1e9) == []
    assert live.never_heard(1)


def test_a_rejoined_peer_is_paired_with_the_current_round_a_new_process_only_when_far_ahead():
    m = Membership((1, 2))
    assert m.pair(1, their_round=1, my_round=0, window=2) == 0  # a swarm starting together: same rounds
    assert m.pair(2, their_round=500, my_round=0, window=2) == -500  # joined a running swarm
    m.leave(1)
    m.join(1, incarnation=7, since_round=40)
    assert m.state[1].pairing is Pairing.JOIN and m.unpaired == 1
    assert m.pair(1, their_round=3, my_round=40, window=2) == 37  # its round 3 is our 40
    assert m.unpaired == 0 and m.state[1].incarnation == 7
