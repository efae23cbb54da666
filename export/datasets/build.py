"""Question sets from catalogs (`vitrine dataset build`) and from drawn garments (`vitrine dataset synth`).

One path for both: products -> values normalised to the vocabulary (catalog spellings merged into their canonical
value) -> rare values dropped -> English and Portuguese questions -> answers balanced -> split by product (no
product in two splits) -> train/val/test JSONL + set.json + summary, written whole into a staging folder and
renamed into place.
"""
from __future__ import annotations

import json
import logging
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from engine.errors import VitrineError
from engine.evaluation.qa_set import SET_FILE, QARow, write_jsonl
from engine.files import OutputKind, OutputState, atomic_folder, check_output
from engine.files import resolve_inside
from engine.language import vocabulary as voc
from engine.language.vocabulary import normalise_value
from export.datasets.catalogs import CatalogRead, read_catalog
from export.datasets.questions import REGIONS, Product, questions
from export.datasets.synth import products as drawn

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MIN_COUNT = 20                     # --min-count for a catalog of MIN_COUNT_FULL products or more
MIN_COUNT_FULL = 500
MIN_PRODUCTS = 20                  # fewer cannot fill train, val and test with anything to learn or measure
Progress = Callable[[str, int, int | None], None]


@dataclass
class BuildOptions:
    # values seen fewer times are dropped (a colour on 3 images teaches nothing); None: scaled to the catalog
    min_count: int | None = None
    balance: float = 3.0           # no answer more than this many times the median answer of its attribute
    val: float = 0.1
    test: float = 0.1
    langs: tuple[str, ...] = ("en", "pt")
    seed: int = 0
    describe: bool = True


@dataclass
class Summary:
    layout: str
    products: int
    rows: dict[str, int]
    by_attribute: dict[str, dict[str, int]]                      # split -> attribute -> rows
    by_lang: dict[str, dict[str, int]]
    answers: dict[str, dict[str, int]]                           # attribute -> English answer -> rows (all splits)
    merged: dict[str, dict[str, int]] = field(default_factory=dict)   # attribute -> "raw -> canonical" -> items
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # attribute -> rare value -> items
    capped: dict[str, int] = field(default_factory=dict)              # attribute -> questions removed
    missing_images: int = 0
    unreadable_images: int = 0
    questions: dict[str, dict[str, int]] = field(default_factory=dict)  # attribute -> language -> rows (all splits)
    min_count: int = MIN_COUNT
    min_count_note: str = ""                                          # why min_count is not the one asked for

    def questions_line(self) -> str:
        """"colour en 24 pt 24; pattern en 24 pt 0": every attribute in every language, zeros said."""
        langs = sorted({lang for c in self.questions.values() for lang in c})
        return "; ".join(f"{a} " + " ".join(f"{lang} {c.get(lang, 0)}" for lang in langs)
                         for a, c in sorted(self.questions.items()))

    def to_markdown(self) -> str:
        lines = [f"# Question set ({self.layout})", "",
                 f"{self.products} products; rows: " + ", ".join(f"{s} {n}" for s, n in self.rows.items()), "",
                 f"Values on fewer than {self.min_count} products dropped"
                 + (f" ({self.min_count_note})" if self.min_count_note else "") + ".", ""]
        if self.questions:
            langs = sorted({lang for c in self.questions.values() for lang in c})
            lines += ["| attribute | " + " | ".join(langs) + " |", "|---" * (1 + len(langs)) + "|"]
            lines += [f"| {a} | " + " | ".join(str(c.get(lang, 0)) for lang in langs) + " |"
                      for a, c in sorted(self.questions.items())]
            lines.append("")
        if self.missing_images or self.unreadable_images:
            lines += [f"Skipped: {self.missing_images} rows without their image file, {self.unreadable_images} "
                      "unreadable images.", ""]
        lines += ["| split | " + " | ".join(sorted(self.by_attribute["train"])) + " |",
                  "|---" * (1 + len(self.by_attribute["train"])) + "|"]
        for s in SPLITS:
            lines.append(f"| {s} | " + " | ".join(str(self.by_attribute[s].get(a, 0))
                                                  for a in sorted(self.by_attribute["train"])) + " |")
        lines.append("")
        for attribute, counts in sorted(self.answers.items()):
            top = ", ".join(f"{a} {n}" for a, n in sorted(counts.items(), key=lambda t: -t[1]))
            lines.append(f"- **{attribute}**: {top}")
        for title, table in (("Merged into their canonical value", self.merged), ("Dropped as rare", self.dropped)):
            if any(table.values()):
                lines += ["", f"## {title}", ""]
                for attribute, counts in sorted(table.items()):
                    lines.append(f"- {attribute}: " + ", ".join(f"{k} ({n})" for k, n in sorted(counts.items())))
        if self.capped:
            lines += ["", "## Balanced (rows removed from over-represented answers)", ""]
            lines += [f"- {k}: {n}" for k, n in sorted(self.capped.items())]
        return "\n".join(lines) + "\n"


