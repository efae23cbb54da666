"""Fashion noun phrases in English answers, rendered whole in Brazilian Portuguese by grammar.

A VLM describes clothes in noun phrases ("a black and white houndstooth blazer with a peter pan collar"); a
generic translator keeps English order and agrees the article with the modifier ("Um pied-de-poule blazer preto e
branco"), picks everyday senses ("cuffed ankles" -> "tornozelos algemados") and garbles overlapping terms. Here a
phrase is recognised through a lexicon with senses and rendered by rule:

    [pre-modifiers] HEAD [post-modifiers]   ->   HEAD [de material] [adjectives] [colours] [de X] [com X, Y] [post]

- pre-modifiers: colours (with shades and compounds: "light blue" -> azul-claro, "sky blue" -> azul-celeste,
  "black and white"), patterns, materials, fits and lengths, details used as modifiers ("bell-sleeve" -> com mangas
  sino, "paperbag-waist" -> de cintura clochard);
- the head: a garment or part (multiword first: "peter pan collar", "slingback heels"); it gives the gender and
  number every adjective agrees with;
- post-modifiers: "with X (and Y)", "without X", "in <colour/material>", participle phrases ("wrapped around her
  neck" -> enrolado no pescoço, agreeing).

The determiner stays outside the phrase: the translator renders it with the sentence's glue, and
``engine.language.pt_agreement.agree`` makes it agree with the head afterwards. Modifiers with no noun are a predicate ("is
dark blue and distressed", "looks worn", "is tucked in", "is made of wool") and agree with the sentence's subject
(coordinated: "the skirt and the blouse are both black" -> "ambas pretas"; past ", which ...,"); "a pair of jeans"
is one garment ("uma calça jeans"); "the jacket's sleeves" -> "as mangas da jaqueta".

Lexicon: assets/glossary.tsv and a store's $VITRINE_HOME/glossary.tsv (nouns become heads, adjectives colours or
modifiers), assets/lexicon/heads.tsv, modifiers.tsv, colours.tsv (shades generated: light/dark/pale/deep/bright).
"""
from __future__ import annotations

import csv
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from engine.language.pt_agreement import en_plural, inflect
from engine.language.pt_agreement import pt_plural as regular_pt_plural
from engine.paths import ASSETS

log = logging.getLogger(__name__)

LEXICON_DIR = ASSETS / "lexicon"

# English shade -> (Portuguese, how it joins): "light blue" -> azul-claro, "bright red" -> vermelho vibrante
_SHADES = {
    "light": ("claro", "-"), "pale": ("claro", "-"), "dark": ("escuro", "-"), "deep": ("escuro", "-"),
    "bright": ("vibrante", " "), "vivid": ("vibrante", " "), "vibrant": ("vibrante", " "), "muted": ("fechado", "-"), "soft": ("claro", "-"),
}
_WORD = re.compile(r"[A-Za-zÀ-ÿ0-9]+")
# quantities inside a "with" phrase: (masculine, feminine)
QUANTITIES = {"two": ("dois", "duas"), "three": ("três", "três"), "four": ("quatro", "quatro"),
              "five": ("cinco", "cinco"), "six": ("seis", "seis"), "several": ("vários", "várias"),
              "multiple": ("vários", "várias"), "many": ("muitos", "muitas"), "some": ("alguns", "algumas")}
# words after which modifiers alone are a predicate: "is dark blue", "are both black", "looks faded"
_PREDICATE = {"is", "are", "was", "were", "be", "been", "being", "looks", "look", "seems", "seem", "appears",
              "appear", "very", "quite", "mostly", "fully", "completely", "slightly", "entirely", "mainly",
              "predominantly", "also", "not", "rather", "fairly", "pretty", "too", "so", "more", "less", "both",
              "neither", "either"}
_CONNECT = {"and": "e", "or": "ou", "nor": "nem"}      # between the modifiers of a predicate
_SEEM = {"look", "looks", "seem", "seems", "appear", "appears"}
_INTENSIFIERS = {"slightly": "um pouco", "very": "muito", "quite": "bem", "rather": "bastante", "fairly": "bem",
                 "pretty": "bem", "completely": "completamente", "mostly": "principalmente", "fully": "totalmente",
                 "too": "muito", "somewhat": "um pouco", "a bit": "um pouco", "really": "muito", "extremely":
                 "extremamente", "relatively": "relativamente"}
_COPULA_EN = {"is", "are", "was", "were", "be", "been", "looks", "look", "seems", "seem", "appears", "appear"}
# a head that, followed by "of", is not a garment ("on top of", "the back of")
_NOT_BEFORE_OF = {"top", "back", "front", "side", "bottom", "neck", "waist", "shoulder", "shoulders", "heel",
                  "shades", "shade"}        # "in shades of orange": tones, not sunglasses


