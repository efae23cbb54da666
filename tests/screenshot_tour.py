"""The app's screenshot tour, in one command, in real windows under Xvfb:

    python tests/screenshot_tour.py [--out assets/screenshots] [--sizes 1280x720,1920x1080] [--model FOLDER]

For each size: an empty store (the first-run page), a model imported in Modelos, a store video opened, a box drawn,
a question in Portuguese, a follow-up (what the model was asked shows under the answer), the product card, similar
products from a 50-product catalog, and live mode. The model defaults to the tiny fine-tuned fashion model the
tests build (tests/fixtures/models.py, cached); PNGs over 300 KB are stored with a 256-colour palette."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAX_BYTES = 300_000
STEPS = ["01-primeira-vez", "02-modelos", "03-video", "04-caixa", "05-pergunta", "06-continua", "07-ficha",
         "08-semelhantes", "09-ao-vivo"]


def store_video(catalog_csv: Path, out: Path, scenes: int = 5, per_scene: int = 30) -> Path:
    """A shop-window video: three catalog products per scene on a light wall."""
    import csv

    import cv2
    import numpy as np
    rows = list(csv.DictReader(open(catalog_csv, encoding="utf-8")))
    w, h = 960, 540
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for s in range(scenes):
        canvas = np.full((h, w, 3), (232, 234, 238), np.uint8)
        canvas[400:] = (170, 185, 196)
        cv2.putText(canvas, f"Vitrine loja - cena {s + 1}", (30, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (60, 60, 60), 2)
        for i in range(3):
            img = cv2.imread(str(catalog_csv.parent / rows[(s * 3 + i) % len(rows)]["image"]))
            img = cv2.resize(img, (240, 240), interpolation=cv2.INTER_NEAREST)
            x = 60 + i * 300
            canvas[110:350, x:x + 240] = img
        for _ in range(per_scene):
            writer.write(canvas)
    writer.release()
    return out


def small_png(path: Path) -> None:
    if path.stat().st_size > MAX_BYTES:
        from PIL import Image
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def child(size: str, out: Path, model: Path, video: Path, catalog: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from engine.media.frames import Region
    app = QApplication([])
    width, height = (int(x) for x in size.split("x"))

    def wait(cond, timeout=120.0):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                raise TimeoutError(f"{size}: gave up waiting")
            app.processEvents()
            time.sleep(0.02)

    def settle(seconds=0.4):
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(name):
        settle()
        path = out / f"{name}-{size}.png"
        app.primaryScreen().grabWindow(0).save(str(path))
        small_png(path)
        print(path, path.stat().st_size, flush=True)

    w = MainWindow(ui_lang="pt", config=Settings.from_env())
    w.setGeometry(0, 0, width, height)
    w.show()
    shot(STEPS[0])
    dlg = w.show_models()
    dlg.import_folder("loja", model)
    wait(lambda: dlg.names() == ["loja"])
    dlg.table.selectRow(0)
    shot(STEPS[1])
    dlg.accept()
    wait(lambda: w.model_ready)
    w.similar_panel.add_csv(str(catalog))
    wait(lambda: w.similar_panel.progress_dialog is None, 300)
    w.open_source(str(video))
    wait(lambda: w.frame is not None)
    w.player.seek_to(65)
    wait(lambda: w.frame.index == 65)
    shot(STEPS[2])
    fw = w.frame.width
    w.player.set_region(Region(int(fw * 60 / 960), int(w.frame.height * 110 / 540), int(fw * 240 / 960),
                               int(w.frame.height * 240 / 540)))
    wait(lambda: w.similar_panel.list.count() > 0, 60)
    shot(STEPS[3])
    for step, question in ((STEPS[4], "Qual é a cor da camisa?"), (STEPS[5], "E o padrão?")):
        w.ask_panel.question.setText(question)
        assert w.ask(), "not sent"
        wait(lambda: not w.busy)
        w.tabs.setCurrentWidget(w.history_panel)
        shot(step)
    w.describe_frame()
    wait(lambda: w.describe_panel.description is not None or "falhou" in w.last_error, 120)
    shot(STEPS[6])
    w.tabs.setCurrentWidget(w.similar_panel)
    shot(STEPS[7])
    w.player.set_region(None)
    w.start_live(str(video), "Que peça é essa?", 2.0)
    n = len(w.history)
    wait(lambda: len(w.history) >= n + 2, 120)
    shot(STEPS[8])
    w.stop_live()
    wait(lambda: not w.busy)
    w.close()
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    p.add_argument("--sizes", default="1280x720,1920x1080")
    p.add_argument("--model", help="a model folder (default: the tests' tiny fine-tuned fashion model)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    p.add_argument("--catalog", help=argparse.SUPPRESS)
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.child:
        return child(a.child, out, Path(a.model), Path(a.video), Path(a.catalog))
    if not shutil.which("Xvfb"):
        print("Xvfb is not installed (.ci/run installs it)", file=sys.stderr)
        return 2
    if a.model:
        model = Path(a.model)
    else:
        from tests.fixtures import models
        model = models.fashion_export("gguf")
    from export.bench.catalog import write_catalog
    tmp = Path(tempfile.mkdtemp(prefix="vitrine-tour-"))
    catalog = write_catalog(tmp / "shop", n_synthetic=50, size=96, photos=False)
    video = store_video(catalog, tmp / "loja.mp4")
    rc = 0
    for i, size in enumerate(a.sizes.split(",")):
        display = f":{70 + i + os.getpid() % 7}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT),
                       VITRINE_HOME=str(tmp / f"home-{size}"), VITRINE_THREADS=os.environ.get("VITRINE_THREADS", "2"))
            r = subprocess.run([sys.executable, __file__, "--child", size, "--out", str(out), "--model", str(model),
                                "--video", str(video), "--catalog", str(catalog)], env=env, timeout=900)
            rc = rc or r.returncode
        finally:
            xvfb.terminate()
            xvfb.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
