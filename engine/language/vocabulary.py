"""The answer vocabulary of fashion question sets: canonical English values, the spellings catalogs use for
them, and their Portuguese forms with gender and number (a question about "a camisa" is answered "vermelha").

A value missing here still gets English questions; Portuguese questions need its Portuguese form.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Noun:
    pt: str
    feminine: bool
    plural: bool = False

    @property
    def of_the(self) -> str:
        """Portuguese "de" + article: "da camisa", "do vestido", "das sandálias", "dos sapatos"."""
        return ("das" if self.plural else "da") if self.feminine else ("dos" if self.plural else "do")


# garment -> its Portuguese noun
GARMENTS: dict[str, Noun] = {
    "shirt": Noun("camisa", True), "t-shirt": Noun("camiseta", True), "top": Noun("blusa", True),
    "blouse": Noun("blusa", True), "dress": Noun("vestido", False), "trousers": Noun("calça", True),
    "jeans": Noun("calça jeans", True), "shorts": Noun("bermuda", True), "skirt": Noun("saia", True),
    "jacket": Noun("jaqueta", True), "coat": Noun("casaco", False), "sweater": Noun("suéter", False),
    "sweatshirt": Noun("moletom", False), "bag": Noun("bolsa", True), "backpack": Noun("mochila", True),
    "wallet": Noun("carteira", True), "shoes": Noun("sapatos", False, True), "sneakers": Noun("tênis", False, True),
    "sandals": Noun("sandálias", True, True), "heels": Noun("sapatos de salto", False, True),
    "flip flops": Noun("chinelos", False, True), "belt": Noun("cinto", False), "cap": Noun("boné", False),
    "watch": Noun("relógio", False), "socks": Noun("meias", True, True), "kurta": Noun("kurta", True),
}

# catalog spellings -> canonical garment (Fashion Product Images articleType, DeepFashion, plain English)
GARMENT_ALIASES = {
    "tshirts": "t-shirt", "tshirt": "t-shirt", "tee": "t-shirt", "t shirt": "t-shirt", "shirts": "shirt",
    "tops": "top", "tunics": "top", "dresses": "dress", "trouser": "trousers", "pants": "trousers",
    "track pants": "trousers", "jean": "jeans", "skirts": "skirt", "jackets": "jacket", "coats": "coat",
    "sweaters": "sweater", "sweatshirts": "sweatshirt", "handbags": "bag", "handbag": "bag", "bags": "bag",
    "clutches": "bag", "backpacks": "backpack", "wallets": "wallet", "casual shoes": "shoes",
    "sports shoes": "shoes", "formal shoes": "shoes", "shoe": "shoes", "sneaker": "sneakers",
    "sandal": "sandals", "flats": "sandals", "heel": "heels", "flip flop": "flip flops", "belts": "belt",
    "caps": "cap", "watches": "watch", "kurtas": "kurta", "blouses": "blouse",
}


@dataclass(frozen=True)
class Adjective:
    m: str
    f: str
    mpl: str
    fpl: str

    def agree(self, noun: Noun) -> str:
        if noun.plural:
            return self.fpl if noun.feminine else self.mpl
        return self.f if noun.feminine else self.m


def _adj(m: str, f: str | None = None, mpl: str | None = None, fpl: str | None = None) -> Adjective:
    f = f or m
    return Adjective(m, f, mpl or m + "s", fpl or f + "s")


def _same(word: str) -> Adjective:
    return Adjective(word, word, word, word)


COLOURS: dict[str, Adjective] = {
    "red": _adj("vermelho", "vermelha"), "blue": Adjective("azul", "azul", "azuis", "azuis"),
    "green": _adj("verde"), "yellow": _adj("amarelo", "amarela"), "black": _adj("preto", "preta"),
    "white": _adj("branco", "branca"), "pink": _same("rosa"), "orange": _same("laranja"),
    "purple": _adj("roxo", "roxa"), "brown": Adjective("marrom", "marrom", "marrons", "marrons"),
    "grey": _same("cinza"), "beige": _same("bege"), "navy": _same("azul-marinho"),
    "gold": _adj("dourado", "dourada"), "silver": _adj("prateado", "prateada"), "maroon": _same("vinho"),
    "multicolour": _adj("colorido", "colorida"),
}

# catalog spellings -> canonical colour; shades a store rarely asks apart are merged into their family
COLOUR_ALIASES = {
    "color": "", "colour": "", "gray": "grey", "navy blue": "navy", "off white": "white", "cream": "beige",
    "khaki": "beige", "nude": "beige", "skin": "beige", "tan": "brown", "coffee brown": "brown",
    "mushroom brown": "brown", "bronze": "brown", "copper": "brown", "burgundy": "maroon", "wine": "maroon",
    "rust": "orange", "peach": "orange", "coral": "orange", "mustard": "yellow", "lime green": "green",
    "olive": "green", "sea green": "green", "fluorescent green": "green", "teal": "blue", "turquoise blue": "blue",
    "turquoise": "blue", "magenta": "pink", "rose": "pink", "mauve": "purple", "lavender": "purple",
    "charcoal": "grey", "grey melange": "grey", "steel": "grey", "metallic": "silver", "multi": "multicolour",
    "multicolor": "multicolour",
}

PATTERNS: dict[str, Adjective] = {
    "plain": _adj("liso", "lisa"), "striped": _adj("listrado", "listrada"), "dotted": _same("de bolinhas"),
    "floral": Adjective("floral", "floral", "florais", "florais"),
    "graphic": _adj("estampado", "estampada"), "checked": _same("xadrez"),
    "colour block": _same("color block"),
}
PATTERN_ALIASES = {"pure color": "plain", "solid": "plain", "stripes": "striped", "stripe": "striped",
                   "polka dots": "dotted", "dots": "dotted", "lattice": "checked", "check": "checked",
                   "checks": "checked", "plaid": "checked", "color block": "colour block", "print": "graphic"}

# sleeve length and necklines answer a question about the sleeve/neck itself: their pt forms are fixed phrases
SLEEVES = {"long": "longa", "short": "curta", "sleeveless": "sem mangas", "medium": "média"}
SLEEVE_ALIASES = {"long-sleeve": "long", "long sleeve": "long", "short-sleeve": "short", "short sleeve": "short",
                  "medium-sleeve": "medium", "three-quarter": "medium", "none": "sleeveless"}
NECKLINES = {"v-neck": "decote em v", "round": "gola redonda", "square": "decote quadrado",
             "standing": "gola alta", "lapel": "lapela", "suspenders": "alças"}
NECKLINE_ALIASES = {"v-shape": "v-neck", "v neck": "v-neck", "crew": "round", "round neck": "round"}
FABRICS = {"denim": "jeans", "cotton": "algodão", "leather": "couro", "furry": "pelúcia", "knitted": "tricô",
           "chiffon": "chiffon", "silk": "seda", "wool": "lã", "linen": "linho", "polyester": "poliéster"}
FABRIC_ALIASES = {"knit": "knitted", "fur": "furry", "jeans": "denim"}


# each attribute's catalog spellings -> its canonical values
ALIASES = {"garment": GARMENT_ALIASES, "colour": COLOUR_ALIASES, "pattern": PATTERN_ALIASES,
           "sleeve": SLEEVE_ALIASES, "neckline": NECKLINE_ALIASES, "fabric": FABRIC_ALIASES}
# how catalog columns name the attributes
ATTRIBUTE_ALIASES = {"color": "colour", "basecolour": "colour", "basecolor": "colour", "articletype": "garment",
                     "type": "garment", "category": "garment", "item": "garment", "sleeves": "sleeve",
                     "sleeve_length": "sleeve", "sleeve length": "sleeve", "neck": "neckline", "material": "fabric",
                     "print": "pattern"}


def canonical_attribute(column: str) -> str:
    key = column.strip().lower()
    return ATTRIBUTE_ALIASES.get(key, key)


def normalise_value(attribute: str, value: str) -> str:
    """Lower case, single spaces, the catalog's spelling mapped to the canonical value ("" = no value)."""
    v = " ".join(str(value or "").replace("_", " ").split()).lower()
    if v in ("", "na", "n/a", "nan", "none", "null", "-", "not visible", "unknown", "other"):
        return "" if not (attribute == "sleeve" and v == "none") else "sleeveless"
    v = ALIASES.get(attribute, {}).get(v, v)
    if attribute == "garment" and v not in GARMENTS and v.endswith("s") and v[:-1] in GARMENTS:
        v = v[:-1]
    return v