def fold(text: str) -> str:
    """Lower case without accents."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def key_of(en: str) -> tuple[str, ...]:
    """Lexicon key: lower case words; a hyphen counts as a space ("bell-sleeve" = "bell sleeve")."""
    return tuple(_WORD.findall(en.lower().replace("-", " ")))


@dataclass(frozen=True)
class Head:
    en: str
    pt: str
    pt_plural: str
    feminine: bool
    plural_en: bool = False          # this English form is the plural (or the word is only plural: "pants")
    mod: str = ""                    # how it reads as a modifier before another noun ("com gola peter pan")
    part: bool = False               # a part, detail, material or pattern (not a garment one wears)
    only_plural: bool = False        # English has no singular ("pants", "jeans"): "a pair of" is one garment


@dataclass(frozen=True)
class Mod:
    en: str
    pos: str                         # adj, inv, de, com, post
    cls: str                         # colour, pattern, material, fit, length, finish, detail, style, after
    pt: str


@dataclass
class Phrase:
    """One recognised noun phrase: its span in the source and the Portuguese it renders to."""
    start: int
    end: int
    head: Head
    premods: list = field(default_factory=list)    # Mod, or ("and", None) between colours, or Head used as mod
    withs: list = field(default_factory=list)      # (preposition "com"/"sem", Phrase)
    posts: list = field(default_factory=list)      # Mod (post, or "in <colour/material>"), or (Mod, Phrase, det)
    quantity: str | None = None                    # "three" in "with three buttons"
    owner: "Phrase | None" = None                  # "shirt sleeves": the garment the part belongs to
    alone: Mod | None = None                       # a participle phrase on its own ("is cinched at the waist")
    run: list | None = None                        # modifiers on their own, a predicate ("is dark blue and ripped")
    subject: tuple | None = None                   # ... agreeing with (feminine, plural[, colours named])
    coordinated: bool = False                      # one of several nouns of a subject ("the skirt and the blouse")
    pair: bool = False                             # "a pair of jeans" -> "uma calça jeans"
    predicate: bool = False                        # a material after "is": "de couro"
    copula: bool = False                           # "is tucked in" -> "está por dentro"
    alone_object: tuple | None = None              # (Phrase, determiner) of "made of wool"
    verb: str = ""                                 # a predicate's own verb: "parecer", "estar"
    possessor: bool = False                        # "the jacket's sleeves": what follows is not about it

    @property
    def feminine(self) -> bool:
        if self.alone is not None or self.run is not None:
            return self.subject[0] if self.subject else False
        if self.pair and not self.head.only_plural:
            return False                           # "um par de tênis"
        return self.head.feminine

    @property
    def plural(self) -> bool:
        if self.alone is not None or self.run is not None:
            return self.subject[1] if self.subject else False
        if self.pair:
            return False
        return self.head.plural_en


# ---------------------------------------------------------------------- lexicon
def section_kind(comment: str) -> str:
    """A "# ..." section title -> "part" for parts, details, materials and patterns, else ""."""
    return "part" if re.search(r"\b(parts?|details?|fabrics?|materials?|patterns?)\b", comment) else ""


def tsv_rows(text: str) -> list[tuple[int, dict]]:
    """(line number, row) for a TSV text with a header line; comment and blank lines skipped; each row gets the
    kind of the "# section" it is in (key "section")."""
    lines, sections, section = [], [], ""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            section = section_kind(line)
        elif line.strip():
            lines.append((n, line))
            sections.append(section)
    if not lines:
        return []
    reader = csv.DictReader([line for _, line in lines], delimiter="\t", quoting=csv.QUOTE_NONE)
    out = []
    for i, row in enumerate(reader):
        row["section"] = sections[i + 1]
        out.append((lines[i + 1][0], row))
    return out


def _en_plural(word: str) -> str:
    return en_plural(word)


class Lexicon:
    """English fashion words with their senses: heads (nouns) and modifiers, keyed by word tuples."""

    def __init__(self) -> None:
        self.heads: dict[tuple[str, ...], Head] = {}
        self.mods: dict[tuple[str, ...], Mod] = {}
        self.maxlen = 1

    def __len__(self) -> int:
        return len(set(self.heads) | set(self.mods))

    def add_head(self, en: str, pt: str, feminine: bool, pt_plural: str = "", en_plural: str = "",
                 mod: str = "", part: bool = False) -> None:
        pt_plural = pt_plural or regular_pt_plural(pt)
        en_pl = en_plural or _en_plural(en)
        only_plural = en_pl.lower() == en.lower()
        for form, plural in ((en, only_plural), (en_pl, True)):
            k = key_of(form)
            if k:
                self.heads[k] = Head(form, pt, pt_plural, feminine, plural, mod, part, only_plural)
                self.maxlen = max(self.maxlen, len(k))

    def add_mod(self, en: str, pos: str, cls: str, pt: str) -> None:
        k = key_of(en)
        if k:
            self.mods[k] = Mod(en, pos, cls, pt)
            self.maxlen = max(self.maxlen, len(k))

    def add_colour(self, en: str, pos: str, pt: str, shades: bool) -> None:
        self.add_mod(en, pos, "colour", pt)
        for suffix in ("colored", "coloured", "toned"):     # "wine-colored" is the colour wine
            if len(key_of(en)) == 1:
                self.add_mod(f"{en}-{suffix}", pos, "colour", pt)
        if not shades:
            return
        for shade, (pt_shade, join) in _SHADES.items():
            if join == "-":
                # an agreeing base agrees in its last part ("azul-clara"); a noun base stays ("cinza-claro")
                self.add_mod(f"{shade} {en}", pos, "colour", f"{pt}-{pt_shade}")
            else:
                self.add_mod(f"{shade} {en}", "adj" if pos == "adj" else "vib", "colour", f"{pt} {pt_shade}")

    def load_glossary_terms(self, terms) -> None:
        """The glossary's nouns as heads, its adjectives as modifiers (a store's terms among them)."""
        for t in terms:
            if t.gender in ("m", "f"):
                self.add_head(t.en, t.pt, t.gender == "f", t.pt_plural, t.en_plural, "", t.part)
            elif t.gender == "adj":          # the lexicon files, read after the built-in glossary, win over it
                self.add_mod(t.en, "inv" if (" " in t.pt or "-" in t.pt or t.pt.endswith(("a", "e")) and
                                             t.pt not in ("bege",)) else "adj", "colour" if _is_colour(t.pt)
                             else "detail", t.pt)

    @classmethod
    def builtin(cls, terms=()) -> "Lexicon":
        lex = cls()
        lex.load_glossary_terms(terms)
        for line, row in tsv_rows((LEXICON_DIR / "colours.tsv").read_text(encoding="utf-8")):
            lex.add_colour(row["en"], row["pos"], row["pt"], bool((row.get("shades") or "").strip()))
        for line, row in tsv_rows((LEXICON_DIR / "modifiers.tsv").read_text(encoding="utf-8")):
            lex.add_mod(row["en"], row["pos"], row["class"], row["pt"])
        for line, row in tsv_rows((LEXICON_DIR / "heads.tsv").read_text(encoding="utf-8")):
            lex.add_head(row["en"], row["pt"], row["gender"] == "f", row.get("pt_plural") or "",
                         row.get("en_plural") or "", row.get("mod") or "", row.get("section") == "part")
            # a part with a modifier reading is also written as a participle: "bell sleeve" -> "bell-sleeved"
            en, mod = row["en"], row.get("mod") or ""
            if mod and en.endswith(("sleeve", "collar", "neck", "neckline", "pocket", "hem", "waist", "toe",
                                    "lapel", "strap", "heel", "cuff", "shoulder", "sole")):
                for form in (en + ("d" if en.endswith("e") else "ed"),):
                    k = key_of(form)
                    if k not in lex.mods and k not in lex.heads:
                        head = Head(form, row["pt"], row.get("pt_plural") or "", row["gender"] == "f", False, mod,
                                    True)
                        lex.heads[k] = head
                        lex.maxlen = max(lex.maxlen, len(k))
        return lex

    def entries(self) -> int:
        """Distinct entries, a noun's plural form not counted apart."""
        singular = {(h.pt, h.mod, key_of(h.en)) for h in self.heads.values() if not h.plural_en or h.only_plural}
        return len(singular) + len(self.mods)

    # ---- matching ----------------------------------------------------------------------------------------------
    def matches(self, words: list[str], i: int):
        """(length, Head or Mod) for every entry starting at words[i], longest first."""
        out = []
        for n in range(min(self.maxlen, len(words) - i), 0, -1):
            k = tuple(words[i:i + n])
            if k in self.mods:
                out.append((n, self.mods[k]))
            if k in self.heads:
                out.append((n, self.heads[k]))
        return out

    def is_material(self, head: Head) -> bool:
        m = self.mods.get(key_of(head.en))
        return m is not None and m.cls == "material"

    def english_terms(self) -> set[str]:
        """Single English words of the lexicon that are not also Portuguese fashion words (for debris checks)."""
        pt_words = set()
        for h in self.heads.values():
            pt_words.update(fold(w) for w in re.findall(r"[\wÀ-ÿ]+", f"{h.pt} {h.pt_plural} {h.mod}"))
        for m in self.mods.values():
            pt_words.update(fold(w) for w in re.findall(r"[\wÀ-ÿ]+", m.pt))
        words = {k[0] for k in list(self.heads) + list(self.mods) if len(k) == 1 and len(k[0]) > 3}
        return {w for w in words if fold(w) not in pt_words}


