"""Find in a video: the sampled moments whose garments match words, a product picture or a catalog SKU, ranked.

Words score an indexed garment by colour (the share of the asked colour among its measured colours) times garment
(the VLM's category when the index has it; else whether its region can hold the garment and how many of its top
catalog matches are one); garments where both agree are ranked by how much their top catalog matches agree too. A picture or SKU scores by the cosine of the catalog signatures; a SKU also by its
colour and garment attributes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.catalog.product_images import load_rgb
from engine.errors import BadInput
from engine.look.look import _colour_of, _garment_of
from engine.look.query import TextQuery, parse
from engine.look.video_index import IndexedItem, VideoIndex
from engine.media.colors import dominant_colors
from engine.media.frames import load_frame, parse_spec

MIN_SCORE = 0.2


@dataclass
class Moment:
    t: float
    score: float
    region: str
    box: list[int]
    colors: dict[str, float]
    garment: str | None
    thumbnail: str | None = None     # where the CLI wrote it

    def to_dict(self) -> dict:
        return {"time": self.t, "score": round(self.score, 4), "region": self.region, "box": self.box,
                "colors": self.colors, "garment": self.garment, "thumbnail": self.thumbnail}


def garment_score(item: IndexedItem, garments: list[str]) -> float:
    if not garments:
        return 1.0
    if item.category:
        return 1.0 if item.category in garments else 0.0
    fits = 0.4 if any(g in item.kinds for g in garments) else 0.0
    top = item.matches[:3]
    if not top:
        return fits / 0.4 * 0.7 if fits else 0.0          # no catalog: the region's kind is all there is
    agree = sum(_garment_of(m.get("attributes") or {}, m.get("title", "")) in garments for m in top) / len(top)
    return fits + 0.6 * agree


def colour_score(item: IndexedItem, colours: list[str]) -> float:
    if not colours:
        return 1.0
    return min(1.0, sum(item.colors.get(c, 0.0) for c in colours) / 0.6)


CATALOG_WEIGHT = 0.1    # of a text score, the part that ranks garments whose colour and kind both agree: how much
                        # the catalog's nearest products agree too (dev p@5 0.81 -> 0.83; items tied at 1.0 were
                        # ranked by time)


def catalog_agreement(item: IndexedItem, q: TextQuery) -> float:
    """How strongly the catalog says the garment is what the words ask (0..1): the image similarity of each of its
    top matches whose colour and garment are both the asked ones, over the top 3."""
    top = item.matches[:3]
    if not top:
        return 0.0
    agree = 0.0
    for m in top:
        attrs = m.get("attributes") or {}
        if (not q.colours or _colour_of(attrs) in q.colours) and \
                (not q.garments or _garment_of(attrs, m.get("title", "")) in q.garments):
            agree += min(1.0, max(0.0, float(m.get("similarity", 0.0))))
    return agree / len(top)


def text_score(item: IndexedItem, q: TextQuery) -> float:
    """The colour's share times the garment's agreement: both must agree for a score; among those that do, the
    catalog's agreement ranks (CATALOG_WEIGHT), so equal word scores are not left in the video's order."""
    words = colour_score(item, q.colours) * garment_score(item, q.garments)
    return words * (1.0 - CATALOG_WEIGHT + CATALOG_WEIGHT * catalog_agreement(item, q)) if words else 0.0


@dataclass
class Query:
    text: TextQuery | None = None
    vector: np.ndarray | None = None
    label: str = ""


def query_for(what: str, catalog=None) -> Query:
    """Words, a picture file, or a catalog SKU."""
    path = Path(parse_spec(what)[0]) if what.strip() else None
    if path is not None and path.is_file():
        if catalog is None:
            raise BadInput("searching with a picture needs the catalog's embedder: give --catalog")
        frame = load_frame(what)
        vec = catalog.signature.vectors([frame.rgb])[0]
        return Query(None, vec, f"picture {path.name}")
    if catalog is not None and what.strip() and " " not in what.strip():
        product = catalog.get(what.strip())
        if product is not None:
            rgb = load_rgb(product.image)
            vec = catalog.signature.vectors([rgb])[0] if rgb is not None else None
            colour, garment = _colour_of(product.attributes), _garment_of(product.attributes, product.title)
            text = TextQuery(product.id, [colour] if colour else [], [garment] if garment else [])
            if vec is None and not (text.colours or text.garments):
                raise BadInput(f"product {product.id} has no readable image and no colour or garment to search for")
            return Query(text if (text.colours or text.garments) else None, vec, f"product {product.id}")
    return Query(parse(what), None, what)


def find(index: VideoIndex, query: Query, n: int = 5) -> tuple[list[Moment], float]:
    """The ``n`` best moments (one per sampled frame, its best garment), and the seconds the search took."""
    if not 1 <= n <= 500:
        raise BadInput("-n must be between 1 and 500")
    start = time.perf_counter()
    best: dict[float, tuple[float, IndexedItem]] = {}
    for item in index.items():
        s = 0.0
        parts = []
        if query.text is not None:
            parts.append(text_score(item, query.text))
        if query.vector is not None and item.vector is not None and item.vector.shape == query.vector.shape:
            parts.append(max(0.0, float(np.dot(item.vector, query.vector))))
        if parts:
            s = sum(parts) / len(parts)
        if s >= MIN_SCORE and s > best.get(item.t, (-1.0, None))[0]:
            best[item.t] = (s, item)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
    moments = [Moment(t, s, it.region, it.box.to_list(), it.colors, it.category or it.garment)
               for t, (s, it) in ranked]
    return moments, time.perf_counter() - start
