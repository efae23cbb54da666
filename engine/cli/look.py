"""`vitrine look FRAME`: every garment in the frame with its colours, attributes and catalog matches; and
`vitrine find VIDEO QUERY`: the moments of a video that show a garment, by words, a picture or a SKU."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.progress import TqdmProgress
from engine.errors import BadInput
from engine.files import atomic_path
from engine.media.frames import load_frame
from engine.settings import Settings

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def _catalog(args):
    """The catalog when there is one (its folder exists): matches and image vectors need it."""
    from engine.catalog.sqlite_catalog import DB_NAME, default_folder, open_catalog  # lazy: CLI startup, +0.08 s
    folder = Path(args.catalog) if args.catalog else default_folder(args.settings)
    if args.catalog and not (folder / DB_NAME).is_file():
        raise BadInput(f"no catalog in {folder}: add one with `vitrine catalog --catalog {folder} add products.csv`")
    if not (folder / DB_NAME).is_file():
        return None
    return open_catalog(folder, None, args.settings)


def _session(args):
    from engine.runtime.backends import load_backend  # lazy: CLI startup, +0.15 s (the runtime)
    from engine.runtime.session import Session  # lazy: CLI startup, +0.3 s (the runtime)
    settings = args.settings
    return Session(load_backend(args.model, threads=settings.threads_for(args.threads), settings=settings),
                   settings=settings)


def _colours(item: dict) -> str:
    return ", ".join(f"{c['en']}/{c['pt']} {round(c['share'] * 100)}%" for c in item["colors"])


def cmd_look(args) -> int:
    from engine.look.look import look_at, parse_boxes  # lazy: CLI startup, +0.35 s (the runtime)
    if not 1 <= args.k <= 50:
        raise BadInput("-k must be between 1 and 50")
    if not 16 <= args.max_tokens <= 4096:
        raise BadInput("--max-tokens must be between 16 and 4096")
    boxes = parse_boxes(args.box)
    frame = load_frame(args.source)
    catalog = _catalog(args)
    session = None
    try:
        session = None if args.no_attributes else _session(args)
        look = look_at(frame, catalog, session, boxes=boxes, k=args.k, max_tokens=args.max_tokens,
                       crops=args.crops)
    finally:
        if session is not None:
            session.close()
        if catalog is not None:
            catalog.close()
    out = look.to_dict()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"{out['frame']} ({out['how']}, {len(out['items'])} garment(s), {out['seconds']:.2f}s)")
    for n, item in enumerate(out["items"], 1):
        g = item["garment"] or "?"
        pt = item["garment_pt"] or "?"
        print(f"{n}. {item['region_pt']} [{','.join(map(str, item['box']))}]: {pt} / {g} · {_colours(item)}")
        if item["attributes"]:
            attrs = {k: v for k, v in item["attributes"].items() if k not in ("category", "colours")}
            print("   " + ", ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in attrs.items()))
        for m in item["matches"]:
            print(f"   {m['score']:.3f}  {m['id']}  {m['title']}")
    if catalog is None:
        print("(no catalog: `vitrine catalog add products.csv` to see matching products)", file=sys.stderr)
    return 0


def cmd_find(args) -> int:
    from engine.look.find import find, query_for  # lazy: CLI startup, +0.35 s (the runtime)
    from engine.look.video_index import VideoIndex  # lazy: CLI startup, +0.35 s (the runtime)
    if args.forget:
        return _forget(Path(args.video), args.json, args.settings)
    if not args.query:
        raise BadInput("say what to find: vitrine find VIDEO \"vestido vermelho\" (or a picture, or a SKU)")
    if not 1 <= args.n <= 500:
        raise BadInput("-n must be between 1 and 500")
    video = Path(args.video)
    if not video.is_file():
        raise BadInput(f"video not found: {video}" if not video.exists() else f"{video} is not a video file")
    catalog = _catalog(args)
    session = None
    index = None
    try:
        query = query_for(args.query, catalog)          # a bad query fails before any indexing
        sig = catalog.signature.info.id if catalog is not None else ""
        index = VideoIndex(video, args.every, sig, args.attributes, args.settings)
        if args.attributes and not index.is_complete():
            session = _session(args)
        with TqdmProgress() as progress:
            built = index.build(catalog, session, progress=progress)
        moments, seconds = find(index, query, args.n)
        if args.thumbs:
            folder = Path(args.thumbs)
            folder.mkdir(parents=True, exist_ok=True)
            for m in moments:
                data = index.thumbnail(m.t)
                if data:
                    dest = folder / f"{video.stem}-{m.t:08.2f}s.jpg"
                    with atomic_path(dest) as tmp:
                        tmp.write_bytes(data)
                    m.thumbnail = str(dest)
        frames = index.frame_count()
    finally:
        if session is not None:
            session.close()
        if catalog is not None:
            catalog.close()
        if index is not None:
            index.close()
    if args.json:
        print(json.dumps({"video": str(video), "query": query.label, "indexed_now": built, "frames": frames,
                          "every": args.every, "search_seconds": round(seconds, 4),
                          "moments": [m.to_dict() for m in moments]}, ensure_ascii=False, indent=2))
        return 0
    if not moments:
        print(f"nothing matching {query.label!r} in {video.name} ({frames} frames looked at)")
        return 1
    for n, m in enumerate(moments, 1):
        mins, secs = divmod(m.t, 60)
        colours = ", ".join(f"{c} {round(s * 100)}%" for c, s in m.colors.items())
        print(f"{n:2d}. {int(mins)}:{secs:05.2f}  {m.score:.3f}  {m.region} {m.garment or '?'} · {colours}"
              + (f"  {m.thumbnail}" if m.thumbnail else ""))
    return 0


def _forget(video: Path, as_json: bool, settings: Settings) -> int:
    """``vitrine find VIDEO --forget``: the video's indexes removed (the video may be gone already)."""
    from engine.look.video_index import forget  # lazy: CLI startup, +0.35 s (the runtime)
    removed = forget(video, settings)
    if as_json:
        print(json.dumps({"video": str(video), "removed": [str(s.path) for s in removed],
                          "bytes": sum(s.bytes for s in removed)}, indent=2))
    elif removed:
        print(f"forgot {len(removed)} index(es) of {video.name} ({sum(s.bytes for s in removed) / 1e6:.1f} MB)")
    else:
        print(f"no index of {video.name} to forget")
    return 0