_COLOUR_WORDS = {"vermelho", "azul", "verde", "amarelo", "preto", "branco", "rosa", "laranja", "roxo", "marrom",
                 "cinza", "bege", "bordô", "vinho", "creme", "caramelo", "nude", "cáqui", "mostarda", "lilás",
                 "turquesa", "coral", "lavanda", "fúcsia", "marfim", "grafite", "off-white", "dourado", "prateado"}


def _is_colour(pt: str) -> bool:
    return pt.split("-")[0].split()[0] in _COLOUR_WORDS


_NO_HEAD = Head("", "", "", False)

# ---------------------------------------------------------------------- parsing
@dataclass
class _Tok:
    word: str         # lower case
    start: int
    end: int
    joined: bool      # joined to the previous token by a hyphen (inside one written word)


def tokens(text: str) -> list[_Tok]:
    out = []
    for m in _WORD.finditer(text):
        joined = m.start() > 0 and text[m.start() - 1] == "-" and bool(out) and out[-1].end == m.start() - 1
        out.append(_Tok(m.group().lower(), m.start(), m.end(), joined))
    return out


# a pronoun subject at the start of a clause, and the number it says: "they" plural, "one"/"the other" one of them
_PRONOUN = re.compile(r"(?:^|[,;:]\s*|\b(?:and|but|while)\s+)(they|it|both|one|the other|each|the first|the second|"
                      r"two|three|four|five|some|all|most|the rest|the others|"
                      r"the other one|neither|these|those|all of them|both of them)(?:['’](?:s|re))?\s+(?:[a-z]+\s+){0,3}$",
                      re.IGNORECASE)


def antecedent(clause: str, before: list | None) -> tuple | None:
    """(Phrase, feminine, plural) a pronoun subject that opens ``clause`` refers to: the last noun phrase of the
    sentences before with the pronoun's number ("they" -> the last plural one, "it" -> the last singular one, a
    garment first; "a pair of boots" is the boots); "one"/"the other" is one of a plural; None when there is no
    pronoun or nothing it can refer to."""
    got = _antecedent(clause, before)
    if got is None:
        return None
    p, plural = got
    if p.pair and not p.head.only_plural:          # "um par de botas. Elas são marrons"
        return p, p.head.feminine, plural
    return p, p.feminine, plural


def _antecedent(clause: str, before: list | None) -> tuple | None:
    if not before:
        return None
    m = _PRONOUN.search(clause.strip() + " ") if clause.strip() else None
    if m is None:
        return None
    said = m.group(1).lower()
    nouns = [p for p in before if p.run is None and p.alone is None and p.head.pt]
    if said in ("it",):
        pick = [p for p in nouns if not p.plural and not p.head.part] or [p for p in nouns if not p.plural] or \
            [p for p in nouns if p.head.only_plural]
        return (pick[-1], pick[-1].plural) if pick else None
    pick = [p for p in nouns if p.plural or p.pair] or nouns
    if not pick:
        return None
    one = said in ("one", "the other", "each", "the first", "the second", "the other one", "neither")
    return pick[-1], not one


# what may stand before an unknown modifier of a phrase ("a ___ t-shirt"), and words that are never one
_DETERMINERS_EN = {"a", "an", "the", "her", "his", "their", "its", "this", "that", "these", "those", "my", "your",
                   "our", "some", "two", "three", "four", "five", "six", "several", "many", "of", "one", "any",
                   "no", "each", "every", "and", "or", "with", "without", "in", "plus"}
_NOT_MODIFIER = set("""a an the her his their its this that these those my your our some any all both each every no
not is are was were be been being has have had do does did can could would should may might will shall must it they
she he we you i me him them us what which who whom whose there here and or but nor so yet with without in on at of
for from to by over under near next behind inside outside into onto off up down about around through between
very quite also just only too then than as like such other another same own more most much many few less least
wearing wears wear worn holding holds hold carrying carries carry shows show showing see seen sees looks look
seems seem appears appear made make makes woman women man men person people model models girl boy child kid kids
lady guy image picture photo photograph background front back side left right top bottom one two three four five
six seven eight nine ten several pair pairs set sets yes no well maybe perhaps probably possibly likely clearly
similar different style kind type sort shade tone color colour colors colours pattern""".split())


