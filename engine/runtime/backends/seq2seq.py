"""Encoder-decoder VQA models through transformers ``generate`` (BLIP VQA, Pix2Struct/MatCha): the brief's two
baselines, so its comparison can be re-run on the same question sets. The family's reference says which model
class and how the processor takes an image and a question."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from engine.media.frames import Frame
from engine.runtime.backends.base import Backend, EncodedImage, GenerationOptions, GenerationStats, OnToken


class _Clock:
    """A generate() streamer that times the first answer token and passes text on as it comes."""

    def __init__(self, tokenizer, on_token: OnToken | None):
        self.tokenizer, self.on_token = tokenizer, on_token
        self.first: float | None = None
        self.ids: list[int] = []
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:          # the first call carries the decoder's start token(s)
            self._prompt_seen = True
            return
        for i in value.reshape(-1).tolist():
            if self.first is None:
                self.first = time.perf_counter()
            self.ids.append(int(i))
            if self.on_token:
                self.on_token(self.tokenizer.decode([int(i)], skip_special_tokens=True))

    def end(self) -> None:          # part of generate()'s streamer protocol
        pass


def _stop_when(cancel: threading.Event | None):
    """generate()'s stopping criterion for the Stop button."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return bool(cancel is not None and cancel.is_set())
    return StoppingCriteriaList([Stop()])


class Seq2SeqBackend(Backend):
    languages = ("en",)

    def __init__(self, checkpoint: Path | str, reference, threads: int | None = None):
        import torch
        self._torch = torch
        torch.set_num_threads(threads or os.cpu_count() or 2)
        checkpoint = Path(checkpoint)
        self.reference = reference
        self.model_id = checkpoint.name
        self.model = reference.load_model(checkpoint).eval()
        self.processor = reference.load_processor(checkpoint)

    def encode(self, frame: Frame) -> EncodedImage:
        from PIL import Image
        # the processor resizes (and, for Pix2Struct, renders the question above the image): keep the frame
        return EncodedImage(key=frame.key, n_tokens=0, encode_s=0.0, state=Image.fromarray(frame.rgb))

    def generate(self, image: EncodedImage, question: str, options: GenerationOptions,
                 on_token: OnToken | None = None, cancel: threading.Event | None = None,
                 history: tuple = ()) -> GenerationStats:
        """Single-turn: a reference answers each question on its own (``history`` is not used)."""
        tok = self.processor.tokenizer
        clock = _Clock(tok, on_token)
        t0 = time.perf_counter()
        inputs = self.reference.inputs(self.processor, image.state, question)
        with self._torch.inference_mode():
            self.model.generate(**inputs, max_new_tokens=options.max_tokens, do_sample=False, num_beams=1,
                                streamer=clock, stopping_criteria=_stop_when(cancel))
        end = time.perf_counter()
        first = clock.first or end
        special = set(tok.all_special_ids)
        ids = [i for i in clock.ids if i not in special]
        return GenerationStats(prefill_s=first - t0, ttft_s=first - t0, decode_s=end - first, n_tokens=len(ids),
                               text=tok.decode(ids, skip_special_tokens=True).strip(),
                               stopped=bool(cancel is not None and cancel.is_set()), token_ids=ids)
