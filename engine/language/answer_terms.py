"""Short answers in the store's own Portuguese words, agreeing with the garment the question names.

A one-word English answer is where generic translation fails most ("red" -> "vermelho" for "a camisa", "plain"
-> "simples", "pink" -> "cor de rosa"): when the whole answer is a term of the fashion vocabulary, it is rendered
from the vocabulary instead, in the gender and number of the garment the Portuguese question asks about
("Qual é a cor da camisa?" + "red" -> "vermelha"; "dos sapatos?" -> "vermelhos"). Modifiers the vocabulary
lacks ("light blue", "navy and white") come from the answers' lexicon, agreeing the same way (engine.language.noun_phrase).
Anything longer goes to the translator.
"""
from __future__ import annotations

import re
import unicodedata

from engine.language.glossary import Glossary
from engine.language.noun_phrase import render
from engine.language.translate import ASSETS
from engine.language.vocabulary import ALIASES, COLOURS, FABRICS, GARMENTS, PATTERNS, SLEEVES, Noun

_LEADING = re.compile(r"^(?:it is|it's|they are|they're|the|an|a)\s+", re.IGNORECASE)


def _plain(text: str) -> str:
    text = _LEADING.sub("", " ".join(text.lower().replace("colour", "color").split()))
    return text.strip(" .!?,;:\"'")


def _fold(text: str) -> str:
    """Lower case without accents, for finding a garment noun in a question however it was typed."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


_NOUNS = sorted({n.pt: n for n in GARMENTS.values()}.values(), key=lambda n: -len(n.pt))


def garment_in(question_pt: str) -> Noun | None:
    """The vocabulary garment a Portuguese question names (the longest match: "calça jeans" before "calça")."""
    q = _fold(question_pt)
    for noun in _NOUNS:
        if re.search(rf"(?<!\w){re.escape(_fold(noun.pt))}(?!\w)", q):
            return noun
    return None


def _canonical(attribute: str, word: str) -> str:
    return ALIASES.get(attribute, {}).get(word, word)


def to_portuguese(answer_en: str, question_pt: str) -> str | None:
    """The vocabulary's Portuguese for a one-term English answer, or None when the answer is not one term."""
    word = _plain(answer_en)
    if not word or len(word) > 40:
        return None
    noun = garment_in(question_pt) or Noun("", False)      # no garment named: the masculine singular form
    for table in (COLOURS, PATTERNS):
        attribute = "colour" if table is COLOURS else "pattern"
        key = _canonical(attribute, word.replace("color", "colour"))
        if key in table:
            return table[key].agree(noun)
    garment = _canonical("garment", word)
    if garment in GARMENTS:
        return GARMENTS[garment].pt
    sleeve = _canonical("sleeve", word.removesuffix(" sleeves").removesuffix(" sleeve"))
    if sleeve in SLEEVES:
        return SLEEVES[sleeve]
    fabric = _canonical("fabric", word)
    if fabric in FABRICS:
        return FABRICS[fabric]
    return _modifiers(word, noun)


_PARSER = None


def _modifiers(text: str, noun: Noun) -> str | None:
    """Modifiers with no noun in the answers' lexicon ("light blue", "navy and white", "striped"), agreeing with
    the garment the question names ("azul-clara" for "a camisa")."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Glossary.load(ASSETS / "glossary.tsv").parser
    phrases = _PARSER.find(text)
    if len(phrases) != 1 or (phrases[0].start, phrases[0].end) != (0, len(text)) or \
            phrases[0].run is None and not (phrases[0].head.part and not phrases[0].premods):
        return None             # a pattern or fabric named as a noun ("houndstooth") is fine too
    phrase = phrases[0]
    phrase.subject = (noun.feminine, noun.plural)
    return render(phrase)
