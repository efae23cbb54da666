"""The store's catalog: products, their attributes, images and vectors, and similar-product search.

``Catalog`` is the interface the app and the CLI use (a chain could later put a shared server behind it);
``SqliteCatalog`` is the embedded default: one folder with one SQLite file (rows, attributes, thumbnails and
vectors, written in transactions) and two derived usearch indexes (see engine.vector_index for why).

Indexing is resumable: rows go in first (one transaction), then their vectors in committed batches; a killed run
leaves rows marked pending and the next run carries on. The catalog records which embedder built its vectors and
refuses to mix: a different embedder means `vitrine catalog index --reindex`.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .catalog_csv import CatalogProduct
from .database import is_damaged, open_database
from .embed import TextEmbedder
from .errors import VitrineError, os_error_message, sqlite_error_message
from .files import store_lock
from .settings import Settings
from .similarity import ProductSignature
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

DB_NAME = "catalog.sqlite3"
DAMAGED = "nothing was changed; move the catalog folder away and add the CSV again"
BATCH = 32
THUMB = 160
# (stage label, done, total or None)
ProgressFn = Callable[[str, int, "int | None"], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    rowid INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}',
    image TEXT NOT NULL,
    image_mtime REAL NOT NULL DEFAULT 0,
    thumbnail BLOB,
    image_vec BLOB,
    image_sig TEXT NOT NULL DEFAULT '',
    text_vec BLOB,
    text_sig TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS products_image_sig ON products(image_sig);
"""


@dataclass
class Product:
    id: str
    title: str
    attributes: dict[str, str]
    image: str
    thumbnail: bytes | None = None          # a small JPEG, so results show even when the image moved

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "attributes": self.attributes, "image": self.image}


@dataclass
class Hit:
    product: Product
    score: float                            # cosine similarity, 1 = the same

    def to_dict(self) -> dict:
        return {**self.product.to_dict(), "score": round(self.score, 4)}


@dataclass
class AddReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (id, why): not fatal

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "indexed": self.indexed,
                "skipped": [{"id": i, "why": w} for i, w in self.skipped]}


