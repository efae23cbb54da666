"""The contract every runtime (llama.cpp, onnxruntime, transformers) fulfils."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.runtime.backends.chat_layout import Exchange

OnToken = Callable[[str], None]


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


@dataclass
class GenerationStats:
    prefill_s: float
    ttft_s: float                  # prefill + first token
    decode_s: float                # time after the first token
    n_tokens: int
    text: str
    stopped: bool = False
    token_ids: list[int] = field(default_factory=list)   # the answer's tokens, for parity checks
    history_used: int = 0          # earlier exchanges about the frame the model saw with the question
    truncated: bool = False        # the token budget ended it (a schema answer was closed early to stay valid)
    prompt_tokens: int = 0         # what the model read before answering: image + conversation + question (0: unknown)


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 256
    ban_eos: bool = False          # benchmarks on random weights: generate exactly max_tokens
    constraint: object = None      # an engine.runtime.constrained.TokenConstraint: only what a JSON schema allows
    temperature: float = 0.0       # 0: greedy (the default everywhere); above 0 only on a backend whose
    top_p: float = 1.0             # ``samples`` is True
    seed: int | None = None        # the same seed, question and image: the same sampled answer

    def picker(self) -> Callable[[np.ndarray], int]:
        """The next token from a step's logits: argmax, or a draw at ``temperature`` from the smallest set of
        tokens holding ``top_p`` of the probability (a fresh generator from ``seed`` per answer)."""
        if self.temperature <= 0:
            return lambda logits: int(np.argmax(logits))
        rng = np.random.default_rng(self.seed)
        t, top_p = self.temperature, self.top_p

        def pick(logits) -> int:
            z = np.asarray(logits, np.float64) / t
            p = np.exp(z - np.max(z))           # masked tokens (-inf) stay at 0
            p /= p.sum()
            if top_p < 1.0:
                order = np.argsort(-p, kind="stable")
                keep = order[:int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1]
                q = np.zeros_like(p)
                q[keep] = p[keep]
                p = q / q.sum()
            return int(rng.choice(len(p), p=p))
        return pick


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
