"""A conversation about frames: encodes each frame once, answers any number of questions about it."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from engine.errors import VitrineError
from engine.language.answer_terms import to_portuguese
from engine.language.detect import check_text, detect_language
from engine.language.translate import LANGS, SentenceStream, Translator, load_translator, default_glossary
from engine.media.colors import asks_about_color, dominant_colors
from engine.media.frames import Frame
from engine.runtime.answer import Answer, Timings
from engine.runtime.backends.base import Backend, EncodedImage, GenerationOptions, OnToken
from engine.runtime.backends.chat_layout import Exchange
from engine.runtime.constrained import ChoiceConstraint, compile_schema
from engine.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
CONVERSATION_TURNS = 4      # earlier exchanges about a frame a follow-up sees, by default


@dataclass(frozen=True)
class AskOptions:
    """How ``Session.ask`` answers a question (the caller's choices; the frame and the question are the call's)."""
    generation: GenerationOptions = field(default_factory=GenerationOptions)   # tokens, sampling
    lang: str = "auto"               # the question's language ("auto" detects pt/en)
    # the answer's language (None: the question's); the model gets the question in a language it understands
    # (translated when needed, unless ``translate`` is False) and the answer comes back translated sentence by
    # sentence as it streams
    answer_lang: str | None = None
    translate: bool = True
    schema: dict | None = None       # a JSON schema the answer follows (constrained decoding; never translated)
    # the schema's answer as choices only (engine.runtime.constrained.ChoiceConstraint: the model is asked where
    # the answer branches, the fixed text in between is fed in one batch, the length is the layout's whatever the
    # weights): for a schema of enums (an attribute schema); one with free text or numbers is a BadInput
    choices: bool = False
    remember: bool = True            # the question continues the frame's conversation and joins it (not a schema's)
    # the conversation so far as (question, answer) texts in the question's language, in place of the frame's own
    # (an API client sends its messages); None: the frame's own
    history: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Turn:
    """One exchange of a frame's conversation: as the user saw it and as the model saw it."""
    question: str              # the user's words
    answer: str                # the answer the user got
    exchange: Exchange         # the model's side (translated question, its own answer and tokens)


def check_question(question: str) -> str:
    q = " ".join(check_text(question or "", "the question").split())
    if not q:
        raise VitrineError("the question is empty: type what you want to know about the frame")
    if len(q) > MAX_QUESTION_CHARS:
        raise VitrineError(f"the question is too long ({len(q)} characters, at most {MAX_QUESTION_CHARS}): "
                           "ask something shorter")
    return q


