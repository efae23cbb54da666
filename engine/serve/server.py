"""`vitrine serve`: the loaded model behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

`POST /v1/chat/completions` (messages with `image_url` parts as `data:` URLs, streaming as server-sent events,
`max_tokens`), `GET /v1/models`, `GET /health`. The session caches encoded images by content hash, so a second
question about the same picture skips the vision encoder; the messages' earlier questions and answers are the
conversation the model sees (appended to what its cache holds when they are the answers it gave), and
`POST /v1/vitrine/prepare` with just the image encodes it before the question comes. One request runs at a time per model; a bounded number
wait; beyond that the answer is 429 with Retry-After. Every limit answers with a JSON error that says what to do.

Any installed model may be named: it is loaded on the model's thread when a request names it (the one loaded
before is closed first: one model in memory), and requests queue behind the load as they queue behind an answer.
`temperature`, `top_p`, `seed` and `stop` are honoured (temperature 0 or absent: greedy); a sampling parameter
the runtime cannot follow is a 400 naming it, never ignored. `POST /v1/vitrine/similar|describe|colors|look` are
the catalog search, `vitrine describe`, the measured colours and the garments of a look, over the same image
reader, limits, errors and API key.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import ipaddress
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request  # at module level: FastAPI reads the handlers' (string) annotations here

from engine.errors import BadInput, NotFound, VitrineError
from engine.look.look import look_dict
from engine.look.regions import Box, PoseFinder
from engine.media.colors import dominant_colors
from engine.media.focus import FOCUS_MODES, PersonSegmenter, focus
from engine.media.frames import Frame, ImageTooLarge, Region, decode_image_bytes
from engine.runtime.backends import GenerationOptions
from engine.runtime.constrained import SchemaError, compile_schema
from engine.runtime.describe import AttributeSchema, describe, load_templates
from engine.runtime.session import AskOptions
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeLimits:
    max_body_bytes: int = 20 << 20         # a 4K JPEG as base64 is a few MB
    max_pixels: int = 4096 * 4096
    max_tokens: int = 1024
    queue: int = 8                          # requests waiting behind the running one
    max_question_chars: int = 4000


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 headers: dict | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers or {}
        self.param = param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": self.param}}

    @classmethod
    def of(cls, e: VitrineError) -> "ApiError":
        """A VitrineError as the answer its kind names: a client's mistake 400, not found 404, busy 429, the
        model's own fault 500."""
        status = getattr(e, "http_status", 400)
        kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}.get(
            status, "server_error" if status >= 500 else "invalid_request_error")
        code = {404: "not_found", 429: "busy"}.get(status, "model_fault" if status >= 500 else None)
        if isinstance(e, SchemaError):
            return cls(400, str(e), code="invalid_schema", param=e.field)
        return cls(status, str(e), kind, code, headers={"Retry-After": "1"} if status == 429 else None)

    @classmethod
    def internal(cls) -> "ApiError":
        return cls(500, "internal error: the server failed on this request (its log has the details); try again "
                   "or report it", kind="server_error", code="internal_error")


def is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    if not is_local(host) and not api_key:
        raise VitrineError(f"refusing to serve on {host} without an API key: other machines could use the model; "
                           "set --api-key or VITRINE_API_KEY, or keep the default 127.0.0.1")


