"""The "Descrever" card: the garment's attributes (the store's schema, in Portuguese or English) and the
Portuguese description built from them, ready to copy into the web shop."""
from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget


class DescribePanel(QWidget):
    requested = Signal()                  # the clerk pressed Descrever (the window sends its frame or region)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.description = None
        self.title = QLabel()
        self.title.setObjectName("section")
        self.describe_button = QPushButton()
        self.describe_button.clicked.connect(self.requested.emit)
        self.copy_button = QPushButton()
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy)
        self.copy_json_button = QPushButton()
        self.copy_json_button.setEnabled(False)
        self.copy_json_button.clicked.connect(lambda: self.copy(as_json=True))
        self.card = QTextEdit()
        self.card.setReadOnly(True)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        for b in (self.describe_button, self.copy_button, self.copy_json_button):
            row.addWidget(b)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(row)
        v.addWidget(self.card, 1)

    def retranslate(self, t) -> None:
        self.t = t
        self.title.setText(t("describe_title"))
        self.describe_button.setText(t("describe"))
        self.copy_button.setText(t("copy"))
        self.copy_json_button.setText("JSON")
        if self.description is not None:
            self.show_description(self.description)

    def set_busy(self, busy: bool) -> None:
        self.describe_button.setEnabled(not busy)
        if busy:
            self.card.setPlainText(self.t("describing"))

    def show_description(self, d) -> None:
        self.description = d
        pt = self.t.lang == "pt"
        lines = [d.description_pt, ""]
        for name, value in (d.attributes_pt if pt else d.attributes).items():
            lines.append(f"{name}: {', '.join(value) if isinstance(value, list) else value}")
        if d.measured_colors:
            lines.append(self.t("measured") + " " + ", ".join(
                f"{c.pt if pt else c.en} {round(c.share * 100)}%" for c in d.measured_colors))
        self.card.setPlainText("\n".join(lines))
        self.copy_button.setEnabled(True)
        self.copy_json_button.setEnabled(True)
        self.set_busy(False)

    def copy(self, as_json: bool = False) -> str:
        if self.description is None:
            return ""
        text = json.dumps(self.description.to_dict(), ensure_ascii=False, indent=2) if as_json \
            else self.card.toPlainText()
        QGuiApplication.clipboard().setText(text)
        return text
