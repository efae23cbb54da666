"""How many threads decode the next tokens: one, or all of them, whichever is faster right now.

On two cores llama.cpp decodes fastest with both threads waiting for each other briefly (spinning) — 0.96x of
llama-bench's own two-thread figure here — but a barrier that waits for a thread the OS has descheduled costs a
time slice, so when anything else uses a core (the video playing beside the answer) two threads fall far below
one (10 vs 97 tok/s with a busy loop on the other core, measured). The rates are measured at load, then kept fresh
from the answers themselves: every few tokens the count in use is re-measured, a count that falls behind is left
after two slow tokens, and now and then an answer starts on the other count to see whether the machine has quietened — less
often each time it has not.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

WINDOW = 4              # tokens per measurement (their median)
EXPLORE_EVERY = 8       # answers between trials of the count not in favour, doubled after each failed trial...
EXPLORE_MAX = 64        # ...up to this
SLOW = 3.0              # two tokens in a row this many times slower than another count's: leave (one alone
                        # happens on a quiet machine too)


@dataclass
class DecodeThreads:
    rates: dict[int, float]                 # thread count -> tokens/s, latest estimate
    current: int = field(init=False, default=1)
    interval: int = field(init=False, default=EXPLORE_EVERY)
    _since_trial: int = field(init=False, default=0)
    _trial: bool = field(init=False, default=False)
    _times: list[float] = field(init=False, default_factory=list)

    @property
    def best(self) -> int:
        return max(self.rates, key=self.rates.get)

    def reason(self) -> str:
        return ", ".join(f"{n} thread{'s' * (n > 1)} {v:.0f} tok/s" for n, v in sorted(self.rates.items()))

    def start(self) -> int:
        """The count a new answer decodes with."""
        self._times = []
        self._since_trial += 1
        others = [n for n in self.rates if n != self.best]
        self._trial = bool(others) and self._since_trial >= self.interval
        if self._trial:
            self._since_trial = 0
        self.current = others[0] if self._trial else self.best
        return self.current

    def observe(self, seconds: float) -> int:
        """One token took ``seconds`` on the current count; returns the count for the next one."""
        self._times.append(seconds)
        others = [v for n, v in self.rates.items() if n != self.current]
        slow = [t for t in self._times[-2:] if others and t * max(others) > SLOW]
        if len(slow) == 2:
            self.rates[self.current] = 2.0 / sum(slow)         # fell far behind: leave now, not after the window
        elif len(self._times) < WINDOW:
            return self.current
        else:
            # the window's median replaces the estimate: blended with the old one, a count that slowed down kept
            # its lead long enough to be chosen again
            self.rates[self.current] = 1.0 / max(statistics.median(self._times), 1e-9)
        self._times = []
        if self._trial:
            self._trial = False
            self.interval = EXPLORE_EVERY if self.best == self.current else min(2 * self.interval, EXPLORE_MAX)
        self.current = self.best
        return self.current
