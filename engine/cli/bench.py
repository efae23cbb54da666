"""`vitrine bench`: speed and memory of the GGUF/ONNX paths against the transformers reference."""
from __future__ import annotations

import json


def cmd_bench(args) -> int:
    from ..bench import format_bench, run_bench
    from ..settings import Settings
    threads = Settings.from_env().threads_for(args.threads)
    if args.runs < 1 or args.max_tokens < 1:
        from ..errors import VitrineError
        raise VitrineError("--runs and --max-tokens must be at least 1")
    result = run_bench(size=args.size, runs=args.runs, max_tokens=args.max_tokens, threads=threads,
                       reference=not args.no_reference, backend=args.backend)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0


def register(sub) -> None:
    b = sub.add_parser("bench", help="speed and memory of the GGUF path vs the transformers reference")
    b.add_argument("--size", default="256m", choices=["tiny", "256m", "500m"])
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--max-tokens", type=int, default=32)
    b.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    b.add_argument("--backend", default="gguf", choices=["gguf", "onnx", "hybrid", "all"],
                   help="all = gguf, onnx and hybrid (llama.cpp text + ONNX vision, measured only)")
    b.add_argument("--no-reference", action="store_true", help="skip the transformers reference")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)
