"""`vitrine bundle` and `vitrine package`: getting onto a store workstation (studio commands, registered through the
"vitrine.commands" entry point)."""
from __future__ import annotations

from pathlib import Path

from engine.cli.progress import steps
from export.release.package import build_app

# Every `vitrine` call builds every command group's parser: the bundle and package builders load when they run.


def cmd_bundle(args) -> int:
    from engine.models.store import ModelStore  # lazy: CLI startup, +0.06 s
    from export.release.bundle import build_bundle  # lazy: CLI startup, +0.02 s (tarfile)
    bar, step = steps(8, "bundle")
    try:
        result = build_bundle(args.out, args.model or [], ModelStore.default(args.settings), args.settings,
                              catalog=Path(args.catalog) if args.catalog else None,
                              glossary=Path(args.glossary) if args.glossary else None,
                              prompts=Path(args.prompts) if args.prompts else None,
                              archive=not args.no_archive, on_step=step)
    finally:
        bar.close()
    print(f"bundle {result.folder}: {result.wheels} wheels, models {', '.join(result.models)}, "
          f"{result.bytes / 1e6:.0f} MB, made in {result.seconds:.0f} s")
    if result.archive:
        print(f"archive: {result.archive} ({result.archive.stat().st_size / 1e6:.0f} MB)")
    print("on each workstation (Python 3.11, no network needed): "
          f"python3.11 {result.folder.name}/install.py   (Windows: {result.folder.name}\\install.cmd)")
    return 0


def cmd_package(args) -> int:
    bar, step = steps(2, "package")
    try:
        result = build_app(args.out, on_step=step)
    finally:
        bar.close()
    print(f"app {result.folder}: {', '.join(result.programs)}, {result.bytes / 1e6:.0f} MB, built in "
          f"{result.seconds:.0f} s")
    print(f"Linux menu entry: cp {result.folder / 'vitrine.desktop'} ~/.local/share/applications/")
    return 0


def register(sub) -> None:
    b = sub.add_parser("bundle", help="an offline install bundle for store workstations (wheels, models, catalog)")
    b.add_argument("--out", required=True, help="the bundle folder (a .tar.gz of it is written beside it)")
    b.add_argument("--model", action="append", help="an installed model to carry (repeat for more)")
    b.add_argument("--catalog", help="the store's catalog folder (default: none)")
    b.add_argument("--glossary", help="the store's glossary.tsv")
    b.add_argument("--prompts", help="the store's prompts.json (the app's quick questions)")
    b.add_argument("--no-archive", action="store_true", help="only the folder, no .tar.gz")
    b.set_defaults(func=cmd_bundle)
    k = sub.add_parser("package", help="the runtime as a one-folder app (PyInstaller): vitrine-app and vitrine")
    k.add_argument("--out", required=True, help="the app folder")
    k.set_defaults(func=cmd_package)
