"""A clerk's Portuguese question in the English a model expects.

Clerks type fast: no accents ("calca", "qual e a cor"), shop words a generic translator does not know ("regata",
"jardineira", "rasteirinha", "sapatênis", "cropped"), short frames ("Tem estampa xadrez?") it renders badly
("Of you have chess print?"). Here, in order:

1. the question is normalised: accents restored and near misspellings of known words corrected (edit distance 1,
   words of 5+ letters), against the question lexicon (assets/lexicon/questions.tsv), the garment vocabulary and a
   list of everyday words;
2. a question that matches a fine-tuning template ("Qual é a cor da calça?") becomes the exact English wording the
   model was trained on ("What color are the trousers?") — the templates are those of export/datasets/questions.py, kept
   here as data because engine/ cannot import export/ (tests check that the two agree);
3. a question that matches a frame ("Tem X?", "A X tem Y?", "Ela está usando X?", "De que cor é X?") is built
   from the lexicon's English for X;
4. anything else goes to the translator with its fashion words swapped for placeholders that come back as the
   lexicon's English (or, when one does not come back whole, the plain translation).

Several questions typed in one box ("Tem manga? É comprida?") are split and each goes through the steps above; a
follow-up's "it" becomes "they" after a plural garment ("O tênis é de couro? Tem cadarço?" -> "... Do they have
laces?"). A shop's own questions have frames too: sizes (Brazilian P/M/G in English letters), "this X in colour",
how a garment behaves ("amassa?"), what it is for ("de academia").
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from engine.language.glossary import Glossary
from engine.language.noun_phrase import agree_words, fold, LEXICON_DIR, tsv_rows
from engine.language.pt_agreement import en_plural, inflect, pt_plural
from engine.language.vocabulary import GARMENTS
from engine.paths import ASSETS

LEXICON = ASSETS / "lexicon" / "questions.tsv"

# English garment names that take "are" (the same list as export/datasets/questions.py's PLURAL_EN)
PLURAL_EN = {"shoes", "trousers", "jeans", "shorts", "sneakers", "sandals", "heels", "flip flops", "socks"}
# the fine-tuning's garment-question wordings, Portuguese -> English, in the same order (export/datasets/questions.py)
GARMENT_QUESTIONS = {"que peça é esta": "What is this item?", "o que é este item": "What garment is this?",
                     "que tipo de roupa é esta": "What kind of clothing is this?"}

# everyday words of questions, with their accents (a word typed without them is given them back)
_ACCENTED = """é está estão você vocês têm também não já até após através cós tênis óculos calça calças
botão botões algodão camurça crochê tricô paetê sutiã biquíni maiô chapéu boné relógio sapatênis suéter cardigã
zíper macacão roupão cetim poliéster couro lã cadarço alça alças peça peças cáqui bordô lilás marrom padrão
preço três número única câmera""".split()
_COMMON = set("""a o as os um uma uns umas de da do das dos em na no nas nos e é ou que qual quais quem como onde
quando quanto quanta quantos quantas por para com sem sobre tem ter há ela ele elas eles isso isto esse essa este
esta cor cores usando vestindo veste usa imagem foto item tipo roupa mulher homem pessoa menina menino moça rapaz
descreva diga mostre me você algum alguma alguns algumas tecido material estampa comprimento decote manga tem
parece está esta está são sim não muito pouco mais menos grande pequeno pequena cabelo mão lado frente costas
item itens coisa coisas escrita escrito acessório acessórios dela dele nela nele combina joelho acima abaixo
vestida vestidas usada usado usadas usados arrumada arrumado bonita bonito bonitas bonitos calçada calçado
nesta neste nessa nesse desta deste dessa desse naquela naquele daquela daquele aquela aquele aquilo outra outro
outras outros mesma mesmo mesmas mesmos cada todo toda todos todas tudo nada algo alguém ninguém sempre nunca
também apenas só somente ainda agora aqui ali lá então porque pois mas porém qual quais qualquer quanto
imagem imagens foto fotos vídeo cena loja cliente vendedora tamanho preço marca modelo tipo jeito forma parte
lado frente costas cima baixo dentro fora perto longe direita esquerda meio centro fundo primeira primeiro
segunda segundo última último vem vêm fica ficam combina combinam serve servem veste vestem usa usam dá tem
pode podem posso consegue ver vejo vê mostra mostrar existe existem aparece aparecem
""".split())

_COLOUR_LEMMAS = {  # Portuguese colour (masculine singular) -> English
    "vermelho": "red", "azul": "blue", "verde": "green", "amarelo": "yellow", "preto": "black", "branco": "white",
    "rosa": "pink", "laranja": "orange", "roxo": "purple", "marrom": "brown", "cinza": "grey", "bege": "beige",
    "dourado": "gold", "prateado": "silver", "vinho": "burgundy", "bordô": "burgundy", "creme": "cream",
    "lilás": "lilac", "caramelo": "camel", "nude": "nude", "cáqui": "khaki", "mostarda": "mustard",
    "azul-marinho": "navy blue", "marinho": "navy", "azul-claro": "light blue", "azul-escuro": "dark blue",
    "verde-escuro": "dark green", "verde-claro": "light green", "colorido": "colorful", "turquesa": "turquoise",
    "coral": "coral", "fúcsia": "fuchsia", "violeta": "violet", "off-white": "off-white", "grafite": "charcoal",
    "escuro": "dark", "claro": "light", "verde-oliva": "olive green", "marfim": "ivory", "salmão": "salmon",
}


@dataclass(frozen=True)
class Word:
    pt: str
    en: str
    kind: str            # garment, part, pattern, material, colour
    plural: bool


def _modifiers() -> list[tuple[str, str, str]]:
    """(English, Portuguese, pos) of the answer lexicon's modifiers, the first English for each Portuguese."""
    out = []
    for _, row in tsv_rows((LEXICON_DIR / "modifiers.tsv").read_text(encoding="utf-8")):
        if row["pos"] in ("post", "com"):     # "com decote canoa" is a part: the heads have it
            continue
        pos = "material" if row["class"] == "material" and row["pos"] == "de" else row["pos"]
        out.append((row["en"], row["pt"], pos))
    return out


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Word]:
    """Folded Portuguese (one or more words) -> its English."""
    out: dict[str, Word] = {}
    lines = [l for l in LEXICON.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]
    for row in csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
        w = Word(row["pt"], row["en"], row["kind"], (row.get("plural") or "") == "y")
        out.setdefault(fold(row["pt"]), w)
        if w.kind in ("pattern", "adj", "colour") and re.fullmatch(r"[a-zà-ÿ]+[oa]", w.pt):   # lisa: liso, lisos, lisas
            for form in (w.pt[:-1] + "o", w.pt[:-1] + "a", w.pt[:-1] + "os", w.pt[:-1] + "as"):
                out.setdefault(fold(form), Word(form, w.en, w.kind, False))
    for lemma, en in _COLOUR_LEMMAS.items():
        for f in (False, True):
            for p in (False, True):
                out.setdefault(fold(inflect(lemma, f, p)), Word(lemma, en, "colour", False))
    for en, pt, pos in _modifiers():            # "canelada" -> ribbed, "de cano alto" -> knee-high
        for f in (False, True):
            for p in (False, True):
                form = agree_words(pt, f, p) if pos == "adj" else pt
                out.setdefault(fold(form), Word(pt, en, "material" if pos == "material" else "adj", False))
    for en, noun in GARMENTS.items():          # the fine-tuning's own garment words
        out.setdefault(fold(noun.pt), Word(noun.pt, en, "garment", en in PLURAL_EN))
    # every garment and part of the answers' lexicon, the other way round ("saia lápis" -> pencil skirt)
    heads = Glossary.load(LEXICON.parent.parent / "glossary.tsv").lexicon.heads.values()
    for h in heads:
        if h.en and not h.plural_en and h.en.replace("-", "").replace(" ", "").isalpha():
            out.setdefault(fold(h.pt), Word(h.pt, h.en, "part" if h.part else "garment", False))
    for h in heads:
        if h.en and h.plural_en:
            out.setdefault(fold(h.pt_plural), Word(h.pt_plural, h.en, "part" if h.part else "garment", True))
    for key, w in list(out.items()):           # "off white" as "off-white", "meia calça" as "meia-calça"
        if "-" in key:
            out.setdefault(key.replace("-", " "), w)
    for key, w in list(out.items()):           # "bolsas" -> bags, "botões" -> buttons
        if w.kind in ("garment", "part") and not w.plural and fold(w.pt) == key:
            out.setdefault(fold(pt_plural(w.pt)), Word(pt_plural(w.pt), en_plural(w.en), w.kind, True))
    return out


