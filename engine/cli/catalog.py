"""`vitrine catalog ...` (add a CSV, index, search by picture or words, remove, show) and `vitrine colors`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.progress import TqdmProgress
from engine.devices import use_device_for_command
from engine.errors import VitrineError
from engine.media.colors import dominant_colors
from engine.media.focus import PersonSegmenter, focus
from engine.media.frames import load_frame, parse_spec

# `catalog add` / `catalog index` finished, but some products are not in the catalog's vectors (a CSV row skipped,
# an image that cannot be read): the good ones are saved; 2 stays "nothing was done"
PARTIAL = 1

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def _open(args):
    from engine.catalog.sqlite_catalog import open_catalog  # lazy: CLI startup, +0.08 s
    return open_catalog(args.catalog, getattr(args, "embedder", None), args.settings)


def _print_hits(hits, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        print(json.dumps({**(extra or {}), "results": [h.to_dict() for h in hits]}, ensure_ascii=False, indent=2))
        return
    if not hits:
        print("no products found (is the catalog empty? `vitrine catalog add products.csv`)")
    for n, h in enumerate(hits, 1):
        attrs = ", ".join(f"{k}: {v}" for k, v in h.product.attributes.items())
        print(f"{n:2d}. {h.score:.3f}  {h.product.id}  {h.product.title}" + (f"  ({attrs})" if attrs else ""))


def _colors_line(colors, lang: str = "both") -> str:
    return "colours: " + ", ".join(f"{c.en} / {c.pt} {round(c.share * 100)}%" for c in colors)


def cmd_add(args) -> int:
    from engine.catalog.products_csv import read_products_csv  # lazy: CLI startup, +0.02 s
    read = read_products_csv(Path(args.csv))
    cat = _open(args)
    try:
        with TqdmProgress() as progress:
            report = cat.add(read.products, progress=progress)
        report.skipped[:0] = read.skipped
        info = cat.info()
    finally:
        cat.close()
    if args.json:
        print(json.dumps({**report.to_dict(), "catalog": info.to_dict()}, ensure_ascii=False, indent=2))
    else:
        print(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.indexed} "
              f"indexed; the catalog has {info.products} products ({info.pending} not indexed"
              + (f", {info.failed} failed" if info.failed else "") + ")")
        for pid, why in report.skipped:
            print(f"skipped {pid}: {why}", file=sys.stderr)
        _say_failed(report.failed)
    return PARTIAL if report.skipped or report.failed else 0


def _say_failed(failed: list[tuple[str, str]]) -> None:
    for pid, why in failed:
        print(f"failed {pid}: {why}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} product{'s' if len(failed) > 1 else ''} not indexed: fix or replace the image and add "
              "the CSV again (`vitrine catalog show --failed` lists them)", file=sys.stderr)


def cmd_index(args) -> int:
    cat = _open(args)
    try:
        with TqdmProgress() as progress:
            report = cat.index(reindex=args.reindex, progress=progress)
        info = cat.info()
    finally:
        cat.close()
    print(f"{report.indexed} products indexed with {info.image_embedder}; {info.pending} still pending"
          + (f", {info.failed} failed" if info.failed else ""))
    _say_failed(report.failed)
    return PARTIAL if report.failed else 0


def _query_frame(args):
    """The picture a search or colours command is about: (Focus, frame description)."""
    frame = load_frame(args.source, box=args.box)
    mode = args.focus
    segmenter = PersonSegmenter() if mode == "person" or (mode == "auto" and not args.box) else None
    try:
        return focus(frame.rgb, mode, segmenter, boxed=bool(args.box)), frame.describe()
    finally:
        if segmenter is not None:
            segmenter.close()


def _is_picture(source: str) -> bool:
    try:
        path = parse_spec(source)[0]
    except VitrineError:
        return False
    return Path(path).is_file()


def cmd_search(args) -> int:
    if args.k < 1 or args.k > 200:
        raise VitrineError("-k must be between 1 and 200")
    text = args.text
    if text is None and args.source and not _is_picture(args.source):
        if args.box:
            raise VitrineError(f"{args.source} is not an image or video file here (--box needs a picture)")
        text = args.source
    if text is None and not args.source:
        raise VitrineError("give a picture (look.jpg, clip.mp4@12.5) or --text \"vestido vermelho\"")
    cat = _open(args)
    try:
        if text is not None:
            _print_hits(cat.search_text(text, args.k), args.json, {"query": text})
            return 0
        region, where = _query_frame(args)
        hits = cat.search_image(region.rgb, args.k, region.mask)
        colors = dominant_colors(region.rgb, region.mask)
    finally:
        cat.close()
    if not args.json:
        print(f"{where} ({region.how}) · {_colors_line(colors)}")
    _print_hits(hits, args.json, {"query": where, "focus": region.how, "colors": [c.to_dict() for c in colors]})
    return 0


def cmd_remove(args) -> int:
    cat = _open(args)
    try:
        n = cat.remove(args.ids)
    finally:
        cat.close()
    missing = len(set(args.ids)) - n
    print(f"{n} removed" + (f"; {missing} not in the catalog" if missing > 0 else ""))
    return 0 if n else 1


def cmd_show(args) -> int:
    cat = _open(args)
    try:
        if args.failed:
            if args.id:
                raise VitrineError("give a product id or --failed, not both")
            failed = cat.failed()
            if args.json:
                print(json.dumps({"failed": [f.to_dict() for f in failed]}, ensure_ascii=False, indent=2))
            elif not failed:
                print("no failed products: every product's image was read")
            for f in failed if not args.json else []:
                print(f"{f.id}\t{f.reason}")
            return 0
        if args.id:
            p = cat.get(args.id)
            if p is None:
                raise VitrineError(f"no product {args.id!r} in the catalog: `vitrine catalog search` lists ids")
            out = p.to_dict()
        else:
            out = cat.info().to_dict()
    finally:
        cat.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0


def cmd_colors(args) -> int:
    region, where = _query_frame(args)
    colors = dominant_colors(region.rgb, region.mask)
    if args.json:
        print(json.dumps({"frame": where, "focus": region.how, "colors": [c.to_dict() for c in colors]},
                         ensure_ascii=False, indent=2))
    else:
        for c in colors:
            print(f"{c.hex}  {round(c.share * 100):3d}%  {c.en} / {c.pt} ({c.pt_f})")
    return 0


def _picture_args(p, optional: bool = False) -> None:
    p.add_argument("source", nargs="?" if optional else None,
                   help="image file, or video with @SECONDS (clip.mp4@12.5) or #FRAME"
                   + (" (or the words to search for)" if optional else ""))
    p.add_argument("--box", help="the garment's box x,y,w,h (pixels)")
    p.add_argument("--focus", default="auto", choices=["auto", "box", "person", "frame"],
                   help="auto (default): the box, else the person cut out, else the whole frame")


def _with_device(cmd):
    """--device for the catalog's embedder: checked (absent: one line), and in the settings passed down."""
    def run(args) -> int:
        device = getattr(args, "device", None)
        use_device_for_command(device)
        args.settings = args.settings.with_device(device)
        return cmd(args)
    return run


