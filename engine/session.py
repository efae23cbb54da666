"""A conversation about frames: encodes each frame once, answers any number of questions about it."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from .answer import Answer, Timings
from .backends.base import Backend, EncodedImage, GenerationOptions, OnToken
from .errors import VitrineError
from .frames import Frame

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


def check_question(question: str) -> str:
    q = " ".join((question or "").split())
    if not q:
        raise VitrineError("the question is empty: type what you want to know about the frame")
    if len(q) > MAX_QUESTION_CHARS:
        raise VitrineError(f"the question is too long ({len(q)} characters, at most {MAX_QUESTION_CHARS}): "
                           "ask something shorter")
    return q


class Session:
    """Ask questions about frames with one backend.

    The last ``cache_frames`` encoded frames are kept: a follow-up question about a frame already seen skips
    the vision encoder (and, on the GGUF backend, the image prefill as well).
    """

    def __init__(self, backend: Backend, cache_frames: int = 4):
        self.backend = backend
        self.cache_frames = max(1, cache_frames)
        self._images: OrderedDict[str, EncodedImage] = OrderedDict()
        self._lock = threading.Lock()     # one question at a time per backend
        self.encodes = 0                  # how many times the vision encoder ran (for tests and the UI)

    def encoded(self, frame: Frame) -> tuple[EncodedImage, bool]:
        """The frame's encoded image and whether it came from the cache."""
        key = frame.key
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key], True
        image = self.backend.encode(frame)
        self.encodes += 1
        self._images[key] = image
        while len(self._images) > self.cache_frames:
            _, old = self._images.popitem(last=False)
            old.release()
        return image, False

    def ask(self, frame: Frame, question: str, options: GenerationOptions | None = None,
            on_token: OnToken | None = None, cancel: threading.Event | None = None) -> Answer:
        question = check_question(question)
        options = options or GenerationOptions()
        with self._lock:
            t0 = time.perf_counter()
            image, reused = self.encoded(frame)
            encode_s = 0.0 if reused else time.perf_counter() - t0
            stats = self.backend.generate(image, question, options, on_token=on_token, cancel=cancel)
            total = time.perf_counter() - t0
        decode_rate = (stats.n_tokens - 1) / stats.decode_s if stats.n_tokens > 1 and stats.decode_s > 0 else 0.0
        timings = Timings(image_encode_s=encode_s, prefill_s=stats.prefill_s, ttft_s=encode_s + stats.ttft_s,
                          decode_tok_s=decode_rate, n_tokens=stats.n_tokens, total_s=total)
        log.info("answered in %.2fs (encode %.2fs%s, ttft %.2fs, %.1f tok/s)", total, encode_s,
                 " reused" if reused else "", timings.ttft_s, decode_rate)
        return Answer(question=question, text=stats.text.strip(), model=self.backend.model_id,
                      frame=frame.describe(), frame_key=frame.key, timings=timings, reused_image=reused,
                      stopped=stats.stopped)

    def forget(self) -> None:
        with self._lock:
            for image in self._images.values():
                image.release()
            self._images.clear()

    def close(self) -> None:
        self.forget()
        self.backend.close()
