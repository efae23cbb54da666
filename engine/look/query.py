"""What a clerk looks for in a video, as colours and garments: "vestido vermelho", "red dress", "tênis brancos".

Words are read through the vocabulary the rest of the app uses (engine.language.vocabulary's garments, their catalog
spellings and Portuguese nouns; engine.media.colors' table names and the vocabulary's adjectives in every gender and
number), longest phrase first, so "calça jeans" is jeans and "azul-marinho" is navy.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from engine.errors import BadInput
from engine.language import vocabulary as voc
from engine.media.colors import default_table

STOP = {"de", "do", "da", "dos", "das", "com", "e", "a", "o", "as", "os", "um", "uma", "the", "an", "with", "and",
        "in", "em", "no", "na", "cor", "color", "colour"}


def _fold(text: str) -> str:
    """Lower case without accents: a query typed without them ("calca", "tenis") still reads."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, tuple[str, str]]:
    """folded phrase -> ("colour" | "garment", canonical English value)."""
    lex: dict[str, tuple[str, str]] = {}
    for en, noun in voc.GARMENTS.items():
        for w in (en, noun.pt, en + "s", noun.pt + ("" if noun.plural else "s")):
            lex.setdefault(_fold(w), ("garment", en))
    for alias, en in voc.GARMENT_ALIASES.items():
        if en in voc.GARMENTS:
            lex.setdefault(_fold(alias), ("garment", en))
    for en, adj in voc.COLOURS.items():
        for w in (en, adj.m, adj.f, adj.mpl, adj.fpl):
            lex.setdefault(_fold(w), ("colour", en))
    for alias, en in voc.COLOUR_ALIASES.items():
        if en:
            lex.setdefault(_fold(alias), ("colour", en))
    for en, pt, pt_f in default_table().names:
        for w in (en, pt, pt_f, pt + "s", pt_f + "s"):
            lex.setdefault(_fold(w), ("colour", en))
    lex[_fold("gray")] = ("colour", "grey")
    return lex


@dataclass
class TextQuery:
    text: str
    colours: list[str] = field(default_factory=list)
    garments: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def parse(text: str) -> TextQuery:
    text = " ".join((text or "").split())
    if not text:
        raise BadInput("the query is empty: say what to look for (\"vestido vermelho\", \"red dress\")")
    words = re.findall(r"[\w-]+", _fold(text))
    lex = _lexicon()
    q = TextQuery(text)
    i = 0
    while i < len(words):
        for n in (4, 3, 2, 1):              # the longest phrase the vocabulary knows
            phrase = " ".join(words[i:i + n])
            if len(words[i:i + n]) == n and phrase in lex:
                kind, value = lex[phrase]
                target = q.colours if kind == "colour" else q.garments
                if value not in target:
                    target.append(value)
                i += n
                break
        else:
            if words[i] not in STOP:
                q.unknown.append(words[i])
            i += 1
    if not q.colours and not q.garments:
        raise BadInput(f"no colour or garment in {text!r}: search for things like \"vestido vermelho\", "
                       "\"camisa azul\", \"red dress\", or give a product picture or SKU")
    return q
