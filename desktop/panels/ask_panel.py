"""The question line, Ask / Stop / New conversation, the thread the next question continues, and the suggested
questions.

With the question box empty, Space and the arrows drive the video (there is nothing to edit); with text in it they
edit the text, and Ctrl+Space / Alt+arrows (window shortcuts) drive the video all the same."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

MEDIA_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Left, Qt.Key.Key_Right)


class AskPanel(QWidget):
    asked = Signal(str)                 # a question to send ("" : the one typed)
    stopRequested = Signal()
    newConversation = Signal()          # forget the earlier exchanges about this frame
    mediaKey = Signal(int)              # Space / Left / Right pressed in the empty question box

    def __init__(self, parent=None):
        super().__init__(parent)
        self.question = QLineEdit()
        self.question.returnPressed.connect(lambda: self.asked.emit(""))
        self.question.installEventFilter(self)
        self.ask_button = QPushButton()
        self.ask_button.setObjectName("ask")
        self.ask_button.clicked.connect(lambda: self.asked.emit(""))
        self.stop_button = QPushButton()
        self.stop_button.setObjectName("stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stopRequested.emit)
        self.new_button = QPushButton()
        self.new_button.setEnabled(False)
        self.new_button.clicked.connect(self._new_conversation)
        self.thread_label = QLabel()          # "follow-up: sees 2 earlier questions"
        self.thread_label.setObjectName("muted")
        # its text comes and goes: it must not widen the column (that shrank the video by 160 px) nor reflow it
        self.thread_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.thread_label.setFixedHeight(self.thread_label.sizeHint().height() + 2)   # its own line, always there
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.new_button)
        row.addWidget(self.ask_button)
        row.addWidget(self.stop_button)
        self.prompt_box = QGridLayout()      # two columns: four suggestions take two rows, not four
        self.prompt_box.setSpacing(4)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.question)
        v.addWidget(self.thread_label)
        v.addLayout(row)
        v.addLayout(self.prompt_box)
        self._t = None
        self._turns = 0

    def retranslate(self, t, prompts: list[str]) -> None:
        self._t = t
        self.question.setPlaceholderText(t("placeholder"))
        self.ask_button.setText(t("ask"))
        self.stop_button.setText(t("stop"))
        self.new_button.setText(t("new_conversation"))
        self.new_button.setToolTip(t("new_conversation_tip"))
        while self.prompt_box.count():
            w = self.prompt_box.takeAt(0).widget()
            if w:
                w.deleteLater()
        for i, p in enumerate(prompts):
            b = QPushButton(p)
            b.setProperty("class", "prompt")
            b.setToolTip(p)
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _c=False, p=p: self.asked.emit(p))
            self.prompt_box.addWidget(b, i // 2, i % 2)
        self.show_thread(self._turns)

    def set_state(self, ready: bool, busy: bool) -> None:
        self.ask_button.setEnabled(ready and not busy)
        self.stop_button.setEnabled(busy)
        self.new_button.setEnabled(not busy and self._turns > 0)

    def show_thread(self, exchanges: int) -> None:
        """How many exchanges about this frame the next question will see."""
        self._turns = exchanges
        self.new_button.setEnabled(exchanges > 0 and not self.stop_button.isEnabled())
        if self._t is not None:
            self.thread_label.setText(self._t("thread", n=exchanges) if exchanges else "")

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.question and event.type() == QEvent.Type.KeyPress and not self.question.text() \
                and event.key() in MEDIA_KEYS and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.mediaKey.emit(event.key())
            return True
        return super().eventFilter(obj, event)

    def _new_conversation(self) -> None:
        self.show_thread(0)
        self.newConversation.emit()
