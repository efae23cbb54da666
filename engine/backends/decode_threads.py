"""How many threads decode the next tokens: one, or all of them, whichever is faster right now.

On two cores llama.cpp decodes fastest with both threads waiting for each other briefly (spinning) — 0.96x of
llama-bench's own two-thread figure here — but a barrier that waits for a thread the OS has descheduled costs a
time slice, so when anything else uses a core (the video playing beside the answer) two threads fall far below
one (29 vs 70 tok/s measured). The rates are measured at load, then kept fresh from the answers themselves: every
few tokens the one in use is updated, a count that falls behind is left mid-answer, and now and then an answer
starts on the other count to see whether the machine has quietened.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

WINDOW = 4              # tokens per measurement (their median)
EXPLORE_EVERY = 8       # every eighth answer starts on the count not in favour


@dataclass
class DecodeThreads:
    rates: dict[int, float]                 # thread count -> tokens/s, latest estimate
    answers: int = 0
    current: int = field(init=False, default=1)
    _times: list[float] = field(init=False, default_factory=list)

    @property
    def best(self) -> int:
        return max(self.rates, key=self.rates.get)

    def reason(self) -> str:
        return ", ".join(f"{n} thread{'s' * (n > 1)} {v:.0f} tok/s" for n, v in sorted(self.rates.items()))

    def start(self) -> int:
        """The count a new answer decodes with."""
        self.answers += 1
        self._times = []
        others = [n for n in self.rates if n != self.best]
        self.current = others[0] if others and self.answers % EXPLORE_EVERY == 0 else self.best
        return self.current

    def observe(self, seconds: float) -> int:
        """One token took ``seconds`` on the current count; returns the count for the next one."""
        self._times.append(seconds)
        if len(self._times) < WINDOW:
            return self.current
        # the window's median replaces the estimate: blended with the old one, a count that slowed down kept its
        # lead long enough to be chosen again
        self.rates[self.current] = 1.0 / max(statistics.median(self._times), 1e-9)
        self._times = []
        self.current = self.best
        return self.current
