"""How find-in-video scores an indexed garment against words (engine.look.find): colour and garment must both
agree; among the garments that do, the catalog's agreement ranks."""
from __future__ import annotations

from engine.look.find import catalog_agreement, text_score
from engine.look.query import parse
from engine.look.regions import KINDS, Box
from engine.look.video_index import IndexedItem


def _item(colors: dict, titles: list[str], similarity: float = 0.8, t: float = 0.0) -> IndexedItem:
    matches = [{"id": str(i), "title": title, "similarity": similarity,
                "attributes": {"garment": title.split()[-1], "colour": title.split()[0].lower()}}
               for i, title in enumerate(titles)]
    return IndexedItem(t, "feet", Box(0, 0, 10, 10), colors, KINDS["feet"], None, None, matches, None)


def test_garments_whose_colour_and_kind_agree_are_ranked_by_the_catalogs_agreement():
    q = parse("sapatos pretos")
    sure = _item({"black": 1.0}, ["Black shoes", "Black shoes", "Black shoes"])
    unsure = _item({"black": 1.0}, ["Black shoes", "Red shoes", "Blue shoes"])
    assert catalog_agreement(sure, q) > catalog_agreement(unsure, q) > 0
    assert text_score(sure, q) > text_score(unsure, q) > 0.8
    assert text_score(sure, q) <= 1.0
    closer = _item({"black": 1.0}, ["Black shoes", "Red shoes", "Blue shoes"], similarity=0.95)
    assert text_score(closer, q) > text_score(unsure, q)        # the same agreement, nearer images


def test_no_score_without_the_colour_whatever_the_catalog_says():
    q = parse("sapatos pretos")
    red = _item({"red": 1.0}, ["Black shoes", "Black shoes", "Black shoes"])
    assert text_score(red, q) == 0.0
    bag = IndexedItem(0.0, "hand", Box(0, 0, 10, 10), {"black": 1.0}, KINDS["hand"], None, None,
                      [{"title": "Black bag", "attributes": {"garment": "bag", "colour": "black"}}], None)
    assert text_score(bag, q) == 0.0
