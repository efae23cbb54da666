"""Readers of attribute-labelled catalogs, each yielding Products with the values as the catalog spells them
(dataset.py normalises, merges and balances them):

- Fashion Product Images (``styles.csv`` + ``images/ID.jpg``): its productDisplayName holds unquoted commas in
  the published file, so a line with more than ten fields keeps the rest as the name.
- DeepFashion-MultiModal (``labels/shape/shape_anno_all.txt``, ``labels/texture/fabric_ann.txt``,
  ``labels/texture/pattern_ann.txt``, ``images/``): numeric codes; a "NA" code means not visible: no question.
- A generic CSV: an image column and attribute columns, named on the command line.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import VitrineError
from engine.files import resolve_inside
from engine.language.vocabulary import canonical_attribute as _english_attribute
from engine.text_files import DecodedText, csv_rows, note, read_text
from export.datasets.questions import Item, Product

log = logging.getLogger(__name__)
STYLES_COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year",
                  "usage", "productDisplayName")


# how Brazilian store catalogs name the attribute columns (vocabulary.ATTRIBUTE_ALIASES has the English names)
PT_COLUMNS = {"cor": "colour", "cores": "colour", "estampa": "pattern", "padrao": "pattern", "padronagem": "pattern",
              "tecido": "fabric", "material": "fabric", "manga": "sleeve", "mangas": "sleeve",
              "comprimento da manga": "sleeve", "tipo de manga": "sleeve", "categoria": "garment", "tipo": "garment",
              "produto": "garment", "peca": "garment", "gola": "neckline", "decote": "neckline",
              "comprimento": "length"}


def canonical_attribute(column: str) -> str:
    """A catalog column's attribute: English or Portuguese names ("cor", "estampa", "padrão") -> the canonical
    attribute; accents and case do not matter."""
    import unicodedata
    key = " ".join(column.replace("_", " ").split()).lower()
    folded = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return PT_COLUMNS.get(folded) or _english_attribute(column)


@dataclass
class CatalogRead:
    products: list[Product]
    layout: str
    missing_images: int = 0           # rows whose image file is not there (skipped, counted)


def _read(path: Path) -> DecodedText:
    """A catalog's text file in the encodings spreadsheets export (UTF-8, else Windows/Latin-1: said once)."""
    decoded = read_text(path)
    if decoded.guessed:
        log.warning("%s", note(decoded, path.name))
    return decoded


def _image_ok(root: Path, relpath: str) -> bool:
    try:
        return resolve_inside(root, relpath).is_file()
    except VitrineError:
        return False


def read_styles_csv(path: Path) -> CatalogRead:
    root = path.parent
    products, missing = [], 0
    rows = csv_rows(_read(path), path.name)
    header = next(rows, (0, None))[1]
    if header is None:
        raise VitrineError(f"{path.name} is empty: a styles.csv starts with the header "
                           f"{','.join(STYLES_COLUMNS)}")
    cols = [h.strip() for h in header]
    need = [c for c in ("id", "articleType", "baseColour") if c not in cols]
    if need:
        raise VitrineError(f"{path.name} has no {', '.join(need)} column: it is not the Fashion Product Images "
                           "layout (use --layout csv --image-column ... --attributes ... for other catalogs)")
    width = len(cols)
    for _, fields in rows:
        if not fields:
            continue
        if len(fields) > width:                  # "Puma Men Grey, Black T-shirt": commas in the last column
            fields = fields[:width - 1] + [",".join(fields[width - 1:])]
        rec = dict(zip(cols, fields))
        pid = rec.get("id", "").strip()
        image = f"images/{pid}.jpg"
        if not pid or not _image_ok(root, image):
            missing += 1
            continue
        attrs = {"colour": rec.get("baseColour", "")}
        products.append(Product(id=pid, image=image, items=[Item(rec.get("articleType", ""), attrs)]))
    return CatalogRead(products, "fashion-product-images", missing)


# DeepFashion-MultiModal codes (its README); the last code of each list is "NA" (not visible: no question)
_SLEEVE = ["sleeveless", "short", "medium", "long", "", ""]
_NECKLINE = ["v-neck", "square", "round", "standing", "lapel", "suspenders", ""]
_FABRIC = ["denim", "cotton", "leather", "furry", "knitted", "chiffon", "other", ""]
_PATTERN = ["floral", "graphic", "striped", "plain", "checked", "other", "colour block", ""]
_PRODUCT = re.compile(r"^(.*?id_\d+)")


