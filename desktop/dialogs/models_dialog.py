"""The Modelos dialog: the installed models (size, type, languages, which image encoder runs and why), import from a
model folder or a pair of GGUF files, the default, remove. Imports and removals run off the GUI thread; the list
follows the store on disk, so a model imported from a terminal shows up while the app is open."""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from desktop.workers import _message, start_in_thread
from engine.kinds import Runtime
from engine.models.store import InstalledModel, ModelStore


class StoreWatcher(QObject):
    """``changed`` (debounced) when a model folder appears in or leaves the store: every change lands by a rename
    in the store's folder, which a directory watch sees."""
    changed = Signal()

    def __init__(self, store: ModelStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_change)
        self.timer = QTimer(self, singleShot=True, interval=250)   # an import is several renames: one refresh
        self.timer.timeout.connect(self.changed.emit)
        self.watch()

    def watch(self) -> None:
        root = self.store.root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return                      # a read-only home: nothing will change there either
        if str(root) not in self.watcher.directories():
            self.watcher.addPath(str(root))

    def _on_change(self, _path: str) -> None:
        self.timer.start()


def model_size(m: InstalledModel) -> int:
    return sum(f.size for f in m.manifest.files.values())


def human_size(n: int, t) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{t.number(n / scale, 1)} {unit}"
    return f"{n} B"


def encoder_text(m: InstalledModel, t) -> str:
    """Which image encoder the model runs, and why (a hybrid's choice was timed when it was pulled)."""
    runtime = m.manifest.runtime
    if runtime is Runtime.HYBRID:
        vision = m.manifest.extra.get("vision")
        if isinstance(vision, dict) and vision.get("choice"):
            return t("encoder_hybrid", choice=vision["choice"], why=t.error(str(vision.get("why", ""))))
        return t("encoder_hybrid_untimed", choice="mmproj")
    return t("encoder_onnx") if runtime is Runtime.ONNX else t("encoder_gguf")


def suggested_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem if path.is_file() else path.name).strip("-.")
    return name[:64] or "modelo"


def bundle_models(folder: Path) -> list[Path]:
    """The model folders of an install bundle (`vitrine bundle`: bundle.json and models/NAME/), else []."""
    if not (folder / "bundle.json").is_file() or not (folder / "models").is_dir():
        return []
    return sorted(p for p in (folder / "models").iterdir() if (p / "vitrine-model.json").is_file())


class ImportWorker(QObject):
    """Copies (and hashes) a model into the store, or removes one: seconds to minutes for a real model."""
    done = Signal(str)                    # a status line
    failed = Signal(str, str)             # title key, message
    progress = Signal(int, int)           # done, total bytes

    def __init__(self, store: ModelStore):
        super().__init__()
        self.store = store

    def _progress(self, _stage, done, total) -> None:
        self.progress.emit(int(done or 0), int(total or 0))

    @Slot(object)
    def run(self, job: dict) -> None:
        try:
            if job["kind"] == "bundle":              # a store's install bundle: every model it carries
                names = []
                for folder in bundle_models(Path(job["folder"])):
                    if (self.store.root / folder.name).exists():
                        continue                       # installed already (by the bundle's own installer)
                    names.append(self.store.import_folder(folder.name, folder, self._progress).name)
                self.done.emit(", ".join(names) or "-")
                return
            if job["kind"] == "folder":
                m = self.store.import_folder(job["name"], Path(job["folder"]), self._progress)
            elif job["kind"] == "files":
                m = self.store.import_files(job["name"], Path(job["model"]), Path(job["mmproj"]), self._progress)
            else:
                self.store.remove(job["name"])
                self.done.emit(job["name"])
                return
        except BaseException as e:        # noqa: BLE001 - the dialog shows every failure
            self.failed.emit("remove_failed" if job["kind"] == "remove" else "import_failed", _message(e))
            return
        self.done.emit(m.name)