def register(sub) -> None:
    c = sub.add_parser("catalog", help="the store's products: add a CSV, find similar products",
                       description="Index the store's catalog and find products similar to a frame, a region of "
                       "it, or words in Portuguese or English.")
    c.add_argument("--catalog", help="catalog folder (default: $VITRINE_HOME/catalog)")
    c.add_argument("--device", help="auto, cpu or cuda for the image embedder (default: $VITRINE_DEVICE, else "
                   "auto; gpu/npu are for a model's image encoder: the embedder stays on the CPU there)")
    cs = c.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    a = cs.add_parser("add", help="add or update products from a CSV (id, image, title, attribute columns)",
                      description="Add or update products from a CSV. Exit status 0: every product is indexed; 1: "
                      "the others are, but some rows were skipped or their images could not be read (listed on "
                      "stderr and by `catalog show --failed`); 2: nothing was changed.")
    a.add_argument("csv")
    a.add_argument("--embedder", help="image embedder: efficientnet-lite0 (bundled, default) or fashion-siglip "
                   "(`vitrine models pull fashion-siglip`)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_with_device(cmd_add))
    x = cs.add_parser("index", help="finish an interrupted indexing run, or --reindex with another embedder",
                      description="Embed the pending products (--reindex: all of them, failed ones included). "
                      "Exit status 1 when some images could not be read (`catalog show --failed`).")
    x.add_argument("--reindex", action="store_true", help="rebuild every vector (after changing the embedder)")
    x.add_argument("--embedder")
    x.set_defaults(func=_with_device(cmd_index))
    s = cs.add_parser("search", help="products similar to a picture or a region, or matching words")
    _picture_args(s, optional=True)
    s.add_argument("--text", help="search by words (\"vestido vermelho\", \"red dress\")")
    s.add_argument("-k", type=int, default=5, help="how many products (default 5)")
    s.add_argument("--embedder")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_with_device(cmd_search))
    r = cs.add_parser("remove", help="remove products by id")
    r.add_argument("ids", nargs="+")
    r.set_defaults(func=cmd_remove)
    w = cs.add_parser("show", help="one product, or the catalog's figures, or --failed products")
    w.add_argument("id", nargs="?")
    w.add_argument("--failed", action="store_true", help="the products whose image could not be read, and why")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_show)

    k = sub.add_parser("colors", help="the garment's main colours, named in English and Portuguese")
    _picture_args(k)
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_colors)
