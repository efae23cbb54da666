"""The desktop app's interface, offscreen, with no model (issue 27): what the model was asked, the product card,
the layout at store screen sizes, scrolling, the keyboard, recent files, Portuguese throughout, live start, history,
transport, window geometry and where settings live. The engine's replies are stood in by emitting its signals."""
import os
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QCoreApplication, QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QStyle  # noqa: E402

from engine.media.colors import NamedColor  # noqa: E402
from engine.media.frames import Region  # noqa: E402
from engine.runtime.answer import Answer, Timings  # noqa: E402
from engine.runtime.describe import Description  # noqa: E402
from engine.settings import Settings
from tests.fixtures.media import index_of  # noqa: E402
from tests.test_desktop import make_window, open_and_wait  # noqa: E402


@pytest.fixture
def w(qtbot, vitrine_home, tmp_path):
    win = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    win.pages.setCurrentIndex(0)           # the store is empty: show the app's page as if a model were there
    yield win
    win.close()


def answer(question="E o padrão?", to_model="And the standard?", text="listrado", **kw) -> Answer:
    return Answer(question=question, text=text, model="tiny", frame="look.png", frame_key="k",
                  timings=Timings(image_encode_s=0.31, ttft_s=0.4213, total_s=1.25), question_lang="pt",
                  answer_lang="pt", question_model=to_model, **kw)


def yellow_shirt_card() -> Description:
    colours = [NamedColor("yellow", "amarelo", "amarela", "#f0c020", 0.40),
               NamedColor("white", "branco", "branca", "#f8f8f8", 0.31),
               NamedColor("black", "preto", "preta", "#101010", 0.28)]
    attrs = {"category": "shirt", "colours": ["grey"], "pattern": "printed", "sleeve_length": "sleeveless",
             "neckline": "v-neck"}
    attrs_pt = {"category": "camisa", "colours": ["cinza"], "pattern": "estampada", "sleeve_length": "sem mangas",
                "neckline": "decote em V"}
    return Description(attrs, attrs_pt, "Camisa cinza estampada.", colours, "tiny", "look.png")


# ---- 1. what the model was asked ----------------------------------------------------------------------------------
def test_what_the_model_was_asked_is_shown_and_can_be_corrected_and_resent(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "look.png")
    w.engine.answered.emit(answer(), None)
    qtbot.waitUntil(lambda: "And the standard?" in w.answer_panel.sent.text())
    assert w.answer_panel.sent.text() == "Perguntado ao modelo: And the standard?"
    assert w.answer_panel.sent.isVisible() and w.answer_panel.correct_button.isVisible()
    qtbot.mouseClick(w.answer_panel.correct_button, Qt.MouseButton.LeftButton)      # one click: edit the English
    assert w.answer_panel.editor.isVisible() and w.answer_panel.editor.text() == "And the standard?"
    sent = []
    w.requests.connect(sent.append)
    w.model_ready = True                     # the engine has no model: it answers "no model loaded", after the send
    w.answer_panel.editor.setText("And the pattern?")
    qtbot.keyClick(w.answer_panel.editor, Qt.Key.Key_Return)
    assert sent and sent[0]["question"] == "And the pattern?" and sent[0]["lang"] == "en"
    qtbot.waitUntil(lambda: not w.busy, timeout=10_000)


# ---- 2. the product card -------------------------------------------------------------------------------------------
def test_card_flags_a_colour_the_pixels_contradict_and_labels_every_field_in_portuguese(w, qtbot):
    w._describing_key = None
    w.describe_panel.show_description(yellow_shirt_card(), None)
    p = w.describe_panel
    assert not p.warning.isHidden()
    assert "cinza" in p.warning.text() and "≥ 15%" in p.warning.text() and "amarelo 40%" in p.warning.text()
    text = p.card.toPlainText()
    assert "Mangas: sem mangas" in text and "Gola / decote: decote em V" in text
    assert "sleeve_length" not in text and "neckline" not in text and "category" not in text
    ok = yellow_shirt_card()
    ok.attributes["colours"], ok.attributes_pt["colours"] = ["yellow", "black"], ["amarela", "preta"]
    p.show_description(ok, None)
    assert p.warning.isHidden()              # both named colours cover >= 15%


