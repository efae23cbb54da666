"""A synthetic fashion catalog drawn in code: one garment per image on a random background, with its garment,
colour, pattern and (for tops and dresses) sleeve length known exactly. The only labelled fashion images that
exist on every machine: tests and the fine-tuning proof use them.
"""
from __future__ import annotations

import random

from PIL import Image, ImageDraw

from export.datasets.questions import Item, Product

GARMENTS = ("shirt", "t-shirt", "dress", "trousers", "skirt", "bag", "shoes")
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "pink", "orange")
PATTERNS = ("plain", "striped", "dotted")
SLEEVES = {"shirt": ("long", "short"), "t-shirt": ("short", "sleeveless"), "dress": ("sleeveless", "short", "long")}
RGB = {"red": (210, 30, 30), "blue": (30, 60, 210), "green": (30, 160, 50), "yellow": (240, 220, 40),
       "black": (20, 20, 20), "white": (245, 245, 245), "pink": (245, 140, 190), "orange": (250, 140, 20)}

# outlines in unit coordinates (-1..1, y down), scaled to the image; tops get sleeves drawn separately
_TORSO = [(-.38, -.75), (-.12, -.75), (0, -.62), (.12, -.75), (.38, -.75), (.4, .8), (-.4, .8)]
_SHAPES = {
    "dress": [(-.22, -.8), (-.1, -.8), (0, -.68), (.1, -.8), (.22, -.8), (.26, -.25), (.72, .85), (-.72, .85),
              (-.26, -.25)],
    "trousers": [(-.4, -.85), (.4, -.85), (.5, .85), (.12, .85), (0, -.2), (-.12, .85), (-.5, .85)],
    "skirt": [(-.32, -.45), (.32, -.45), (.78, .5), (-.78, .5)],
    "bag": [(-.6, -.15), (.6, -.15), (.66, .72), (-.66, .72)],
}
_SLEEVE = {  # right-hand sleeve (mirrored for the left), from the shoulder
    "short": [(.36, -.75), (.78, -.45), (.62, -.22), (.38, -.42)],
    "long": [(.36, -.75), (.62, -.55), (.86, .45), (.66, .52), (.4, -.3)],
}


def _background(colour: str, r: random.Random) -> tuple[int, int, int]:
    while True:        # far enough from the garment's colour that its outline is visible
        bg = tuple(r.randint(60, 200) for _ in range(3))
        if sum(abs(a - b) for a, b in zip(bg, RGB[colour])) > 150:
            return bg


def _jitter(c, r: random.Random, amount: int = 18):
    return tuple(max(0, min(255, v + r.randint(-amount, amount))) for v in c)


def draw(garment: str, colour: str, pattern: str, sleeve: str, r: random.Random, size: int = 128,
         background: str = "") -> Image.Image:
    """One garment; ``background``: a named colour for the background (default: a random one)."""
    s = size * r.uniform(.32, .4)
    cx, cy = size / 2 + r.uniform(-.06, .06) * size, size / 2 + r.uniform(-.05, .05) * size

    def pts(shape, mirror=False):
        return [(cx + (-x if mirror else x) * s, cy + y * s) for x, y in shape]

    mask = Image.new("L", (size, size), 0)
    md = ImageDraw.Draw(mask)
    if garment in ("shirt", "t-shirt"):
        md.polygon(pts(_TORSO), fill=255)
    elif garment == "shoes":
        for dx in (-.45, .45):      # a pair, seen from the side
            md.polygon([(cx + (dx - .35) * s, cy + .1 * s), (cx + (dx - .1) * s, cy - .2 * s),
                        (cx + (dx + .05) * s, cy + .05 * s), (cx + (dx + .4) * s, cy + .2 * s),
                        (cx + (dx + .4) * s, cy + .38 * s), (cx + (dx - .35) * s, cy + .38 * s)], fill=255)
    else:
        md.polygon(pts(_SHAPES[garment]), fill=255)
    if garment == "bag":            # a handle
        w = s * .35
        md.arc([cx - w, cy - s * .6, cx + w, cy], 180, 360, fill=255, width=max(2, size // 28))
    if sleeve in _SLEEVE:
        shape = _SLEEVE[sleeve]
        if garment == "dress":      # a dress's shoulders are narrower
            shape = [(x - .14, y - .05) for x, y in shape]
        md.polygon(pts(shape), fill=255)
        md.polygon(pts(shape, mirror=True), fill=255)

    base = _jitter(RGB[colour], r)
    other = (20, 20, 20) if sum(RGB[colour]) / 3 > 140 else (240, 240, 240)
    layer = Image.new("RGB", (size, size), base)
    ld = ImageDraw.Draw(layer)
    if pattern == "striped":
        period = max(6, round(size * r.uniform(.075, .095)))
        width = max(2, period // 3)
        off = r.randint(0, period)
        horizontal = r.random() < .5
        for k in range(-period, size + period, period):
            box = [0, k + off, size, k + off + width] if horizontal else [k + off, 0, k + off + width, size]
            ld.rectangle(box, fill=other)
    elif pattern == "dotted":
        gap = max(7, round(size * r.uniform(.08, .1)))
        rad = max(1.5, gap * .22)
        ox, oy = r.randint(0, gap), r.randint(0, gap)
        for x in range(-gap, size + gap, gap):
            for y in range(-gap, size + gap, gap):
                ld.ellipse([x + ox - rad, y + oy - rad, x + ox + rad, y + oy + rad], fill=other)
    img = Image.new("RGB", (size, size), _jitter(RGB[background], r) if background else _background(colour, r))
    img.paste(layer, (0, 0), mask)
    d = ImageDraw.Draw(img)
    if garment == "shirt":          # a collar and a button placket tell a shirt from a t-shirt
        d.polygon(pts([(-.14, -.77), (0, -.6), (-.02, -.5), (-.2, -.66)]), fill=other)
        d.polygon(pts([(.14, -.77), (0, -.6), (.02, -.5), (.2, -.66)]), fill=other)
        d.line(pts([(0, -.55), (0, .78)]), fill=other, width=max(1, size // 64))
    return img


def products(n: int, seed: int = 0, size: int = 128):
    """``n`` drawn products: (Product, image) pairs, the same for the same seed."""
    r = random.Random(seed)
    for i in range(n):
        garment, colour, pattern = r.choice(GARMENTS), r.choice(COLOURS), r.choice(PATTERNS)
        sleeve = r.choice(SLEEVES[garment]) if garment in SLEEVES else ""
        attrs = {"colour": colour, "pattern": pattern}
        if sleeve:
            attrs["sleeve"] = sleeve
        pid = f"synth-{seed}-{i:06d}"
        yield Product(id=pid, image=f"images/{pid}.png", items=[Item(garment, attrs)]), \
            draw(garment, colour, pattern, sleeve, r, size)
