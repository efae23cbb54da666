"""GGUF models (text model + vision projector) in-process through llama-cpp-python's libllama and libmtmd.

We drive libmtmd ourselves rather than through a chat handler's ``create_chat_completion``: the handlers
clear the KV cache on every call, while a store clerk asks several questions about one frame. Here the
prompt is split at the image: [template prefix + image] is evaluated once per frame and kept in the KV
cache; a follow-up appends its own turn after the answers already in the cache (a conversation about the frame),
or, when the conversation differs from what the cache holds, drops back to where they part (``seq_rm``).
"""
from __future__ import annotations

import codecs
import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.models.gguf_file import check_gguf
from engine import families
from engine.runtime.backends.base import Backend, EncodedImage, GenerationOptions, GenerationStats, OnToken
from engine.runtime.backends.chat_layout import ChatLayout, Exchange, kept_prefix, layout_from_template
from engine.runtime.backends.decode_threads import DecodeThreads
from engine.runtime.native import import_llama_cpp

log = logging.getLogger(__name__)

_PROBE_TOKENS = 6                    # decode steps timed per thread count when the model loads
_ANSWER_ROOM = 128                  # context kept free for an answer before earlier exchanges are dropped
# A batch this short runs on the decode threads: its ops are as small as one token's, so the barriers between them
# cost what they cost in decoding (SmolVLM-256M Q8_0, 2 cores, passive OpenMP: 10 tokens 52 ms on one thread,
# 81 on two; 64 tokens 200 ms on one, 157 on two; llama-bench agrees).
_FEW_TOKENS = 32


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


