"""The live-camera dialog: which camera (index, file or URL), the question, and how often to ask it."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLineEdit

from .strings import Texts


class LiveDialog(QDialog):
    def __init__(self, t: Texts, prompts: list[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle(t("live_dialog"))
        form = QFormLayout(self)
        self.source = QLineEdit("0")
        self.question = QComboBox()
        self.question.setEditable(True)
        self.question.addItems(prompts)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(0.5, 600)
        self.interval.setValue(5.0)
        form.addRow(t("live_source"), self.source)
        form.addRow(t("live_question"), self.question)
        form.addRow(t("live_interval"), self.interval)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
