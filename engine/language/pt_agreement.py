"""Portuguese agreement around a noun the glossary put into a translation: the article before it and the
adjectives after it take the noun's gender and number ("um regata branco" -> "uma regata branca").

Only words this module knows are changed: determiners (a closed list) and adjectives from a fashion lexicon
(colours, patterns, fits, finishes), inflected by the regular rules of Portuguese with their exceptions listed.
"""
from __future__ import annotations

import re

# determiner forms: (masc sg, fem sg, masc pl, fem pl)
_DETERMINERS = [
    ("um", "uma", "uns", "umas"), ("o", "a", "os", "as"), ("do", "da", "dos", "das"), ("no", "na", "nos", "nas"),
    ("ao", "à", "aos", "às"), ("pelo", "pela", "pelos", "pelas"), ("dum", "duma", "duns", "dumas"),
    ("num", "numa", "nuns", "numas"), ("este", "esta", "estes", "estas"), ("esse", "essa", "esses", "essas"),
    ("aquele", "aquela", "aqueles", "aquelas"), ("seu", "sua", "seus", "suas"), ("meu", "minha", "meus", "minhas"),
    ("outro", "outra", "outros", "outras"), ("dois", "duas", "dois", "duas"), ("todo", "toda", "todos", "todas"),
    ("nenhum", "nenhuma", "nenhuns", "nenhumas"), ("algum", "alguma", "alguns", "algumas"),
    ("ambos", "ambas", "ambos", "ambas"),
]
_DET = {form: forms for forms in _DETERMINERS for form in forms}

# masculine singular adjectives a fashion answer uses; the others forms come from the rules below
ADJECTIVES = """
branco preto vermelho amarelo roxo dourado prateado colorido escuro claro listrado estampado liso bordado plissado
franzido drapeado acolchoado rasgado desbotado justo solto largo curto longo comprido alto baixo novo velho bonito
elegante casual confortável leve pesado macio grosso fino transparente brilhante fosco canelado texturizado trançado
ajustado básico clássico moderno esportivo social formal feminino masculino infantil azul verde bege marrom metálico
floral pequeno grande médio decotado fechado aberto abotoado amarrado combinando quadriculado xadrezado acetinado
aveludado felpudo peludo perfurado vazado enrugado amassado franjado plissado babado godê evasê reto
cintilante lavado tingido bufante cavado ombro ajustável oversized cropped jeans cinza rosa laranja vinho creme
caramelo nude cáqui mostarda lilás neon off-white azul-marinho azul-claro azul-escuro verde-claro verde-escuro
cinza-claro cinza-escuro verde-oliva verde-militar vermelho-escuro rosa-claro amplo bordô marfim grafite turquesa
coral lavanda fúcsia trespassado canelado rasgado feito usado coberto decorado combinado fechado dobrado enrolado
amarrado arregaçado desabotoado abotoado preso pendurado jogado colocado posicionado visível ajustado marcado
""".split()
# the same in every gender and number (colour names that are nouns, loanwords, compounds)
INVARIABLE = set("""
cinza rosa laranja vinho creme caramelo nude cáqui mostarda neon off-white azul-marinho azul-claro azul-escuro
verde-claro verde-escuro cinza-claro cinza-escuro verde-oliva verde-militar vermelho-escuro rosa-claro oversized
cropped jeans godê evasê xadrez poá combinando lilás bordô marfim grafite turquesa coral lavanda fúcsia
""".split())
# the copula agrees too when the translator took a swapped noun for singular: "os tênis é brancos"
_COPULA_PLURAL = {"é": "são", "está": "estão", "parece": "parecem", "fica": "ficam", "era": "eram", "foi": "foram",
                  "tem": "têm", "possui": "possuem"}
_COPULA_SINGULAR = {v: k for k, v in _COPULA_PLURAL.items()}


def agree_verb(verb: str, plural: bool) -> str:
    """A copula in the number of its subject ("parece" -> "parecem")."""
    low = verb.lower()
    return _cased(verb, (_COPULA_PLURAL if plural else _COPULA_SINGULAR).get(low, low))


