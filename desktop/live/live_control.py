"""Live mode in the window: the dialog, starting once the camera (or file) has opened — a failed start leaves the
player as it was —, the AO VIVO badge, the answer with its time over the picture, and the card and similar products
following the live picture. The timing of the questions is LiveMode's (desktop/live/live_mode.py)."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog

from desktop.live.live_dialog import LiveDialog
from desktop.live.live_mode import LiveMode


class LiveControl(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.pending: tuple | None = None     # (spec, question, interval): live begins when the source opens
        self.mode = LiveMode(lambda: window.frame, lambda: not window.busy and window.model_ready, self)
        self.mode.askDue.connect(window._ask_about)
        self.mode.prepareDue.connect(self._prepare)

    def _prepare(self, frame) -> None:
        self.w.engine.prepare(frame)

    def choose(self) -> None:
        w = self.w
        dlg = LiveDialog(w.t, w.prompts.get(w.t.lang, []), w)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.start(dlg.spec(), dlg.question.currentText(), dlg.interval.value())

    def start(self, source: str, question: str, interval_s: float) -> None:
        spec = f"camera:{source}" if source.isdigit() else source
        self.pending = (spec, question, interval_s)
        self.w.player.open(spec, loop=True)

    def on_opened(self, info: dict) -> None:
        if self.pending and self.pending[0] == info["spec"]:
            self._begin(*self.pending)

    def on_failed(self) -> None:
        """The reader failed: a pending start is dropped (the player is untouched); a running live mode stops."""
        if self.pending:
            self.pending = None
        elif self.mode.active:
            self.stop()

    def _begin(self, spec: str, question: str, interval_s: float) -> None:
        w = self.w
        self.pending = None
        self.mode.start(question, interval_s)
        w.live_stop_action.setEnabled(True)
        w.player.set_live(True)
        w.describe_panel.picture_changed(None)
        w.statusBar().showMessage(w.t("live_on", src=spec))
        w.player.source_info.setdefault("fps", 15)
        w.player.play()
        self.mode.resume()

    def stop(self) -> None:
        w = self.w
        self.pending = None
        self.mode.stop()
        w.live_stop_action.setEnabled(False)
        w.player.set_loop(False)
        w.player.set_live(False)
        w.player.view.overlay = ""
        w.player.view.update()

    def on_answered(self, answer, asked) -> None:
        """A live answer: over the picture with its time; the card and the products follow that picture."""
        if not self.mode.timer.isActive():
            return
        w = self.w
        w.player.view.overlay = f"{time.strftime('%H:%M:%S')} · {answer.question}\n{answer.text}"
        w.player.view.update()
        if asked is not None:
            w.similar_panel.request(asked)
            w.describe_panel.picture_changed(asked.key)
