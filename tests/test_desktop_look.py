"""The app's "O visual" tab and the player's "Procurar no vídeo" field, offscreen, with no model (issue 31): a card
per garment in Portuguese, a click that draws the garment's box and makes it the next question's subject, the look
off the GUI thread with its progress shown, and found moments that seek on click."""
import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from engine.media.frames import Region  # noqa: E402
from engine.models.store import ModelStore  # noqa: E402
from engine.runtime.history import History  # noqa: E402
from engine.settings import Settings
from export.bench import look as lb  # noqa: E402
from tests.helpers import indexed_shop  # noqa: E402

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small synthetic catalog, indexed: rows by id and its folder."""
    return indexed_shop(tmp_path_factory.mktemp("shop"), n=60)


def _pick(rows, garment, avoid=()):
    return next(pid for pid, r in rows.items() if r["garment"] == garment and r["colour"] not in avoid)


@pytest.fixture
def w(qtbot, vitrine_home, tmp_path, shop):
    from desktop.main_window import MainWindow
    _, folder = shop
    win = MainWindow(store=ModelStore(vitrine_home / "models"), history=History(tmp_path / "history.sqlite3"),
                     ui_lang="pt", settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     catalog_folder=folder, config=Settings.from_env())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.pages.setCurrentIndex(0)
    yield win
    win.close()


def dressed_figure(rows, path):
    """A person in a shirt and trousers of other colours, with shoes, as a PNG; returns the products worn."""
    import cv2
    shirt = _pick(rows, "shirt")
    trousers = _pick(rows, "trousers", {rows[shirt]["colour"]})
    shoes = _pick(rows, "shoes", {rows[shirt]["colour"], rows[trousers]["colour"]})
    scene = lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", ""),
                      lb.Worn("feet", shoes, "shoes", "")], "")
    rgb = lb.draw_scene(scene, rows, 1280, 720, seed=4)
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return shirt, trousers


def open_and_wait(qtbot, w, path):
    w.open_source(str(path))
    qtbot.waitUntil(lambda: w.frame is not None and w.frame.source == str(path), timeout=10_000)


def test_the_look_tab_shows_a_card_per_garment_and_a_click_makes_it_the_next_questions_subject(w, qtbot, shop,
                                                                                              tmp_path):
    import desktop.look_worker as look_module          # where the app's worker finds look_at
    rows, _ = shop
    shirt, trousers = dressed_figure(rows, tmp_path / "figure.png")
    threads = []
    real = look_module.look_at

    def spy(*a, **kw):
        threads.append(threading.current_thread())
        return real(*a, **kw)
    look_module.look_at = spy
    try:
        open_and_wait(qtbot, w, tmp_path / "figure.png")
        w.tabs.setCurrentWidget(w.look_panel)
        assert w.tabs.tabText(w.tabs.currentIndex()) == "O visual"
        qtbot.waitUntil(lambda: w.look_panel.busy.isVisibleTo(w.look_panel), timeout=5_000)    # progress shown
        qtbot.waitUntil(lambda: len(w.look_panel.card_widgets) >= 2, timeout=60_000)
    finally:
        look_module.look_at = real
    assert threads and all(t is not threading.main_thread() for t in threads)       # never on the GUI thread
    assert not w.look_panel.busy.isVisibleTo(w.look_panel)
    cards = {c.item.region: c for c in w.look_panel.card_widgets}
    assert {"upper", "lower"} <= set(cards)
    lower = cards["lower"]
    assert lower.words["title"] == "Calça — parte de baixo"                         # Portuguese words
    assert lower.colours.text().startswith("Cores: ")
    assert trousers in lower.words["matches"] and shirt in cards["upper"].words["matches"]
    assert not lower.crop.pixmap().isNull()
    qtbot.mouseClick(lower, Qt.MouseButton.LeftButton)
    b = lower.item.box
    assert w.region == Region(b.x, b.y, b.w, b.h) and w.player.view.region == w.region     # drawn on the video
    assert w.asked_frame().region == w.region                                       # what the next question is about
    assert "calça" in w.statusBar().currentMessage()


def test_the_find_field_lists_moments_and_a_click_seeks_there(w, qtbot, shop, tmp_path):
    from engine.language import vocabulary as voc
    rows, _ = shop
    dress = _pick(rows, "dress")
    shirt = _pick(rows, "shirt", {rows[dress]["colour"]})
    trousers = _pick(rows, "trousers", {rows[dress]["colour"], rows[shirt]["colour"]})
    scenes = [lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", "")], ""),
              lb.Scene([lb.Worn("full", dress, "dress", "")], "")]
    video = tmp_path / "clip.mp4"
    lb.write_video(video, scenes, rows, scene_s=3.0, fps=5.0, size=(640, 360))
    open_and_wait(qtbot, w, video)
    f = w.find_panel
    assert f.isEnabled() and f.field.placeholderText().startswith("Procurar no vídeo")
    noun = voc.GARMENTS["dress"]
    f.field.setText(f"{noun.pt} {voc.COLOURS[rows[dress]['colour']].agree(noun)}")
    qtbot.keyClick(f.field, Qt.Key.Key_Return)
    assert f.progress.isVisibleTo(f)                                                # indexing, shown
    qtbot.waitUntil(lambda: f.results.count() > 0, timeout=120_000)
    assert not f.progress.isVisibleTo(f) and f.status.text().endswith("clique para ir até lá")
    first = f.results.item(0)
    t = first.data(Qt.ItemDataRole.UserRole)
    assert 3.0 <= t < 6.0 and first.text() and not first.icon().isNull()          # the dress's seconds, a thumbnail
    rect = f.results.visualItemRect(first)
    qtbot.mouseClick(f.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.frame is not None and w.frame.index == round(t * 5), timeout=10_000)
