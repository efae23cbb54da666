"""The answer: what the clerk asked, the answer as it streams, and what the model was actually asked (the question
after translation), with one click to correct that English and send it again."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QTextEdit, QVBoxLayout, QWidget


def _fixed_line(label: QLabel) -> QLabel:
    """A one-line label whose text never widens or heightens the column (long text is elided by the tooltip)."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class AnswerPanel(QWidget):
    resend = Signal(str)              # the corrected English question, to send as it is (no translation)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._t = None
        self.sent_question = ""           # what the model was asked for the answer on screen
        self.you_asked = _fixed_line(QLabel())
        self.you_asked.setObjectName("muted")
        self.answer = QTextEdit()
        self.answer.setObjectName("answer")
        self.answer.setReadOnly(True)
        self.sent = _fixed_line(QLabel())
        self.sent.setObjectName("sent")
        self.correct_button = QPushButton()
        self.correct_button.setObjectName("small")
        self.correct_button.clicked.connect(self.start_correction)
        self.editor = QLineEdit()
        self.editor.returnPressed.connect(self._resend)
        self.resend_button = QPushButton()
        self.resend_button.setObjectName("small")
        self.resend_button.clicked.connect(self._resend)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.sent, 1)
        row.addWidget(self.editor, 1)
        row.addWidget(self.correct_button)
        row.addWidget(self.resend_button)
        self.sent_row = QWidget()
        self.sent_row.setLayout(row)
        self.sent_row.setFixedHeight(34)      # appearing or not, it never moves what is around it
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        v.addWidget(self.you_asked)
        v.addWidget(self.answer, 1)
        v.addWidget(self.sent_row)
        self._editing(False)
        self.show_sent("")

    def retranslate(self, t) -> None:
        self._t = t
        self.correct_button.setText(t("correct"))
        self.correct_button.setToolTip(t("correct_tip"))
        self.resend_button.setText(t("resend"))
        self.show_sent(self.sent_question, self._asked)

    _asked = ""

    def show_question(self, question: str) -> None:
        """The clerk's question, above its answer (the question box is cleared once it is sent)."""
        self._asked = question
        if self._t is not None:
            self.you_asked.setText(self._t("you_asked", q=question) if question else "")
            self.you_asked.setToolTip(question)

    def show_sent(self, to_model: str, question: str | None = None) -> None:
        """What the model was asked, under the answer. Shown when it differs from the clerk's words (a
        translation); the row keeps its height either way."""
        if question is not None:
            self.show_question(question)
        self.sent_question = to_model
        differs = bool(to_model) and to_model.strip() != (self._asked or "").strip()
        text = self._t("asked_model", q=to_model) if differs and self._t is not None else ""
        self.sent.setText(text)
        self.sent.setToolTip(to_model if differs else "")
        self.correct_button.setVisible(differs)
        self._editing(False)

    def start_correction(self) -> None:
        self.editor.setText(self.sent_question)
        self._editing(True)
        self.editor.setFocus()
        self.editor.selectAll()

    def _editing(self, on: bool) -> None:
        self.editor.setVisible(on)
        self.resend_button.setVisible(on)
        self.sent.setVisible(not on)
        self.correct_button.setVisible(not on and bool(self.sent.text()))

    def _resend(self) -> None:
        text = self.editor.text().strip()
        if text:
            self._editing(False)
            self.resend.emit(text)
