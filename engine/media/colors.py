"""Dominant colours read from the pixels, named in English and Portuguese.

Small VLMs name colours badly; the pixels do not lie. The garment's pixels (the region, minus what looks like
the background around it, or a segmentation mask) are clustered in CIELAB, each cluster is named after the
nearest reference shade of ``assets/colors.tsv``, and clusters with the same name are merged with their shares.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.paths import ASSETS

COLOR_TABLE = ASSETS / "colors.tsv"
MAX_PIXELS = 6000          # enough for stable shares; k-means cost grows with it
MIN_SHARE = 0.08           # smaller clusters are edges, shadows and print details, not "the colour"
BORDER = 0.06              # the ring of the region sampled as background
GROUND_MIN_DELTA_E = 3.0   # a plain photo ground's pixels are within this of its colour (more with its noise)
BACKGROUND_DELTA_E = 14.0  # a cluster this close to the ring's colour is background, not garment

_COLOUR_WORDS = re.compile(r"\b(cor|cores|colou?rs?|tom|tons|shade)\b", re.IGNORECASE)


@dataclass(frozen=True)
class NamedColor:
    en: str          # the key the rest of Vitrine uses: "red"
    pt: str          # masculine / invariable Portuguese: "vermelho"
    pt_f: str        # feminine: "vermelha"
    hex: str         # the cluster's own mean colour, for a swatch
    share: float     # of the garment's pixels, 0..1

    def to_dict(self) -> dict:
        return asdict(self)

    def label(self, lang: str = "en") -> str:
        return f"{self.pt if lang == 'pt' else self.en} {round(self.share * 100)}%"


@dataclass(frozen=True)
class ColorTable:
    names: list[tuple[str, str, str]]     # (en, pt, pt_f) per reference shade
    lab: np.ndarray                       # (n, 3) CIELAB of each reference shade

    @classmethod
    def load(cls, path: Path = COLOR_TABLE) -> "ColorTable":
        names, rgb = [], []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise VitrineError(f"cannot read the colour table {path}: {e.strerror or e}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4 or not re.fullmatch(r"#[0-9a-fA-F]{6}", parts[3].strip()):
                raise VitrineError(f"{path.name} line {n}: expected en<TAB>pt<TAB>pt_f<TAB>#rrggbb")
            h = parts[3].strip()
            names.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
            rgb.append([int(h[i:i + 2], 16) for i in (1, 3, 5)])
        if not names:
            raise VitrineError(f"{path.name} has no colours")
        return cls(names, rgb_to_lab(np.array(rgb, np.uint8)))

    def nearest(self, lab: np.ndarray) -> np.ndarray:
        """Index of the nearest reference shade for each row of ``lab``."""
        d = ((lab[:, None, :] - self.lab[None, :, :]) ** 2).sum(-1)
        return d.argmin(1)


@lru_cache(maxsize=4)
def default_table(path: Path = COLOR_TABLE) -> ColorTable:
    return ColorTable.load(path)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 CIELAB (L 0..100, a/b about -128..127), D65."""
    import cv2
    flat = np.ascontiguousarray(rgb.reshape(-1, 1, 3), dtype=np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def asks_about_color(question: str) -> bool:
    """Does the question ask for a colour ("Qual é a cor da calça?", "What colour is the shirt?")?"""
    return bool(_COLOUR_WORDS.search(question or ""))


def _sample(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if len(pixels) > MAX_PIXELS:
        pixels = pixels[rng.choice(len(pixels), MAX_PIXELS, replace=False)]
    return pixels


def _ring(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    return np.concatenate([rgb[:bh].reshape(-1, 3), rgb[-bh:].reshape(-1, 3),
                           rgb[:, :bw].reshape(-1, 3), rgb[:, -bw:].reshape(-1, 3)])


def colour_shares(colors: list[NamedColor]) -> dict[str, float]:
    """Measured colours as name -> share, summing to 1 (two clusters of one name add up)."""
    total = sum(c.share for c in colors) or 1.0
    out: dict[str, float] = {}
    for c in colors:
        out[c.en] = out.get(c.en, 0.0) + c.share / total
    return out


def colour_overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """How much of two colour distributions (name -> share, each summing to 1) is the same: 0..1."""
    return float(sum(min(share, b.get(name, 0.0)) for name, share in a.items()))


def cut_background(rgb: np.ndarray, side: int = 256) -> np.ndarray:
    """A product photo with its background grey (128), as a region's cut-out shows the embedder a garment
    (engine.look.regions.GarmentRegion.cut_out): the background is what has the colour of the border ring and
    touches the border (a white stripe inside a garment on a white ground stays). A photo whose ring is not mostly
    one colour (a scene, a model in the street) is returned as it is. The catalog's photos come on any plain ground
    (white, grey, a random tint) and the frame's regions on grey: embedded as they were, the ground weighed as much as
    the garment's own sleeves and pattern."""
    import cv2
    if rgb.ndim != 3 or rgb.shape[0] < 4 or rgb.shape[1] < 4:
        return rgb
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))           # the mask at most ``side`` pixels: the embedder sees 224
    small = cv2.resize(rgb, (max(4, round(w * scale)), max(4, round(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1 else rgb
    ring = rgb_to_lab(_ring(small))
    ground = np.median(ring, 0)
    off = np.sqrt(((ring - ground) ** 2).sum(-1))
    if (off < BACKGROUND_DELTA_E).mean() < 0.5:
        return rgb
    # as close to the ground as the ground's own pixels are to it (its noise, its shadow), no further: a white tee
    # on a white ground is ~4 from it, an off-white one ~7, and both are the garment
    tol = float(np.clip(3.0 * np.percentile(off[off < BACKGROUND_DELTA_E], 90), GROUND_MIN_DELTA_E, BACKGROUND_DELTA_E))
    lab = rgb_to_lab(small).reshape(small.shape[:2] + (3,))
    like = (np.sqrt(((lab - ground) ** 2).sum(-1)) < tol).astype(np.uint8)
    _, labels = cv2.connectedComponents(like, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    ground_mask = np.isin(labels, edge[edge > 0]) & (like > 0)
    if not 0.02 <= ground_mask.mean() <= 0.98:   # nothing stands out, or no ground: leave it
        return rgb
    if scale < 1:
        ground_mask = cv2.resize(ground_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    out = rgb.copy()
    out[ground_mask] = 128
    return out


def dominant_colors(rgb: np.ndarray, mask: np.ndarray | None = None, k: int = 5, max_colors: int = 3,
                    table: ColorTable | None = None, seed: int = 0) -> list[NamedColor]:
    """The garment's main colours, largest share first.

    ``rgb``: the region (H, W, 3 uint8). ``mask``: the garment's pixels (H, W; bool or 0..1), e.g. from the person
    segmenter; without one, clusters that match the region's border ring are taken as background and left out
    (a box drawn around a garment always holds some background).
    """
    import cv2
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise VitrineError("the region is too small to read its colours: draw a larger box")
    table = table or default_table()
    rng = np.random.default_rng(seed)
    if mask is not None:
        keep = np.asarray(mask) > 0.5
        pixels = rgb[keep] if keep.sum() >= 16 else rgb.reshape(-1, 3)
        ring_lab = None
    else:
        pixels = rgb.reshape(-1, 3)
        ring_lab = rgb_to_lab(_sample(_ring(rgb), rng))
    lab = rgb_to_lab(_sample(pixels, rng))
    k = max(1, min(k, len(lab)))
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, labels, centers = cv2.kmeans(lab, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    if ring_lab is not None:
        # the background: the ring's most common cluster, when the ring is mostly one colour
        ring_labels = ((ring_lab[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        ring_counts = np.bincount(ring_labels, minlength=k)
        bg = int(ring_counts.argmax())
        if ring_counts[bg] > 0.5 * len(ring_labels) and counts[bg] < counts.sum() * 0.9:
            bg_lab = centers[bg]
            close = np.sqrt(((centers - bg_lab) ** 2).sum(-1)) < BACKGROUND_DELTA_E
            counts[close] = 0
    if counts.sum() == 0:
        counts = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    shares = counts / counts.sum()
    nearest = table.nearest(centers.astype(np.float32))
    merged: dict[str, list] = {}
    for c in np.argsort(-shares):
        if shares[c] < MIN_SHARE and merged:
            continue
        if shares[c] == 0:
            continue
        en, pt, pt_f = table.names[nearest[c]]
        entry = merged.setdefault(en, [pt, pt_f, 0.0, np.zeros(3)])
        entry[3] = entry[3] + centers[c] * shares[c]
        entry[2] += shares[c]
    total = sum(e[2] for e in merged.values())
    out = []
    for en, (pt, pt_f, share, lab_sum) in merged.items():
        mean_lab = (lab_sum / share).astype(np.float32).reshape(1, 1, 3)
        mean_rgb = (np.clip(cv2.cvtColor(mean_lab, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(int).ravel()
        out.append(NamedColor(en, pt, pt_f, "#%02x%02x%02x" % tuple(mean_rgb), share / total))
    out.sort(key=lambda c: -c.share)
    return out[:max_colors]
