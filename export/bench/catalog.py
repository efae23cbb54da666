"""`vitrine catalog bench`: the catalog's figures on a generated catalog, in one run.

- recall@1 of each product for augmented copies of its own picture (crop, scale, colour jitter, JPEG), on
  synthetic garments (one per garment/colour/pattern/sleeve: two identical-looking products would be one) plus
  scikit-image's sample photos;
- indexing speed with the bundled embedder (images/s, vectors, thumbnails, text vectors and commits included);
- search p50 at 100k products (synthetic unit vectors of the signature's size, the usearch index the catalog uses);
- dominant colour named right on plain synthetic garments, in English and Portuguese.
"""
from __future__ import annotations

import csv
import json
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from engine.catalog.product_images import load_rgb
from engine.catalog.vector_index import VectorIndex
from engine.errors import VitrineError
from engine.language.vocabulary import COLOURS
from engine.media.colors import dominant_colors
from engine.settings import Settings

log = logging.getLogger(__name__)
# This module registers a command into every `vitrine` call's parser: the catalog, the look, the runtime and the
# generators (OpenCV, mediapipe, llama.cpp behind them) are imported where the benchmark runs.

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "coins", "hubble_deep_field", "immunohistochemistry",
          "retina", "colorwheel", "logo", "motorcycle_left")


def augment(rgb: np.ndarray, r: random.Random) -> np.ndarray:
    """A copy a clerk's camera might see: cropped to 80-95% per side, rescaled 0.6-1.4x, hue +-8 degrees,
    saturation and brightness +-15%, JPEG quality 60-90."""
    import cv2
    h, w = rgb.shape[:2]
    ch, cw = int(h * r.uniform(.8, .95)), int(w * r.uniform(.8, .95))
    y, x = r.randint(0, h - ch), r.randint(0, w - cw)
    im = rgb[y:y + ch, x:x + cw]
    s = r.uniform(.6, 1.4)
    im = cv2.resize(im, (max(8, int(im.shape[1] * s)), max(8, int(im.shape[0] * s))))
    hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + r.uniform(-4, 4)) % 180
    hsv[..., 1] *= r.uniform(.85, 1.15)
    hsv[..., 2] *= r.uniform(.85, 1.15)
    im = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    _, buf = cv2.imencode(".jpg", im[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, r.randint(60, 90)])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def sample_photos() -> list[tuple[str, np.ndarray]]:
    """scikit-image's colour sample photos (they ship in its wheel); none when it is not installed."""
    try:
        import skimage.data as data
    except ImportError:
        return []
    out = []
    for name in PHOTOS:
        try:
            im = getattr(data, name)()
        except Exception:           # a sample that would need a download, or a missing one in this version
            continue
        if im.ndim == 3 and im.shape[2] in (3, 4):
            out.append((name, np.ascontiguousarray(im[:, :, :3])))
    return out