def test_card_goes_stale_when_the_picture_changes_and_copy_says_so(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "look.png")
    w._describing_key = w.asked_frame().key
    w.engine.described.emit(yellow_shirt_card())
    qtbot.waitUntil(lambda: w.describe_panel.description is not None)
    assert w.describe_panel.copy_button.isEnabled()
    qtbot.mouseClick(w.describe_panel.copy_button, Qt.MouseButton.LeftButton)
    assert "copiada" in w.statusBar().currentMessage()
    assert QApplication.clipboard().text().startswith("Camisa cinza estampada.")
    open_and_wait(qtbot, w, media_dir / "clip.mp4")            # the clerk moved on to another picture
    assert w.describe_panel.stale and not w.describe_panel.copy_button.isEnabled()
    assert not w.describe_panel.copy_json_button.isEnabled()
    assert "A imagem mudou" in w.describe_panel.warning.text()
    assert w.describe_panel.copy() == ""


# ---- 3. first run ----------------------------------------------------------------------------------------------------
def test_an_empty_store_opens_on_the_first_run_page(qtbot, vitrine_home, tmp_path):
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    assert w.pages.currentWidget() is w.first_run and w.first_run.isVisible()
    assert "vitrine models pull smolvlm-256m" in w.first_run.text.text()
    assert w.first_run.folder_button.text() == "Importar pasta…"
    w.close()


# ---- 4. layout -------------------------------------------------------------------------------------------------------
def visible_rows(lst) -> int:
    view = lst.viewport().rect()
    return sum(1 for i in range(lst.count()) if view.contains(lst.visualItemRect(lst.item(i))))


def fill_panels(w, frame, n=6):
    import cv2
    ok, jpg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    hits = [SimpleNamespace(product=SimpleNamespace(id=f"SKU{i}", title=f"Camisa listrada {i}", thumbnail=jpg.tobytes(),
                                                    image="", attributes={}), score=0.9 - i / 20) for i in range(n)]
    w.similar_panel.t = w.t
    w.similar_panel.show_results(hits, [NamedColor("yellow", "amarelo", "amarela", "#f0c020", 0.4)])
    for i in range(n):
        w.history.add(answer(question=f"Pergunta {i}?", text=f"resposta {i}"), frame, frame_key=frame.key)
    w.refresh_history()


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_similar_products_and_history_show_several_rows_at_store_screen_sizes(size, w, qtbot, media_dir):
    w.resize(*size)
    open_and_wait(qtbot, w, media_dir / "look.png")
    fill_panels(w, w.frame)
    for panel in (w.similar_panel, w.history_panel):
        w.tabs.setCurrentWidget(panel)
        qtbot.wait(50)
        assert visible_rows(panel.list) >= 3, (panel, visible_rows(panel.list), panel.list.viewport().height())


def test_the_video_keeps_its_size_when_the_conversation_line_appears(w, qtbot, media_dir):
    w.resize(1280, 720)
    open_and_wait(qtbot, w, media_dir / "clip.mp4")
    qtbot.wait(50)
    before = w.player.view.size()
    w.ask_panel.show_thread(2)
    assert "2" in w.ask_panel.thread_label.text()
    qtbot.wait(50)
    assert w.player.view.size() == before
    w.ask_panel.show_thread(0)
    qtbot.wait(50)
    assert w.player.view.size() == before


# ---- 5. new results start at the top -----------------------------------------------------------------------------
def test_new_similar_results_scroll_back_to_the_best_match(w, qtbot, media_dir):
    w.resize(1280, 720)
    open_and_wait(qtbot, w, media_dir / "look.png")
    fill_panels(w, w.frame, n=20)
    lst = w.similar_panel.list
    lst.scrollToBottom()
    assert lst.verticalScrollBar().value() > 0
    fill_panels(w, w.frame, n=20)
    assert lst.verticalScrollBar().value() == 0


# ---- 6. keyboard -----------------------------------------------------------------------------------------------------
def test_space_and_arrows_drive_the_video_and_a_sent_question_is_cleared(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "clip.mp4")
    w.question.setFocus()
    qtbot.keyClick(w.question, Qt.Key.Key_Right)          # empty box: the arrow steps the video
    qtbot.waitUntil(lambda: w.frame.index == 1)
    w.question.setText("abc")
    qtbot.keyClick(w.question, Qt.Key.Key_Left)           # text in the box: the arrow edits it
    qtbot.wait(100)
    assert w.frame.index == 1 and w.question.cursorPosition() == 2
    qtbot.keyClick(w.question, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)     # Alt+→ always steps
    qtbot.waitUntil(lambda: w.frame.index == 2)
    target = w.player.view.picture_rect()
    qtbot.mouseClick(w.player.view, Qt.MouseButton.LeftButton, pos=target.center())
    assert w.player.view.hasFocus()                        # a click on the video takes the keyboard
    qtbot.keyClick(w.player.view, Qt.Key.Key_Space)
    assert w.playing
    qtbot.keyClick(w.player.view, Qt.Key.Key_Space)
    assert not w.playing
    w.model_ready = True                                   # sent to the engine (which has no model and says so)
    w.question.setText("Qual é a cor?")
    qtbot.keyClick(w.question, Qt.Key.Key_Return)
    assert w.question.text() == "" and "Qual é a cor?" in w.answer_panel.you_asked.text()
    qtbot.waitUntil(lambda: not w.busy, timeout=10_000)


