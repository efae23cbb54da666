"""Question sets: one labelled question about one image per row, read from JSONL (what `vitrine dataset` writes)
or from an LNQA-layout parquet file (vikhyatk/lnqa: an image column and a list of question/answer pairs).

The evaluator reads sets through here; `export.datasets.build` writes them. A row's image path is relative to the file
and must stay inside the set's folder.
"""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import VitrineError
from engine.files import atomic_path, resolve_inside
from engine.language.translate import LANGS
from engine.media.frames import read_image
from engine.text_files import iter_jsonl, json_kind, read_json

log = logging.getLogger(__name__)

SET_FILE = "set.json"      # beside a set's JSONL files: {"images": the folder its image paths are relative to}


@dataclass(frozen=True)
class QARow:
    """One question about one image, with every acceptable answer (the first is the canonical one)."""
    id: str
    image: str                    # path relative to the set's file, or "" when ``image_bytes`` carries it
    question: str
    answers: tuple[str, ...]
    lang: str = "en"
    attribute: str = ""           # colour, garment, pattern, sleeve, neckline, fabric, describe, ...
    product: str = ""             # the product (or drawn image) it is about: splits never share one
    image_bytes: bytes | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("image_bytes")
        d["answers"] = list(self.answers)
        return json.dumps(d, ensure_ascii=False)


@dataclass
class QASet:
    rows: list[QARow]
    root: Path                    # image paths resolve against this folder
    source: Path

    def image_path(self, row: QARow) -> Path:
        return resolve_inside(self.root, row.image)

    def load_rgb(self, row: QARow) -> np.ndarray:
        """The row's image as an RGB array, through the one image-reading path of the app."""
        if row.image_bytes is not None:
            rgb = read_image(io.BytesIO(row.image_bytes), f"{self.source.name} row {row.id}")
        else:
            path = self.image_path(row)
            if not path.is_file():
                raise VitrineError(f"image not found: {row.image}")
            rgb = read_image(path)
        if rgb is None:
            raise VitrineError(f"{row.image or row.id} is not an image")
        return rgb


_ROW_FIX = "each line is one JSON object with image, question and answers (a list of texts)"
_TEXT_FIELDS = ("id", "image", "question", "lang", "attribute", "product")


def _row_from_json(d: object, where: str) -> QARow:
    if not isinstance(d, dict):
        raise VitrineError(f"{where}: each line must be a JSON object with image, question and answers")
    missing = [k for k in ("image", "question", "answers") if k not in d]
    if missing:
        raise VitrineError(f"{where}: no {', '.join(missing)}: each line needs image, question and answers "
                           "(a list of acceptable answers)")
    for key in _TEXT_FIELDS:
        value = d.get(key)
        # ids and products may be numbers in sets other tools wrote; anything else must be text
        if (value is not None or key in ("image", "question")) and not isinstance(value, str) and not (
                key in ("id", "product") and isinstance(value, int) and not isinstance(value, bool)):
            raise VitrineError(f"{where}: \"{key}\" is {json_kind(value)}, not a text: {_ROW_FIX}")
    answers = d["answers"]
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers) or \
            not [a for a in answers if a.strip()]:
        raise VitrineError(f"{where}: \"answers\" must be a non-empty list of texts")
    if not d["question"].strip():
        raise VitrineError(f"{where}: the question is empty")
    lang = str(d.get("lang") or "en")
    if lang not in LANGS:
        raise VitrineError(f"{where}: unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return QARow(id=str(d.get("id") or where), image=d["image"], question=d["question"].strip(),
                 answers=tuple(a.strip() for a in answers if a.strip()), lang=lang,
                 attribute=str(d.get("attribute") or ""), product=str(d.get("product") or ""))


def read_jsonl(path: Path) -> QASet:
    """Every row of a JSONL question set; a malformed line is an error naming its line number."""
    rows = [_row_from_json(d, f"{path.name} line {n}") for n, d in iter_jsonl(path, _ROW_FIX)]
    return QASet(rows=rows, root=_image_root(path), source=path)


def _image_root(path: Path) -> Path:
    """Where a JSONL set's images are: set.json's "images" (a catalog folder), else the file's own folder."""
    info = path.parent / SET_FILE
    if not info.is_file():
        return path.parent
    images = read_json(info, "build the question set again (or delete set.json if the images are beside it)"
                       ).get("images") or "."
    if not isinstance(images, str):
        raise VitrineError(f"{info}: \"images\" is {json_kind(images)}, not a folder path: build the question "
                           "set again")
    root = (path.parent / images).resolve()
    if not root.is_dir():
        raise VitrineError(f"the images of {path.name} were in {root}, which is gone: move the catalog back or "
                           "build the set again")
    return root


