"""The store's catalog: products, their attributes, images and vectors, and similar-product search.

``Catalog`` is the interface the app and the CLI use (a chain could later put a shared server behind it);
``SqliteCatalog`` is the embedded default: one folder with one SQLite file (rows, attributes, thumbnails and
vectors, written in transactions) and two derived usearch indexes (see engine.catalog.vector_index for why).

Indexing is resumable: rows go in first (one transaction), then their vectors in committed batches; a killed run
leaves rows marked pending and the next run carries on. The catalog records which embedder built its vectors and
refuses to mix: a different embedder means `vitrine catalog index --reindex`.

A product whose image cannot be read (damaged, too large, too small) is recorded as failed with its reason and
left out of the vectors; the others are indexed, and later runs skip it until its image file changes
(`vitrine catalog show --failed` lists them).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from engine.catalog.base import (AddReport, Catalog, CatalogInfo, FailedProduct, Hit, IndexReport, Product,
                                 ProgressFn)
from engine.catalog.embed import (DEFAULT_IMAGE_EMBEDDER, DEFAULT_TEXT_EMBEDDER, TextEmbedder, load_image_embedder,
                                  load_text_embedder)
from engine.catalog.product_images import image_mtime, load_rgb, thumbnail
from engine.catalog.product_text import searchable_text
from engine.catalog.products_csv import CatalogProduct
from engine.catalog.similarity import ProductSignature
from engine.catalog.vector_index import VectorIndex
from engine.database import SqlErrors, open_database
from engine.errors import VitrineError
from engine.files import store_lock
from engine.settings import Settings

log = logging.getLogger(__name__)

DB_NAME = "catalog.sqlite3"
DAMAGED = "nothing was changed; move the catalog folder away and add the CSV again"
BATCH = 32

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
-- products whose image could not be read: retried when the image file changes (its mtime), or on --reindex
CREATE TABLE IF NOT EXISTS failures (
    product INTEGER PRIMARY KEY,            -- products.rowid
    reason TEXT NOT NULL,
    image_mtime REAL NOT NULL,
    at REAL NOT NULL
);
"""


