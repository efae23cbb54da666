"""Which model the window runs: the list follows the store on disk (a model imported from a terminal or the
Modelos dialog appears without a restart; one removed goes), an empty store shows the first-run page, and the
default (the settings' "model") is loaded."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt

from desktop.dialogs.models_dialog import ModelsDialog, StoreWatcher


class ModelChooser(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.dialog: ModelsDialog | None = None
        self.watcher = StoreWatcher(window.store, self)
        self.watcher.changed.connect(self.refresh)
        window.first_run.importFolder.connect(self._import_folder)
        window.first_run.importFiles.connect(self._import_files)

    def refresh(self) -> None:
        w = self.w
        combo = w.model_combo
        names = [m.name for m in w.store.vlms()]
        loaded = w.engine.model_name if w.model_ready else ""
        current = combo.currentText()
        w.pages.setCurrentWidget(w.first_run if not names else w.pages.widget(0))
        if names and names == [combo.itemText(i) for i in range(combo.count())] and current in names:
            return                      # nothing that concerns the list changed
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(names)
        combo.blockSignals(False)
        if not names:
            w.model_ready = False
            w.answer.setPlainText(w.t("no_model"))
            w.last_error = w.t("no_model")
            w._update_buttons()
            return
        keep = loaded if loaded in names else (current if current in names else "")
        if keep:
            combo.setCurrentText(keep)
            if keep == loaded:
                return
        preferred = w.config.model or str(w.settings.value("model", names[0]))
        combo.setCurrentText(keep or (preferred if preferred in names else names[0]))
        if w.answer.toPlainText() == w.t("no_model"):
            w.answer.clear()
        w.load_model(combo.currentText())

    def show_dialog(self) -> ModelsDialog:
        w = self.w
        dlg = ModelsDialog(w.store, w.t, str(w.settings.value("model", "")), w)
        dlg.defaultChosen.connect(self._on_default)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        self.dialog = dlg
        return dlg

    def _import_folder(self) -> None:
        self.show_dialog().choose_folder()

    def _import_files(self) -> None:
        self.show_dialog().choose_files()

    def _on_default(self, name: str) -> None:
        w = self.w
        w.settings.setValue("model", name)
        if name != w.model_combo.currentText() or not w.model_ready:
            w.model_combo.setCurrentText(name)
            w.load_model(name)