def _codes(path: Path) -> dict[str, list[int]]:
    out = {}
    if not path.is_file():
        return out
    for n, line in enumerate(_read(path).text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            out[parts[0]] = [int(p) for p in parts[1:]]
        except ValueError:
            raise VitrineError(f"{path.name} line {n}: expected an image name and numbers") from None
    return out


def _code(table: list[str], codes: list[int], i: int) -> str:
    if i >= len(codes) or not 0 <= codes[i] < len(table):
        return ""
    value = table[codes[i]]
    return "" if value == "other" else value


def read_deepfashion_mm(root: Path) -> CatalogRead:
    shape = _codes(root / "labels" / "shape" / "shape_anno_all.txt")
    fabric = _codes(root / "labels" / "texture" / "fabric_ann.txt")
    pattern = _codes(root / "labels" / "texture" / "pattern_ann.txt")
    if not (shape or fabric or pattern):
        raise VitrineError(f"{root} has no DeepFashion-MultiModal labels (labels/shape/shape_anno_all.txt, "
                           "labels/texture/fabric_ann.txt, labels/texture/pattern_ann.txt)")
    products, missing = [], 0
    for name in sorted(set(shape) | set(fabric) | set(pattern)):
        image = f"images/{name}"
        if not _image_ok(root, image):
            missing += 1
            continue
        items = []
        for i, region in enumerate(("upper", "lower", "outer")):
            attrs = {"fabric": _code(_FABRIC, fabric.get(name, []), i),
                     "pattern": _code(_PATTERN, pattern.get(name, []), i)}
            if region == "upper":
                attrs["sleeve"] = _code(_SLEEVE, shape.get(name, []), 0)
                attrs["neckline"] = _code(_NECKLINE, shape.get(name, []), 9)
            attrs = {k: v for k, v in attrs.items() if v}
            if attrs:
                items.append(Item(region, attrs))
        if items:
            m = _PRODUCT.match(name)
            products.append(Product(id=m.group(1) if m else Path(name).stem, image=image, items=items))
    return CatalogRead(products, "deepfashion-multimodal", missing)


def read_generic_csv(path: Path, image_column: str, attributes: list[str], id_column: str = "",
                     garment_column: str = "") -> CatalogRead:
    root = path.parent
    rows = csv_rows(_read(path), path.name)
    header = next(rows, (0, []))[1]
    cols = [c.strip() for c in header]
    wanted = [image_column] + attributes + [c for c in (id_column, garment_column) if c]
    need = [c for c in wanted if c not in cols]
    if need:
        raise VitrineError(f"{path.name} has no column {', '.join(repr(c) for c in need)} (it has: "
                           f"{', '.join(cols) or 'none'})")
    products, missing = [], 0
    for _, fields in rows:
        if not fields:
            continue
        rec = {c: (fields[i] if i < len(fields) else "") for i, c in enumerate(cols)}   # short rows: empty cells
        image = rec[image_column].strip()
        if not image or not _image_ok(root, image):
            missing += 1
            continue
        attrs = {canonical_attribute(a): rec[a] for a in attributes if canonical_attribute(a) != "garment"}
        garment = rec[garment_column] if garment_column else next(
            (rec[a] for a in attributes if canonical_attribute(a) == "garment"), "item")
        products.append(Product(id=rec[id_column].strip() if id_column else Path(image).stem, image=image,
                                items=[Item(garment, attrs)]))
    return CatalogRead(products, "csv", missing)


def read_catalog(source: Path, layout: str = "auto", image_column: str = "", attributes: list[str] | None = None,
                 id_column: str = "", garment_column: str = "") -> CatalogRead:
    """Detects the layout from what is there unless ``layout`` says it."""
    source = Path(source)
    if not source.exists():
        raise VitrineError(f"catalog not found: {source}")
    if layout == "auto":
        if source.is_dir() and (source / "labels").is_dir():
            layout = "deepfashion-multimodal"
        elif (source / "styles.csv").is_file() or source.name == "styles.csv":
            layout = "fashion-product-images"
        elif image_column:
            layout = "csv"
        else:
            raise VitrineError(f"{source}: not a styles.csv catalog nor a DeepFashion-MultiModal folder: for another "
                               "CSV give --image-column COL --attributes COL,COL")
    if layout == "fashion-product-images":
        return read_styles_csv(source / "styles.csv" if source.is_dir() else source)
    if layout == "deepfashion-multimodal":
        return read_deepfashion_mm(source)
    if layout == "csv":
        if source.is_dir() or not image_column or not attributes:
            raise VitrineError("a generic catalog is a CSV file with --image-column COL and --attributes COL,COL")
        return read_generic_csv(source, image_column, attributes, id_column, garment_column)
    raise VitrineError(f"unknown layout {layout!r}: use auto, fashion-product-images, deepfashion-multimodal or csv")