def register(sub) -> None:
    k = sub.add_parser("look", help="every garment in a frame: colours, attributes and catalog matches",
                       description="Finds the garments on the person in the frame (pose and person mask: upper "
                       "body, lower body or full length, feet, hands), measures their colours, asks the model for "
                       "each one's attributes and lists the catalog's nearest products. A frame with no person is "
                       "cut to what stands out from its border (a product on a table), else taken whole; --box "
                       "replaces the regions.")
    k.add_argument("source", help="image file, or video with @SECONDS (clip.mp4@12.5) or #FRAME")
    k.add_argument("--box", action="append", help="a garment's box x,y,w,h (pixels); repeat for more")
    k.add_argument("--catalog", help="catalog folder (default: $VITRINE_HOME/catalog, when there is one)")
    k.add_argument("-k", type=int, default=3, help="catalog matches per garment (default 3)")
    k.add_argument("--model", help="installed model name or exported folder (default: $VITRINE_MODEL or the first)")
    k.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    k.add_argument("--max-tokens", type=int, default=300)
    k.add_argument("--no-attributes", action="store_true", help="regions, colours and matches only: no model")
    k.add_argument("--crops", action="store_true", help="the model reads each region's crop (an image encode "
                   "each: slower, sharper) instead of the whole frame, encoded once, with the region named")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_look)

    f = sub.add_parser("find", help="the moments of a video that show a garment (words, a picture or a SKU)",
                       description="Samples the video (one frame a second by default), indexes each sampled "
                       "frame's garments once (kept in $VITRINE_HOME/video-index; an interrupted run carries on) "
                       "and lists the moments that match, best first.")
    f.add_argument("video", help="video file")
    f.add_argument("query", nargs="?",
                   help="words (\"vestido vermelho\", \"red dress\"), a product picture, or a catalog SKU")
    f.add_argument("--forget", action="store_true",
                   help="remove this video's index instead of searching (old indexes also go by themselves: "
                   "past $VITRINE_VIDEO_INDEX_MB, default 500, the least recently used; unused for "
                   "$VITRINE_VIDEO_INDEX_DAYS, default 90)")
    f.add_argument("--every", type=float, default=1.0, help="seconds between sampled frames (default 1)")
    f.add_argument("-n", type=int, default=5, help="how many moments (default 5)")
    f.add_argument("--catalog", help="catalog folder (default: $VITRINE_HOME/catalog, when there is one)")
    f.add_argument("--attributes", action="store_true",
                   help="also ask the model for each garment's category and attributes while indexing (slower)")
    f.add_argument("--model", help="the model for --attributes")
    f.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    f.add_argument("--thumbs", help="write a thumbnail of each moment into this folder")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_find)
