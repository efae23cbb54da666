"""The window at a store's screen sizes (issue 31's app part), offscreen, no model: at 1280x720 and 1024x768 the
window takes the screen's width (it asked ~1030 px, more than a 1024-wide screen has), every visible widget lies
inside it and no label or button text is cut, every tab's name is in view, the video keeps a useful size, three or
more look cards are in view, and opening the moments "Procurar no vídeo" found never shrinks the video; on a wide
screen the cards reflow into columns; a window larger than its screen is cut to it. The same walk in a real window
under Xvfb: tests/test_desktop.py."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QPoint, QRect, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QLineEdit, QPushButton, QWidget  # noqa: E402

from engine.models.store import ModelStore  # noqa: E402
from engine.runtime.history import History  # noqa: E402
from engine.settings import Settings  # noqa: E402
from export.bench import look as lb  # noqa: E402
from tests.test_desktop_look import _pick, open_and_wait, shop  # noqa: E402,F401 (shop: a fixture)

pytest.importorskip("mediapipe")


def _window(qtbot, vitrine_home, tmp_path, folder, size):
    from desktop.main_window import MainWindow
    win = MainWindow(store=ModelStore(vitrine_home / "models"), history=History(tmp_path / "history.sqlite3"),
                     ui_lang="pt", settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                     catalog_folder=folder, config=Settings.from_env())
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    win.pages.setCurrentIndex(0)
    return win


def _four_garments_video(rows, path):
    """A figure in a shirt, trousers, shoes and a bag (then one in a dress): the look finds four garments."""
    dress = _pick(rows, "dress")
    shirt = _pick(rows, "shirt", {rows[dress]["colour"]})
    trousers = _pick(rows, "trousers", {rows[dress]["colour"], rows[shirt]["colour"]})
    shoes = _pick(rows, "shoes", {rows[shirt]["colour"], rows[trousers]["colour"]})
    bag = _pick(rows, "bag", {rows[shirt]["colour"], rows[trousers]["colour"], rows[shoes]["colour"]})
    scenes = [lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", ""),
                        lb.Worn("feet", shoes, "shoes", ""), lb.Worn("hand", bag, "bag", "")], "", cx=0.45),
              lb.Scene([lb.Worn("full", dress, "dress", ""), lb.Worn("feet", shoes, "shoes", "")], "", cx=0.55)]
    lb.write_video(path, scenes, rows, scene_s=2.0, fps=5.0, size=(1280, 720))
    return dress


def _in_scroll_viewport(widget: QWidget) -> bool:
    """Inside a scrolled area a widget may lie past the edge: the area scrolls to it."""
    p = widget.parentWidget()
    while p is not None:
        if isinstance(p.parentWidget(), QAbstractScrollArea) and p is p.parentWidget().viewport():
            return True
        p = p.parentWidget()
    return False


def _outside(win) -> list[str]:
    """Visible widgets whose rectangle is not wholly inside the window."""
    bad = []
    inside = win.rect()
    for widget in win.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or _in_scroll_viewport(widget):
            continue
        rect = QRect(widget.mapTo(win, QPoint(0, 0)), widget.size())
        if not inside.contains(rect):
            bad.append(f"{type(widget).__name__} {widget.objectName()!r} {rect.getRect()}")
    return bad


def _cut(win) -> list[str]:
    """Visible one-line labels and buttons whose text is wider than they are."""
    bad = []
    for widget in win.findChildren(QWidget):
        if not widget.isVisible() or _in_scroll_viewport(widget) or widget.property("class") == "prompt":
            continue
        if isinstance(widget, QLabel) and not widget.wordWrap() and widget.textFormat() != Qt.TextFormat.RichText \
                and widget.text() and "<" not in widget.text():
            need = widget.fontMetrics().horizontalAdvance(widget.text()) + widget.margin() * 2
        elif isinstance(widget, QPushButton) and widget.text():
            need = widget.fontMetrics().horizontalAdvance(widget.text().replace("&", ""))
        elif isinstance(widget, QLineEdit) and not widget.text() and widget.placeholderText():
            need = widget.fontMetrics().horizontalAdvance(widget.placeholderText()) + 20     # padding, frame
        else:
            continue
        if widget.width() < need:
            bad.append(f"{type(widget).__name__} {widget.text()!r}: {widget.width()} < {need} px")
    return bad


def _tabs_hidden(win) -> list[str]:
    """Tabs whose name is not wholly in view (behind the tab bar's scroll arrows, or cut by its edge)."""
    bar = win.tabs.tabBar()
    return [bar.tabText(i) for i in range(bar.count()) if not bar.rect().contains(bar.tabRect(i))]


@pytest.mark.parametrize("size", [(1280, 720), (1024, 768)], ids=["1280x720", "1024x768"])
def test_at_store_sizes_the_video_keeps_its_size_three_cards_show_and_nothing_is_off_the_window(
        qtbot, vitrine_home, tmp_path, shop, size):      # noqa: F811
    from engine.language import vocabulary as voc
    rows, folder = shop
    win = _window(qtbot, vitrine_home, tmp_path, folder, size)
    dress = _four_garments_video(rows, tmp_path / "loja.mp4")
    open_and_wait(qtbot, win, tmp_path / "loja.mp4")
    qtbot.wait(200)
    assert (win.width(), win.height()) == size, win.size()     # no panel's minimum widens it past the screen
    view = win.player.view
    before = view.size()
    assert before.height() >= 520, before                    # the frame is the largest thing on the screen
    shown_w = min(before.width(), before.height() * 16 // 9)   # a 16:9 frame drawn in the view, letterboxed
    assert shown_w >= 0.55 * size[0] and shown_w * 9 // 16 >= 300, before
    assert not _tabs_hidden(win), _tabs_hidden(win)
    from engine.media.frames import Region
    win.player.set_region(Region(300, 200, 240, 240))          # "Peça selecionada: …" beside the find field
    qtbot.wait(100)
    assert not _cut(win), _cut(win)
    assert not _outside(win), _outside(win)
    shown = win.player.region_label.text()                      # whole, or without "(clique direito limpa)"
    assert shown.startswith("Peça selecionada: 240 × 240 px") and "…" not in shown, shown

    f = win.find_panel
    noun = voc.GARMENTS["dress"]
    f.field.setText(f"{noun.pt} {voc.COLOURS[rows[dress]['colour']].agree(noun)}")
    f.search()
    qtbot.waitUntil(lambda: f.results.count() > 0, timeout=120_000)
    qtbot.wait(200)
    assert f.results.isVisible()                               # the moments are on screen...
    assert view.height() >= before.height() and view.width() >= before.width(), (before, view.size())   # ...and
    assert not _outside(win), _outside(win)                    # the video did not pay for them
    assert not _cut(win), _cut(win)

    win.tabs.setCurrentWidget(win.look_panel)
    qtbot.waitUntil(lambda: len(win.look_panel.card_widgets) >= 4, timeout=60_000)
    qtbot.wait(200)
    port = win.look_panel.scroll.viewport()
    shown = [c for c in win.look_panel.card_widgets
             if port.rect().contains(QRect(c.mapTo(port, QPoint(0, 0)), c.size()))]
    assert len(shown) >= 3, f"{len(shown)} of {len(win.look_panel.card_widgets)} cards in view at {size}"
    assert view.height() >= before.height()
    assert not _outside(win), _outside(win)
    assert not _cut(win), _cut(win)
    win.close()


def test_the_cards_take_more_columns_only_when_they_do_not_fit_the_height_and_a_window_fits_its_screen(
        qtbot, vitrine_home, tmp_path, shop):      # noqa: F811
    rows, folder = shop
    win = _window(qtbot, vitrine_home, tmp_path, folder, (1920, 1080))
    _four_garments_video(rows, tmp_path / "loja.mp4")
    open_and_wait(qtbot, win, tmp_path / "loja.mp4")
    win.tabs.setCurrentWidget(win.look_panel)
    qtbot.waitUntil(lambda: len(win.look_panel.card_widgets) >= 4, timeout=60_000)
    qtbot.wait(200)
    grid = win.look_panel.cards_box
    port = win.look_panel.scroll.viewport()

    def in_view():
        return [c for c in win.look_panel.card_widgets
                if port.rect().contains(QRect(c.mapTo(port, QPoint(0, 0)), c.size()))]
    assert grid.columns == 1 and len(in_view()) == len(win.look_panel.card_widgets)    # tall: one column, all seen
    win.resize(1920, 720)                                        # wide and short: they reflow into columns
    qtbot.waitUntil(lambda: grid.columns >= 2, timeout=5_000)
    qtbot.wait(100)
    assert len({c.y() for c in win.look_panel.card_widgets}) < len(win.look_panel.card_widgets)   # side by side
    assert len(in_view()) == len(win.look_panel.card_widgets)
    win.resize(1280, 720)                                        # narrow: one column again, scrolled
    qtbot.waitUntil(lambda: grid.columns == 1, timeout=5_000)
    assert not _outside(win), _outside(win)

    win.resize(1, 1)                                             # the smallest the layout allows
    least = win.size()
    assert least.width() <= 1024 and least.height() <= 720, least       # 1024x768 and 1280x720 screens hold it

    class Screen:                                                # the store's screens (offscreen's is 800x800)
        def __init__(self, w, h):
            self.free = QRect(0, 0, w, h)

        def availableGeometry(self):                             # noqa: N802 (Qt's name)
            return self.free

    win.screen = lambda: Screen(1280, 720)
    win.resize(1280 + 600, 720 + 400)                            # a size saved on a bigger monitor
    win.move(200, 100)
    win.fit_to_screen()
    assert QRect(0, 0, 1280, 720).contains(win.frameGeometry()), win.frameGeometry()
    win.resize(1280, 760)                                        # the default size, first start
    win.fit_to_screen(grow=True)
    assert QRect(0, 0, 1280, 720).contains(win.frameGeometry()), win.frameGeometry()
    win.screen = lambda: Screen(1920, 1080)
    win.resize(1280, 760)
    win.fit_to_screen(grow=True)                                 # a first start on a larger screen: 90% of it
    got = win.frameGeometry()
    assert QRect(0, 0, 1920, 1080).contains(got) and got.width() >= 1700 and got.height() >= 960, got
    win.resize(1280, 760)
    win.fit_to_screen()                                          # a size the clerk chose stays
    assert (win.width(), win.height()) == (1280, 760)
    win.close()
