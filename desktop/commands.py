"""`vitrine app`, registered into the `vitrine` command through the "vitrine.commands" entry point; Qt loads
only when the app is run."""
from __future__ import annotations
from desktop.app import main as app_main


def cmd_app(args) -> int:
    return app_main(([args.file] if args.file else []) + (["--lang", args.lang] if args.lang else []))


def register(sub) -> None:
    x = sub.add_parser("app", help="open the desktop app")
    x.add_argument("file", nargs="?", help="video or image to open")
    x.add_argument("--lang", choices=["pt", "en"], help="interface language")
    x.set_defaults(func=cmd_app, needs_no_stdout=True)
