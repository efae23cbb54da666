"""`vitrine app` / `vitrine-app`: start the desktop application."""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vitrine-app", description="Vitrine desktop app")
    p.add_argument("file", nargs="?", help="video or image to open")
    p.add_argument("--lang", choices=["pt", "en"], help="interface language (default: last used, else pt)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from PySide6.QtWidgets import QApplication

    from engine.errors import VitrineError
    from .main_window import MainWindow
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vitrine")
    app.setOrganizationName("Vitrine")
    try:
        window = MainWindow(ui_lang=args.lang)
    except VitrineError as e:
        print(f"vitrine: {e}", file=sys.stderr)
        return 2
    window.show()
    if args.file:
        window.open_source(args.file)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
