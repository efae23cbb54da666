"""The picture: a video, an image or a camera decoded off the GUI thread, played, paused, stepped and sought, and
a region drawn on it. What it shows is exactly what a question is about."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QStyle, QVBoxLayout, QWidget

from desktop.panels.fitting import ElidedLabel
from desktop.panels.video_view import VideoView, fmt_time
from desktop.workers import FrameReader, start_in_thread


class SeekSlider(QSlider):
    """A click on the groove jumps to that point (a plain QSlider pages by one step towards it)."""

    def mousePressEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            handle = self.style().pixelMetric(QStyle.PixelMetric.PM_SliderLength, None, self)
            span = max(1, self.width() - handle)
            x = int(e.position().x()) - handle // 2
            value = QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x, span, self.invertedAppearance())
            self.setValue(value)          # valueChanged seeks
            e.accept()
        super().mousePressEvent(e)        # and the handle follows a drag from there


class PlayerPanel(QWidget):
    settled = Signal()               # the picture stopped changing: paused, stepped, sought, a region drawn
    opened = Signal(dict)            # a source opened: {"spec", "kind", "frame_count", "fps", "duration"}
    failed = Signal(str)             # a source could not be opened or read
    toggled = Signal(bool)           # the clerk played (True) or paused (False) with the button or the space bar
    fileDropped = Signal(str)
    # requests to the reader thread (queued: they run there, in order)
    _open = Signal(str)
    _seek = Signal(int)
    _next = Signal()
    _close_source = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame = None                # the frame on screen
        self.source_info: dict = {}
        self.region = None
        self.playing = False
        self._pending_frame = False
        self._seek_target: int | None = None   # where the last seek goes (frames arrive later)
        self._t = None

        self.view = VideoView()
        self.view.regionSelected.connect(self._on_region)
        self.view.fileDropped.connect(self.fileDropped.emit)
        # the style's own icons: the glyphs (⏸) were empty boxes with the fonts a bare Linux installs
        style = self.style()
        self.play_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self.pause_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QPushButton()
        self.play_button.setIcon(self.play_icon)
        self.play_button.setFixedWidth(48)
        self.play_button.clicked.connect(self.toggle_play)
        self.prev_button = QPushButton()
        self.prev_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward))
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button = QPushButton()
        self.next_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.live_badge = QLabel()          # AO VIVO, while live mode runs
        self.live_badge.setObjectName("live")
        # no room kept for it while hidden (almost always): 116 px of the 1024-wide screen's row went to nothing
        self.live_badge.hide()
        self.slider = SeekSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.sliderMoved.connect(self._on_slider)
        self.slider.valueChanged.connect(self._on_slider_value)
        self.timecode = QLabel("--:--")
        # as wide as a long time reads, so the slider does not jump as the digits change (190 px was 40 too many)
        self.timecode.setMinimumWidth(self.timecode.fontMetrics().horizontalAdvance("00:00.00 / 00:00.00 · #0000"))
        # its text comes and goes: it takes its width from what sits beside it (the find field), never the column's;
        # on a narrow screen it drops "(clique direito limpa)" (then in its tooltip), and at worst ends in "…"
        self.region_label = ElidedLabel(policy=QSizePolicy.Policy.Preferred)
        transport = QHBoxLayout()
        for w in (self.prev_button, self.play_button, self.next_button):
            transport.addWidget(w)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.timecode)
        transport.addWidget(self.live_badge)
        v = QVBoxLayout(self)
        v.addWidget(self.view, 1)
        v.addLayout(transport)
        self.bottom_row = QHBoxLayout()     # the region's line; the window puts the find field beside it
        self.bottom_row.addWidget(self.region_label)
        v.addLayout(self.bottom_row)
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._request_next)

        self.reader = FrameReader()
        self.reader_thread = start_in_thread(self.reader, "frames")
        self._open.connect(self.reader.open)
        self._seek.connect(self.reader.seek)
        self._next.connect(self.reader.next)
        self._close_source.connect(self.reader.close)
        self.reader.opened.connect(self._on_opened)
        self.reader.frame.connect(self._on_frame)
        self.reader.failed.connect(self._on_failed)
        self.reader.open_failed.connect(self._on_open_failed)
        self.reader.ended.connect(self._on_ended)

    def retranslate(self, t) -> None:
        self._t = t
        self.view.placeholder = t("drop")
        self.live_badge.setText(t("on_air"))
        self._show_region()
        self.view.update()

    def shutdown(self) -> None:
        self.play_timer.stop()
        self._close_source.emit()
        self.reader_thread.quit()
        self.reader_thread.wait(10_000)

    # ------------------------------------------------------------------ source
    def open(self, spec: str, loop: bool = False) -> None:
        """Open a file, a camera ("camera:0") or a stream; ``loop``: a video file standing in for a camera plays
        forever. Until the source opens, the picture on screen stays as it was (a failed open changes nothing)."""
        self._pending_loop = loop
        self._open.emit(str(spec))

    _pending_loop = False

    def set_live(self, on: bool) -> None:
        self.live_badge.setVisible(on)

    def set_loop(self, loop: bool) -> None:
        self.reader.loop = loop

    def _on_opened(self, info: dict) -> None:
        self.pause()
        self.reader.loop = self._pending_loop
        self.source_info = info
        self.region = None
        self.view.region = None
        self._show_region()
        self.slider.setEnabled(info["kind"] == "video")
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, info["frame_count"] - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        for w in (self.play_button, self.prev_button, self.next_button):
            w.setEnabled(info["kind"] != "image")
        self.opened.emit(info)

    def _on_frame(self, frame) -> None:
        self._pending_frame = False
        if frame.index == self._seek_target:
            self._seek_target = None
        self.frame = frame
        self.view.show_frame(frame)
        if frame.index is not None and self.source_info.get("kind") == "video":
            self.slider.blockSignals(True)
            self.slider.setValue(frame.index)
            self.slider.blockSignals(False)
            self.timecode.setText(f"{fmt_time(frame.timestamp or 0)} / {fmt_time(self.source_info['duration'])} "
                                  f"· #{frame.index}")
        elif self.source_info.get("kind") == "image":
            self.timecode.setText(f"{frame.width}x{frame.height}")
        if not self.playing:          # during playback the picture changes 25 times a second: wait for a pause
            self.settled.emit()

    def _on_failed(self, message: str) -> None:
        """A frame could not be read: stop there. A source that did not open: the one on screen stays, as it was
        (playing or not)."""
        if self._open_failed:
            self._open_failed = False
        else:
            self._pending_frame = False
            self.pause()
        self.failed.emit(message)

    _open_failed = False

    def _on_open_failed(self, _message: str) -> None:
        self._open_failed = True          # the ``failed`` that follows is about the open

    def _on_ended(self) -> None:
        self._pending_frame = False
        self.pause()

    # ------------------------------------------------------------------ transport
    def _request_next(self) -> None:
        if not self._pending_frame:       # decoding slower than real time: drop, never queue
            self._pending_frame = True
            self._next.emit()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
            self.toggled.emit(False)
        elif self.play():
            self.toggled.emit(True)

    def play(self) -> bool:
        """Play a video or a camera at its frame rate; False for a still image or nothing open."""
        if self.source_info.get("kind") not in ("video", "camera"):
            return False
        self.playing = True
        self.play_button.setIcon(self.pause_icon)
        fps = self.source_info.get("fps") or 25
        self.play_timer.start(max(5, int(1000 / fps)))
        return True

    def pause(self) -> None:
        was_playing = self.playing
        self.playing = False
        self.play_timer.stop()
        self.play_button.setIcon(self.play_icon)
        if was_playing:
            self.settled.emit()

    def step(self, delta: int) -> None:
        if self.source_info.get("kind") != "video" or self.frame is None:
            return
        self.pause()
        base = self._seek_target if self._seek_target is not None else (self.frame.index or 0)
        self.seek_to(base + delta)

    def seek_to(self, index: int) -> None:
        index = max(0, min(index, self.source_info.get("frame_count", 1) - 1))
        self._seek_target = index
        self._seek.emit(index)

    def _on_slider(self, value: int) -> None:
        self.pause()
        self.seek_to(value)

    def _on_slider_value(self, value: int) -> None:
        if not self.slider.isSliderDown():
            self._on_slider(value)

    # ------------------------------------------------------------------ region
    def set_region(self, region) -> None:
        """A region given back (a history entry's box): drawn, and the picture settles on it."""
        self.view.region = region
        self.view.update()
        self._on_region(region)

    def _on_region(self, region) -> None:
        self.region = region
        self._show_region()
        if self.frame is not None:
            self.settled.emit()

    def _show_region(self) -> None:
        if self._t is not None:
            if self.region:
                self.region_label.setText(self._t("region", w=self.region.w, h=self.region.h),
                                          self._t("region_short", w=self.region.w, h=self.region.h))
            else:
                self.region_label.setText(self._t("no_region"), self._t("no_region_short"))
            self.region_label.set_tip(str(self.region) if self.region else "")
