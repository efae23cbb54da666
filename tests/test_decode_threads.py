"""The decode thread count follows the machine: two threads while they are faster, one as soon as they fall behind
(another program took a core), and back when an occasional trial finds the machine quiet again."""
from engine.runtime.backends.decode_threads import EXPLORE_EVERY, DecodeThreads

IDLE = {1: 1 / 100, 2: 1 / 130}
BUSY = {1: 1 / 97, 2: 1 / 10}           # a busy loop on the other core: measured here


def decode(policy: DecodeThreads, tokens: int, seconds_per_token: dict[int, float]) -> list[int]:
    used = [policy.start()]
    for _ in range(tokens):
        used.append(policy.observe(seconds_per_token[used[-1]]))
    return used


def test_two_threads_are_left_after_two_slow_tokens():
    p = DecodeThreads({1: 100.0, 2: 130.0})
    assert set(decode(p, 16, IDLE)) == {2}
    used = decode(p, 16, BUSY)
    assert used[:3] == [2, 2, 1] and set(used[2:]) == {1}       # two slow tokens, then one thread


def test_trials_of_the_other_count_cost_two_tokens_and_grow_rarer_while_the_machine_stays_busy():
    p = DecodeThreads({1: 100.0, 2: 130.0})
    decode(p, 16, BUSY)
    answers = [decode(p, 16, BUSY) for _ in range(EXPLORE_EVERY * 7)]
    trials = [i for i, a in enumerate(answers) if a[0] == 2]
    assert all(answers[i][2] == 1 for i in trials)          # each trial gave up after two tokens
    gaps = [b - a for a, b in zip(trials, trials[1:])]
    assert len(trials) >= 2 and gaps == sorted(gaps) and gaps[-1] > gaps[0]


def test_two_threads_come_back_when_the_machine_is_quiet_again():
    p = DecodeThreads({1: 100.0, 2: 130.0})
    decode(p, 16, BUSY)
    quiet = [decode(p, 16, IDLE) for _ in range(2 * EXPLORE_EVERY)]
    assert quiet[-1][0] == 2 and set(quiet[-1]) == {2} and "2 threads 130 tok/s" in p.reason()
