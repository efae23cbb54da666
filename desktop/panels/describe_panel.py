"""The "Descrever" card: the garment's attributes (the store's schema, with the interface's labels) and the
Portuguese description built from them, ready to copy into the web shop.

The card is checked against the pixels: a colour the model names that the measured colours do not support is
flagged (rule: a named colour must be among the measured colours covering at least ``NAMED_COLOUR_SHARE`` of the
garment). It belongs to one picture: when the picture changes it is marked stale and cannot be copied."""
from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget

NAMED_COLOUR_SHARE = 0.15        # a colour covering less than this is a detail (a stripe, a print), not "the" colour


def colour_conflicts(description, min_share: float = NAMED_COLOUR_SHARE) -> list[str]:
    """The colours (English keys) the model named that no measured colour covering >= ``min_share`` supports.
    Nothing measured: nothing to check against."""
    measured = [c for c in description.measured_colors if c.share >= min_share]
    if not description.measured_colors:
        return []
    seen = {c.en for c in measured}
    named = description.attributes.get("colours") or []
    return [c for c in (named if isinstance(named, list) else [named]) if c not in seen and c not in
            ("not visible", "none")]


class DescribePanel(QWidget):
    requested = Signal()                  # the clerk pressed Descrever (the window sends its frame or region)
    message = Signal(str)                 # a status line: copied

    def __init__(self, parent=None):
        super().__init__(parent)
        self.t = None
        self.description = None
        self.frame_key: str | None = None     # the picture the card is about
        self.stale = False
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
        self.warning = QLabel()
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.hide()
        self.card = QTextEdit()
        self.card.setReadOnly(True)
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        for b in (self.describe_button, self.copy_button, self.copy_json_button):
            row.addWidget(b)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(row)
        v.addWidget(self.warning)
        v.addWidget(self.card, 1)

    def retranslate(self, t) -> None:
        self.t = t
        self.title.setText(t("describe_title"))
        self.describe_button.setText(t("describe"))
        self.copy_button.setText(t("copy"))
        self.copy_json_button.setText("JSON")
        if self.description is not None:
            self._render()

    def set_busy(self, busy: bool) -> None:
        self.describe_button.setEnabled(not busy)
        if busy:
            self.warning.hide()
            self.card.setPlainText(self.t("describing"))
            self._can_copy(False)

    def show_description(self, d, frame_key: str | None = None) -> None:
        self.description = d
        self.frame_key = frame_key
        self.stale = False
        self._render()
        self.set_busy(False)

    def _render(self) -> None:
        d, t = self.description, self.t
        pt = t.lang == "pt"
        lines = [d.description_pt, ""]
        for name, value in (d.attributes_pt if pt else d.attributes).items():
            lines.append(f"{t.field(name)}: {', '.join(value) if isinstance(value, list) else value}")
        if d.measured_colors:
            lines.append(t("measured") + " " + ", ".join(
                f"{c.pt if pt else c.en} {round(c.share * 100)}%" for c in d.measured_colors))
        self.card.setPlainText("\n".join(lines))
        problems = []
        if self.stale:
            problems.append(t("card_stale"))
        conflicts = colour_conflicts(d)
        if conflicts:
            names = d.attributes_pt.get("colours") if pt else d.attributes.get("colours")
            by_en = dict(zip(d.attributes.get("colours") or [], names or [])) if isinstance(names, list) else {}
            measured = ", ".join(f"{c.pt if pt else c.en} {round(c.share * 100)}%" for c in d.measured_colors)
            for c in conflicts:
                problems.append(t("card_conflict", colour=by_en.get(c, c), pct=round(NAMED_COLOUR_SHARE * 100),
                                  measured=measured))
        self.warning.setText("\n".join(problems))
        self.warning.setVisible(bool(problems))
        self._can_copy(not self.stale)

    def _can_copy(self, on: bool) -> None:
        self.copy_button.setEnabled(on and self.description is not None)
        self.copy_json_button.setEnabled(on and self.description is not None)

    def picture_changed(self, frame_key: str | None) -> None:
        """The picture on screen (or its region) is now ``frame_key``: a card about another one goes stale (and
        comes back if the clerk returns to its picture)."""
        if self.description is None:
            return
        stale = frame_key != self.frame_key
        if stale != self.stale:
            self.stale = stale
            self._render()

    def clear(self) -> None:
        self.description, self.frame_key, self.stale = None, None, False
        self.card.setPlainText("")
        self.warning.hide()
        self._can_copy(False)

    def copy(self, as_json: bool = False) -> str:
        if self.description is None or self.stale:
            return ""
        text = json.dumps(self.description.to_dict(), ensure_ascii=False, indent=2) if as_json \
            else self.card.toPlainText()
        QGuiApplication.clipboard().setText(text)
        self.message.emit(self.t("copied_json" if as_json else "copied"))
        return text
