"""GGUF models (text model + vision projector) in-process through llama-cpp-python's libllama and libmtmd.

We drive libmtmd ourselves rather than through a chat handler's ``create_chat_completion``: the handlers
clear the KV cache on every call, while a store clerk asks several questions about one frame. Here the
prompt is split at the image: [template prefix + image] is evaluated once per frame and kept in the KV
cache; a follow-up appends its own turn after the answers already in the cache (a conversation about the frame),
or, when the conversation differs from what the cache holds, drops back to where they part (``seq_rm``).

Here: loading (and the decode thread count measured at load), the KV cache's bookkeeping, the one-token step the
shared loop drives (engine/runtime/decoding.py) and the parity probes; the image side (libmtmd's chunks and the
state kept per frame) is gguf_images.py.
"""
from __future__ import annotations

import ctypes
import logging
import os
import time
from pathlib import Path

import numpy as np

from engine import families
from engine.errors import VitrineError
from engine.kinds import ChatHandler
from engine.models.gguf_file import check_gguf
from engine.runtime.backends.base import DecodingBackend, EncodedImage, Prefilled
from engine.runtime.backends.chat_layout import ChatLayout, Exchange, kept_prefix, layout_from_template
from engine.runtime.backends.decode_threads import DecodeThreads
from engine.runtime.backends.gguf_images import MtmdImages
from engine.runtime.constrained import LlamaGrammarConstraint, VocabularyTrie
from engine.runtime.decoding import ANSWER_ROOM
from engine.runtime.native import import_llama_cpp

log = logging.getLogger(__name__)

_PROBE_TOKENS = 6                    # decode steps timed per thread count when the model loads
# A batch this short runs on the decode threads: its ops are as small as one token's, so the barriers between them
# cost what they cost in decoding (SmolVLM-256M Q8_0, 2 cores, passive OpenMP: 10 tokens 52 ms on one thread,
# 81 on two; 64 tokens 200 ms on one, 157 on two; llama-bench agrees).
_FEW_TOKENS = 32


