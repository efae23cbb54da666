"""The catalog, off the GUI thread: similar products for the frame or region on screen, and adding a CSV."""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from desktop.workers import _message
from engine.catalog.products_csv import read_products_csv
from engine.catalog.sqlite_catalog import open_catalog
from engine.errors import VitrineError
from engine.media.colors import dominant_colors
from engine.settings import Settings

log = logging.getLogger(__name__)


class CatalogWorker(QObject):
    results = Signal(int, object, object)     # request id, list[Hit], list[NamedColor]
    search_failed = Signal(int, str)
    progress = Signal(int, int)               # done, total
    added = Signal(object)                    # engine.catalog.base.AddReport
    add_failed = Signal(str)
    updating = Signal(int)                    # products to embed again before the first search (then progress)
    updated = Signal()

    def __init__(self, folder=None, k: int = 6, *, config: Settings):
        super().__init__()
        self.folder = folder                  # None: $VITRINE_HOME/catalog
        self.config = config                  # the app's settings, passed down by its window
        self.k = k
        self.catalog = None
        self.latest = 0                       # set by the GUI thread: older requests are dropped unseen
        self.cancel = threading.Event()

    def _open(self):
        if self.catalog is None:
            catalog = open_catalog(self.folder, None, self.config)
            self._bring_up_to_date(catalog)
            self.catalog = catalog
        return self.catalog

    def _bring_up_to_date(self, catalog) -> None:
        """A catalog indexed by an earlier Vitrine (photos embedded another way) or left half-indexed (the app
        closed while adding a CSV) is finished here, once, with the progress dialog, rather than refusing every
        search with a command for the clerk to type."""
        outdated = catalog.outdated()
        todo = catalog.info().products if outdated else catalog.info().pending
        if not todo:
            return
        self.cancel.clear()
        self.updating.emit(todo)
        try:
            catalog.index(reindex=outdated, progress=lambda _s, d, t: self.progress.emit(d, t or 0),
                          cancel=self.cancel)
        except VitrineError as e:
            if outdated:                  # its vectors cannot be searched: the clerk sees why
                raise
            # pending products on a read-only or busy catalog stay pending; the indexed ones are still searched
            log.warning("the catalog's %d pending products stay pending: %s", todo, e)
        finally:
            self.updated.emit()

    @Slot(object)
    def search(self, request: dict) -> None:
        if request["id"] != self.latest:      # the clerk moved on while we were busy
            return
        try:
            rgb = request["rgb"]
            colors = dominant_colors(rgb)
            catalog = self._open()
            hits = catalog.search_image(rgb, self.k) if catalog.info().indexed else []
        except BaseException as e:            # noqa: BLE001 - the GUI shows every failure
            self.search_failed.emit(request["id"], _message(e))
            return
        self.results.emit(request["id"], hits, colors)

    @Slot(str)
    def add_csv(self, path: str) -> None:
        self.cancel.clear()
        try:
            read = read_products_csv(path)
            report = self._open().add(read.products, progress=lambda _s, d, t: self.progress.emit(d, t or 0),
                                      cancel=self.cancel)
            report.skipped[:0] = read.skipped
            report.skipped += report.failed   # unreadable images: counted with the rows not added (show --failed)
        except BaseException as e:            # noqa: BLE001
            self.add_failed.emit(_message(e))
            return
        self.added.emit(report)

    @Slot()
    def shutdown(self) -> None:
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None
