"""The one decoding loop (engine/runtime/decoding.py) on a scripted runtime: no model is built."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.runtime.backends.chat_layout import ChatLayout, Exchange
from engine.runtime.decoding import ANSWER_ROOM, GenerationOptions, IncrementalText, Prefilled, generate

END = 0
VOCAB = {1: b"a", 2: b"\xc3", 3: b"\xa9", 4: b" b", 5: b"!"}      # 2 + 3: "é" split across two tokens


def detokenize(ids) -> str:
    return b"".join(VOCAB.get(i, b"") for i in ids).decode("utf-8", errors="replace")


class Scripted:
    """A runtime whose model says ``script`` (then the end token), one token per step."""
    end_tokens = (END,)

    def __init__(self, script, room=None, step_s=0.0, detokenize_s=0.0):
        self.script, self.room, self.step_s, self.detokenize_s = list(script), room, step_s, detokenize_s
        self.fed: list[int] = []
        self.done = 0
        self.answer_room = None

    def _logits(self, i: int) -> np.ndarray:
        x = np.zeros(len(VOCAB) + 1, np.float32)
        x[self.script[i] if i < len(self.script) else END] = 1.0
        return x

    def prefill(self, image, question, history, answer_room) -> Prefilled:
        self.answer_room = answer_room

        def step(tok):
            time.sleep(self.step_s)
            self.fed.append(tok)
            return self._logits(len(self.fed))

        def done():
            self.done += 1
        return Prefilled(logits=self._logits(0), step=step, prompt_tokens=7, history_used=1, room=self.room,
                         done=done)

    def is_end(self, token):
        return token == END

    def detokenize(self, ids):
        time.sleep(self.detokenize_s)
        return detokenize(ids)


def run(runtime, options=GenerationOptions(max_tokens=16), cancel=None):
    pieces = []
    stats = generate(runtime, None, "q", options, pieces.append, cancel)
    return stats, pieces


def test_streamed_pieces_never_hold_half_a_character_and_add_up_to_the_text():
    stats, pieces = run(Scripted([1, 2, 3, 4, 2, 3, 5]))
    assert stats.text == "aé bé!" and "".join(pieces) == stats.text
    assert all("\ufffd" not in p for p in pieces)
    assert stats.token_ids == [1, 2, 3, 4, 2, 3, 5] and stats.n_tokens == 7
    assert stats.prompt_tokens == 7 and stats.history_used == 1 and not stats.truncated and not stats.stopped


def test_a_character_left_unfinished_comes_out_replaced_at_the_end():
    stats, pieces = run(Scripted([1, 2]))
    assert stats.text == "a\ufffd" and "".join(pieces) == stats.text


def test_incremental_text_decodes_a_short_window_only():
    seen = []
    text = IncrementalText(lambda ids: seen.append(len(ids)) or detokenize(ids))
    for tok in [1, 4] * 50:
        text.push(tok)
    assert max(seen) <= 3 and text.sent == "a b" * 50


def test_the_budget_is_max_tokens_or_the_room_left_and_the_last_token_is_not_fed():
    rt = Scripted([1] * 50)
    stats, _ = run(rt, GenerationOptions(max_tokens=10))
    assert stats.n_tokens == 10 and stats.truncated and len(rt.fed) == 9 and rt.done == 1
    assert rt.answer_room == 10                          # min(max_tokens, ANSWER_ROOM)
    rt = Scripted([1] * 50, room=5)
    stats, _ = run(rt, GenerationOptions(max_tokens=10))
    assert stats.n_tokens == 4 and stats.truncated       # one position kept back
    rt = Scripted([1] * 300)
    run(rt, GenerationOptions(max_tokens=300))
    assert rt.answer_room == ANSWER_ROOM


def test_the_end_token_ends_the_answer_unless_banned():
    rt = Scripted([1, 1])
    stats, _ = run(rt)
    assert stats.n_tokens == 2 and not stats.truncated and rt.fed == [1, 1]
    stats, _ = run(Scripted([1, 1]), GenerationOptions(max_tokens=6, ban_eos=True))
    assert stats.n_tokens == 6 and END not in stats.token_ids


def test_cancel_stops_after_the_token_it_came_with():
    cancel = threading.Event()
    rt = Scripted([1] * 20)
    pieces = []

    def on_token(p):
        pieces.append(p)
        if len(pieces) == 3:
            cancel.set()
    stats = generate(rt, None, "q", GenerationOptions(max_tokens=20), on_token, cancel)
    assert stats.stopped and stats.n_tokens == 3 and len(rt.fed) == 2 and rt.done == 1


def test_first_token_time_is_taken_when_it_is_picked_before_it_is_turned_into_text():
    # turning a token into text is slow here: the first token's time must not include it
    stats, _ = run(Scripted([1, 1, 1], detokenize_s=0.05))
    assert stats.ttft_s < 0.04 and stats.decode_s >= 0.1
    # an answer that ends at once has its first-token time too (the end token was picked then)
    stats, _ = run(Scripted([], detokenize_s=0.05))
    assert stats.n_tokens == 0 and stats.ttft_s < 0.04


class OnlyA:
    """A constraint that allows token 1 only, three times."""
    closed_on_budget = False

    def begin(self, budget):
        self.budget, self.n = budget, 0

    @property
    def finished(self):
        return self.n >= 3

    def mask(self, logits):
        out = np.full_like(logits, -np.inf)
        out[1] = 0
        return out

    def advance(self, tok):
        assert tok == 1
        self.n += 1


def test_a_constraint_masks_every_step_and_ends_the_answer():
    c = OnlyA()
    stats, _ = run(Scripted([5] * 10, room=9), GenerationOptions(max_tokens=16, constraint=c))
    assert stats.text == "aaa" and c.budget == 8 and not stats.truncated


def test_sampling_goes_through_the_options_picker():
    stats, _ = run(Scripted([1] * 8), GenerationOptions(max_tokens=8, temperature=5.0, seed=3))
    again, _ = run(Scripted([1] * 8), GenerationOptions(max_tokens=8, temperature=5.0, seed=3))
    greedy, _ = run(Scripted([1] * 8), GenerationOptions(max_tokens=8))
    assert stats.token_ids == again.token_ids and greedy.token_ids == [1] * 8 and stats.token_ids != greedy.token_ids


LAYOUT = ChatLayout(head="", question_head="Q:", question_tail="A:", next_head="|Q:", next_tail="A:")


def test_history_is_fitted_by_dropping_the_oldest_exchanges():
    tokens = list     # one token per character
    history = tuple(Exchange(f"q{i}", "x" * 10) for i in range(4))
    ids, used = LAYOUT.fitted(history, "now?", tokens, before=50, n_ctx=200, answer_room=16)
    assert used == 4
    ids, used = LAYOUT.fitted(history, "now?", tokens, before=50, n_ctx=110, answer_room=16)
    assert 0 < used < 4 and 50 + len(ids) + 16 <= 110
    assert "".join(ids).startswith(f"Q:q{4 - used}")
    single = ChatLayout(head="", question_head="Q:", question_tail="A:")
    assert single.fitted(history, "now?", tokens, 0, 1000, 16) == (list("Q:now?A:"), 0)


@pytest.mark.parametrize("runtime", ["gguf", "onnx", "torch"])
def test_every_runtime_answers_through_the_shared_loop(runtime):
    from engine.runtime.backends import base
    from engine.runtime.backends.gguf import GgufBackend
    from engine.runtime.backends.onnx import OnnxBackend
    from engine.runtime.backends.torch import TorchBackend
    cls = {"gguf": GgufBackend, "onnx": OnnxBackend, "torch": TorchBackend}[runtime]
    assert issubclass(cls, base.DecodingBackend) and cls.generate is base.DecodingBackend.generate


MANIFEST = {"name": "m", "runtime": "gguf", "family": "idefics3",
            "files": {r: {"path": f"{r}.gguf", "sha256": "0" * 64, "size": 1} for r in ("model", "mmproj")}}


def test_a_manifest_turns_its_runtime_and_chat_handler_into_enums_and_writes_them_as_text():
    import json

    from engine.errors import VitrineError
    from engine.kinds import ChatHandler, Runtime
    from engine.models.manifest import Manifest
    m = Manifest.from_dict(dict(MANIFEST, chat_handler="minicpmv"))
    assert m.runtime is Runtime.GGUF and m.chat_handler is ChatHandler.MINICPMV
    written = json.loads(m.to_json())
    assert written["runtime"] == "gguf" and written["chat_handler"] == "minicpmv"
    assert Manifest.from_dict(written) == m
    assert Manifest(name="x", runtime="onnx", family="f", files={}, chat_handler="").runtime is Runtime.ONNX
    with pytest.raises(VitrineError, match="'chatml' is not one Vitrine knows"):
        Manifest.from_dict(dict(MANIFEST, chat_handler="chatml"))
