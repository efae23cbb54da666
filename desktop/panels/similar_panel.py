"""The "Produtos semelhantes" panel: the measured colours of the frame or region as swatches, and the catalog's
most similar products (thumbnail, title, score); a click opens the product's details. It owns the catalog's
worker thread: searches and CSV imports never run on the GUI thread."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from desktop.catalog_worker import CatalogWorker
from desktop.workers import start_in_thread


def swatch_text(color, lang: str) -> str:
    return f"{color.pt if lang == 'pt' else color.en} {round(color.share * 100)}%"


class SimilarPanel(QWidget):
    productChosen = Signal(object)            # engine.catalog.base.Product
    failed = Signal(str, str)                 # title, message
    message = Signal(str)                     # a status line (a CSV was added)
    _search = Signal(object)
    _add_csv = Signal(str)

    def __init__(self, catalog_folder=None, parent=None, *, config):
        super().__init__(parent)
        self.progress_dialog = None
        self.updating_dialog = None           # the progress dialog while an outdated index is rebuilt
        self.worker = CatalogWorker(catalog_folder, config=config)
        self.thread = start_in_thread(self.worker, "catalog")
        self._search.connect(self.worker.search)
        self._add_csv.connect(self.worker.add_csv)
        self.worker.results.connect(self._on_results)
        self.worker.search_failed.connect(self._on_search_failed)     # a bound method: it runs on the GUI thread
        self.worker.progress.connect(self._on_progress)
        self.worker.added.connect(self._on_added)
        self.worker.add_failed.connect(self._on_add_failed)
        self.worker.updating.connect(self._on_updating)
        self.worker.updated.connect(self._on_updated)
        self.productChosen.connect(lambda p: ProductDialog(p, self.t, self).open())
        self.lang = "pt"
        self.title = QLabel()
        self.title.setObjectName("section")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.swatches = QHBoxLayout()
        self.swatches.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setIconSize(QSize(64, 64))
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._on_item)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.title)
        v.addLayout(self.swatches)
        v.addWidget(self.status)
        v.addWidget(self.list, 1)
        self.hits: list = []
        self.colors: list = []
        self.frame_key: str | None = None     # the picture the newest request is about

    def retranslate(self, t) -> None:
        self.t = t
        self.lang = t.lang
        self.title.setText(t("similar"))
        self.show_colors(self.colors)

    def _on_search_failed(self, _request: int, text: str) -> None:
        self.set_message(self.t.error(text))

    def set_message(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def show_colors(self, colors) -> None:
        self.colors = list(colors)
        while self.swatches.count():
            w = self.swatches.takeAt(0).widget()
            if w:
                w.deleteLater()
        for c in self.colors:
            chip = QLabel(swatch_text(c, self.lang))
            dark = int(c.hex[1:3], 16) * .3 + int(c.hex[3:5], 16) * .59 + int(c.hex[5:7], 16) * .11 < 128
            chip.setStyleSheet(f"background: {c.hex}; color: {'white' if dark else 'black'}; border-radius: 4px; "
                               "padding: 2px 6px;")
            chip.setToolTip(f"{c.en} / {c.pt} · {c.hex}")
            self.swatches.addWidget(chip)
        self.swatches.addStretch(1)

    def show_results(self, hits, colors) -> None:
        self.hits = list(hits)
        self.show_colors(colors)
        self.list.clear()
        self.set_message("" if hits else self.t("catalog_empty"))
        for h in self.hits:
            item = QListWidgetItem(f"{h.product.title or h.product.id}\n{h.product.id} · {h.score:.2f}")
            if h.product.thumbnail:
                pm = QPixmap()
                pm.loadFromData(h.product.thumbnail, "JPG")
                item.setIcon(QIcon(pm))
            item.setData(Qt.ItemDataRole.UserRole, self.list.count())
            self.list.addItem(item)
        self.list.scrollToTop()        # new results: the best match is the first row seen, whatever was scrolled

    def _on_item(self, item: QListWidgetItem) -> None:
        self.productChosen.emit(self.hits[item.data(Qt.ItemDataRole.UserRole)].product)

    # ---- the worker ---------------------------------------------------------------------------------------------
    def request(self, frame) -> None:
        """Search for ``frame`` (the frame on screen or its region); only the newest request is answered."""
        self.worker.latest += 1
        self.frame_key = frame.key
        self._search.emit({"id": self.worker.latest, "rgb": frame.rgb})

    def _on_results(self, request_id: int, hits, colors) -> None:
        if request_id == self.worker.latest:
            self.show_results(hits, colors)

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.t("catalog_add").replace("&", ""), "", "CSV (*.csv)")
        if path:
            self.add_csv(path)

    def add_csv(self, path: str) -> None:
        self.progress_dialog = QProgressDialog(self.t("catalog_adding"), self.t("cancel"), 0, 0, self)
        self.progress_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress_dialog.canceled.connect(self.worker.cancel.set)
        self.progress_dialog.show()
        self._add_csv.emit(path)

    def _on_updating(self, products: int) -> None:
        if self.progress_dialog is None:      # else a CSV being added shows its own, which goes on after this
            # window-modal, as the CSV's: no second job is started from the menus while the index is rebuilt
            self.progress_dialog = self.updating_dialog = QProgressDialog(
                self.t("catalog_updating", n=products), self.t("cancel"), 0, 0, self)
            self.progress_dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.progress_dialog.canceled.connect(self.worker.cancel.set)
            self.progress_dialog.show()

    def _on_updated(self) -> None:
        dialog, self.updating_dialog = self.updating_dialog, None
        if dialog is None:
            return
        dialog.canceled.disconnect()          # closing a QProgressDialog emits canceled: not a cancel of what follows
        dialog.close()
        if self.progress_dialog is dialog:
            self.progress_dialog = None

    def _on_progress(self, done: int, total: int) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.setMaximum(total)
            self.progress_dialog.setValue(done)

    def _close_progress(self) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.close()
            self.progress_dialog = None

    def _on_added(self, report) -> None:
        self._close_progress()
        self.last_report = report
        self.message.emit(self.t("catalog_added", added=report.added, updated=report.updated,
                                 skipped=len(report.skipped), indexed=report.indexed))

    def _on_add_failed(self, text: str) -> None:
        self._close_progress()
        self.failed.emit(self.t("catalog_failed"), text)

    def shutdown(self) -> None:
        self.worker.cancel.set()
        self.thread.quit()
        self.thread.wait(10_000)
        self.worker.shutdown()


class ProductDialog(QDialog):
    """A product's details: picture, title, id, attributes, image file."""

    def __init__(self, product, t, parent=None):
        super().__init__(parent)
        self.setWindowTitle(product.title or product.id)
        form = QFormLayout(self)
        picture = QLabel()
        pm = QPixmap(product.image)
        if pm.isNull() and product.thumbnail:
            pm.loadFromData(product.thumbnail, "JPG")
        if not pm.isNull():
            picture.setPixmap(pm.scaled(320, 320, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation))
        form.addRow(picture)
        form.addRow(t("product_id"), QLabel(product.id))
        form.addRow(t("product_title"), QLabel(product.title))
        for k, v in product.attributes.items():
            form.addRow(f"{t.field(k)}:", QLabel(v))
        # the file's name, not its full path (the path is in the tooltip, for whoever maintains the catalog)
        path = QLabel(Path(product.image).name if product.image else "")
        path.setToolTip(str(product.image))
        path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(t("product_image"), path)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