def inflect(lemma: str, feminine: bool, plural: bool) -> str:
    """A masculine singular adjective in the wanted gender and number."""
    if lemma in INVARIABLE:
        return lemma
    word = lemma
    if feminine:
        if word.endswith("o"):
            word = word[:-1] + "a"
        elif word.endswith("ês"):
            word = word[:-2] + "esa"
        elif word.endswith("or"):
            word += "a"
    if not plural:
        return word
    if word.endswith(("a", "e", "o", "é", "ê")):
        return word + "s"
    if word.endswith("ável"):
        return word[:-4] + "áveis"
    if word.endswith("ível"):
        return word[:-4] + "íveis"
    if word.endswith("el"):
        return word[:-2] + "éis"
    if word.endswith(("al", "ol", "ul")):
        return word[:-1] + "is"
    if word.endswith("il"):
        return word[:-1] + "s"
    if word.endswith("m"):
        return word[:-1] + "ns"
    if word.endswith(("r", "z", "s")):
        return word + "es"
    return word + "s"


_FORMS: dict[str, str] = {}
for _lemma in ADJECTIVES:
    for _f in (False, True):
        for _p in (False, True):
            _FORMS.setdefault(inflect(_lemma, _f, _p), _lemma)

_WORD = re.compile(r"[\wÀ-ÿ-]+", re.UNICODE)

# materials: a translator that leaves an English modifier before the noun ("couro bolsa") gets "bolsa de couro"
MATERIALS = set("""
couro algodão linho seda cetim veludo lã jeans camurça renda tricô malha flanela poliéster náilon tule lona borracha
caxemira viscose chiffon tweed fleece neoprene palha madeira metal plástico ouro prata
""".split())
COPULAS = {"é", "são", "está", "estão", "parece", "parecem", "fica", "ficam", "era", "eram", "foi", "foram"}
_VERB_ONLY = {"tem", "têm", "possui", "possuem"}     # agree in number, but take no predicate adjective


def _cased(original: str, new: str) -> str:
    if original.isupper() and len(original) > 1:
        return new.upper()
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


def determiner(word: str, feminine: bool, plural: bool) -> str | None:
    forms = _DET.get(word.lower())
    if forms is None:
        return None
    return _cased(word, forms[(2 if plural else 0) + (1 if feminine else 0)])


def adjective(word: str, feminine: bool, plural: bool) -> str | None:
    lemma = _FORMS.get(word.lower())
    if lemma is None:
        return None
    return _cased(word, inflect(lemma, feminine, plural))


