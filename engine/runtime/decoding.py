"""One decoding loop for every runtime: a runtime prefills, then the loop picks, checks, streams and steps.

Each runtime (llama.cpp, onnxruntime, transformers) gives only what differs between them:

- ``prefill(image, question, history, answer_room)``: the prompt into its cache, returning a :class:`Prefilled`
  (the first answer token's logits, a ``step`` that feeds one token and returns the next logits, and what the
  prompt held);
- ``is_end(token)``, ``end_tokens`` (what ``ban_eos`` masks) and ``detokenize(ids)`` (the text of a run of answer
  tokens; a half UTF-8 character shows as U+FFFD at its end).

The loop owns the rest, the same way for all of them, in small named steps: the answer's budget (``max_tokens``,
the room the context has left), constraint masks (engine.runtime.constrained.TokenConstraint), sampling
(GenerationOptions.picker), the end-of-answer check, first-token timing, streamed text (incremental
detokenisation that never gives out half a character), cancellation and the GenerationStats.

First-token time is taken at one point on every runtime: when the first answer token has been picked, before it
is checked for the end of the answer or turned into text (``ttft_s`` = prefill + the first pick).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

OnToken = Callable[[str], None]

ANSWER_ROOM = 128          # context kept free for an answer before earlier exchanges are dropped


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


@dataclass
class Prefilled:
    """What a runtime's prefill leaves for the loop."""
    logits: np.ndarray                          # the first answer token's logits
    step: Callable[[int], np.ndarray]           # feed one answer token, get the next one's logits
    prompt_tokens: int = 0                      # image + conversation + question (0: unknown)
    history_used: int = 0                       # earlier exchanges the prompt holds
    room: int | None = None                     # positions the context has left for the answer (None: no limit)
    done: Callable[[], None] | None = None      # after the answer, stopped or not (what the cache now holds)
    # feed several answer tokens at once (one batch), get the last one's next logits; None: ``step`` each
    feed: Callable[[Sequence[int]], np.ndarray] | None = None


class Decodable(Protocol):
    """What a runtime gives the loop (see the module's docstring)."""
    end_tokens: Sequence[int]

    def prefill(self, image, question: str, history: tuple, answer_room: int) -> Prefilled: ...

    def is_end(self, token: int) -> bool: ...

    def detokenize(self, ids: Sequence[int]) -> str: ...


class IncrementalText:
    """An answer's text as its tokens come, in pieces that never end in half a UTF-8 character.

    Only a short window of tokens is decoded at each step: the tokens since the last piece given out, after the
    ones before it (a tokenizer that writes a word's leading space only after another token sees one)."""

    def __init__(self, detokenize: Callable[[Sequence[int]], str]):
        self._detokenize = detokenize
        self.ids: list[int] = []
        self.sent = ""                 # the text given out so far
        self._prefix = 0               # the window starts here
        self._read = 0                 # and what it held up to here is given out

    def push(self, token: int) -> str:
        """The new text ``token`` completes ("" while it ends inside a character)."""
        self.ids.append(token)
        before = self._detokenize(self.ids[self._prefix:self._read])
        now = self._detokenize(self.ids[self._prefix:])
        if len(now) <= len(before) or now.endswith("\ufffd"):
            return ""
        piece = now[len(before):]
        self._prefix, self._read = self._read, len(self.ids)
        self.sent += piece
        return piece

    def finish(self) -> tuple[str, str]:
        """(the whole answer's text, what of it is not given out yet)."""
        text = self._detokenize(self.ids)
        return text, text[len(self.sent):] if text.startswith(self.sent) else ""


def answer_room(options: GenerationOptions) -> int:
    """The context a prefill keeps free for the answer: earlier exchanges are dropped before it is."""
    return min(options.max_tokens, ANSWER_ROOM)


def budget(options: GenerationOptions, room: int | None) -> int:
    """How many tokens the answer may have: ``max_tokens``, less where the context has less room."""
    return options.max_tokens if room is None else min(options.max_tokens, room - 1)


def ban_ends(logits: np.ndarray, end_tokens: Sequence[int]) -> np.ndarray:
    """Benchmarks on random weights: never end, so every answer has exactly ``max_tokens`` tokens."""
    logits = logits.copy()
    logits[list(end_tokens)] = -np.inf
    return logits


def generate(runtime: Decodable, image, question: str, options: GenerationOptions,
             on_token: OnToken | None = None, cancel: threading.Event | None = None,
             history: tuple = ()) -> GenerationStats:
    """Answer ``question`` about ``image`` on ``runtime``: ``Backend.generate`` for every token-by-token runtime."""
    t0 = time.perf_counter()
    pre = runtime.prefill(image, question, tuple(history), answer_room(options))
    prefill_s = time.perf_counter() - t0
    pick = options.picker()
    limit = budget(options, pre.room)
    constraint = options.constraint
    forced_of = getattr(constraint, "forced", None)
    if constraint is not None:
        constraint.begin(limit)        # a cut answer is closed, still valid JSON
    text = IncrementalText(runtime.detokenize)
    logits, stopped, t_first = pre.logits, False, None
    for _ in range(limit):
        if constraint is not None:
            if constraint.finished:
                break
            logits = constraint.mask(logits)
        if options.ban_eos:
            logits = ban_ends(logits, runtime.end_tokens)
        tok = pick(logits)
        if t_first is None:
            t_first = time.perf_counter()
        if not options.ban_eos and runtime.is_end(tok):
            break
        if constraint is not None:
            constraint.advance(tok)
        piece = text.push(tok)
        if piece and on_token:
            on_token(piece)
        if cancel is not None and cancel.is_set():
            stopped = True
            break
        fed = [tok]
        # tokens the constraint leaves no choice about are written without asking the model, and fed with the
        # picked one in one batch (ChoiceConstraint: the model runs once per branch of the answer)
        for forced in (forced_of() if forced_of else ())[:max(0, limit - len(text.ids))]:
            constraint.advance(forced)
            piece = text.push(forced)
            if piece and on_token:
                on_token(piece)
            fed.append(forced)
        if len(text.ids) >= limit or (constraint is not None and constraint.finished):
            break                      # the last tokens' logits are not needed: a follow-up's prefill takes them in
        if len(fed) == 1:
            logits = pre.step(tok)
        elif pre.feed is not None:
            logits = pre.feed(fed)
        else:
            for t in fed:
                logits = pre.step(t)
    if pre.done is not None:
        pre.done()
    whole, rest = text.finish()
    if rest and on_token:
        on_token(rest)
    end = time.perf_counter()
    t_first = t_first or end
    ids = text.ids
    truncated = len(ids) >= limit or bool(constraint is not None and constraint.closed_on_budget)
    return GenerationStats(prefill_s=prefill_s, ttft_s=t_first - t0, decode_s=end - t_first, n_tokens=len(ids),
                           text=whole, stopped=stopped, token_ids=list(ids), history_used=pre.history_used,
                           truncated=truncated, prompt_tokens=pre.prompt_tokens)
