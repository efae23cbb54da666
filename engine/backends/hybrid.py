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
import statistics
import time
from pathlib import Path
from typing import Callable

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


def _median_encode(encode: Callable[[Frame], object], frames: list[Frame]) -> float:
    encode(frames[0])                          # warm-up
    times = []
    for f in frames[1:]:
        t0 = time.perf_counter()
        encode(f)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# Below this cosine the two encoders do not describe the image alike: the files are not of one checkpoint (or one
# was quantized too far), and the projector's own encoder is kept.
MIN_COSINE = 0.9


def measure_vision_encoders(model: Path, mmproj: Path, vision: Path, threads: int | None = None,
                            runs: int = 3) -> dict:
    """Both encoders on the same frames, on this machine: median seconds each, the cosine of their features, and
    the choice with its reason (what `vitrine models list` shows). ``vision``'s folder holds its config.json."""
    from .gguf import GgufBackend
    rng = np.random.RandomState(0)
    frames = [Frame(rng.randint(0, 255, (512, 512, 3), dtype=np.uint8), f"probe-{i}") for i in range(runs + 1)]
    with GgufBackend(model, mmproj, threads=threads, tiles=1) as g:
        onnx = OnnxVision.open(vision, vision.parent, g.threads)
        mmproj_s = _median_encode(g.encode, frames)
        onnx_s = _median_encode(onnx.features, frames)
        a = g.image_embedding(g.encode(frames[0])).ravel()
        b = onnx.features(frames[0]).ravel()
    if a.shape != b.shape:
        raise VitrineError(f"the ONNX vision encoder gives {b.size} values where the projector gives {a.size}: "
                           "they are not the same model")
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    choice = ONNX_VISION if onnx_s < mmproj_s and cosine >= MIN_COSINE else MMPROJ_VISION
    faster, slower = sorted((onnx_s, mmproj_s))
    encoder = "ONNX int8" if onnx_s < mmproj_s else "the f16 projector"
    other = "the f16 projector" if onnx_s < mmproj_s else "ONNX int8"
    why = f"{encoder} encodes a frame in {faster * 1000:.1f} ms, {other} in {slower * 1000:.1f} ms here"
    if cosine < MIN_COSINE:
        why += f"; but the two disagree (cosine {cosine:.2f}): the projector's own is used"
    return {"choice": choice, "onnx_s": round(onnx_s, 4), "mmproj_s": round(mmproj_s, 4),
            "cosine": round(cosine, 5), "why": why}


def _available_mb() -> float | None:
    try:
        import psutil
        return psutil.virtual_memory().available / 1e6
    except (ImportError, OSError):
        return None
