"""Offline translation: the bundled Bergamot models, argostranslate packages, the glossary, no network ever."""
import socket
import zipfile

import numpy as np
import pytest

from engine.errors import VitrineError
from engine.language import detect_language
from engine.translate import (ArgosTranslator, BundledTranslator, SentenceStream, argos_dir,
                              default_glossary, load_translator)
from tests.conftest import run_cli


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    attempts = []

    def refuse(*a, **k):
        attempts.append(a)
        raise AssertionError(f"network access attempted: {a}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == []


@pytest.fixture(scope="module")
def bundled():
    return BundledTranslator(default_glossary())


def test_bundled_translates_real_sentences_offline(bundled, no_network):
    assert "vestido" in bundled.translate("a red floral dress", "en", "pt")
    out = bundled.translate("The pants are navy blue and the blouse is beige.", "en", "pt").lower()
    assert "calça" in out and "blusa" in out and "azul" in out
    q = bundled.translate("Qual é a cor da calça?", "pt", "en").lower()
    assert "color" in q and "pants" in q


def test_glossary_fixes_what_generic_models_get_wrong(bundled):
    out = bundled.translate("She is wearing ankle boots and a crossbody bag.", "en", "pt")
    assert "botas de cano curto" in out and "bolsa transversal" in out
    assert "tornozelo" not in out and "saco" not in out


def test_glossary_post_edit_never_edits_its_own_fix():
    g = default_glossary()
    fixed = g.fix("a hoodie and a bag", "um hoodie e um saco", "en", "pt")
    assert fixed == "um moletom com capuz e um bolsa"


def test_store_glossary_extends_the_bundled_one(vitrine_home):
    vitrine_home.mkdir(parents=True, exist_ok=True)
    (vitrine_home / "glossary.tsv").write_text("en\tpt\twrong_pt\twrong_en\nscrunchie\tfrufru\tscrunchie\t\n")
    g = default_glossary()
    assert any(e.en == "scrunchie" for e in g.entries) and any(e.en == "ankle boots" for e in g.entries)


def test_argos_package_installs_and_translates_offline(tiny_argos, no_network):
    tr = ArgosTranslator(argos_dir())
    assert tr.install(tiny_argos / "translate-en_pt-0_1.argosmodel") == ("en", "pt")
    assert tr.install(tiny_argos / "translate-pt_en-0_1.argosmodel") == ("pt", "en")
    assert set(tr.pairs()) == {("en", "pt"), ("pt", "en")}
    assert tr.translate("what color is the shirt", "en", "pt") == "qual é a cor da camisa"
    assert tr.translate("a camisa é azul", "pt", "en") == "the shirt is blue"
    # with both directions installed, argos becomes the active translator
    assert isinstance(load_translator(), ArgosTranslator)


def test_argos_missing_pair_and_fallback(tiny_argos):
    tr = ArgosTranslator(argos_dir())
    tr.install(tiny_argos / "translate-en_pt-0_1.argosmodel")
    assert isinstance(load_translator(), BundledTranslator)     # one direction only: bundled stays active
    with pytest.raises(VitrineError, match="cannot translate pt->en"):
        load_translator("argos").translate("a camisa é azul", "pt", "en")


def test_corrupt_argosmodel_is_refused_whole(tmp_path):
    tr = ArgosTranslator(argos_dir())
    junk = tmp_path / "junk.argosmodel"
    junk.write_bytes(b"not a zip" * 100)
    with pytest.raises(VitrineError, match="not a zip"):
        tr.install(junk)
    empty = tmp_path / "empty.argosmodel"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(VitrineError, match="not an argos translation package"):
        tr.install(empty)
    assert tr.pairs() == []


def test_bad_text(bundled):
    with pytest.raises(VitrineError, match="empty"):
        bundled.translate("   ", "en", "pt")
    with pytest.raises(VitrineError, match="cannot translate en->fr"):
        bundled.translate("hello", "en", "fr")


def test_language_detection():
    for q in ("Quais itens estão nesta imagem?", "Qual é a cor da calça?", "Descreva os detalhes da blusa",
              "Qual é a cor da bolsa?"):
        assert detect_language(q) == "pt", q
    for q in ("What color are the pants?", "Describe the blouse", "What is she wearing?"):
        assert detect_language(q) == "en", q


def test_sentence_stream_translates_complete_sentences_as_they_come():
    out = []
    s = SentenceStream(lambda t: t.upper(), out.append)
    for piece in ["The pan", "ts are blue", ". The bag", " is red."]:
        s.feed(piece)
    assert out == ["THE PANTS ARE BLUE. "]
    assert s.close() == "THE PANTS ARE BLUE. THE BAG IS RED."


def test_portuguese_question_goes_to_the_model_in_english(tiny_gguf, no_network):
    from engine.backends import GenerationOptions, load_backend
    from engine.frames import Frame
    from engine.session import Session
    b = load_backend(str(tiny_gguf))
    try:
        pieces = []
        a = Session(b).ask(Frame(np.zeros((64, 64, 3), np.uint8), "z"), "Qual é a cor da calça?",
                           GenerationOptions(max_tokens=20), on_token=pieces.append)
    finally:
        b.close()
    assert a.question_lang == "pt" and a.answer_lang == "pt"
    assert "color" in a.question_model.lower() and "pants" in a.question_model.lower()
    assert a.text_model and "".join(pieces).strip() == a.text


def test_translate_cli(tiny_argos):
    r = run_cli("translate", "a red floral dress", "--to", "pt")
    assert r.returncode == 0 and "vestido" in r.stdout
    r = run_cli("translate", "install", tiny_argos / "translate-en_pt-0_1.argosmodel")
    assert r.returncode == 0 and "installed en->pt" in r.stdout
    assert "en->pt 0.1" in run_cli("translate", "list").stdout
    r = run_cli("translate", "")
    assert r.returncode == 2 and r.stderr.strip() == "vitrine: nothing to translate: the text is empty"
    r = run_cli("translate", "install", tiny_argos / "missing.argosmodel")
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
