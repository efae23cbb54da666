"""Everything slow runs here, off the GUI thread: decoding frames, loading the model, answering.

Each worker is a QObject living in its own QThread; the GUI talks to it through queued signals, so requests
are served one at a time, in order, and the GUI thread never waits.
"""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.errors import VitrineError, os_error_message
from engine.language.translate import load_translator
from engine.media.frames import FrameSource
from engine.runtime.backends import load_backend, GenerationOptions
from engine.runtime.describe import describe
from engine.runtime.session import Session, AskOptions
from engine.settings import Settings

log = logging.getLogger(__name__)


def _message(e: BaseException) -> str:
    if isinstance(e, VitrineError):
        return str(e)
    if isinstance(e, MemoryError):
        return "out of memory: close other programs or choose a smaller model"
    if isinstance(e, OSError) and e.errno is not None:
        return os_error_message(e)
    log.exception("unexpected error")
    return f"unexpected error: {type(e).__name__}: {e}"


class FrameReader(QObject):
    """Decodes frames with the engine's FrameSource (OpenCV): what is shown is exactly what is asked about."""
    opened = Signal(dict)         # {"spec", "kind", "frame_count", "fps", "duration"}
    frame = Signal(object)        # engine.media.frames.Frame
    failed = Signal(str)          # a source did not open or a frame could not be read
    open_failed = Signal(str)     # sent just before ``failed`` when a source did not open (the one before stays)
    ended = Signal()

    def __init__(self):
        super().__init__()
        self.source = None
        self.loop = False          # live mode on a file: start again at the end

    @Slot(str)
    def open(self, spec: str) -> None:
        try:
            src = FrameSource(spec)
        except BaseException as e:       # noqa: BLE001 - the GUI shows every failure
            message = _message(e)
            self.open_failed.emit(message)
            self.failed.emit(message)
            return
        if self.source is not None:
            self.source.close()
        self.source = src
        self.opened.emit({"spec": spec, "kind": src.kind, "frame_count": src.frame_count, "fps": src.fps,
                          "duration": src.duration})
        self.seek(0)

    @Slot(int)
    def seek(self, index: int) -> None:
        if self.source is None:
            return
        try:
            if self.source.kind == "video":
                index = max(0, min(index, self.source.frame_count - 1))
                self.frame.emit(self.source.read(index=index))
            else:
                self.frame.emit(self.source.read())
        except BaseException as e:       # noqa: BLE001
            self.failed.emit(_message(e))

    @Slot()
    def next(self) -> None:
        if self.source is None:
            return
        if self.source.kind == "video" and self.source.position >= self.source.frame_count:
            if self.loop:
                self.seek(0)
            else:
                self.ended.emit()
            return
        try:
            self.frame.emit(self.source.next())
        except BaseException as e:       # noqa: BLE001
            self.failed.emit(_message(e))

    @Slot()
    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None


class EngineWorker(QObject):
    """Owns the model (backend + session) and the history; answers one question at a time."""
    loading = Signal(str)                 # stage text
    loaded = Signal(str)                  # model name
    load_failed = Signal(str)
    token = Signal(str)
    answered = Signal(object, object)     # engine.runtime.answer.Answer, history entry id (None: not saved)
    ask_failed = Signal(str)
    save_failed = Signal(str)             # the answer is shown all the same
    translator_ready = Signal()
    prepared = Signal(str)                # a picked frame's image is encoded: its question will be quick
    described = Signal(object)            # engine.runtime.describe.Description
    describe_failed = Signal(str)

    def __init__(self, history=None, translator=None, *, config: Settings):
        super().__init__()
        self.config = config            # the app's settings (VITRINE_*), read once by its window
        self.session = None
        self.model_name = ""
        self.history = history
        self.translator = translator
        self.cancel = threading.Event()   # set from the GUI thread: Stop

    @Slot(str)
    def load_model(self, name: str) -> None:
        self.loading.emit(name)
        try:
            if self.session is not None:
                self.session.close()
                self.session = None
            backend = load_backend(name, settings=self.config)
            self.session = Session(backend, translator=self.translator,
                                   conversation_turns=self.config.conversation_turns, settings=self.config)
            self.session.on_prepared = self.prepared.emit
            self.model_name = name
        except BaseException as e:       # noqa: BLE001
            self.load_failed.emit(_message(e))
            return
        self.loaded.emit(name)

    @Slot()
    def warm_translator(self) -> None:
        """Load the translator before the first question (argostranslate's import alone takes seconds)."""
        try:
            if self.translator is None:
                self.translator = load_translator(settings=self.config)
                if self.session is not None:
                    self.session.translator = self.translator
            self.translator.warm()
            self.translator_ready.emit()
        except BaseException as e:       # noqa: BLE001 - translation failing must not stop the app
            log.warning("translator not ready: %s", _message(e))

    @Slot(object)
    def ask(self, request: dict) -> None:
        if self.session is None:
            self.ask_failed.emit("no model loaded")
            return
        self.cancel.clear()
        try:
            # lang "en": a question the clerk corrected in English goes to the model as it is
            options = AskOptions(GenerationOptions(max_tokens=request.get("max_tokens", 256)),
                                 lang=request.get("lang", "auto"), answer_lang=request.get("answer_lang"))
            answer = self.session.ask(request["frame"], request["question"], options, on_token=self.token.emit,
                                      cancel=self.cancel)
        except BaseException as e:       # noqa: BLE001
            self.ask_failed.emit(_message(e))
            return
        entry = None
        if self.history is not None:
            try:
                entry = self.history.add(answer, request["frame"], frame_key=request.get("frame_key"))
            except BaseException as e:   # noqa: BLE001 - a full or read-only disk must not lose the answer
                self.save_failed.emit(_message(e))
        self.answered.emit(answer, entry)

    @Slot(object)
    def new_conversation(self, frame) -> None:
        """The next question about ``frame`` starts a new conversation (None: about every frame)."""
        if self.session is not None:
            self.session.new_conversation(frame)

    def thread_length(self, frame) -> int:
        """How many earlier exchanges a question about ``frame`` would see (read from the GUI thread: a copy of
        a list the worker appends to)."""
        return len(self.session.conversation(frame)) if self.session is not None and frame is not None else 0

    def prepare(self, frame) -> None:
        """Encode the picked frame ahead of the question. Called from the GUI thread: it only hands the frame
        to the session's own encoder thread and returns."""
        if self.session is not None:
            self.session.prepare(frame)

    @Slot(object)
    def describe(self, frame) -> None:
        if self.session is None:
            self.describe_failed.emit("no model loaded")
            return
        try:
            self.described.emit(describe(self.session, frame))
        except BaseException as e:       # noqa: BLE001
            self.describe_failed.emit(_message(e))

    @Slot()
    def shutdown(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def start_in_thread(worker: QObject, name: str) -> QThread:
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.start()
    return thread
