"""Progress on stderr for long CLI work: one tqdm bar per stage, or a counter of named steps."""
from __future__ import annotations

import sys


class TqdmProgress:
    """A ProgressFn (stage, done, total) that shows one tqdm bar per stage on stderr."""

    def __init__(self):
        self._bars = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        from tqdm import tqdm
        bar = self._bars.get(stage)
        if bar is None:
            in_bytes = stage.startswith(("download", "copy"))
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="B" if in_bytes else " steps",
                                           unit_scale=in_bytes, file=sys.stderr, leave=True, disable=None)
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self):
        for bar in self._bars.values():
            bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def steps(total: int, desc: str):
    """A bar counting ``total`` named steps; returns (bar, step) where ``step(label)`` advances it."""
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=None, bar_format="{desc}: {n}/{total} {postfix}")

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)
    return bar, step
