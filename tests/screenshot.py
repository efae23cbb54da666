"""Open the main window on a real X display, ask one question, and save a screenshot of the screen."""
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from desktop.main_window import MainWindow  # noqa: E402
from engine.settings import Settings

out, image = sys.argv[1], sys.argv[2]
question = sys.argv[3] if len(sys.argv) > 3 else "Qual é a cor da calça?"
app = QApplication([])
tmp = tempfile.mkdtemp()
w = MainWindow(ui_lang="pt", settings=QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat), config=Settings.from_env())
w.resize(1280, 760)
w.show()
w.open_source(image)
state = {"asked": False, "t": 0}


def poll():
    state["t"] += 1
    if state["t"] > 600:
        app.exit(3)
    if not state["asked"] and w.model_ready and w.frame is not None:
        state["asked"] = w.ask(question)
    elif state["asked"] and not w.busy:
        QTimer.singleShot(300, shot)
        return
    QTimer.singleShot(100, poll)


def shot():
    app.processEvents()
    pm = app.primaryScreen().grabWindow(0)       # the X server's root window: what a person would see
    saved = not pm.isNull() and pm.save(out, "PNG")
    if not saved:
        print(f"screenshot: could not save {out} (grabbed {pm.width()}x{pm.height()})", file=sys.stderr)
    w.close()
    app.exit(0 if saved else 4)                 # a run that saved nothing must not pass for one that did


QTimer.singleShot(100, poll)
sys.exit(app.exec())
