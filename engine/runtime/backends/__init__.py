"""``load_backend``: one entry point from a model name, folder or file to a ready backend."""
from __future__ import annotations

import os
from pathlib import Path

from engine.devices import check_device, resolve
from engine.errors import BadInput, NotFound, VitrineError
from engine.kinds import Runtime
from engine.models.manifest import MANIFEST_NAME, Manifest
from engine.models.store import ModelStore
from engine.runtime.backends.base import Backend, EncodedImage, GenerationOptions, GenerationStats
from engine.runtime.backends.gguf import GgufBackend
from engine.runtime.backends.hybrid import HybridBackend
from engine.runtime.backends.onnx import OnnxBackend
from engine.settings import Settings

# The backends' modules are light: each runtime's own library (llama_cpp, onnxruntime, OpenVINO, torch) loads inside
# the backend when a model is opened, so the app and the server import this package at start-up for its types.
__all__ = ["Backend", "EncodedImage", "GenerationOptions", "GenerationStats", "load_backend", "default_model"]


def default_model(store: ModelStore, preferred: str | None = None) -> str:
    """``preferred`` (Settings.model: VITRINE_MODEL), else the only (or first) installed model."""
    if preferred:
        return preferred
    installed = store.vlms()
    damaged = store.scan()[1] if not installed else []
    if damaged:         # a damaged model is never the default: say so rather than "no model installed"
        raise VitrineError(f"no usable model: {damaged[0].name} is damaged ({damaged[0].reason}); pull or import a "
                           f"model again, or `vitrine models remove {damaged[0].name}`")
    if not installed:
        raise NotFound(
            "no model installed: install the store's bundle (python3.11 BUNDLE/install.py), import a model folder "
            "(`vitrine models import NAME --from FOLDER`), or, online, run `vitrine models pull smolvlm-256m`")
    return installed[0].name


def backend_for_manifest(manifest: Manifest, folder: Path, threads: int | None, tiles: int, placement) -> Backend:
    bad = manifest.size_problems(folder)      # a truncated or missing file says so here, not inside llama.cpp
    if bad:
        raise VitrineError(f"model {manifest.name!r} is damaged ({bad[0]}): run `vitrine models verify`, then pull "
                           "or import it again")
    if manifest.runtime is Runtime.GGUF:
        _gguf_device(manifest.name, placement)
        return GgufBackend(folder / manifest.files["model"].path, folder / manifest.files["mmproj"].path,
                           model_id=manifest.name, family=manifest.family, chat_handler=manifest.chat_handler,
                           threads=threads, tiles=tiles, languages=tuple(manifest.languages),
                           n_gpu_layers=placement.n_gpu_layers)
    if manifest.runtime is Runtime.HYBRID:
        return HybridBackend(folder, manifest, threads=threads, placement=placement)
    if manifest.runtime is Runtime.EMBEDDER:
        raise VitrineError(f"{manifest.name!r} is the catalog's image embedder, not a model that answers questions: "
                           "choose another --model (`vitrine models list`)")
    if manifest.runtime is Runtime.ONNX:
        return OnnxBackend(folder, model_id=manifest.name, threads=threads,
                           files={r: e.path for r, e in manifest.files.items() if r in ("vision", "embed", "decoder")},
                           languages=tuple(manifest.languages), family=manifest.family, placement=placement)
    raise VitrineError(f"model {manifest.name!r} needs the {manifest.runtime!r} runtime, which this version of "
                       "Vitrine does not have")


def _gguf_device(name: str, placement) -> None:
    """A GGUF model's image encoder is libmtmd's: OpenVINO's gpu/npu cannot run it."""
    if placement.encoder:
        raise BadInput(f"--device {placement.device.value}: {name} is a GGUF model, whose image encoder only "
                       "llama.cpp runs; use a hybrid or ONNX model on that device, or --device cpu/auto")


def load_backend(model: str | None = None, *, mmproj: str | None = None, store: ModelStore | None = None,
                 threads: int | None = None, tiles: int = 1, device: str | None = None,
                 settings: Settings) -> Backend:
    """``model``: an installed model's name, a folder with a vitrine-model.json, or a text .gguf file; None:
    ``settings.model`` (VITRINE_MODEL), else the first installed.
    ``device``: auto, cpu, gpu, npu or cuda (engine/devices.py); None: ``settings.device`` (VITRINE_DEVICE), else
    auto (the app and `serve` get theirs this way). ``settings``: the caller's, read once at its entry point (the
    CLI, the app, the server, a benchmark's main) and passed down."""
    threads = settings.threads_for(threads)                 # --threads, else VITRINE_THREADS, else the cores
    # --device, else VITRINE_DEVICE, else auto; an absent device is refused here, before any loading
    placement = resolve(check_device(device) or settings.device)
    store = store or ModelStore.default(settings)
    model = model or default_model(store, settings.model)
    path = Path(model)
    if model.endswith(".gguf") or path.is_file():
        if not path.is_file():
            raise VitrineError(f"model file not found: {path}")
        if mmproj is None:
            found = sorted(p for p in path.parent.glob("*.gguf") if "mmproj" in p.name.lower())
            mmproj = str(found[0]) if len(found) == 1 else None
        _gguf_device(path.name, placement)
        return GgufBackend(path, mmproj, threads=threads, tiles=tiles, n_gpu_layers=placement.n_gpu_layers)
    if (path / MANIFEST_NAME).is_file():
        return backend_for_manifest(Manifest.load(path), path, threads, tiles, placement)
    if os.sep in model or model.startswith("."):
        raise VitrineError(f"model not found: {model} (expected an installed model name, a .gguf file or an "
                           "exported folder)")
    installed = store.get(model)
    return backend_for_manifest(installed.manifest, installed.folder, threads, tiles, placement)