class GgufBackend(MtmdImages, DecodingBackend):
    samples = True                 # temperature, top_p and seed (GenerationOptions.picker)

    def __init__(self, model_path: Path | str, mmproj_path: Path | str | None, *, model_id: str = "",
                 family: str = "", chat_handler: ChatHandler | str = ChatHandler.MTMD, threads: int | None = None,
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
        self._template = self._chat_template(ChatHandler(chat_handler), info.metadata)
        self._ctx = self._init_mtmd(Path(mmproj_path))
        self.load_s = time.perf_counter() - t0
        self._n_embd = self._llama_cpp.llama_model_n_embd(self._llm.model)
        self._vocab = self._llama_cpp.llama_model_get_vocab(self._llm.model)
        self._n_vocab = self._llm.n_vocab()
        self._kv_image: EncodedImage | None = None    # whose image prefix the KV cache holds now
        self._kv_ids: list[int] = []                  # and the tokens after it (questions and answers)
        self._kv_head: list[int] = []                 # the prompt's start before the image: the same for every frame
        self._pieces: dict[int, bytes] = {}           # token -> its bytes (detokenize)
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

    def _chat_template(self, handler: ChatHandler, metadata: dict) -> str:
        if handler is ChatHandler.MINICPMV:
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

    # ------------------------------------------------------------------ text
    def _eval_image_prefix(self, image: EncodedImage, then: list[int] | None = None) -> bool:
        """The frame's prompt up to the question into the KV cache. ``then``: tokens that follow it (the
        question), evaluated in one batch with the text after the image where it ends the prefix and no state is
        saved after the image (a hybrid model's snapshot): a new frame saves one short batch (~10 ms on
        SmolVLM-256M, the same logits to the bit). Returns whether ``then`` was evaluated."""
        m, L = self._mtmd, self._llama_cpp
        llm = self._llm
        steps = list(image.state.steps)
        head = steps[0].tokens if steps and steps[0].chunk is None else []
        merge = bool(then) and not self._snapshots and len(steps) > 1 and steps[-1].chunk is None
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
        for i, s in enumerate(steps):
            if s.chunk is None:
                self._eval(s.tokens + then if merge and i == len(steps) - 1 else s.tokens)
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
        return merge

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

    @property
    def snapshots(self) -> bool:
        """Whether a follow-up restores the state saved after the image (hybrid and recurrent models) rather than
        cutting the KV cache back."""
        return self._snapshots

    @property
    def vocab_size(self) -> int:
        """How many tokens the model's vocabulary holds (the length of its logits)."""
        return self._n_vocab

    def tokens(self, text: str) -> list[int]:
        """The text's token ids as a turn is fed (special tokens parsed, no BOS)."""
        return self._llm.tokenize(text.encode(), add_bos=False, special=True)

    def conversation_ids(self, history: tuple[Exchange, ...], question: str) -> list[int]:
        return self.layout.conversation_ids(history, question, self.tokens)

    def _prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...] = (),
                 answer_room: int = ANSWER_ROOM) -> tuple[int, int]:
        """The image prefix (reused when the cache holds it), the conversation so far (what the cache already
        holds of it is kept), then the question. Returns (room left for the answer, earlier exchanges used):
        the oldest exchanges are dropped when the context would not leave ``answer_room``."""
        llm = self._llm
        ids, used = self.layout.fitted(history, question, self.tokens, image.state.n_pos, llm.n_ctx(), answer_room)
        fresh = not (self._kv_image is image and image.state.chunks is not None)
        if not fresh:
            same = kept_prefix(self._kv_ids, ids)
            if same < len(self._kv_ids):
                self._rewind_to(image, same)
        new = ids if fresh else ids[len(self._kv_ids):]
        room = llm.n_ctx() - (image.state.n_pos if fresh else llm.n_tokens) - len(new)
        if room < 8:
            raise VitrineError("the question does not fit in the model's context with this image: ask something "
                               "shorter or use fewer tiles")
        try:
            # a new frame: the image prefix, and the question with the text after the image in one batch
            if not (fresh and self._eval_image_prefix(image, then=new)):
                self._eval(new)
        except BaseException:
            self._kv_image = None            # the cache's content is unknown now: start clean next time
            self._kv_head = []
            raise
        self._kv_ids.extend(new)
        return room, used

    # ------------------------------------------------------------------ decoding (engine/runtime/decoding.py)
    def prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...],
                answer_room: int) -> Prefilled:
        room, used = self._prefill(image, question, history, answer_room)
        policy = self._threads_policy
        if policy is not None:
            self._use_decode_threads(policy.start())
        return Prefilled(logits=self._logits_view(), step=self._step, prompt_tokens=self._llm.n_tokens,
                         history_used=used, room=room, done=self._decoded, feed=self._feed)

    def _logits_view(self) -> np.ndarray:
        """The last position's logits, where llama.cpp keeps them (valid until the next eval)."""
        return np.ctypeslib.as_array(self._llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1),
                                     shape=(self._n_vocab,))

    def _step(self, tok: int) -> np.ndarray:
        t_tok = time.perf_counter()
        self._llm.eval([tok])
        self._kv_ids.append(tok)
        if self._threads_policy is not None:
            self._use_decode_threads(self._threads_policy.observe(time.perf_counter() - t_tok))
        return self._logits_view()

    def _feed(self, tokens) -> np.ndarray:
        """Several answer tokens in one batch (a constraint's forced run): the last one's next logits."""
        self._eval(list(tokens))
        self._kv_ids.extend(tokens)
        return self._logits_view()

    def _decoded(self) -> None:
        policy = self._threads_policy
        if policy is not None and policy.best != self.decode_threads:
            self.decode_threads, self.decode_threads_reason = policy.best, policy.reason()
            log.info("decode threads now %d (%s)", self.decode_threads, self.decode_threads_reason)

    @property
    def end_tokens(self) -> tuple[int, ...]:
        return (self._llm.token_eos(),)

    def is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def detokenize(self, ids) -> str:
        return b"".join(map(self._piece, ids)).decode("utf-8", errors="replace")

    def _piece(self, tok: int) -> bytes:
        """A token's bytes (llama.cpp's detokenize is each token's piece, joined), kept: the loop decodes a short
        window of tokens at every step, and a ctypes call per token would show at a tiny model's speed."""
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self._llm.detokenize([tok])
        return piece

    def constraint_for(self, node):
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
        return self._logits_view().copy()

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