class SqliteCatalog(Catalog):
    """A catalog folder: ``catalog.sqlite3`` + ``image.usearch`` + ``text.usearch`` (+ their stamps)."""

    def __init__(self, folder: Path | str, signature: Callable[[], ProductSignature] | None = None,
                 text_embedder: Callable[[], TextEmbedder] | None = None, *, settings: Settings):
        """``settings``: the caller's, read once at its entry point (the CLI, the app, the server, a benchmark's
        main), for the default embedders' files, threads and device."""
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self.settings = settings
        self._signature_factory = signature or (lambda: _default_signature(self.settings))
        self._text_factory = text_embedder or (lambda: _default_text_embedder(self.settings))
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
        return SqlErrors(self.path, doing, "catalog file", DAMAGED)

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
                        mtime = image_mtime(p.image)
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
                            if image_changed:       # a new picture gets a new chance
                                self.db.execute("DELETE FROM failures WHERE product = (SELECT rowid FROM products "
                                                "WHERE id = ?)", (p.id,))
                            report.updated += 1
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            report.indexed, report.failed = self._index_pending(progress, cancel)
        return report

    def index(self, reindex: bool = False, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> IndexReport:
        """Embed every pending product (after a killed run, or all of them with ``reindex``, which also retries
        the failed ones)."""
        with self._write("catalog index"), self._lock:
            self._check_embedder(reindex)
            if reindex:
                with self._sql("starting the re-index"):
                    self._set_meta("image_signature", self.signature.info.id)
                    self.db.execute("DELETE FROM failures")
            return IndexReport(*self._index_pending(progress, cancel))

    def _pending(self) -> list[tuple]:
        """Rows whose vectors are missing or stale, except those that failed on the image file as it still is."""
        sig = self.signature.info.id
        text_sig = self.text_embedder.info.id
        rows = self.db.execute("SELECT p.rowid, p.id, p.title, p.attributes, p.image, p.image_sig = ?, "
                               "p.text_sig = ?, f.image_mtime FROM products p LEFT JOIN failures f ON f.product = "
                               "p.rowid WHERE p.image_sig != ? OR p.text_sig != ? ORDER BY p.rowid",
                               (sig, text_sig, sig, text_sig)).fetchall()
        return [r[:7] for r in rows if r[7] is None or image_mtime(r[4]) != r[7]]

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
            image_rows, images, bad = [], [], []
            for row in batch:
                if row[5]:
                    continue
                try:                        # one at a time, scaled down as decoded: a batch holds no originals
                    rgb = load_rgb(row[4], self.signature.embedder.decode_side)
                except VitrineError as e:   # this product fails, with its reason; the others go on
                    bad.append((row, str(e), image_mtime(row[4])))
                    continue
                image_rows.append(row)
                images.append(rgb)
            vectors = self.signature.vectors(images) if images else None
            failed_ids = {row[0] for row, _, _ in bad}
            text_rows = [row for row in batch if not row[6] and row[0] not in failed_ids]
            texts = self.text_embedder.embed_texts(
                [searchable_text(r[2], json.loads(r[3])) for r in text_rows]) if text_rows else None
            with self._sql("saving vectors"):
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for row, rgb, vec in zip(image_rows, images, vectors if vectors is not None else []):
                        self.db.execute("UPDATE products SET image_vec = ?, image_sig = ?, thumbnail = ? WHERE "
                                        "rowid = ?", (vec.astype(np.float32).tobytes(), sig, thumbnail(rgb),
                                                      row[0]))
                    for row, vec in zip(text_rows, texts if texts is not None else []):
                        self.db.execute("UPDATE products SET text_vec = ?, text_sig = ? WHERE rowid = ?",
                                        (vec.astype(np.float32).tobytes(), text_sig, row[0]))
                    self.db.executemany("DELETE FROM failures WHERE product = ?", [(r[0],) for r in image_rows])
                    self.db.executemany("INSERT OR REPLACE INTO failures(product, reason, image_mtime, at) VALUES "
                                        "(?, ?, ?, ?)", [(r[0], why, m, time.time()) for r, why, m in bad])
                    self._bump()
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            self._update_indexes(image_rows, vectors, text_rows, texts)
            for row, why, _ in bad:
                log.info("product %s failed: %s", row[1], why)
                failed.append((row[1], why))
            del images, vectors
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
                self.db.executemany("DELETE FROM failures WHERE product = ?", [(r,) for r in rows])
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
    def _hits(self, matches: list[tuple[int, float]], vectors: bool = False) -> list[Hit]:
        hits = []
        for rowid, score in matches:
            row = self.db.execute("SELECT id, title, attributes, image, thumbnail" + (", image_vec" if vectors else "")
                                  + " FROM products WHERE rowid = ?", (rowid,)).fetchone()
            if row is not None:             # removed by another process since the index was loaded
                vec = np.frombuffer(row[5], np.float32) if vectors and row[5] else None
                hits.append(Hit(self._product(row[:5]), score, vec))
        return hits

    def search_image(self, rgb: np.ndarray, k: int = 5, mask: np.ndarray | None = None) -> list[Hit]:
        with self._lock, self._sql("searching the catalog"):
            self._check_embedder(reindex=False)
            vec = self.signature.vectors([rgb], [mask])[0]
            return self._hits(self._index_for("image").search(vec, k))

    def search_vector(self, vec: np.ndarray, k: int = 5, vectors: bool = False) -> list[Hit]:
        """Products nearest a vector made with ``self.signature`` (the look embeds its regions once, in a batch);
        ``vectors``: each hit carries its product's vector (the look reads the photo's colours from it)."""
        with self._lock, self._sql("searching the catalog"):
            self._check_embedder(reindex=False)
            return self._hits(self._index_for("image").search(np.asarray(vec, np.float32), k), vectors)

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

    def failed(self) -> list[FailedProduct]:
        """Products whose image could not be read, with the reason (oldest first)."""
        with self._lock, self._sql("reading the catalog"):
            rows = self.db.execute("SELECT p.id, p.image, f.reason, f.at FROM failures f JOIN products p ON "
                                   "p.rowid = f.product ORDER BY p.rowid").fetchall()
        return [FailedProduct(*r) for r in rows]

    def outdated(self) -> bool:
        with self._lock, self._sql("reading the catalog"):
            built = self._meta("image_signature")
        return bool(built) and built != self.signature.info.id

    def info(self) -> CatalogInfo:
        with self._lock, self._sql("reading the catalog"):
            total = self.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
            built = self._meta("image_signature")
            indexed = self.db.execute("SELECT COUNT(*) FROM products WHERE image_sig = ? AND image_sig != ''",
                                      (built,)).fetchone()[0]
            failed = self.db.execute("SELECT COUNT(*) FROM failures f JOIN products p ON p.rowid = f.product "
                                     "WHERE p.image_sig != ? OR p.image_sig = ''", (built,)).fetchone()[0]
            text = self.db.execute("SELECT text_sig FROM products WHERE text_sig != '' LIMIT 1").fetchone()
        return CatalogInfo(str(self.folder), total, indexed, total - indexed - failed, failed, built,
                           text[0] if text else "")

    def close(self) -> None:
        with self._lock:
            for e in (self._signature.embedder if self._signature else None, self._text):
                if e is not None:
                    e.close()
            self.db.close()


def _default_signature(settings: Settings, name: str = DEFAULT_IMAGE_EMBEDDER) -> ProductSignature:
    return ProductSignature(load_image_embedder(name, settings))


def _default_text_embedder(settings: Settings) -> TextEmbedder:
    return load_text_embedder(DEFAULT_TEXT_EMBEDDER, settings)


def default_folder(settings: Settings) -> Path:
    return settings.home / "catalog"


def open_catalog(folder: Path | str | None, image_embedder: str | None, settings: Settings) -> SqliteCatalog:
    """The catalog in ``folder`` (None: $VITRINE_HOME/catalog), with the named image embedder (None: the
    default one)."""
    folder = Path(folder) if folder else default_folder(settings)
    if image_embedder:
        return SqliteCatalog(folder, signature=lambda: _default_signature(settings, image_embedder), settings=settings)
    return SqliteCatalog(folder, settings=settings)