# ---- 7. recent files ---------------------------------------------------------------------------------------------
def test_a_one_item_recent_list_reads_back_as_one_file(qtbot, vitrine_home, tmp_path):
    # a one-item list as an INI file (and some other backends) keeps it: a bare string, which iterates by character
    (tmp_path / "settings.ini").write_text("[General]\nrecent=/loja/foto1.jpg\n")
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        assert [a.text() for a in w.recent_menu.actions()] == ["foto1.jpg"]
        w.recent.remember("/loja/loja.mp4")
        assert [a.text() for a in w.recent_menu.actions()] == ["loja.mp4", "foto1.jpg"]
    finally:
        w.close()


# ---- 8. Portuguese ---------------------------------------------------------------------------------------------------
def test_the_portuguese_interface_says_things_in_portuguese(w, qtbot, media_dir, tmp_path):
    w.show_error(w.t("cannot_open"), "no camera at camera:0: connect one, choose another index, or open a video "
                                     "file instead")
    assert w.last_error.startswith("Nenhuma câmera em camera:0") and "connect" not in w.last_error
    assert QCoreApplication.translate("QFileDialog", "Look in:") == "Procurar em:"       # Qt's own dialogs
    assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancelar"
    w.engine.answered.emit(answer(), None)
    qtbot.waitUntil(lambda: "resposta começou" in w.statusBar().currentMessage())
    msg = w.statusBar().currentMessage()
    assert "resposta começou em 0,42 s" in msg and "tok/s" not in msg and "token" not in msg
    open_and_wait(qtbot, w, media_dir / "look.png")
    w.player.set_region(Region(70, 11, 40, 30))
    assert w.player.region_label.text().startswith("Peça selecionada: 40 × 30 px")
    assert "70,11" not in w.player.region_label.text()
    from desktop.panels.similar_panel import ProductDialog
    product = SimpleNamespace(id="SKU1", title="Camisa", image=str(tmp_path / "fotos" / "sku1.jpg"),
                              thumbnail=None, attributes={"colour": "yellow"})
    dlg = ProductDialog(product, w.t, w)
    texts = [lbl.text() for lbl in dlg.findChildren(type(w.model_label))]
    assert "sku1.jpg" in texts and str(tmp_path) not in " ".join(texts) and "Cor:" in texts


def test_engine_errors_have_one_catalogue_with_a_stable_key():
    from desktop.strings import engine_error_key, user_message
    assert engine_error_key("no camera at camera:3: connect one") == "no_camera"
    assert engine_error_key("file not found: /x/y.mp4") == "file_not_found"
    assert user_message("file not found: /x/y.mp4", "pt") == "Arquivo não encontrado: y.mp4. Confira onde ele está."
    assert user_message("file not found: /x/y.mp4", "en") == "file not found: /x/y.mp4"
    assert user_message("something new", "pt") == "something new"
    outdated = ("the catalog was indexed with efficientnet-lite0-1+colour0.5-a, not "
                "efficientnet-lite0-1+cut+colour0.5-a: run `vitrine catalog index --reindex` to rebuild its 262 vectors (nothing was changed)")
    assert engine_error_key(outdated) == "catalog_outdated" and "262 produtos" in user_message(outdated, "pt")


# ---- 9. live start -------------------------------------------------------------------------------------------------
def test_the_live_dialog_lists_the_cameras_found_and_takes_a_file(w, media_dir):
    from desktop.live.live_dialog import LiveDialog
    from desktop.live.cameras import Camera
    dlg = LiveDialog(w.t, ["Que peça é essa?"], w, cameras=[Camera(0, "HD Webcam"), Camera(2, "")])
    assert [dlg.source.itemText(i) for i in range(dlg.source.count())] == ["Câmera 0 — HD Webcam", "Câmera 2"]
    assert dlg.spec() == "camera:0"
    dlg.source.setCurrentIndex(1)
    assert dlg.spec() == "camera:2"
    dlg.source.setEditText(str(media_dir / "clip.mp4"))
    assert dlg.spec() == str(media_dir / "clip.mp4")
    empty = LiveDialog(w.t, [], w, cameras=[])
    assert "Nenhuma câmera" in empty.hint.text()


