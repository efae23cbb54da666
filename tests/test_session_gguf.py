"""The GGUF backend and the session, on a tiny random SmolVLM exported with the real converter."""
import threading

import numpy as np
import pytest

from engine.errors import VitrineError
from engine.media.frames import Frame, Region
from engine.runtime.backends import GenerationOptions, load_backend
from engine.runtime.backends.gguf import GgufBackend
from engine.runtime.session import AskOptions, Session
from engine.settings import Settings

OPTS = GenerationOptions(max_tokens=12, ban_eos=True)   # random weights: always generate 12 tokens
ASK = AskOptions(OPTS)


def frame(seed: int = 0, size=(90, 120)) -> Frame:
    return Frame(np.random.RandomState(seed).randint(0, 255, (*size, 3), dtype=np.uint8), f"random-{seed}")


@pytest.fixture(scope="module")
def backend(tiny_gguf):
    b = load_backend(str(tiny_gguf), threads=2, settings=Settings.from_env())
    yield b
    b.close()


@pytest.fixture
def count_encoder(backend, monkeypatch):
    """Counts real calls into libmtmd's vision encoder."""
    calls = []
    real = backend._mtmd.mtmd_encode_chunk
    monkeypatch.setattr(backend._mtmd, "mtmd_encode_chunk", lambda *a: calls.append(1) or real(*a))
    return calls


def test_answer_streams_token_by_token(backend):
    pieces = []
    answer = Session(backend, settings=Settings.from_env()).ask(
        frame(), "What color are the pants?", ASK, on_token=pieces.append)
    assert answer.timings.n_tokens == 12
    assert len(pieces) >= 2 and "".join(pieces).strip() == answer.text
    t = answer.timings
    assert t.image_encode_s > 0 and t.ttft_s >= t.image_encode_s and t.decode_tok_s > 0
    assert answer.model == "tiny" and not answer.reused_image


def test_follow_up_on_same_frame_skips_the_image_encoder(backend, count_encoder):
    s = Session(backend, conversation_turns=0,
                settings=Settings.from_env())       # each question on its own: the same question, the same answer
    f = frame(1)
    first = s.ask(f, "What color are the pants?", ASK)
    assert len(count_encoder) == 1
    second = s.ask(f, "Describe the blouse.", ASK)
    again = s.ask(f, "What color are the pants?", ASK)
    assert len(count_encoder) == 1 and s.encodes == 1           # the encoder never ran again
    assert second.reused_image and again.reused_image and second.timings.image_encode_s == 0
    # reusing the cached image prefix must not change the answer
    assert again.text == first.text


def test_a_new_frame_is_encoded_and_earlier_frames_stay_cached(backend, count_encoder):
    s = Session(backend, cache_frames=2, conversation_turns=0, settings=Settings.from_env())
    a, b, c = frame(2), frame(3), frame(4)
    ans_a = s.ask(a, "What is this?", ASK)
    s.ask(b, "What is this?", ASK)
    back = s.ask(a, "What is this?", ASK)        # cached, but no longer in the KV cache: re-prefilled
    assert len(count_encoder) == 2 and back.reused_image and back.text == ans_a.text
    s.ask(c, "What is this?", ASK)               # evicts b (least recently used)
    s.ask(b, "What is this?", ASK)
    assert len(count_encoder) == 4


def test_crop_is_a_different_image(backend):
    s = Session(backend, settings=Settings.from_env())
    f = frame(5)
    s.ask(f, "What is this?", ASK)
    crop = s.ask(f.crop(Region(10, 10, 50, 40)), "What is this?", ASK)
    assert not crop.reused_image and s.encodes == 2


def test_stop_mid_answer(backend):
    cancel = threading.Event()
    got = []

    def on_token(piece):
        got.append(piece)
        if len(got) == 3:
            cancel.set()
    answer = Session(backend, settings=Settings.from_env()).ask(frame(6), "Describe everything.",
                                  AskOptions(GenerationOptions(max_tokens=50, ban_eos=True)), on_token=on_token,
                                  cancel=cancel)
    assert answer.stopped and answer.timings.n_tokens < 50


def test_more_tiles_mean_more_image_tokens(tiny_gguf):
    one = GgufBackend(tiny_gguf / "text-Q8_0.gguf", tiny_gguf / "mmproj-f16.gguf", tiles=1)
    four = GgufBackend(tiny_gguf / "text-Q8_0.gguf", tiny_gguf / "mmproj-f16.gguf", tiles=4)
    try:
        f = frame(7, size=(256, 256))
        n1, n4 = one.encode(f).n_tokens, four.encode(f).n_tokens
        assert n1 == one.tokens_per_tile                      # one view, as transformers' unsplit prompt
        assert n4 == 5 * one.tokens_per_tile                  # 2x2 slices + overview
        assert Session(four, settings=Settings.from_env()).ask(f, "What is this?", ASK).timings.n_tokens == 12
    finally:
        one.close()
        four.close()


def test_f16_gguf_answers_like_transformers(tiny_checkpoint, tiny_gguf_f16):
    """The export and the single-view prompt layout are right: same greedy tokens as the original model."""
    from engine.runtime.backends.torch import TorchBackend
    ref = TorchBackend(tiny_checkpoint, threads=2)
    ours = load_backend(str(tiny_gguf_f16), threads=2, settings=Settings.from_env())
    try:
        f = frame(8, size=(64, 64))      # exactly one tile: no resampling differences
        opts = GenerationOptions(max_tokens=16, ban_eos=True)
        want = ref.generate(ref.encode(f), "What color are the pants?", opts).token_ids
        got = ours.generate(ours.encode(f), "What color are the pants?", opts).token_ids
        assert got == want
    finally:
        ours.close()