def decode_image(url: str, limits: ServeLimits) -> Frame:
    """A `data:image/...;base64,` URL -> a Frame, through the one image reader (header measured before any
    decoding); anything else is a 4xx JSON error that says what is accepted."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise ApiError(400, "image_url must be a data: URL (data:image/jpeg;base64,...): this server is offline "
                       "and does not fetch images", code="image_not_data_url")
    head, _, payload = url.partition(",")
    if ";base64" not in head:
        raise ApiError(400, "the image data URL must be base64 (data:image/png;base64,...)", code="image_encoding")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "the image's base64 is damaged", code="image_base64") from None
    try:
        rgb = decode_image_bytes(raw, "image_url", max_pixels=limits.max_pixels)
    except ImageTooLarge as e:
        raise ApiError(413, str(e), code="image_too_large") from None
    except BadInput as e:
        raise ApiError(400, str(e), code="image_unreadable") from None
    return Frame(rgb=rgb, source="request")


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0            # 0: greedy, as without it
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()          # the answer ends before the first of these


# what a chat request may hold; anything else is a 400 that names it (never silently ignored)
ACCEPTED = {"model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options",
            "response_format", "temperature", "top_p", "seed", "stop", "user"}
# OpenAI's other sampling parameters: accepted only at the value that changes nothing
NEUTRAL = {"n": (1,), "frequency_penalty": (0, 0.0), "presence_penalty": (0, 0.0), "logprobs": (False,),
           "top_logprobs": (0,), "logit_bias": ({},), "parallel_tool_calls": (False, True)}


def _number(body: dict, name: str, low: float, high: float, default: float) -> float:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
        raise ApiError(400, f"{name} must be a number from {low:g} to {high:g}", param=name)
    return float(v)


def parse_sampling(body: dict) -> Sampling:
    for key in body:
        if key in NEUTRAL:
            if body[key] is not None and body[key] not in NEUTRAL[key]:
                raise ApiError(400, f"{key} is not supported by this server (only {NEUTRAL[key][0]!r}): leave it "
                               "out", code="unsupported_parameter", param=key)
        elif key not in ACCEPTED:
            raise ApiError(400, f"unknown parameter {str(key)[:40]!r}: this server takes model, messages, "
                           "max_tokens, stream, response_format, temperature, top_p, seed and stop",
                           code="unsupported_parameter", param=str(key)[:40])
    temperature = _number(body, "temperature", 0, 2, 0.0)
    top_p = _number(body, "top_p", 0.0001, 1, 1.0)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ApiError(400, "seed must be a whole number >= 0", param="seed")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(x, str) and 0 < len(x) <= 100
                                                              for x in stop):
        raise ApiError(400, "stop must be a string or a list of up to 4 non-empty strings", param="stop")
    return Sampling(temperature, top_p, seed, tuple(stop))


class StopText:
    """Passes an answer's pieces on until one of the stop strings appears (the text before it is the answer;
    decoding is cancelled); a piece that could be the start of one is held back until it cannot."""

    def __init__(self, stops: tuple[str, ...], emit, cancel: threading.Event):
        self.stops, self.emit, self.cancel = stops, emit, cancel
        self.keep = max(len(x) for x in stops) - 1
        self.held, self.hit = "", False

    def feed(self, piece: str) -> None:
        if self.hit:
            return
        self.held += piece
        found = [i for i in (self.held.find(x) for x in self.stops) if i >= 0]
        if found:
            self.hit = True
            self.cancel.set()
            out, self.held = self.held[:min(found)], ""
        else:
            n = max(0, len(self.held) - self.keep)
            out, self.held = self.held[:n], self.held[n:]
        if out and self.emit:
            self.emit(out)

    def flush(self) -> None:
        if not self.hit and self.held and self.emit:
            self.emit(self.held)
        self.held = ""

    def cut(self, text: str) -> str:
        found = [i for i in (text.find(x) for x in self.stops) if i >= 0]
        return text[:min(found)] if found else text


@dataclass
class ChatRequest:
    frame: Frame
    question: str
    max_tokens: int
    stream: bool
    schema: dict | None
    history: list[tuple[str, str]]      # earlier (question, answer) pairs from the messages, oldest first
    model: str | None = None            # the model named (None: the one loaded)
    sampling: Sampling = Sampling()


def _text_of(content: Any) -> str:
    """An assistant message's text (a string, or text parts)."""
    if isinstance(content, str):
        return " ".join(content.split())
    if isinstance(content, list):
        return " ".join(" ".join(p.get("text", "").split()) for p in content
                        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def parse_request(body: Any, names: list[str], limits: ServeLimits) -> ChatRequest:
    """``names``: the models a request may name (installed and the one loaded)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object with model and messages")
    model = check_model(body.get("model"), names)
    sampling = parse_sampling(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list")
    question, image_url = "", None
    history: list[tuple[str, str]] = []
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "assistant":
            answer = _text_of(m.get("content"))
            if question and answer:         # an earlier exchange: the conversation the model sees
                history.append((question, answer))
                question = ""
            continue
        if not isinstance(m, dict) or m.get("role") != "user":
            continue            # system prompts: the model answers about the image only
        content = m.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise ApiError(400, "a message's content must be a string or a list of parts")
        texts = []
        for p in parts:
            if not isinstance(p, dict):
                raise ApiError(400, "each content part must be an object with a type")
            if p.get("type") == "text" and isinstance(p.get("text"), str):
                texts.append(p["text"])
            elif p.get("type") == "image_url":
                iu = p.get("image_url")
                image_url = iu.get("url") if isinstance(iu, dict) else iu
            else:
                raise ApiError(400, f"unsupported content part {p.get('type')!r}: use text and image_url")
        if texts:
            question = " ".join(" ".join(texts).split())
    if image_url is None:
        raise ApiError(400, "no image: put an image_url part (a data: URL) in a user message", code="no_image")
    question = " ".join(question.split())
    if not question:
        raise ApiError(400, "no question: put a text part in the user message")
    if len(question) > limits.max_question_chars:
        raise ApiError(400, f"the question is too long ({len(question)} characters, at most "
                       f"{limits.max_question_chars})")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:          # OpenAI's null: the default
        max_tokens = min(256, limits.max_tokens)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= limits.max_tokens:
        raise ApiError(400, f"max_tokens must be a whole number from 1 to {limits.max_tokens}", param="max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise ApiError(400, "stream must be true or false", param="stream")
    schema = parse_response_format(body.get("response_format"))
    return ChatRequest(decode_image(image_url, limits), question, max_tokens, bool(stream), schema, history, model,
                       sampling)


def check_model(model: Any, names: list[str]) -> str | None:
    if model is None:
        return None
    if not isinstance(model, str) or model not in names:
        raise ApiError(404, f"unknown model {str(model)[:80]!r}: installed here: {', '.join(names)} "
                       "(GET /v1/models)", kind="not_found_error", code="model_not_found", param="model")
    return model


def parse_response_format(fmt: Any) -> dict | None:
    """The json_schema a response must follow (None for text), checked now: a schema outside what the decoder
    can follow is a 400 that names the field, never a failure in the middle of an answer."""
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise ApiError(400, 'response_format must be an object: {"type": "json_schema", "json_schema": {"schema": '
                       '{...}}} or {"type": "text"}', param="response_format")
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind != "json_schema":
        raise ApiError(400, f"response_format type {str(kind)[:40]!r} is not supported: use text or json_schema",
                       param="response_format.type")
    js = fmt.get("json_schema")
    schema = js.get("schema") if isinstance(js, dict) else None
    if not isinstance(schema, dict):
        raise ApiError(400, "response_format json_schema needs a schema object", code="invalid_schema",
                       param="response_format.json_schema.schema")
    try:
        compile_schema(schema, "response_format.json_schema.schema")
    except SchemaError as e:
        raise ApiError.of(e) from None
    return schema


class ModelSlot:
    """The loaded model: one request at a time, a bounded queue behind it; another installed model is loaded in
    its place when a request names it (``use``, under ``lock``)."""

    def __init__(self, session, name: str, limits: ServeLimits, loader=None, installed=None):
        self.session, self.name, self.limits = session, name, limits
        self.first = name
        self._loader = loader                  # name -> Session (None: only the loaded model)
        self._installed = installed            # () -> installed model names
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.served = 0
        self.loads = 0
        self.last_s = 1.0          # the last answer's duration: a fair Retry-After
        # every answer on one thread: llama.cpp's OpenMP keeps a team per thread that ran it, and more threads
        # in teams than cores stops libgomp's short spinning (two-thread decoding fell from 127 to 33 tok/s)
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-model")

    def names(self) -> list[str]:
        names = {self.first, self.name}
        if self._loader is not None and self._installed is not None:
            try:
                names.update(self._installed())
            except VitrineError as e:          # a damaged store: the loaded model still answers
                log.warning("could not list the installed models: %s", e)
        return sorted(names)

    async def use(self, name: str | None) -> None:
        """The model ``name`` loaded (None: whichever is): called holding ``lock``, so requests wait behind a
        load within the same queue limits. The old model is closed before the new one loads (one in memory)."""
        if name is None:
            name = self.name if self.session is not None else self.first
        if name == self.name and self.session is not None:
            return
        if self._loader is None:
            raise ApiError(404, f"unknown model {name!r}: this server has {self.name!r}", kind="not_found_error",
                           code="model_not_found", param="model")
        t0 = time.perf_counter()

        def swap():
            if self.session is not None:
                self.session.close()
                self.session = None
            self.session = self._loader(name)
            self.name = name
        await self.run(swap)
        self.loads += 1
        log.info("loaded %s in %.1fs", name, time.perf_counter() - t0)

    def backend_samples(self) -> bool:
        return bool(getattr(getattr(self.session, "backend", None), "samples", False))

    def run(self, fn, *args) -> asyncio.Future:
        """``fn(*args)`` on the model's thread, awaitable."""
        return asyncio.get_running_loop().run_in_executor(self.model_thread, functools.partial(fn, *args))

    def admit(self) -> None:
        if self.waiting >= self.limits.queue + 1:
            raise ApiError(429, f"busy: {self.waiting} requests are ahead; try again shortly", kind="rate_limit_error",
                           code="queue_full", headers={"Retry-After": str(max(1, round(self.last_s * self.waiting)))})


class Tools:
    """What the /v1/vitrine endpoints share beyond the model: the catalog (opened on first need), one person
    segmenter for focus and one PoseFinder for looks (each made on first need, used by one thread at a time)."""

    def __init__(self, catalog=None):
        self._catalog_or_opener = catalog
        self._catalog = None if callable(catalog) and not hasattr(catalog, "search_image") else catalog
        self._opened = False
        self._lock = threading.Lock()
        self._segmenter = None
        self._finder = None
        # focus and catalog searches off the event loop and off the model's thread (they need no model)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-tools")

    def catalog(self, required: bool = True):
        with self._lock:
            if self._catalog is None and callable(self._catalog_or_opener):
                self._catalog = self._catalog_or_opener()
                self._opened = True
        if self._catalog is None and required:
            raise NotFound("this server has no catalog: add products (`vitrine catalog add products.csv`) and "
                           "start it again")
        return self._catalog

    def segmenter(self):
        if self._segmenter is None:
            self._segmenter = PersonSegmenter()
        return self._segmenter

    def finder(self):
        if self._finder is None:
            self._finder = PoseFinder()
        return self._finder

    @property
    def made_finder(self):
        """The shared pose finder once a request made it (``finder()``), else None."""
        return self._finder

    def run(self, fn, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self.thread, functools.partial(fn, *args))

    def close(self) -> None:
        for thing in (self._segmenter, self._finder, self._catalog if self._opened else None):
            if thing is not None:
                try:
                    thing.close()
                except Exception as e:      # closing at exit: say it, go on closing the rest
                    log.warning("closing %s failed: %s", type(thing).__name__, e)
        self.thread.shutdown(wait=False)


def _box(value: Any, name: str = "box") -> list[int]:
    if not (isinstance(value, list) and len(value) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)) \
            or value[0] < 0 or value[1] < 0 or value[2] < 8 or value[3] < 8:
        raise ApiError(400, f"{name} must be [x, y, width, height] in pixels, at least 8x8", param=name)
    return value