@lru_cache(maxsize=1)
def _spelling() -> tuple[dict[str, str], dict[str, set[str]]]:
    """(folded word -> accented word, deletion neighbours -> words) for accent restoring and typo fixing."""
    accented: dict[str, str] = {}
    words = set(_COMMON) | set(_ACCENTED)
    for w in lexicon().values():
        words.update(re.findall(r"[\wÀ-ÿ-]+", w.pt.lower()))
    for noun in GARMENTS.values():
        words.update(noun.pt.split())
    for w in words:
        if fold(w) != w:
            accented.setdefault(fold(w), w)
    deletes: dict[str, set[str]] = {}
    # a misspelling is corrected only to a shop word of one word ("vestdo" -> vestido), never to a word that
    # only occurs inside a longer term ("nesta" is not "festa" of "vestido de festa")
    targets = {w.pt.lower() for k, w in lexicon().items() if " " not in k} | {n.pt for n in GARMENTS.values()
                                                                              if " " not in n.pt}
    for w in targets:
        if len(w) >= 5:
            f = fold(w)
            for i in range(len(f)):
                deletes.setdefault(f[:i] + f[i + 1:], set()).add(w)
            deletes.setdefault(f, set()).add(w)
    return accented, deletes


def _known(word: str) -> bool:
    f = fold(word)
    return f in lexicon() or word in _COMMON or f in _spelling()[0] or word in _ACCENTED


def _correct(word: str) -> str:
    """A typed word with its accents back, or a near misspelling of a known word corrected."""
    low = word.lower()
    accented, deletes = _spelling()
    if low in _COMMON or fold(low) in lexicon() and fold(low) == low and low not in accented.values() \
            and fold(low) not in accented:
        return word
    if fold(low) in accented and low == fold(low):
        return accented[fold(low)]
    if _known(low) or len(low) < 5 or not low.isalpha():
        return word
    f = fold(low)
    cands = set(deletes.get(f, ()))
    for i in range(len(f)):
        cands |= deletes.get(f[:i] + f[i + 1:], set())
    cands = {c for c in cands if _distance1(fold(c), f)}
    if len(cands) == 1:
        return cands.pop()
    return word


