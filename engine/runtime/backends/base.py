"""The contract every runtime (llama.cpp, onnxruntime, transformers) fulfils."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.runtime import decoding
from engine.runtime.backends.chat_layout import Exchange
from engine.runtime.decoding import GenerationOptions, GenerationStats, OnToken, Prefilled

__all__ = ["Backend", "DecodingBackend", "EncodedImage", "GenerationOptions", "GenerationStats", "OnToken",
           "Prefilled"]


@dataclass
class EncodedImage:
    """A frame after the vision encoder: reusable for any number of questions about that frame."""
    key: str
    n_tokens: int
    encode_s: float
    state: object = None           # backend-specific (embeddings, chunks...)

    def release(self) -> None:
        """Free native memory held in ``state`` (called when the session forgets the frame)."""
        close = getattr(self.state, "close", None)
        if close:
            close()


class Backend(ABC):
    """Loads one model and answers questions about encoded images. Not thread-safe: one caller at a time."""

    model_id: str = ""
    languages: tuple[str, ...] = ("en",)
    samples: bool = False          # honours GenerationOptions' temperature/top_p/seed (else greedy only)

    @abstractmethod
    def encode(self, frame: Frame) -> EncodedImage:
        """Run the vision encoder on ``frame``."""

    @abstractmethod
    def generate(self, image: EncodedImage, question: str, options: GenerationOptions,
                 on_token: OnToken | None = None, cancel: threading.Event | None = None,
                 history: tuple[Exchange, ...] = ()) -> GenerationStats:
        """Answer ``question`` about ``image``, calling ``on_token`` with each piece of text as it comes.
        ``history``: earlier exchanges about the same image, oldest first; a backend whose model has no
        multi-turn template (or that keeps no conversation) answers without them (``history_used`` says)."""

    def take_in(self, image: EncodedImage) -> None:
        """Put an encoded image into the model's context ahead of a question (encode-ahead calls it); backends
        whose context holds no image prefix do nothing."""

    def constraint_for(self, node) -> object:
        """A TokenConstraint for a compiled JSON schema (engine.runtime.constrained.compile_schema)."""
        raise VitrineError(f"{type(self).__name__} cannot constrain answers to a schema: use a GGUF or ONNX model")

    def close(self) -> None:
        """Free the model."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DecodingBackend(Backend):
    """A runtime that answers token by token through the shared loop (engine/runtime/decoding.py): it gives the
    prefill, the step (in ``Prefilled``), the end tokens and its detokenizer; the loop does the rest."""

    end_tokens: Sequence[int] = ()     # masked under ``ban_eos``

    @abstractmethod
    def prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...],
                answer_room: int) -> Prefilled:
        """The prompt (image, the conversation that fits with ``answer_room`` left, the question) into the
        runtime's cache; the first answer token's logits and the step that feeds the next ones."""

    @abstractmethod
    def is_end(self, token: int) -> bool:
        """Whether ``token`` ends the answer."""

    @abstractmethod
    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of a run of answer tokens (special tokens spell nothing)."""

    def generate(self, image: EncodedImage, question: str, options: GenerationOptions,
                 on_token: OnToken | None = None, cancel: threading.Event | None = None,
                 history: tuple[Exchange, ...] = ()) -> GenerationStats:
        return decoding.generate(self, image, question, options, on_token, cancel, history)
