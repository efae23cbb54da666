"""A catalog indexed by an earlier Vitrine (its photos embedded another way) is brought up to date by the app the
first time it searches, with a progress dialog, instead of refusing every search with a command to type."""
from __future__ import annotations

import sqlite3

import numpy as np

from desktop.catalog_worker import CatalogWorker
from engine.catalog.products_csv import read_products_csv
from engine.catalog.product_images import load_rgb
from engine.catalog.sqlite_catalog import DB_NAME, SqliteCatalog
from engine.errors import VitrineError
from engine.settings import Settings
from tests.helpers import small_csv


def _indexed_by_an_older_version(folder):
    read = read_products_csv(small_csv(folder / "shop", n=5))
    cat = SqliteCatalog(folder / "catalog", settings=Settings.from_env())
    cat.add(read.products)
    cat.close()
    db = sqlite3.connect(folder / "catalog" / DB_NAME)      # what an earlier version's index looks like
    old = db.execute("SELECT value FROM meta WHERE key = 'image_signature'").fetchone()[0].replace("+cut", "")
    db.execute("UPDATE meta SET value = ? WHERE key = 'image_signature'", (old + "-earlier",))
    db.execute("UPDATE products SET image_sig = ?", (old + "-earlier",))
    db.commit()
    db.close()
    return read.products


def test_an_outdated_catalog_is_reindexed_with_progress_before_the_first_search(qapp, tmp_path):
    products = _indexed_by_an_older_version(tmp_path)
    cat = SqliteCatalog(tmp_path / "catalog", settings=Settings.from_env())
    assert cat.outdated()
    cat.close()
    worker = CatalogWorker(tmp_path / "catalog", k=3, config=Settings.from_env())
    seen = []
    worker.updating.connect(lambda n: seen.append(("updating", n)))
    worker.progress.connect(lambda d, t: seen.append(("progress", d, t)))
    worker.updated.connect(lambda: seen.append(("updated",)))
    worker.results.connect(lambda _i, hits, _c: seen.append(("results", [h.product.id for h in hits])))
    worker.search_failed.connect(lambda _i, text: seen.append(("failed", text)))
    worker.search({"id": 0, "rgb": np.ascontiguousarray(load_rgb(products[2].image))})
    worker.shutdown()
    assert seen[0] == ("updating", 5) and ("updated",) in seen and ("progress", 5, 5) in seen, seen
    assert seen[-1][0] == "results" and seen[-1][1][0] == products[2].id, seen
    cat = SqliteCatalog(tmp_path / "catalog", settings=Settings.from_env())
    assert not cat.outdated() and cat.info().indexed == 5
    cat.close()


def test_pending_products_a_catalog_cannot_index_now_leave_the_indexed_ones_searchable(qapp, tmp_path, monkeypatch):
    read = read_products_csv(small_csv(tmp_path / "shop", n=5))
    cat = SqliteCatalog(tmp_path / "catalog", settings=Settings.from_env())
    cat.add(read.products[:4])
    cat.close()
    db = sqlite3.connect(tmp_path / "catalog" / DB_NAME)     # one product added, its vector not yet built
    db.execute("INSERT INTO products(id, title, attributes, image, image_mtime, added_at) VALUES (?, ?, '{}', ?, 0, 0)",
               (read.products[4].id, read.products[4].title, read.products[4].image))
    db.commit()
    db.close()

    def busy(self, *a, **k):                              # another process holds the catalog (or it is read-only)
        raise VitrineError("the catalog is busy: `vitrine catalog add` (pid 1) holds it; try again when it ends")
    monkeypatch.setattr(SqliteCatalog, "index", busy)
    worker = CatalogWorker(tmp_path / "catalog", k=3, config=Settings.from_env())
    seen = []
    worker.updating.connect(lambda n: seen.append(("updating", n)))
    worker.updated.connect(lambda: seen.append(("updated",)))
    worker.results.connect(lambda _i, hits, _c: seen.append(("results", [h.product.id for h in hits])))
    worker.search_failed.connect(lambda _i, text: seen.append(("failed", text)))
    worker.search({"id": 0, "rgb": np.ascontiguousarray(load_rgb(read.products[1].image))})
    worker.shutdown()
    assert seen[:2] == [("updating", 1), ("updated",)] and seen[-1][0] == "results", seen
    assert seen[-1][1][0] == read.products[1].id


def test_the_rebuilds_progress_dialog_closes_without_cancelling_what_follows(qapp, tmp_path):
    from desktop.panels.similar_panel import SimilarPanel
    from desktop.strings import Texts
    panel = SimilarPanel(tmp_path / "catalog", config=Settings.from_env())
    panel.retranslate(Texts("pt"))
    queued = []
    panel._add_csv = type("Queue", (), {"emit": lambda _self, path: queued.append(path)})()
    panel._on_updating(120)
    rebuild = panel.progress_dialog
    assert rebuild.isVisible() and "Atualizando o índice do catálogo (120 produtos)" in rebuild.labelText()
    panel.add_csv(str(tmp_path / "more.csv"))                    # a CSV added meanwhile shows its own dialog
    panel._on_updated()
    assert not rebuild.isVisible() and not panel.worker.cancel.is_set()
    assert panel.progress_dialog is not None and panel.progress_dialog is not rebuild and queued
    panel.shutdown()
