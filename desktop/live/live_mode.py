"""Live mode: one question about the camera picture every few seconds, the picture encoded before its tick.

Shortly before each tick (as long before as an image encode took, with a margin) the picture on screen is handed
to the encode-ahead thread; the tick then asks about that picture, so the answer starts without waiting for the
vision encoder. A tick while an answer still runs is skipped, never queued.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal


class LiveMode(QObject):
    askDue = Signal(object, str)          # (frame, question): ask it now
    prepareDue = Signal(object)           # a frame to encode ahead for the next tick

    def __init__(self, current_frame: Callable[[], object], can_ask: Callable[[], bool], parent=None):
        super().__init__(parent)
        self.current_frame, self.can_ask = current_frame, can_ask
        self.question = ""
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.encode_s = 0.7               # the last measured image encode: how early to prepare
        self._next = None                 # the picture encoded ahead for the next tick
        self._prepare_timer = QTimer(self, singleShot=True)
        self._prepare_timer.timeout.connect(self._prepare)

    @property
    def active(self) -> bool:
        return bool(self.question)

    def start(self, question: str, interval_s: float) -> None:
        self.question = question
        self.timer.setInterval(int(interval_s * 1000))

    def resume(self) -> None:
        if self.question:
            self.timer.start()

    def pause(self) -> None:
        self.timer.stop()
        self._prepare_timer.stop()

    def stop(self) -> None:
        self.pause()
        self.question, self._next = "", None

    def tick(self) -> None:
        frame = self.current_frame()
        if not self.question or frame is None or not self.can_ask():
            return
        frame, self._next = self._next or frame, None
        self.askDue.emit(frame, self.question)
        interval = self.timer.interval()
        lead = int(1000 * min(0.8 * interval / 1000, max(0.3, 1.5 * self.encode_s)))
        self._prepare_timer.start(max(0, interval - lead))

    def _prepare(self) -> None:
        frame = self.current_frame()
        if self.timer.isActive() and frame is not None:
            self._next = frame
            self.prepareDue.emit(frame)
