"""The look: every garment in a frame, each with its region, measured colours, attributes and catalog matches.

Regions come from engine.look.regions (pose + person mask, else the whole frame, or the clerk's boxes). For each
region: colours from the pixels (engine.media.colors), one image vector (the catalog's signature, all regions in one
batch) and the catalog's nearest products re-ranked by what the region can hold, what its shape and pattern say
(engine.look.shape) and by colour; with a session, the VLM reads every region's category and a few attributes
(LOOK_FIELDS) in one answer about the whole frame (one JSON entry per region, its category limited to what the
region can hold plus "nothing"; ``crops``: one question per region's crop instead), and regions it calls empty are
dropped. The answer is choices only (AskOptions.choices): the model runs once where the answer branches, the keys
between are fed in one batch, so its length and time are bounded by the schema whatever the weights say.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from engine.errors import BadInput
from engine.language import vocabulary as voc
from engine.look.regions import ALL_GARMENTS, NAMES_PT, Box, GarmentRegion, PoseFinder, find_regions
from engine.look.shape import likely_kinds, pattern_hint, pattern_kind, sleeve_hint
from engine.media.colors import NamedColor, colour_overlap, dominant_colors
from engine.media.frames import Frame, Region
from engine.runtime.constrained import choosable, compile_schema
from engine.runtime.describe import AttributeSchema, ask_attributes, describe, in_portuguese, load_templates

log = logging.getLogger(__name__)

NOTHING = "nothing"          # the category a region gets when the VLM sees no garment in it
CANDIDATES = 100             # nearest products looked at before re-ranking (40 -> 100: a bag the image vector ranks
                             # 47th, behind bags of the trousers' colour, is first once its colour and kind count)
COLOUR_BONUS = 0.15          # a product whose colour the region shows, weighted by that colour's share
KIND_BONUS = 0.3             # a product the region can hold (a skirt in the lower body, not on the feet); fitted
                             # on the look bench's dev videos (0.15 -> 0.3: bags 18 -> 22 of 33 right)
UNLIKELY = 0.5               # of KIND_BONUS, for a garment the region can hold but its shape speaks against
                             # (engine.look.shape: trousers for a region whose garment stops above the ankles)
PATTERN_BONUS = 0.06         # a product whose pattern agrees with the pixels' (plain or not); fitted on dev (0.03-0.1
                             # all help: t-shirts 25 -> 33 of 59 right)
SLEEVE_BONUS = 0.1           # a product whose sleeves agree with the region's (short sleeves seen on the arms:
                             # engine.look.shape.sleeve_hint); fitted on dev
PHOTO_COLOUR_BONUS = 0.1     # times how much of the region's colours the product's photo shows too (the shares'
                             # overlap, 0..1): a product's colour attribute names one colour, a striped or dotted
                             # one shows two (look-bench dev, 9 videos: 0.1 and 0.15 fitted best on dev-fit, 835 ->
                             # 841 of 918; dev-check 400 -> 401 of 439; a blue-and-white striped bag on a table was
                             # ranked behind a blue striped skirt)
KIND_NEIGHBOURS = 10         # a region that can hold any garment (a product shot, the clerk's box) has its kind voted
                             # by this many catalog products nearest its shape (``kind_votes``; look-bench product
                             # shots of bags and shoes on a wall, 240 frames of seeds 100-105: 227 -> 237 of 239
                             # found right in the top 3, shoes had been ranked behind a dress or skirt of their
                             # colour; 20 neighbours: 238; the nine dev videos unchanged, 1300 of 1399)
MAX_BOXES = 16


@dataclass
class Match:
    id: str
    title: str
    attributes: dict
    score: float             # the ranking score: similarity + colour and kind agreement
    similarity: float        # the image vectors' cosine

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "attributes": self.attributes, "score": round(self.score, 4),
                "similarity": round(self.similarity, 4)}


@dataclass
class Item:
    region: str                               # upper, lower, full, feet, hand, frame, box
    box: Box
    colors: list[NamedColor]
    kinds: tuple[str, ...]                    # the garments this region can hold
    category: str | None = None               # the VLM's, when it was asked
    attributes: dict | None = None
    attributes_pt: dict | None = None
    matches: list[Match] = field(default_factory=list)
    vector: np.ndarray | None = None          # the catalog signature of the region (the video index keeps it)
    likely: tuple[str, ...] | None = None     # the garments its shape points to (engine.look.shape), None: no hint
    pattern: str | None = None                # plain, patterned, striped or dotted, from its colours (None: no hint)
    sleeve: str | None = None                 # "short" when the arms show short sleeves (None: no hint)

    @property
    def garment(self) -> str | None:
        """The VLM's category, else the best match's garment when the region can hold it."""
        if self.category:
            return self.category
        for m in self.matches:
            g = _garment_of(m.attributes, m.title)
            if g and g in self.kinds:
                return g
        return None

    def to_dict(self) -> dict:
        g = self.garment
        noun = voc.GARMENTS.get(g or "")
        return {"region": self.region, "region_pt": NAMES_PT.get(self.region, self.region), "box": self.box.to_list(),
                "garment": g, "garment_pt": noun.pt if noun else g, "category": self.category,
                "colors": [c.to_dict() for c in self.colors], "attributes": self.attributes,
                "attributes_pt": self.attributes_pt, "matches": [m.to_dict() for m in self.matches]}


@dataclass
class Look:
    frame: str                                # where the frame came from (engine.media.frames.Frame.describe)
    width: int
    height: int
    how: str                                  # pose, frame or box
    items: list[Item]
    seconds: float = 0.0
    model: str = ""

    def to_dict(self) -> dict:
        return {"frame": self.frame, "width": self.width, "height": self.height, "how": self.how,
                "items": [i.to_dict() for i in self.items], "seconds": round(self.seconds, 3), "model": self.model}


def _garment_of(attributes: dict, title: str = "") -> str:
    canon = {voc.canonical_attribute(k): v for k, v in (attributes or {}).items()}
    g = voc.normalise_value("garment", canon.get("garment", ""))
    if not g and title:
        words = title.lower().split()
        g = next((w for w in reversed(words) if voc.normalise_value("garment", w) in voc.GARMENTS), "")
        g = voc.normalise_value("garment", g) if g else ""
    return g


def _pattern_of(attributes: dict) -> str:
    """The product's pattern, canonical ("plain", "striped"...), also when the catalog writes it in Portuguese."""
    canon = {voc.canonical_attribute(k): v for k, v in (attributes or {}).items()}
    v = voc.normalise_value("pattern", canon.get("pattern", ""))
    if v in voc.PATTERNS or not v:
        return v
    return next((k for k, adj in voc.PATTERNS.items() if v in (adj.m, adj.f, adj.mpl, adj.fpl)), "")