def agree(text: str, start: int, end: int, feminine: bool, plural: bool, forward: bool = True,
          move: bool = True) -> str:
    """``text`` with the determiner just before ``text[start:end]`` (a noun) and the adjectives just after it
    (through "e" and one "de X" complement) agreeing with it; ``forward`` False: the determiner only (a noun in a
    coordinated subject: what follows agrees with the whole subject)."""
    before, noun, after = text[:start], text[start:end], text[end:]
    # modifiers left in English order before the noun go after it: "preto couro cinto" -> "cinto de couro preto"
    materials, adjectives = [], []
    while move and (m := re.search(r"([\wÀ-ÿ-]+)(\s+)$", before)) and (m.group(1).lower() in MATERIALS or
                                                                (m.group(1).lower() in _FORMS and
                                                                 _DET.get(m.group(1).lower()) is None)):
        word = m.group(1)
        (materials if word.lower() in MATERIALS else adjectives).insert(0, word.lower())
        before = before[:m.start(1)]
        if word[:1].isupper():
            noun = noun[:1].upper() + noun[1:]
    if materials or adjectives:
        moved = "".join(f" de {w}" for w in materials) + "".join(f" {w}" for w in adjectives)
        after = moved + after
    m = re.search(r"([\wÀ-ÿ]+)(\s+)$", before)
    if m:
        new = determiner(m.group(1), feminine, plural)
        if new:
            before = before[:m.start(1)] + new + m.group(2)
    out, pos, skipped_de, copula_len = [], 0, False, 0
    while forward:
        m = re.match(r"(\s+)([\wÀ-ÿ-]+)", after[pos:])
        if not m:
            break
        word = m.group(2)
        new = adjective(word, feminine, plural)
        if new is not None:
            out.append(m.group(1) + new)
        elif word.lower() == "e" and out:
            out.append(m.group(0))          # "branca e preta"
        elif word.lower() in _VERB_ONLY and not out:
            verb = (_COPULA_PLURAL if plural else _COPULA_SINGULAR).get(word.lower(), word.lower())
            out.append(m.group(1) + _cased(word, verb))      # "as calças têm bolsos"
            pos += m.end()
            break
        elif word.lower() == "se" and not out and (m2 := re.match(r"\s+(parecem?)\b", after[pos + m.end():])):
            verb = "parecem" if plural else "parece"       # "as calças se parecem com"
            out.append(m.group(0) + m2.group(0).replace(m2.group(1), verb))
            pos += m.end() + m2.end()
            break
        elif word.lower() == "não" and not out and re.match(r"\s+(?:é|são|está|estão|parece|parecem)\b",
                                                              after[pos + m.end():]):
            out.append(m.group(0))          # "os sapatos não estão visíveis"
        elif word.lower() in COPULAS and (not out or out == [m.group(1) + "não"] or
                                          len(out) == 1 and out[0].strip().lower() == "não"):
            verb = (_COPULA_PLURAL if plural else _COPULA_SINGULAR).get(word.lower(), word.lower())
            out.append(m.group(1) + _cased(word, verb))      # "a saia é plissada", "os tênis são brancos"
            copula_len = len(m.group(0))
            if (m2 := re.match(r"\s+(?:ser|estar)(?=\s)", after[pos + m.end():])):   # "parece ser feita"
                out[-1] += m2.group(0)
                copula_len += len(m2.group(0))
                pos += m2.end()
        elif word.lower() in ("sem", "com") and out and re.match(r"\s+[\wÀ-ÿ-]+", after[pos + m.end():]):
            extra = re.match(r"\s+[\wÀ-ÿ-]+", after[pos + m.end():]).group(0)
            out.append(m.group(0) + extra)  # "sem mangas e branca": a fixed phrase inside the chain
            pos += len(extra)
        elif word.lower() in ("de", "em") and not skipped_de and not out:
            m2 = re.match(r"\s+[\wÀ-ÿ-]+\s+([\wÀ-ÿ-]+)", after[pos:])     # " de algodão" before the adjectives
            if not m2 or adjective(m2.group(1), feminine, plural) is not None:
                break
            out.append(m2.group(0))
            pos += m2.end()
            skipped_de = True
            continue
        else:
            break
        pos += m.end()
    while out and out[-1].strip().lower() in COPULAS | {"e", "não"}:   # nothing agreed after it: leave it be
        last = out.pop()
        # the copula may have changed number ("são" -> "é"): give back what it took from the text, not its length
        pos -= copula_len if last.strip().lower() in COPULAS else len(last)
    return before + noun + "".join(out) + after[pos:]


def en_plural(word: str) -> str:
    last = word.split()[-1]
    head = word[: len(word) - len(last)]
    if last.endswith(("ss", "x", "ch", "sh")):
        return head + last + "es"
    if last.endswith("s"):                      # already plural: "jeans", "sneakers"
        return word
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return head + last[:-1] + "ies"
    return head + last + "s"


def pt_plural(term: str) -> str:
    """The regular plural of a Portuguese noun phrase: the head noun and its adjectives; "de X" stays."""
    words = term.split()
    out, in_complement = [], False
    for w in words:
        if w in ("de", "do", "da", "com", "sem", "em"):
            in_complement = True
        if in_complement:
            out.append(w)
            continue
        if w.endswith("ão"):
            out.append(w[:-2] + "ões")
        elif w.endswith("s"):                   # already plural, or invariable (tênis, óculos, cós)
            out.append(w)
        else:
            out.append(inflect(w, False, True))
    return " ".join(out)
