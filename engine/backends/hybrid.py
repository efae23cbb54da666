"""Measured, not shipped: llama.cpp's text model fed by the ONNX int8 vision encoder (same checkpoint).

`vitrine bench --backend hybrid` answers the question whether onnxruntime's faster image encoder in front of
llama.cpp's faster decoder beats both paths. Single view (one tile) only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VitrineError
from ..frames import Frame
from .gguf import GgufBackend
from .onnx import OnnxBackend


class HybridBackend(GgufBackend):
    def __init__(self, gguf_folder: Path, onnx_folder: Path, threads: int | None = None):
        from ..manifest import Manifest
        m = Manifest.load(gguf_folder)
        super().__init__(Path(gguf_folder) / m.files["model"].path, Path(gguf_folder) / m.files["mmproj"].path,
                         model_id=m.name + "+onnx-vision", family=m.family, threads=threads, tiles=1)
        self._vision = OnnxBackend(onnx_folder, threads=threads)

    def _encode_chunk(self, chunk, frame: Frame) -> np.ndarray:
        feats = self._vision.image_features(frame)
        n_tok = self._mtmd.mtmd_input_chunk_get_n_tokens(chunk)
        if feats.shape != (n_tok, self._n_embd):
            raise VitrineError(f"ONNX vision gives {feats.shape}, llama.cpp expects {(n_tok, self._n_embd)}")
        return np.ascontiguousarray(feats, np.float32).ravel()
