"""`vitrine app` / `vitrine-app`: start the desktop application."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from engine.errors import VitrineError
from engine.settings import Settings

NO_DISPLAY = ("no display to open a window on: run `vitrine app` in a desktop session (or over ssh -X), or set "
              "QT_QPA_PLATFORM=offscreen to run it without a window")


def platform_plugins() -> set[str] | None:
    """The Qt platform plugins this install has (PySide6's Qt/plugins/platforms, and the folders Qt's variables
    add), by the names QT_QPA_PLATFORM takes; None when they cannot be listed."""
    import importlib.util
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folders = [Path(p) / "Qt" / "plugins" / "platforms" for p in spec.submodule_search_locations]
    folders += [Path(p) for p in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders += [Path(p) / "platforms" for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    names = set()
    for folder in folders:
        if folder.is_dir():
            for f in folder.iterdir():
                stem = f.name.split(".")[0]
                stem = stem[3:] if stem.startswith("lib") else stem
                if f.suffix in (".so", ".dll", ".dylib") and stem.startswith("q"):
                    names.add(stem[1:])
    return names or None


def platform_problem() -> str | None:
    """QT_QPA_PLATFORM naming no installed plugin makes Qt abort the process: say it first, in one line."""
    wanted = os.environ.get("QT_QPA_PLATFORM", "")
    available = platform_plugins() if wanted else None
    if not available:
        return None
    # "xcb:option=value", or a fallback list "wayland;xcb": one installed name is enough
    names = [part.split(":")[0].strip() for part in wanted.split(";") if part.strip()]
    # a plugin may answer to several keys: libqwayland serves wayland-egl and wayland-brcm too
    if names and not any(n in available or n.split("-")[0] in available for n in names):
        return (f"QT_QPA_PLATFORM={wanted!r} names no Qt platform plugin installed here (available: "
                f"{', '.join(sorted(available))}): unset it, or set it to one of those (offscreen: no window)")
    return None


def display_problem() -> str | None:
    """Qt aborts the process with its own lines when it has no display: say it first, in one line."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return platform_problem()
    if sys.platform != "linux":
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return NO_DISPLAY
    if display.startswith(":"):            # a local X server listens on its socket; a remote one we cannot check
        number = display[1:].split(".")[0]
        if number.isdigit() and not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            return f"no X server answers on DISPLAY={display}: start the desktop session (or Xvfb), or " + \
                NO_DISPLAY.split(": ", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vitrine-app", description="Vitrine desktop app")
    p.add_argument("file", nargs="?", help="video or image to open")
    p.add_argument("--lang", choices=["pt", "en"], help="interface language (default: last used, else pt)")
    p.add_argument("--smoke", action="store_true", help="show the window, print how long the start took (from the "
                   "process's start), and quit: an install's check")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    problem = display_problem()
    if problem:
        print(f"vitrine: {problem}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow  # lazy: pulls Qt (PySide6), after the display check above
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vitrine")
    app.setOrganizationName("Vitrine")
    try:
        window = MainWindow(ui_lang=args.lang, config=Settings.from_env())     # the app's entry point: read once
    except VitrineError as e:
        print(f"vitrine: {e}", file=sys.stderr)
        return 2
    window.fit_to_screen(grow=not window.restored_geometry)    # cut to this screen; a first start fills 90% of it
    window.show()
    if args.file:
        window.open_source(args.file)
    if args.smoke:
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, lambda: _report_shown(window, app))
    return app.exec()


def _report_shown(window, app) -> None:
    """The window is on screen once the event loop runs: say after how long, counted from the process's start."""
    import time

    import psutil
    since = time.time() - psutil.Process().create_time()
    print(f"shown {window.isVisible()} after {since:.2f} s", flush=True)
    app.quit()


if __name__ == "__main__":
    sys.exit(main())
