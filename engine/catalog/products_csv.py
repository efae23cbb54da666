"""A store's product list as a CSV: an id and an image per row, a title, and any attribute columns.

Images are named relative to the CSV's folder and must stay inside it. A row whose image is missing is skipped
and reported (the rest are added); a file without id or image columns, or with an id twice, is refused whole.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import VitrineError
from engine.files import resolve_inside
from engine.text_files import csv_rows, note, read_text

ID_COLUMNS = ("id", "sku", "product_id", "codigo", "código")
IMAGE_COLUMNS = ("image", "image_path", "imagem", "foto")
TITLE_COLUMNS = ("title", "name", "nome", "titulo", "título", "productdisplayname")
MAX_FIELD = 2000
log = logging.getLogger(__name__)


@dataclass
class CatalogProduct:
    id: str
    title: str
    image: str                                   # absolute path, resolved inside the CSV's folder
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class CsvRead:
    products: list[CatalogProduct]
    skipped: list[tuple[str, str]]               # (id or row, why)
    note: str = ""                                # "read as Windows/Latin-1" when the file was not UTF-8


def _column(header: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def read_products_csv(path: Path | str) -> CsvRead:
    path = Path(path)
    if not path.is_file():
        raise VitrineError(f"{path} is not a file: give the catalog CSV (columns id, image, title, attributes...)")
    decoded = read_text(path)
    if decoded.guessed:
        log.warning("%s", note(decoded, path.name))
    try:
        dialect = csv.Sniffer().sniff(decoded.text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    numbered = list(csv_rows(decoded, path.name, dialect=dialect))
    lines = [n for n, _ in numbered]
    rows = [fields for _, fields in numbered]
    if not rows:
        raise VitrineError(f"{path.name} is empty: the first line names the columns (id, image, title, ...)")
    header = [h.strip() for h in rows[0]]
    id_col, image_col = _column(header, ID_COLUMNS), _column(header, IMAGE_COLUMNS)
    missing = [what for what, col in (("id", id_col), ("image", image_col)) if col is None]
    if missing:
        raise VitrineError(f"{path.name} has no {' or '.join(missing)} column (it has: {', '.join(header)}): the "
                           "catalog CSV needs an id and an image column (a path relative to the CSV's folder)")
    title_col = _column(header, TITLE_COLUMNS)
    root = path.parent
    products, skipped, seen = [], [], {}
    for n, fields in zip(lines[1:], rows[1:]):
        if not any(x.strip() for x in fields):
            continue
        rec = {h: (fields[i].strip() if i < len(fields) else "") for i, h in enumerate(header)}
        pid = rec[id_col]
        if not pid:
            skipped.append((f"line {n}", "no id"))
            continue
        if len(pid) > 200 or any(len(v) > MAX_FIELD for v in rec.values()):
            skipped.append((pid[:40], "a field is too long"))
            continue
        if pid in seen:
            raise VitrineError(f"{path.name} has id {pid!r} twice (lines {seen[pid]} and {n}): ids must be unique; "
                               "nothing was added")
        seen[pid] = n
        try:
            image = resolve_inside(root, rec[image_col])
        except VitrineError as e:
            skipped.append((pid, str(e)))
            continue
        if not image.is_file():
            skipped.append((pid, f"image not found: {rec[image_col]}"))
            continue
        attrs = {h: v for h, v in rec.items() if h not in (id_col, image_col, title_col) and v}
        products.append(CatalogProduct(pid, rec[title_col] if title_col else "", str(image), attrs))
    return CsvRead(products, skipped, note(decoded, path.name))
