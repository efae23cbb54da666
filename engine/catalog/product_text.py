"""A product as words for the text embedder, in both languages, so a query in Portuguese or English finds it."""
from __future__ import annotations

from engine.language import vocabulary as v


def searchable_text(title: str, attributes: dict[str, str]) -> str:
    """The product as words for the text embedder: its title, its values, and Portuguese for the values the
    vocabulary knows ("red dress" also reads "vestido vermelho"), so a query in either language finds it."""
    words = [title] + [val for val in attributes.values()]
    canon = {v.canonical_attribute(k): v.normalise_value(v.canonical_attribute(k), val)
             for k, val in attributes.items()}
    garment = canon.get("garment") or next((g for g in v.GARMENTS if g in title.lower().split()), "")
    noun = v.GARMENTS.get(garment)
    if noun:
        pt = [noun.pt]
        for attr, table in (("colour", v.COLOURS), ("pattern", v.PATTERNS)):
            adj = table.get(canon.get(attr, ""))
            if adj:
                pt.append(adj.agree(noun))
        words.append(" ".join(pt))
    return " | ".join(w for w in words if w)
