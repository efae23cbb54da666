"""The look and find-in-video, off the GUI thread.

``LookWorker`` lives in the engine's thread (it is moved there, not given its own): it reads the garments of a
frame with the model the engine has loaded (when one is), one request at a time with the questions, so the model
is never used by two threads at once; without a model it gives the regions, colours and catalog matches.
``FindWorker`` has its own thread: indexing a video takes seconds per minute of video and must not hold questions
up; it never uses the model.
"""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal, Slot

from desktop.workers import _message
from engine.catalog.sqlite_catalog import DB_NAME, default_folder, open_catalog
from engine.look.find import find, query_for
from engine.look.look import look_at
from engine.look.regions import PoseFinder
from engine.look.video_index import VideoIndex
from engine.settings import Settings

log = logging.getLogger(__name__)


class _CatalogUser:
    """Opens the catalog once, when there is one (matches and image vectors need it)."""

    def __init__(self, folder=None, config: Settings | None = None):
        # PySide's QObject.__init__ calls this first with no arguments; the worker's own __init__ then passes them
        self.folder = folder            # None: $VITRINE_HOME/catalog
        self.config = config            # the app's settings, read once by its window
        self.catalog = None
        self.finder = None

    def _catalog(self):
        if self.catalog is None:
            folder = self.folder or default_folder(self.config)
            if not (folder / DB_NAME).is_file():
                return None
            self.catalog = open_catalog(folder, None, self.config)
        return self.catalog

    def _finder(self):
        if self.finder is None:
            self.finder = PoseFinder()
        return self.finder

    def _close(self) -> None:
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None
        if self.finder is not None:
            self.finder.close()
            self.finder = None


class LookWorker(QObject, _CatalogUser):
    stage = Signal(int, str)                 # request id, what it is doing
    looked = Signal(int, object)             # request id, engine.look.look.Look
    failed = Signal(int, str)

    def __init__(self, engine, folder, config: Settings):
        QObject.__init__(self)
        _CatalogUser.__init__(self, folder, config)
        self.engine = engine                 # desktop.workers.EngineWorker: its session, when a model is loaded
        self.latest = 0                      # set by the GUI thread: older requests are dropped unseen
        self.use_model = True

    @Slot(object)
    def look(self, request: dict) -> None:
        if request["id"] != self.latest:
            return
        try:
            self.stage.emit(request["id"], "regions")
            session = self.engine.session if (self.engine is not None and request.get("model", True)) else None
            if session is not None:
                self.stage.emit(request["id"], "model")
            look = look_at(request["frame"], self._catalog(), session, self._finder(), k=request.get("k", 3))
        except BaseException as e:           # noqa: BLE001 - the GUI shows every failure
            self.failed.emit(request["id"], _message(e))
            return
        self.looked.emit(request["id"], look)

    @Slot()
    def shutdown(self) -> None:
        self._close()


class FindWorker(QObject, _CatalogUser):
    progress = Signal(int, int)              # frames indexed, frames to index
    found = Signal(int, object)              # request id, list of (engine.look.find.Moment, thumbnail JPEG bytes)
    failed = Signal(int, str)

    def __init__(self, folder, config: Settings):
        QObject.__init__(self)
        _CatalogUser.__init__(self, folder, config)
        self.latest = 0
        self.cancel = threading.Event()      # set from the GUI thread: a new search, or the app closing

    @Slot(object)
    def find(self, request: dict) -> None:
        if request["id"] != self.latest:
            return
        from pathlib import Path

        self.cancel.clear()
        index = None
        try:
            catalog = self._catalog()
            query = query_for(request["query"], catalog)
            sig = catalog.signature.info.id if catalog is not None else ""
            index = VideoIndex(Path(request["video"]), request.get("every", 1.0), sig, False, self.config)
            index.build(catalog, None, self._finder(), progress=lambda _s, d, t: self.progress.emit(d, t or 0),
                        cancel=self.cancel)
            moments, _ = find(index, query, request.get("n", 8))
            out = [(m, index.thumbnail(m.t)) for m in moments]
        except BaseException as e:           # noqa: BLE001
            self.failed.emit(request["id"], _message(e))
            return
        finally:
            if index is not None:
                index.close()
        self.found.emit(request["id"], out)

    @Slot()
    def shutdown(self) -> None:
        self._close()
