"""`vitrine models`: list, pull, import, verify, remove."""
from __future__ import annotations

import json
from pathlib import Path

from importlib.metadata import entry_points

from engine.cli.progress import TqdmProgress
from engine.errors import VitrineError
from engine.families import get as family
from engine.kinds import Runtime
from engine.models.profiles import PROFILES
from engine.settings import check_hub_url

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs: the store and the hub (urllib, ssl, the GGUF reader: 0.1-0.5 s) load when a `models` command runs.


def _store(args):
    from engine.models.store import ModelStore  # lazy: CLI startup, +0.06 s
    return ModelStore.default(args.settings)


def cmd_models_list(args) -> int:
    store = _store(args)
    good, broken = store.scan()
    installed = {m.name: m for m in good}
    rows = []
    for name, p in PROFILES.items():
        m = installed.pop(name, None)
        notes = [] if p.verified else ["file names not verified by a download"]
        if p.more:
            notes.append(f"{', '.join(f.path for f in p.more if f.path.endswith('.onnx'))} from {p.more[0].repo}: "
                         "name not verified by a download")
        if family(p.family) is not None and not family(p.family).tested:
            notes.append("untested: no test exercises its prompt layout")
        about = p.about + (f" ({'; '.join(notes)})" if notes else "")
        rows.append((name, "installed" if m else "-", m.manifest.quant if m else "", _hybrid_note(m) + about))
    for name, m in installed.items():
        rows.append((name, "installed", m.manifest.quant, _hybrid_note(m) + f"imported from {m.manifest.source}"))
    for b in broken:          # one damaged model disables itself, and says how to repair it
        rows = [r for r in rows if r[0] != b.name]
        rows.append((b.name, "damaged", "", f"{b.reason} (or `vitrine models remove {b.name}`)"))
    if args.json:
        print(json.dumps([dict(zip(("name", "status", "quant", "about"), r)) for r in rows], indent=2,
                         ensure_ascii=False))
        return 0
    w = max(len(r[0]) for r in rows)
    print(f"{'model':<{w}}  {'status':<9}  {'quant':<6}  about")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<9}  {r[2]:<6}  {r[3]}")
    print(f"\nstore: {store.root}")
    return 0


def _hybrid_note(m) -> str:
    """Which image encoder an installed hybrid model runs, and why (timed when it was pulled or exported)."""
    vision = m.manifest.extra.get("vision") if m is not None and m.manifest.runtime is Runtime.HYBRID else None
    if not isinstance(vision, dict):
        return ""
    return f"hybrid, vision encoder {vision.get('choice')}: {vision.get('why')}; "


def _gguf_converter():
    """export's checkpoint -> GGUF converter, found through its entry point (engine does not import export)."""
    for ep in entry_points(group="vitrine.converters", name="gguf"):
        try:
            return ep.load()
        except ImportError:
            return None
    return None


def cmd_models_pull(args) -> int:
    hub = check_hub_url(args.hub) if args.hub else check_hub_url(args.settings.hub_url, "VITRINE_HUB_URL")
    with TqdmProgress() as progress:
        # the runtime's encoder timer loads onnxruntime and llama.cpp: only a pull needs it, not `models list`
        from engine.models.hub import pull  # lazy: CLI startup, +0.1 s
        from engine.runtime.backends.hybrid import measure_vision_encoders  # lazy: CLI startup, +0.15 s (the runtime)
        m = pull(_store(args), args.name, hub, progress, convert=_gguf_converter(),
                 measure_encoders=measure_vision_encoders)
    print(f"installed {m.name} in {m.folder}")
    return 0


def cmd_models_import(args) -> int:
    store = _store(args)
    with TqdmProgress() as progress:
        if args.source:
            if args.model or args.mmproj:
                raise VitrineError("give either --from FOLDER or --model F.gguf --mmproj P.gguf, not both")
            folder = Path(args.source)
            if not folder.is_dir():
                raise VitrineError(f"{folder} is not a folder: --from takes a folder written by `vitrine export`")
            m = store.import_folder(args.name, folder, progress, variant=args.variant or "")
        elif args.model and args.mmproj:
            m = store.import_files(args.name, Path(args.model), Path(args.mmproj), progress)
        else:
            raise VitrineError("say what to import: --model F.gguf --mmproj P.gguf, or --from FOLDER "
                               "(a folder written by `vitrine export`)")
    print(f"installed {m.name} in {m.folder}")
    return 0


def cmd_models_verify(args) -> int:
    results = _store(args).verify(args.name)
    if not results:
        print("no model installed")
        return 0
    bad = 0
    for name, problems in results.items():
        if problems:
            bad += 1
            print(f"{name}: DAMAGED — " + "; ".join(problems)
                  + f" (run `vitrine models pull {name}` or import again)")
        else:
            print(f"{name}: ok")
    return 1 if bad else 0


def cmd_models_remove(args) -> int:
    _store(args).remove(args.name)
    print(f"removed {args.name}")
    return 0


def register(sub) -> None:
    m = sub.add_parser("models", help="list, pull, import, verify, remove models")
    ms = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    x = ms.add_parser("list", help="known and installed models")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_models_list)
    x = ms.add_parser("pull", help="download a model (resumable)")
    x.add_argument("name")
    x.add_argument("--hub", help="hub base URL (default: $VITRINE_HUB_URL or https://huggingface.co)")
    x.set_defaults(func=cmd_models_pull)
    x = ms.add_parser("import", help="install GGUF files copied by hand, or an exported folder")
    x.add_argument("name")
    x.add_argument("--model", help="text model .gguf")
    x.add_argument("--mmproj", help="vision projector .gguf")
    x.add_argument("--from", dest="source", help="folder written by `vitrine export`, or an ONNX SmolVLM folder "
                   "in the onnx-community layout")
    x.add_argument("--variant", help="with an onnx-community folder: which graphs, e.g. _int8, _q4, _fp16 "
                   "(default: the unsuffixed fp32 ones)")
    x.set_defaults(func=cmd_models_import)
    x = ms.add_parser("verify", help="re-check installed files against their sha256 (exit 1 if any is damaged)")
    x.add_argument("name", nargs="?")
    x.set_defaults(func=cmd_models_verify)
    x = ms.add_parser("remove", help="delete an installed model")
    x.add_argument("name")
    x.set_defaults(func=cmd_models_remove)
