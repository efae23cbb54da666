"""Checks the translation corpus's files, never a translator: each file is a TSV with the right four columns, no row
repeats another (in any batch, dev or test), and each row's reference passes the row's own checks, the way
engine/language/translate_bench.py scores (must: case-insensitive substrings; must_not: whole words). A reference that fails
its own row means the row is unfair or the reference is wrong.

    python assets/eval/translation/check_corpus.py       # prints counts; exit 1 on any problem
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = {"en_pt": ["en", "must", "must_not", "reference"], "pt_en": ["pt", "must", "must_not", "reference"]}


def _split(v: str) -> list[str]:
    return [w.strip() for w in (v or "").split("|") if w.strip()]


def problems_of(path: Path, seen: dict[str, str]) -> tuple[list[str], int]:
    direction = path.name[:5]
    out = []
    text = path.read_text(encoding="utf-8")
    if '"' in text:
        out.append(f"{path.name}: a double quote (csv readers treat it as quoting)")
    rows = list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows[0] != COLUMNS[direction]:
        return [f"{path.name}: header {rows[0]} != {COLUMNS[direction]}"], 0
    for n, row in enumerate(rows[1:], 2):
        if len(row) != 4:
            out.append(f"{path.name}:{n}: {len(row)} columns")
            continue
        src, must, must_not, ref = row
        key = f"{direction}:{' '.join(src.lower().split())}"
        if key in seen:
            out.append(f"{path.name}:{n}: repeats {seen[key]}: {src}")
        seen[key] = f"{path.parent.name}/{path.name}:{n}"
        if not ref.strip() or not src.strip():
            out.append(f"{path.name}:{n}: empty text or reference")
        low = ref.lower()
        missing = [m for m in _split(must) if m.lower() not in low]
        wrong = [w for w in _split(must_not) if re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", low)]
        if missing or wrong:
            out.append(f"{path.name}:{n}: reference fails its row (missing {missing}, wrong {wrong}): {ref}")
        clash = {m.lower() for m in _split(must)} & {w.lower() for w in _split(must_not)}
        if clash:
            out.append(f"{path.name}:{n}: in must and must_not: {sorted(clash)}")
    return out, len(rows) - 1


def main() -> int:
    seen: dict[str, str] = {}
    old = HERE.parent / "translation_cases.tsv"      # the older cases, tuned on: none may come back here
    if old.exists():
        for n, line in enumerate(old.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() and not line.startswith("#") and not line.startswith("en\t"):
                seen[f"en_pt:{' '.join(line.split(chr(9))[0].lower().split())}"] = f"translation_cases.tsv:{n}"
    problems = []
    counts: dict[tuple[str, str], int] = {}
    for split in ("dev", "test"):
        for path in sorted((HERE / split).glob("*.tsv")):
            p, n = problems_of(path, seen)
            problems += p
            counts[(split, path.name[:5])] = counts.get((split, path.name[:5]), 0) + n
            print(f"{split}/{path.name}: {n} rows")
    for direction in ("en_pt", "pt_en"):
        dev, test = counts.get(("dev", direction), 0), counts.get(("test", direction), 0)
        print(f"{direction}: dev {dev}, test {test}, dev share {dev / max(dev + test, 1):.0%}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
