"""`vitrine eval DATA --model NAME ...` and `vitrine eval compare RUN_DIR ...`."""
from __future__ import annotations

from pathlib import Path

from engine.cli.progress import TqdmProgress
from engine.devices import use_device_for_command
from engine.errors import VitrineError

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def cmd_eval(args) -> int:
    from engine.evaluation.evaluate import EvalOptions, evaluate  # lazy: CLI startup, +0.4 s (rapidfuzz)
    from engine.evaluation.report import compare  # lazy: CLI startup, +0.4 s (rapidfuzz)

    if args.data == "compare":
        print(compare([Path(p) for p in args.runs], Path(args.out) if args.out else None), end="")
        return 0
    if args.runs:
        raise VitrineError(f"unexpected {' '.join(args.runs)}: name models with --model (one per model)")
    if not args.out:
        raise VitrineError("give --out RUN_DIR: the folder for the answers, report and plots (run it again to "
                           "continue an interrupted run)")
    use_device_for_command(args.device)       # an absent device is refused before anything is written
    settings = args.settings.with_device(args.device)      # every model this run opens, placed alike
    opts = EvalOptions(max_tokens=args.max_tokens, translate=not args.no_translate,
                       threads=settings.threads_for(args.threads), limit=args.limit)
    with TqdmProgress() as progress:
        run = evaluate(args.data, args.model or [], Path(args.out), opts, progress=progress, settings=settings)
    for m in run.models:
        lev = m.levenshtein
        print(f"{m.model}: VQA {m.vqa:.3f}, contains {m.contains:.3f}, F1 {m.f1:.3f}, ANLS {m.anls:.3f}, "
              f"Levenshtein min {lev['min']:.0f} mean {lev['mean']:.2f} variance {lev['variance']:.2f} std "
              f"{lev['std']:.2f}; p50 {m.latency_p50:.3f}s; harness {m.harness_ms:.2f} ms/answer"
              + (f"; {m.errors} skipped" if m.errors else ""))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def register(sub) -> None:
    e = sub.add_parser("eval", help="score models on a question set (report, CSV, plots); `eval compare` runs",
                       description="vitrine eval DATA --model NAME [--model NAME2 ...] --out RUN_DIR, or "
                       "vitrine eval compare RUN_DIR RUN_DIR ... [--out DIR]")
    e.add_argument("data", help="a question set (.jsonl, a folder with test.jsonl, an LNQA .parquet), or 'compare'")
    e.add_argument("runs", nargs="*", help="with compare: the run folders")
    e.add_argument("--model", action="append", help="an installed model, an exported folder, a .gguf file or a "
                   "transformers checkpoint folder (chat VLM, BLIP VQA, Pix2Struct/MatCha); repeat for several")
    e.add_argument("--out", help="the run folder (an interrupted run continues when given the same folder)")
    e.add_argument("--limit", type=int, help="only the first N questions (the brief's protocol: 500)")
    e.add_argument("--max-tokens", type=int, default=32, help="longest answer (default 32 tokens)")
    e.add_argument("--no-translate", action="store_true",
                   help="ask Portuguese questions as they are (default: as the app does, translated for "
                   "English-only models and the answer translated back)")
    e.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    e.add_argument("--device", help="auto, cpu, gpu, npu or cuda (default: $VITRINE_DEVICE, else auto); "
                   "see `vitrine ask --help`")
    e.set_defaults(func=cmd_eval)