def _sleeve_of(attributes: dict, title: str = "") -> str:
    """The product's sleeve length, canonical ("long", "short", "sleeveless"...): its sleeve attribute, else its
    title's words ("short sleeves", "manga curta", "sem mangas")."""
    canon = {voc.canonical_attribute(k): v for k, v in (attributes or {}).items()}
    v = voc.normalise_value("sleeve", canon.get("sleeve", ""))
    if v in voc.SLEEVES:
        return v
    pt = {p: en for en, p in voc.SLEEVES.items()}
    if v in pt:
        return pt[v]
    text = " ".join(title.lower().replace("-", " ").split())
    if "sleeveless" in text or "sem manga" in text:
        return "sleeveless"
    for en, p in voc.SLEEVES.items():
        if f"{en} sleeve" in text or f"manga {p}" in text or f"mangas {p}s" in text:
            return en
    return ""


def _colour_of(attributes: dict) -> str:
    canon = {voc.canonical_attribute(k): v for k, v in (attributes or {}).items()}
    return voc.normalise_value("colour", canon.get("colour", ""))


def kind_votes(catalog, vector: np.ndarray, n: int = KIND_NEIGHBOURS) -> dict[str, float]:
    """What garment a region's shape points to, by the catalog's own products: the share of each garment among the
    ``n`` products nearest the region's vector with its colour left out (ProductSignature.shape_part). For a region
    the pose says nothing about (a product shot, the clerk's box) the full vector's nearest are the products of its
    colour, any garment (yellow shoes on a wall were ranked behind a yellow dress and skirt); the features alone see
    a shoe. Empty (no vote) when the catalog holds under ``3 n`` products (the nearest would be its whole mix of
    garments, whatever the shape: a catalog of four dresses and one pair of shoes voted "dress" for the shoes) or
    when under half of the ``n`` name their garment."""
    hits = catalog.search_vector(catalog.signature.shape_part(vector), 3 * n)
    if len(hits) < 3 * n:
        return {}
    garments = [g for g in (_garment_of(h.product.attributes, h.product.title) for h in hits[:n]) if g]
    return {g: garments.count(g) / len(garments) for g in set(garments)} if 2 * len(garments) >= n else {}


