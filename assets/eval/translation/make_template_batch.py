"""Writes the template batches of the translation corpus (README.md here): English answers and Portuguese questions
built from templates over the synthetic set's garments, colours, patterns and sleeves (export/datasets/synth.py), with the
colours and patterns the catalog vocabulary adds (engine/language/vocabulary.py). The Portuguese forms below are written
here on purpose, not imported: the corpus must not share tables with the mechanism it measures.

    python assets/eval/translation/make_template_batch.py      # rewrites the three files; same seed, same rows

dev/en_pt_template_np.tsv      family "noun phrase": "A red striped shirt.", "The skirt is blue and plain."
test/en_pt_template_scene.tsv  family "scene": "The woman is wearing ...", "I can see two ...", "It looks like ..."
test/pt_en_template.tsv        clerk questions: "Qual é a cor da saia?", "A camisa é listrada?", ...
"""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261205


@dataclass(frozen=True)
class Garment:
    key: str
    en: tuple[str, ...]           # English names (a random one is used); plural-only names take "are"
    en_plural: str                # "shirts" for counts
    pt: str                       # the reference's noun (singular, or the plural for plural-only nouns)
    pt_plural: str
    stem: str                     # what every correct rendering contains
    feminine: bool
    numbers: frozenset[str]       # "sg", "pl": the grammatical numbers a correct rendering may use
    en_is_plural: bool = False
    not_pt: tuple[str, ...] = ()  # wrong renderings of this noun
    en_stem: str = ""             # pt->en: what every English rendering of the noun contains ("" = several words)
    sleeves: tuple[str, ...] = ()


GARMENTS = [
    Garment("shirt", ("shirt",), "shirts", "camisa", "camisas", "camisa", True, frozenset({"sg"}),
            en_stem="shirt", sleeves=("long", "short")),
    Garment("t-shirt", ("t-shirt", "T-shirt"), "t-shirts", "camiseta", "camisetas", "camiset", True,
            frozenset({"sg"}), en_stem="shirt", sleeves=("short", "sleeveless")),
    Garment("dress", ("dress",), "dresses", "vestido", "vestidos", "vestido", False, frozenset({"sg"}),
            en_stem="dress", sleeves=("sleeveless", "short", "long")),
    Garment("trousers", ("trousers", "pants"), "", "calça", "calças", "calça", True, frozenset({"sg", "pl"}),
            en_is_plural=True, not_pt=("calções",)),
    Garment("skirt", ("skirt",), "skirts", "saia", "saias", "saia", True, frozenset({"sg"}), en_stem="skirt"),
    Garment("bag", ("bag", "handbag"), "bags", "bolsa", "bolsas", "bolsa", True, frozenset({"sg"}),
            not_pt=("saco", "sacos")),
    Garment("shoes", ("shoes",), "", "sapatos", "sapatos", "sapato", False, frozenset({"pl"}), en_is_plural=True,
            not_pt=("sapatilhas",), en_stem="shoe"),
]


@dataclass(frozen=True)
class Colour:
    en: str
    m: str
    f: str
    mpl: str
    fpl: str
    wrong: tuple[str, ...] = ()     # European or literal renderings, wrong whatever the noun
    en_stem: str = ""               # pt->en: what every English rendering contains ("" = grey/gray and the like)

    def form(self, feminine: bool, plural: bool) -> str:
        return (self.fpl if plural else self.f) if feminine else (self.mpl if plural else self.m)


def _c(en, m, f=None, mpl=None, fpl=None, wrong=(), en_stem=None):
    f = f or m
    return Colour(en, m, f, mpl or m + "s", fpl or f + "s", wrong, en if en_stem is None else en_stem)


def _inv(en, word, wrong=(), en_stem=None):
    return Colour(en, word, word, word, word, wrong, en if en_stem is None else en_stem)