class ModelsDialog(QDialog):
    defaultChosen = Signal(str)           # the clerk made this model the default (the window loads it)
    _job = Signal(object)

    def __init__(self, store: ModelStore, t, default: str = "", parent=None):
        super().__init__(parent)
        self.store, self.t, self.default = store, t, default
        self.setWindowTitle(t("models_title"))
        self.resize(900, 420)
        self.last_error = ""
        self._pending = ""                # what the running job does, for its status line
        self.busy = False                 # an import or removal is running
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels([t("col_name"), t("col_size"), t("col_type"), t("col_langs"),
                                              t("col_encoder")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        for col in range(4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("muted")
        self.progress = QProgressBar()
        self.progress.hide()
        self.import_folder_button = QPushButton(t("import_folder"))
        self.import_folder_button.clicked.connect(self.choose_folder)
        self.import_files_button = QPushButton(t("import_files"))
        self.import_files_button.clicked.connect(self.choose_files)
        self.default_button = QPushButton(t("set_default"))
        self.default_button.clicked.connect(self.make_default)
        self.remove_button = QPushButton(t("remove"))
        self.remove_button.clicked.connect(self.remove_selected)
        close = QPushButton(t("close"))
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        for b in (self.import_folder_button, self.import_files_button):
            row.addWidget(b)
        row.addStretch(1)
        for b in (self.default_button, self.remove_button, close):
            row.addWidget(b)
        v = QVBoxLayout(self)
        v.addWidget(self.table, 1)
        v.addWidget(self.status)
        v.addWidget(self.progress)
        v.addLayout(row)

        self.worker = ImportWorker(store)
        self.thread = start_in_thread(self.worker, "models")
        self._job.connect(self.worker.run)
        self.worker.done.connect(self._on_done)          # bound methods: they run on the GUI thread
        self.worker.failed.connect(self._on_failed)
        self.worker.progress.connect(self._on_progress)
        self.watcher = StoreWatcher(store, self)
        self.watcher.changed.connect(self.refresh)
        self.finished.connect(self._stop_worker)
        self.refresh()

    # ---- the list -----------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(self.table.rowCount())]

    def refresh(self) -> None:
        t = self.t
        selected = self.selected()
        good, broken = self.store.scan()
        good = [m for m in good if m.manifest.runtime != "embedder"]
        self.table.setRowCount(0)
        for m in good:
            mf = m.manifest
            kind = " · ".join(x for x in (mf.runtime, mf.family, mf.quant) if x)
            self._add_row(m.name, [t("default_mark", name=m.name) if m.name == self.default else m.name,
                                   human_size(model_size(m), t), kind, ", ".join(mf.languages), encoder_text(m, t)],
                          tip=mf.source)
        for b in broken:
            self._add_row(b.name, [b.name, "", "", "", t("damaged", reason=t.error(b.reason))], tip=b.reason)
        self.status.setText(t("store_at", path=self.store.root) if good or broken
                            else t("no_models_yet") + " " + t("store_at", path=self.store.root))
        if selected in self.names():
            self.table.selectRow(self.names().index(selected))
        self._update_buttons()

    def _add_row(self, name: str, cells: list[str], tip: str = "") -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip if c == 0 else text)
            if c == 0:
                item.setData(Qt.ItemDataRole.UserRole, name)
            self.table.setItem(r, c, item)

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else ""

    def _update_buttons(self) -> None:
        busy = self.busy
        has = bool(self.selected())
        self.default_button.setEnabled(has and not busy)
        self.remove_button.setEnabled(has and not busy)
        self.import_folder_button.setEnabled(not busy)
        self.import_files_button.setEnabled(not busy)

    # ---- actions ------------------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.t("import_folder"))
        if folder and bundle_models(Path(folder)):
            self._start({"kind": "bundle", "folder": folder}, self.t("importing", name=Path(folder).name))
        elif folder:
            name, ok = QInputDialog.getText(self, self.t("import_folder"), self.t("model_name"),
                                            text=suggested_name(Path(folder)))
            if ok and name.strip():
                self.import_folder(name.strip(), Path(folder))

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, self.t("pick_gguf"), "", "GGUF (*.gguf)")
        if not files:
            return
        pair = self.split_pair([Path(f) for f in files])
        if pair is None:
            self._on_failed("import_failed", self.t("need_two_gguf"))
            return
        name, ok = QInputDialog.getText(self, self.t("import_files"), self.t("model_name"),
                                        text=suggested_name(pair[0]))
        if ok and name.strip():
            self.import_files(name.strip(), *pair)

    @staticmethod
    def split_pair(files: list[Path]) -> tuple[Path, Path] | None:
        """(model, projector) from two GGUF files: the projector is the one named mmproj."""
        if len(files) != 2:
            return None
        proj = [f for f in files if "mmproj" in f.name.lower()]
        if len(proj) != 1:
            return None
        return next(f for f in files if f is not proj[0]), proj[0]

    def import_folder(self, name: str, folder: Path) -> None:
        self._start({"kind": "folder", "name": name, "folder": str(folder)}, self.t("importing", name=name))

    def import_files(self, name: str, model: Path, mmproj: Path) -> None:
        self._start({"kind": "files", "name": name, "model": str(model), "mmproj": str(mmproj)},
                    self.t("importing", name=name))

    def remove_selected(self, confirm: bool = True) -> None:
        name = self.selected()
        if not name:
            return
        if confirm and QMessageBox.question(self, self.t("remove"), self.t("remove_confirm", name=name)) \
                != QMessageBox.StandardButton.Yes:
            return
        self._pending = "removed"
        self._start({"kind": "remove", "name": name}, "")

    def make_default(self) -> None:
        name = self.selected()
        if name:
            self.default = name
            self.defaultChosen.emit(name)
            self.refresh()

    def _start(self, job: dict, text: str) -> None:
        self._pending = "removed" if job["kind"] == "remove" else "imported"
        self.busy = True
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(text)
        self._update_buttons()
        self._job.emit(job)

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))

    def _on_done(self, name: str) -> None:
        self.busy = False
        self.progress.hide()
        self.refresh()
        self.status.setText(self.t(self._pending, name=name))
        self._update_buttons()

    def _on_failed(self, title_key: str, message: str) -> None:
        self.busy = False
        self.progress.hide()
        self.last_error = self.t.error(message)
        self.status.setText(f"{self.t(title_key)}: {self.last_error}")
        self._update_buttons()

    def done(self, result: int) -> None:
        if self.busy:          # a copy is running: closing would have to wait for it on the GUI thread
            return
        super().done(result)

    def _stop_worker(self, *_args) -> None:
        self.thread.quit()
        self.thread.wait(10_000)

    def closeEvent(self, event) -> None:
        if self.busy:
            event.ignore()
            return
        self._stop_worker()
        super().closeEvent(event)