def _gap(text: str, a: _Tok, b: _Tok) -> str:
    return text[a.end:b.start]


class Parser:
    def __init__(self, lexicon: Lexicon):
        self.lex = lexicon

    def find(self, text: str, before: list[Phrase] | None = None) -> list[Phrase]:
        """Every fashion noun phrase in ``text``, left to right, not overlapping. ``before``: the phrases of the
        sentences before, which a pronoun subject refers to ("There are trousers. They are black.")."""
        toks = tokens(text)
        words = [t.word for t in toks]
        out, i, free = [], 0, 0          # free: the first token no phrase took
        while i < len(toks):
            if toks[i].joined:
                i += 1
                continue
            got = self._phrase(text, toks, words, i, allow_posts=True)
            if got is not None and i and words[i - 1] in _COPULA_EN and not got[0].premods and \
                    not got[0].withs and not got[0].posts and key_of(got[0].head.en) in self.lex.mods:
                got = self._alone(text, toks, words, i, out, before) or got    # "are flat": a predicate
            if got is None and words[i] == "pair" and i + 1 < len(toks) and words[i + 1] == "of":
                got = self._phrase(text, toks, words, i + 2, allow_posts=True)
                if got is not None:            # "a pair of jeans": one garment in Portuguese ("uma calça jeans")
                    got[0].start, got[0].pair = toks[i].start, True
            if got is None:
                got = self._alone(text, toks, words, i, out, before)
                if got is None:
                    i += 1
                    continue
            phrase, j = got
            copula = i and (words[i - 1] in _COPULA_EN or words[i - 1] == "not" and i > 1 and
                            words[i - 2] in _COPULA_EN)        # "the jacket is not leather": "não é de couro"
            if (copula and phrase.run is None and phrase.alone is None
                    and self.lex.is_material(phrase.head)):
                phrase.predicate = True        # "the boots are tan suede" -> "são de camurça caramelo"
            if text[phrase.end:phrase.end + 2] in ("'s", "’s"):
                phrase.possessor = True
            if phrase.run is None and phrase.alone is None and phrase.head.only_plural and \
                    i and words[i - 1] in ("a", "an"):
                phrase.pair = True             # "a jeans", "a shorts": one garment ("uma calça jeans", "um short")
            if (out and out[-1].possessor and phrase.run is None and phrase.alone is None and phrase.owner is None
                    and re.fullmatch(r"['’]s\s+", text[out[-1].end:phrase.start])):
                owner = out.pop()            # "the jacket's sleeves" -> "as mangas da jaqueta"
                owner.possessor = False
                phrase.owner, phrase.start = owner, owner.start
            if phrase.run is None and phrase.alone is None and phrase.owner is None and not phrase.pair:
                self._unknown_premods(text, toks, words, i, free, phrase)
                prev = out[-1] if out else None
                if prev is not None and text[prev.end:phrase.start] == " " and prev.run is None and \
                        prev.alone is None and prev.owner is None and not prev.pair and not prev.withs and \
                        not prev.posts and not prev.possessor and not prev.predicate and not phrase.premods:
                    # two nouns in a row ("espadrille wedges", "shirt collar"): the first is a "de" complement
                    # of the second, one unit - never two placeholders side by side for the translator to garble
                    out.pop()
                    phrase.premods = [Mod(prev.head.en, "de", "detail", render(prev))]
                    phrase.start = prev.start
            out.append(phrase)
            i = free = j
        return out

    def _unknown_premods(self, text, toks, words, i, free, phrase: Phrase) -> None:
        """Words before a phrase the lexicon does not know, between a determiner (or the sentence's start) and
        the phrase ("a grey heather t-shirt", "a stand-up collar"): taken into the phrase as modifiers of their
        own (Mod pos "unk", rendered after the head by the translator alone, checked; see
        ``engine.language.glossary``), so the translator never sees them glued to a placeholder and garbles the
        phrase ("Uma panela de calor cinza camiseta"). Known modifiers among them come in with their senses."""
        j = i - 1
        chain: list[int] = []
        while j >= free and len(chain) < 4:
            gap = _gap(text, toks[j], toks[j + 1])
            hyphened = toks[j].joined or toks[j + 1].joined        # "one-piece", "stand-up": inside a word
            if gap not in (" ", "-") or not toks[j].word.isalpha() or \
                    toks[j].word in _NOT_MODIFIER and not hyphened or \
                    (toks[j].word.endswith(("ly", "ing")) and not self.lex.matches(words, j)):
                break
            chain.insert(0, j)
            j -= 1
        while chain and toks[chain[0]].joined:        # never start inside a written word
            chain.pop(0)
        if not chain:
            return
        left = chain[0] - 1
        at_start = left < 0 or text[toks[left].end:toks[chain[0]].start].strip()[-1:] in (".", "!", "?", ":")
        if not (at_start or words[left] in _DETERMINERS_EN and _gap(text, toks[left], toks[chain[0]]) == " "):
            return
        # the chain, left to right: known modifiers by the lexicon, unknown words grouped
        mods: list = []
        k = chain[0]
        while k < i:
            hit = next(((n, m) for n, m in self.lex.matches(words, k) if isinstance(m, Mod) and k + n <= i and
                        (k + n >= len(toks) or not toks[k + n].joined) and m.pos != "post"), None)
            if hit is not None:
                mods.append(hit[1])
                k += hit[0]
                continue
            end = k + 1
            while end < i and toks[end].joined:       # "stand-up": one written word, one unknown
                end += 1
            if mods and isinstance(mods[-1], list):     # "one piece": unknown words in a row go together
                mods[-1][1] = end
            else:
                mods.append([k, end])
            k = end
        if not any(isinstance(m, list) for m in mods):
            return
        mods = [Mod(text[toks[m[0]].start:toks[m[1] - 1].end], "unk", "unknown", "") if isinstance(m, list) else m
                for m in mods]
        phrase.premods = mods + phrase.premods
        phrase.start = toks[chain[0]].start

    def _alone(self, text, toks, words, i, found, before=None):
        """Modifiers with no noun: a participle phrase ("cinched at the waist") or a predicate ("is dark blue and
        distressed", "are both black"), agreeing with the sentence's subject; a one-phrase answer ("Black.")."""
        for n, m in self.lex.matches(words, i):
            if isinstance(m, Mod) and m.pos == "post" and (i + n >= len(toks) or not toks[i + n].joined):
                ante = None if found else antecedent(text[:toks[i].start], before)
                if not found and ante is None:
                    return None
                start, copula = toks[i].start, False
                if i and words[i - 1] in ("is", "are") and self._ok_gap(text, toks, i - 1, i, " "):
                    start, copula = toks[i - 1].start, True     # a state: "está por dentro", never "é"
                end, obj = i + n, None
                if m.pt.endswith(" de"):                        # "made of" + what: "feita de lã"
                    got, det = self._object(text, toks, words, end)
                    if got is None:
                        continue
                    obj, end = (got[0], det), got[1]
                return Phrase(start, toks[end - 1].end, found[-1].head if found else ante[0].head, alone=m,
                              copula=copula, alone_object=obj,
                              subject=self._subject(text, toks[i].start, found, before)), end
        prev = words[i - 1] if i else ""
        sentence_start = i == 0 or text[:toks[i].start].rstrip()[-1:] in ".!?:"
        if prev in ("and", "") and found and (found[-1].run is not None or found[-1].predicate) and \
                re.fullmatch(r"\s*,?\s*(?:and\s+)?", text[found[-1].end:toks[i].start]):
            prev = "is"                # "are tan suede and knee-high": the predicate goes on
        elif found and found[-1].run is None and found[-1].alone is None and not found[-1].head.part and \
                re.fullmatch(r",\s*", text[found[-1].end:toks[i].start]):
            prev = "is"                # "Straight-leg jeans, high-rise, medium wash.": the garment's attributes
        nouns = [p for p in found if p.run is None and p.alone is None]
        one = prev == "one" and nouns and nouns[-1].plural and \
            re.search(r"(?:[:,;]|\band)\s*$", text[:toks[i - 1].start])
        if prev not in _PREDICATE and not sentence_start and not one:
            return None                      # "two shirts: one striped, one plain" goes on below
        run, k = [], i
        if words[k] in ("both", "all") and k + 1 < len(toks):
            run.append(words[k])
            k += 1
        while k < len(toks):
            if run and isinstance(run[-1], Mod) and words[k] in _CONNECT and self._ok_gap(text, toks, k - 1, k, " ,"):
                if k + 1 < len(toks) and any(isinstance(x, Mod) and x.pos != "post"
                                             for _, x in self.lex.matches(words, k + 1)):
                    run.append(words[k])
                    k += 1
                    continue
                break
            if run and k > i and not self._ok_gap(text, toks, k - 1, k, " -,"):
                break
            if run and _gap(text, toks[k - 1], toks[k]).strip() == "," and not isinstance(run[-1], Mod):
                break
            hit = next(((n, x) for n, x in self.lex.matches(words, k) if isinstance(x, Mod) and x.pos != "post"
                        and (k + n >= len(toks) or not toks[k + n].joined)), None)
            if hit is None:
                break
            if run and _gap(text, toks[k - 1], toks[k]).strip() == ",":
                run.append(",")
            run.append(hit[1])
            k += hit[0]
        while run and not isinstance(run[-1], Mod):
            run.pop()
            k -= 1
        if run and k + 1 < len(toks) and words[k] == "in" and words[k + 1] in ("color", "colour", "tone"):
            k += 2                   # "is cream in color": the colour says it
        
        if not any(isinstance(x, Mod) for x in run):
            return None
        if sentence_start and k < len(toks) and text[toks[k - 1].end:toks[k].start].strip()[:1] not in (".", "!", "?"):
            if prev not in _PREDICATE:
                return None           # a sentence that starts with a modifier and goes on: not a bare answer
        start, verb = toks[i].start, ""
        if prev in _INTENSIFIERS and i >= 2 and words[i - 2] in _SEEM and self._ok_gap(text, toks, i - 2, i - 1, " "):
            run.insert(0, prev)                               # "look slightly faded": "parecem um pouco desbotadas"
            start, verb = toks[i - 2].start, "parecer"
        elif i and self._ok_gap(text, toks, i - 1, i, " "):
            if prev in _SEEM:
                start, verb = toks[i - 1].start, "parecer"    # "look worn": Bergamot says "olha"; "parecem gastos"
            elif prev in ("is", "are") and all(x.pos == "com" for x in run if isinstance(x, Mod)):
                start, verb = toks[i - 1].start, "estar"      # "are cuffed": "estão com barra dobrada"
        return Phrase(start, toks[k - 1].end, _NO_HEAD, run=run, verb=verb,
                      subject=self._subject(text, toks[i].start, found, before)), k

    def _subject(self, text: str, at: int, found: list, before: list | None = None) -> tuple | None:
        """(feminine, plural) of the subject a predicate at ``at`` agrees with: the noun phrase before it in its
        sentence (past a ", which ...," clause), all of "the skirt and the blouse" when coordinated."""
        begin = max(text.rfind(c, 0, at) for c in ".!?") + 1
        cands = [p for p in found if p.start >= begin and p.run is None and p.alone is None and p.end <= at]
        if not cands:
            ante = antecedent(text[begin:at], before)     # "They are black." after "There are trousers."
            return (ante[1], ante[2]) if ante else None
        if re.search(r"(?:^|[:,;]\s*|\band\s+)(?:one|the other|each)\s+(?:(?:is|was|looks|seems)\s+)?$",
                     text[cands[-1].end:at], re.IGNORECASE):
            return cands[-1].feminine, False        # "two skirts: one black, the other white": one of them
        clause = None
        if "," in text[cands[-1].end:at]:
            clause = max((m.start() for m in re.finditer(r",\s*(?:which|that|who)\b", text[begin:at])), default=None)
        if clause is not None:
            before = [p for p in cands if p.end <= begin + clause]
            if before:
                cands = before
        elif re.match(r"\s+and\s+(?!(?:the|a|an|her|his|its|their)\b)[a-z]+", text[cands[-1].end:at]) and \
                not re.match(r"\s*(?:the|a|an|her|his|its|their)?\s*$", text[begin:cands[0].start], re.I) is None:
            cands = cands[:1]      # "the pants have a straight leg and appear to be made of wool": the subject
        members = [cands[-1]]
        for p in reversed(cands[:-1]):
            if re.fullmatch(r"\s*(?:,|and|, and)\s+(?:(?:the|a|an|her|his|their)\s+)?", text[p.end:members[0].start]):
                members.insert(0, p)
            else:
                break
        if len(members) > 1:
            for p in members:
                p.coordinated = True
        if members[-1].head.pt in ("cor", "tom") and members[-1].owner is None and len(members) == 1:
            return False, members[-1].plural, True   # "the colors are white and tan": named, "branco e caramelo"
        return all(p.feminine for p in members), len(members) > 1 or any(p.plural for p in members)

    def _ok_gap(self, text: str, toks, a: int, b: int, allow: str = " -") -> bool:
        gap = _gap(text, toks[a], toks[b])
        return gap != "" and all(c in allow for c in gap)

    def _phrase(self, text, toks, words, i, allow_posts: bool):
        """The longest phrase starting at token i: (Phrase, next token index) or None."""
        best = None
        for pre, j in self._premods(text, toks, words, i):
            for n, item in self.lex.matches(words, j):
                if not isinstance(item, Head):
                    continue
                end = j + n
                if end < len(toks) and toks[end].joined:      # the phrase cannot end inside a written word
                    continue
                if j > i and not self._ok_gap(text, toks, j - 1, j):
                    continue
                if (item.en.lower() in _NOT_BEFORE_OF and end < len(toks) and words[end] == "of"):
                    continue
                if n == 1 and not pre and words[j] in _NOT_BEFORE_OF and item.en.lower() not in ("top",):
                    continue   # a bare "back", "neck": the translator knows these words better alone
                phrase = Phrase(toks[i].start, toks[end - 1].end, item, list(pre))
                k = end
                if not item.part and not item.plural_en and k < len(toks) and self._ok_gap(text, toks, k - 1, k, " "):
                    part = next(((n2, h) for n2, h in self.lex.matches(words, k) if isinstance(h, Head) and h.part
                                 and h.plural_en and not h.mod and (k + n2 >= len(toks) or not toks[k + n2].joined)),
                                None)
                    if part is not None:       # "shirt sleeves" -> "mangas da camisa"
                        n2, h = part
                        phrase = Phrase(toks[i].start, toks[k + n2 - 1].end, h, [], owner=phrase)
                        k = k + n2
                if allow_posts:
                    k = self._posts(text, toks, words, phrase, k)
                score = (k, -len(pre))
                if best is None or score > best[0]:
                    best = (score, phrase, k)
        if best is None:
            return None
        return best[1], best[2]

    def _premods(self, text, toks, words, i):
        """Every (premodifier list, next index) reachable from token i, the empty one first."""
        results = [([], i)]
        frontier = [([], i)]
        while frontier:
            pre, j = frontier.pop()
            if len(pre) >= 8 or j >= len(toks):
                continue
            if pre and not self._ok_gap(text, toks, j - 1, j, " -"):
                # "a cropped, fitted tank top": a comma only between adjectives that are never nouns
                if not (self._ok_gap(text, toks, j - 1, j, " ,") and isinstance(pre[-1], Mod) and
                        pre[-1].pos in ("adj", "inv") and key_of(pre[-1].en) not in self.lex.heads):
                    continue
            # "black and white", "navy, white and red": colours coordinated
            if words[j] == "and" and pre and isinstance(pre[-1], Mod) and pre[-1].cls == "colour" \
                    and j + 1 < len(toks) and self._ok_gap(text, toks, j, j + 1, " "):
                for n, item in self.lex.matches(words, j + 1):
                    if isinstance(item, Mod) and item.cls == "colour" and \
                            (j + 1 + n >= len(toks) or not toks[j + 1 + n].joined):
                        nxt = (pre + [("and", None), item], j + 1 + n)
                        results.append(nxt)
                        frontier.append(nxt)
                continue
            for n, item in self.lex.matches(words, j):
                if j + n < len(toks) and toks[j + n].joined and not isinstance(item, Mod):
                    continue
                if j + n < len(toks) and toks[j + n].joined and isinstance(item, Mod):
                    continue          # a modifier cannot end inside a hyphenated word ("bell" of "bell-sleeve")
                if isinstance(item, Mod) and (item.pos != "post" or n > 1 and all(t.joined for t in toks[j + 1:j + n])):
                    nxt = (pre + [item], j + n)      # "tucked-in": a participle written as one word
                elif isinstance(item, Head) and item.mod:
                    nxt = (pre + [item], j + n)
                else:
                    continue
                results.append(nxt)
                frontier.append(nxt)
        return results

    def _sub(self, text, toks, words, k):
        """A phrase after "with": an indefinite article dropped, a quantity kept ("com três botões")."""
        if k < len(toks) and words[k] in ("a", "an"):
            k += 1
        qty = None
        if k < len(toks) and words[k] in QUANTITIES:
            qty, k = words[k], k + 1
        if k >= len(toks):
            return None
        got = self._phrase(text, toks, words, k, allow_posts=False)
        if got is None:
            return None
        got[0].quantity = qty
        return got

    def _object(self, text, toks, words, k):
        """The phrase a participle takes ("tucked into her jeans", "made of wool"): ((Phrase, next), determiner)
        with the determiner "the" (her, his, the), "a" or "" (none); (None, "") when there is none."""
        det = ""
        if k < len(toks) and words[k] in ("her", "his", "the", "their", "its"):
            det, k = "the", k + 1
        elif k < len(toks) and words[k] in ("a", "an"):
            det, k = "a", k + 1
        got = self._phrase(text, toks, words, k, allow_posts=False) if k < len(toks) else None
        if got is None and k < len(toks) and not det:       # "made of straw": a material with no noun
            hit = next(((n, m) for n, m in self.lex.matches(words, k) if isinstance(m, Mod) and m.cls == "material"
                        and m.pos == "de" and (k + n >= len(toks) or not toks[k + n].joined)), None)
            if hit is not None:
                n, m = hit
                got = (Phrase(toks[k].start, toks[k + n - 1].end, Head(m.en, m.pt, m.pt, False, False)), k + n)
        return (got, det) if got is not None else (None, "")

    def _posts(self, text, toks, words, phrase: Phrase, k: int) -> int:
        """Post-modifiers after the head: "with X, Y and Z", "without X", "in navy", participle phrases."""
        while k < len(toks):
            if not self._ok_gap(text, toks, k - 1, k, " "):
                # "with" may follow a comma: "a dress, with ..." stays glue
                break
            w = words[k]
            if w in ("with", "without", "featuring"):
                prep = "sem" if w == "without" else "com"
                got, k2 = [], k + 1
                while True:
                    sub = self._sub(text, toks, words, k2)
                    if sub is None:
                        break
                    got.append(sub[0])
                    k2 = sub[1]
                    # "X, Y and Z": go on only through "," or "and" into another phrase
                    if k2 >= len(toks):
                        break
                    gap = _gap(text, toks[k2 - 1], toks[k2]).strip()
                    nxt = k2 + 1 if words[k2] == "and" and gap in ("", ",") else k2 if gap == "," else None
                    more = self._sub(text, toks, words, nxt) if nxt is not None else None
                    if more is None or (got[0].head.part and not more[0].head.part):
                        break   # "joggers with cuffed ankles and a scarf": the scarf is another garment
                    k2 = nxt
                if not got:
                    break
                phrase.withs.extend((prep, g) for g in got)
                k = k2
                continue
            if w == "in" and k + 1 < len(toks):
                found = None
                for n, item in self.lex.matches(words, k + 1):
                    if isinstance(item, Mod) and item.cls in ("colour", "material") and item.pos != "post":
                        end = k + 1 + n
                        if end < len(toks) and (toks[end].joined or self.lex.matches(words, end) and
                                                any(isinstance(x, Head) for _, x in self.lex.matches(words, end))):
                            continue          # "in navy blazer"?: not a bare colour
                        found = (item, end)
                        break
                if found is None:
                    break
                phrase.posts.append(found[0])
                k = found[1]
                # "in red and white", "in navy, white and red": the colours go on, all agreeing with the head
                while found[0].cls == "colour" and k + 1 < len(toks) and self._ok_gap(text, toks, k - 1, k, " ,") \
                        and (words[k] == "and" or _gap(text, toks[k - 1], toks[k]).strip() == ","):
                    at = k + 1 if words[k] == "and" else k
                    more = next(((n, x) for n, x in self.lex.matches(words, at) if isinstance(x, Mod) and
                                 x.cls == "colour" and x.pos != "post" and (at + n >= len(toks) or
                                                                            not toks[at + n].joined)), None)
                    if more is None or at + more[0] < len(toks) and any(
                            isinstance(x, Head) for _, x in self.lex.matches(words, at + more[0])):
                        break              # "in red and white sneakers": another phrase
                    phrase.posts.append(more[1])
                    k = at + more[0]
                continue
            found = None
            for n, item in self.lex.matches(words, k):
                if isinstance(item, Mod) and item.pos == "post":
                    found = (item, k + n)
                    break
            if found is None:
                break
            if found[0].pt.endswith(" de"):      # "tucked into" + a phrase: "por dentro da calça jeans"
                k2, det = self._object(text, toks, words, found[1])
                if k2 is None:
                    break
                phrase.posts.append((found[0], k2[0], det))
                k = k2[1]
                continue
            phrase.posts.append(found[0])
            k = found[1]
        phrase.end = toks[k - 1].end
        return k