def _fold(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _portuguese_values() -> dict[str, dict[str, str]]:
    """attribute -> Portuguese form (every gender and number, accents folded) -> canonical value: the
    vocabulary read backwards, so "vermelha", "listradas", "calça" reach "red", "striped", "trousers"."""
    out: dict[str, dict[str, str]] = {a: {} for a in ("garment", "colour", "pattern", "sleeve", "neckline",
                                                      "fabric")}
    for value, noun in voc.GARMENTS.items():
        for form in (noun.pt, noun.pt + "s"):
            out["garment"].setdefault(_fold(form), value)
    for attribute, table in (("colour", voc.COLOURS), ("pattern", voc.PATTERNS)):
        for value, adj in table.items():
            for form in (adj.m, adj.f, adj.mpl, adj.fpl):
                out[attribute].setdefault(_fold(form), value)
    for attribute, table in (("sleeve", voc.SLEEVES), ("neckline", voc.NECKLINES), ("fabric", voc.FABRICS)):
        for value, pt in table.items():
            out[attribute].setdefault(_fold(pt), value)
    for pt, value in list(out["sleeve"].items()):       # "manga longa", "de manga curta"
        out["sleeve"].setdefault("manga " + pt, value)
        out["sleeve"].setdefault("de manga " + pt, value)
    return out


_PT_VALUES = _portuguese_values()
_CANONICAL = {"garment": voc.GARMENTS, "colour": voc.COLOURS, "pattern": voc.PATTERNS, "sleeve": voc.SLEEVES,
              "neckline": voc.NECKLINES, "fabric": voc.FABRICS}


def canonical_value(attribute: str, raw: str) -> str:
    """A catalog's value in English or Portuguese -> the vocabulary's canonical value (as spelled when unknown)."""
    v = normalise_value(attribute, raw)
    if not v or v in _CANONICAL.get(attribute, {v: None}):
        return v
    return _PT_VALUES.get(attribute, {}).get(_fold(v), v)


def scaled_min_count(products: int) -> int:
    """--min-count when it is not given: 20 for a catalog of 500 products or more, fewer for a smaller one (a
    30-product store keeps values seen on 2 products instead of losing every one)."""
    return max(2, min(MIN_COUNT, products * MIN_COUNT // MIN_COUNT_FULL))


def _normalise(products: list[Product], opts: BuildOptions) -> tuple[list[Product], dict, dict]:
    merged: dict[str, Counter] = defaultdict(Counter)
    for p in products:
        for item in p.items:
            if item.garment not in REGIONS:
                g = canonical_value("garment", item.garment)
                if g and g != item.garment.strip().lower():
                    merged["garment"][f"{item.garment.strip().lower()} -> {g}"] += 1
                item.garment = g
            for attribute, raw in list(item.attributes.items()):
                v = canonical_value(attribute, raw)
                if v and v != str(raw).strip().lower():
                    merged[attribute][f"{str(raw).strip().lower()} -> {v}"] += 1
                item.attributes[attribute] = v
    counts: dict[str, Counter] = defaultdict(Counter)
    for p in products:
        for item in p.items:
            if item.garment not in REGIONS:
                counts["garment"][item.garment] += 1
            for attribute, v in item.attributes.items():
                counts[attribute][v] += 1
    dropped: dict[str, dict[str, int]] = defaultdict(dict)
    for attribute, c in counts.items():
        for value, n in c.items():
            if value and n < opts.min_count:
                dropped[attribute][value] = n
    for p in products:
        for item in p.items:
            if item.garment in dropped["garment"]:
                item.garment = ""          # still asked about, as "the item"; no garment question
            item.attributes = {a: v for a, v in item.attributes.items() if v and v not in dropped[a]}
            if not item.garment:
                item.garment = "item"
    return products, {a: dict(c) for a, c in merged.items() if c}, {a: d for a, d in dropped.items() if d}


def _balance(rows: list[QARow], opts: BuildOptions, rng: random.Random) -> tuple[list[QARow], dict[str, int]]:
    """Caps each answer of an attribute at ``balance`` x the attribute's median, deciding on the English rows
    (their answers are the canonical values) and dropping the same questions in every language."""
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.attribute != "describe" and r.lang == "en":
            groups[r.attribute][r.answers[0]].append(_base_id(r))
    removed: set[str] = set()
    capped: dict[str, int] = {}
    for attribute, by_answer in groups.items():
        cap = max(opts.min_count, int(opts.balance * statistics.median(len(v) for v in by_answer.values())))
        for ids in by_answer.values():
            if len(ids) > cap:
                removed.update(rng.sample(ids, len(ids) - cap))
                capped[attribute] = capped.get(attribute, 0) + len(ids) - cap
    return [r for r in rows if _base_id(r) not in removed], capped


def _base_id(row: QARow) -> str:
    return row.id.rsplit(".", 1)[0]      # the same question in every language: product.item.attribute


def _split(rows: list[QARow], opts: BuildOptions, rng: random.Random) -> dict[str, list[QARow]]:
    products = sorted({r.product for r in rows})
    rng.shuffle(products)
    n = len(products)
    n_test, n_val = round(n * opts.test), round(n * opts.val)
    if n_test == 0 or n_val == 0 or n - n_test - n_val <= 0:
        raise VitrineError(f"only {n} products have questions: too few for a train/val/test split with --val "
                           f"{opts.val} --test {opts.test}; add products or lower --min-count")
    which = {p: "test" for p in products[:n_test]}
    which.update({p: "val" for p in products[n_test:n_test + n_val]})
    out: dict[str, list[QARow]] = {s: [] for s in SPLITS}
    for r in rows:
        out[which.get(r.product, "train")].append(r)
    return out


def _readable(root: Path, relpath: str) -> bool:
    """The image's header parses (cheap: nothing is decoded)."""
    from PIL import Image
    try:
        with Image.open(resolve_inside(root, relpath)):
            return True
    except Exception:      # any failure to parse = unreadable, counted, never fatal
        return False


def build_from_products(products: list[Product], out: Path, images: Path, layout: str, opts: BuildOptions,
                        missing: int = 0, write_images: Callable[[Path], None] | None = None,
                        progress: Progress | None = None) -> Summary:
    rng = random.Random(opts.seed)
    root = images if write_images is None else None
    unreadable = 0
    if root is not None:
        kept = []
        for i, p in enumerate(products):
            if _readable(root, p.image):
                kept.append(p)
            else:
                unreadable += 1
            if progress and (i % 200 == 0 or i == len(products) - 1):
                progress("check images", i + 1, len(products))
        products = kept
    if not products:
        raise VitrineError("no product with a readable image: check that the images folder sits next to the catalog")
    if write_images is None and len(products) < MIN_PRODUCTS:        # a catalog (synth checks its own --n)
        raise VitrineError(f"only {len(products)} products with a readable image: too few for a train/val/test "
                           f"split (at least {MIN_PRODUCTS}); add products to the catalog")
    note = ""
    if opts.min_count is None:
        opts = replace(opts, min_count=scaled_min_count(len(products)))
        if opts.min_count < MIN_COUNT:
            note = (f"scaled from {MIN_COUNT} for a catalog of {len(products)} products; give --min-count to "
                    "choose")
            log.info("a catalog of %d products: values on fewer than %d products are dropped (not %d; "
                        "--min-count chooses)", len(products), opts.min_count, MIN_COUNT)
    products, merged, dropped = _normalise(products, opts)
    rows: list[QARow] = []
    for p in products:
        rows += questions(p, rng, opts.langs, with_describe=opts.describe)
    # a garment the catalog does not name (or that was dropped as rare) is "the item": nothing to ask about it
    rows = [r for r in rows if not (r.attribute == "garment" and r.answers[0] == "item")]
    if not any(r.attribute != "describe" for r in rows):
        every = ", ".join(f"{a} ({len(d)} values)" for a, d in sorted(dropped.items()))
        raise VitrineError(f"no question left: every value was seen on fewer than {opts.min_count} products "
                           f"({every or 'no labelled values'}); lower --min-count or add products")
    rows, capped = _balance(rows, opts, rng)
    splits = _split(rows, opts, rng)
    answers: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r.lang == "en" and r.attribute != "describe":
            answers[r.attribute][r.answers[0]] += 1
    summary = Summary(
        layout=layout, products=len({r.product for r in rows}), rows={s: len(v) for s, v in splits.items()},
        by_attribute={s: dict(Counter(r.attribute for r in v)) for s, v in splits.items()},
        by_lang={s: dict(Counter(r.lang for r in v)) for s, v in splits.items()},
        answers={a: dict(c) for a, c in answers.items()}, merged=merged, dropped=dropped, capped=capped,
        missing_images=missing, unreadable_images=unreadable, questions=_per_language(rows, opts.langs),
        min_count=opts.min_count, min_count_note=note)
    out = Path(out)
    with atomic_folder(out, OutputKind.DATASET, inputs=() if write_images else (images,)) as staging:
        if write_images is not None:
            write_images(staging)
            image_root = "."
        else:
            image_root = str(images.resolve())
        for s, v in splits.items():
            write_jsonl(staging / f"{s}.jsonl", v)
        (staging / SET_FILE).write_text(json.dumps({"images": image_root, "layout": layout, "seed": opts.seed,
                                                    "langs": list(opts.langs)}, indent=2), encoding="utf-8")
        (staging / "summary.json").write_text(json.dumps(summary.__dict__, indent=2, ensure_ascii=False),
                                              encoding="utf-8")
        (staging / "summary.md").write_text(summary.to_markdown(), encoding="utf-8")
    return summary


def _per_language(rows: list[QARow], langs: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """attribute -> language -> rows, every language named (a 0 says an attribute got no Portuguese form)."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r.attribute, dict.fromkeys(langs, 0))[r.lang] += 1
    return out


def check_out(out: Path, force: bool, inputs: tuple[Path, ...] = ()) -> Path:
    """Before any work: ``out`` is new, empty, or (with ``force``) a question set this command wrote."""
    out = Path(out)
    if check_output(out, OutputKind.DATASET, inputs) is OutputState.OURS and not force:
        raise VitrineError(f"{out} already holds a question set: choose another --out, or add --force to replace it")
    return out


def build(source: Path, out: Path, opts: BuildOptions, force: bool = False, progress: Progress | None = None,
          **catalog) -> Summary:
    source = Path(source)
    out = check_out(out, force, inputs=(source if source.is_dir() else source.parent,))
    read: CatalogRead = read_catalog(Path(source), **catalog)
    if not read.products:
        raise VitrineError(f"{source}: no product with its image ({read.missing_images} rows name images that are "
                           "not there): put the images where the catalog expects them")
    base = Path(source) if Path(source).is_dir() else Path(source).parent
    return build_from_products(read.products, out, base, read.layout, opts, missing=read.missing_images,
                               progress=progress)


def synth(out: Path, n: int, opts: BuildOptions, size: int = 128, force: bool = False,
          progress: Progress | None = None) -> Summary:
    """``n`` drawn garments, each asked about in English and Portuguese."""
    if n < 10:
        raise VitrineError(f"--n {n} is too few images for a train/val/test split: use at least 10")
    if not 32 <= size <= 1024:
        raise VitrineError(f"--size {size}: draw images between 32 and 1024 pixels")
    out = check_out(out, force)
    made = list(_draw(drawn(n, opts.seed, size), n, progress))

    def write_images(staging: Path) -> None:
        (staging / "images").mkdir()
        for i, (p, img) in enumerate(made):
            img.save(staging / p.image)
            if progress and (i % 100 == 0 or i == n - 1):
                progress("write images", i + 1, n)
    opts = replace(opts, min_count=1)      # every drawn value is wanted, however rare in a small set
    return build_from_products([p for p, _ in made], out, out, "synthetic", opts, write_images=write_images,
                               progress=progress)


def _draw(items: Iterable, n: int, progress: Progress | None):
    for i, pair in enumerate(items):
        if progress and (i % 100 == 0 or i == n - 1):
            progress("draw", i + 1, n)
        yield pair
