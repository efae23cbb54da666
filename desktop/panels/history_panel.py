"""This frame's earlier questions and answers, newest conversation first, each conversation in the order it was
asked (follow-ups indented under the question they followed); clicking one brings it back, box included."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from engine.runtime.history import History


class HistoryPanel(QWidget):
    entryChosen = Signal(object)            # engine.runtime.history.Entry

    def __init__(self, history: History, parent=None):
        super().__init__(parent)
        self.history = history
        self.label = QLabel()
        self.label.setObjectName("section")
        self.list = QListWidget()
        self.list.setIconSize(QSize(72, 54))
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.itemClicked.connect(self._on_item)
        self._shown: tuple = ()            # (frame key, entry ids) on screen: rebuilt only when that changes
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.label)
        v.addWidget(self.list, 1)

    def retranslate(self, t) -> None:
        self.label.setText(t("history"))

    def show_frame(self, frame_key: str | None) -> None:
        entries = self.history.for_frame(frame_key) if frame_key is not None else []
        shown = (frame_key, tuple(e.id for e in entries))
        if shown == self._shown:
            return          # e.g. a history item's box given back: the list (and the clicked row) stays
        self._shown = shown
        self.list.clear()
        threads: list[list] = []
        for e in entries:
            if e.turn == 0 or not threads:
                threads.append([])
            threads[-1].append(e)
        for e in (e for thread in reversed(threads) for e in thread):
            lead = "    ↳ " if e.turn else ""
            item = QListWidgetItem(f"{lead}{e.question}\n{'      ' if e.turn else ''}{e.answer}")
            if e.thumbnail:
                pm = QPixmap()
                pm.loadFromData(e.thumbnail, "JPG")
                item.setIcon(QIcon(pm))
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            item.setToolTip(f"{e.frame} · {e.model}")
            self.list.addItem(item)

    def _on_item(self, item: QListWidgetItem) -> None:
        entry = self.history.get(item.data(Qt.ItemDataRole.UserRole))
        if entry is not None:
            self.entryChosen.emit(entry)
