import math

from stccl.edit.ease import EaseBuffer, ramp_factor, window_factor


def _run(flags, ramp):
    buf = EaseBuffer(ramp)
    out = []
    for i, f in enumerate(flags):
        out += buf.push(i, f)
        assert len(buf._held) <= ramp + 1  # bounded look-ahead
    out += buf.finish()
    assert [i for i, _ in out] == list(range(len(flags)))  # in order, exactly once
    return [f for _, f in out]


def test_no_gaps_full_intensity():
    assert _run([True] * 20, 4) == [1.0] * 20


def test_ramps_down_before_and_up_after_a_gap():
    flags = [True] * 10 + [False] * 3 + [True] * 10
    f = _run(flags, 4)
    assert f[10:13] == [0.0, 0.0, 0.0]
    before, after = f[5:10], f[13:18]
    assert all(a > b for a, b in zip(before, before[1:]))  # falls towards the gap
    assert all(a < b for a, b in zip(after, after[1:]))  # rises after it
    assert 0 < f[9] < 0.2 and f[5] == 1.0 and f[17] == 1.0


def test_largest_step_is_small():
    flags = [True] * 10 + [False] * 3 + [True] * 10
    f = _run(flags, 8)
    assert max(abs(a - b) for a, b in zip(f, f[1:])) < 0.25


def test_window_factor():
    assert window_factor(3, 10, 20, 4) == 0.0
    assert window_factor(25, 10, 20, 4) == 0.0
    assert window_factor(15, 10, 20, 4) == 1.0
    assert 0 < window_factor(10, 10, 20, 4) < window_factor(11, 10, 20, 4) < 1
    assert window_factor(0, None, None, 4) == 1.0
    assert ramp_factor(math.inf, 4) == 1.0 and ramp_factor(3, 0) == 1.0


def _run_trust(trusts, ramp, has_face=None):
    buf = EaseBuffer(ramp)
    out = []
    for i, t in enumerate(trusts):
        out += buf.push(i, True if has_face is None else has_face[i], t)
    out += buf.finish()
    assert [i for i, _ in out] == list(range(len(trusts)))
    return [f for _, f in out], buf.unsure


def test_an_unsure_fit_eases_the_edit_out_around_it_without_a_jump():
    trusts = [1.0] * 12 + [0.2] + [1.0] * 12
    f, unsure = _run_trust(trusts, 4)
    assert f[12] == 0.2  # its own trust
    assert all(a >= b for a, b in zip(f[7:12], f[8:13])) and f[7] > f[9] > f[11]  # falls towards it
    assert all(a <= b for a, b in zip(f[12:17], f[13:18])) and f[13] < f[15] < f[17]  # rises after it
    assert f[7] == 1.0 and f[17] == 1.0 and f[:7] == [1.0] * 7  # only within the ramp
    assert unsure == 9  # the frames it lowered: itself and 4 on each side
    f8, _ = _run_trust(trusts, 8)
    assert max(abs(a - b) for a, b in zip(f8, f8[1:])) < 0.25


def test_sure_fits_change_nothing_and_gaps_still_ramp():
    flags = [True] * 10 + [False] * 3 + [True] * 10
    f, unsure = _run_trust([1.0] * 23, 4, flags)
    assert f == _run(flags, 4) and unsure == 0
    # an unsure frame next to a gap: the lower of the two holds
    f2, _ = _run_trust([1.0] * 8 + [0.5] + [1.0] * 14, 4, flags)
    assert f2[8] <= min(0.5, f[8]) and f2[10:13] == [0.0] * 3


def test_without_a_ramp_the_trust_is_the_factor():
    f, unsure = _run_trust([1.0, 0.3, 1.0], 0)
    assert f == [1.0, 0.3, 1.0] and unsure == 1
