"""Screenshots of the "O visual" tab and the "Procurar no vídeo" field (no model); offscreen, or in a real window
under Xvfb (then the screen is grabbed: `QT_QPA_PLATFORM=xcb xvfb-run -s "-screen 0 1280x720x24" python ...`):

    python tests/screenshot_look.py [--out assets/screenshots] [--sizes 1280x720,1366x768]

A generated video (a figure in a shirt, trousers, shoes and a bag, then one in a dress) and a 60-product synthetic
catalog; the dress is searched for, the first moment clicked, the look read and the first card clicked (its box
drawn on the video). PNGs over 300 KB are stored with a 256-colour palette (tests/screenshot_tour.py's rule)."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    p.add_argument("--sizes", default="1280x720,1366x768")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="look-shots-"))
    try:                                     # each run's catalog, video and home (~60 MB): the suite runs it each time
        return _shots(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _shots(args, work: Path) -> int:
    os.environ["VITRINE_HOME"] = str(work / "home")
    from PySide6.QtCore import QPoint, QRect, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from engine.catalog.products_csv import read_products_csv
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.language import vocabulary as voc
    from engine.models.store import ModelStore
    from engine.runtime.history import History
    from export.bench import look as lb
    from tests.screenshot_tour import small_png

    csv_path, rows = lb.build_catalog(work / "shop", n=60)
    cat = SqliteCatalog(work / "catalog", settings=Settings.from_env())
    cat.add(read_products_csv(csv_path).products)
    cat.close()
    by: dict[str, list[str]] = {}
    for pid, row in rows.items():
        by.setdefault(row["garment"], []).append(pid)
    pick = lambda g, avoid=(): next(p for p in by[g] if rows[p]["colour"] not in avoid)   # noqa: E731
    dress = pick("dress")
    shirt = pick("shirt", {rows[dress]["colour"]})
    trousers = pick("trousers", {rows[dress]["colour"], rows[shirt]["colour"]})
    shoes = pick("shoes", {rows[shirt]["colour"], rows[trousers]["colour"]})
    bag = pick("bag", {rows[shirt]["colour"], rows[trousers]["colour"], rows[shoes]["colour"]})
    scenes = [lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", ""),
                        lb.Worn("feet", shoes, "shoes", ""), lb.Worn("hand", bag, "bag", "")], "", cx=0.45),
              lb.Scene([lb.Worn("full", dress, "dress", ""), lb.Worn("feet", shoes, "shoes", "")], "", cx=0.55)]
    video = work / "loja.mp4"
    lb.write_video(video, scenes, rows, scene_s=3.0, fps=5.0, size=(1280, 720))
    noun = voc.GARMENTS["shirt"]
    query = f"{noun.pt} {voc.COLOURS[rows[shirt]['colour']].agree(noun)}"

    app = QApplication.instance() or QApplication([])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def wait(cond, timeout=180.0):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                raise TimeoutError("the app did not get there in time")
            app.processEvents()
            time.sleep(0.02)

    def shoot(w, path):
        if app.platformName() == "xcb":      # a real X server (xvfb-run): the screen, what a person sees
            app.primaryScreen().grabWindow(0).save(str(path))
        else:
            w.grab().save(str(path))
        small_png(path)

    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        w = MainWindow(store=ModelStore(work / "models"), history=History(work / f"history-{size}.sqlite3"),
                       ui_lang="pt", settings=QSettings(str(work / f"settings-{size}.ini"), QSettings.Format.IniFormat),
                       catalog_folder=work / "catalog", config=Settings.from_env())
        w.resize(width, height)
        w.move(0, 0)
        w.fit_to_screen()                    # as the app does
        w.show()
        w.pages.setCurrentIndex(0)
        w.open_source(str(video))
        wait(lambda: w.frame is not None)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        before_view = f"{w.player.view.width()}x{w.player.view.height()}"
        w.find_panel.field.setText(query)
        w.find_panel.search()
        wait(lambda: w.find_panel.results.count() > 0)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        moments_view = f"{w.player.view.width()}x{w.player.view.height()}"
        shoot(w, out / f"11-no-video-{size}.png")
        first = w.find_panel.results.item(0)
        QTest.mouseClick(w.find_panel.results.viewport(), Qt.MouseButton.LeftButton,
                         pos=w.find_panel.results.visualItemRect(first).center())
        target = round(first.data(Qt.ItemDataRole.UserRole) * 5)
        wait(lambda: w.frame is not None and w.frame.index == target)
        w.tabs.setCurrentWidget(w.look_panel)
        wait(lambda: len(w.look_panel.card_widgets) > 0 and w.look_panel.shown_key == w.frame.key)
        card = next((c for c in w.look_panel.card_widgets if c.item.region == "lower"), w.look_panel.card_widgets[0])
        QTest.mouseClick(card, Qt.MouseButton.LeftButton)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        path = out / f"10-o-visual-{size}.png"
        shoot(w, path)
        port = w.look_panel.scroll.viewport()
        in_view = sum(port.rect().contains(QRect(c.mapTo(port, QPoint(0, 0)), c.size()))
                      for c in w.look_panel.card_widgets)
        view = w.player.view
        print(path, f"{len(w.look_panel.card_widgets)} cards, {in_view} in view, {w.find_panel.results.count()} moments,"
              f" video {before_view} (with the moments open: {moments_view}),"
              f" window {w.frameGeometry().width()}x{w.frameGeometry().height()} on {app.primaryScreen().size().width()}"
              f"x{app.primaryScreen().size().height()}")
        w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