class GgufBackend(Backend):
    samples = True                 # temperature, top_p and seed (GenerationOptions.picker)

    def __init__(self, model_path: Path | str, mmproj_path: Path | str | None, *, model_id: str = "",
                 family: str = "", chat_handler: str = "mtmd", threads: int | None = None,
                 decode_threads: int | None = None, tiles: int = 1,
                 n_ctx: int | None = None, languages: tuple[str, ...] = ("en",), n_gpu_layers: int = 0,
                 use_mmap: bool = True):
        model_path = Path(model_path)
        self.n_gpu_layers = n_gpu_layers        # layers offloaded to a GPU build's device (engine/devices.py)
        if mmproj_path is None:
            raise VitrineError(f"{model_path.name} has no vision projector: pass its mmproj-*.gguf with --mmproj "
                               "(or import both with `vitrine models import`)")
        info = check_gguf(model_path, "model")
        proj = check_gguf(mmproj_path, "mmproj")
        self.model_id = model_id or model_path.stem
        self.languages = tuple(languages)
        ptype = str(proj.metadata.get("clip.projector_type", ""))
        self.family = families.get(family) or families.for_projector(ptype) or families.Family(
            name=ptype or "generic", about="", projector_types=(ptype,))
        self.threads = threads or os.cpu_count() or 2
        # Decoding one token is a chain of small ops; with several threads each op ends in a barrier, which is
        # quick while both cores are ours and slow when another program takes one. Whether one decode thread or
        # all of them is faster is measured when the model loads and kept up to date while it answers
        # (decode_threads.py). Long batches (prefill, image) keep all threads.
        self.decode_threads = decode_threads or self.threads
        self.decode_threads_reason = "given" if decode_threads else ""
        self.tiles = max(1, int(tiles))
        image_size = int(proj.metadata.get("clip.vision.image_size", 512))
        patch = int(proj.metadata.get("clip.vision.patch_size", 16))
        merge = int(proj.metadata.get("clip.vision.projector.scale_factor", 1) or 1)
        self.tokens_per_tile = max(1, (image_size // patch) ** 2 // (merge * merge))
        # overview + slices, question and answer; a little headroom
        n_ctx = n_ctx or max(1024, (self.tiles + 1) * self.tokens_per_tile + 768)

        self._llama_cpp, self._mtmd = import_llama_cpp()
        from llama_cpp import Llama
        t0 = time.perf_counter()
        try:
            # flash attention: what llama.cpp resolves "auto" to on CPU (llama-bench's default); off, our decode
            # ran at 0.92x (111 vs 122 tok/s, 20 paired answers, SmolVLM-256M Q8_0, 2 threads)
            self._llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=self.decode_threads,
                              n_threads_batch=self.threads, n_batch=512, n_ubatch=512, flash_attn=True, verbose=False,
                              n_gpu_layers=n_gpu_layers, use_mmap=use_mmap)
        except (ValueError, RuntimeError) as e:
            raise VitrineError(f"llama.cpp could not load {model_path.name} ({e}): the file may be damaged or from "
                               "a newer llama.cpp; run `vitrine models verify`") from None
        self._template = self._chat_template(chat_handler, info.metadata)
        self._ctx = self._init_mtmd(Path(mmproj_path))
        self.load_s = time.perf_counter() - t0
        self._n_embd = self._llama_cpp.llama_model_n_embd(self._llm.model)
        self._vocab = self._llama_cpp.llama_model_get_vocab(self._llm.model)
        self._n_vocab = self._llm.n_vocab()
        self._kv_image: EncodedImage | None = None    # whose image prefix the KV cache holds now
        self._kv_ids: list[int] = []                  # and the tokens after it (questions and answers)
        self._kv_head: list[int] = []                 # the prompt's start before the image: the same for every frame
        self._batch_threads = self.threads
        self._decoding_threads = self.decode_threads
        self._threads_policy: DecodeThreads | None = None     # None: the decode thread count is fixed
        L = self._llama_cpp
        # Hybrid and recurrent models (MiniCPM-V 4.6's Qwen3.5) cannot drop the end of a sequence: seq_rm on a
        # partial range returns False and removes nothing. For them the state after the image prefix is saved
        # and restored for each question (0.6 MB and < 1 ms on the tiny model, measured).
        self._snapshots = bool(L.llama_model_is_hybrid(self._llm.model) or L.llama_model_is_recurrent(self._llm.model))
        if not decode_threads and self.threads > 1:
            self._measure_decode_threads()
        marker = self._mtmd.mtmd_default_marker().decode()
        self.layout = self._layout(marker)
        self._image_prompt = self.layout.head + self.family.image_prefix + marker      # evaluated once per frame
        log.info("loaded %s in %.2fs (%d threads, %d for decoding, %d tile(s) of %d tokens, n_ctx %d)", self.model_id,
                 self.load_s, self.threads, self.decode_threads, self.tiles, self.tokens_per_tile, n_ctx)

    # ------------------------------------------------------------------ loading
    def _measure_decode_threads(self) -> None:
        """Time a few decode steps with one thread and with all of them (interleaved, medians) and keep the
        faster for decoding."""
        import statistics
        llm, L = self._llm, self._llama_cpp
        ctx = llm._ctx.ctx
        tok = max(0, llm.token_bos())
        times: dict[int, list[float]] = {1: [], self.threads: []}
        try:
            llm.reset()
            llm._ctx.kv_cache_clear()
            llm.eval([tok] * 8)
            for _ in range(_PROBE_TOKENS):
                for n in times:
                    L.llama_set_n_threads(ctx, n, self.threads)
                    t0 = time.perf_counter()
                    llm.eval([tok])
                    times[n].append(time.perf_counter() - t0)
        finally:
            llm.reset()
            llm._ctx.kv_cache_clear()
        speed = {n: 1 / max(statistics.median(v[1:]), 1e-9) for n, v in times.items()}
        self._threads_policy = DecodeThreads(speed)
        self.decode_threads = self._threads_policy.best
        self.decode_threads_reason = self._threads_policy.reason()
        L.llama_set_n_threads(ctx, self.decode_threads, self.threads)
        self._decoding_threads, self._batch_threads = self.decode_threads, self.threads
        log.info("decode threads: %d (measured at load: %s)", self.decode_threads, self.decode_threads_reason)

    def _use_decode_threads(self, n: int) -> None:
        if n != self._decoding_threads:
            self._llama_cpp.llama_set_n_threads(self._llm._ctx.ctx, n, self._batch_threads)
            self._decoding_threads = n

    def _use_batch_threads(self, n: int) -> None:
        if n != self._batch_threads:
            self._llama_cpp.llama_set_n_threads(self._llm._ctx.ctx, self._decoding_threads, n)
            self._batch_threads = n

    def _eval(self, ids: list[int]) -> None:
        """Tokens into the cache, a short batch on the decode threads (``_FEW_TOKENS``)."""
        if not ids:
            return
        self._use_batch_threads(self.decode_threads if len(ids) < _FEW_TOKENS else self.threads)
        self._llm.eval(ids)

    def _chat_template(self, handler: str, metadata: dict) -> str:
        if handler == "minicpmv":
            from llama_cpp.llama_chat_format import MiniCPMv26ChatHandler
            self._image_part = lambda m: {"type": "image_url", "image_url": {"url": m}}
            return MiniCPMv26ChatHandler.CHAT_FORMAT
        self._image_part = None
        template = self._llm.metadata.get("tokenizer.chat_template") or metadata.get("tokenizer.chat_template")
        if not template:
            raise VitrineError(f"{self.model_id} has no chat template in its GGUF: export it again from a "
                               "checkpoint that has one")
        return template

    def _layout(self, marker: str) -> ChatLayout:
        # Prefer the template's own image part (SmolVLM's writes "User:<image>", not "User: <image>", as
        # transformers does); where it goes, mtmd's marker goes.
        if self._image_part is not None:
            return layout_from_template(self._template, self._image_part(marker), marker, self.model_id)
        try:
            return layout_from_template(self._template, {"type": "image"}, "<image>", self.model_id)
        except VitrineError:
            return layout_from_template(self._template, {"type": "text", "text": marker}, marker, self.model_id)

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

    # ------------------------------------------------------------------ image
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

    # ------------------------------------------------------------------ text
    def _eval_image_prefix(self, image: EncodedImage) -> None:
        m, L = self._mtmd, self._llama_cpp
        llm = self._llm
        steps = list(image.state.steps)
        head = steps[0].tokens if steps and steps[0].chunk is None else []
        self._kv_image = None
        self._kv_ids = []
        if head and head == self._kv_head and not self._snapshots:
            # the template's start is the same for every frame: keep it, drop what followed (a new frame saves
            # one short batch, ~50 ms on SmolVLM-256M)
            llm._ctx.kv_cache_seq_rm(0, len(head), -1)
            llm.n_tokens = len(head)
            steps = steps[1:]
        else:
            llm.reset()
            llm._ctx.kv_cache_clear()
            self._kv_head = []
        for s in steps:
            if s.chunk is None:
                self._eval(s.tokens)
                if s.tokens is head:
                    self._kv_head = list(head)
                continue
            self._use_batch_threads(self.threads)
            new_n_past = L.llama_pos(0)
            embd = s.embd.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            rc = m.mtmd_helper_decode_image_chunk(self._ctx, llm._ctx.ctx, s.chunk, embd, L.llama_pos(llm.n_tokens),
                                                  L.llama_seq_id(0), llm.n_batch, ctypes.byref(new_n_past),
                                                  m.mtmd_helper_post_decode_callback(), None)
            if rc != 0:
                self._kv_head = []
                raise VitrineError(f"the model could not take in the image (code {rc})")
            llm.n_tokens = new_n_past.value
        if self._snapshots:
            ctx = llm._ctx.ctx
            size = L.llama_state_seq_get_size(ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            if L.llama_state_seq_get_data(ctx, buf, size, 0) != size:
                raise VitrineError("could not save the model's state after the image")
            image.state.snapshot = buf
        self._kv_image = image

    def take_in(self, image: EncodedImage) -> None:
        """The image prefix into the KV cache now, so the question only adds its own tokens."""
        if image.state.chunks is not None and self._kv_image is not image:
            self._eval_image_prefix(image)

    def _rewind_to(self, image: EncodedImage, keep: int) -> None:
        """Keep the image prefix and the first ``keep`` tokens after it; drop the rest."""
        llm, L = self._llm, self._llama_cpp
        if image.state.snapshot is None:
            llm._ctx.kv_cache_seq_rm(0, image.state.n_pos + keep, -1)
        else:       # hybrid models cannot cut a sequence short: back to the state right after the image
            keep = 0
            buf = image.state.snapshot
            llm._ctx.kv_cache_seq_rm(0, -1, -1)           # a whole sequence can always be cleared
            if L.llama_state_seq_set_data(llm._ctx.ctx, buf, len(buf), 0) != len(buf):
                raise VitrineError("could not restore the model's state after the image")
        llm.n_tokens = image.state.n_pos + keep
        del self._kv_ids[keep:]

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode(), add_bos=False, special=True)

    def conversation_ids(self, history: tuple[Exchange, ...], question: str) -> list[int]:
        return self.layout.conversation_ids(history, question, self._tokens)

    def _prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...] = (),
                 answer_room: int = _ANSWER_ROOM) -> tuple[int, int]:
        """The image prefix (reused when the cache holds it), the conversation so far (what the cache already
        holds of it is kept), then the question. Returns (room left for the answer, earlier exchanges used):
        the oldest exchanges are dropped when the context would not leave ``answer_room``."""
        llm = self._llm
        history = tuple(history) if self.layout.multi_turn else ()
        ids = self.conversation_ids(history, question)
        while history and image.state.n_pos + len(ids) + answer_room > llm.n_ctx():
            history = history[1:]
            ids = self.conversation_ids(history, question)
        if self._kv_image is image and image.state.chunks is not None:
            same = kept_prefix(self._kv_ids, ids)
            if same < len(self._kv_ids):
                self._rewind_to(image, same)
        else:
            self._eval_image_prefix(image)
        new = ids[len(self._kv_ids):]
        room = llm.n_ctx() - llm.n_tokens - len(new)
        if room < 8:
            raise VitrineError("the question does not fit in the model's context with this image: ask something "
                               "shorter or use fewer tiles")
        try:
            self._eval(new)
        except BaseException:
            self._kv_image = None            # the cache's content is unknown now: start clean next time
            self._kv_head = []
            raise
        self._kv_ids.extend(new)
        return room, len(history)

    def generate(self, image: EncodedImage, question: str, options: GenerationOptions,
                 on_token: OnToken | None = None, cancel: threading.Event | None = None,
                 history: tuple[Exchange, ...] = ()) -> GenerationStats:
        llm, L = self._llm, self._llama_cpp
        t0 = time.perf_counter()
        room, used = self._prefill(image, question, history, min(options.max_tokens, _ANSWER_ROOM))
        prefill_s = time.perf_counter() - t0
        prompt_tokens = llm.n_tokens          # image + conversation + question, all in the cache now
        pick = options.picker()
        eos = llm.token_eos()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        ids: list[int] = []
        stopped, t_first = False, None
        constraint = options.constraint
        limit = min(options.max_tokens, room - 1)
        if constraint is not None:
            constraint.begin(limit)     # a cut answer is closed, still valid JSON
        policy = self._threads_policy
        if policy is not None:
            self._use_decode_threads(policy.start())
        for i in range(limit):
            if constraint is not None and constraint.finished:
                break
            logits = np.ctypeslib.as_array(L.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(self._n_vocab,))
            if constraint is not None:
                logits = constraint.mask(logits)
            if options.ban_eos:
                logits = logits.copy()
                logits[eos] = -np.inf
            tok = pick(logits)
            if not options.ban_eos and L.llama_vocab_is_eog(self._vocab, tok):
                break
            if constraint is not None:
                constraint.advance(tok)
            ids.append(tok)
            piece = decoder.decode(llm.detokenize([tok]))
            if t_first is None:
                t_first = time.perf_counter()
            if piece:
                pieces.append(piece)
                if on_token:
                    on_token(piece)
            if cancel is not None and cancel.is_set():
                stopped = True
                break
            if i == limit - 1:      # the last token's logits are not needed: a follow-up's prefill takes it in
                break
            t_tok = time.perf_counter()
            llm.eval([tok])
            self._kv_ids.append(tok)
            if policy is not None:
                self._use_decode_threads(policy.observe(time.perf_counter() - t_tok))
        if policy is not None and policy.best != self.decode_threads:
            self.decode_threads, self.decode_threads_reason = policy.best, policy.reason()
            log.info("decode threads now %d (%s)", self.decode_threads, self.decode_threads_reason)
        tail = decoder.decode(b"", final=True)
        if tail:
            pieces.append(tail)
            if on_token:
                on_token(tail)
        end = time.perf_counter()
        t_first = t_first or end
        truncated = len(ids) >= limit or bool(constraint is not None and constraint.closed_on_budget)
        return GenerationStats(prefill_s=prefill_s, ttft_s=t_first - t0, decode_s=end - t_first, n_tokens=len(ids),
                               text="".join(pieces), stopped=stopped, token_ids=ids, history_used=used,
                               truncated=truncated, prompt_tokens=prompt_tokens)

    def constraint_for(self, node):
        from engine.runtime.constrained import LlamaGrammarConstraint, VocabularyTrie
        L = self._llama_cpp
        if getattr(self, "_token_texts", None) is None:     # built once per model: the vocabulary as text
            pieces = [self._llm.detokenize([tok]) for tok in range(self._n_vocab)]    # as answers are decoded
            eog = [tok for tok in range(self._n_vocab) if L.llama_vocab_is_eog(self._vocab, tok)]
            texts = []
            for piece in pieces:
                try:
                    texts.append(piece.decode("utf-8"))
                except UnicodeDecodeError:
                    texts.append("")
            self._token_bytes, self._token_texts, self._eog_ids = pieces, texts, eog
            self._trie = VocabularyTrie(texts)
            # never offered: control tokens (they spell nothing in the answer) and parts of UTF-8 characters
            # (llama.cpp's grammar let byte tokens write invalid UTF-8, decoded as several U+FFFD: a string past
            # its maxLength); the ONNX path's trie holds whole characters only, likewise
            blocked = np.array([not t for t in texts])
            blocked[eog] = False
            self._blocked = np.flatnonzero(blocked)
        return LlamaGrammarConstraint(node, L, self._vocab, self._n_vocab,
                                      lambda tok: bool(L.llama_vocab_is_eog(self._vocab, tok)), self._trie,
                                      self._token_texts, self._eog_ids, self._blocked, self._token_bytes)

    # ------------------------------------------------------------------ parity checks
    def _logits(self) -> np.ndarray:
        return np.ctypeslib.as_array(self._llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1),
                                     shape=(self._n_vocab,)).copy()

    def first_token_logits(self, image: EncodedImage, question: str,
                           history: tuple[Exchange, ...] = ()) -> np.ndarray:
        """The logits an answer starts from, by the same path as ``generate`` (a follow-up reuses the image and
        what the cache holds of the conversation)."""
        self._prefill(image, question, history)
        return self._logits()

    def teacher_forced_logits(self, image: EncodedImage, question: str, answer_ids: list[int],
                              history: tuple[Exchange, ...] = ()) -> np.ndarray:
        """Logits after the question (and the conversation before it, evaluated anew) and after each of
        ``answer_ids`` (rows: len(answer_ids) + 1)."""
        self._eval_image_prefix(image)
        self._eval(self.conversation_ids(tuple(history), question))
        rows = [self._logits()]
        for tok in answer_ids:
            self._llm.eval([tok])
            rows.append(self._logits())
        self._kv_image = None         # the cache now holds this answer: start clean next time
        return np.stack(rows)

    def image_embedding(self, image: EncodedImage) -> np.ndarray:
        embd = [s.embd for s in image.state.steps if s.embd is not None]
        return np.concatenate(embd).reshape(-1, self._n_embd)

    def close(self) -> None:
        if getattr(self, "_ctx", None):
            self._mtmd.mtmd_free(self._ctx)
            self._ctx = None
        if getattr(self, "_llm", None) is not None:
            self._llm.close()
            self._llm = None
