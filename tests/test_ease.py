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
