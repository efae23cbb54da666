"""The region's shape as a hint for its garment (engine.look.shape) and how the look's ranking uses it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from engine.look.look import rank
from engine.look.regions import KINDS
from engine.look.shape import LONG, SHORT, likely_kinds, reach
from engine.media.colors import dominant_colors

BLUE, SKIN, WALL = (30, 60, 210), (224, 172, 140), (185, 182, 172)


def _lower(stop: float) -> np.ndarray:
    """A hips-to-ankles box: a blue garment from the top down to ``stop`` of the height, bare legs below it."""
    rgb = np.zeros((200, 120, 3), np.uint8)
    rgb[:] = WALL
    rgb[:, 25:55] = SKIN
    rgb[:, 65:95] = SKIN
    end = int(stop * 200)
    rgb[:end, 10:110] = BLUE                  # the hips part: one piece
    if stop > 0.6:                            # trousers: two legs from mid-height down
        rgb[100:end, 55:65] = WALL
    return rgb


def test_trousers_reach_the_ankles_and_a_skirt_stops_above_them():
    for stop, want in ((1.0, LONG), (0.55, SHORT), (0.7, SHORT)):
        rgb = _lower(stop)
        colors = dominant_colors(rgb)
        assert colors[0].en == "blue"
        assert likely_kinds("lower", rgb, colors) == want, stop
    assert reach(_lower(1.0), dominant_colors(_lower(1.0))[0]) == 1.0
    assert reach(_lower(0.55), dominant_colors(_lower(0.55))[0]) == 0.0


def test_only_the_lower_body_gets_a_hint():
    rgb = _lower(1.0)
    colors = dominant_colors(rgb)
    for region in ("upper", "full", "feet", "hand", "frame", "box"):
        assert likely_kinds(region, rgb, colors) is None
    assert likely_kinds("lower", rgb, []) is None


def _hit(pid: str, garment: str, score: float):
    return SimpleNamespace(product=SimpleNamespace(id=pid, title=f"Blue plain {garment}",
                                                   attributes={"garment": garment, "colour": "blue"}), score=score)


def test_the_ranking_prefers_the_garment_the_shape_points_to():
    hits = [_hit("t1", "trousers", 0.80), _hit("t2", "trousers", 0.79), _hit("s1", "skirt", 0.74)]
    colors = dominant_colors(_lower(0.55))
    kinds = KINDS["lower"]
    assert [m.id for m in rank(hits, colors, kinds, None, 3)][0] == "t1"            # no hint: the image decides
    assert [m.id for m in rank(hits, colors, kinds, None, 3, SHORT)][0] == "s1"     # a skirt's shape: the skirt
    assert [m.id for m in rank(hits, colors, kinds, None, 3, LONG)][0] == "t1"
    # the model's category, when it was asked, outranks the shape: the hint changes no score
    assert [m.score for m in rank(hits, colors, kinds, "trousers", 3, SHORT)] == \
        [m.score for m in rank(hits, colors, kinds, "trousers", 3)]


def _striped(period: int = 12) -> np.ndarray:
    rgb = np.zeros((120, 100, 3), np.uint8)
    rgb[:] = BLUE
    for y in range(0, 120, period):
        rgb[y:y + period // 3] = (240, 240, 240)
    return rgb


def test_a_plain_garment_and_a_patterned_one_are_told_apart():
    from engine.look.shape import pattern_hint
    plain = np.zeros((120, 100, 3), np.uint8)
    plain[:] = BLUE
    assert pattern_hint("upper", dominant_colors(plain)) == "plain"
    striped = _striped()
    assert pattern_hint("upper", dominant_colors(striped, np.ones(striped.shape[:2], bool))) == "patterned"
    assert pattern_hint("feet", dominant_colors(plain)) is None        # too small to tell
    assert pattern_hint("upper", []) is None


def test_the_ranking_prefers_the_products_whose_pattern_agrees():
    from engine.look.look import _pattern_of

    def hit(pid, pattern, score):
        h = _hit(pid, "shirt", score)
        h.product.attributes["pattern"] = pattern
        return h
    hits = [hit("striped", "striped", 0.80), hit("plain", "liso", 0.78)]       # the catalog may write Portuguese
    assert _pattern_of({"pattern": "Lisa"}) == "plain" and _pattern_of({"pattern": "stripes"}) == "striped"
    colors = dominant_colors(np.full((50, 50, 3), BLUE, np.uint8))
    kinds = KINDS["upper"]
    assert [m.id for m in rank(hits, colors, kinds, None, 2)] == ["striped", "plain"]
    assert [m.id for m in rank(hits, colors, kinds, None, 2, pattern="plain")] == ["plain", "striped"]
    assert [m.id for m in rank(hits, colors, kinds, None, 2, pattern="patterned")] == ["striped", "plain"]
