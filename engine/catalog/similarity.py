"""What makes two product pictures similar: the image embedder's features plus the garment's measured colours.

ImageNet features see shape and texture well but are nearly blind to colour (on the synthetic catalog, 98 of
107 misses were the same garment in another colour); a small colour signature (shares over the colour table's
names, from engine.media.colors) fixes that: recall@1 of augmented copies 0.80 -> 0.94. The signature's weight is part
of the signature's id, so vectors built with another weight are never mixed with these.

An image without a mask (a catalog's product photo, a picture searched with) is embedded with its plain ground
grey (engine.media.colors.cut_background), as the look's regions are (their cut-out: the garment on grey): with
each photo's own ground, the embedder ranked the right product first among the garments of its kind and colour
for 280 of 416 found garments on the look bench's dev videos; with the ground grey on both sides, 340.

A region's cut-out (an image with a mask) is squared on that grey too (``on_grey_square``) before the embedder sees
it: the embedder letterboxes by repeating the picture's edge rows, which for a cut-out whose garment touches its box
(a pair of shoes in a wide, low box; a top filling the upper body's) smeared the garment's edge colours into long
streaks, where a catalog photo's edge is its grey ground and pads as grey (look-bench dev, nine videos: the right
product in the top 3 for 828 -> 835 of 918 dev-fit garments, 399 -> 400 of 439 dev-check; tops 288 -> 295 of 311).
The catalog's vectors are unchanged (a photo is squared as before), so the signature id stays.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.catalog.embed import ImageEmbedder, unit_rows
from engine.media.colors import COLOR_TABLE, ColorTable, cut_background, default_table, dominant_colors

COLOUR_WEIGHT = 0.5
GREY = 128              # the ground of a cut-out region (engine.look.regions) and of a photo's greyed ground
CUT = "+cut"            # in the id: the photos' ground greyed (vectors from before are re-embedded, never mixed)


@dataclass(frozen=True)
class SignatureInfo:
    id: str          # the image embedder's id + the colour signature's: what the catalog records
    embedder: str    # the image embedder's name
    dim: int


class ProductSignature:
    """Image -> one unit vector for nearest-neighbour search."""

    def __init__(self, embedder: ImageEmbedder, table: ColorTable | None = None,
                 colour_weight: float = COLOUR_WEIGHT):
        self.embedder = embedder
        self.table = table or default_table()
        self.colour_names = sorted({n[0] for n in self.table.names})
        self.colour_weight = colour_weight
        table_id = hashlib.sha1(COLOR_TABLE.read_bytes() if table is None else repr(self.table.names).encode())
        suffix = f"+colour{colour_weight:g}-{table_id.hexdigest()[:6]}" if colour_weight else ""
        self.info = SignatureInfo(embedder.info.id + CUT + suffix, embedder.info.name,
                                  embedder.info.dim + (len(self.colour_names) if colour_weight else 0))

    def colour_vector(self, rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        v = np.zeros(len(self.colour_names), np.float32)
        for c in dominant_colors(rgb, mask, table=self.table):
            v[self.colour_names.index(c.en)] = c.share
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def colour_shares(self, vector: np.ndarray) -> dict[str, float]:
        """The colour shares a vector of this signature holds (its colour part, ``colour_vector`` scaled with the
        rest), summing to 1: a catalog photo's colours as measured when it was indexed, without reading it again.
        Empty without a colour part."""
        n = len(self.colour_names)
        v = np.asarray(vector, np.float32).ravel()
        if not self.colour_weight or v.shape[0] != self.info.dim:
            return {}
        if not np.isfinite(v[-n:]).all():      # a damaged vector: no colours rather than NaN shares (min(x, nan) is x)
            return {}
        tail = np.maximum(v[-n:], 0.0)
        total = float(tail.sum())
        if total <= 1e-9:
            return {}
        return {name: float(x) / total for name, x in zip(self.colour_names, tail) if x > 0}

    def shape_part(self, vector: np.ndarray) -> np.ndarray:
        """The vector with its colour part zeroed: searched with, the catalog's products come in the order of the
        embedder's features alone (shape, texture), whatever their colour. Every product vector is the embedder's
        unit vector and ``colour_weight`` x a unit colour vector, scaled by one and the same norm, so the cosine with
        this orders them as the features' cosine does. Unchanged without a colour part."""
        v = np.array(vector, np.float32).ravel()
        n = len(self.colour_names)
        if n and self.colour_weight and v.shape[0] == self.info.dim:     # v[-0:] would be all of it
            v[-n:] = 0.0
        return v

    def vectors(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """One vector per image; an image with a mask is a region already cut out (its ground grey), one without is
        a photo whose plain ground is greyed before it is embedded (``cut_background``)."""
        masks = masks or [None] * len(images)
        if len(masks) != len(images):       # zip would drop the images without a mask: vectors for fewer pictures
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        feats = self.embedder.embed_images([on_grey_square(im) if m is not None else cut_background(im)
                                            for im, m in zip(images, masks)])
        if not self.colour_weight:
            return feats
        colours = np.stack([self.colour_vector(im, m) for im, m in zip(images, masks)]) if len(images) else \
            np.zeros((0, len(self.colour_names)), np.float32)
        return unit_rows(np.concatenate([feats, self.colour_weight * colours], axis=1))


def on_grey_square(rgb: np.ndarray) -> np.ndarray:
    """A cut-out region centred on a grey square (its own ground's grey): what the embedder would otherwise pad by
    repeating the edge pixels (engine.catalog.embed.square), smearing a garment that touches the box's edge."""
    import cv2
    h, w = rgb.shape[:2]
    if h == w or h < 2 or w < 2:
        return rgb
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return cv2.copyMakeBorder(np.ascontiguousarray(rgb), top, side - h - top, left, side - w - left,
                              cv2.BORDER_CONSTANT, value=(GREY, GREY, GREY))
