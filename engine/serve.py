"""`vitrine serve`: the loaded model behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

`POST /v1/chat/completions` (messages with `image_url` parts as `data:` URLs, streaming as server-sent events,
`max_tokens`), `GET /v1/models`, `GET /health`. The session caches encoded images by content hash, so a second
question about the same picture skips the vision encoder; the messages' earlier questions and answers are the
conversation the model sees (appended to what its cache holds when they are the answers it gave), and
`POST /v1/vitrine/prepare` with just the image encodes it before the question comes. One request runs at a time per model; a bounded number
wait; beyond that the answer is 429 with Retry-After. Every limit answers with a JSON error that says what to do.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
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
from fastapi import Request      # at module level: FastAPI reads the handlers' (string) annotations here

from .constrained import SchemaError, compile_schema
from .errors import VitrineError
from .frames import Frame

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
    from .errors import BadInput
    from .frames import ImageTooLarge, decode_image_bytes
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


@dataclass
class ChatRequest:
    frame: Frame
    question: str
    max_tokens: int
    stream: bool
    schema: dict | None
    history: list[tuple[str, str]]      # earlier (question, answer) pairs from the messages, oldest first


def _text_of(content: Any) -> str:
    """An assistant message's text (a string, or text parts)."""
    if isinstance(content, str):
        return " ".join(content.split())
    if isinstance(content, list):
        return " ".join(" ".join(p.get("text", "").split()) for p in content
                        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def parse_request(body: Any, model_name: str, limits: ServeLimits) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object with model and messages")
    model = body.get("model")
    if model not in (None, model_name):
        raise ApiError(404, f"unknown model {str(model)[:80]!r}: this server has {model_name!r} (GET /v1/models)",
                       code="model_not_found", param="model")
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
    return ChatRequest(decode_image(image_url, limits), question, max_tokens, bool(stream), schema, history)


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
    """One loaded model: one request at a time, a bounded queue behind it."""

    def __init__(self, session, name: str, limits: ServeLimits):
        self.session, self.name, self.limits = session, name, limits
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.served = 0
        self.last_s = 1.0          # the last answer's duration: a fair Retry-After
        # every answer on one thread: llama.cpp's OpenMP keeps a team per thread that ran it, and more threads
        # in teams than cores stops libgomp's short spinning (two-thread decoding fell from 127 to 33 tok/s)
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitrine-model")

    def run(self, fn, *args) -> asyncio.Future:
        """``fn(*args)`` on the model's thread, awaitable."""
        return asyncio.get_running_loop().run_in_executor(self.model_thread, functools.partial(fn, *args))

    def admit(self) -> None:
        if self.waiting >= self.limits.queue + 1:
            raise ApiError(429, f"busy: {self.waiting} requests are ahead; try again shortly", kind="rate_limit_error",
                           code="queue_full", headers={"Retry-After": str(max(1, round(self.last_s * self.waiting)))})


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
                              time.perf_counter() - t0, self.model_name)


requests_log = logging.getLogger(__name__ + ".requests")


def create_app(session, model_name: str, limits: ServeLimits | None = None, api_key: str | None = None,
               answer_lang: str | None = None):
    """The ASGI app around a loaded ``engine.session.Session``. Every answer that is not a success is JSON in the
    OpenAI error shape, a stream's included (an error event, then the stream's normal end)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException

    from .backends import GenerationOptions

    limits = limits or ServeLimits()
    slot = ModelSlot(session, model_name, limits)
    app = FastAPI(title="Vitrine", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.slot = slot
    app.add_middleware(RequestLog, model_name=model_name)

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
        return {"status": "ok", "model": model_name, "busy": slot.lock.locked(), "waiting": slot.waiting,
                "served": slot.served}

    @app.get("/v1/models")
    async def models(request: Request):
        try:
            authorised(request)
        except ApiError as e:
            return error(e)
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                            "owned_by": "vitrine"}]}

    def run_ask(req: ChatRequest, on_token, cancel: threading.Event):
        return session.ask(req.frame, req.question, GenerationOptions(max_tokens=req.max_tokens),
                           on_token=on_token, cancel=cancel, answer_lang=answer_lang, schema=req.schema,
                           history=req.history)

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
            ready = session.is_prepared(frame)
            if not ready:
                session.prepare(frame)
        except Exception as e:
            return error(failed(e))
        return JSONResponse({"status": "ready" if ready else "preparing", "image": frame.key},
                            status_code=200 if ready else 202)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            authorised(request)
            req = parse_request(await read_body(request), model_name, limits)
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
                try:
                    answer = await slot.run(run_ask, req, None, cancel)
                except asyncio.CancelledError:
                    cancel.set()
                    raise
                except Exception as e:
                    return error(failed(e))
                slot.last_s = time.perf_counter() - t0
                slot.served += 1
        finally:
            slot.waiting -= 1
        return _completion(answer, model_name, req.max_tokens)

    async def _stream(req: ChatRequest):
        cid, created = _completion_id(), int(time.time())
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def chunk(delta: dict, finish: str | None = None) -> str:
            return "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                          "model": model_name, "choices": [{"index": 0, "delta": delta,
                                                                            "finish_reason": finish}]},
                                         ensure_ascii=False) + "\n\n"
        try:
            async with slot.lock:
                t0 = time.perf_counter()
                task = slot.run(run_ask, req, lambda piece: loop.call_soon_threadsafe(queue.put_nowait, piece), cancel)
                task.add_done_callback(lambda _t: loop.call_soon_threadsafe(queue.put_nowait, None))
                yield chunk({"role": "assistant", "content": ""})
                while (piece := await queue.get()) is not None:
                    yield chunk({"content": piece})
                answer = task.result()
                slot.last_s = time.perf_counter() - t0
                slot.served += 1
                yield chunk({}, _finish(answer, req.max_tokens))
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


def _completion(answer, model_name: str, max_tokens: int) -> dict:
    return {"id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": _finish(answer, max_tokens)}],
            "usage": {"prompt_tokens": 0, "completion_tokens": answer.timings.n_tokens,
                      "total_tokens": answer.timings.n_tokens},
            "vitrine": {"reused_image": answer.reused_image, "ttft_s": answer.timings.ttft_s, "turn": answer.turn,
                        "colors": [c.to_dict() for c in answer.colors]}}