# ---------------------------------------------------------------------- rendering
def agree_words(pt: str, feminine: bool, plural: bool, first_only: bool = False) -> str:
    """An adjective phrase agreeing: every word (or only the first), a hyphenated word by its last part."""
    words = pt.split(" ")
    out = []
    for n, w in enumerate(words):
        if first_only and (n > 0 or not w.endswith("o")):    # "arregaçado até", never "por dentro"
            out.append(w)
            continue
        if "-" in w:
            base, last = w.rsplit("-", 1)
            out.append(f"{base}-{inflect(last, feminine, plural)}")
        else:
            out.append(inflect(w, feminine, plural))
    return " ".join(out)


def _mod_pt(m: Mod, feminine: bool, plural: bool) -> str:
    if m.pos == "adj":
        return agree_words(m.pt, feminine, plural)
    if m.pos == "vib":       # a noun colour with "vibrante": the colour stays, the adjective takes the number
        base, adj = m.pt.rsplit(" ", 1)
        return f"{base} {inflect(adj, feminine, plural)}"
    if m.pos == "post":
        if m.pt.startswith("ser "):         # "ser feito de": the participle agrees
            return "ser " + agree_words(m.pt[4:], feminine, plural, first_only=True)
        return agree_words(m.pt, feminine, plural, first_only=True)
    return m.pt


