"""The window's menus (built once, their words set by ``retranslate_menus``) and the recent-files list."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from desktop.settings_store import read_list

# attribute on the window -> the strings.py key of its title or text
TEXTS = {"file_menu": "file", "open_action": "open", "recent_menu": "recent", "models_action": "models",
         "export_csv_action": "export_csv", "export_json_action": "export_json", "quit_action": "quit",
         "live_menu": "live", "live_start_action": "live_start", "live_stop_action": "live_stop",
         "catalog_menu": "catalog", "catalog_add_action": "catalog_add", "view_menu": "view", "ui_lang_menu": "ui_lang",
         "help_menu": "help", "shortcuts_action": "shortcuts", "about_action": "about"}


def build_menus(w) -> None:
    mb = w.menuBar()
    w.file_menu = mb.addMenu("")
    w.open_action = QAction(w, shortcut=QKeySequence.StandardKey.Open, triggered=w.choose_file)
    w.file_menu.addAction(w.open_action)
    w.recent_menu = w.file_menu.addMenu("")
    w.models_action = QAction(w, triggered=w.show_models)
    w.file_menu.addAction(w.models_action)
    w.file_menu.addSeparator()
    w.export_csv_action = QAction(w, triggered=lambda: w.export_history("csv"))
    w.export_json_action = QAction(w, triggered=lambda: w.export_history("json"))
    w.file_menu.addActions([w.export_csv_action, w.export_json_action])
    w.file_menu.addSeparator()
    w.quit_action = QAction(w, shortcut=QKeySequence("Ctrl+Q"), triggered=w.close)
    w.file_menu.addAction(w.quit_action)
    w.live_menu = mb.addMenu("")
    w.live_start_action = QAction(w, triggered=w.choose_live)
    w.live_stop_action = QAction(w, triggered=w.stop_live, enabled=False)
    w.live_menu.addActions([w.live_start_action, w.live_stop_action])
    w.catalog_menu = mb.addMenu("")
    w.catalog_add_action = QAction(w, triggered=w.similar_panel.choose_csv)
    w.catalog_menu.addAction(w.catalog_add_action)
    w.view_menu = mb.addMenu("")
    w.ui_lang_menu = w.view_menu.addMenu("")
    group = QActionGroup(w)
    for code, label in (("pt", "Português"), ("en", "English")):
        a = QAction(label, w, checkable=True, checked=w.t.lang == code)
        a.triggered.connect(lambda _c=False, code=code: w.set_ui_lang(code))
        group.addAction(a)
        w.ui_lang_menu.addAction(a)
    w.help_menu = mb.addMenu("")
    w.shortcuts_action = QAction(w, shortcut=QKeySequence("F1"), triggered=w.show_shortcuts)
    w.about_action = QAction(w, triggered=w.show_about)
    w.help_menu.addActions([w.shortcuts_action, w.about_action])


def retranslate_menus(w, t) -> None:
    for attr, key in TEXTS.items():
        obj = getattr(w, attr)
        if isinstance(obj, QMenu):
            obj.setTitle(t(key))
        else:
            obj.setText(t(key))


class RecentFiles:
    """The last eight files opened (not cameras or streams), newest first, in the settings."""

    def __init__(self, menu: QMenu, settings, open_source):
        self.menu, self.settings, self.open_source = menu, settings, open_source

    def paths(self) -> list[str]:
        return read_list(self.settings, "recent")

    def remember(self, spec: str) -> None:
        if spec.startswith("camera:") or "://" in spec:
            return
        recent = [r for r in self.paths() if r != spec]
        self.settings.setValue("recent", [spec] + recent[:7])
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        for spec in self.paths():
            self.menu.addAction(Path(spec).name, lambda s=spec: self.open_source(s))