def test_question_checks():
    from engine.runtime.session import check_question
    with pytest.raises(VitrineError, match="empty"):
        check_question("   ")
    with pytest.raises(VitrineError, match="too long"):
        check_question("why " * 400)
    assert check_question("  Qual é   a cor? ") == "Qual é a cor?"


def test_gguf_without_projector_is_explained(tiny_gguf, tmp_path):
    lone = tmp_path / "text.gguf"
    lone.write_bytes((tiny_gguf / "text-Q8_0.gguf").read_bytes())
    with pytest.raises(VitrineError, match="no vision projector.*--mmproj"):
        load_backend(str(lone), settings=Settings.from_env())


def test_projector_given_as_model_is_explained(tiny_gguf):
    with pytest.raises(VitrineError, match="vision projector .*not a text model"):
        GgufBackend(tiny_gguf / "mmproj-f16.gguf", tiny_gguf / "mmproj-f16.gguf")


def test_a_prepared_frame_is_ready_when_the_question_comes(backend, count_encoder):
    session = Session(backend, settings=Settings.from_env())
    ready = threading.Event()
    session.on_prepared = lambda key: ready.set()
    f = frame(40)
    session.prepare(f)
    assert ready.wait(60) and session.is_prepared(f)
    answer = session.ask(f, "What is this?", AskOptions(OPTS, translate=False))
    assert answer.reused_image and answer.timings.image_encode_s == 0.0
    assert len(count_encoder) == 1
    session.prepare(f)                       # already encoded: nothing to do
    session.stop_preparing()
    session.forget()


def test_the_newest_pick_wins_and_a_question_drops_what_it_does_not_need(backend, count_encoder):
    import time
    session = Session(backend, settings=Settings.from_env())
    a, b, c, d = frame(41), frame(42), frame(43), frame(44)
    with session._lock:                      # the backend is busy: picks pile up
        session.prepare(a)
        deadline = time.time() + 10
        while session.pending is not None and time.time() < deadline:
            time.sleep(0.01)                 # the encoder took a and waits for the backend
        session.prepare(b)
        session.prepare(c)                   # b was never started: c replaces it
        asker = threading.Thread(target=lambda: session.ask(d, "What is this?", AskOptions(OPTS, translate=False)))
        asker.start()
        deadline = time.time() + 10
        while session.pending is not None and time.time() < deadline:
            time.sleep(0.01)                 # the question about d dropped c
    asker.join(60)
    time.sleep(0.5)
    assert session.is_prepared(a) and session.is_prepared(d)
    assert not session.is_prepared(b) and not session.is_prepared(c)
    session.stop_preparing()
    session.forget()


def test_closing_stops_the_encoder_thread(tiny_gguf):
    settings = Settings.from_env()
    session = Session(load_backend(str(tiny_gguf), threads=2, settings=settings), settings=settings)
    session.prepare(frame(45))
    thread = session.encoder_thread
    session.close()
    assert not thread.is_alive()


def test_decode_threads_are_measured_when_the_model_loads(tiny_gguf):
    from engine.models.manifest import Manifest
    m = Manifest.load(tiny_gguf)
    paths = tiny_gguf / m.files["model"].path, tiny_gguf / m.files["mmproj"].path
    with GgufBackend(*paths, threads=2) as b:
        assert b.decode_threads in (1, 2) and "1 thread" in b.decode_threads_reason and "tok/s" in b.decode_threads_reason
        # the probe leaves nothing behind: the first answer is the same as on a backend that was told
        a = Session(b, settings=Settings.from_env()).ask(frame(9), "What is this?", AskOptions(OPTS, translate=False))
    with GgufBackend(*paths, threads=2, decode_threads=1) as told:
        assert told.decode_threads_reason == "given"
        assert Session(told, settings=Settings.from_env()).ask(
            frame(9), "What is this?", AskOptions(OPTS, translate=False)).text == a.text


def test_a_new_frame_takes_its_question_in_one_batch_with_the_text_after_the_image(backend, monkeypatch):
    """A new frame's question is evaluated together with the prompt's text after the image (one llama.cpp batch
    fewer: ~10 ms on SmolVLM-256M), and the answer starts from the same logits, to the bit, as when the two are
    evaluated one after the other (the image prefix alone, as encode-ahead does, then the question)."""
    image = backend.encode(frame(60))
    steps = image.state.steps
    assert steps[-1].chunk is None and steps[-1].tokens, "no text after the image: this test cannot fail"
    question = "What color are the pants?"
    ids = backend.conversation_ids((), question)
    batches = []
    real = backend._llm.eval
    monkeypatch.setattr(backend._llm, "eval", lambda toks: batches.append(list(toks)) or real(toks))
    merged = backend.first_token_logits(image, question)
    assert batches[-1] == steps[-1].tokens + ids                # one batch: the text after the image + question
    monkeypatch.setattr(backend._llm, "eval", real)
    apart = backend.teacher_forced_logits(image, question, [])[0]      # the prefix, then the question on its own
    assert np.array_equal(merged, apart)
    # a frame taken in ahead (encode-ahead): the question adds only itself, to the same logits
    backend.take_in(image)
    monkeypatch.setattr(backend._llm, "eval", lambda toks: batches.append(list(toks)) or real(toks))
    batches.clear()
    assert np.array_equal(backend.first_token_logits(image, question), merged) and batches == [ids]