def rank(hits, colors: list[NamedColor], kinds: tuple[str, ...], category: str | None, k: int,
         likely: tuple[str, ...] | None = None, pattern: str | None = None, sleeve: str | None = None,
         shares: dict[str, float] | None = None, shares_of=None, votes: dict[str, float] | None = None) -> list[Match]:
    """The catalog's nearest products re-ranked: the image similarity, plus agreement with the measured colours
    and with what the region can hold (ImageNet features alone confuse a red shirt with a red skirt), less for a
    garment the region's shape speaks against (``likely``, when the model named no category), and a little more
    for a product whose pattern agrees with ``pattern`` (plain or patterned, read from the pixels) and for one
    whose sleeves are ``sleeve`` (seen on the arms). ``shares`` (the region's colour shares, as its vector holds
    them) and ``shares_of`` (a hit's vector -> its photo's colour shares: ProductSignature.colour_shares): a little
    more for a product whose photo shows the region's colours, all of them (a pattern's second colour too).
    ``votes`` (garment -> share, ``kind_votes``): for a region that can hold any garment, a product's kind agrees
    as much as its garment's share of the votes, not wholly (with no category from the model)."""
    measured = {c.en: c.share for c in colors}
    out = []
    for h in hits:
        p = h.product
        garment, colour = _garment_of(p.attributes, p.title), _colour_of(p.attributes)
        kind = 0.5 if not garment else 1.0 if (garment == category if category else garment in kinds) else 0.0
        if kind == 1.0 and not category and likely and garment not in likely:
            kind = UNLIKELY
        if kind == 1.0 and not category and votes:
            kind = votes.get(garment, 0.0)
        score = h.score + COLOUR_BONUS * measured.get(colour, 0.0) + KIND_BONUS * kind
        vector = getattr(h, "vector", None)
        if shares and shares_of is not None and vector is not None:
            score += PHOTO_COLOUR_BONUS * colour_overlap(shares, shares_of(vector))
        own = _pattern_of(p.attributes) if pattern else ""
        if own and (own == "plain") == (pattern == "plain"):
            score += PATTERN_BONUS
            if pattern not in ("plain", "patterned") and own == pattern:     # striped, dotted: the very pattern
                score += PATTERN_BONUS
        if sleeve and _sleeve_of(p.attributes, p.title) == sleeve:
            score += SLEEVE_BONUS
        out.append(Match(p.id, p.title, p.attributes, score, h.score))
    out.sort(key=lambda m: -m.score)
    return out[:k]


# how a question about the whole frame names the region (the model sees the frame once, encoded once)
WHERE = {"upper": "on the person's upper body", "lower": "on the person's lower body (trousers, skirt)",
         "full": "the person wears from the shoulders down", "feet": "on the person's feet",
         "hand": "the person holds or carries"}


class RegionSchema(AttributeSchema):
    """The schema asked about one region of the whole frame: its prompt names the region."""

    def __init__(self, schema: dict, path, where: str):
        super().__init__(schema, path)
        self.where = where

    def prompt(self) -> str:
        return super().prompt().replace("the main garment in the picture", f"the garment {self.where}")


# What the look asks the model about each region besides its category: a few attributes the region shows (a
# store's schema without one of them just has fewer). Colours are not asked: the pixels measure them (the card
# shows those), and every attribute asked costs the model its tokens on every look. `vitrine describe` asks all.
LOOK_FIELDS: dict[str, tuple[str, ...]] = {
    "upper": ("pattern", "sleeve_length", "neckline"), "full": ("pattern", "sleeve_length", "neckline"),
    "lower": ("pattern", "fit"), "feet": (), "hand": (),
}
OTHER_FIELDS = ("pattern", "fabric", "sleeve_length", "neckline", "fit")       # the whole frame, the clerk's boxes


def _choices_only(schema: dict, region: str) -> dict:
    """The category and the region's LOOK_FIELDS, of the schema's properties whose answers are choices among its
    values (enums, arrays of enums): free-text or number attributes of a store's schema are left to describe, so
    the look's answer has no free text to write and its length is the schema's (ChoiceConstraint)."""
    wanted = ("category",) + LOOK_FIELDS.get(region, OTHER_FIELDS)
    props = {k: v for k, v in schema["properties"].items()
             if k in wanted and choosable(compile_schema({"type": "object", "properties": {k: v}}))}
    if not props:
        raise BadInput("the attribute schema has no category or attribute the look can ask as a choice (an enum): "
                       "add a \"category\" enum to it")
    return {**schema, "properties": props,
            **({"required": [r for r in schema["required"] if r in props]} if "required" in schema else {})}


