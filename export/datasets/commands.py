"""`vitrine dataset build|synth`: question sets for evaluation and fine-tuning (registered by export.commands)."""
from __future__ import annotations

from pathlib import Path

from engine.cli.progress import TqdmProgress
from engine.errors import VitrineError

# Every `vitrine` call builds every command group's parser: the generator (0.5 s of numpy, OpenCV and the
# vocabulary) loads when its command runs.


def _options(args):
    from export.datasets.build import BuildOptions  # lazy: CLI startup, +0.25 s (PIL)
    langs = tuple(x.strip() for x in args.langs.split(",") if x.strip())
    bad = [x for x in langs if x not in ("en", "pt")]
    if not langs or bad:
        raise VitrineError(f"--langs {args.langs!r}: use en, pt or en,pt")
    for name in ("val", "test"):
        v = getattr(args, name)
        if not 0 < v < 0.5:
            raise VitrineError(f"--{name} {v}: give the share of products as a number between 0 and 0.5")
    min_count = getattr(args, "min_count", 1)          # synth: every drawn value is wanted; None: scaled
    if (min_count is not None and min_count < 1) or args.balance < 1:
        raise VitrineError("--min-count must be >= 1 and --balance >= 1")
    return BuildOptions(min_count=min_count, balance=args.balance, val=args.val, test=args.test, langs=langs,
                        seed=args.seed, describe=not args.no_describe)


def _report(summary, out: Path) -> None:
    rows = ", ".join(f"{s} {n}" for s, n in summary.rows.items())
    skipped = summary.missing_images + summary.unreadable_images
    print(f"wrote {out}: {summary.products} products, {rows} questions"
          + (f"; skipped {summary.missing_images} missing and {summary.unreadable_images} unreadable images"
             if skipped else ""))
    if summary.min_count_note:
        print(f"--min-count {summary.min_count} ({summary.min_count_note})")
    print(f"questions per attribute and language: {summary.questions_line()}")
    dropped = sum(len(v) for v in summary.dropped.values())
    merged = sum(len(v) for v in summary.merged.values())
    if dropped or merged:
        print(f"merged {merged} spellings into canonical values, dropped {dropped} rare values: see {out}/summary.md")


def cmd_build(args) -> int:
    from export.datasets.build import build  # lazy: CLI startup, +0.25 s (PIL)
    attributes = [a.strip() for a in (args.attributes or "").split(",") if a.strip()]
    with TqdmProgress() as progress:
        summary = build(Path(args.catalog), Path(args.out), _options(args), force=args.force, progress=progress,
                        layout=args.layout, image_column=args.image_column or "", attributes=attributes,
                        id_column=args.id_column or "", garment_column=args.garment_column or "")
    _report(summary, Path(args.out))
    return 0


def cmd_synth(args) -> int:
    from export.datasets.build import synth  # lazy: CLI startup, +0.25 s (PIL)
    with TqdmProgress() as progress:
        summary = synth(Path(args.out), args.n, _options(args), size=args.size, force=args.force, progress=progress)
    _report(summary, Path(args.out))
    return 0


def _common(p) -> None:
    p.add_argument("--out", required=True, help="folder for train/val/test.jsonl, set.json and summary.md")
    p.add_argument("--langs", default="en,pt", help="question languages (default en,pt)")
    p.add_argument("--val", type=float, default=0.1, help="share of products for validation (default 0.1)")
    p.add_argument("--test", type=float, default=0.1, help="share of products for the test split (default 0.1)")
    p.add_argument("--balance", type=float, default=3.0,
                   help="cap each answer at this many times its attribute's median count (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-describe", action="store_true", help="no \"Describe the X\" questions")
    p.add_argument("--force", action="store_true", help="replace a question set Vitrine wrote in --out (nothing "
                   "else is ever replaced)")


def register(sub) -> None:
    d = sub.add_parser("dataset", help="build fashion question sets (catalog or synthetic) for eval and finetune")
    ds = d.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    b = ds.add_parser("build", help="questions from a labelled catalog (styles.csv, DeepFashion-MultiModal, CSV)")
    b.add_argument("catalog", help="styles.csv (or its folder), a DeepFashion-MultiModal folder, or a CSV file")
    b.add_argument("--layout", default="auto", choices=["auto", "fashion-product-images", "deepfashion-multimodal",
                                                         "csv"])
    b.add_argument("--image-column", help="generic CSV: the column with image paths (relative to the CSV)")
    b.add_argument("--attributes", help="generic CSV: attribute columns, e.g. colour,pattern,sleeve")
    b.add_argument("--id-column", help="generic CSV: the product id column (default: the image's name)")
    b.add_argument("--garment-column", help="generic CSV: the column naming the garment")
    b.add_argument("--min-count", type=int, help="drop answer values seen on fewer products (default 20 for a "
                   "catalog of 500 products or more, scaled down for a smaller one, and said)")
    _common(b)
    b.set_defaults(func=cmd_build)
    s = ds.add_parser("synth", help="draw N garments with known colour, pattern and sleeves, and ask about them")
    s.add_argument("--n", type=int, default=1000, help="how many images (default 1000, about 9 questions each)")
    s.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    _common(s)
    s.set_defaults(func=cmd_synth)