COLOURS = [  # the synthetic set's eight, then the vocabulary's commonest others
    _c("red", "vermelho", "vermelha"), _c("blue", "azul", "azul", "azuis", "azuis"), _c("green", "verde"),
    _c("yellow", "amarelo", "amarela"), _c("black", "preto", "preta"), _c("white", "branco", "branca"),
    _inv("pink", "rosa", en_stem="pink"), _inv("orange", "laranja"),
    _c("brown", "marrom", "marrom", "marrons", "marrons", wrong=("castanho", "castanha", "castanhos", "castanhas")),
    _inv("grey", "cinza", wrong=("cinzento", "cinzenta", "cinzentos", "cinzentas"), en_stem=""),
    _c("purple", "roxo", "roxa", en_stem=""), _inv("beige", "bege"),
    _inv("navy", "azul-marinho", wrong=("marinha", "marinhas", "marinhos"), en_stem="navy"),
]
COLOUR = {c.en: c for c in COLOURS}
SYNTH_COLOURS = ["red", "blue", "green", "yellow", "black", "white", "pink", "orange"]


def _en_colour(c: Colour) -> list[str]:
    """The English colour word, which a Portuguese answer must not keep ("pink" is Brazilian shop Portuguese)."""
    return [] if c.en == "pink" else [c.en]


def _prefix(words: list[str]) -> str:
    p = words[0]
    for w in words[1:]:
        while not w.startswith(p):
            p = p[:-1]
    return p


def _numbers(g: Garment, plural: bool | None) -> list[bool]:
    if plural is not None:
        return [plural]
    return [n == "pl" for n in sorted(g.numbers)]


def colour_checks(c: Colour, feminine: bool, plurals: list[bool]) -> tuple[list[str], list[str]]:
    """(must, must_not) for colour ``c`` agreeing with a noun of this gender and these allowed numbers."""
    allowed = {c.form(feminine, p) for p in plurals}
    forms = {c.m, c.f, c.mpl, c.fpl}
    stem = _prefix(sorted(allowed))
    if c.en == "navy":
        stem = "marinho"          # azul-marinho / azul marinho: both spellings are right
    if c.en == "purple":
        stem = ""                 # roxo or púrpura: only the agreement is checked
    wrong = sorted(f for f in forms - allowed if " " not in f and "-" not in f) + list(c.wrong)
    return [stem], wrong


def adjective_checks(forms: dict[tuple[bool, bool], str], feminine: bool, plurals: list[bool]) -> list[str]:
    """The forms of an agreeing adjective that are wrong for this noun (must_not)."""
    allowed = {forms[(feminine, p)] for p in plurals}
    return sorted(set(forms.values()) - allowed)


def _forms(m: str, f: str) -> dict[tuple[bool, bool], str]:
    return {(False, False): m, (True, False): f, (False, True): m + "s", (True, True): f + "s"}


LISO, LISTRADO, FLORIDO = _forms("liso", "lisa"), _forms("listrado", "listrada"), _forms("florido", "florida")


@dataclass
class Pattern:
    key: str
    en_adj: str                           # "striped" (before the noun)
    pt_ref: dict[tuple[bool, bool], str]  # reference wording, by (feminine, plural)
    must: list[str]
    wrong_forms: dict | None              # agreement forms to check
    not_pt: list[str] = field(default_factory=list)


def _ref(m, f, mpl=None, fpl=None):
    return {(False, False): m, (True, False): f, (False, True): mpl or m + "s", (True, True): fpl or f + "s"}


PATTERNS = {
    "plain": Pattern("plain", "plain", _ref("liso", "lisa"), [], LISO,
                     ["planície", "plana", "plano", "planas", "planos", "plain"]),
    "striped": Pattern("striped", "striped", _ref("listrado", "listrada"), ["listr"], LISTRADO,
                       ["striped", "stripes", "riscas"]),
    "dotted": Pattern("dotted", "polka-dot", {k: "de bolinhas" for k in LISO}, [], None,
                      ["polka", "polca", "dotted", "dot"]),
    "floral": Pattern("floral", "floral", _ref("floral", "floral", "florais", "florais"), ["flor"], FLORIDO,
                      ["florescente"]),
    "checked": Pattern("checked", "plaid", {k: "xadrez" for k in LISO}, ["xadrez"], None,
                       ["plaid", "checked", "verificado", "verificada", "verificados", "verificadas", "xadrezes"]),
}
SYNTH_PATTERNS = ["plain", "striped", "dotted"]

