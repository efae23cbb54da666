"""Is this question Portuguese or English? A small word-list vote: fast, offline, good on short questions."""
from __future__ import annotations

import re

from engine.errors import VitrineError

_PT = set("""a as o os um uma uns umas de da das do dos no na nos nas em nesta neste nessa nesse esta este essa
esse isto isso que qual quais quem como onde quando quanto quantos quantas porque por para com sem sobre é são
está estão tem têm há cor cores calça calças blusa bolsa camisa camiseta vestido saia sapato sapatos tênis jaqueta
casaco roupa roupas pessoa mulher homem descreva diga mostre imagem foto detalhes tecido estampa manga mangas
gola azul vermelho vermelha preto preta branco branca verde amarelo amarela rosa cinza marrom bege listrado
ela ele elas eles seu sua usando vestindo""".split())
_EN = set("""a an the of in on at this that these those what which who how where when why is are was were do
does has have there color colour colors pants trousers blouse bag shirt dress skirt shoe shoes sneakers jacket
coat clothes person woman man describe tell show image picture photo details fabric pattern sleeve sleeves collar
blue red black white green yellow pink grey gray brown beige striped she he they her his wearing wears items
item""".split())
_PT_CHARS = re.compile(r"[ãõçáéíóúâêôà]")
_WORD = re.compile(r"[a-zà-ÿ]+")


def detect_language(text: str) -> str:
    """"pt" or "en" (ties go to English, the models' own language)."""
    low = text.lower()
    words = _WORD.findall(low)
    pt = sum(w in _PT for w in words) + 2 * len(_PT_CHARS.findall(low))
    en = sum(w in _EN for w in words)
    return "pt" if pt > en else "en"


def check_text(text: str, what: str = "the text") -> str:
    """Text a person typed must be real text: bytes that were not UTF-8 arrive from the command line as lone
    surrogates, which would break printing, translation and the history later, far from their cause."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise VitrineError(f"{what} has bytes that are not UTF-8 text: type it again (and set the terminal to "
                           "UTF-8, e.g. LANG=pt_BR.UTF-8)")
    if "\x00" in text:
        raise VitrineError(f"{what} contains a NUL character: type it again")
    return text
