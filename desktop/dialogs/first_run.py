"""What an empty store opens on: what to do to get a model (import a folder or GGUF files; pull when online), not
an empty window. The window leaves it by itself once a model lands in the store."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class FirstRunPage(QWidget):
    importFolder = Signal()
    importFiles = Signal()
    openModels = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setObjectName("welcome")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where = QLabel()
        self.where.setObjectName("muted")
        self.where.setWordWrap(True)
        self.folder_button = QPushButton()
        self.folder_button.setObjectName("ask")
        self.folder_button.clicked.connect(self.importFolder.emit)
        self.files_button = QPushButton()
        self.files_button.clicked.connect(self.importFiles.emit)
        self.models_button = QPushButton()
        self.models_button.clicked.connect(self.openModels.emit)
        row = QHBoxLayout()
        for b in (self.folder_button, self.files_button, self.models_button):
            row.addWidget(b)
        row.addStretch(1)
        box = QVBoxLayout()
        box.addWidget(self.title)
        box.addSpacing(12)
        box.addWidget(self.text)
        box.addSpacing(16)
        box.addLayout(row)
        box.addSpacing(8)
        box.addWidget(self.where)
        inner = QWidget()
        inner.setLayout(box)
        inner.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(inner, 4)
        outer.addStretch(1)

    def retranslate(self, t, store_root) -> None:
        self.title.setText(t("first_title"))
        self.text.setText(t("first_text"))
        self.folder_button.setText(t("import_folder"))
        self.files_button.setText(t("import_files"))
        self.models_button.setText(t("open_models"))
        self.where.setText(t("store_at", path=store_root))
