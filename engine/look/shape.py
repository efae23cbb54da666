"""What a region's shape says about its garment, before any catalog or model: trousers reach the ankles, a skirt
(or shorts) stops above them and leaves the legs bare below.

The lower body's box runs from the hips to the ankles (engine.look.regions); the rows of its bottom quarter that
still hold the garment's main colour tell how far down it reaches. The look (engine.look.look) gives the catalog's
products of the likely garments a higher score than the region's other garments.
"""
from __future__ import annotations

import numpy as np

from engine.media.colors import NamedColor, rgb_to_lab

NEAR_DELTA_E = 25.0      # a pixel this close (CIELAB) to the main colour's mean is the garment's
ROW_SHARE = 0.15         # a row holds the garment when this much of it is the garment's colour
BOTTOM = 0.25            # the part of the hips-to-ankles box that only long garments reach
LONG_REACH = 0.35        # trousers: this share of the bottom rows or more holds the garment (dev: skirts 0-0.2,
                         # trousers 0.5-1)
LONG = ("trousers", "jeans")
SHORT = ("skirt", "shorts")


def _hex_lab(hex_colour: str) -> np.ndarray:
    rgb = np.array([[int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]], np.uint8)
    return rgb_to_lab(rgb)[0]


def reach(crop: np.ndarray, colour: NamedColor) -> float:
    """The share of the region's bottom rows that hold the garment's main colour (0: it stops above them)."""
    h = crop.shape[0]
    bottom = crop[int((1 - BOTTOM) * h):]
    if bottom.size == 0:
        return 0.0
    lab = rgb_to_lab(bottom).reshape(bottom.shape[:2] + (3,))
    near = ((lab - _hex_lab(colour.hex)) ** 2).sum(-1) < NEAR_DELTA_E ** 2
    return float((near.mean(axis=1) >= ROW_SHARE).mean())


def likely_kinds(region: str, crop: np.ndarray, colors: list[NamedColor]) -> tuple[str, ...] | None:
    """The garments the region's shape points to (None: it says nothing). Only the lower body for now: long
    (trousers, jeans) or short (skirt, shorts)."""
    if region != "lower" or not colors or crop.shape[0] < 8:
        return None
    return LONG if reach(crop, colors[0]) >= LONG_REACH else SHORT


PLAIN_SHARE = 0.85       # the main colour covers this much of the garment: plain (dev: plain median 0.89)
PATTERNED_SHARE = 0.72   # ... this little or less: a pattern in a second colour (dev: striped 0.58, dotted 0.69)
PATTERNED_REGIONS = ("upper", "lower", "full")    # shoes and bags show too few pixels to tell


def pattern_hint(region: str, colors: list[NamedColor]) -> str | None:
    """"plain" when one colour covers nearly all of the garment, "patterned" when a second colour takes a fair
    share of it (stripes, dots, prints), None in between or where the region is too small to tell."""
    if region not in PATTERNED_REGIONS or not colors:
        return None
    top = colors[0].share
    return "plain" if top >= PLAIN_SHARE else "patterned" if top <= PATTERNED_SHARE else None
