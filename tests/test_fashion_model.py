"""A model that answers right: the tiny SmolVLM fine-tuned on the synthetic fashion set (the proof's training),
asked about a red shirt through every path a user has. Real answers, not shapes."""
import json
import random

import pytest

from engine.media.frames import Frame
from tests.helpers import run_cli
from tests.fixtures import models

EN, PT = "What color is the shirt?", "Qual é a cor da camisa?"


@pytest.fixture(scope="module")
def fashion_gguf():
    return models.fashion_export("gguf")


@pytest.fixture(scope="module")
def fashion_onnx():
    return models.fashion_export("onnx")


@pytest.fixture(scope="module")
def red_shirt(tmp_path_factory):
    from export.datasets.synth import draw
    path = tmp_path_factory.mktemp("look") / "red-shirt.png"
    draw("shirt", "red", "plain", "long", random.Random(7), 256).save(path)
    return path


def ask(model_folder, image, question, **kw):
    import numpy as np
    from PIL import Image

    from engine.runtime.backends import GenerationOptions, load_backend
    from engine.runtime.session import AskOptions, Session
    session = Session(load_backend(str(model_folder), threads=2))
    try:
        frame = Frame(rgb=np.asarray(Image.open(image).convert("RGB")), source=str(image))
        return session.ask(frame, question, AskOptions(GenerationOptions(max_tokens=8)), **kw).text
    finally:
        session.close()


def test_gguf_answers_red(fashion_gguf, red_shirt):
    assert ask(fashion_gguf, red_shirt, EN).strip().lower() == "red"


def test_onnx_int8_answers_red(fashion_onnx, red_shirt):
    assert ask(fashion_onnx, red_shirt, EN).strip().lower() == "red"


def test_portuguese_question_gets_vermelha_through_translation(fashion_gguf, red_shirt):
    """The question is translated for the English-only model; its one-word answer comes back in the store's
    words, agreeing with "a camisa"."""
    assert ask(fashion_gguf, red_shirt, PT).strip().lower() == "vermelha"


def test_the_transformers_checkpoint_answers_red(red_shirt):
    import numpy as np
    from PIL import Image

    from engine.runtime.backends import GenerationOptions
    from engine.runtime.backends.reference import open_checkpoint
    from engine.runtime.session import AskOptions, Session
    session = Session(open_checkpoint(models.fashion_checkpoint(), threads=2))
    frame = Frame(rgb=np.asarray(Image.open(red_shirt).convert("RGB")))
    assert session.ask(frame, EN, AskOptions(GenerationOptions(max_tokens=8))).text.strip().lower() == "red"


def test_cli_answers_in_both_languages(fashion_gguf, red_shirt):
    r = run_cli("ask", red_shirt, EN, "--model", fashion_gguf, "--max-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().lower().endswith("red")
    assert "[measured colours: red" in r.stderr        # what the pixels say, beside the model's word
    r = run_cli("ask", red_shirt, PT, "--model", fashion_gguf, "--max-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().lower().endswith("vermelha")
    assert "[cores medidas: vermelho" in r.stderr


def test_colour_answers_carry_the_measured_colours_and_others_do_not(fashion_gguf, red_shirt):
    import numpy as np
    from PIL import Image

    from engine.runtime.backends import GenerationOptions, load_backend
    from engine.runtime.session import AskOptions, Session
    session = Session(load_backend(str(fashion_gguf), threads=2))
    try:
        frame = Frame(rgb=np.asarray(Image.open(red_shirt).convert("RGB")), source=str(red_shirt))
        answer = session.ask(frame, PT, AskOptions(GenerationOptions(max_tokens=8)))
        assert [(c.en, c.pt_f) for c in answer.colors][:1] == [("red", "vermelha")]
        assert answer.to_dict()["colors"][0]["share"] > 0.5
        assert session.ask(frame, "What is this garment?", AskOptions(GenerationOptions(max_tokens=8))).colors == []
    finally:
        session.close()


def test_app_answers_vermelha(qtbot, fashion_gguf, red_shirt, vitrine_home, tmp_path):
    from engine.models.store import ModelStore
    from tests.test_desktop import make_window, open_and_wait
    ModelStore(vitrine_home / "models").import_folder("fashion-tiny", fashion_gguf)
    w = make_window(qtbot, vitrine_home, tmp_path)
    try:
        open_and_wait(qtbot, w, red_shirt)
        w.question.setText(PT)
        w.ask(PT)
        qtbot.waitUntil(lambda: not w.busy, timeout=60_000)
        assert w.answer.toPlainText().strip().lower() == "vermelha"
    finally:
        w.close()


def test_app_describe_fills_a_card_to_copy(qtbot, fashion_gguf, red_shirt, vitrine_home, tmp_path):
    from PySide6.QtGui import QGuiApplication

    from engine.models.store import ModelStore
    from tests.test_desktop import make_window, open_and_wait
    ModelStore(vitrine_home / "models").import_folder("fashion-tiny", fashion_gguf)
    w = make_window(qtbot, vitrine_home, tmp_path)
    try:
        open_and_wait(qtbot, w, red_shirt)
        with qtbot.waitSignal(w.engine.described, timeout=60_000):
            w.describe_panel.describe_button.click()
        d = w.describe_panel.description
        assert d.attributes["colours"] and d.measured_colors[0].en == "red"
        card = w.describe_panel.card.toPlainText()
        assert card.startswith(d.description_pt) and "Cores medidas: vermelho" in card
        assert w.describe_panel.copy() == QGuiApplication.clipboard().text() == card
        assert json.loads(w.describe_panel.copy(as_json=True))["attributes"] == d.attributes
    finally:
        w.close()