def _distance1(a: str, b: str) -> bool:
    """Whether a and b differ by one inserted, deleted or replaced letter (or two swapped neighbours)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# what clerks type in a hurry, as a word of its own
_SLANG = {"vc": "você", "vcs": "vocês", "voce": "você", "q": "que", "pq": "porque", "pra": "para", "pro": "para o",
          "tb": "também", "tbm": "também", "msm": "mesmo", "qto": "quanto", "qdo": "quando", "td": "tudo",
          "tds": "todos", "eh": "é", "nº": "número"}


def normalise(question: str) -> str:
    """Accents restored, misspellings fixed, "qual e a" -> "qual é a", "voce esta usando" -> "está"."""
    words = re.findall(r"[\wÀ-ÿ-]+|[^\wÀ-ÿ-]+", question)
    out = [(_SLANG.get(w.lower()) or _correct(w) if re.match(r"[\wÀ-ÿ]", w) else w) for w in words]
    text = "".join(out)
    text = re.sub(r"(?i)\b(qual|que|isso|isto|ela|ele|onde|como|quem|cor) e\b", r"\1 é", text)
    text = re.sub(r"(?i)\b(que|qual) (\w+) e (esse|essa|isso|este|esta|isto|aquele|aquela)\b", r"\1 \2 é \3", text)
    m = re.match(r"(?i)^(o|a|os|as|esse|essa|este|esta) (.+?) e (?!(?:o|a|os|as|um|uma|uns|umas)\b)", text)
    if m and phrase_en(m.group(2)) is not None:       # "a bolsa e grande" -> "a bolsa é grande"
        text = text[:m.end() - 2] + "é " + text[m.end():]
    # "E a calça, qual a cor?" -> "Qual a cor da calça?"
    text = re.sub(r"(?i)^e (o|a|os|as) ([^,?]+), qual (?:é )?(a|o) (cor|estampa|tecido|tamanho|marca)\??$",
                  lambda m: f"Qual {m.group(3)} {m.group(4)} d{m.group(1).lower()} {m.group(2)}?", text)
    text = re.sub(r"(?i)\b(esta|estas|ta|tá)\b(?=\s+(\w+ndo|de|com|em|na|no|usando|vestindo)\b)",
                  lambda m: "estas" if m.group(1).lower() == "estas" else "está", text)
    return text


# ---------------------------------------------------------------------- phrases
_UNCOUNTABLE = {"embroidery", "lace", "fringe", "lining", "padding", "elastic", "denim", "leather", "ruffles"}


# parts that come several to a garment: a bare "Tem manga?", "Tem bolso?" asks about them all ("sleeves")
_SEVERAL = {"sleeve", "pocket", "button", "strap", "lace", "belt loop", "ruffle", "stud", "rivet", "eyelet",
            "pleat", "side pocket", "loop", "drawstring"}


def _generic(w: "Word") -> str:
    """A part asked about with no article ("tem manga") in the English a model expects: "sleeves", "a hood"."""
    if not w.plural and " on the " not in w.en and w.en.split()[-1] in _SEVERAL:     # "puff sleeve" too
        return en_plural(w.en)
    return _article(w.en, w.plural)


def _article(en: str, plural: bool) -> str:
    if plural or en in _UNCOUNTABLE:
        return en
    return ("an " if en[:1] in "aeiou" else "a ") + en


def phrase_en(words: str) -> Word | None:
    """A Portuguese noun phrase ("saia longa preta", "estampa xadrez", "bolsos") -> its English, or None."""
    lex = lexicon()
    toks = fold(words).replace(",", " ").split()
    toks = [t for t in toks if t not in ("o", "a", "os", "as", "um", "uma", "uns", "umas", "algum", "alguma",
                                         "alguns", "algumas")]
    if not toks:
        return None
    where = ""
    loc = re.search(r" (?:(?:na|no|nas|nos|em) (frente|costas|lateral|lado|manga|mangas|gola|peito|barra|cintura|"
                    r"ombro|ombros|cos|bolso|punho|punhos|parte de tras|parte da frente)|(atras))$",
                    " " + " ".join(toks))
    if loc:                    # "bolso na frente" -> "a pocket on the front"
        places = {"frente": "front", "costas": "back", "lateral": "side", "lado": "side", "manga": "sleeve",
                  "mangas": "sleeves", "gola": "collar", "peito": "chest", "barra": "hem", "cintura": "waist",
                  "ombro": "shoulder", "ombros": "shoulders", "cos": "waistband", "bolso": "pocket",
                  "punho": "cuff", "punhos": "cuffs", "parte de tras": "back", "parte da frente": "front"}
        where = " on the " + places[loc.group(1) or "costas"]
        toks = " ".join(toks)[:loc.start()].split()
        if not toks:
            return None
    head, mods, i = None, [], 0
    while i < len(toks):
        for n in range(min(4, len(toks) - i), 0, -1):
            key = " ".join(toks[i:i + n])
            if key in lex:
                w = lex[key]
                if w.kind in ("garment", "part", "thing") and head is None:
                    head = w
                elif head is not None and key == "jeans":      # "bermuda jeans": the fabric, not a garment
                    mods.append(Word(w.pt, "denim", "material", False))
                else:
                    mods.append(w)
                i += n
                break
        else:
            if toks[i] == "e" and i + 1 < len(toks) and any(
                    lex.get(" ".join(toks[i + 1:i + 1 + n]), Word("", "", "", False)).kind in ("garment", "thing")
                    for n in range(1, 4)):
                return None       # "a saia e a blusa": two garments, not one ("skirt with blouse")
            if toks[i] in ("de", "com", "e", "em"):
                i += 1
                continue
            return None
    if head is None:
        if len(mods) == 1 and mods[0].kind in ("pattern", "material"):
            return mods[0]
        return None
    adjs = [m.en for m in mods if m.kind == "adj"]
    colours = [m.en for m in mods if m.kind == "colour"]
    colour = adjs + ([" and ".join(colours)] if colours else [])       # "preta e branca": black and white
    pattern = [m.en for m in mods if m.kind == "pattern"]
    material = [m.en for m in mods if m.kind == "material"]
    others = [_generic(m).removeprefix("a ").removeprefix("an ") for m in mods if m.kind in ("part", "garment")]
    if pattern and head.en in ("print", "pattern") and pattern[-1].endswith(head.en):
        pattern[-1] = pattern[-1][:-len(head.en)].strip()          # "leopard print" + "print"
    occasion = [m.en for m in mods if m.kind == "occasion"]      # "vestido longo de festa": long party dress
    head_en = " ".join(head.en.split()[:-1] + occasion + head.en.split()[-1:])
    en = " ".join(colour + pattern + material + [head_en])
    if others:
        en += " with " + " and ".join(others)
    return Word(words, en + where, head.kind, head.plural)


# ---------------------------------------------------------------------- templates and frames
_OF = r"(?:d[oa]s?|de|dess[ea]s?|dest[ea]s?)"
_ART = r"(?:o|a|os|as|ess[ea]s?|est[ea]s?|aquel[ea]s?)"
_DET = r"(o|a|os|as|ess[ea]s?|est[ea]s?|aquel[ea]s?)"


def _the(det: str, plural: bool) -> str:
    """The English determiner for a Portuguese one: "the", or "this"/"these" for a demonstrative."""
    if det.startswith(("ess", "est", "aquel")):
        return "these" if plural else "this"
    return "the"


def _be(en: str, plural: bool) -> tuple[str, str]:
    return ("are", "do") if plural or en in PLURAL_EN else ("is", "does")


def _template(q: str) -> str | None:
    """The exact English of a fine-tuning template question (export/datasets/questions.py), or None."""
    f = fold(q).strip().rstrip("?.! ").strip()
    f = re.sub(r"\b(?:essa|esta)$", "esta", re.sub(r"\besse item$", "este item", f))    # "essa" = "esta"
    for pt, en in GARMENT_QUESTIONS.items():
        if f == fold(pt):
            return en
    garments = {fold(n.pt): en for en, n in GARMENTS.items()}

    def garment(name: str) -> str | None:
        return garments.get(name.strip())
    m = re.fullmatch(rf"qual (?:e )?(?:a )?cor {_OF} (.+)", f) or re.fullmatch(rf"de que cor (?:e|sao|esta|estao) "
                                                                               rf"{_ART} (.+)", f)
    if m and (g := garment(m.group(1))):
        return f"What color {_be(g, False)[0]} the {g}?"
    m = re.fullmatch(rf"qual (?:e )?(?:a )?estampa {_OF} (.+)", f)
    if m and (g := garment(m.group(1))):
        return f"What pattern {_be(g, False)[1]} the {g} have?"
    m = re.fullmatch(rf"qual (?:e )?o comprimento da manga {_OF} (.+)", f)
    if m and (g := garment(m.group(1))):
        return f"How long are the sleeves of the {g}?"
    m = re.fullmatch(rf"qual (?:e )?o decote {_OF} (.+)", f)
    if m and (g := garment(m.group(1))):
        return f"What neckline {_be(g, False)[1]} the {g} have?"
    m = re.fullmatch(rf"de que tecido (?:e|sao) {_ART} (.+)", f) or re.fullmatch(rf"qual (?:e )?o tecido {_OF} (.+)",
                                                                                f)
    if m and (g := garment(m.group(1))):
        return f"What fabric {_be(g, False)[0]} the {g} made of?"
    m = re.fullmatch(rf"descreva {_ART} (.+)", f)
    if m and (g := garment(m.group(1))):
        return f"Describe the {g}."
    return None


_SUBJECTS = {"ela": "she", "ele": "he", "a pessoa": "the person", "a mulher": "the woman", "o homem": "the man",
             "a modelo": "the model", "a moca": "the woman", "o rapaz": "the man", "a menina": "the girl",
             "o menino": "the boy", "voce": "you"}
_SUBJ = "(" + "|".join(sorted(_SUBJECTS, key=len, reverse=True)) + ")"


def _frame(q: str, translate: Callable[[str], str] | None = None) -> str | None:
    """A question built from a frame and the lexicon's English, or None."""
    f = fold(q).strip().rstrip("?.! ").strip()
    f = re.sub(r"\s+", " ", f)
    owner = re.search(r" (dela|dele)$", f)
    if owner:                  # "a cor da blusinha dela" -> "the color of her top"
        got = _frame(q[:len(f) - 5] + "?", translate)
        if got and " the " in got:
            return got.replace(" the ", " her " if owner.group(1) == "dela" else " his ", 1)
        return None
    got = _frame_slots(f, translate, q)
    return got


