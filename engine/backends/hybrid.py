"""A hybrid model: llama.cpp's text model fed by an ONNX int8 vision encoder of the same checkpoint.

On the development machine onnxruntime's int8 vision encoder took 0.59 s where libmtmd's f16 projector took 0.73 s
(SmolVLM-256M dimensions), while llama.cpp decodes faster than onnxruntime: `vitrine export hybrid` writes both,
measures both encoders on the machine it runs on and records which one is faster (``extra["vision"]``, with its
reason, shown by `vitrine models list`). libmtmd still lays out the prompt (its chunks); only the encoder's output
is swapped. Single view (one tile) only. When the ONNX encoder is not the faster one, or the machine lacks the
memory for it, the model runs libmtmd's own encoder and says why in the log.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import VitrineError
from ..frames import Frame
from .gguf import GgufBackend
from .onnx_vision import OnnxVision

log = logging.getLogger(__name__)
ONNX_VISION = "onnx-int8"
MMPROJ_VISION = "mmproj"


class HybridBackend(GgufBackend):
    def __init__(self, folder: Path, manifest, threads: int | None = None, vision: str | None = None):
        folder = Path(folder)
        super().__init__(folder / manifest.files["model"].path, folder / manifest.files["mmproj"].path,
                         model_id=manifest.name, family=manifest.family, chat_handler=manifest.chat_handler,
                         threads=threads, tiles=1, languages=tuple(manifest.languages))
        self.vision_choice = vision or manifest.extra.get("vision", {}).get("choice", ONNX_VISION)
        self._vision: OnnxVision | None = None
        if self.vision_choice == ONNX_VISION:
            need_mb = manifest.files["vision"].size * 3 / 1e6      # weights + activations, measured ~2.5x
            free_mb = _available_mb()
            if free_mb is not None and free_mb < need_mb + 256:
                self.vision_choice = MMPROJ_VISION
                log.info("%s: %.0f MB free, the ONNX vision encoder needs about %.0f: using the projector's own",
                         self.model_id, free_mb, need_mb)
            else:
                vision_path = folder / manifest.files["vision"].path
                self._vision = OnnxVision.open(vision_path, vision_path.parent, self.threads)
        log.info("%s: vision encoder %s", self.model_id, self.vision_choice)

    def _encode_chunk(self, chunk, frame: Frame) -> np.ndarray:
        if self._vision is None:
            return super()._encode_chunk(chunk, frame)
        feats = self._vision.features(frame)
        n_tok = self._mtmd.mtmd_input_chunk_get_n_tokens(chunk)
        if feats.shape != (n_tok, self._n_embd):
            raise VitrineError(f"ONNX vision gives {feats.shape}, llama.cpp expects {(n_tok, self._n_embd)}: the "
                               "hybrid model's files do not belong together; export it again")
        return np.ascontiguousarray(feats, np.float32).ravel()


def _available_mb() -> float | None:
    try:
        import psutil
        return psutil.virtual_memory().available / 1e6
    except (ImportError, OSError):
        return None
