"""The region's shape as a hint for its garment (engine.look.shape) and how the look's ranking uses it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

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


def test_a_wall_of_the_skirts_colour_between_the_legs_is_not_a_trouser_leg():
    """The skirt stops at 0.55 of the box; below it the bare legs stand in front of a wall of the skirt's own blue.
    The crop alone reads trousers; the garment's mask (the person's pixels, skin left out) reads the skirt."""
    rgb = _lower(0.55)
    rgb[int(0.55 * 200):, :25] = BLUE
    rgb[int(0.55 * 200):, 55:65] = BLUE
    rgb[int(0.55 * 200):, 95:] = BLUE
    mask = np.zeros(rgb.shape[:2], bool)
    mask[:int(0.55 * 200), 10:110] = True                             # the skirt's pixels only
    colors = dominant_colors(rgb, mask)                                # as the look measures them
    assert colors[0].en == "blue"
    assert likely_kinds("lower", rgb, colors) == LONG                  # the raw crop: fooled
    assert likely_kinds("lower", rgb, colors, mask) == SHORT
    trousers = _lower(1.0)
    legs = np.zeros(trousers.shape[:2], bool)
    legs[:, 10:110] = True
    legs[100:, 55:65] = False
    assert likely_kinds("lower", trousers, dominant_colors(trousers), legs) == LONG


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


# ---- sleeves: short sleeves seen on the arms ----------------------------------------------------------------------
SHOULDER, ELBOW, WRIST = (60.0, 40.0), (66.0, 140.0), (70.0, 240.0)


def _arm(sleeve_to: float) -> np.ndarray:
    """A frame with one arm hanging (skin, 24 px wide) and a blue top whose sleeve covers the arm down to
    ``sleeve_to`` of the way from the shoulder to the elbow (0: sleeveless; past 1: down the forearm)."""
    import cv2
    rgb = np.zeros((280, 160, 3), np.uint8)
    rgb[:] = WALL
    rgb[30:260, 80:150] = BLUE                                   # the torso, beside the arm
    pts = [tuple(int(v) for v in p) for p in (SHOULDER, ELBOW, WRIST)]
    cv2.line(rgb, pts[0], pts[1], SKIN, 24)
    cv2.line(rgb, pts[1], pts[2], SKIN, 22)
    if sleeve_to > 0:
        end = ELBOW if sleeve_to >= 1 else (SHOULDER[0] + sleeve_to * (ELBOW[0] - SHOULDER[0]),
                                            SHOULDER[1] + sleeve_to * (ELBOW[1] - SHOULDER[1]))
        if sleeve_to > 1:
            f = sleeve_to - 1
            end = (ELBOW[0] + f * (WRIST[0] - ELBOW[0]), ELBOW[1] + f * (WRIST[1] - ELBOW[1]))
            cv2.line(rgb, pts[0], pts[1], BLUE, 30)
        cv2.line(rgb, pts[0] if sleeve_to <= 1 else pts[1], tuple(int(v) for v in end), BLUE, 30)
    return rgb


def test_short_sleeves_are_the_garment_below_the_shoulder_and_skin_at_the_elbow():
    from engine.look.shape import sleeve_hint
    arms = [(SHOULDER, ELBOW, WRIST)]
    blue = dominant_colors(np.full((20, 20, 3), BLUE, np.uint8))
    assert sleeve_hint(_arm(0.5), arms, blue) == "short"
    assert sleeve_hint(_arm(1.9), arms, blue) is None           # long sleeves: no hint (the torso may be there)
    assert sleeve_hint(_arm(0.0), arms, blue) is None           # bare below the shoulder: no short sleeve
    assert sleeve_hint(_arm(0.5), [], blue) is None             # no arm seen
    folded = [(SHOULDER, ELBOW, (SHOULDER[0] + 5, SHOULDER[1] + 10))]        # a misplaced wrist: not read
    assert sleeve_hint(_arm(0.5), folded, blue) is None
    red = dominant_colors(np.full((20, 20, 3), (210, 30, 30), np.uint8))
    assert sleeve_hint(_arm(0.5), arms, red) is None            # the sleeve must be the garment's colour


def test_the_ranking_prefers_the_products_whose_sleeves_agree_and_reads_them_from_titles():
    from engine.look.look import _sleeve_of

    def hit(pid, garment, title, score):
        h = _hit(pid, garment, score)
        h.product.title = title
        return h
    hits = [hit("long", "shirt", "Blue plain shirt long sleeves", 0.80),
            hit("short", "t-shirt", "Blue plain t-shirt short sleeves", 0.78)]
    assert _sleeve_of({}, "Blue plain t-shirt short sleeves") == "short"
    assert _sleeve_of({}, "Camisa azul manga longa") == "long"
    assert _sleeve_of({}, "Regata sem mangas") == "sleeveless"
    assert _sleeve_of({"sleeve_length": "Long-sleeve"}) == "long" and _sleeve_of({"Sleeves": "curta"}) == "short"
    assert _sleeve_of({}, "Blue bag") == ""
    colors = dominant_colors(np.full((50, 50, 3), BLUE, np.uint8))
    kinds = KINDS["upper"]
    assert [m.id for m in rank(hits, colors, kinds, None, 2)] == ["long", "short"]
    assert [m.id for m in rank(hits, colors, kinds, None, 2, sleeve="short")] == ["short", "long"]


# ---- what a hand holds ------------------------------------------------------------------------------------------
def test_a_bag_cut_to_its_pixels_keeps_them_where_they_are_when_it_touches_the_edge():
    from engine.look.regions import Box, GarmentRegion, _tighten
    region = GarmentRegion("hand", Box(100, 100, 60, 80), kinds=KINDS["hand"])
    blob = np.zeros((80, 60), bool)
    blob[0:50, 0:30] = True                 # the bag fills the box's top-left corner: the pad reaches outside it
    cut = _tighten(region, blob, 640, 480)
    assert cut.mask.sum() == blob.sum()
    ys, xs = np.nonzero(cut.mask)
    assert (cut.box.x + xs.min(), cut.box.y + ys.min()) == (100, 100)     # the same pixels of the frame


def test_a_striped_bags_strips_are_one_bag():
    from engine.look.regions import _largest_blob
    mask = np.zeros((100, 100), bool)
    for y in range(30, 90, 10):             # white stripes left of black ones taken for the shirt's
        mask[y:y + 5, 20:80] = True
    mask[5:9, 90:96] = True                 # a speck of something else
    one = _largest_blob(mask)
    assert one.sum() == 5 * 60               # pieces apart: a single stripe
    bag = _largest_blob(mask, near=8)
    assert bag.sum() == 6 * 5 * 60 and not bag[5:9, 90:96].any()


def test_stripes_and_dots_are_told_apart_by_the_shape_of_the_second_colour():
    from engine.look.shape import pattern_kind
    striped = _striped()
    dotted = np.zeros((120, 100, 3), np.uint8)
    dotted[:] = BLUE
    for y in range(5, 120, 12):
        for x in range(5, 100, 12):
            dotted[y:y + 5, x:x + 5] = (240, 240, 240)
    placket = np.zeros((120, 100, 3), np.uint8)          # a plain shirt: one line down its front, a collar
    placket[:] = BLUE
    placket[:, 46:54] = (240, 240, 240)
    placket[:20, 25:75] = (240, 240, 240)

    def kind(rgb):
        return pattern_kind("upper", rgb, np.ones(rgb.shape[:2], bool), dominant_colors(rgb, np.ones(rgb.shape[:2],
                                                                                                       bool)))
    assert kind(striped) == "striped"
    assert kind(dotted) == "dotted"
    assert kind(placket) is None
    assert pattern_kind("feet", striped, None, dominant_colors(striped)) is None


def test_the_ranking_prefers_the_very_pattern_when_it_is_known():
    def hit(pid, pattern, score):
        h = _hit(pid, "shirt", score)
        h.product.attributes["pattern"] = pattern
        return h
    hits = [hit("dotted", "dotted", 0.80), hit("striped", "striped", 0.78), hit("plain", "plain", 0.79)]
    colors = dominant_colors(np.full((50, 50, 3), BLUE, np.uint8))
    kinds = KINDS["upper"]
    assert [m.id for m in rank(hits, colors, kinds, None, 3, pattern="patterned")][:2] == ["dotted", "striped"]
    assert [m.id for m in rank(hits, colors, kinds, None, 3, pattern="striped")][0] == "striped"


def test_stripes_joined_by_a_placket_of_their_colour_are_still_stripes():
    from engine.look.shape import pattern_kind
    shirt = np.full((120, 100, 3), 235, np.uint8)         # a white shirt with black stripes
    for y in range(4, 120, 14):
        shirt[y:y + 6] = (20, 20, 20)
    shirt[:, 48:52] = (20, 20, 20)                        # its placket joins every stripe into one piece
    on = np.ones(shirt.shape[:2], bool)
    assert pattern_kind("upper", shirt, on, dominant_colors(shirt, on)) == "striped"


@pytest.mark.parametrize("d,spacing", [(12, 18), (14, 20), (16, 22)])
def test_dense_dots_are_not_stripes(d, spacing):
    # rows through dense dots hold 0.6 of the second colour, but in pieces of ~0.1 of the width; a stripe is one piece
    from engine.look.shape import pattern_kind
    shirt = np.full((240, 200, 3), (20, 30, 120), np.uint8)
    yy, xx = np.mgrid[0:240, 0:200]
    for cy in range(spacing // 2, 240, spacing):
        for cx in range(spacing // 2, 200, spacing):
            shirt[(yy - cy) ** 2 + (xx - cx) ** 2 <= (d / 2) ** 2] = (250, 250, 250)
    on = np.ones(shirt.shape[:2], bool)
    assert pattern_kind("upper", shirt, on, dominant_colors(shirt, on)) == "dotted"
