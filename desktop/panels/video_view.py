"""The frame, as large as the window allows; drag to select a region; an overlay for live answers."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QRubberBand, QSizePolicy, QWidget

from engine.media.frames import Frame, Region


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class VideoView(QWidget):
    regionSelected = Signal(object)      # engine.media.frames.Region, or None when cleared
    fileDropped = Signal(str)

    def __init__(self, placeholder: str = ""):
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAcceptDrops(True)
        self.setMouseTracking(False)
        # a click takes the keyboard from the question box: Space and the arrows then drive the video
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.frame: Frame | None = None
        self._image: QImage | None = None
        self.region: Region | None = None
        self.overlay = ""
        self.placeholder = placeholder
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin: QPoint | None = None

    def sizeHint(self) -> QSize:
        return QSize(800, 560)

    def show_frame(self, frame: Frame) -> None:
        self.frame = frame
        self._image = to_qimage(frame.rgb)
        self.update()

    def clear_region(self) -> None:
        self.region = None
        self._band.hide()
        self.regionSelected.emit(None)
        self.update()

    # geometry ---------------------------------------------------------------
    def picture_rect(self) -> QRect:
        """Where the frame is drawn inside the view (scaled to fit, centred; empty before the first frame)."""
        if self._image is None:
            return QRect()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = int(iw * scale), int(ih * scale)
        return QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)

    def widget_to_frame(self, rect: QRect) -> Region | None:
        t = self.picture_rect()
        if self.frame is None or t.isEmpty():
            return None
        r = rect.intersected(t)
        if r.width() < 4 or r.height() < 4:
            return None
        sx, sy = self.frame.width / t.width(), self.frame.height / t.height()
        return Region(int((r.x() - t.x()) * sx), int((r.y() - t.y()) * sy), max(1, int(r.width() * sx)),
                      max(1, int(r.height() * sy)))

    def frame_to_widget(self, region: Region) -> QRect:
        t = self.picture_rect()
        sx, sy = t.width() / self.frame.width, t.height() / self.frame.height
        return QRect(t.x() + int(region.x * sx), t.y() + int(region.y * sy), int(region.w * sx), int(region.h * sy))

    # painting ---------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1f2328"))
        if self._image is None:
            p.setPen(QColor("#9aa4ae"))
            p.setFont(QFont(self.font().family(), 13))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        t = self.picture_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(t, self._image)
        if self.region is not None:
            p.setPen(QPen(QColor("#ffb000"), 2))
            p.drawRect(self.frame_to_widget(self.region))
        if self.overlay:
            p.setFont(QFont(self.font().family(), 12))
            box = QRect(t.x() + 12, t.bottom() - 90, t.width() - 24, 78)
            p.fillRect(box, QColor(0, 0, 0, 170))
            p.setPen(QColor("white"))
            p.drawText(box.adjusted(10, 6, -10, -6), Qt.TextFlag.TextWordWrap, self.overlay)

    # selection --------------------------------------------------------------
    def mousePressEvent(self, e) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if e.button() == Qt.MouseButton.RightButton:
            self.clear_region()
            return
        if e.button() == Qt.MouseButton.LeftButton and self.frame is not None:
            self._origin = e.position().toPoint()
            self._band.setGeometry(QRect(self._origin, QSize()))
            self._band.show()

    def mouseMoveEvent(self, e) -> None:
        if self._origin is not None:
            self._band.setGeometry(QRect(self._origin, e.position().toPoint()).normalized())

    def mouseReleaseEvent(self, e) -> None:
        if self._origin is None:
            return
        rect = QRect(self._origin, e.position().toPoint()).normalized()
        self._origin = None
        self._band.hide()
        region = self.widget_to_frame(rect)
        if region is not None and region.w >= 8 and region.h >= 8:
            self.region = region
            self.regionSelected.emit(region)
        self.update()

    # drag and drop ----------------------------------------------------------
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        urls = e.mimeData().urls()
        if urls:
            self.fileDropped.emit(urls[0].toLocalFile() or urls[0].toString())


def fmt_time(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:05.2f}"
