"""libmtmd's side of a GGUF model: a frame into image chunks, their embeddings, and the state kept per frame.

``MtmdImages`` is a part of GgufBackend (engine/runtime/backends/gguf.py): it uses the backend's ``_mtmd``,
``_ctx``, ``_llm``, ``_n_embd``, ``family``, ``tiles`` and ``threads``. The hybrid backend replaces
``_encode_chunk`` with its ONNX or OpenVINO encoder.
"""
from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.runtime.backends.base import EncodedImage


@dataclass
class _Step:
    tokens: list[int] | None = None        # text step
    chunk: object = None                   # image step: mtmd chunk (owned by _ImageState.chunks)
    embd: np.ndarray | None = None         # image step: encoder output, n_tokens x n_embd float32


@dataclass
class _ImageState:
    steps: list[_Step] = field(default_factory=list)
    n_pos: int = 0                         # positions the image prefix occupies in the KV cache
    chunks: object = None
    free: object = None
    snapshot: object = None                # hybrid models: the sequence state right after the image prefix

    def close(self) -> None:
        if self.chunks is not None and self.free is not None:
            self.free(self.chunks)
            self.chunks = None


class MtmdImages:
    """Frames through libmtmd's vision encoder, kept as the steps a prompt evaluates (text, image, text)."""

    def _init_mtmd(self, mmproj: Path):
        m = self._mtmd
        params = m.mtmd_context_params_default()
        params.use_gpu = self.n_gpu_layers != 0    # the projector where the layers are
        params.print_timings = False
        params.n_threads = self.threads         # libmtmd's default is 4 threads, whatever the machine has
        # mtmd sizes the image grid from this: one tile's worth makes a 1x1 grid (+ overview).
        params.image_max_tokens = self.tiles * self.tokens_per_tile
        ctx = m.mtmd_init_from_file(str(mmproj).encode(), self._llm.model, params)
        if not ctx:
            raise VitrineError(f"could not load the vision projector {mmproj.name}: it does not match the text "
                               "model, or it is damaged; use the mmproj file that came with the model")
        if not m.mtmd_support_vision(ctx):
            m.mtmd_free(ctx)
            raise VitrineError(f"{mmproj.name} has no vision encoder: use the model's image projector")
        return ctx

    def encode(self, frame: Frame) -> EncodedImage:
        m = self._mtmd
        t0 = time.perf_counter()
        rgb = np.ascontiguousarray(frame.rgb, dtype=np.uint8)
        if not rgb.flags.writeable:        # a read-only array (np.asarray of a PIL image): ctypes needs a buffer
            rgb = rgb.copy()
        buf = (ctypes.c_uint8 * rgb.size).from_buffer(rgb)
        bitmap = m.mtmd_bitmap_init(frame.width, frame.height, buf)
        if not bitmap:
            raise VitrineError("could not hand the frame to the vision encoder (bad image size?)")
        chunks = m.mtmd_input_chunks_init()
        state = _ImageState(chunks=chunks, free=m.mtmd_input_chunks_free)
        try:
            text = m.mtmd_input_text()
            raw = self._image_prompt.encode()
            text.text, text.text_len, text.add_special, text.parse_special = raw, len(raw), True, True
            bitmaps = (m.mtmd_bitmap_p_ctypes * 1)(bitmap)
            rc = m.mtmd_tokenize(self._ctx, chunks, ctypes.byref(text), bitmaps, 1)
            if rc != 0:
                raise VitrineError(f"the vision encoder could not prepare this frame (code {rc})")
            steps: list[_Step] = []
            for i in range(m.mtmd_input_chunks_size(chunks)):
                chunk = m.mtmd_input_chunks_get(chunks, i)
                if m.mtmd_input_chunk_get_type(chunk) == m.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    n = ctypes.c_size_t()
                    ptr = m.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                    steps.append(_Step(tokens=[ptr[j] for j in range(n.value)]))
                else:
                    steps.append(_Step(chunk=chunk))
            steps = self._single_view(steps)
            n_pos = 0
            for s in steps:
                if s.chunk is None:
                    n_pos += len(s.tokens)
                    continue
                s.embd = self._encode_chunk(s.chunk, frame)
                n_pos += m.mtmd_input_chunk_get_n_pos(s.chunk)
            state.steps, state.n_pos = steps, n_pos
        except BaseException:
            state.close()
            raise
        finally:
            m.mtmd_bitmap_free(bitmap)
        n_image = sum(s.embd.size // self._n_embd for s in state.steps if s.embd is not None)
        return EncodedImage(key=frame.key, n_tokens=n_image, encode_s=time.perf_counter() - t0, state=state)

    def _encode_chunk(self, chunk, frame: Frame) -> np.ndarray:
        """libmtmd's vision encoder on one image chunk: n_tokens x n_embd floats, flattened."""
        m = self._mtmd
        if m.mtmd_encode_chunk(self._ctx, chunk) != 0:
            raise VitrineError("the vision encoder failed on this frame")
        n_tok = m.mtmd_input_chunk_get_n_tokens(chunk)
        return np.ctypeslib.as_array(m.mtmd_get_output_embd(self._ctx), shape=(n_tok * self._n_embd,)).copy()

    def _single_view(self, steps: list[_Step]) -> list[_Step]:
        """With one tile, keep libmtmd's overview and drop its slices (the family says where they are)."""
        images = [i for i, s in enumerate(steps) if s.chunk is not None]
        rule = self.family.single_view
        if self.tiles != 1 or len(images) < 2 or rule is None:
            return steps
        first, last = images[0], images[-1]
        if rule.overview == "last":
            head = [t for s in steps[:first] for t in s.tokens]
            mid = [t for s in steps[first + 1:last] if s.chunk is None for t in s.tokens]
            head = head[:len(head) - rule.drop_before] + mid[rule.skip_between:]
            return [_Step(tokens=head), steps[last], *steps[last + 1:]]
        after = steps[first + 1].tokens[:rule.keep_after] if steps[first + 1].chunk is None else []
        tail = [t for s in steps[last + 1:] for t in s.tokens][rule.drop_tail:]
        return [*steps[:first + 1], _Step(tokens=after), _Step(tokens=tail)]
