"""`vitrine translate bench`: first-call latency (fresh process) and warm throughput for each translator, the
cases the mechanism was tuned on (assets/eval/translation_cases.tsv), and the held-out corpus by split
(assets/eval/translation/dev and test: en_pt_*.tsv with en, must, must_not, reference; pt_en_*.tsv with pt, ...),
each output also checked for debris."""
from __future__ import annotations

import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import VitrineError
from engine.language.glossary import has_debris
from engine.language.translate import load_translator, ArgosTranslator, argos_dir
from engine.paths import PROJECT_ROOT
from engine.settings import Settings

ANSWERS = [  # short answers of about 15 words, like the model's
    "The woman is wearing a red blouse with long sleeves and navy blue pants.",
    "The bag is a brown leather crossbody bag with a gold buckle on the front.",
    "She wears white sneakers, light blue jeans and a black leather jacket over a t-shirt.",
    "The dress has a floral print, short sleeves, a v-neck and a pleated skirt below the waist.",
    "The man wears a grey hoodie, dark jeans and ankle boots with thick rubber soles today.",
]


def _first_call(backend: str) -> dict:
    # a fresh process (a cold start is what is timed): the child is its own entry point, so it reads its settings
    code = ("import time; t=time.perf_counter(); from engine.language.translate import load_translator; "
            "from engine.settings import Settings; "
            f"tr=load_translator({backend!r}, settings=Settings.from_env()); "
            "tr.translate('The shirt is blue.', 'en', 'pt'); print(time.perf_counter()-t)")
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return {"first_call_s": round(float(r.stdout.strip().splitlines()[-1]), 3)}


def _warm(backend: str, settings: Settings, rounds: int = 10) -> dict:
    tr = load_translator(backend, settings=settings)
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


ROOT = PROJECT_ROOT
CASES = ROOT / "assets" / "eval" / "translation_cases.tsv"
# the held-out corpus, by batch: dev/ to tune on, test/ to measure once (never tuned on)
SPLITS = ROOT / "assets" / "eval" / "translation"

# English words that have no business in a Portuguese answer
_EN_FUNCTION = set("""the with and of is are was were has have wearing wears worn her his she he its it this that
these those on in at for from over under which there their they appears appear looks seems""".split())
_REPEAT = re.compile(r"(?<![\w-])([\wÀ-ÿ]{2,})\s+\1(?![\w-])", re.IGNORECASE)
_WORDS = re.compile(r"[A-Za-zÀ-ÿ]+(?:-[A-Za-zÀ-ÿ]+)*")


@dataclass
class CaseResult:
    en: str                     # the source (English for en->pt, Portuguese for pt->en)
    pt: str                     # the translation
    missing: list[str]          # what the translation must contain and does not
    wrong: list[str]            # what it must not contain and does
    debris: bool                # see debris()
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.wrong and not self.debris


def debris(text: str, dst: str, glossary=None) -> list[str]:
    """What no translation may contain, whatever its case says: a placeholder or its fragment, punctuation a
    mangled placeholder leaves, a word immediately repeated ("longa longa"); in Portuguese, English function words
    and English fashion words of the lexicon left untranslated."""
    out = []
    if has_debris(text):
        out.append("placeholder debris")
    m = _REPEAT.search(text)
    if m:
        out.append(f"repeated {m.group(1)!r}")
    if dst == "pt":
        words = [w.lower() for w in _WORDS.findall(text)]
        left = [w for w in words if w in _EN_FUNCTION]
        if left:
            out.append(f"English words {left}")
        if glossary is not None:
            english = _english_terms(glossary)
            left = [w for w in words if w in english]
            if left:
                out.append(f"English fashion words {left}")
    return out


_TERMS_CACHE: dict[int, set[str]] = {}


def _english_terms(glossary) -> set[str]:
    key = id(glossary)
    if key not in _TERMS_CACHE:
        _TERMS_CACHE[key] = glossary.lexicon.english_terms()
    return _TERMS_CACHE[key]


def _split(v: str | None) -> list[str]:
    return [w.strip() for w in (v or "").split("|") if w.strip()]


def read_cases(path: Path = CASES, source: str = "en") -> list[tuple[str, list[str], list[str]]]:
    """(source text, must, must_not) per case of a TSV file with a header (source column ``en`` or ``pt``)."""
    rows = [r for r in path.read_text(encoding="utf-8").splitlines() if r.strip() and not r.startswith("#")]
    return [(r[source], _split(r.get("must")), _split(r.get("must_not")))
            for r in csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE) if (r.get(source) or "").strip()]


def run_cases(translator, path: Path = CASES, src: str = "en", dst: str = "pt",
              timings: list | None = None) -> list[CaseResult]:
    out = []
    glossary = getattr(translator, "glossary", None)
    for text, must, must_not in read_cases(path, src):
        t0 = time.perf_counter()
        got = translator.translate(text, src, dst)
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        low = got.lower()
        reasons = debris(got, dst, glossary)
        out.append(CaseResult(text, got, [m for m in must if m.lower() not in low],
                              [w for w in must_not if re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", low)],
                              bool(reasons), reasons))
    return out


def cases_summary(results: list[CaseResult]) -> dict:
    failed = [r for r in results if not r.passed]
    return {"cases": len(results), "passed": len(results) - len(failed),
            "pass_share": round((len(results) - len(failed)) / max(len(results), 1), 3),
            "debris": sum(r.debris for r in results),
            "failures": [{"src": r.en, "out": r.pt, "missing": r.missing, "wrong": r.wrong, "debris": r.reasons}
                         for r in failed]}


def run_split(translator, folder: Path) -> dict:
    """Every en_pt_*.tsv and pt_en_*.tsv in ``folder``, scored per direction, with the time per sentence."""
    out = {}
    for direction, (src, dst) in (("en_pt", ("en", "pt")), ("pt_en", ("pt", "en"))):
        results, timings = [], []
        for path in sorted(folder.glob(f"{direction}_*.tsv")):
            results += run_cases(translator, path, src, dst, timings)
        if results:
            out[direction] = cases_summary(results)
            out[direction]["ms_per_sentence"] = round(1000 * statistics.mean(timings), 2)
    return out


def run_translate_bench(cases_dir: Path | None = None, splits: tuple[str, ...] = ("dev", "test"), *,
                        settings: Settings) -> dict:
    """Latency (first call, warm), the old tuned-on cases, and the held-out corpus: each split separately, or only
    ``cases_dir`` (tuning: point it at dev/ only). ``settings``: the caller's, read once at its entry point."""
    out = {"bundled": {**_first_call("bundled"), **_warm("bundled", settings)}}
    tr = load_translator("bundled", settings=settings)
    out["bundled"]["tuned_cases"] = cases_summary(run_cases(tr))
    if cases_dir is not None:
        out["bundled"][str(cases_dir)] = run_split(tr, Path(cases_dir))
    else:
        for split in splits:
            folder = SPLITS / split
            out["bundled"][split] = run_split(tr, folder) if folder.is_dir() else f"no cases in {folder}"
    if ("en", "pt") in ArgosTranslator(argos_dir(settings)).pairs():
        out["argos"] = {**_first_call("argos"), **_warm("argos", settings)}
    else:
        out["argos"] = "no en->pt argos package installed (vitrine translate install FILE.argosmodel)"
    return out


if __name__ == "__main__":
    print(json.dumps(run_translate_bench(settings=Settings.from_env()), indent=2))      # an entry point: read once here