def _schema_for(schema: AttributeSchema, kinds: tuple[str, ...], where: str = "", region: str = "") -> AttributeSchema:
    """The attribute schema with the category limited to what the region can hold, plus "nothing", and only what
    the look asks of ``region`` (``_choices_only``); ``where`` names the region in the prompt when the model sees
    the whole frame."""
    s = _choices_only(copy.deepcopy(schema.schema), region)
    cat = s["properties"].get("category")
    if isinstance(cat, dict) and isinstance(cat.get("enum"), list):
        allowed = [c for c in cat["enum"] if c in kinds] or list(cat["enum"])
        cat["enum"] = allowed + [NOTHING]
    return RegionSchema(s, schema.path, where) if where else AttributeSchema(s, schema.path)


def _ask(session, frame: Frame, region: GarmentRegion, schema, templates, max_tokens: int, crops: bool):
    """The model's attributes for one region: about its crop (``crops``, and always for the clerk's boxes), else
    about the whole frame with the region named in the prompt, so every region reuses one encoded image."""
    if crops or region.name not in WHERE:
        crop = frame.crop(Region(region.box.x, region.box.y, region.box.w, region.box.h))
        return describe(session, crop, _schema_for(schema, region.kinds, region=region.name), templates,
                        max_tokens=max_tokens, choices=True)
    return describe(session, frame, _schema_for(schema, region.kinds, WHERE[region.name], region.name), templates,
                    max_tokens=max_tokens, choices=True)


def question_for(schema: AttributeSchema, places: list[tuple[str, tuple[str, ...]]]) -> tuple[list[str], dict, str]:
    """The one question about the whole frame for ``places`` ((region name, the garments it can hold), in order):
    the answer's keys (a name twice gets _2...), its JSON schema (an entry per place, each the region's own
    choices: ``_schema_for``) and the prompt."""
    keys: list[str] = []
    for name, _ in places:
        key, n = name, 2
        while key in keys:
            key, n = f"{name}_{n}", n + 1
        keys.append(key)
    combined = {"type": "object", "additionalProperties": False, "required": keys,
                "properties": {k: _schema_for(schema, kinds, region=name).model_schema
                               for k, (name, kinds) in zip(keys, places)}}
    # short: every token of it is read on every look (the answer's keys name the places and the attributes)
    prompt = (f"The garments the person in the picture wears, as JSON, one entry per place ({', '.join(keys)}); "
              f"the category \"{NOTHING}\" where a place holds none.")
    return keys, combined, prompt


def _ask_together(session, frame: Frame, regions: list[GarmentRegion], schema: AttributeSchema, max_tokens: int):
    """Every region's attributes in one answer about the whole frame: one JSON object with an entry per region
    (each constrained to the region's own schema), so the image and the prompt go through the model once, not once
    per region (with the 256M model, the prefill was over half of a per-region look). Returns
    [(attributes, attributes_pt)] in the regions' order and the model's name."""
    keys, combined, prompt = question_for(schema, [(r.name, r.kinds) for r in regions])
    # choices only: the model is asked where the answer branches (a value), the keys and punctuation between are
    # fed in one batch, and the answer's length is the schema's whatever the weights (ChoiceConstraint)
    data, answer = ask_attributes(session, frame, prompt, combined, max_tokens * len(regions), choices=True)
    out = [in_portuguese(schema, data[k]) for k in keys]
    return out, answer.model


def _pattern(region: str, crop: np.ndarray, mask: np.ndarray | None, colors: list[NamedColor]) -> str | None:
    """The region's pattern (engine.look.shape): plain or patterned from its colours' shares, then striped or dotted
    from the shape of its second colour. A product shot (no person: the region is the product, cut out of the
    frame) fills the picture, so its second colour is read as a worn top's is (shape.py leaves shoes and bags out
    for having too few pixels on a person); only the very pattern, striped or dotted, counts there: a shoe's sole or
    a bag's handle in a second colour is not "patterned" (look-bench dev: black dotted shoes on a table were ranked
    behind black plain ones, 25 -> 30 of 30 product shots right in the top 3)."""
    if region == "frame":
        return pattern_kind("full", crop, mask, colors)
    pattern = pattern_hint(region, colors)
    if pattern != "plain":
        pattern = pattern_kind(region, crop, mask, colors) or pattern
    return pattern


