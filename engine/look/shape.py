"""What a region's shape says about its garment, before any catalog or model: trousers reach the ankles, a skirt
(or shorts) stops above them and leaves the legs bare below.

The lower body's box runs from the hips to the ankles (engine.look.regions); the rows of its bottom quarter that
still hold the garment's main colour tell how far down it reaches. The look (engine.look.look) gives the catalog's
products of the likely garments a higher score than the region's other garments.
"""
from __future__ import annotations

import numpy as np

from engine.look.regions import skin
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


def reach(crop: np.ndarray, colour: NamedColor, mask: np.ndarray | None = None) -> float:
    """The share of the region's bottom rows that hold the garment's main colour (0: it stops above them).
    ``mask`` (the garment's pixels in the box, as the regions cut it): only those count, so a wall or a table of
    the skirt's colour seen between bare legs is not a trouser leg."""
    h = crop.shape[0]
    top = int((1 - BOTTOM) * h)
    bottom = crop[top:]
    if bottom.size == 0:
        return 0.0
    lab = rgb_to_lab(bottom).reshape(bottom.shape[:2] + (3,))
    near = ((lab - _hex_lab(colour.hex)) ** 2).sum(-1) < NEAR_DELTA_E ** 2
    if mask is not None and mask.shape[:2] == crop.shape[:2]:
        near &= mask[top:]
    return float((near.mean(axis=1) >= ROW_SHARE).mean())


def likely_kinds(region: str, crop: np.ndarray, colors: list[NamedColor],
                 mask: np.ndarray | None = None) -> tuple[str, ...] | None:
    """The garments the region's shape points to (None: it says nothing). Only the lower body for now: long
    (trousers, jeans) or short (skirt, shorts)."""
    if region != "lower" or not colors or crop.shape[0] < 8:
        return None
    return LONG if reach(crop, colors[0], mask) >= LONG_REACH else SHORT


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


STRIPE_LENGTH = 0.3      # a piece of the second colour this long (a share of the region's shorter side) is a stripe
STRIPED_SHARE = 0.5      # this much of the second colour in long pieces: striped (dev: stripes ~0.9, dots ~0)
DOTTED_SHARE = 0.2       # this little: dotted (a shirt's placket, one long line, is under a fifth of its dots)
SECOND_SHARE = 0.12      # the second colour covers this much of the garment or more: it may be a pattern
MIN_STRIPES = 5          # stripes are many long pieces (a placket, the gaps beside the arms or legs: a few)
MIN_DOTS = 6             # dots are many small pieces


def pattern_kind(region: str, crop: np.ndarray, mask: np.ndarray | None, colors: list[NamedColor]) -> str | None:
    """"striped" or "dotted" from the shape of the garment's second colour: stripes run across the garment in
    several long pieces, dots are many small ones. None when the second colour is too small a share, or it is neither."""
    import cv2
    if region not in PATTERNED_REGIONS or len(colors) < 2 or colors[1].share < SECOND_SHARE or crop.shape[0] < 16 \
            or crop.shape[1] < 16:
        return None
    step = max(1, int(np.sqrt(crop.shape[0] * crop.shape[1] / 40000)))     # ~40k pixels are enough
    small = crop[::step, ::step]
    lab = rgb_to_lab(small).reshape(small.shape[:2] + (3,))
    second = ((lab - _hex_lab(colors[1].hex)) ** 2).sum(-1) < NEAR_DELTA_E ** 2
    if mask is not None:
        second &= np.asarray(mask, bool)[::step, ::step][:second.shape[0], :second.shape[1]]
    total = int(second.sum())
    if total < 32:
        return None
    n, _, stats, _ = cv2.connectedComponentsWithStats(second.astype(np.uint8), connectivity=8)
    side = STRIPE_LENGTH * min(second.shape)
    long = [i for i in range(1, n) if max(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) >= side]
    share = sum(int(stats[i, cv2.CC_STAT_AREA]) for i in long) / total
    if share >= STRIPED_SHARE and len(long) >= MIN_STRIPES:
        return "striped"
    on = np.ones(second.shape, bool) if mask is None else \
        np.asarray(mask, bool)[::step, ::step][:second.shape[0], :second.shape[1]]
    if _bands(second, on) >= MIN_STRIPES:
        return "striped"
    return "dotted" if share <= DOTTED_SHARE and n - 1 - len(long) >= MIN_DOTS else None


BAND_SHARE = 0.6         # a row (or column) where the second colour covers this much of the garment is in a stripe
BAND_RUN = 0.35          # ... in one piece at least this long (a share of the garment's width): a stripe split by a
                         # placket of the first colour keeps ~0.45 each side; a row through dense dots (diameter 12 px,
                         # spacing 18) covers 0.6 of it in pieces of ~0.1, and is not a stripe