def test_probing_cameras_on_a_machine_without_any_is_quick():
    import time

    from desktop.live.cameras import probe_cameras
    t0 = time.perf_counter()
    cams = probe_cameras()
    assert isinstance(cams, list) and time.perf_counter() - t0 < 5


def test_a_failed_live_start_leaves_the_player_as_it_was(w, qtbot, media_dir):
    clip = media_dir / "clip.mp4"
    open_and_wait(qtbot, w, clip)
    w.player.seek_to(10)
    qtbot.waitUntil(lambda: w.frame.index == 10)
    w.start_live("9", "Que peça é essa?", 1.0)
    qtbot.waitUntil(lambda: "Nenhuma câmera" in w.last_error, timeout=10_000)
    qtbot.wait(300)
    assert not w.playing and w.frame.index == 10 and w.player.source_info["spec"] == str(clip)
    assert not w.live.active and not w.live_stop_action.isEnabled() and w.player.live_badge.isHidden()


# ---- 10. history, transport, geometry, settings ----------------------------------------------------------------
def test_clicking_a_history_item_restores_its_box(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "look.png")
    box = Region(10, 10, 40, 30)
    w.history.add(answer(question="Que peça é essa?", text="blusa"), w.frame.crop(box), frame_key=w.frame.key)
    w.history.add(answer(question="E a calça?", text="azul"), w.frame, frame_key=w.frame.key)
    w.refresh_history()
    items = {w.history_list.item(i).text().split("\n")[0]: w.history_list.item(i) for i in range(2)}
    w.history_list.itemClicked.emit(items["Que peça é essa?"])
    assert w.region == box and w.player.view.region == box and w.question.text() == "Que peça é essa?"
    w.history_list.itemClicked.emit(items["E a calça?"])
    assert w.region is None


def test_the_play_button_uses_the_styles_icons_not_a_glyph(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "clip.mp4")
    style = w.player.style()

    def same(icon, which):
        return icon.pixmap(16).toImage() == style.standardIcon(which).pixmap(16).toImage()
    assert w.player.play_button.text() == "" and same(w.player.play_button.icon(), QStyle.StandardPixmap.SP_MediaPlay)
    w.player.play()
    assert w.player.play_button.text() == "" and same(w.player.play_button.icon(),
                                                      QStyle.StandardPixmap.SP_MediaPause)
    w.player.pause()


def test_clicking_the_seek_bar_jumps_to_that_point(w, qtbot, media_dir):
    open_and_wait(qtbot, w, media_dir / "clip.mp4")          # 50 frames
    s = w.player.slider
    qtbot.mouseClick(s, Qt.MouseButton.LeftButton, pos=QPoint(int(s.width() * 0.75), s.height() // 2))
    qtbot.waitUntil(lambda: 30 <= w.frame.index <= 44, timeout=5000)
    assert 30 <= index_of(w.frame.rgb) <= 44


def test_the_window_size_is_remembered(qtbot, vitrine_home, tmp_path):
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    w.resize(760, 540)                     # within the offscreen screen (800x600): Qt fits a restored window to it
    qtbot.wait(50)
    w.close()
    w2 = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        assert (w2.width(), w2.height()) == (760, 540)
    finally:
        w2.close()


def test_settings_live_under_vitrine_home(qtbot, vitrine_home, tmp_path):
    from desktop.main_window import MainWindow
    from engine.models.store import ModelStore
    from engine.runtime.history import History
    w = MainWindow(store=ModelStore(vitrine_home / "models"), history=History(tmp_path / "h.sqlite3"), ui_lang="pt", config=Settings.from_env())
    qtbot.addWidget(w)
    try:
        assert w.settings.format() == QSettings.Format.IniFormat
        assert w.settings.fileName() == str(vitrine_home / "settings.ini")
        w.set_ui_lang("en")
        w.settings.sync()
        assert "ui_lang=en" in (vitrine_home / "settings.ini").read_text()
    finally:
        w.close()


def test_a_source_that_does_not_open_leaves_the_playing_video_alone(w, qtbot, media_dir, tmp_path):
    open_and_wait(qtbot, w, media_dir / "clip.mp4")
    w.player.source_info["fps"] = 5
    assert w.player.play()
    w.open_source(str(tmp_path / "nope.mp4"))
    qtbot.waitUntil(lambda: "Arquivo não encontrado" in w.last_error, timeout=10_000)
    assert w.playing and w.player.source_info["spec"] == str(media_dir / "clip.mp4")
    w.player.pause()