def _with_object(said: str, obj: Phrase, det: str) -> str:
    """A participle ending in "de" and its object: "por dentro da calça", "feito de lã", "feito de um tecido"."""
    said = said[:-3]
    if det == "the":
        art = ("as" if obj.plural else "a") if obj.feminine else ("os" if obj.plural else "o")
        return f"{said} d{art} {render(obj)}"
    if det == "a":
        return f"{said} de {'uma' if obj.feminine else 'um'} {render(obj)}"
    return f"{said} de {render(obj)}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " e " + items[-1]


_BOTH = {"both": ("ambos", "ambas"), "all": ("todos", "todas")}


def render(phrase: Phrase) -> str:
    """The phrase in Brazilian Portuguese, without its article."""
    if phrase.run is not None:
        fem, pl = phrase.feminine, phrase.plural
        if phrase.subject and len(phrase.subject) > 2:      # colours named, not describing: "branco e caramelo"
            fem, pl = False, False
        out = []
        for x in phrase.run:
            if x in _BOTH:
                out.append(_BOTH[x][1 if fem else 0])
            elif x in _INTENSIFIERS:
                out.append(_INTENSIFIERS[x])
            elif x in _CONNECT:
                if out:
                    out[-1] = out[-1].rstrip(",")       # no comma before "e" in Portuguese
                out.append(_CONNECT[x])
            elif x == ",":
                out[-1] += ","
            elif x.pos in ("de", "com"):
                out.append(f"{x.pos} {x.pt}")
            else:
                out.append(_mod_pt(x, fem, pl))
        verb = {"parecer": ("parece ", "parecem "), "estar": ("está ", "estão ")}.get(phrase.verb, ("", ""))
        return verb[phrase.plural] + " ".join(out)
    if phrase.alone is not None:
        said = _mod_pt(phrase.alone, phrase.feminine, phrase.plural)
        if phrase.alone_object is not None:
            said = _with_object(said, *phrase.alone_object)
        if said.startswith("ser "):            # "made of": a property, "é feita de"; states are "está"
            return (("são " if phrase.plural else "é ") if phrase.copula else "") + said[4:]
        return (("estão " if phrase.plural else "está ") + said) if phrase.copula else said
    if phrase.predicate:
        from dataclasses import replace
        return "de " + render(replace(phrase, predicate=False))
    if phrase.pair and not phrase.head.only_plural:     # "a pair of white sandals" -> "um par de sandálias brancas"
        from dataclasses import replace
        return "par de " + _render(replace(phrase, pair=False))
    if phrase.owner is not None:              # "mangas da camisa arregaçadas": the part's own words after
        from dataclasses import replace
        o = phrase.owner
        of = ("das" if o.plural else "da") if o.feminine else ("dos" if o.plural else "do")
        posts = " ".join(_mod_pt(m, phrase.feminine, phrase.plural) for m in phrase.posts
                         if not isinstance(m, tuple) and m.pos == "post")
        part = _render(replace(phrase, owner=None, posts=[m for m in phrase.posts
                                                          if isinstance(m, tuple) or m.pos != "post"]))
        return " ".join(x for x in (part, of, _render(o), posts) if x)
    return _render(phrase)