def look_at(frame: Frame, catalog=None, session=None, finder: PoseFinder | None = None,
            boxes: list[Box] | None = None, k: int = 3, schema=None, templates=None,
            max_tokens: int = 300, crops: bool = False) -> Look:
    """The garments in ``frame``. ``catalog``: an engine.catalog.base.Catalog for matches (None: no matches);
    ``session``: an engine.runtime.session.Session for the attributes (None: regions, colours and matches only);
    ``finder``: a PoseFinder to reuse (None: one is made for this call); ``boxes``: the clerk's boxes;
    ``crops``: the model reads each region's crop (one image encode each) instead of the frame named by region."""
    if not 1 <= k <= 50:
        raise BadInput("k must be between 1 and 50 matches per garment")
    if boxes and len(boxes) > MAX_BOXES:
        raise BadInput(f"at most {MAX_BOXES} boxes per frame")
    start = time.perf_counter()
    rgb = frame.rgb
    boxes = clip_boxes(boxes, frame.width, frame.height)
    own = finder is None and not boxes
    if own:
        finder = PoseFinder()
    try:
        how, regions = find_regions(rgb, finder, boxes)
    finally:
        if own:
            finder.close()
    items = [Item(r.name, r.box, dominant_colors(r.crop(rgb), r.mask), r.kinds) for r in regions]
    for item, r in zip(items, regions):
        item.likely = likely_kinds(r.name, r.crop(rgb), item.colors, r.mask)
        item.pattern = _pattern(r.name, r.crop(rgb), r.mask, item.colors)
        item.sleeve = sleeve_hint(rgb, r.extra.get("arms", []), item.colors) if r.name in ("upper", "full") else None
    model = ""
    if session is not None:
        schema = schema or AttributeSchema.load(session.settings)
        templates = templates if templates is not None else load_templates(session.settings)
        kept_items, kept_regions = [], []
        if not crops and regions and all(r.name in WHERE for r in regions):
            answers, model = _ask_together(session, frame, regions, schema, max_tokens)
        else:
            answers = []
            for region in regions:
                d = _ask(session, frame, region, schema, templates, max_tokens, crops)
                answers.append((d.attributes, d.attributes_pt))
                model = d.model
        for item, region, (attrs, attrs_pt) in zip(items, regions, answers):
            if attrs.get("category") == NOTHING:
                log.info("the model sees nothing in the %s region: dropped", region.name)
                continue
            item.category = attrs.get("category")
            item.attributes, item.attributes_pt = attrs, attrs_pt
            kept_items.append(item)
            kept_regions.append(region)
        items, regions = kept_items, kept_regions
    if catalog is not None and items:
        vectors = catalog.signature.vectors([r.cut_out(rgb) for r in regions], [r.mask for r in regions])
        searchable = catalog.info().indexed > 0
        for item, vec in zip(items, vectors):
            item.vector = vec
            if searchable:
                hits = catalog.search_vector(vec, CANDIDATES, vectors=True)
                sig = catalog.signature
                votes = kind_votes(catalog, vec) if set(ALL_GARMENTS) <= set(item.kinds) and not item.category \
                    else None
                item.matches = rank(hits, item.colors, item.kinds, item.category, k, item.likely,
                                    item.pattern, item.sleeve, sig.colour_shares(vec), sig.colour_shares, votes)
    return Look(frame.describe(), frame.width, frame.height, how, items, time.perf_counter() - start, model)


def look_dict(frame: Frame, catalog=None, session=None, **kw) -> dict:
    """``look_at`` as JSON-ready data: what the API's route returns."""
    return look_at(frame, catalog, session, **kw).to_dict()


def parse_boxes(texts: list[str] | None) -> list[Box] | None:
    """``--box x,y,w,h`` given one or more times."""
    if not texts:
        return None
    out = []
    for t in texts:
        r = Region.parse(t)
        out.append(Box(r.x, r.y, r.w, r.h))
    return out


def clip_boxes(boxes: list[Box] | None, width: int, height: int) -> list[Box] | None:
    if not boxes:
        return boxes
    out = []
    for b in boxes:
        c = Box.around(b.x, b.y, b.x + b.w, b.y + b.h, width, height)
        if c is None:
            raise BadInput(f"box {b.x},{b.y},{b.w},{b.h} lies outside the {width}x{height} frame or is under 8 px")
        out.append(c)
    return out


__all__ = ["ALL_GARMENTS", "Item", "Look", "Match", "look_at", "look_dict", "parse_boxes", "clip_boxes"]
