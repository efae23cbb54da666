"""Soak and latency check of the app, headless: `python -m desktop.soak --minutes 10`.

1. Follow-up latency as a person sees it: from pressing Ask to the first answer text in the window, for a
   second question on the same frame (English answer: raw stream; Portuguese: first translated sentence).
2. Live mode on a video file standing in for a camera, for N minutes: resident memory sampled every 10 s,
   questions sent, ticks skipped because an answer was running (nothing is ever queued).
Uses the random-weight SmolVLM-256M-size model that `vitrine bench` builds (cached).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from desktop.main_window import MainWindow
from engine.models.store import ModelStore
from engine.runtime.history import History
from engine.settings import Settings


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--interval", type=float, default=2.0, help="live question interval, seconds")
    p.add_argument("--size", default="256m", choices=["tiny", "256m", "500m"])
    a = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="vitrine-soak-"))
    # the soak is an app run in a scratch home: set before anything reads the settings, for this process and the
    # child it starts to build the model
    os.environ["VITRINE_HOME"] = str(tmp / "home")

    import subprocess

    import numpy as np
    import psutil
    from PySide6.QtCore import QEventLoop, QObject, QSettings, Slot
    from PySide6.QtWidgets import QApplication

    # build/export the model in another process: torch must not inflate this one's memory figures
    r = subprocess.run([sys.executable, "-c", f"from export.bench.backends import prepare; print(prepare({a.size!r})[1])"],
                       capture_output=True, text=True, check=True)
    gguf = Path(r.stdout.strip().splitlines()[-1])
    store = ModelStore(tmp / "home" / "models")
    store.import_folder("soak", gguf)

    import cv2
    video = tmp / "live.mp4"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15, (640, 480))
    rng = np.random.RandomState(0)
    for i in range(150):
        img = np.full((480, 640, 3), (i * 3) % 255, np.uint8)
        img[100:380, 200 + i % 100:400 + i % 100] = rng.randint(0, 255, 3)
        out.write(img)
    out.release()

    app = QApplication.instance() or QApplication([])
    # the soak's entry point (a process of its own): the settings are read once here and passed down
    w = MainWindow(store=store, history=History(tmp / "history.sqlite3"), ui_lang="pt", config=Settings.from_env(),
                   settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    w.show()

    def wait(cond, timeout=600.0):
        t0 = time.perf_counter()
        while not cond():
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    wait(lambda: w.model_ready)
    w.open_source(str(video))
    wait(lambda: w.frame is not None)
    # Click -> first answer token, as the app gets it: the Answer's own timings are taken in the engine thread,
    # so the hand-off to that thread and back is included by measuring the click and the finished signal here.
    # (Random weights mostly emit tokens that print as nothing, so "first visible text" would measure chance.)
    done = {}

    class Done(QObject):      # lives in the GUI thread, as the window's own slots do
        @Slot(object, object)
        def seen(self, answer, _entry):
            done["t"], done["answer"] = time.perf_counter(), answer
    probe = Done()
    w.engine.answered.connect(probe.seen)
    latency = {}
    for lang, idx in (("en", 1), ("pt", 0)):
        w.lang_combo.setCurrentIndex(idx)
        runs = []
        for q in ("What is she wearing?", "What color are the pants?", "Describe the blouse."):
            done.clear()
            t0 = time.perf_counter()
            w.ask(q)
            wait(lambda: "t" in done and not w.busy)
            t = done["answer"].timings
            runs.append((done["t"] - t0) - (t.total_s - t.ttft_s))
        latency[f"new_frame_first_token_s_{lang}"] = round(runs[0], 3)
        latency[f"followup_first_token_s_{lang}"] = round(statistics.median(runs[1:]), 3)
        w.player.step(5)
        wait(lambda: w.player._seek_target is None)

    sent, skipped = [0], [0]
    real_tick = w.live.tick

    def counting_tick():
        busy = w.busy
        real_tick()
        (skipped if busy else sent)[0] += 1
    w.live.timer.timeout.disconnect()
    w.live.timer.timeout.connect(counting_tick)
    proc = psutil.Process()
    w.lang_combo.setCurrentIndex(0)
    w.start_live(str(video), "Quais itens estão nesta imagem?", a.interval)
    samples = []
    t_end = time.perf_counter() + a.minutes * 60
    next_sample = time.perf_counter()
    while time.perf_counter() < t_end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if time.perf_counter() >= next_sample:
            samples.append(proc.memory_info().rss / 2**20)
            next_sample += 10
    w.stop_live()
    wait(lambda: not w.busy)
    answers = len(w.history)
    w.close()
    warm = samples[len(samples) // 4:] or samples
    result = {**latency, "minutes": a.minutes, "live_interval_s": a.interval, "questions_sent": sent[0],
              "ticks_skipped_busy": skipped[0], "answers_saved": answers, "torch_loaded": "torch" in sys.modules,
              "rss_mb_first": round(samples[0], 1), "rss_mb_after_warmup": round(warm[0], 1),
              "rss_mb_last": round(samples[-1], 1), "rss_mb_max": round(max(samples), 1),
              "rss_growth_after_warmup_mb": round(samples[-1] - warm[0], 1)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
