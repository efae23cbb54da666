"""The decode thread count follows the machine: two threads while they are faster, one when they fall behind
(another program took a core), and back when an occasional trial finds the machine quiet again."""
from engine.backends.decode_threads import EXPLORE_EVERY, WINDOW, DecodeThreads


def decode(policy: DecodeThreads, tokens: int, seconds_per_token: dict[int, float]) -> list[int]:
    used = [policy.start()]
    for _ in range(tokens):
        used.append(policy.observe(seconds_per_token[used[-1]]))
    return used


def test_two_threads_are_left_mid_answer_when_they_slow_down_and_found_again():
    p = DecodeThreads({1: 100.0, 2: 130.0})
    idle = {1: 1 / 100, 2: 1 / 130}
    busy = {1: 1 / 70, 2: 1 / 29}                       # the other core taken: measured here
    assert set(decode(p, 16, idle)) == {2}
    used = decode(p, 16, busy)
    assert used[0] == 2 and used[-1] == 1 and used.index(1) <= 2 * WINDOW     # left within a few tokens
    for _ in range(EXPLORE_EVERY - 3):                   # while busy, answers start on one thread
        assert decode(p, 16, busy)[0] == 1
    trial = decode(p, 16, busy)                          # the eighth tries two threads, and leaves them again
    assert trial[0] == 2 and trial[-1] == 1
    quiet_again = [decode(p, 16, idle) for _ in range(2 * EXPLORE_EVERY)]
    last = quiet_again[-EXPLORE_EVERY:]                  # all on two threads but the one trying one thread
    assert sum(a[0] == 2 for a in last) == EXPLORE_EVERY - 1 and all(a[-1] == 2 for a in last)
    assert "2 threads" in p.reason()