def read_lnqa_parquet(path: Path) -> QASet:
    """vikhyatk/lnqa's layout: ``image`` (a struct of bytes and path, as `datasets` writes images) and ``qa``
    (a list of {question, answer}); flat ``question`` / ``answer`` columns are read too. One row per pair, in
    file order, so "the first 500 rows" means the same pairs every time."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise VitrineError("reading parquet needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as e:              # pyarrow raises its own types for a file that is not parquet
        raise VitrineError(f"{path.name} is not a readable parquet file ({e}): give an LNQA-layout .parquet") \
            from None
    cols = set(table.column_names)
    if "image" not in cols or not ({"qa"} <= cols or {"question", "answer"} <= cols):
        raise VitrineError(f"{path.name} has columns {sorted(cols)}: an LNQA-layout file needs \"image\" and "
                           "\"qa\" (or \"question\" and \"answer\")")
    rows: list[QARow] = []
    fix = "an LNQA-layout file has \"image\" (a struct with bytes) and \"qa\" (a list of {question, answer} texts)"
    for i, rec in enumerate(table.to_pylist()):
        img = rec["image"]
        data = img.get("bytes") if isinstance(img, dict) else img if isinstance(img, bytes) else None
        if not data:
            raise VitrineError(f"{path.name} row {i}: the image has no bytes (only images stored inside the "
                               "file are read)")
        if not isinstance(data, bytes):
            raise VitrineError(f"{path.name} row {i}: the image's bytes are {json_kind(data)}: {fix}")
        pairs = rec["qa"] if "qa" in rec else [{"question": rec["question"], "answer": rec["answer"]}]
        if pairs is not None and not isinstance(pairs, list):
            raise VitrineError(f"{path.name} row {i}: \"qa\" is {json_kind(pairs)}, not a list: {fix}")
        for j, qa in enumerate(pairs or []):
            if qa is not None and not isinstance(qa, dict):
                raise VitrineError(f"{path.name} row {i}: a \"qa\" entry is {json_kind(qa)}: {fix}")
            q, a = (qa or {}).get("question") or "", (qa or {}).get("answer") or ""
            if not isinstance(q, str) or not isinstance(a, str):
                raise VitrineError(f"{path.name} row {i}: a question or answer is "
                                   f"{json_kind(q if not isinstance(q, str) else a)}, not a text: {fix}")
            if not q.strip() or not a.strip():
                continue
            rows.append(QARow(id=f"{i}.{j}", image="", question=q.strip(), answers=(a.strip(),), lang="en",
                              attribute="lnqa", product=str(i), image_bytes=data))
    return QASet(rows=rows, root=path.parent, source=path)


def read_set(path: Path | str, limit: int | None = None) -> QASet:
    """A question set from a .jsonl file (or a folder holding test.jsonl) or an LNQA .parquet file."""
    path = Path(path)
    if path.is_dir():
        for name in ("test.jsonl", "val.jsonl"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise VitrineError(f"{path} has no test.jsonl: give a question set file (.jsonl or .parquet), e.g. "
                               "one `vitrine dataset build` wrote")
    if not path.is_file():
        raise VitrineError(f"question set not found: {path}")
    qa = read_lnqa_parquet(path) if path.suffix.lower() == ".parquet" else read_jsonl(path)
    if limit is not None:
        qa.rows = qa.rows[:max(0, limit)]
    if not qa.rows:
        raise VitrineError(f"{path.name} has no questions: build the set again or pick another split")
    return qa


def write_jsonl(path: Path, rows: list[QARow]) -> None:
    """All rows or nothing: a temp file renamed over ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(row.to_json() + "\n")


def repair_log(path: Path) -> bool:
    """Cut an append-only JSONL log back to its last whole line. A crash or a full disk can leave the last line
    half-written; appending after it would glue the next answer onto it and lose both. Returns whether a
    partial line was dropped (its question is then asked again)."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return False
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return False
            # the last newline: read backwards in blocks (a log may be large; a line is small)
            end, block = size, 1 << 16
            keep = 0
            while end > 0:
                start = max(0, end - block)
                f.seek(start)
                chunk = f.read(end - start)
                at = chunk.rfind(b"\n")
                if at >= 0:
                    keep = start + at + 1
                    break
                end = start
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    except FileNotFoundError:
        return False
    log.warning("%s: dropped a half-written last line (an interrupted run); its question is asked again",
                path.name)
    return True


def iter_answers(path: Path) -> Iterator[dict]:
    """Lines of an append-only JSONL log, skipping a line cut short by a crash (see repair_log)."""
    if not path.is_file():
        return
    with open(path, "rb") as f:
        for line in f:
            try:
                d = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                log.info("%s: skipped a partial line (an interrupted run)", path.name)
                continue
            if isinstance(d, dict):
                yield d