def _render(phrase: Phrase) -> str:
    head, fem, pl = phrase.head, phrase.feminine, phrase.plural
    noun = head.pt_plural if pl else head.pt
    materials, adjs, colours, des, coms, posts, unknowns = [], [], [], [], [], [], []
    colour_run: list[str] = []
    for m in phrase.premods:
        if m == ("and", None):
            continue
        if isinstance(m, Head):            # a part used as a modifier: "bell-sleeve" -> com mangas sino
            (coms if m.mod.startswith("com ") else des if m.mod.startswith("de ") else adjs).append(
                m.mod.split(" ", 1)[1] if m.mod.startswith(("com ", "de ")) else m.mod)
            continue
        if m.pos == "unk":                 # a modifier the lexicon does not know: the translator's word for it
            said = m.pt or m.en
            unknowns.append(agree_words(said, fem, pl) if said.endswith("o") and said != m.en.lower() else said)
            continue
        if m.pos == "post" or m.cls == "after":      # "matching": after everything ("amarelas combinando")
            posts.append(_mod_pt(m, fem, pl))
        elif m.cls == "colour" and m.pos in ("adj", "inv", "vib"):
            colour_run.append(_mod_pt(m, fem, pl))
        elif m.pos == "de" and m.cls == "material":
            materials.append(m.pt)
        elif m.pos == "de":
            des.append(m.pt)
        elif m.pos == "com":
            coms.append(m.pt)
        else:
            adjs.append(_mod_pt(m, fem, pl))
    for m in phrase.posts:
        if isinstance(m, tuple):                  # a participle with its object: "por dentro da calça"
            mod, obj, det = m
            said = _with_object(_mod_pt(mod, fem, pl), obj, det)
            posts.append(said[4:] if said.startswith("ser ") else said)
        elif m.pos == "post":
            posts.append(_mod_pt(m, fem, pl))
        elif m.cls == "colour":
            colour_run.append(_mod_pt(m, fem, pl))
        elif m.pos == "de":
            materials.append(m.pt)
        else:
            adjs.append(_mod_pt(m, fem, pl))
    said = {fold(w) for w in re.split(r"[\s-]+", noun)}
    adjs = [a for a in adjs if fold(a) not in said]      # "maxi skirt" is "saia longa": not "saia longa longa"
    colours = [_join(colour_run)] if colour_run else []
    # a head with a place in it ("bolso no peito"): its adjectives before the place ("bolso pequeno no peito")
    m = re.search(r" (?:no|na|nos|nas|até) ", noun)
    noun, place = (noun[:m.start()], noun[m.start() + 1:]) if m else (noun, "")
    parts = [noun]
    if materials:
        parts.append("de " + " e ".join(dict.fromkeys(materials)))
    parts += list(dict.fromkeys(adjs)) + unknowns + colours
    parts += ["de " + d for d in dict.fromkeys(des)]
    parts.append(place)
    sems = []
    for prep, sub in phrase.withs:
        said = render(sub)
        if sub.quantity:
            said = QUANTITIES[sub.quantity][1 if sub.feminine else 0] + " " + said
        (coms if prep == "com" else sems).append(said)
    if coms:
        parts.append("com " + _join(list(dict.fromkeys(coms))))
    if sems:
        parts.append("sem " + _join(list(dict.fromkeys(sems))))
    parts += posts
    return _dedupe(" ".join(p for p in parts if p))


def _dedupe(text: str) -> str:
    """A word never said twice in a row ("saia longa" + "long" -> not "saia longa longa")."""
    out: list[str] = []
    for w in text.split(" "):
        if not (out and fold(out[-1]) == fold(w)):
            out.append(w)
    return " ".join(out)