EN_WORDS = {"shirt", "t-shirt", "dress", "trousers", "pants", "skirt", "bag", "handbag", "shoes", "sleeves",
            "sleeve", "the", "with", "and", "is", "are"}


def _article(g: Garment, definite: bool) -> str:
    plural = "pl" in g.numbers and "sg" not in g.numbers
    if definite:
        return ("as" if plural else "a") if g.feminine else ("os" if plural else "o")
    return ("umas" if plural else "uma") if g.feminine else ("uns" if plural else "um")


def _en_a(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _join(words) -> str:
    seen, out = set(), []
    for w in words:
        if w and w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return "|".join(out)


def _sentence(s: str) -> str:
    return s[0].upper() + s[1:]


# ---------------------------------------------------------------------------------------------- en -> pt, dev

def np_family(r: random.Random) -> tuple[str, list[str], list[str], str]:
    """Noun phrases and copulas about one garment (dev)."""
    g = r.choice(GARMENTS)
    c = COLOUR[r.choice(SYNTH_COLOURS if r.random() < .7 else [x.en for x in COLOURS])]
    en_name = r.choice(g.en)
    is_pl = g.en_is_plural
    kind = r.choice(["np", "np_pattern", "copula", "copula_pattern", "sleeves", "it_is"]
                    if g.sleeves else ["np", "np_pattern", "copula", "copula_pattern", "it_is"])
    plurals = _numbers(g, None)
    ref_pl = "pl" in g.numbers and "sg" not in g.numbers
    must, wrong = colour_checks(c, g.feminine, plurals)
    must = [g.stem] + must
    not_pt = list(g.not_pt) + wrong + _en_colour(c) + [en_name.lower()]
    ref_col = c.form(g.feminine, ref_pl)
    ref_noun = g.pt
    if kind in ("np", "np_pattern", "it_is"):
        p = PATTERNS[r.choice(SYNTH_PATTERNS + ["floral", "checked"])] if kind == "np_pattern" else None
        adj = f"{p.en_adj} " if p else ""
        words = f"plain {c.en} " if p and p.key == "plain" else f"{c.en} {adj}"    # "a plain red shirt"
        if is_pl:
            en = _sentence(f"{words}{en_name}.")
        else:
            en = _sentence(f"{_en_a(words)} {words}{en_name}.")
        ref = f"{_article(g, False)} {ref_noun} {ref_col}" if not is_pl else f"{ref_noun} {ref_col}"
        if kind == "it_is":
            en = (f"They are {c.en} {en_name}." if is_pl else f"It is {_en_a(c.en)} {c.en} {en_name}.")
            ref = f"são {ref_noun} {ref_col}" if ref_pl else f"é {_article(g, False)} {ref_noun} {ref_col}"
        if p:
            ref += " " + p.pt_ref[(g.feminine, ref_pl)]
            must += p.must
            if p.wrong_forms:
                not_pt += adjective_checks(p.wrong_forms, g.feminine, plurals)
            not_pt += p.not_pt
        return en, must, not_pt, _sentence(ref) + "."
    if kind in ("copula", "copula_pattern"):
        be = "are" if is_pl else "is"
        art = _article(g, True)
        verb = "são" if ref_pl else "é"
        if g.key == "trousers":
            not_pt += ["calça são", "calças é"]
        if kind == "copula":
            return (f"The {en_name} {be} {c.en}.", must, not_pt + ["is", "are"],
                    _sentence(f"{art} {ref_noun} {verb} {ref_col}."))
        p = PATTERNS[r.choice(["plain", "striped", "floral", "checked", "dotted"])]
        not_pt += p.not_pt + ["is", "are"]
        if p.key == "dotted":
            en = f"The {en_name} {be} {c.en} with polka dots."
            ref = f"{art} {ref_noun} {verb} {ref_col} de bolinhas."
        else:
            en = f"The {en_name} {be} {c.en} and {p.en_adj}."
            ref = f"{art} {ref_noun} {verb} {ref_col} e {p.pt_ref[(g.feminine, ref_pl)]}."
            must += p.must
            if p.wrong_forms:
                not_pt += adjective_checks(p.wrong_forms, g.feminine, plurals)
        return en, must, not_pt, _sentence(ref)
    # sleeves
    s = r.choice(g.sleeves)
    if s == "sleeveless":
        en = f"A sleeveless {c.en} {en_name}."
        ref = f"{_article(g, False)} {ref_noun} {ref_col} sem mangas."
        not_pt += ["sleeveless", "manga curta", "mangas curtas", "manga longa", "mangas longas", "manga comprida",
                   "mangas compridas"]
    else:
        en = f"{_sentence(_en_a(c.en))} {c.en} {en_name} with {s} sleeves."
        ref = f"{_article(g, False)} {ref_noun} {ref_col} de manga {'longa' if s == 'long' else 'curta'}."
        must += ["manga"] + (["curta"] if s == "short" else [])
        not_pt += ["sleeves", "with"] + (["curta", "curtas"] if s == "long" else
                                         ["longa", "longas", "comprida", "compridas"])
    return en, must, not_pt, _sentence(ref)


# --------------------------------------------------------------------------------------------- en -> pt, test

PEOPLE = [("The woman", "A mulher", "mulher"), ("The man", "O homem", "homem"),
          ("The person", "A pessoa", "pessoa"), ("The model", "A modelo", "modelo")]


def _who(r: random.Random, *garments: Garment, person: bool = True) -> tuple[str, str, str]:
    """Someone plausible for these garments (a shop's catalog rarely puts a man in a dress)."""
    people = [p for p in PEOPLE if person or p[2] != "pessoa"]
    if any(g.key in ("dress", "skirt") for g in garments):
        people = [p for p in people if p[2] != "homem"]
    return r.choice(people)


COUNTS = [("two", "dois", "duas"), ("three", "três", "três")]


def scene_family(r: random.Random) -> tuple[str, list[str], list[str], str]:
    """Sentences about a person or a scene: wearing, counts, 'it looks like', two garments (test)."""
    kind = r.choice(["wearing", "there_is", "count", "looks_like", "sleeves_scene", "two_items"])
    g = r.choice(GARMENTS if kind != "count" else [x for x in GARMENTS if x.en_plural])
    if kind == "sleeves_scene":
        g = r.choice([x for x in GARMENTS if x.sleeves])
    c = COLOUR[r.choice(SYNTH_COLOURS if r.random() < .7 else [x.en for x in COLOURS])]
    en_name = r.choice(g.en)
    plurals = _numbers(g, None)
    ref_pl = "pl" in g.numbers and "sg" not in g.numbers
    must, wrong = colour_checks(c, g.feminine, plurals)
    must = [g.stem] + must
    not_pt = list(g.not_pt) + wrong + _en_colour(c) + [en_name.lower()]
    ref_col = c.form(g.feminine, ref_pl)
    a_en = "" if g.en_is_plural else _en_a(c.en) + " "
    a_pt = "" if ref_pl else _article(g, False) + " "
    if kind == "wearing":
        who_en, who_pt, who_stem = _who(r, g)
        verb_en, verb_pt = ("is carrying", "está carregando") if g.key == "bag" else ("is wearing", "está usando")
        en = f"{who_en} {verb_en} {a_en}{c.en} {en_name}."
        ref = f"{who_pt} {verb_pt} {a_pt}{g.pt} {ref_col}."
        return en, [who_stem] + must, not_pt + ["wearing", "carrying"], ref
    if kind == "there_is":
        if g.en_is_plural:
            en = f"There are {en_name} in the image. They are {c.en}."
            ref = f"Há {g.pt} na imagem. {'Elas' if g.feminine else 'Eles'} são {ref_col}."
            if g.key == "trousers":
                ref = f"Há uma calça na imagem. Ela é {ref_col}."
        else:
            en = f"There is {_en_a(en_name)} {en_name} in the image. It is {c.en}."
            ref = f"Há {_article(g, False)} {g.pt} na imagem. É {ref_col}."
        return en, must, not_pt + ["there"], ref
    if kind == "count":
        n_en, n_m, n_f = r.choice(COUNTS)
        cm, cwrong = colour_checks(c, g.feminine, [True])
        n_pt = n_f if g.feminine else n_m
        en = f"I can see {n_en} {c.en} {g.en_plural}."
        ref = f"Vejo {n_pt} {g.pt_plural} {c.form(g.feminine, True)}."
        wrong_n = [] if n_m == n_f else [n_m if g.feminine else n_f]
        return en, [n_pt, g.pt_plural if g.key != "t-shirt" else "camisetas"] + cm, \
            list(g.not_pt) + cwrong + wrong_n + _en_colour(c) + [g.en_plural], ref
    if kind == "looks_like":
        c2 = COLOUR[r.choice([x for x in ("white", "black", "red", "yellow", "blue")
                              if x != c.en and not (x == "blue" and c.en == "navy")])]
        dots = r.random() < .4
        what_en = "polka dots" if dots else "stripes"
        en = (f"They look like {c.en} {en_name} with {c2.en} {what_en}." if g.en_is_plural else
              f"It looks like {_en_a(en_name)} {en_name}, {c.en} with {c2.en} {what_en}.")
        what_pt = "bolinhas" if dots else "listras"
        pre = f"Parece{'m' if ref_pl else ''} {a_pt}{g.pt} {ref_col} com {what_pt} {c2.form(True, True)}."
        m2 = _prefix([c2.f, c2.fpl, c2.m])
        extra = [] if dots else ["listr"]
        return en, must + extra + [m2], not_pt + _en_colour(c2) + ["polka", "dots", "stripes", "striped"], pre
    if kind == "sleeves_scene":
        s = r.choice(g.sleeves)
        who_en, who_pt, who_stem = _who(r, g)
        if s == "sleeveless":
            en = f"{who_en} is wearing {a_en}{c.en} {en_name} without sleeves."
            ref = f"{who_pt} está usando {a_pt}{g.pt} {ref_col} sem mangas."
            return en, [who_stem] + must, not_pt + ["without", "sleeves", "manga curta", "mangas curtas",
                                                    "manga longa", "mangas longas"], ref
        en = f"{who_en} is wearing {a_en}{c.en} {en_name}; the sleeves are {s}."
        adj = "longas" if s == "long" else "curtas"
        ref = f"{who_pt} está usando {a_pt}{g.pt} {ref_col}; as mangas são {adj}."
        wrong_s = ["curta", "curtas"] if s == "long" else ["longa", "longas", "compridas", "comprida"]
        return en, [who_stem] + must + ["manga"] + ([] if s == "long" else ["curta"]), \
            not_pt + ["sleeves", "longos", "curtos", "mangas é"] + wrong_s, ref
    # two items: a bag and a garment of different colours
    g2 = r.choice([x for x in GARMENTS if x.key not in ("bag",)])
    c2 = COLOUR[r.choice([x for x in SYNTH_COLOURS if x != c.en
                          and not ({x, c.en} == {"blue", "navy"})])]
    bag = GARMENTS[5]
    m1, w1 = colour_checks(c, True, [False])
    pl2 = _numbers(g2, None)
    m2, w2 = colour_checks(c2, g2.feminine, pl2)
    # a wrong form of one colour may not be the right form of the other (never: the colours differ)
    n2 = r.choice(g2.en)
    ref_pl2 = "pl" in g2.numbers and "sg" not in g2.numbers
    a2_en = "" if g2.en_is_plural else _en_a(c2.en) + " "
    a2_pt = "" if ref_pl2 else _article(g2, False) + " "
    who_en, who_pt, who_stem = _who(r, g2, person=False)
    en = f"{who_en} is holding {_en_a(c.en)} {c.en} bag and wearing {a2_en}{c2.en} {n2}."
    ref = (f"{who_pt} está segurando uma bolsa {c.f} e usando {a2_pt}{g2.pt} {c2.form(g2.feminine, ref_pl2)}.")
    return en, [who_stem, "bolsa"] + m1 + [g2.stem] + m2, \
        ["saco", "bag", n2.lower()] + _en_colour(c) + _en_colour(c2) + w1 + w2 + list(g2.not_pt), ref


# --------------------------------------------------------------------------------------------- pt -> en, test

PT_PATTERN_Q = {  # pattern -> (Portuguese adjective by (feminine, plural), English must, English must_not)
    "striped": (LISTRADO, ["strip"], ["list", "listed", "you list", "listrada", "listrado", "listradas",
                                      "listrados"]),
    "plain": (LISO, [], ["smooth", "straight", "sleek", "lisa", "liso", "lisas", "lisos"]),
    "checked": ({k: "xadrez" for k in LISO}, [], ["chess", "xadrez"]),
    "dotted": ({k: "de bolinhas" for k in LISO}, ["dot"], ["balls", "ball", "marbles", "bolinhas"]),
    "floral": (_ref("floral", "floral", "florais", "florais"), ["flo"], []),
}
PT_NOUN_WRONG = {"bag": ["stock", "exchange", "scholarship", "grant", "bolsa"], "trousers": ["calf", "sock", "calça"],
                 "shoes": ["sapatos"], "skirt": ["saia"], "dress": ["vestido"], "shirt": ["camisa"],
                 "t-shirt": ["camiseta"]}
EN_COLOUR_WRONG = {"pink": ["rose", "rosa"], "grey": ["ash", "cinza"], "purple": ["roxo", "roxa"],
                   "navy": ["marine", "marinho"], "brown": ["marrom"], "orange": [], "beige": ["bege"]}


def _no_accents(s: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", s) if unicodedata.category(ch) != "Mn")


def pt_question(r: random.Random) -> tuple[str, list[str], list[str], str]:
    g = r.choice(GARMENTS)
    c = COLOUR[r.choice(SYNTH_COLOURS + ["brown", "grey", "purple", "beige", "navy"])]
    pl = "pl" in g.numbers and "sg" not in g.numbers
    if g.key == "trousers":
        pl = False                 # the clerk says "a calça"
    art = ("as" if pl else "a") if g.feminine else ("os" if pl else "o")
    of = {"a": "da", "as": "das", "o": "do", "os": "dos"}[art]
    be_pt = "são" if pl else "é"
    en_name = g.en[0] if g.key != "trousers" else "pants"
    be_en = "are" if g.en_is_plural else "is"
    noun_must = [g.en_stem] if g.en_stem else []
    wrong = PT_NOUN_WRONG.get(g.key, [])
    kind = r.choice(["colour", "is_colour", "pattern", "sleeve", "there_is", "what_colour", "typed"]
                    if g.sleeves else ["colour", "is_colour", "pattern", "there_is", "what_colour", "typed"])
    if kind == "colour":
        return (f"Qual é a cor {of} {g.pt}?", ["colo"] + noun_must, wrong,
                f"What color {be_en} the {en_name}?")
    if kind == "what_colour":
        return (f"De que cor {be_pt} {art} {g.pt}?", ["colo"] + noun_must, wrong,
                f"What color {be_en} the {en_name}?")
    if kind == "typed":       # typed fast: no accents, no capital, no question mark
        q = _no_accents(f"qual e a cor {of} {g.pt}")
        wrong = wrong + [_no_accents(w) for w in wrong] + ["and the", "e"]
        return q, ["colo"] + noun_must, wrong, f"What color {be_en} the {en_name}?"
    if kind == "is_colour":
        col = c.form(g.feminine, pl)
        must = [c.en_stem] if c.en_stem else []
        return (f"{_sentence(art)} {g.pt} {be_pt} {col}?", must + noun_must, wrong + EN_COLOUR_WRONG.get(c.en, []),
                f"{_sentence(be_en)} the {en_name} {c.en}?")
    if kind == "there_is":
        col = c.form(g.feminine, pl)
        must = [c.en_stem] if c.en_stem else []
        ind = ("umas" if pl else "uma") if g.feminine else ("uns" if pl else "um")
        q = f"Tem {ind} {g.pt} {col} na imagem?" if g.key != "shoes" else f"Tem sapatos {col} na imagem?"
        ref = (f"Is there {_en_a(c.en)} {c.en} {en_name} in the image?" if not g.en_is_plural else
               f"Are there {c.en} {en_name} in the image?")
        return q, must + noun_must, wrong + EN_COLOUR_WRONG.get(c.en, []), ref
    if kind == "pattern":
        p = r.choice(list(PT_PATTERN_Q))
        forms, must, not_en = PT_PATTERN_Q[p]
        adj = forms[(g.feminine, pl)]
        en_adj = {"striped": "striped", "plain": "plain", "checked": "plaid", "dotted": "polka-dotted",
                  "floral": "floral"}[p]
        if r.random() < .5 and p not in ("plain",):
            q = f"{_sentence(art)} {g.pt} {be_pt} {adj}?"
        else:
            has = "têm" if pl else "tem"
            q = f"{_sentence(art)} {g.pt} {has} estampa {forms[(True, False)]}?"   # agrees with "estampa"
            not_en = not_en + ["stamp", "stamped"]
            if p == "plain":
                q = f"{_sentence(art)} {g.pt} {be_pt} {adj}, sem estampa?"
        return q, must + noun_must, wrong + not_en, f"{_sentence(be_en)} the {en_name} {en_adj}?"
    return (f"Qual é o comprimento da manga {of} {g.pt}?", ["sleeve"] + noun_must, wrong + ["mango", "sleeve the"],
            f"How long are the sleeves of the {en_name}?")


# --------------------------------------------------------------------------------------------------- writing

def _rows(make, n: int, seed: int, taken: set[str]) -> list[tuple[str, str, str, str]]:
    r = random.Random(seed)
    out = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > n * 200:
            raise RuntimeError(f"only {len(out)} distinct rows")
        text, must, not_words, ref = make(r)
        key = text.strip().lower()
        if key in taken:
            continue
        taken.add(key)
        must = [m for m in must if m]
        must_set = {m.lower() for m in must}
        not_words = [w for w in not_words if w and w.lower() not in must_set]
        out.append((text, _join(must), _join(not_words), ref))
    return out


def _write(path: Path, first: str, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{first}\tmust\tmust_not\treference"] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _hand_written(split: str, direction: str) -> set[str]:
    """The first column of the hand-written batches: a template row never repeats one."""
    out = set()
    for path in sorted((HERE / split).glob(f"{direction}_*.tsv")):
        if "template" in path.name:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        out |= {line.split("\t")[0].strip().lower() for line in lines if line.strip()}
    return out


def _older_cases() -> set[str]:
    """assets/eval/translation_cases.tsv, tuned on before this corpus existed: never repeated here."""
    lines = (HERE.parent / "translation_cases.tsv").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0].strip().lower() for line in lines if line.strip() and not line.startswith("#")}


def main() -> None:
    # dev depends on dev's hand-written rows only, so writing the test batches never changes it
    taken = _hand_written("dev", "en_pt") | _older_cases()
    _write(HERE / "dev" / "en_pt_template_np.tsv", "en", _rows(np_family, 150, SEED, taken))
    taken |= _hand_written("test", "en_pt")
    _write(HERE / "test" / "en_pt_template_scene.tsv", "en", _rows(scene_family, 150, SEED + 1, taken))
    taken_pt = _hand_written("dev", "pt_en") | _hand_written("test", "pt_en")
    _write(HERE / "test" / "pt_en_template.tsv", "pt", _rows(pt_question, 80, SEED + 2, taken_pt))


if __name__ == "__main__":
    main()
