"""`vitrine serve --bench`: a follow-up question's first token over HTTP against the same question in process.

The server runs in this process (uvicorn in a thread) on a free local port with the same session; the client
streams, and the figure is the time from sending the request to the first content chunk. Medians of one run.
"""
from __future__ import annotations

import base64
import json
import socket
import statistics
import threading
import time
from pathlib import Path

from engine.media.frames import load_frame
from engine.paths import ASSETS
from engine.runtime.backends import GenerationOptions
from engine.runtime.session import AskOptions
from engine.serve.server import create_app
from engine.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(session, model_name: str, image: Path | None = None, runs: int = 10,
        question: str = "What color are the pants?", *, settings: Settings) -> dict:
    import httpx
    import uvicorn

    image = image or ASSETS / "examples" / "look.jpg"
    frame = load_frame(str(image))
    opts = AskOptions(GenerationOptions(max_tokens=4), lang="en", translate=False)

    def in_process() -> float:
        t0, first = time.perf_counter(), []
        session.ask(frame, question, opts, on_token=lambda _p: first or first.append(time.perf_counter()))
        return (first[0] if first else time.perf_counter()) - t0

    in_process()                                    # the image encoded once: everything after is a follow-up
    local = [in_process() for _ in range(runs)]

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(session, model_name, settings=settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = "data:image/jpeg;base64," + base64.b64encode(image.read_bytes()).decode()
    body = {"model": model_name, "max_tokens": 4, "stream": True,
            "messages": [{"role": "user", "content": [{"type": "text", "text": question},
                                                      {"type": "image_url", "image_url": {"url": url}}]}]}
    remote = []
    try:
        with httpx.Client(timeout=120) as client:
            for i in range(runs + 1):
                t0 = time.perf_counter()
                first = None
                with client.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r:
                    for line in r.iter_lines():
                        if first is None and line.startswith("data: {"):
                            delta = json.loads(line[6:])["choices"][0]["delta"]
                            if delta.get("content"):
                                first = time.perf_counter() - t0
                if i:                               # the first request decodes the image file: not a follow-up
                    remote.append(first if first is not None else time.perf_counter() - t0)
    finally:
        server.should_exit = True
        thread.join(10)
    a, b = statistics.median(local), statistics.median(remote)
    return {"model": model_name, "runs": runs, "followup_ttft_in_process_ms": a * 1000,
            "followup_ttft_http_ms": b * 1000, "http_overhead_ms": (b - a) * 1000}
