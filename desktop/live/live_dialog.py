"""The live-camera dialog: which camera (from the list of cameras found, or a file or address), the question, and
how often to ask it."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
)

from desktop.live.cameras import Camera, probe_cameras
from desktop.strings import Texts

MEDIA_FILTER = "Vídeo (*.mp4 *.avi *.mkv *.mov *.webm);;*"


class LiveDialog(QDialog):
    def __init__(self, t: Texts, prompts: list[str], parent=None, cameras: list[Camera] | None = None):
        super().__init__(parent)
        self.t = t
        self.setWindowTitle(t("live_dialog"))
        form = QFormLayout(self)
        self.cameras = probe_cameras() if cameras is None else cameras
        self.source = QComboBox()
        self.source.setEditable(True)          # a file path or an rtsp:// address can be typed
        for cam in self.cameras:
            label = t("camera_n", i=cam.index) + (f" — {cam.name}" if cam.name else "")
            self.source.addItem(label, cam.spec)
        self.file_button = QPushButton(t("live_file"))
        self.file_button.clicked.connect(self.choose_file)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(self.file_button)
        self.hint = QLabel(t("no_cameras") if not self.cameras else "")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.hint.setVisible(not self.cameras)
        self.question = QComboBox()
        self.question.setEditable(True)
        self.question.addItems(prompts)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(0.5, 600)
        self.interval.setValue(5.0)
        form.addRow(t("live_source"), row)
        form.addRow("", self.hint)
        form.addRow(t("live_question"), self.question)
        form.addRow(t("live_interval"), self.interval)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.t("live_file"), "", MEDIA_FILTER)
        if path:
            self.source.setEditText(path)

    def spec(self) -> str:
        """What to open: a listed camera's "camera:N", else what was typed (a file, an address, an index)."""
        text = self.source.currentText().strip()
        i = self.source.findText(text)
        if i >= 0 and self.source.itemData(i):
            return self.source.itemData(i)
        return f"camera:{text}" if text.isdigit() else text
