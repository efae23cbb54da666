"""`vitrine serve`: the model behind an OpenAI-compatible API on this machine (engine/serve/server.py)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from engine.errors import NotFound, VitrineError

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def cmd_serve(args) -> int:
    from engine.models.store import ModelStore  # lazy: CLI startup, +0.06 s
    from engine.runtime.backends import load_backend  # lazy: CLI startup, +0.15 s (the runtime)
    from engine.runtime.session import Session  # lazy: CLI startup, +0.3 s (the runtime)
    from engine.serve.server import ServeLimits, check_bind, create_app  # lazy: CLI startup, +1.2 s (fastapi)

    settings = args.settings            # read once here; every model and catalog the server opens gets them
    api_key = args.api_key or settings.api_key
    check_bind(args.host, api_key)
    if not 1 <= args.port <= 65535:
        raise VitrineError("--port must be between 1 and 65535")
    if args.queue < 0 or args.max_tokens < 1 or args.max_body_mb <= 0 or args.max_pixels < 1024:
        raise VitrineError("--queue must be >= 0, --max-tokens >= 1, --max-body-mb > 0, --max-pixels >= 1024")
    import uvicorn

    threads = settings.threads_for(args.threads)
    backend = load_backend(args.model, threads=threads, settings=settings)
    session = Session(backend, cache_frames=args.cache_images, settings=settings)
    first, store = backend.model_id, ModelStore.default(settings)

    def loader(name: str) -> Session:
        """Another model a request names (the first by the --model it came from: a folder keeps working)."""
        return Session(load_backend(args.model if name == first and args.model else name, threads=threads,
                                    settings=settings), cache_frames=args.cache_images, settings=settings)

    def installed() -> list[str]:
        return [m.name for m in store.vlms()]

    def catalog():
        from engine.catalog.sqlite_catalog import default_folder, open_catalog  # lazy: CLI startup, +0.08 s
        folder = Path(args.catalog) if args.catalog else default_folder(settings)
        if not folder.is_dir():
            raise NotFound(f"no catalog at {folder}: `vitrine catalog add products.csv` makes one (or start the "
                           "server with --catalog FOLDER)")
        return open_catalog(folder, None, settings)
    limits = ServeLimits(max_body_bytes=int(args.max_body_mb * (1 << 20)), max_pixels=args.max_pixels,
                         max_tokens=args.max_tokens, queue=args.queue)
    if args.bench:
        from engine.serve.bench import run  # lazy: CLI startup, +1.2 s (fastapi)
        try:
            print(json.dumps(run(session, backend.model_id, runs=args.bench, settings=settings), indent=2))
        finally:
            session.close()
        return 0
    # one line per request on stderr (method, path, status, duration, model), whatever -v says
    logging.getLogger("engine.serve.server.requests").setLevel(logging.INFO)
    app = create_app(session, backend.model_id, limits, api_key=api_key, answer_lang=args.answer_lang,
                     loader=loader, installed=installed, catalog=catalog, settings=settings)
    print(f"serving {backend.model_id} on http://{args.host}:{args.port}/v1 (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    except SystemExit as e:          # uvicorn exits when it cannot bind
        raise VitrineError(f"could not listen on {args.host}:{args.port}: is another server using the port?") \
            from e
    finally:
        if app.state.slot.session is not None:
            app.state.slot.session.close()
    return 0


def register(sub) -> None:
    s = sub.add_parser("serve", help="an OpenAI-compatible API for other programs on this machine",
                       description="POST /v1/chat/completions (image_url parts as data: URLs, streaming, "
                       "max_tokens, temperature/top_p/seed/stop, response_format json_schema; any installed model "
                       "by name, loaded on demand), POST /v1/vitrine/similar|describe|colors|look|prepare, "
                       "GET /v1/models, GET /health.")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another address "
                   "needs an API key)")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--model", help="installed model name or exported folder (default: $VITRINE_MODEL or the first)")
    s.add_argument("--api-key", help="require Authorization: Bearer KEY (default: $VITRINE_API_KEY)")
    s.add_argument("--answer-lang", choices=["pt", "en"], help="answer language (default: the question's)")
    s.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    s.add_argument("--queue", type=int, default=8, help="requests that may wait behind the running one (429 beyond)")
    s.add_argument("--max-tokens", type=int, default=1024, help="the most a request may ask for")
    s.add_argument("--max-body-mb", type=float, default=20.0)
    s.add_argument("--max-pixels", type=int, default=4096 * 4096)
    s.add_argument("--catalog", help="catalog folder for /v1/vitrine/similar and /look (default: the store's)")
    s.add_argument("--cache-images", type=int, default=8, help="encoded images kept for follow-up questions")
    s.add_argument("--bench", type=int, metavar="RUNS", help="measure instead of serving: a follow-up's first "
                   "token over HTTP vs in process (medians of RUNS)")
    s.set_defaults(func=cmd_serve, needs_no_stdout=True)
