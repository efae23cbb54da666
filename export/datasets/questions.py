"""Question templates: a labelled product becomes questions in English and Portuguese with exact answers.

Portuguese answers agree with the garment they describe ("Qual é a cor da camisa?" -> "vermelha", "Qual é a cor
dos sapatos?" -> "vermelhos"); a value with no Portuguese form gets English questions only.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.evaluation.qa_set import QARow
from engine.language.vocabulary import COLOURS, FABRICS, GARMENTS, NECKLINES, PATTERNS, SLEEVES, Noun

# what a question about part of an outfit calls it when the catalog does not name the garment (DeepFashion)
REGIONS = {"upper": ("top", Noun("peça de cima", True)), "lower": ("bottom", Noun("peça de baixo", True)),
           "outer": ("outer layer", Noun("peça de fora", True))}


@dataclass
class Item:
    """One garment in a product image and what is known about it (canonical values, vocabulary.py)."""
    garment: str                      # a canonical garment, or a REGIONS key when the catalog does not say
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Product:
    id: str
    image: str                        # path relative to the set's folder
    items: list[Item]


def _names(item: Item) -> tuple[str, Noun | None, bool]:
    """(English name, Portuguese noun or None, whether it is a real garment name)."""
    if item.garment in REGIONS:
        en, noun = REGIONS[item.garment]
        return en, noun, False
    noun = GARMENTS.get(item.garment)
    return item.garment, noun, True


# English names that take "are" ("the trousers are"), whatever their Portuguese number ("a calça")
PLURAL_EN = {"shoes", "trousers", "jeans", "shorts", "sneakers", "sandals", "heels", "flip flops", "socks"}


def _article(noun: Noun) -> str:
    return ("as" if noun.plural else "a") if noun.feminine else ("os" if noun.plural else "o")


def _indefinite(noun: Noun) -> str:
    return ("umas" if noun.plural else "uma") if noun.feminine else ("uns" if noun.plural else "um")


def english(item: Item, attribute: str, value: str, rng: random.Random) -> tuple[str, list[str]] | None:
    en, _, named = _names(item)
    be, do = ("are", "do") if en in PLURAL_EN else ("is", "does")
    if attribute == "garment":
        if not named:
            return None
        return rng.choice(["What is this item?", "What garment is this?", "What kind of clothing is this?"]), [value]
    if attribute == "colour":
        return rng.choice([f"What color {be} the {en}?", f"What colour {be} the {en}?"]), [value]
    if attribute == "pattern":
        return f"What pattern {do} the {en} have?", [value]
    if attribute == "sleeve":
        return f"How long are the sleeves of the {en}?", [value] + (["no sleeves"] if value == "sleeveless" else [])
    if attribute == "neckline":
        return f"What neckline {do} the {en} have?", [value]
    if attribute == "fabric":
        return f"What fabric {be} the {en} made of?", [value]
    return f"What is the {attribute} of the {en}?", [value]


def portuguese(item: Item, attribute: str, value: str, rng: random.Random) -> tuple[str, list[str]] | None:
    _, noun, named = _names(item)
    if noun is None:
        return None
    of = noun.of_the
    if attribute == "garment":
        target = GARMENTS.get(value)
        if not named or target is None:
            return None
        return rng.choice(["Que peça é esta?", "O que é este item?", "Que tipo de roupa é esta?"]), [target.pt]
    if attribute == "colour" and value in COLOURS:
        return f"Qual é a cor {of} {noun.pt}?", [COLOURS[value].agree(noun)]
    if attribute == "pattern" and value in PATTERNS:
        return f"Qual é a estampa {of} {noun.pt}?", [PATTERNS[value].agree(noun)]
    if attribute == "sleeve" and value in SLEEVES:
        return f"Qual é o comprimento da manga {of} {noun.pt}?", [SLEEVES[value]]
    if attribute == "neckline" and value in NECKLINES:
        return f"Qual é o decote {of} {noun.pt}?", [NECKLINES[value]]
    if attribute == "fabric" and value in FABRICS:
        verb = "são" if noun.plural else "é"
        return f"De que tecido {verb} {_article(noun)} {noun.pt}?", [FABRICS[value]]
    return None


def describe(item: Item, lang: str) -> tuple[str, list[str]] | None:
    """"Describe the shirt." -> "a red striped shirt with long sleeves" (scored by F1 and similarity)."""
    en, noun, named = _names(item)
    a = item.attributes
    if lang == "en":
        words = [a[k] for k in ("colour", "pattern") if a.get(k) and a.get(k) != "plain"] + [en]
        extra = {"long": " with long sleeves", "short": " with short sleeves", "sleeveless": " without sleeves"}
        text = " ".join(words) + extra.get(a.get("sleeve", ""), "")
        return f"Describe the {en}.", [("" if en in PLURAL_EN else "a ") + text]
    if noun is None:
        return None
    parts = [noun.pt]
    if a.get("colour") in COLOURS:
        parts.append(COLOURS[a["colour"]].agree(noun))
    if a.get("pattern") in PATTERNS and a["pattern"] != "plain":
        parts.append(PATTERNS[a["pattern"]].agree(noun))
    parts.append({"long": "de manga longa", "short": "de manga curta", "sleeveless": "sem mangas"}.get(
        a.get("sleeve", ""), ""))
    return f"Descreva {_article(noun)} {noun.pt}.", [f"{_indefinite(noun)} " + " ".join(p for p in parts if p)]


def questions(product: Product, rng: random.Random, langs=("en", "pt"), with_describe: bool = True) -> list[QARow]:
    rows: list[QARow] = []
    for n, item in enumerate(product.items):
        for lang in langs:
            ask = english if lang == "en" else portuguese
            attrs = dict(item.attributes)
            if _names(item)[2]:
                attrs = {"garment": item.garment, **attrs}
            for attribute, value in attrs.items():
                if not value:
                    continue
                made = ask(item, attribute, value, rng)
                if made:
                    q, answers = made
                    rows.append(QARow(id=f"{product.id}.{n}.{attribute}.{lang}", image=product.image, question=q,
                                      answers=tuple(answers), lang=lang, attribute=attribute, product=product.id))
            if with_describe and len(item.attributes) >= 1:
                made = describe(item, lang)
                if made:
                    q, answers = made
                    rows.append(QARow(id=f"{product.id}.{n}.describe.{lang}", image=product.image, question=q,
                                      answers=tuple(answers), lang=lang, attribute="describe", product=product.id))
    return rows