def _whole(body: dict, name: str, low: int, high: int, default: int) -> int:
    v = body.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}", param=name)
    return v


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


class RequestLog:
    """ASGI middleware: one log line per request (method, path, status, duration, model), when its response has
    been sent (a stream's when it ends)."""

    def __init__(self, app, model_name: str):
        self.app, self.model_name = app, model_name

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0, status = time.perf_counter(), 500

        async def send_noting_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            requests_log.info("%s %s %d %.3fs model=%s", scope.get("method", ""), scope.get("path", ""), status,
                              time.perf_counter() - t0,
                              self.model_name() if callable(self.model_name) else self.model_name)


requests_log = logging.getLogger(__name__ + ".requests")


def create_app(session, model_name: str, limits: ServeLimits | None = None, api_key: str | None = None,
               answer_lang: str | None = None, loader=None, installed=None, catalog=None, *,
               settings: Settings):
    """The ASGI app around a loaded ``engine.runtime.session.Session``. Every answer that is not a success is JSON in the
    OpenAI error shape, a stream's included (an error event, then the stream's normal end).

    ``loader``: name -> Session for another model a request names, ``installed``: () -> the names it may load
    (None: only ``model_name``); ``catalog``: an engine.catalog.base.Catalog, or a function that opens one on first
    need, for /v1/vitrine/similar and /look. ``settings``: the server's, read once by `vitrine serve`, for the
    store's schema and templates."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException


    limits = limits or ServeLimits()
    slot = ModelSlot(session, model_name, limits, loader, installed)
    tools = Tools(catalog)
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        tools.close()

    app = FastAPI(title="Vitrine", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.slot = slot
    app.state.tools = tools
    app.add_middleware(RequestLog, model_name=lambda: slot.name)

    def error(e: ApiError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    def failed(e: BaseException) -> ApiError:
        """Any exception as the error a client gets: a VitrineError by its kind, anything else a 500 whose
        traceback goes to the server's log."""
        if isinstance(e, ApiError):
            return e
        if isinstance(e, VitrineError):
            return ApiError.of(e)
        log.error("unexpected error answering a request", exc_info=e)
        return ApiError.internal()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):      # unknown paths, wrong methods
        kind = {401: "authentication_error", 404: "not_found_error"}.get(e.status_code, "invalid_request_error")
        return error(ApiError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", kind=kind,
                              headers=getattr(e, "headers", None)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):
        return error(failed(e))

    def authorised(request: Request) -> None:
        if api_key and request.headers.get("authorization", "") != f"Bearer {api_key}":
            raise ApiError(401, "missing or wrong API key: send Authorization: Bearer <key>",
                           kind="authentication_error", code="invalid_api_key")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": slot.name, "busy": slot.lock.locked(), "waiting": slot.waiting,
                "served": slot.served}

    @app.get("/v1/models")
    async def models(request: Request):
        try:
            authorised(request)
        except ApiError as e:
            return error(e)
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "vitrine",
                                            "loaded": name == slot.name and slot.session is not None}
                                           for name in slot.names()]}

    def run_ask(req: ChatRequest, on_token, cancel: threading.Event, stop: StopText | None = None):
        sm = req.sampling
        options = GenerationOptions(max_tokens=req.max_tokens, temperature=sm.temperature, top_p=sm.top_p,
                                    seed=sm.seed)
        if stop is not None:
            on_token = stop.feed
        try:
            ask = AskOptions(options, answer_lang=answer_lang, schema=req.schema,
                             history=tuple(req.history) if req.history is not None else None)
            return slot.session.ask(req.frame, req.question, ask, on_token=on_token, cancel=cancel)
        finally:
            if stop is not None:
                stop.flush()

    async def ready_for(req: ChatRequest) -> None:
        """Holding the lock: the model the request names, and a runtime that can follow its sampling."""
        await slot.use(req.model)
        if req.sampling.temperature > 0 and not slot.backend_samples():
            raise ApiError(400, f"{slot.name} decodes greedily only: temperature must be 0 or absent",
                           code="unsupported_parameter", param="temperature")

    def too_large(n: int | None = None) -> ApiError:
        size = f"{n} bytes, " if n is not None else ""
        return ApiError(413, f"the request is too large ({size}at most {limits.max_body_bytes} bytes): send a "
                        "smaller image", code="body_too_large")

    async def read_body(request: Request) -> Any:
        """The JSON body, read piece by piece and refused as soon as it passes the limit: a chunked body (no
        Content-Length) is held to the same bound, and nothing larger than it is ever kept."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise ApiError(400, "the Content-Length header is not a number", code="invalid_content_length")
            if int(length) > limits.max_body_bytes:
                raise too_large(int(length))
        from starlette.requests import ClientDisconnect
        raw = bytearray()
        try:
            async for piece in request.stream():
                if len(raw) + len(piece) > limits.max_body_bytes:
                    raw.clear()
                    raise too_large()
                raw += piece
        except ClientDisconnect:
            raise ApiError(400, "the client closed the connection before the body ended",
                           code="body_incomplete") from None
        try:
            return json.loads(bytes(raw))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON", code="invalid_json") from None
        except RecursionError:
            raise ApiError(400, "the body's JSON nests too deeply", code="invalid_json") from None

    @app.post("/v1/vitrine/prepare")
    async def prepare(request: Request):
        """Just the image, before the question: it is encoded in the background (the newest one wins)."""
        try:
            authorised(request)
            body = await read_body(request)
            iu = body.get("image_url") if isinstance(body, dict) else None
            url = iu.get("url") if isinstance(iu, dict) else iu
            if not isinstance(url, str):
                raise ApiError(400, 'send {"image_url": {"url": "data:image/jpeg;base64,..."}}', code="no_image")
            frame = await asyncio.to_thread(decode_image, url, limits)
            if slot.session is None:
                raise ApiError(503, "no model is loaded (the last load failed): ask with a model name",
                               kind="server_error", code="no_model")
            ready = slot.session.is_prepared(frame)
            if not ready:
                slot.session.prepare(frame)
        except Exception as e:
            return error(failed(e))
        return JSONResponse({"status": "ready" if ready else "preparing", "image": frame.key},
                            status_code=200 if ready else 202)

    async def image_request(request: Request) -> tuple[dict, Frame]:
        """The key checked, the body read, its image decoded: what every /v1/vitrine endpoint starts with."""
        authorised(request)
        body = await read_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object: {"image_url": {"url": "data:image/jpeg;base64,..."}}')
        iu = body.get("image_url")
        url = iu.get("url") if isinstance(iu, dict) else iu
        if not isinstance(url, str):
            raise ApiError(400, 'send {"image_url": {"url": "data:image/jpeg;base64,..."}}', code="no_image")
        return body, await asyncio.to_thread(decode_image, url, limits)

    def boxed(body: dict, frame: Frame) -> tuple[Frame, bool]:
        if body.get("box") is None:
            return frame, False
        return frame.crop(Region(*_box(body["box"]))), True

    def focus_mode(body: dict) -> str:
        mode = body.get("focus", "auto")
        if mode not in FOCUS_MODES:
            raise ApiError(400, f"focus must be one of {', '.join(FOCUS_MODES)}", param="focus")
        return mode

    def focused(frame: Frame, is_boxed: bool, mode: str):
        wants_person = mode == "person" or (mode == "auto" and not is_boxed)
        return focus(frame.rgb, mode, tools.segmenter() if wants_person else None, boxed=is_boxed)

    async def with_model(model: Any, fn, *args):
        """``fn(*args)`` on the model's thread with the model ``model`` names loaded, queued like a question."""
        name = check_model(model, slot.names())
        slot.admit()
        slot.waiting += 1
        try:
            async with slot.lock:
                t0 = time.perf_counter()
                await slot.use(name)
                out = await slot.run(fn, *args)
                slot.last_s = time.perf_counter() - t0
                slot.served += 1
                return out
        finally:
            slot.waiting -= 1

    @app.post("/v1/vitrine/similar")
    async def similar(request: Request):
        """image (+ box, focus, k) -> the catalog's nearest products, as `vitrine catalog search` gives them."""
        try:
            body, frame = await image_request(request)
            k, mode = _whole(body, "k", 1, 200, 5), focus_mode(body)
            frame, is_boxed = boxed(body, frame)

            def search():
                region = focused(frame, is_boxed, mode)
                hits = tools.catalog().search_image(region.rgb, k, region.mask)
                return {"object": "vitrine.similar", "focus": region.how,
                        "colors": [c.to_dict() for c in dominant_colors(region.rgb, region.mask)],
                        "results": [h.to_dict() for h in hits]}
            return await tools.run(search)
        except Exception as e:
            return error(failed(e))

    @app.post("/v1/vitrine/colors")
    async def colors(request: Request):
        """image (+ box, focus) -> the colours measured from its pixels, in Portuguese and English."""
        try:
            body, frame = await image_request(request)
            mode = focus_mode(body)
            frame, is_boxed = boxed(body, frame)

            def measure():
                region = focused(frame, is_boxed, mode)
                return {"object": "vitrine.colors", "focus": region.how,
                        "colors": [c.to_dict() for c in dominant_colors(region.rgb, region.mask)]}
            return await tools.run(measure)
        except Exception as e:
            return error(failed(e))

    @app.post("/v1/vitrine/describe")
    async def describe_route(request: Request):
        """image (+ box, model, max_tokens) -> attributes under the store's schema and a Portuguese description,
        as `vitrine describe --json`."""
        try:
            body, frame = await image_request(request)
            frame, _ = boxed(body, frame)
            max_tokens = _whole(body, "max_tokens", 16, min(4096, max(16, limits.max_tokens)), 400)
            schema, templates = AttributeSchema.load(settings), load_templates(settings)
            d = await with_model(body.get("model"), lambda: describe(slot.session, frame, schema, templates,
                                                                     max_tokens=max_tokens))
            return {"object": "vitrine.description", "model": slot.name, **d.to_dict()}
        except Exception as e:
            return error(failed(e))

    @app.post("/v1/vitrine/look")
    async def look_route(request: Request):
        """image (+ boxes, k, crops, attributes, model) -> the garments with their regions, colours, attributes
        and the catalog's matches (`vitrine look`)."""
        try:
            body, frame = await image_request(request)
            raw = body.get("boxes")
            if raw is not None and not isinstance(raw, list):
                raise ApiError(400, "boxes must be a list of [x, y, width, height]", param="boxes")
            boxes = [Box(*_box(b, "boxes")) for b in raw] if raw else None
            k = _whole(body, "k", 1, 50, 3)
            crops, attributes = body.get("crops", False), body.get("attributes", True)
            if not isinstance(crops, bool) or not isinstance(attributes, bool):
                raise ApiError(400, "crops and attributes must be true or false", param="crops")

            def look():
                catalog = tools.catalog(required=False)
                return look_dict(frame, catalog, slot.session if attributes else None,
                                 finder=None if boxes else tools.finder(), boxes=boxes, k=k, crops=crops)
            return {"object": "vitrine.look", **await with_model(body.get("model"), look)}
        except Exception as e:
            return error(failed(e))

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            authorised(request)
            req = parse_request(await read_body(request), slot.names(), limits)
            slot.admit()
        except Exception as e:
            return error(failed(e))
        slot.waiting += 1
        if req.stream:
            return StreamingResponse(_stream(req), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            async with slot.lock:
                t0 = time.perf_counter()
                cancel = threading.Event()
                stop = StopText(req.sampling.stop, None, cancel) if req.sampling.stop else None
                try:
                    await ready_for(req)
                    answer = await slot.run(run_ask, req, None, cancel, stop)
                except asyncio.CancelledError:
                    cancel.set()
                    raise
                except Exception as e:
                    return error(failed(e))
                slot.last_s = time.perf_counter() - t0
                slot.served += 1
                name = slot.name
        finally:
            slot.waiting -= 1
        if stop is not None:
            answer.text = stop.cut(answer.text)
        return _completion(answer, name, req.max_tokens, stopped_by=stop.hit if stop else False)

    async def _stream(req: ChatRequest):
        cid, created = _completion_id(), int(time.time())
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def chunk(delta: dict, finish: str | None = None) -> str:
            return "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                          "model": slot.name, "choices": [{"index": 0, "delta": delta,
                                                                            "finish_reason": finish}]},
                                         ensure_ascii=False) + "\n\n"
        try:
            async with slot.lock:
                t0 = time.perf_counter()
                await ready_for(req)
                emit = lambda piece: loop.call_soon_threadsafe(queue.put_nowait, piece)     # noqa: E731
                stop = StopText(req.sampling.stop, emit, cancel) if req.sampling.stop else None
                task = slot.run(run_ask, req, emit, cancel, stop)
                task.add_done_callback(lambda _t: loop.call_soon_threadsafe(queue.put_nowait, None))
                yield chunk({"role": "assistant", "content": ""})
                while (piece := await queue.get()) is not None:
                    yield chunk({"content": piece})
                answer = task.result()
                slot.last_s = time.perf_counter() - t0
                slot.served += 1
                yield chunk({}, "stop" if stop is not None and stop.hit else _finish(answer, req.max_tokens))
        except (asyncio.CancelledError, GeneratorExit):
            cancel.set()            # the client left: stop decoding for nobody
            raise
        except Exception as e:      # said in the stream, and the stream ends as streams end: never cut off
            yield "data: " + json.dumps(failed(e).body(), ensure_ascii=False) + "\n\n"
        finally:
            slot.waiting -= 1
        yield "data: [DONE]\n\n"

    return app


def _finish(answer, max_tokens: int) -> str:
    return "length" if getattr(answer, "truncated", False) or answer.timings.n_tokens >= max_tokens else "stop"


def _completion(answer, model_name: str, max_tokens: int, stopped_by: bool = False) -> dict:
    # prompt_tokens: the image's tokens + the conversation + the question, as the runtime put them in its context
    prompt = getattr(answer.timings, "prompt_tokens", 0)
    return {"id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop" if stopped_by else _finish(answer, max_tokens)}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": answer.timings.n_tokens,
                      "total_tokens": prompt + answer.timings.n_tokens},
            "vitrine": {"reused_image": answer.reused_image, "ttft_s": answer.timings.ttft_s, "turn": answer.turn,
                        "colors": [c.to_dict() for c in answer.colors]}}
