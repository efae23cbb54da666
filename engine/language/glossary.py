"""The store's fashion terms, and how they go through a generic translator without breaking the sentence.

en->pt, first: each fashion noun phrase of the English sentence ("a light blue bell-sleeve blouse with a peter pan
collar") is recognised and rendered whole in Portuguese by grammar (engine.language.noun_phrase) and goes through the
translator as ONE placeholder; the translator renders only the glue (verbs, prepositions). Every placeholder must
come back once and whole, or that attempt is thrown away and the noun-by-noun way below is tried.

Across sentences, a pronoun subject ("They are black." after "There are trousers in the image.") agrees with the
phrase it refers to (engine.language.noun_phrase.antecedent), and so does the pronoun Bergamot writes ("Elas"); a
streamed answer passes the sentences said before as ``context``. A modifier the lexicon does not know is taken into
its phrase and rendered by the translator alone in an adjective frame, checked ("It is crisp." -> "É nítido."), or
kept in English - never left glued to a placeholder, where it garbles the phrase. "That" is put back before a clause
("I can tell [that] the blouse is ..."), and a definite phrase opening a sentence keeps its article. Of the ways
below, the first that leaves nothing broken (``leftovers``: debris, a repeated word, English left in) is used.

en->pt, noun by noun: each glossary noun is swapped for an invented word the translator copies as it is (a
placeholder, like a brand name); after translation every placeholder must come back exactly once and whole, or the
protected attempt is thrown away and the plain translation is post-edited instead (known wrong renderings replaced)
- so a term comes out whole or not at all, and no fragment of a placeholder can reach the user. Each placeholder
becomes the term in Portuguese, and the article and adjectives around it are made to agree with the term's gender
and number (engine.language.pt_agreement). pt->en: a clerk's question through engine.language.question_lexicon, post-edited.

Files: assets/glossary.tsv, then $VITRINE_HOME/glossary.tsv (a store's own terms win; UTF-8 or Windows/Latin-1;
a bad row is reported by file, line and column and skipped, the rest still used). Columns: en, pt, gender (m/f;
adj for adjectives, which are post-edited only), pt_plural, en_plural, wrong_pt, wrong_en; empty plurals follow
the regular rules.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from engine.errors import BadInput, VitrineError
from engine.language.noun_phrase import antecedent, tsv_rows, Lexicon, Parser, render
from engine.language.pt_agreement import agree, agree_verb, en_plural, pt_plural
from engine.text_files import read_text

log = logging.getLogger(__name__)

# invented words Bergamot copies untouched in every position tried (measured; "Plinth" became "Plínio")
PLACEHOLDERS = ("Xavoq", "Quenvik", "Brixel", "Jexum", "Vrandel", "Zorblat", "Wuzzle", "Kelvorn", "Trunzik",
                "Dovrelk")
# a placeholder's start anywhere in a word: 5 letters, so no Portuguese word matches ("pequeno" has "quen")
_FRAGMENT = re.compile("|".join(p[:5] for p in PLACEHOLDERS), re.IGNORECASE)
_BROKEN = re.compile(r"(?<![\d.])\.\s*[a-zà-ÿ]{1,2}\.|\s[.,;:]|\.\.(?!\.)|,\s*,")


@dataclass(frozen=True)
class Term:
    en: str
    pt: str
    gender: str                       # "m" or "f": what the article and adjectives agree with
    pt_plural: str
    en_plural: str
    wrong_pt: tuple[str, ...] = ()
    wrong_en: tuple[str, ...] = ()
    part: bool = False                # a garment part, material or pattern (its file section says so)
    store: bool = False               # from the store's own glossary (wins over the built-in lexicon)

    @property
    def feminine(self) -> bool:
        return self.gender == "f"


def _pattern(terms) -> re.Pattern:
    return _compiled(tuple(terms))


@lru_cache(maxsize=8192)
def _compiled(terms: tuple[str, ...]) -> re.Pattern:
    # cached here: fix() asks for two patterns per term per sentence, far more than re's own cache (512) holds,
    # and recompiling them cost more than the translation itself
    alts = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


def _cased(match: str, right: str) -> str:
    return right[0].upper() + right[1:] if match[:1].isupper() else right


# "a logo on the left side" comes back "um logotipo não lado esquerdo": "on the" before a place, read as "não"
_PLACES_M = ("lado peito ombro bolso topo centro meio pescoço braço punho cotovelo joelho tornozelo cabelo pulso "
             "quadril gancho cabide varal "
             "fundo parque chão canto banco jardim espelho provador cabide manequim balcão carro sofá quarto rosto")
_FEMININE_PLACES = set("frente parte cintura gola manga barra mão cabeça altura mesa cadeira cama porta prateleira "
                       "parede arara vitrine".split())
_ON_THE = re.compile(r"(?<![\wÀ-ÿ])(não) ((?:" + "|".join(_PLACES_M.split() + sorted(_FEMININE_PLACES)) + r")\b)",
                     re.IGNORECASE)


_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

# "1. ", "- ", "**Top:** ": kept out of the translator
_MARKUP = re.compile(r"^(\s*(?:[-*•]|\d{1,2}[.)])\s+|\s*)(\*\*[^*]{1,40}?:?\*\*:?\s*)?(.*)$", re.DOTALL)

# the translator's own slips in the glue of VLM answers (measured): "Overall," -> "Não geral,"
_GLUE_FIXES = {"não geral": "No geral"}
_GLUE = re.compile("|".join(_GLUE_FIXES), re.IGNORECASE)

# "a man in a grey suit": Bergamot says "em um terno", Portuguese says "com um terno" (or "de terno")
_IN_A = re.compile(r"(?<![\wÀ-ÿ])(em|no|na|nos|nas) (?:(?:um|uma|uns|umas) )?$", re.IGNORECASE)
_EN_IN = re.compile(r"(?<![\w-])in (?:(?:a|an|the|his|her|their|matching) )?$", re.IGNORECASE)


_VERB_BEFORE = re.compile(r"(?<![\wÀ-ÿ])(é|são|está|estão|parece|parecem|fica|ficam)(?: (?:ser|estar))?"
                          r"(?: (?:um pouco|muito|bem|bastante|demasiado|meio|tão|totalmente|completamente|"
                          r"ligeiramente|levemente|extremamente|relativamente|mais|menos|também))* $",
                          re.IGNORECASE)


# "the dress", "the child's sneakers": a definite phrase
_EN_THE = re.compile(r"(?:^|\s)the\s+(?:[\w-]+['’]s\s+)?$", re.IGNORECASE)
# "I can tell the blouse is made of silk": English drops "that", and Bergamot reads "tell the blouse" ("dizer à
# blusa"); the word is put back before the translator sees it
_SAY_THAT = ("tell", "say", "see", "think", "believe", "guess", "notice", "assume", "suspect", "know", "confirm",
             "like")        # "it looks like the skirt is made of corduroy": "parece que a saia"
_CLAUSE_VERBS = ("is", "are", "was", "were", "has", "have", "had", "looks", "look", "seems", "seem", "appears",
                 "appear", "features", "comes", "fits")


def _that(protected: str, swaps: list) -> str:
    """``protected`` with "that" after a verb of saying or seeing whose object is a clause ("I can tell [that]
    the Xavoq is ..."): its subject starts with a determiner and its verb (or a predicate placeholder) follows
    within a few words."""
    verbs = "|".join(_CLAUSE_VERBS + tuple(s.placeholder for s in swaps if s.predicate))
    return re.sub(rf"\b({'|'.join(_SAY_THAT)})\s+(?=(?:the|her|his|their|its|this|these|those)\s+"
                  rf"(?:[\w'’-]+\s+){{0,3}}?(?:{verbs})\b)", r"\1 that ", protected, flags=re.IGNORECASE)


# "É nítido.", "Ela é empoeirada.": an adjective alone after the copula, no article, one or two words
_ADJECTIVE_FRAME = re.compile(r"(?:(Ele|Ela) )?(?:é|está) (?!(?:o|a|os|as|um|uma|de|da|do|em)\b)"
                              r"([a-zà-ÿ]+(?:-[a-zà-ÿ]+)?)\.?", re.IGNORECASE)
_ARTICLE_AFTER_VERB = re.compile(r"(?<![\wÀ-ÿ])(é|são|está|estão|parece|parecem|era|eram|foi|foram|fica|ficam|ser|"
                                 r"estar) "
                                 r"(o|a|os|as|um|uma|uns|umas) $", re.IGNORECASE)
_VERB_AFTER = re.compile(r" e (tem|têm|possui|possuem|parece|parecem|fica|ficam)\b", re.IGNORECASE)


_PRONOUNS_PT = {("eles", True): "elas", ("ele", True): "ela", ("elas", False): "eles", ("ela", False): "ele",
                ("um", True): "uma", ("uns", True): "umas", ("o outro", True): "a outra", ("os outros", True):
                "as outras", ("a outra", False): "o outro", ("nenhum", True): "nenhuma", ("cada um", True): "cada uma",
                ("um deles", True): "uma delas", ("uma delas", False): "um deles", ("um dos", True): "uma das",
                ("dois", True): "duas", ("duas", False): "dois", ("alguns", True): "algumas", ("todos", True): "todas",
                ("os outros", True): "as outras"}
_PT_PRONOUN = re.compile(r"(?<![\wÀ-ÿ])(um deles|uma delas|eles|elas|ele|ela|um|uns|o outro|os outros|a outra|"
                         r"nenhum|cada um|dois|duas|alguns|todos)"
                         r"(?= (?:é|são|está|estão|parece|parecem|tem|têm|possui|possuem|fica|ficam|era|eram|"
                         r"também|ambos|ambas|não)\b)", re.IGNORECASE)


def _pronoun_agrees(english: str, output: str, before: list | None, now: list | None = None) -> str:
    """A pronoun subject in the gender of what it refers to in the sentences before: "There are trousers in the
    image. They are black." -> "Elas são pretas" (Bergamot says "Eles"); "One is black and the other is white"
    after "two skirts" -> "Uma é preta e a outra é branca"."""
    if not before and not now:
        return output
    for clause in re.finditer(r"(?:^|[,;:]\s*|\b(?:and|but|while)\s+)(?:they|it|one|the other|each|neither|two|"
                              r"some|all|the others)\b",
                              english, re.IGNORECASE):
        # what the pronoun can refer to: the sentences before, and this one's phrases before the pronoun
        ante = antecedent(english[clause.start():clause.end()] + " is ",
                          list(before or []) + [p for p in now or [] if p.end <= clause.start()])
        if ante is None:
            continue
        fem = ante[1]

        def fix(m: re.Match) -> str:
            to = _PRONOUNS_PT.get((m.group(1).lower(), fem))
            return _cased(m.group(1), to) if to else m.group(1)
        return _PT_PRONOUN.sub(fix, output)
    return output


# English words that have no business in a Portuguese answer (the bench's debris check says the same)
_EN_LEFT = set("""the with and of is are was were has have wearing wears worn her his she he its it this that
these those on in at for from over under which there their they appears appear looks seems""".split())
_REPEATED = re.compile(r"(?<![\w-])([\wÀ-ÿ]{2,})\s+\1(?![\w-])", re.IGNORECASE)


_HAS_ON = re.compile(r"(?:(?<=\bshe )|(?<=\bhe )|(?<=\bthey )|(?<=\bman )|(?<=\bwoman )|(?<=\bmodel )|"
                     r"(?<=\bgirl )|(?<=\bboy )|(?<=\bperson )|(?<=\bchild )|(?<=\blady ))(has|have) "
                     r"((?:a|an|the|her|his|their|some|two|three)\b[^.,;!?]{1,60}?) on([.!?]?\s*)$",
                     re.IGNORECASE)


def leftovers(text: str) -> bool:
    """Whether a Portuguese answer is broken where a user sees it: a placeholder's debris, a word said twice in a
    row ("longa longa"), an English function word left in ("the", "with")."""
    return has_debris(text) or bool(_REPEATED.search(text)) or any(
        w.lower() in _EN_LEFT for w in re.findall(r"[A-Za-zÀ-ÿ]+(?:-[A-Za-zÀ-ÿ]+)*", text))


def has_debris(text: str) -> bool:
    """A fragment of a placeholder, or punctuation broken the way a mangled placeholder leaves it."""
    return bool(_FRAGMENT.search(text) or _BROKEN.search(text))


_GENDERS = ("m", "f", "adj")


def _parse_terms(text: str, name: str, problems: list[str], store: bool) -> list[Term]:
    """The rows of a glossary file; a bad row is one problem line (file:line: column ...) and is skipped."""
    split = lambda v: tuple(w.strip() for w in (v or "").split("|") if w.strip())
    out = []
    rows = tsv_rows(text)
    header = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if header and not {"en", "pt"} <= {c.strip().lower() for c in header.split("\t")}:
        problems.append(f"{name}: the first line must name the columns (en, pt, gender, ...): skipped")
        log.warning("%s", problems[-1])
        return []
    for line, row in rows:
        en, pt = (row.get("en") or "").strip(), (row.get("pt") or "").strip()
        gender = (row.get("gender") or "").strip().lower()
        bad = None
        if None in row:
            bad = "more columns than the header names (a tab too many?)"
        elif not en:
            bad = "column en is empty"
        elif not pt:
            bad = "column pt is empty"
        elif gender and gender not in _GENDERS:
            bad = f"column gender is {gender!r}: write m, f or adj"
        if bad:
            problems.append(f"{name}:{line}: {bad}: row skipped")
            log.warning("%s", problems[-1])
            continue
        gender = gender or ("f" if pt.split()[0].endswith("a") else "m")
        out.append(Term(en, pt, gender, (row.get("pt_plural") or "").strip() or pt_plural(pt),
                        (row.get("en_plural") or "").strip() or en_plural(en),
                        split(row.get("wrong_pt")), split(row.get("wrong_en")),
                        part=row.get("section") == "part", store=store))
    return out


@dataclass(frozen=True)
class Swap:
    """A placeholder and what replaces it: the Portuguese with the gender and number it agrees in."""
    placeholder: str
    pt: str
    feminine: bool
    plural: bool
    forward: bool = True      # False: a noun of a coordinated subject (what follows agrees with the whole subject)
    phrase: bool = False      # a whole phrase (its modifiers are inside it: nothing before it is moved)
    garment: bool = False     # a garment one wears ("in a grey suit" -> "com um terno cinza")
    worn_in: bool = False     # the English said "in" before it: a person in a garment
    predicate: bool = False   # modifiers with no noun, agreeing with the subject: the verb before agrees too
    definite: bool = False    # the English said "the" ("the child's sneakers"): a sentence never opens bare


class Glossary:
    def __init__(self, terms: list[Term]):
        self.problems: list[str] = []         # a store file's bad rows, one line each (file:line: column ...)
        self.terms = sorted(terms, key=lambda t: -len(t.en))      # longest first: "crossbody bag" before "bag"
        self._forms: dict[str, tuple[Term, bool]] = {}
        for t in self.terms:
            if t.gender not in ("m", "f"):          # adjectives are post-edited, never swapped
                continue
            self._forms.setdefault(t.en.lower(), (t, t.en_plural.lower() == t.en.lower()))
            self._forms.setdefault(t.en_plural.lower(), (t, True))
        self._en = _pattern(self._forms) if self._forms else None
        self._parser = None
        self._unknown_cache: dict[str, str] = {}      # an unknown modifier -> its checked Portuguese

    @property
    def parser(self):
        """The noun-phrase parser over the lexicon (built on first use: the built-in lexicon files, then these
        terms; a store's own terms last, so they win)."""
        if self._parser is None:
            lexicon = Lexicon.builtin([t for t in self.terms if not t.store])
            lexicon.load_glossary_terms([t for t in self.terms if t.store])
            self._parser = Parser(lexicon)
        return self._parser

    @property
    def lexicon(self):
        return self.parser.lex

    @property
    def entries(self) -> list[Term]:          # the name earlier releases used
        return self.terms

    @classmethod
    def load(cls, *paths: Path) -> "Glossary":
        """The built-in glossary, then each further file (a store's own): its rows win. A store file that cannot
        be read, or a bad row in it, is reported (``problems``, and the log) and the rest is used."""
        terms: dict[str, Term] = {}
        problems: list[str] = []
        for n, path in enumerate(paths):
            path = Path(path)
            if not path.is_file():
                continue
            try:
                text = read_text(path, "the glossary").text if n else path.read_text(encoding="utf-8")
            except BadInput as e:
                problems.append(f"{e}: using the built-in glossary")
                log.warning("%s", problems[-1])
                continue
            for term in _parse_terms(text, str(path), problems, store=n > 0):
                terms[term.en.lower()] = term
        glossary = cls(list(terms.values()))
        glossary.problems = problems
        return glossary

    def has(self, text: str, term: str) -> bool:
        return _pattern([term]).search(text) is not None

    # ---- en -> pt ------------------------------------------------------------------------------------------
    def protect(self, source: str) -> tuple[str, list[tuple[str, Term, bool]]]:
        """``source`` with glossary nouns swapped for placeholders; (placeholder, term, plural) per swap."""
        if self._en is None:
            return source, []
        swaps: list[tuple[str, Term, bool]] = []

        def swap(m: re.Match) -> str:
            if len(swaps) >= len(PLACEHOLDERS):
                return m.group()
            term, plural = self._forms[m.group().lower()]
            ph = PLACEHOLDERS[len(swaps)]
            swaps.append((ph, term, plural))
            return ph
        return self._en.sub(swap, source), swaps

    def _unknowns(self, phrase, translate: Callable[[str], str]):
        """The phrase with each modifier the lexicon does not know rendered by the translator alone ("heather"),
        checked: one to three plain words back, nothing broken, else the English word stays (a loanword, as
        Brazilian shops keep "cropped", "oversized") - never glued to the phrase where it garbles it."""
        from dataclasses import replace
        if not any(getattr(m, "pos", "") == "unk" for m in phrase.premods):
            return phrase
        mods = []
        for m in phrase.premods:
            if getattr(m, "pos", "") == "unk" and not m.pt:
                m = replace(m, pt=self._unknown_pt(m.en, translate))
            mods.append(m)
        return replace(phrase, premods=mods)

    def _unknown_pt(self, en: str, translate: Callable[[str], str]) -> str:
        """A modifier the lexicon does not know, by the translator in a frame that shows it is an adjective ("It
        is crisp." -> "É nítido."): the word the frame comes back with, in the masculine singular, when it comes
        back as the frame exactly (no article: "É a urze" is a noun, not a modifier); else the English word."""
        key = en.lower()
        if key in self._unknown_cache:
            return self._unknown_cache[key]
        try:
            got = translate(f"It is {key}.").strip()
        except (VitrineError, RuntimeError, ValueError) as e:     # the translator failed: the English stays
            log.debug("could not translate the modifier %r alone: %s", en, e)
            got = ""
        m = _ADJECTIVE_FRAME.fullmatch(got)
        out = key
        if m and not has_debris(got):
            word = m.group(2).lower()
            mine, theirs = set(re.split(r"[- ]", word)), set(re.split(r"[- ]", key))
            if word == key or not mine & theirs:     # the English kept whole, or a word of its own
                if (m.group(1) or "").lower() == "ela" and word.endswith("a") and word != key:
                    word = word[:-1] + "o"            # "Ela é empoeirada": the lemma is "empoeirado"
                out = word
        if len(self._unknown_cache) < 4096:
            self._unknown_cache[key] = out
        return out

    def protect_phrases(self, source: str, before: list | None = None, found: list | None = None,
                        translate: Callable[[str], str] | None = None) -> tuple[str, list[Swap]]:
        """``source`` with each fashion noun phrase swapped for a placeholder, rendered whole in Portuguese.
        ``before``: the phrases of the sentences before (a pronoun subject agrees with them); ``found``, when
        given, gets this sentence's phrases."""
        swaps: list[Swap] = []
        out, at = [], 0
        phrases = self.parser.find(source, before)
        if found is not None:
            found.extend(phrases)
        if translate is not None:
            phrases = [self._unknowns(p, translate) for p in phrases]
        for phrase in phrases:
            if len(swaps) >= len(PLACEHOLDERS):
                break
            ph = PLACEHOLDERS[len(swaps)]
            swaps.append(Swap(ph, render(phrase), phrase.feminine, phrase.plural,
                              forward=not (phrase.coordinated or phrase.possessor) and phrase.run is None
                              and phrase.alone is None,
                              phrase=True, garment=phrase.run is None and phrase.alone is None and
                              not phrase.head.part and not phrase.predicate,
                              worn_in=bool(_EN_IN.search(source[:phrase.start])),
                              predicate=phrase.run is not None or phrase.alone is not None,
                              definite=bool(_EN_THE.search(source[:phrase.start]))))
            out.append(source[at:phrase.start] + ph)
            at = phrase.end
        return "".join(out) + source[at:], swaps

    def restore(self, output: str, swaps: list) -> str | None:
        """Placeholders -> Portuguese with agreement; None when any placeholder did not come back exactly once."""
        swaps = [s if isinstance(s, Swap) else Swap(s[0], s[1].pt_plural if s[2] else s[1].pt, s[1].feminine,
                                                     s[2]) for s in swaps]
        for s in swaps:
            if len(re.findall(rf"(?<!\w){s.placeholder}(?!\w)", output)) != 1:
                return None
        for s in swaps:
            m = re.search(rf"(?<!\w){s.placeholder}(?!\w)", output)
            if m is None:           # agreement around an earlier term took it apart: not whole, so not used
                return None
            word = s.pt
            at_start = m.start() == 0 or output[:m.start()].rstrip().endswith((".", "!", "?"))
            word = word[0].upper() + word[1:] if at_start else word
            start = m.start()
            if s.garment and s.worn_in and (w := _IN_A.search(output[:start])):   # "em um terno" -> "com um terno"
                with_ = "com" if w.group(1).lower() == "em" else "com " + {"no": "o", "na": "a", "nos": "os",
                                                                            "nas": "as"}[w.group(1).lower()]
                if w.group(1)[0].isupper():
                    with_ = with_.capitalize()
                output = output[:w.start(1)] + with_ + output[w.end(1):]
                start += len(with_) - len(w.group(1))
            if s.predicate and (a := _ARTICLE_AFTER_VERB.search(output[:start])):
                # modifiers alone are no noun: Bergamot's "É o Xavoq" for "It is Xavoq" -> "É plissada"
                output = output[:a.start(2)] + output[a.end(2) + 1:]
                start -= a.end(2) + 1 - a.start(2)
            if s.predicate and re.match(r"(?:é|são|está|estão|parece|parecem) ", word) and \
                    (v := _VERB_BEFORE.search(output[:start])) and not v.group(0).strip().endswith(("ser", "estar")):
                # the phrase says its own verb ("está por dentro", "é feito de"): not "É é feito de seda"
                output = output[:v.start(1)] + output[start:]
                start = v.start(1)
                word = word[0].upper() + word[1:] if (start == 0 or output[:start].rstrip().endswith(
                    (".", "!", "?"))) else word
            if s.definite and s.phrase and not s.predicate and at_start:
                # "The child's sneakers are pink": Bergamot drops the article ("Tênis da criança são")
                art = ("As" if s.plural else "A") if s.feminine else ("Os" if s.plural else "O")
                word = f"{art} {word[0].lower()}{word[1:]}"
            output = output[:start] + word + output[start + len(s.placeholder):]
            if s.predicate and (v := _VERB_BEFORE.search(output[:start])):   # "parecem ser feitas de lã"
                verb = agree_verb(v.group(1), s.plural)
                output = output[:v.start(1)] + verb + output[v.end(1):]
                start += len(verb) - len(v.group(1))
            if s.predicate and (v := _VERB_AFTER.match(output, start + len(word))):   # "... e têm uma barra"
                verb = agree_verb(v.group(1), s.plural)
                output = output[:v.start(1)] + verb + output[v.end(1):]
            output = agree(output, start, start + len(word), s.feminine, s.plural, s.forward, move=not s.phrase)
        if has_debris(output):
            return None
        return output

    def translate_en_pt(self, text: str, translate: Callable[[str], str], context: str = "") -> str:
        """Phrases whole first; then nouns one by one; then the plain translation post-edited. A list marker
        ("1.", "-") and a bold label ("**Top:**") are kept out of the translator: they confuse it. ``context``:
        the English said before ``text`` (parsed, not translated), which its pronouns may refer to."""
        m = _MARKUP.match(text)
        if m and (m.group(1).strip() or m.group(2)) and m.group(3).strip():
            label = m.group(2) or ""
            core = re.sub(r"[*:\s]+", " ", label).strip()
            if core:
                label = label.replace(core, self._en_pt(core, translate).rstrip("."), 1)
            return m.group(1) + label + self.translate_en_pt(m.group(3), translate, context)
        before: list = []
        for said in _SENTENCES.split(context.strip()) if context.strip() else ():
            before += self.parser.find(said, before)
        out = _GLUE.sub(lambda m: _GLUE_FIXES[m.group().lower()], self._en_pt(text, translate, before or None))
        if "(" not in text:           # Bergamot's own additions: a gender mark "(a)" after a word it did not know
            out = re.sub(r"\s*\((?:a|o|as|os)\)", "", out)
        if "(em inglês)" in out and "english" not in text.lower():      # Bergamot's own addition
            out = out.replace(" (em inglês)", "").replace("(em inglês)", "")
        return _ON_THE.sub(lambda m: _cased(m.group(1), ("na " if m.group(2).lower() in _FEMININE_PLACES else "no "))
                           + m.group(2), out)

    def _en_pt(self, text: str, translate: Callable[[str], str], before: list | None = None,
               found: list | None = None) -> str:
        sentences = _SENTENCES.split(text.strip())
        if len(sentences) > 1:        # one at a time, as the answer streams: Bergamot joins sentences with commas
            out, before = [], list(before or [])
            for s in sentences:
                if s.strip():
                    now: list = []
                    out.append(self._en_pt(s, translate, before, now))
                    before += now      # what a pronoun of the next sentence can refer to
            return " ".join(out)
        now: list = []
        got = self._en_pt_one(text, translate, before, now)
        if found is not None:
            found.extend(now)
        return _pronoun_agrees(text, got, before, now)

    def _en_pt_one(self, text: str, translate: Callable[[str], str], before: list | None,
                   found: list | None) -> str:
        """The first way that leaves nothing broken (see ``leftovers``): phrases whole, nouns one by one, the plain
        translation post-edited; when every way leaves something, the first."""
        first = None
        for out in self._attempts(text, translate, before, found):
            if not leftovers(out):
                return out
            log.debug("%r left %r: trying the next way", text, out)
            first = out if first is None else first
        return first

    def _attempts(self, text: str, translate: Callable[[str], str], before: list | None, found: list | None):
        # "She has a bucket hat on." is "is wearing" (Bergamot leaves "em." at the end)
        text = _HAS_ON.sub(lambda m: ("is wearing " if m.group(1).lower() == "has" else "are wearing ")
                           + m.group(2) + m.group(3), text)
        protected, swaps = self.protect_phrases(text, before, found, translate)
        protected = _that(protected, swaps)
        if swaps and re.fullmatch(rf"(?:\W*(?:{'|'.join(s.placeholder for s in swaps)}))+\W*", protected):
            # the whole answer is phrases ("Black.", "A red dress.", "Straight-leg jeans, high-rise."): nothing
            # for the translator to do (given only placeholders it invents words: "Xavoq A.")
            out = self.restore(protected, swaps)
            if out is not None:
                yield out
        if swaps:
            got = self.fix(text, translate(protected), "en", "pt")
            if re.search(r"(?i)\bon\b", protected):       # "a print on the Xavoq" came back "não Xavoq"
                for s in swaps:
                    got = re.sub(rf"(?<![\wÀ-ÿ])(?:não|Não) (?={s.placeholder}\b)",
                                 lambda m: ("N" if m.group()[0] == "N" else "n")
                                 + (("as" if s.plural else "a") if s.feminine else ("os" if s.plural else "o")) + " ",
                                 got)
            out = self.restore(got, swaps)
            if out is not None:
                yield out
            else:
                log.debug("a phrase did not come back whole in %r: nouns one by one instead", text)
        phrase_protected = protected if swaps else None
        protected, swaps = self.protect(text)
        if swaps and protected != phrase_protected:      # the same text again would fail the same way
            # adjectives' known wrong renderings first ("azul marinho"), while the nouns are still placeholders
            out = self.restore(self.fix(text, translate(protected), "en", "pt"), swaps)
            if out is not None:
                yield out
            else:
                log.debug("a protected term did not come back whole in %r: post-editing instead", text)
        yield self.fix(text, translate(text), "en", "pt")

    def normalise_pt(self, text: str) -> str:
        """A Portuguese answer a multilingual model wrote itself, in the store's words: each term's known wrong
        renderings replaced (with agreement), except those that are the right word for another term
        ("camisola" is a nightgown in Brazil, so it is never replaced without an English source)."""
        rights = {t.pt.lower() for t in self.terms} | {t.pt_plural.lower() for t in self.terms}
        for t in self.terms:
            wrong = tuple(w for w in t.wrong_pt if w.lower() not in rights)
            if wrong and _pattern(wrong).search(text):
                text = self._replace(text, wrong, t)
        return text

    def _replace(self, output: str, wrong: tuple[str, ...], t: Term, right: str | None = None) -> str:
        """``wrong`` renderings -> ``right`` (default: the Portuguese term, then made to agree around it)."""
        to_pt = right is None
        right = t.pt if to_pt else right
        keep = [m.group() for m in _pattern([right]).finditer(output)]
        output = _pattern([right]).sub("\u0000", output)       # the right term stays as it is
        output = _pattern(wrong).sub(lambda m: _cased(m.group(), right) + "\u0001", output)
        for k in keep:
            output = output.replace("\u0000", k, 1)
        while to_pt and t.gender in ("m", "f") and (at := output.find("\u0001")) >= 0:   # "um saco" -> "uma bolsa"
            output = output[:at] + output[at + 1:]
            output = agree(output, at - len(right), at, t.feminine, False)
        return output.replace("\u0001", "")

    # ---- post-editing ----------------------------------------------------------------------------------------
    def fix(self, source: str, output: str, src: str, dst: str) -> str:
        """Replace known wrong renderings (in one pass per term, so a fix is never fixed again)."""
        for t in self.terms:
            if src == "en" and dst == "pt" and t.wrong_pt and (self.has(source, t.en) or
                                                                self.has(source, t.en_plural)):
                output = self._replace(output, t.wrong_pt, t)
            elif src == "pt" and dst == "en" and t.wrong_en and self.has(source, t.pt):
                output = self._replace(output, t.wrong_en, t, right=t.en)
        return output
