"""Live mode in the app on the tiny model (issue 27 point 9): AO VIVO while it runs, each answer over the picture
with its time, the card and the similar products following the live picture. A video file stands in for the
camera (no camera here)."""
import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.test_desktop import window  # noqa: E402,F401 - the fixture
from tests.test_desktop_ui import yellow_shirt_card  # noqa: E402


def test_live_mode_says_so_times_its_answers_and_follows_the_picture(window, qtbot, media_dir):
    w = window
    w.describe_panel.show_description(yellow_shirt_card(), "a picture from before")
    w.start_live(str(media_dir / "clip.mp4"), "What is this?", 0.3)
    qtbot.waitUntil(lambda: len(w.history) >= 2, timeout=30_000)
    assert not w.player.live_badge.isHidden() and w.player.live_badge.text() == "● AO VIVO"
    assert re.match(r"\d\d:\d\d:\d\d · What is this\?\n", w.player.view.overlay)
    qtbot.waitUntil(lambda: w.similar_panel.frame_key == w.question_frame.key, timeout=10_000)   # products follow it
    assert w.describe_panel.stale and not w.describe_panel.copy_button.isEnabled()      # the old card is stale
    w.stop_live()
    assert w.player.live_badge.isHidden() and w.player.view.overlay == ""
    qtbot.waitUntil(lambda: not w.busy, timeout=30_000)
