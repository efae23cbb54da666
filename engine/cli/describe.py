"""`vitrine describe`: the garment's attributes as JSON (valid under the store's schema) and a description in
Portuguese rendered from them."""
from __future__ import annotations

import json

from engine.errors import VitrineError
from engine.media.frames import load_frame

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def cmd_describe(args) -> int:
    from engine.runtime.backends import load_backend  # lazy: CLI startup, +0.15 s (the runtime)
    from engine.runtime.describe import AttributeSchema, describe, load_templates  # lazy: CLI startup, +0.3 s (the runtime)
    from engine.runtime.session import Session  # lazy: CLI startup, +0.3 s (the runtime)

    if not 16 <= args.max_tokens <= 4096:
        raise VitrineError("--max-tokens must be between 16 and 4096")
    schema, templates = AttributeSchema.load(args.settings), load_templates(args.settings)     # a broken store copy fails before the load
    frame = load_frame(args.source, box=args.box)
    session = Session(load_backend(args.model, threads=args.settings.threads_for(args.threads),
                                           settings=args.settings), settings=args.settings)
    try:
        d = describe(session, frame, schema, templates, max_tokens=args.max_tokens)
    finally:
        session.close()
    if args.json:
        print(json.dumps(d.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for name, value in d.attributes.items():
        en = ", ".join(value) if isinstance(value, list) else value
        pt = d.attributes_pt[name]
        pt = ", ".join(pt) if isinstance(pt, list) else pt
        print(f"{name:14s} {en}" + (f"  ({pt})" if pt != en else ""))
    if d.measured_colors:
        print(f"{'measured':14s} " + ", ".join(f"{c.en} / {c.pt} {round(c.share * 100)}%" for c in d.measured_colors))
    print()
    print(d.description_pt)
    return 0


def register(sub) -> None:
    d = sub.add_parser("describe", help="the garment's attributes as JSON and a description in Portuguese",
                       description="Attributes under assets/attributes.schema.json (or $VITRINE_HOME's copy), "
                       "decoded so that only valid JSON can come out, and a Portuguese description built from them.")
    d.add_argument("source", help="image file, or video with @SECONDS (clip.mp4@12.5) or #FRAME")
    d.add_argument("--box", help="the garment's box x,y,w,h (pixels)")
    d.add_argument("--model", help="installed model name or exported folder (default: $VITRINE_MODEL or the first)")
    d.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    d.add_argument("--max-tokens", type=int, default=400)
    d.add_argument("--json", action="store_true", help="print the attributes, their Portuguese and the description")
    d.set_defaults(func=cmd_describe)