def _slot(words: str, translate: Callable[[str], str] | None) -> Word | None:
    """A frame's slot in English: from the lexicon, else (a short phrase) the translator's own words."""
    got = phrase_en(words)
    if got is not None or translate is None or len(words.split()) > 4:
        return got
    en = translate(words).strip().rstrip(".?!").lower()
    en = re.sub(r"^(?:the|a|an|some|any) ", "", en)
    if not en or re.search(r"[^\w\s'-]", en):
        return None
    return Word(words, en, "part", en.endswith("s") and not en.endswith("ss"))


def _frame_slots(f: str, translate: Callable[[str], str] | None, q: str = "") -> str | None:
    where = ""
    m = re.search(r" (?:na|nesta|nessa) (?:imagem|foto|figura)$", f)
    if m:
        f, where = f[:m.start()], " in the image"
    # "O que é isso?", "Que roupa é essa?"
    if re.fullmatch(r"o que (?:e|eh) (?:isso|isto|aquilo)", f):
        return "What is this?"
    if re.fullmatch(r"(?:que|qual) (?:roupa|peca) (?:e|eh) (?:essa|esta|esse|este)", f):
        return "What garment is this?"
    m = re.fullmatch(rf"quant[oa]s (.+?) {_SUBJ} (?:esta usando|esta vestindo|usa|veste)", f)
    if m and (x := phrase_en(m.group(1))):
        en = x.en if x.plural else x.en + "s"
        return f"How many {en} {'are' if _SUBJECTS[m.group(2)] == 'you' else 'is'} {_SUBJECTS[m.group(2)]} wearing?"
    # "E o padrão?" -> "What about the pattern?"
    m = re.fullmatch(rf"e {_ART} (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What about the {x.en}?"
    # "É listrada?", "É de algodão?"
    m = re.fullmatch(r"(?:e|eh) (de )?(.+)", f)
    if m and (y := _adjective(m.group(2)) or phrase_en(m.group(2))):
        if y.kind == "material":
            return f"Is it made of {y.en}?"
        if y.kind in ("colour", "pattern", "adj"):
            return f"Is it {y.en}?"
        if m.group(1) and y.kind == "part":         # "É de manga?": does it have sleeves
            return f"Does it have {_generic(y)}?"
        if y.kind in ("garment", "part") and not re.match(r"\s*(?:é|eh)\b", q, re.IGNORECASE):
            return f"What about {_generic(y)}?"     # "Tem saia jeans? E short?": and shorts, not "is it"
        return f"Is it {_article(y.en, y.plural)}?"
    # "Que tipo de decote tem a blusa?"
    m = re.fullmatch(rf"(?:que|qual) tipo de (.+?) (?:tem|possui) {_ART} (.+)", f)
    if m and (x := phrase_en(m.group(1))) and (y := phrase_en(m.group(2))):
        return f"What kind of {x.en} {'do' if y.plural else 'does'} the {y.en} have?"
    # "A camisa está por dentro da calça?"
    m = re.fullmatch(rf"{_ART} (.+?) (?:esta|estao) (?:por dentro|para dentro) {_OF} (.+)", f)
    if m and (x := phrase_en(m.group(1))) and (y := phrase_en(m.group(2))):
        return f"{'Are' if x.plural else 'Is'} the {x.en} tucked into the {y.en}?"
    # "Quais as cores da blusa?", "Que cor é o sapato?"
    m = re.fullmatch(rf"quais (?:sao )?as cores {_OF} (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What are the colors of the {x.en}?"
    m = re.fullmatch(rf"(?:que|qual) cor (?:e|sao|tem) {_DET} (.+)", f)
    if m and (x := phrase_en(m.group(2))):
        return f"What color {'are' if x.plural else 'is'} {_the(m.group(1), x.plural)} {x.en}?"
    # "É manga longa ou curta?"
    m = re.fullmatch(r"(?:e|eh) (?:de )?(.+?) ou (?:de )?(.+)", f)
    if m and (a := _adjective(m.group(1)) or phrase_en(m.group(1))) and \
            (b := _adjective(m.group(2)) or phrase_en(m.group(2))):
        return f"Is it {a.en} or {b.en}?"
    # "A regata é de que cor?"
    m = re.fullmatch(rf"{_DET} (.+?) (?:e|sao) de que cor", f)
    if m and (x := phrase_en(m.group(2))):
        return f"What color {'are' if x.plural else 'is'} {_the(m.group(1), x.plural)} {x.en}?"
    # "O vestido é longo ou curto?", "A jaqueta é de couro ou sintética?"
    m = re.fullmatch(rf"{_DET} (.+?) (?:e|sao|esta|estao) (?:de )?(.+?) ou (?:de )?(.+)", f)
    if m and (x := phrase_en(m.group(2))) and (a := _adjective(m.group(3)) or phrase_en(m.group(3))) and \
            (b := _adjective(m.group(4)) or phrase_en(m.group(4))):
        a_en, b_en = ("denim" if w.en == "jeans" else w.en for w in (a, b))     # "é jeans ou couro": fabrics
        return f"{'Are' if x.plural else 'Is'} {_the(m.group(1), x.plural)} {x.en} {a_en} or {b_en}?"
    # "Ela está de saia ou de vestido?", "Ele está de gravata?", "Ela usa óculos?"
    m = re.fullmatch(rf"{_SUBJ} (?:esta|estao) de (.+?)(?: ou (?:de )?(.+))?", f) or \
        re.fullmatch(rf"{_SUBJ} (?:usa|veste|esta usando|esta vestindo|esta com) (.+?)(?: ou (?:um |uma )?(.+))?", f)
    if m and (x := phrase_en(m.group(2))) and (m.group(3) is None or (y := phrase_en(m.group(3)))):
        s = _SUBJECTS[m.group(1)]
        what = _article(x.en, x.plural) + (f" or {_article(y.en, y.plural)}" if m.group(3) else "")
        return f"Is {s} wearing {what}?"
    # "É um macacão ou uma jardineira?"
    m = re.fullmatch(r"(?:e|eh|isso e|isto e) (?:um |uma )?(.+?) ou (?:um |uma )?(.+)", f)
    if m and (x := phrase_en(m.group(1))) and (y := phrase_en(m.group(2))):
        return f"Is it {_article(x.en, x.plural)} or {_article(y.en, y.plural)}?"
    # "Descreva o cropped."
    m = re.fullmatch(rf"descreva {_DET} (.+)", f)
    if m and (x := phrase_en(m.group(2))):
        return f"Describe {_the(m.group(1), x.plural)} {x.en}."
    # "O cinto combina com a bolsa?"
    m = re.fullmatch(rf"{_DET} (.+?) combinam? com {_DET} (.+)", f)
    if m and (x := phrase_en(m.group(2))) and (y := phrase_en(m.group(4))):
        return (f"{'Do' if x.plural else 'Does'} {_the(m.group(1), x.plural)} {x.en} match "
                f"{_the(m.group(3), y.plural)} {y.en}?")
    # "Como é o decote da blusa?"
    m = re.fullmatch(rf"como (?:e|sao) {_DET} (.+?)(?: {_OF} (.+))?", f)
    if m and (x := phrase_en(m.group(2))) and (m.group(3) is None or (y := phrase_en(m.group(3)))):
        if m.group(3) is None:
            return f"What {'are' if x.plural else 'is'} {_the(m.group(1), x.plural)} {x.en} like?"
        return f"What {'are' if x.plural else 'is'} the {x.en} of the {y.en} like?"
    # "Que tipo de sapato ela está usando?"
    m = re.fullmatch(rf"(?:que|qual) tipo de (.+?) {_SUBJ} (?:esta usando|esta vestindo|usa|veste)", f)
    if m and (x := phrase_en(m.group(1))):
        subject = _SUBJECTS[m.group(2)]
        return f"What kind of {x.en} {'are' if subject == 'you' else 'is'} {subject} wearing?"
    # "Quantos botões tem o casaco?"
    m = re.fullmatch(rf"quant[oa]s (.+?) (?:tem|possui|ha n) {_DET} (.+)", f)
    if m and (x := phrase_en(m.group(1))) and (y := phrase_en(m.group(3))):
        en = x.en if x.plural else x.en + "s"
        return f"How many {en} {'do' if y.plural else 'does'} {_the(m.group(2), y.plural)} {y.en} have?"
    # a shop's questions: "Tem numeração 37 dessa sandália?", "tem tenis branco numero 40?", "vc tem essa
    # camiseta em azul marinho?"
    f = re.sub(r"^voce (?=tem )", "", f)
    size = r"(?:no |na |em )?(?:numero|numeracao|tamanho|n)\.? ?(\d{1,2}(?:[.,]5)?|pp|p|m|g|gg|xg|xgg)"
    m = re.fullmatch(rf"tem {size} {_DET_OF}(.+)", f)
    if m and (x := phrase_en(m.group(3))):
        return f"Do you have {_shop(m.group(2), x)} in size {_size(m.group(1))}?"
    m = re.fullmatch(rf"tem (?:{_DET} )?(.+?) {size}", f)
    if m and (x := phrase_en(m.group(2))):
        return f"Do you have {_shop(m.group(1), x)} in size {_size(m.group(3))}?"
    m = re.fullmatch(rf"tem {size}", f)
    if m:
        return f"Do you have size {_size(m.group(1))}?"
    m = re.fullmatch(rf"tem (?:{_DET} )?(.+?) (?:em|na cor|no tom) (.+)", f)
    if m and (x := phrase_en(m.group(2))) and (y := _adjective(m.group(3))) and y.kind == "colour":
        return f"Do you have {_shop(m.group(1), x)} in {y.en}?"
    # "Tem X?", "Há X?", "Tem algum X?"
    m = re.fullmatch(r"(?:tem|ha|existe|existem) (.+)", f)
    if m and (x := phrase_en(m.group(1))) or m and len(m.group(1).split()) <= 2 and (x := _slot(m.group(1), translate)):
        if x.kind == "garment":
            return (f"Are there {x.en}{where}?" if x.plural else f"Is there {_article(x.en, False)}{where}?")
        return f"Does it have {_generic(x) if x.kind == 'part' else x.en}?"
    # "Ela tem X?", "Ela está usando X?"
    m = re.fullmatch(rf"{_SUBJ} (?:tem|possui) (.+)", f)
    if m and (x := phrase_en(m.group(2))):
        s = _SUBJECTS[m.group(1)]
        do = "Do" if s in ("you",) else "Does"
        return f"{do} {s} have {_article(x.en, x.plural)}?"
    m = re.fullmatch(rf"{_SUBJ} (?:esta|estao) (?:usando|vestindo|com) (.+)", f)
    if m and (x := phrase_en(m.group(2))):
        s = _SUBJECTS[m.group(1)]
        return f"Is {s} wearing {_article(x.en, x.plural)}?"
    m = re.fullmatch(rf"o que {_SUBJ} (?:esta usando|esta vestindo|usa|veste|esta de)", f)
    if m:
        return f"What is {_SUBJECTS[m.group(1)]} wearing?"
    # "A saia tem bolsos?"
    m = re.fullmatch(rf"{_DET} (.+?) (?:tem|possui|possuem) (.+)", f)
    if m and (x := phrase_en(m.group(2))) and (y := _adjective(m.group(3)) or _slot(m.group(3), translate)):
        do = "Do" if x.plural else "Does"
        if y.kind == "adj":                 # "O tênis tem cano alto?": are the sneakers high-top
            en = "high-top" if y.en == "knee-high" and "sneaker" in x.en else y.en
            return f"{'Are' if x.plural else 'Is'} {_the(m.group(1), x.plural)} {x.en} {en}?"
        return (f"{do} {_the(m.group(1), x.plural)} {x.en} have "
                f"{_generic(y) if y.kind == 'part' else _article(y.en, y.plural) if y.kind != 'pattern' else y.en}?")
    # "De que cor é a regata?", "Qual é a cor da jardineira?"
    m = re.fullmatch(rf"(?:qual (?:e )?(?:a )?cor {_OF}|de que cor (?:e|sao|esta|estao) {_ART}) (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What color {'are' if x.plural else 'is'} the {x.en}?"
    if m and (two := re.fullmatch(r"(.+?) e (?:d[oa]s?|[oa]s?) (.+)", m.group(1))) and \
            (x := phrase_en(two.group(1))) and (y := phrase_en(two.group(2))):
        return f"What color are the {x.en} and the {y.en}?"       # "a cor do vestido e da bolsa"
    m = re.fullmatch(rf"(?:qual (?:e )?(?:o )?(?:tecido|material) {_OF}|de que (?:tecido|material) "
                     rf"(?:e|sao) {_ART}) (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What fabric {'are' if x.plural else 'is'} the {x.en} made of?"
    m = re.fullmatch(rf"qual (?:e )?(?:a )?estampa {_OF} (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What pattern {'do' if x.plural else 'does'} the {x.en} have?"
    # the fine-tuning's other templates, for garments beyond its vocabulary ("da regata", "da jardineira")
    m = re.fullmatch(rf"qual (?:e )?o comprimento da manga {_OF} (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"How long are the sleeves of the {x.en}?"
    m = re.fullmatch(rf"qual (?:e )?o (?:tipo de )?decote {_OF} (.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"What neckline {'do' if x.plural else 'does'} the {x.en} have?"
    # "Essa camisa amassa?", "O jeans desbota?": how it behaves
    m = re.fullmatch(rf"{_DET} (.+?) ({'|'.join(_BEHAVES)})", f)
    if m and (x := phrase_en(m.group(2))):
        return f"{'Do' if x.plural else 'Does'} {_the(m.group(1), x.plural)} {x.en} {_BEHAVES[m.group(3)]}?"
    # "Essa blusa vem com cinto?"
    m = re.fullmatch(rf"{_DET} (.+?) (?:vem|vêm|vem) com (?:um |uma )?(.+)", f)
    if m and (x := phrase_en(m.group(2))) and (y := phrase_en(m.group(3))):
        return f"{'Do' if x.plural else 'Does'} {_the(m.group(1), x.plural)} {x.en} come with {_generic(y)}?"
    # "Qual cor combina com essa saia?"
    m = re.fullmatch(rf"(?:qual|que) cor combina com {_DET} (.+)", f)
    if m and (x := phrase_en(m.group(2))):
        return f"What color goes with {_the(m.group(1), x.plural)} {x.en}?"
    # "Tem o mesmo modelo em vermelho?"
    m = re.fullmatch(r"tem (?:o mesmo modelo|esse modelo|este modelo|a mesma peca|essa peca) (?:em|na cor) (.+)", f)
    if m and (y := _adjective(m.group(1))) and y.kind == "colour":
        return f"Do you have the same style in {y.en}?"
    # "A regata é de academia?": what it is for
    m = re.fullmatch(rf"{_DET} (.+?) (?:e|sao) (?:de|para|pra) (.+)", f)
    if m and (x := phrase_en(m.group(2))) and (y := lexicon().get(m.group(3))) and y.kind == "occasion":
        what = {"party": "a party", "work": "work"}.get(y.en, f"the {y.en}")
        return f"{'Are' if x.plural else 'Is'} {_the(m.group(1), x.plural)} {x.en} for {what}?"
    # "A saia é de couro?", "A blusa é listrada?", "A calça é preta?"
    m = re.fullmatch(rf"{_DET} (.+?) (?:e|sao|esta|estao) (de )?(.+)", f)
    if m and (x := phrase_en(m.group(2))) and ((y := phrase_en(m.group(4))) is not None or
                                               (y := _adjective(m.group(4))) is not None):
        be = "Are" if x.plural else "Is"
        the = _the(m.group(1), x.plural)
        if y.en == "jeans":           # "é jeans?": the fabric
            y = Word(y.pt, "denim", "material", False)
        if y.kind == "material":
            return f"{be} {the} {x.en} made of {y.en}?"
        if y.kind in ("colour", "pattern", "adj"):
            return f"{be} {the} {x.en} {y.en}?"
        if m.group(3):                # "O sapato é de salto alto?": has
            return f"{'Do' if x.plural else 'Does'} {the} {x.en} have {_article(y.en, y.plural)}?"
        return f"{be} {the} {x.en} {_article(y.en, y.plural)}?"
    # "Qual o tamanho da blusinha?" -> "What is the size of the top?"
    m = re.fullmatch(rf"qual (?:e )?(?:o |a )?(.+?) {_OF} (.+)", f)
    if m and (n := phrase_en(m.group(1))) and (x := phrase_en(m.group(2))) and n.kind == "part":
        return f"What is the {n.en} of the {x.en}?"
    m = re.fullmatch(r"quant[oa]s (.+?)(?: (?:tem|ha|existem|voce ve|aparecem))?", f)
    if m and (x := phrase_en(m.group(1))):
        en = x.en if x.plural or x.en.endswith("s") else x.en + "s"
        return f"How many {en} are there{where}?"
    m = re.fullmatch(r"(?:isso|isto|esse|essa|este|esta) (?:e|eh) (?:um |uma )?(.+)", f)
    if m and (x := phrase_en(m.group(1))):
        return f"Are these {x.en}?" if x.plural else f"Is this {_article(x.en, False)}?"
    return None


_DET_OF = r"(?:(d[oa]s?|dess[ea]s?|dest[ea]s?) )?"


# how a garment behaves, asked with one verb
_BEHAVES = {"amassa": "wrinkle", "amassam": "wrinkle", "desbota": "fade", "desbotam": "fade", "encolhe": "shrink",
            "encolhem": "shrink", "estica": "stretch", "esticam": "stretch", "laceia": "stretch out",
            "pinica": "itch", "pinicam": "itch", "solta tinta": "bleed", "esquenta": "feel warm"}

# Brazilian letter sizes in the English a model (and a shop abroad) uses
_SIZES = {"pp": "XS", "p": "S", "m": "M", "g": "L", "gg": "XL", "xg": "XXL", "xgg": "XXXL"}


def _size(said: str) -> str:
    return _SIZES.get(said.lower(), said.upper())


def _shop(det: str | None, x: Word) -> str:
    """What a customer asks the shop for: "this t-shirt", "these sandals", "white sneakers", "a dress"."""
    det = (det or "").replace("dess", "ess").replace("dest", "est")
    if det.startswith(("ess", "est", "aquel")) or det in ("do", "da", "dos", "das"):
        return f"{'these' if x.plural else 'this'} {x.en}"
    return x.en if x.plural else _article(x.en, False)


def _adjective(words: str) -> Word | None:
    """A colour or pattern adjective on its own ("preta", "listrada", "azul-marinho")."""
    lex = lexicon()
    key = fold(words).strip()
    w = lex.get(key)
    if w and w.kind in ("colour", "pattern", "material", "adj"):
        return w
    parts = key.split()
    if parts and all(p in lex and lex[p].kind == "colour" for p in parts if p != "e"):
        return Word(words, " and ".join(lex[p].en for p in parts if p != "e"), "colour", False)
    return None


# several questions typed in one box: "Tem manga? É comprida?" (each gets its own frame)
_QUESTIONS = re.compile(r"(?<=[?!.])\s+(?=\S)|(?<=\?)(?=[A-Za-zÀ-ÿ])")


def split_questions(text: str) -> list[str]:
    """The questions (and statements) of one box, each with its own end mark: "Tem manga? É comprida?" -> two;
    a decimal or an abbreviation's dot followed by no space stays inside ("numero 37.5")."""
    return [p.strip() for p in _QUESTIONS.split(text.strip()) if p.strip()]


def to_english(question: str, translate: Callable[[str], str], placeholders: tuple[str, ...]) -> str:
    """The question in the English a model expects (see the module's docstring); several questions in one box
    each on their own, joined."""
    parts = split_questions(question)
    if len(parts) == 1:
        return _one_to_english(question, translate, placeholders)
    out: list[str] = []
    for p in parts:
        got = _one_to_english(p, translate, placeholders)
        if out and _PLURAL_SUBJECT.match(out[-1]):      # "O tênis é de couro? Tem cadarço?": do they
            got = _IT.sub(lambda m: _THEY[m.group(1)], got, count=1)
        out.append(got)
    return " ".join(out)


# the question before asked about a plural garment: the next one's "it" is "they"
_PLURAL_SUBJECT = re.compile(r"(?:Are|Do) (?:the|these) |What (?:color|fabric|pattern) are the |"
                             r"What (?:pattern|neckline) do the ")
_IT = re.compile(r"^(Does it|Is it)\b")
_THEY = {"Does it": "Do they", "Is it": "Are they"}


def _one_to_english(question: str, translate: Callable[[str], str], placeholders: tuple[str, ...]) -> str:
    q = normalise(question)
    got = _template(q)
    if got is None and _is_question(q):     # a statement ("A saia é preta.") is never made a question
        got = _frame(q, translate)
    if got:
        return got
    got = _protected(q, translate, placeholders)
    return got[:1].upper() + got[1:] if question.lstrip()[:1].isupper() else got


_QUESTION_WORDS = ("qual", "quais", "que", "quanto", "quantos", "quantas", "tem", "ha", "existe", "existem", "como",
                   "onde", "de", "descreva", "diga", "mostre")


def _is_question(q: str) -> bool:
    """A question mark, a question word first, or an either-or ("a bolsa e grande ou pequena": clerks skip the
    "?"); "a camisa é azul" with no "?" stays a statement."""
    f = fold(q).split()
    return q.rstrip().endswith("?") or bool(f) and (f[0] in _QUESTION_WORDS or f[:2] == ["o", "que"] or
                                                     "ou" in f and not q.rstrip().endswith((".", "!")))


_DEFINITE = re.compile(r"(?:^|\s)(?:o|a|os|as|do|da|dos|das|no|na|nos|nas|pelo|pela|ao|à)\s+$", re.IGNORECASE)
_HAS_DET = re.compile(r"\b(?:the|a|an|this|that|these|those|her|his|its|their|my|your|our|'s)\s+(?:[\w-]+\s+){0,2}$",
                      re.IGNORECASE)


def _protected(q: str, translate: Callable[[str], str], placeholders: tuple[str, ...]) -> str:
    """The translator's English with the lexicon's words swapped in for the shop words."""
    if _is_question(q):                     # "Tem X?", "Quantas X tem na imagem?": "is there", "are there"
        q = q.rstrip() if q.rstrip().endswith("?") else q.rstrip() + "?"     # the translator needs the "?"
        q = re.sub(r"(?i)^tem (?=\w)", "Há ", q)
        q = re.sub(r"(?i)\btem (?=(?:na|nesta|nessa) (?:imagem|foto)\b)", "há ", q)
    lex = lexicon()
    keys = sorted((k for k, w in lex.items() if w.kind in ("garment",) and fold(w.pt) == k),
                  key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w-])")
    folded = fold(q)
    swaps, out, at = [], [], 0
    for m in pattern.finditer(folded):
        if len(swaps) >= len(placeholders):
            break
        w = lex[m.group(1)]
        if fold(w.en) == m.group(1):       # the same word in both languages: nothing to protect
            continue
        ph = placeholders[len(swaps)]
        swaps.append((ph, w.en, bool(_DEFINITE.search(q[:m.start()]))))
        out.append(q[at:m.start()] + ph)
        at = m.end()
    if not swaps:
        return translate(q)
    text = translate("".join(out) + q[at:])
    for ph, *_ in swaps:
        if len(re.findall(rf"(?<!\w){ph}(?!\w)", text)) != 1:
            return translate(q)
    for ph, en, definite in swaps:
        m = re.search(rf"(?<!\w){ph}(?!\w)", text)
        if definite and not _HAS_DET.search(text[:m.start()]):
            en = "the " + en          # the translator drops the article of a word it does not know
        if m.start() == 0:
            en = en[0].upper() + en[1:]
        text = text[:m.start()] + en + text[m.end():]
    return text
