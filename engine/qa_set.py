"""Question sets: one labelled question about one image per row, read from JSONL (what `vitrine dataset` writes)
or from an LNQA-layout parquet file (vikhyatk/lnqa: an image column and a list of question/answer pairs).

The evaluator reads sets through here; `export.dataset` writes them. A row's image path is relative to the file
and must stay inside the set's folder.
"""
from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import VitrineError
from .files import atomic_path
from .translate import LANGS

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
        from .frames import read_image
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


def resolve_inside(root: Path, relpath: str) -> Path:
    """``root/relpath``, refused when it points outside ``root`` (``..``, an absolute path, a link out)."""
    root = root.resolve()
    if not relpath:
        raise VitrineError("a row has no image path: every row needs an \"image\" relative to the set's folder")
    path = (root / relpath).resolve()
    if path != root and root not in path.parents:
        raise VitrineError(f"image path {relpath!r} points outside the set's folder {root}: keep images inside it")
    return path


def _row_from_json(d: object, where: str) -> QARow:
    if not isinstance(d, dict):
        raise VitrineError(f"{where}: each line must be a JSON object with image, question and answers")
    missing = [k for k in ("image", "question", "answers") if k not in d]
    if missing:
        raise VitrineError(f"{where}: no {', '.join(missing)}: each line needs image, question and answers "
                           "(a list of acceptable answers)")
    answers = d["answers"]
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers) or \
            not [a for a in answers if a.strip()]:
        raise VitrineError(f"{where}: \"answers\" must be a non-empty list of texts")
    if not isinstance(d["question"], str) or not d["question"].strip():
        raise VitrineError(f"{where}: the question is empty")
    lang = str(d.get("lang") or "en")
    if lang not in LANGS:
        raise VitrineError(f"{where}: unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return QARow(id=str(d.get("id") or where), image=str(d["image"]), question=d["question"].strip(),
                 answers=tuple(a.strip() for a in answers if a.strip()), lang=lang,
                 attribute=str(d.get("attribute") or ""), product=str(d.get("product") or ""))


def read_jsonl(path: Path) -> QASet:
    """Every row of a JSONL question set; a malformed line is an error naming its line number."""
    rows: list[QARow] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise VitrineError(f"{path.name} line {n} is not JSON ({e.msg}): each line must be one JSON "
                                   "object") from None
            rows.append(_row_from_json(d, f"{path.name} line {n}"))
    return QASet(rows=rows, root=_image_root(path), source=path)


def _image_root(path: Path) -> Path:
    """Where a JSONL set's images are: set.json's "images" (a catalog folder), else the file's own folder."""
    info = path.parent / SET_FILE
    if not info.is_file():
        return path.parent
    try:
        images = json.loads(info.read_text(encoding="utf-8")).get("images") or "."
    except (json.JSONDecodeError, AttributeError):
        raise VitrineError(f"{info} is damaged: build the question set again") from None
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
    for i, rec in enumerate(table.to_pylist()):
        img = rec["image"]
        data = img.get("bytes") if isinstance(img, dict) else img if isinstance(img, bytes) else None
        if not data:
            raise VitrineError(f"{path.name} row {i}: the image has no bytes (only images stored inside the "
                               "file are read)")
        pairs = rec["qa"] if "qa" in rec else [{"question": rec["question"], "answer": rec["answer"]}]
        for j, qa in enumerate(pairs or []):
            q, a = (qa or {}).get("question") or "", (qa or {}).get("answer") or ""
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


def iter_answers(path: Path) -> Iterator[dict]:
    """Lines of an append-only JSONL log, skipping a last line cut short by a crash."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                log.info("%s: skipped a partial line (an interrupted run)", path.name)