def _longest_runs(a: np.ndarray) -> np.ndarray:
    """The longest run of True in each row of a 2-D bool array."""
    padded = np.zeros((a.shape[0], a.shape[1] + 2), np.int8)
    padded[:, 1:-1] = a
    edges = np.diff(padded, axis=1)
    out = np.zeros(a.shape[0], np.int64)
    for r in np.nonzero(a.any(axis=1))[0]:
        starts, ends = np.nonzero(edges[r] == 1)[0], np.nonzero(edges[r] == -1)[0]
        out[r] = int((ends - starts).max())
    return out


def _bands(second: np.ndarray, on: np.ndarray) -> int:
    """How many stripes cross the garment, counted as runs of rows (or of columns, whichever gives more) where the
    second colour covers most of the garment's width, much of it in one piece: stripes joined into one piece by a
    placket or a seam of their colour (a shirt's front) are still counted one by one; dots never make a long piece."""
    best = 0
    for axis in (1, 0):                      # rows (horizontal stripes), then columns
        width = on.sum(axis=axis)
        share = second.sum(axis=axis) / np.maximum(width, 1)
        runs = _longest_runs(second if axis == 1 else second.T) / np.maximum(width, 1)
        high = (share >= BAND_SHARE) & (runs >= BAND_RUN) & (width >= 0.3 * max(1, int(width.max())))
        best = max(best, int(np.count_nonzero(high[1:] & ~high[:-1]) + int(high[0]) if high.size else 0))
    return best


# Sleeves: how far the garment reaches down the arms. Short sleeves: the garment's colours just below the shoulder
# and bare skin around the elbow. Long sleeves give no hint: an arm hanging beside the body crosses the torso in the
# picture, so garment pixels near the elbow do not prove a sleeve. Nor does bare skin below the shoulder prove a
# sleeveless top: a landmark a little off the arm lands on the background (a wooden table, a cat reads as skin).
# The spots are measured along the straight line from the shoulder to the wrist of an arm hanging down: the pose
# model often puts the elbow where a short sleeve ends, the shoulder and the wrist much less so.
SHOULDER_SPOTS = (0.08, 0.13, 0.18)   # a share of the shoulder -> wrist line: any sleeve covers the arm here
MIDDLE_SPOTS = (0.5, 0.58, 0.66)      # around the elbow and just below it: a short sleeve has ended here
BARE = 0.5                            # this share of a spot's pixels is skin: the arm is bare there
COVERED = 0.5                         # this share is the garment's colours: a sleeve covers it
SPOT = 0.035                          # a spot's radius, as a share of the arm's length (~ a third of its width)
SLEEVE_COLOUR_SHARE = 0.2             # the garment's colours: those covering this much of it (a stripe's too)


def _spots(rgb: np.ndarray, points, r: int, garment: list[np.ndarray]) -> tuple[float, float] | None:
    """(skin share, garment-colour share) over the spots of radius ``r`` at ``points`` inside ``rgb``."""
    h, w = rgb.shape[:2]
    bare = covered = 0.0
    n = 0
    for x, y in points:
        x0, y0, x1, y1 = int(x) - r, int(y) - r, int(x) + r + 1, int(y) + r + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            continue
        patch = rgb[y0:y1, x0:x1]
        bare += float(skin(patch).mean())
        lab = rgb_to_lab(patch).reshape(patch.shape[:2] + (3,))
        near = np.zeros(patch.shape[:2], bool)
        for g in garment:
            near |= ((lab - g) ** 2).sum(-1) < NEAR_DELTA_E ** 2
        covered += float(near.mean())
        n += 1
    return (bare / n, covered / n) if n else None


def sleeve_hint(rgb: np.ndarray, arms: list, colors: list[NamedColor]) -> str | None:
    """"short" or None (no hint) for a top, from the pixels along each arm the pose sees (``arms``: (shoulder,
    elbow, wrist) points in ``rgb``, the whole frame): the garment's colours just below the shoulder and bare skin
    around the elbow, on an arm hanging down, are short sleeves."""
    garment = [_hex_lab(c.hex) for c in colors if c.share >= SLEEVE_COLOUR_SHARE]
    if not garment:
        return None
    for (sx, sy), _, (wx, wy) in arms or []:
        if wy - sy < max(16.0, 2 * abs(wx - sx)):            # not hanging down (raised, folded, misplaced)
            continue
        r = max(2, int(SPOT * float(np.hypot(wx - sx, wy - sy))))

        def along(fs):
            return [(sx + f * (wx - sx), sy + f * (wy - sy)) for f in fs]
        top = _spots(rgb, along(SHOULDER_SPOTS), r, garment)
        middle = _spots(rgb, along(MIDDLE_SPOTS), r, garment)
        if top is not None and middle is not None and top[1] >= COVERED and middle[0] >= BARE:
            return "short"
    return None
