"""The "O visual" panel: every garment found in the frame on screen as a card (its crop; category, colours and
attributes in the interface's language; its top catalog matches). Clicking a card draws its box on the video and
makes it the subject of the next question. And the player's "Procurar no vídeo" field: the moments of the video
that show a garment, each a thumbnail and a time, a click seeks there.

The look runs in the engine's thread (desktop/look_worker.py: with the loaded model, one request at a time with the
questions); the search has its own thread. Only the newest request is answered."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.look_worker import FindWorker, LookWorker
from desktop.panels.fitting import ElidedLabel
from desktop.panels.video_view import fmt_time
from desktop.workers import start_in_thread

CROP_SIDE = 56                       # a compact card: three fit in the tab at 1280x720


def _pixmap(rgb: np.ndarray, side: int = CROP_SIDE) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


def card_words(item, t) -> dict[str, str]:
    """A card's lines in the interface's language: the region and garment, the colours, the attributes, the
    matches (what the card shows and what the tests read)."""
    d = item.to_dict()
    pt = t.lang == "pt"
    region = d["region_pt"] if pt else d["region"]
    garment = (d["garment_pt"] if pt else d["garment"]) or t("look_unknown")
    colours = ", ".join(f"{c['pt'] if pt else c['en']} {round(c['share'] * 100)}%" for c in d["colors"])
    attrs = (d["attributes_pt"] if pt else d["attributes"]) or {}
    shown = []
    for k, v in attrs.items():
        if k in ("category", "colours", "colors") or v in (None, "", []):
            continue
        shown.append(f"{t.field(k).rstrip(':')}: {', '.join(v) if isinstance(v, list) else v}")
    # the image vectors' cosine, not the ranking score (similarity plus colour, kind and pattern bonuses: up to ~1.4,
    # which a clerk read as a percentage over 100)
    matches = "\n".join(f"{m['title'] or m['id']} · {m['id']} · {m['similarity']:.2f}" for m in d["matches"])
    return {"title": f"{garment.capitalize()} — {region}", "colours": colours, "attributes": "; ".join(shown),
            "matches": matches}


class GarmentCard(QFrame):
    """One garment, compact: its crop on the left; on the right three lines (the garment and region, its colours
    and attributes, its best catalog match); everything in full in the tooltip. The whole card is a button."""
    chosen = Signal(object)                  # engine.look.look.Item

    def __init__(self, item, rgb: np.ndarray, t, parent=None):
        super().__init__(parent)
        self.item = item
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        b = item.box
        self.crop = QLabel()
        self.crop.setPixmap(_pixmap(rgb[b.y:b.y + b.h, b.x:b.x + b.w]))
        self.crop.setFixedSize(CROP_SIDE, CROP_SIDE)
        self.crop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.words = card_words(item, t)
        w = self.words
        self.title = QLabel(f"<b>{w['title']}</b>")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        described = " · ".join(x for x in (f"{t('look_colours')} {w['colours']}", w["attributes"]) if x)
        self.colours = ElidedLabel(described)
        self.colours.setObjectName("muted")
        best = w["matches"].split("\n")[0] if w["matches"] else t("look_no_matches")
        more = w["matches"].count("\n")
        self.matches = ElidedLabel(f"{best}  (+{more})" if more else best)
        self.matches.setObjectName("muted")
        self.attributes = self.colours       # one line holds both (the tests and the tooltip read self.words)
        text = QVBoxLayout()
        text.setSpacing(1)
        text.setContentsMargins(0, 0, 0, 0)
        for label in (self.title, self.colours, self.matches):
            text.addWidget(label)
        text.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.setSpacing(6)
        row.addWidget(self.crop, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        lines = [w["title"], f"{t('look_colours')} {w['colours']}", w["attributes"], w["matches"], "",
                 t("look_card_tip")]
        self.setToolTip("\n".join(x for x in lines if x is not None))

    def set_selected(self, on: bool) -> None:
        self.setProperty("selected", on)
        self.setStyleSheet("QFrame#card { border: 2px solid #2b7de9; }" if on else "")

    def mouseReleaseEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self.chosen.emit(self.item)
        super().mouseReleaseEvent(e)


class CardGrid(QWidget):
    """The cards in one column while they all fit the height (each card's words at full width); when they do not,
    in as many columns as the width holds (MIN_COLUMN each) — the grid reflows as the tab is resized."""
    MIN_COLUMN = 300

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.cards: list[QWidget] = []
        self.columns = 1

    def set_cards(self, cards: list[QWidget]) -> None:
        for c in self.cards:
            self.grid.removeWidget(c)
        self.cards = list(cards)
        self.columns = 0                     # lay them out afresh
        self.reflow()

    def columns_for(self, width: int, height: int) -> int:
        if not self.cards:
            return 1
        row = self.cards[0].sizeHint().height() + self.grid.spacing()
        rows_fit = max(1, (height + self.grid.spacing()) // max(1, row))
        needed = -(-len(self.cards) // rows_fit)            # columns for every card to be in view
        return max(1, min(needed, width // self.MIN_COLUMN, len(self.cards)))

    def reflow(self) -> None:
        port = self.parentWidget()          # the scroll area's viewport: the room the cards have
        width = port.width() if port is not None else self.width()
        height = port.height() if port is not None else self.height()
        columns = self.columns_for(width, height)
        if columns == self.columns:
            return
        self.columns = columns
        for c in self.cards:
            self.grid.removeWidget(c)
        for i, c in enumerate(self.cards):
            self.grid.addWidget(c, i // columns, i % columns, Qt.AlignmentFlag.AlignTop)
        for r in range(self.grid.rowCount() + 1):
            self.grid.setRowStretch(r, 0)
        for col in range(self.grid.columnCount()):
            self.grid.setColumnStretch(col, 1 if col < columns else 0)
        self.grid.setRowStretch(self.grid.rowCount(), 1)


class LookPanel(QWidget):
    """The garments of the frame on screen, as cards."""
    itemChosen = Signal(object)              # engine.look.look.Item: draw its box, ask about it next
    message = Signal(str)
    _look = Signal(object)

    def __init__(self, catalog_folder=None, parent=None, *, config):
        super().__init__(parent)
        self.t = None
        self.worker = LookWorker(None, catalog_folder, config)
        self.thread = None
        self._look.connect(self.worker.look)
        self.worker.stage.connect(self._on_stage)
        self.worker.looked.connect(self._on_looked)
        self.worker.failed.connect(self._on_failed)
        self.look_button = QPushButton()
        self.look_button.clicked.connect(lambda: self.request(self.frame, force=True))
        self.use_model = QCheckBox()
        self.use_model.setChecked(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.look_button.setObjectName("small")
        self.look_button.setToolTip("")
        self.status = QLabel()               # beside the button, wrapped: its own line cost the third card
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(self.look_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.use_model, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.status, 1)
        top.addWidget(self.busy, 0, Qt.AlignmentFlag.AlignTop)
        self.cards_box = CardGrid()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.cards_box)
        self.scroll.viewport().installEventFilter(self)      # the viewport resized: the cards reflow
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addLayout(top)
        v.addWidget(self.scroll, 1)
        self.frame = None                    # the frame the newest request is about
        self.look = None                     # the last look shown
        self.shown_key: str | None = None
        self.card_widgets: list[GarmentCard] = []

    def eventFilter(self, obj, event) -> bool:           # noqa: N802 (Qt's name)
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self.cards_box.reflow()
        return super().eventFilter(obj, event)

    def attach(self, engine=None, engine_thread=None) -> None:
        """Run the look in the engine's thread with its model (one model, one thread: a look waits for a running
        answer); without one, in a thread of its own, with no model."""
        self.worker.engine = engine
        if engine_thread is not None:
            self.worker.moveToThread(engine_thread)
        else:
            self.thread = start_in_thread(self.worker, "look")

    def retranslate(self, t) -> None:
        self.t = t
        self.look_button.setText(t("look_run"))
        self.use_model.setText(t("look_with_model"))
        self.use_model.setToolTip(t("look_with_model_tip"))
        if self.look is not None and self.frame is not None:
            self._show(self.look, self.frame)
        elif not self.card_widgets:
            self.set_status(t("look_hint"))

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    # ---- requests -----------------------------------------------------------------------------------------------
    def request(self, frame, force: bool = False) -> bool:
        """Look at ``frame`` (the whole frame on screen, not a box drawn on it); False when there is nothing to
        look at or it is the one shown already."""
        if frame is None:
            if self.t is not None:
                self.set_status(self.t("open_first"))
            return False
        if not force and frame.key == self.shown_key:
            return False
        self.frame = frame
        self.worker.latest += 1
        self.busy.show()
        self.set_status(self.t("look_busy") if self.t else "")
        self._look.emit({"id": self.worker.latest, "frame": frame, "model": self.use_model.isChecked()})
        return True

    def _on_stage(self, request_id: int, stage: str) -> None:
        if request_id == self.worker.latest and self.t is not None:
            self.set_status(self.t("look_model" if stage == "model" else "look_busy"))

    def _on_looked(self, request_id: int, look) -> None:
        if request_id != self.worker.latest or self.frame is None:
            return
        self.busy.hide()
        self.look = look
        self.shown_key = self.frame.key
        self._show(look, self.frame)
        self.message.emit(self.t("look_done", n=len(look.items), s=self.t.number(look.seconds)))

    def _on_failed(self, request_id: int, text: str) -> None:
        if request_id == self.worker.latest:
            self.busy.hide()
            self.set_status(self.t.error(text))

    def _show(self, look, frame) -> None:
        for c in self.card_widgets:
            c.deleteLater()
        self.card_widgets = []
        for item in look.items:
            card = GarmentCard(item, frame.rgb, self.t)
            card.chosen.connect(self._on_card)
            self.card_widgets.append(card)
        self.cards_box.set_cards(self.card_widgets)
        how = {"pose": "look_how_pose", "person": "look_how_pose", "frame": "look_how_frame", "box": "look_how_box"}
        self.set_status(self.t(how.get(look.how, "look_how_frame"), n=len(look.items)) if look.items
                        else self.t("look_none"))
        self.scroll.verticalScrollBar().setValue(0)

    def _on_card(self, item) -> None:
        for c in self.card_widgets:
            c.set_selected(c.item is item)
        self.itemChosen.emit(item)

    def picture_changed(self, key: str | None) -> None:
        """Another picture on screen: the cards describe an older one (kept, marked as such)."""
        if self.shown_key is not None and key != self.shown_key and self.t is not None and self.card_widgets:
            self.set_status(self.t("look_stale"))

    def shutdown(self) -> None:
        self.worker.latest += 1
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(10_000)
        self.worker.shutdown()


class FindPanel(QWidget):
    """Beside the region's line under the player: "Procurar no vídeo" and its progress, one row. The moments found
    (thumbnails with their times, in rows that wrap) are in ``results_box``, which the window shows as a tab beside
    the cards: opening them never takes height from the video."""
    seek = Signal(float)                     # seconds
    opened = Signal()                        # a search started or answered: show ``results_box``
    _find = Signal(object)

    def __init__(self, catalog_folder=None, parent=None, *, config):
        super().__init__(parent)
        self.t = None
        self.worker = FindWorker(catalog_folder, config)
        self.thread = start_in_thread(self.worker, "find")
        self._find.connect(self.worker.find)
        self.worker.progress.connect(self._on_progress)
        self.worker.found.connect(self._on_found)
        self.worker.failed.connect(self._on_failed)
        self.field = QLineEdit()
        self.field.returnPressed.connect(self.search)
        self.field.setClearButtonEnabled(True)
        self.button = QPushButton()
        self.button.clicked.connect(self.search)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(120)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.results = QListWidget()
        self.results.setViewMode(QListWidget.ViewMode.IconMode)
        self.results.setFlow(QListWidget.Flow.LeftToRight)
        self.results.setWrapping(True)
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setIconSize(QSize(112, 63))
        self.results.setGridSize(QSize(128, 96))
        self.results.setMovement(QListWidget.Movement.Static)
        self.results.itemClicked.connect(self._on_item)
        self.results.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.field, 1)
        row.addWidget(self.button)
        row.addWidget(self.progress)
        self.results_box = QWidget()
        rv = QVBoxLayout(self.results_box)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.status)
        rv.addWidget(self.results, 1)
        rv.addStretch(0)
        self.video: str | None = None
        self.moments: list = []
        self.setEnabled(False)

    def retranslate(self, t) -> None:
        self.t = t
        self.field.setPlaceholderText(t("find_placeholder"))
        self.field.ensurePolished()           # the stylesheet's font: the placeholder is never cut; the region's
        self.field.setMinimumWidth(           # line beside it gives way instead
            self.field.fontMetrics().horizontalAdvance(t("find_placeholder")) + 36)
        self.button.setText(t("find_button"))
        self.button.setToolTip(t("find_tip"))
        self.field.setToolTip(t("find_tip"))       # the examples: the placeholder is short to fit beside the region

    def set_video(self, info: dict) -> None:
        """A source opened: the search works on video files."""
        self.video = info["spec"] if info.get("kind") == "video" else None
        self.setEnabled(self.video is not None)
        self.worker.cancel.set()
        self.worker.latest += 1
        self.results.clear()
        self.results.hide()
        self.progress.hide()
        self.status.setText("")

    def search(self) -> bool:
        text = self.field.text().strip()
        if not self.video or not text:
            return False
        self.worker.cancel.set()             # a search still indexing stops (its frames are kept)
        self.worker.latest += 1
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(self.t("find_indexing"))
        self.opened.emit()
        self._find.emit({"id": self.worker.latest, "video": self.video, "query": text})
        return True

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _on_found(self, request_id: int, moments) -> None:
        if request_id != self.worker.latest:
            return
        self.progress.hide()
        self.moments = [m for m, _ in moments]
        self.results.clear()
        for m, thumb in moments:
            item = QListWidgetItem(fmt_time(m.t))
            if thumb:
                pm = QPixmap()
                pm.loadFromData(thumb, "JPG")
                item.setIcon(QIcon(pm))
            item.setToolTip(f"{m.garment or ''} · {m.score:.2f}")
            item.setData(Qt.ItemDataRole.UserRole, m.t)
            self.results.addItem(item)
        self.results.setVisible(bool(moments))
        self.status.setText(self.t("find_found", n=len(moments)) if moments else self.t("find_none"))
        self.opened.emit()

    def _on_failed(self, request_id: int, text: str) -> None:
        if request_id == self.worker.latest:
            self.progress.hide()
            self.status.setText(self.t.error(text))

    def _on_item(self, item: QListWidgetItem) -> None:
        self.seek.emit(float(item.data(Qt.ItemDataRole.UserRole)))

    def shutdown(self) -> None:
        self.worker.cancel.set()
        self.worker.latest += 1
        self.thread.quit()
        self.thread.wait(10_000)
        self.worker.shutdown()