class Session:
    """Ask questions about frames with one backend.

    The last ``cache_frames`` encoded frames are kept: a follow-up question about a frame already seen skips
    the vision encoder (and, on the GGUF backend, the image prefill as well).

    Questions about one frame are a conversation: a follow-up sees the last ``conversation_turns`` exchanges
    (0: every question on its own), and the runtimes append it to what their cache already holds.
    ``new_conversation`` starts over.
    """

    def __init__(self, backend: Backend, cache_frames: int = 4, translator: Translator | None = None,
                 conversation_turns: int = CONVERSATION_TURNS, *, settings: Settings):
        """``settings``: the caller's, read once at its entry point (the CLI, the app, the server, a benchmark's
        main); the translator and the glossary loaded on first need, and the store's attribute schema
        ``engine.runtime.describe`` reads for this session, come from them."""
        self.backend = backend
        self.settings = settings
        self.conversation_turns = max(0, conversation_turns)
        self._threads: dict[str, list[Turn]] = {}    # frame key -> its conversation, oldest first
        self._translator = translator     # loaded on first need when None
        self._glossary = None             # for multilingual models' own Portuguese (no translator needed)
        self.cache_frames = max(1, cache_frames)
        self._images: OrderedDict[str, EncodedImage] = OrderedDict()
        self._lock = threading.Lock()     # one question at a time per backend
        self.encodes = 0                  # how many times the vision encoder ran (for tests and the UI)
        # encode-ahead: the newest picked frame waits here for the background encoder (at most one pending)
        self._next: Frame | None = None
        self._next_ready = threading.Condition()
        self._preparer: threading.Thread | None = None
        self._closed = False
        self.on_prepared = None           # called with a frame's key when its encode is ready (from a thread)

    # ---- encode ahead ------------------------------------------------------------------------------------------
    def prepare(self, frame: Frame) -> None:
        """Start encoding ``frame`` in the background (the clerk paused, stepped, seeked or drew a box), so the
        question about it finds the image ready. Returns at once. A newer call replaces a pending one that has
        not started; a question for another frame drops it (it waits at most for an encode already running)."""
        with self._next_ready:
            if self._closed or frame.key in self._images:
                return
            self._next = frame
            if self._preparer is None:
                self._preparer = threading.Thread(target=self._prepare_loop, name="encode-ahead", daemon=True)
                self._preparer.start()
            self._next_ready.notify()

    def is_prepared(self, frame: Frame) -> bool:
        return frame.key in self._images

    @property
    def pending(self) -> Frame | None:
        """The picked frame waiting for the encode-ahead thread (None once it took it, or a question dropped it)."""
        return self._next

    @property
    def encoder_thread(self) -> threading.Thread | None:
        """The encode-ahead thread while it runs (it ends when nothing is pending)."""
        return self._preparer

    @property
    def closed(self) -> bool:
        return self._closed

    def _prepare_loop(self) -> None:
        # The thread ends when nothing is pending (the next pick starts another): llama.cpp's OpenMP keeps a team
        # of threads for every thread that ran it, and with more of them than cores libgomp stops spinning at
        # once, which took two-thread decoding from 127 to 33 tok/s for as long as this thread lived.
        while True:
            with self._next_ready:
                if self._next is None or self._closed:
                    self._preparer = None
                    return
                frame, self._next = self._next, None
            with self._lock:
                try:
                    image, cached = self.encoded(frame)
                    self.backend.take_in(image)      # and into the model's context: the question adds only itself
                except Exception as e:          # the question about it will say what went wrong
                    log.info("encode-ahead failed: %s", e)
                    continue
            if not cached and self.on_prepared is not None:
                self.on_prepared(frame.key)

    def _drop_other_pending(self, frame: Frame) -> None:
        with self._next_ready:
            if self._next is not None and self._next.key != frame.key:
                self._next = None

    def encoded(self, frame: Frame) -> tuple[EncodedImage, bool]:
        """The frame's encoded image and whether it came from the cache."""
        key = frame.key
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key], True
        image = self.backend.encode(frame)
        self.encodes += 1
        self._images[key] = image
        while len(self._images) > self.cache_frames:
            old_key, old = self._images.popitem(last=False)
            old.release()
            self._threads.pop(old_key, None)
        return image, False

    def conversation(self, frame: Frame) -> list[Turn]:
        """The exchanges a follow-up about ``frame`` would see, oldest first."""
        return list(self._threads.get(frame.key, ())[-self.conversation_turns:]) if self.conversation_turns else []

    def _history_for(self, frame: Frame, given: list[tuple[str, str]], q_lang: str, model_lang: str,
                     translate: bool) -> tuple[Exchange, ...]:
        """The model's side of a conversation a caller gives as (question, answer) texts (the API's messages):
        the frame's own turns where they match (their exact tokens; the cache still holds them), the rest
        translated into the model's language when it needs that."""
        known = {(t.question, t.answer): t.exchange for t in self._threads.get(frame.key, ())}
        out = []
        for question, answer in given[-self.conversation_turns:] if self.conversation_turns else ():
            ex = known.get((question, answer))
            if ex is None:
                lang = detect_language(question) if question.strip() else q_lang
                if translate and lang in LANGS and lang != model_lang and "multi" not in self.backend.languages:
                    question = self.translator.translate(question, lang, model_lang)
                    answer = self.translator.translate(answer, lang, model_lang)
                ex = Exchange(question, answer)
            out.append(ex)
        return tuple(out)

    def new_conversation(self, frame: Frame | None = None) -> None:
        """Forget the exchanges about ``frame`` (None: about every frame); the encoded images stay."""
        with self._lock:
            if frame is None:
                self._threads.clear()
            else:
                self._threads.pop(frame.key, None)

    @property
    def translator_loaded(self) -> bool:
        """Whether a translator was given or loaded (``translator`` loads one on first need)."""
        return self._translator is not None

    @property
    def translator(self) -> Translator:
        if self._translator is None:
            self._translator = load_translator(settings=self.settings)
        return self._translator

    @property
    def glossary(self):
        if getattr(self._translator, "glossary", None) is not None:
            return self._translator.glossary
        if self._glossary is None:
            self._glossary = default_glossary(self.settings)
        return self._glossary

    @translator.setter
    def translator(self, translator: Translator) -> None:
        self._translator = translator

    def ask(self, frame: Frame, question: str, options: AskOptions | None = None, *,
            on_token: OnToken | None = None, cancel: threading.Event | None = None) -> Answer:
        """Answer ``question`` about ``frame`` as ``options`` say; ``on_token`` receives the answer as it streams,
        ``cancel`` stops it (the answer so far is kept, ``stopped`` set)."""
        opts = options or AskOptions()
        generation, translate, schema = opts.generation, opts.translate, opts.schema
        question = check_question(question)
        q_lang = detect_language(question) if opts.lang in ("auto", "", None) else opts.lang
        a_lang = opts.answer_lang or q_lang
        for code in (q_lang, a_lang):
            if code not in LANGS:
                raise VitrineError(f"unknown language {code!r}: use one of {', '.join(LANGS)}")
        understood = self.backend.languages
        multilingual = "multi" in understood
        to_model = question
        model_lang = q_lang
        if translate and q_lang not in understood and not multilingual:
            model_lang = understood[0] if understood else "en"
            to_model = self.translator.translate(question, q_lang, model_lang)
        stream = None
        constraint = None
        if schema is not None:
            constraint = self.backend.constraint_for(compile_schema(schema))
            if opts.choices:
                constraint = ChoiceConstraint.over(constraint)
            generation = replace(generation, constraint=constraint)
        elif translate and model_lang != a_lang:
            stream = SentenceStream(lambda s, said: self._answer_in(s, question, model_lang, a_lang, said),
                                    on_token, with_context=True)
        elif translate and multilingual and model_lang == a_lang == "pt":
            # the model answered in Portuguese itself: no translation, the store's words all the same
            stream = SentenceStream(self.glossary.normalise_pt, on_token)
        self._drop_other_pending(frame)
        t_asked = time.perf_counter()
        with self._lock:
            t0 = time.perf_counter()
            image, reused = self.encoded(frame)
            encode_s = 0.0 if reused else time.perf_counter() - t0
            in_thread = opts.remember and schema is None and self.conversation_turns > 0
            if not in_thread:
                before: tuple[Exchange, ...] = ()
            elif opts.history is not None:
                before = self._history_for(frame, list(opts.history), q_lang, model_lang, translate)
            else:
                before = tuple(t.exchange for t in self.conversation(frame))
            stats = self.backend.generate(image, to_model, generation, on_token=stream.feed if stream else on_token,
                                          cancel=cancel, history=before)
            text = stream.close() if stream else stats.text.strip()
            if in_thread and not stats.stopped and (stats.token_ids or stats.text.strip()):
                thread = self._threads.setdefault(frame.key, [])
                thread.append(Turn(question, text, Exchange(to_model, stats.text, tuple(stats.token_ids))))
                del thread[:-max(self.conversation_turns, 8)]    # an API client may resend a few more
            total = time.perf_counter() - t0
            if constraint is not None and hasattr(constraint, "close"):
                constraint.close()
        decode_rate = (stats.n_tokens - 1) / stats.decode_s if stats.n_tokens > 1 and stats.decode_s > 0 else 0.0
        timings = Timings(image_encode_s=encode_s, prefill_s=stats.prefill_s, ttft_s=(t0 - t_asked) + encode_s + stats.ttft_s,
                          decode_tok_s=decode_rate, n_tokens=stats.n_tokens, total_s=total,
                          # a runtime that cannot count its prompt (the reference backends): the image's tokens
                          prompt_tokens=stats.prompt_tokens or image.n_tokens)
        # small models name colours badly: a colour question also gets the colours the pixels have
        colors = dominant_colors(frame.rgb) if asks_about_color(question) or asks_about_color(to_model) else []
        log.info("answered in %.2fs (encode %.2fs%s, ttft %.2fs, %.1f tok/s)", total, encode_s,
                 " reused" if reused else "", timings.ttft_s, decode_rate)
        return Answer(question=question, text=text, model=self.backend.model_id, frame=frame.describe(),
                      frame_key=frame.key, timings=timings, reused_image=reused, stopped=stats.stopped,
                      question_lang=q_lang, answer_lang=a_lang if stream else model_lang, question_model=to_model,
                      text_model=stats.text.strip() if stream and model_lang != a_lang else "", colors=colors,
                      turn=stats.history_used, truncated=stats.truncated)

    def _answer_in(self, sentence: str, question: str, src: str, dst: str, said: str = "") -> str:
        """One sentence of the answer in the user's language: a one-term answer in the vocabulary's words,
        agreeing with the garment the question names; anything else through the translator, with what the
        answer ``said`` before (its pronouns refer to it)."""
        if (src, dst) == ("en", "pt"):
            term = to_portuguese(sentence, question)
            if term:
                return term
        if said:
            return self.translator.translate(sentence, src, dst, context=said)
        return self.translator.translate(sentence, src, dst)

    def forget(self) -> None:
        with self._lock:
            for image in self._images.values():
                image.release()
            self._images.clear()
            self._threads.clear()

    def stop_preparing(self) -> None:
        """End the encode-ahead thread (after an encode it is running)."""
        with self._next_ready:
            self._closed = True
            self._next = None
            self._next_ready.notify_all()
            thread = self._preparer
        if thread is not None:
            thread.join(30)

    def close(self) -> None:
        self.stop_preparing()
        self.forget()
        self.backend.close()