@dataclass
class CatalogInfo:
    path: str
    products: int
    indexed: int
    pending: int
    image_embedder: str
    text_embedder: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class Catalog(ABC):
    @abstractmethod
    def add(self, products: list[CatalogProduct], progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> AddReport: ...

    @abstractmethod
    def index(self, reindex: bool = False, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> int: ...

    @abstractmethod
    def remove(self, ids: Iterable[str]) -> int: ...

    @abstractmethod
    def get(self, product_id: str) -> Product | None: ...

    @abstractmethod
    def search_image(self, rgb: np.ndarray, k: int = 5, mask: np.ndarray | None = None) -> list[Hit]: ...

    @abstractmethod
    def search_text(self, query: str, k: int = 5) -> list[Hit]: ...

    @abstractmethod
    def info(self) -> CatalogInfo: ...

    def close(self) -> None:
        pass


def searchable_text(title: str, attributes: dict[str, str]) -> str:
    """The product as words for the text embedder: its title, its values, and Portuguese for the values the
    vocabulary knows ("red dress" also reads "vestido vermelho"), so a query in either language finds it."""
    from . import vocabulary as v
    words = [title] + [val for val in attributes.values()]
    canon = {v.canonical_attribute(k): v.normalise_value(v.canonical_attribute(k), val)
             for k, val in attributes.items()}
    garment = canon.get("garment") or next((g for g in v.GARMENTS if g in title.lower().split()), "")
    noun = v.GARMENTS.get(garment)
    if noun:
        pt = [noun.pt]
        for attr, table in (("colour", v.COLOURS), ("pattern", v.PATTERNS)):
            adj = table.get(canon.get(attr, ""))
            if adj:
                pt.append(adj.agree(noun))
        words.append(" ".join(pt))
    return " | ".join(w for w in words if w)


def _load_rgb(path: str) -> np.ndarray | None:
    import cv2
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if img is None else np.ascontiguousarray(img[:, :, ::-1])


def _thumbnail(rgb: np.ndarray) -> bytes:
    import cv2
    h, w = rgb.shape[:2]
    s = THUMB / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else rgb
    ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else b""


class SqliteCatalog(Catalog):
    """A catalog folder: ``catalog.sqlite3`` + ``image.usearch`` + ``text.usearch`` (+ their stamps)."""

    def __init__(self, folder: Path | str, signature: Callable[[], ProductSignature] | None = None,
                 text_embedder: Callable[[], TextEmbedder] | None = None):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self._signature_factory = signature or _default_signature
        self._text_factory = text_embedder or _default_text_embedder
        self._signature: ProductSignature | None = None
        self._text: TextEmbedder | None = None
        self._indexes: dict[str, VectorIndex] = {}
        self._lock = threading.RLock()
        if self.folder.exists() and not self.folder.is_dir():
            raise VitrineError(f"{self.folder} is a file: a catalog is a folder (give a folder path)")
        self.db = open_database(self.path, SCHEMA, "catalog", DAMAGED)

    # ---- embedders, loaded on first need --------------------------------------------------------------------
    @property
    def signature(self) -> ProductSignature:
        if self._signature is None:
            self._signature = self._signature_factory()
        return self._signature

    @property
    def text_embedder(self) -> TextEmbedder:
        if self._text is None:
            self._text = self._text_factory()
        return self._text

    # ---- small helpers ----------------------------------------------------------------------------------------
    def _meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                        "excluded.value", (key, value))

    def _bump(self) -> None:
        self._set_meta("generation", str(int(self._meta("generation", "0")) + 1))

    @staticmethod
    def _product(row) -> Product:
        return Product(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def _write(self, action: str):
        return store_lock(self.folder, action, f"the catalog {self.folder}")

    def _sql(self, doing: str):
        return _SqlErrors(self.path, doing)

    # ---- writing ------------------------------------------------------------------------------------------------
    def _check_embedder(self, reindex: bool) -> None:
        built = self._meta("image_signature")
        current = self.signature.info.id
        if built and built != current and not reindex:
            n = self.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            raise VitrineError(f"the catalog was indexed with {built}, not {current}: run `vitrine catalog index "
                               f"--reindex` to rebuild its {n} vectors (nothing was changed)")

    def add(self, products: list[CatalogProduct], progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> AddReport:
        report = AddReport()
        with self._write(f"catalog add ({len(products)} products)"), self._lock:
            self._check_embedder(reindex=False)
            with self._sql("adding products"):
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    if not self._meta("image_signature"):
                        self._set_meta("image_signature", self.signature.info.id)
                    for p in products:
                        mtime = Path(p.image).stat().st_mtime
                        attrs = json.dumps(p.attributes, ensure_ascii=False, sort_keys=True)
                        old = self.db.execute("SELECT title, attributes, image, image_mtime FROM products WHERE "
                                              "id = ?", (p.id,)).fetchone()
                        if old is None:
                            self.db.execute("INSERT INTO products(id, title, attributes, image, image_mtime, "
                                            "added_at) VALUES (?, ?, ?, ?, ?, ?)",
                                            (p.id, p.title, attrs, p.image, mtime, time.time()))
                            report.added += 1
                        elif tuple(old) == (p.title, attrs, p.image, mtime):
                            report.unchanged += 1
                        else:
                            image_changed = (old[2], old[3]) != (p.image, mtime)
                            self.db.execute(
                                "UPDATE products SET title = ?, attributes = ?, image = ?, image_mtime = ?, "
                                "text_sig = '' " + (", image_sig = '', thumbnail = NULL " if image_changed else "")
                                + "WHERE id = ?", (p.title, attrs, p.image, mtime, p.id))
                            report.updated += 1
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            report.indexed, failed = self._index_pending(progress, cancel)
            report.skipped.extend(failed)
        return report

    def index(self, reindex: bool = False, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> int:
        """Embed every pending product (after a killed run, or all of them with ``reindex``)."""
        with self._write("catalog index"), self._lock:
            self._check_embedder(reindex)
            if reindex:
                with self._sql("starting the re-index"):
                    self._set_meta("image_signature", self.signature.info.id)
            n, _ = self._index_pending(progress, cancel)
            return n

    def _pending(self) -> list[tuple]:
        sig = self.signature.info.id
        text_sig = self.text_embedder.info.id
        return self.db.execute("SELECT rowid, id, title, attributes, image, image_sig = ?, text_sig = ? FROM "
                               "products WHERE image_sig != ? OR text_sig != ? ORDER BY rowid",
                               (sig, text_sig, sig, text_sig)).fetchall()

    def _index_pending(self, progress: ProgressFn | None, cancel: threading.Event | None) \
            -> tuple[int, list[tuple[str, str]]]:
        sig, text_sig = self.signature.info.id, self.text_embedder.info.id
        pending = self._pending()
        failed: list[tuple[str, str]] = []
        done = indexed = 0
        if progress:
            progress("indexing", 0, len(pending))
        for start in range(0, len(pending), BATCH):
            if cancel is not None and cancel.is_set():
                break
            batch = pending[start:start + BATCH]
            image_rows, images = [], []
            for row in batch:
                if row[5]:
                    continue
                rgb = _load_rgb(row[4])
                if rgb is None:
                    failed.append((row[1], f"cannot read the image {row[4]}"))
                    continue
                image_rows.append(row)
                images.append(rgb)
            vectors = self.signature.vectors(images) if images else None
            text_rows = [row for row in batch if not row[6]]
            texts = self.text_embedder.embed_texts(
                [searchable_text(r[2], json.loads(r[3])) for r in text_rows]) if text_rows else None
            with self._sql("saving vectors"):
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for row, rgb, vec in zip(image_rows, images, vectors if vectors is not None else []):
                        self.db.execute("UPDATE products SET image_vec = ?, image_sig = ?, thumbnail = ? WHERE "
                                        "rowid = ?", (vec.astype(np.float32).tobytes(), sig, _thumbnail(rgb),
                                                      row[0]))
                    for row, vec in zip(text_rows, texts if texts is not None else []):
                        self.db.execute("UPDATE products SET text_vec = ?, text_sig = ? WHERE rowid = ?",
                                        (vec.astype(np.float32).tobytes(), text_sig, row[0]))
                    self._bump()
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            self._update_indexes(image_rows, vectors, text_rows, texts)
            done += len(batch)
            indexed += len(image_rows)
            if progress:
                progress("indexing", done, len(pending))
        self._save_indexes()
        return indexed, failed

    def remove(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        with self._write(f"catalog remove ({len(ids)})"), self._lock, self._sql("removing products"):
            rows = [r[0] for i in ids for r in self.db.execute("SELECT rowid FROM products WHERE id = ?", (i,))]
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany("DELETE FROM products WHERE rowid = ?", [(r,) for r in rows])
                self._bump()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            for idx in self._indexes.values():
                idx.remove(rows)
            self._save_indexes()
            return len(rows)

    # ---- vector indexes (derived from the rows) ------------------------------------------------------------
    def _stamp(self, space: str) -> str:
        sig = self.signature.info.id if space == "image" else self.text_embedder.info.id
        return f"{sig}@{self._meta('generation', '0')}"

    def _index_for(self, space: str) -> VectorIndex:
        if space in self._indexes:
            return self._indexes[space]
        dim = self.signature.info.dim if space == "image" else self.text_embedder.info.dim
        stamp = self._stamp(space)
        path = self.folder / f"{space}.usearch"
        idx = VectorIndex.load(path, dim, stamp)
        if idx is None:
            idx = VectorIndex.build(dim, self._vectors(space))
            try:
                idx.save(path, stamp)
            except OSError as e:            # a read-only catalog still searches; it rebuilds next time
                log.warning("could not save the %s index: %s", space, e)
        self._indexes[space] = idx
        return idx

    def _vectors(self, space: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        sig = self.signature.info.id if space == "image" else self.text_embedder.info.id
        col, sig_col = ("image_vec", "image_sig") if space == "image" else ("text_vec", "text_sig")
        cur = self.db.execute(f"SELECT rowid, {col} FROM products WHERE {sig_col} = ?", (sig,))
        while rows := cur.fetchmany(4096):
            yield (np.array([r[0] for r in rows], np.uint64),
                   np.stack([np.frombuffer(r[1], np.float32) for r in rows]))

    def _update_indexes(self, image_rows, vectors, text_rows, texts) -> None:
        if "image" in self._indexes and image_rows:
            self._indexes["image"].add(np.array([r[0] for r in image_rows]), vectors)
        if "text" in self._indexes and text_rows:
            self._indexes["text"].add(np.array([r[0] for r in text_rows]), texts)

    def _save_indexes(self) -> None:
        for space in ("image", "text"):
            if space in self._indexes:
                try:
                    self._indexes[space].save(self.folder / f"{space}.usearch", self._stamp(space))
                except OSError as e:
                    log.warning("could not save the %s index: %s", space, e)

    # ---- reading ---------------------------------------------------------------------------------------------
    def _hits(self, matches: list[tuple[int, float]]) -> list[Hit]:
        hits = []
        for rowid, score in matches:
            row = self.db.execute("SELECT id, title, attributes, image, thumbnail FROM products WHERE rowid = ?",
                                  (rowid,)).fetchone()
            if row is not None:             # removed by another process since the index was loaded
                hits.append(Hit(self._product(row), score))
        return hits

    def search_image(self, rgb: np.ndarray, k: int = 5, mask: np.ndarray | None = None) -> list[Hit]:
        with self._lock, self._sql("searching the catalog"):
            self._check_embedder(reindex=False)
            vec = self.signature.vectors([rgb], [mask])[0]
            return self._hits(self._index_for("image").search(vec, k))

    def search_vector(self, vec: np.ndarray, k: int = 5) -> list[Hit]:
        """Products nearest a vector made with ``self.signature`` (the look embeds its regions once, in a batch)."""
        with self._lock, self._sql("searching the catalog"):
            self._check_embedder(reindex=False)
            return self._hits(self._index_for("image").search(np.asarray(vec, np.float32), k))

    def search_text(self, query: str, k: int = 5) -> list[Hit]:
        query = " ".join((query or "").split())
        if not query:
            raise VitrineError("the search text is empty: type what you are looking for (\"vestido vermelho\")")
        with self._lock, self._sql("searching the catalog"):
            vec = self.text_embedder.embed_texts([query], query=True)[0]
            return self._hits(self._index_for("text").search(vec, k))

    def get(self, product_id: str) -> Product | None:
        with self._lock, self._sql("reading the catalog"):
            row = self.db.execute("SELECT id, title, attributes, image, thumbnail FROM products WHERE id = ?",
                                  (product_id,)).fetchone()
        return self._product(row) if row else None

    def info(self) -> CatalogInfo:
        with self._lock, self._sql("reading the catalog"):
            total = self.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            built = self._meta("image_signature")
            indexed = self.db.execute("SELECT COUNT(*) FROM products WHERE image_sig = ? AND image_sig != ''",
                                      (built,)).fetchone()[0]
            text = self.db.execute("SELECT text_sig FROM products WHERE text_sig != '' LIMIT 1").fetchone()
        return CatalogInfo(str(self.folder), total, indexed, total - indexed, built, text[0] if text else "")

    def close(self) -> None:
        with self._lock:
            for e in (self._signature.embedder if self._signature else None, self._text):
                if e is not None:
                    e.close()
            self.db.close()


class _SqlErrors:
    """SQLite's errors as one line saying what was being done (the rows stay as the last commit left them)."""

    def __init__(self, path: Path, doing: str):
        self.path, self.doing = path, doing

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if isinstance(e, sqlite3.DatabaseError) and is_damaged(e):
            raise VitrineError(f"the catalog file {self.path} is damaged ({e}): {DAMAGED}") from None
        if isinstance(e, sqlite3.Error):
            raise VitrineError(sqlite_error_message(e, self.path, self.doing)) from None
        if isinstance(e, OSError) and not isinstance(e, VitrineError):
            raise VitrineError(os_error_message(e, self.doing)) from None
        return False


def _default_signature() -> ProductSignature:
    from .embed import load_image_embedder
    return ProductSignature(load_image_embedder())


def _default_text_embedder() -> TextEmbedder:
    from .embed import load_text_embedder
    return load_text_embedder()


def default_folder(settings: Settings | None = None) -> Path:
    return (settings or Settings.from_env()).home / "catalog"


def open_catalog(folder: Path | str | None = None, image_embedder: str | None = None) -> SqliteCatalog:
    """The catalog in ``folder`` (default: $VITRINE_HOME/catalog), with the named image embedder."""
    folder = Path(folder) if folder else default_folder()
    if image_embedder:
        from .embed import load_image_embedder
        return SqliteCatalog(folder, signature=lambda: ProductSignature(load_image_embedder(image_embedder)))
    return SqliteCatalog(folder)
