"""`vitrine translate bench`: first-call latency (fresh process) and warm throughput for each translator."""
from __future__ import annotations

import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ANSWERS = [  # short answers of about 15 words, like the model's
    "The woman is wearing a red blouse with long sleeves and navy blue pants.",
    "The bag is a brown leather crossbody bag with a gold buckle on the front.",
    "She wears white sneakers, light blue jeans and a black leather jacket over a t-shirt.",
    "The dress has a floral print, short sleeves, a v-neck and a pleated skirt below the waist.",
    "The man wears a grey hoodie, dark jeans and ankle boots with thick rubber soles today.",
]


def _first_call(backend: str) -> dict:
    code = ("import time; t=time.perf_counter(); from engine.translate import load_translator; "
            f"tr=load_translator({backend!r}); tr.translate('The shirt is blue.', 'en', 'pt'); "
            "print(time.perf_counter()-t)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return {"first_call_s": round(float(r.stdout.strip().splitlines()[-1]), 3)}


def _warm(backend: str, rounds: int = 10) -> dict:
    from .errors import VitrineError
    from .translate import load_translator
    tr = load_translator(backend)
    tr.warm()
    rates = []
    try:
        for r in range(rounds):
            batch = [f"{a} ({r})" for a in ANSWERS]       # distinct texts: no translation cache hits
            t0 = time.perf_counter()
            for a in batch:
                tr.translate(a, "en", "pt")
            rates.append(len(batch) / (time.perf_counter() - t0))
    except VitrineError as e:
        return {"error": str(e), "translator": tr.name}
    return {"warm_answers_per_s": round(statistics.median(rates), 1), "translator": tr.name}


CASES = Path(__file__).resolve().parent.parent / "assets" / "eval" / "translation_cases.tsv"


@dataclass
class CaseResult:
    en: str
    pt: str
    missing: list[str]          # what the Portuguese must contain and does not
    wrong: list[str]            # what it must not contain and does
    debris: bool                # a placeholder fragment or broken punctuation

    @property
    def passed(self) -> bool:
        return not self.missing and not self.wrong and not self.debris


def read_cases(path: Path = CASES) -> list[tuple[str, list[str], list[str]]]:
    rows = [r for r in path.read_text(encoding="utf-8").splitlines() if r.strip() and not r.startswith("#")]
    split = lambda v: [w.strip() for w in (v or "").split("|") if w.strip()]
    return [(r["en"], split(r.get("must")), split(r.get("must_not"))) for r in csv.DictReader(rows, delimiter="\t")]


def run_cases(translator, path: Path = CASES) -> list[CaseResult]:
    from .glossary import has_debris
    out = []
    for en, must, must_not in read_cases(path):
        pt = translator.translate(en, "en", "pt")
        low = pt.lower()
        out.append(CaseResult(en, pt, [m for m in must if m.lower() not in low],
                              [w for w in must_not if re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", low)],
                              has_debris(pt)))
    return out


def cases_summary(results: list[CaseResult]) -> dict:
    failed = [r for r in results if not r.passed]
    return {"cases": len(results), "passed": len(results) - len(failed),
            "pass_share": round((len(results) - len(failed)) / max(len(results), 1), 3),
            "debris": sum(r.debris for r in results),
            "failures": [{"en": r.en, "pt": r.pt, "missing": r.missing, "wrong": r.wrong, "debris": r.debris}
                         for r in failed]}


def run_translate_bench() -> dict:
    from .translate import ArgosTranslator, argos_dir, load_translator
    out = {"bundled": {**_first_call("bundled"), **_warm("bundled")}}
    out["bundled"]["test_set"] = cases_summary(run_cases(load_translator("bundled")))
    if ("en", "pt") in ArgosTranslator(argos_dir()).pairs():
        out["argos"] = {**_first_call("argos"), **_warm("argos")}
    else:
        out["argos"] = "no en->pt argos package installed (vitrine translate install FILE.argosmodel)"
    return out


if __name__ == "__main__":
    print(json.dumps(run_translate_bench(), indent=2))