def write_catalog(folder: Path, n_synthetic: int = 3000, size: int = 192, seed: int = 3,
                  photos: bool = True) -> Path:
    """A catalog CSV with images: unique synthetic garments (from the first ``n_synthetic`` drawn) + photos."""
    from PIL import Image

    from export.datasets import synth  # lazy: CLI startup, +0.25 s (PIL)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows, seen = [], set()
    for product, image in synth.products(n_synthetic, seed=seed, size=size):
        item = product.items[0]
        key = (item.garment, tuple(sorted(item.attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        image.save(folder / product.image)
        a = item.attributes
        title = " ".join(x for x in (a["colour"].capitalize(), a["pattern"], item.garment,
                                     f"{a['sleeve']} sleeves" if a.get("sleeve") else "") if x)
        rows.append({"id": product.id, "image": product.image, "title": title, "garment": item.garment,
                     "colour": a["colour"], "pattern": a["pattern"]})
    for name, rgb in (sample_photos() if photos else []):
        rel = f"images/photo-{name}.png"
        Image.fromarray(rgb).save(folder / rel)
        rows.append({"id": f"photo-{name}", "image": rel, "title": name.replace("_", " "), "garment": "",
                     "colour": "", "pattern": ""})
    path = folder / "products.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def recall_at_1(catalog, products, copies: int = 2, seed: int = 5) -> float:
    r = random.Random(seed)
    hits = total = 0
    for p in products:
        rgb = load_rgb(p.image)
        for _ in range(copies):
            found = catalog.search_image(augment(rgb, r), k=1)
            hits += bool(found) and found[0].product.id == p.id
            total += 1
    return hits / max(total, 1)


def colour_accuracy(n: int = 400, seed: int = 1) -> dict:
    from export.datasets import synth  # lazy: CLI startup, +0.25 s (PIL)
    r = random.Random(seed)
    en = pt = 0
    for _ in range(n):
        garment, colour = r.choice(synth.GARMENTS), r.choice(synth.COLOURS)
        sleeve = r.choice(synth.SLEEVES[garment]) if garment in synth.SLEEVES else ""
        found = dominant_colors(np.asarray(synth.draw(garment, colour, "plain", sleeve, r, size=128)))
        top = found[0] if found else None
        en += bool(top) and top.en == colour
        pt += bool(top) and top.pt == COLOURS[colour].m
    return {"colour_en": en / n, "colour_pt": pt / n, "colour_garments": n}


def search_p50(n: int, dim: int, queries: int = 50, seed: int = 0,
               progress: Callable[[int], None] | None = None) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()

    def batches():
        for start in range(0, n, 10_000):
            x = rng.standard_normal((min(10_000, n - start), dim)).astype(np.float32)
            yield np.arange(start, start + len(x)), x / np.linalg.norm(x, axis=1, keepdims=True)
    idx = VectorIndex.build(dim, batches(), progress)
    build_s = time.perf_counter() - t0
    times = []
    for _ in range(queries):
        q = rng.standard_normal(dim).astype(np.float32)
        t = time.perf_counter()
        idx.search(q / np.linalg.norm(q), 10)
        times.append(time.perf_counter() - t)
    return {"search_products": n, "search_p50_ms": float(np.median(times) * 1000), "index_build_s": build_s}


def run(vectors: int = 100_000, work: Path | None = None, on_stage: Callable[[str], None] | None = None, *,
        settings: Settings) -> dict:
    from engine.catalog.products_csv import read_products_csv  # lazy: CLI startup, +0.02 s
    from engine.catalog.sqlite_catalog import SqliteCatalog  # lazy: CLI startup, +0.08 s
    say = on_stage or (lambda s: None)
    with tempfile.TemporaryDirectory(prefix="vitrine-catalog-bench-") as tmp:
        root = Path(work) if work else Path(tmp)
        say("drawing the catalog")
        read = read_products_csv(write_catalog(root / "catalog"))
        store = root / "store"
        cat = SqliteCatalog(store, settings=settings)
        try:
            cat.signature, cat.text_embedder      # loaded before the clock starts
            say(f"indexing {len(read.products)} products")
            t = time.perf_counter()
            report = cat.add(read.products)
            index_s = time.perf_counter() - t
            say("searching with augmented copies")
            recall = recall_at_1(cat, read.products)
            dim = cat.signature.info.dim
            embedder = cat.signature.info.id
        finally:
            cat.close()
    say("colours")
    colours = colour_accuracy()
    say(f"search at {vectors} products")
    search = search_p50(vectors, dim)
    return {"embedder": embedder, "products": len(read.products), "recall_at_1": recall,
            "index_images_per_s": report.indexed / index_s, **colours, **search}


def format_result(r: dict) -> str:
    return "\n".join([
        f"embedder           {r['embedder']}",
        f"recall@1           {r['recall_at_1']:.3f}  ({r['products']} products, 2 augmented copies each)",
        f"indexing           {r['index_images_per_s']:.1f} images/s",
        f"search p50         {r['search_p50_ms']:.2f} ms at {r['search_products']} products "
        f"(index built in {r['index_build_s']:.0f} s)",
        f"colour named       en {r['colour_en']:.3f}  pt {r['colour_pt']:.3f}  ({r['colour_garments']} garments)",
    ])


def cmd_catalog_bench(args) -> int:
    import sys

    if args.vectors < 1000 or args.vectors > 2_000_000:
        raise VitrineError("--vectors must be between 1000 and 2000000")
    result = run(args.vectors, on_stage=lambda s: print(f"... {s}", file=sys.stderr, flush=True),
                 settings=args.settings)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


def register(catalog_actions) -> None:
    b = catalog_actions.add_parser("bench", help="recall, indexing speed, search speed and colour naming figures")
    b.add_argument("--vectors", type=int, default=100_000, help="products for the search timing (default 100000)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_catalog_bench)
