"""The local store of installed models: one folder each with a manifest (scan, import, verify, remove); what can be
pulled is engine/models/profiles.py, the pull itself engine/models/hub.py."""
from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ModelFault, VitrineError
from engine.families import for_projector
from engine.files import OutputKind, atomic_folder, sha256_file, store_lock
from engine.models.gguf_file import check_gguf, check_hyperparameters, read_gguf
from engine.models.manifest import MANIFEST_NAME, FileEntry, Manifest, check_relpath, contained, file_entry
from engine.models.profiles import PROFILES, ProgressFn, quant_from_name
from engine.models import trial
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class InstalledModel:
    name: str
    folder: Path
    manifest: Manifest = field(repr=False)

    def path(self, role: str) -> Path:
        entry = self.manifest.files.get(role)
        if entry is None:
            raise VitrineError(f"model {self.name!r} has no {role} file in its manifest: import it again")
        return contained(self.folder, entry.path)


def describe_gguf_pair(model: Path, mmproj: Path) -> tuple[str, str, list[str]]:
    """Check a text GGUF and its projector; return (family, chat handler, languages)."""
    check_gguf(model, "model")
    proj = check_gguf(mmproj, "mmproj")
    ptype = str(proj.metadata.get("clip.projector_type", proj.metadata.get("clip.vision.projector_type", "")))
    fam = for_projector(ptype)
    if fam is None:
        return ptype or "generic", "mtmd", ["en"]
    return fam.name, fam.chat_handler, list(fam.languages)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _valid_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise VitrineError(f"invalid model name {str(name)[:70]!r}: use up to 64 letters, digits, '-', '_' or '.', "
                           "starting with a letter or digit")
    return name


@dataclass
class BrokenModel:
    """A folder in the store whose manifest cannot be used: it disables itself, never the others."""
    name: str
    folder: Path
    reason: str


class ModelStore:
    """Installed models, one folder each under ``root`` with a manifest; every change lands by rename."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def default(cls, settings: Settings) -> "ModelStore":
        """The store under ``settings.home`` (VITRINE_HOME)."""
        return cls(settings.models_dir)

    # ------------------------------------------------------------------ query
    def scan(self) -> tuple[list[InstalledModel], list[BrokenModel]]:
        """Every model folder: the usable ones, and the ones whose manifest is damaged (with the reason)."""
        good, broken = [], []
        if not self.root.is_dir():
            return good, broken
        for d in sorted(self.root.iterdir()):
            if d.name.startswith(".") or not d.is_dir() or not (d / MANIFEST_NAME).is_file():
                continue
            try:
                m = InstalledModel(d.name, d, Manifest.load(d))
                _check_runnable(m)
                good.append(m)
            except VitrineError as e:
                log.debug("model %s is unusable: %s", d.name, e)
                broken.append(BrokenModel(d.name, d, str(e)))
        return good, broken

    def installed(self) -> list[InstalledModel]:
        return self.scan()[0]

    def vlms(self) -> list[InstalledModel]:
        """The installed models that answer questions (not the catalog's embedders)."""
        return [m for m in self.installed() if m.manifest.runtime != "embedder"]

    def get(self, name: str) -> InstalledModel:
        _valid_name(name)
        folder = self.root / name
        if (folder / MANIFEST_NAME).is_file():
            return InstalledModel(name, folder, Manifest.load(folder))
        have = [m.name for m in self.installed()]
        if name in PROFILES:
            hint = f"it is not installed: run `vitrine models pull {name}`"
        else:
            hint = f"it is not a known model (known: {', '.join(PROFILES)})"
        raise VitrineError(f"unknown model {name!r}: {hint}; installed: {', '.join(have) or 'none'}")

    # ------------------------------------------------------------------ lock
    def changing(self, action: str):
        """One writer at a time across processes (see ``store_lock``)."""
        return store_lock(self.root, action, "the model store")

    # ------------------------------------------------------------------ change
    def install_staging(self, name: str, staging: Path, manifest: Manifest) -> InstalledModel:
        """Install a pull's staging folder (kept across attempts, so not an ``atomic_folder``)."""
        manifest.save(staging)
        dest = self.root / name
        old = self.root / f".{name}.old-{int(time.time() * 1000)}"
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        return InstalledModel(name, dest, manifest)

    def import_files(self, name: str, model: Path, mmproj: Path, progress: ProgressFn | None = None,
                     source: str = "") -> InstalledModel:
        """Copy a text GGUF and its projector into the store under ``name``."""
        _valid_name(name)
        model, mmproj = Path(model), Path(mmproj)
        family, handler, langs = describe_gguf_pair(model, mmproj)
        if model.name == mmproj.name:
            raise VitrineError(f"the model and the projector are both named {model.name}: rename one of them")
        with self.changing(f"import {name}"), atomic_folder(self.root / name, OutputKind.MODEL) as staging:
            files = {role: self._copy_in(src, staging, check_relpath(src.name), role, progress)
                     for role, src in (("model", model), ("mmproj", mmproj))}
            m = Manifest(name=name, runtime="gguf", family=family, files=files, chat_handler=handler,
                         languages=langs, quant=quant_from_name(model.name), source=source or str(model.parent))
            m.save(staging)
            trial_before_install(staging, m, progress)        # a failure removes the staging folder: nothing is installed
        return InstalledModel(name, self.root / name, m)

    def import_folder(self, name: str, folder: Path, progress: ProgressFn | None = None,
                      variant: str = "") -> InstalledModel:
        """Import a folder written by `vitrine export` (it carries its own manifest), or a SmolVLM folder in the
        onnx-community layout as published (config, tokenizer, onnx/*{variant}.onnx; ``variant`` e.g. "_int8")."""
        _valid_name(name)
        folder = Path(folder)
        src = Manifest.load(folder) if (folder / MANIFEST_NAME).is_file() else onnx_folder_manifest(folder, variant)
        bad = src.problems(folder)
        if bad:
            raise VitrineError(f"{folder} is incomplete: {bad[0]}; export it again")
        if src.runtime == "gguf":
            describe_gguf_pair(contained(folder, src.files["model"].path), contained(folder, src.files["mmproj"].path))
        src.name = name
        src.source = src.source or str(folder)
        with self.changing(f"import {name}"), atomic_folder(self.root / name, OutputKind.MODEL) as staging:
            for role, entry in src.files.items():
                self._copy_in(contained(folder, entry.path), staging, entry.path, role, progress)
            src.save(staging)
            trial_before_install(staging, src, progress)
        return InstalledModel(name, self.root / name, src)

    @staticmethod
    def _copy_in(src: Path, staging: Path, relpath: str, role: str, progress: ProgressFn | None) -> FileEntry:
        dst = contained(staging, relpath)
        if dst.exists():
            raise VitrineError(f"two files of the model would both be copied to {relpath}: export it again")
        dst.parent.mkdir(parents=True, exist_ok=True)
        total, done = src.stat().st_size, 0
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            while block := fi.read(1 << 20):
                fo.write(block)
                done += len(block)
                if progress:
                    progress(f"copy {role}", done, total)
        return FileEntry(path=relpath, sha256=sha256_file(dst), size=total)


    def verify(self, name: str | None = None) -> dict[str, list[str]]:
        """Re-hash installed files; return {model name: problems} (empty lists mean intact).

        A model whose manifest is damaged is listed with that problem: verify never says "ok" about a model that
        cannot be loaded.
        """
        if name:
            _valid_name(name)
            good, broken = self.scan()
            for b in broken:
                if b.name == name:
                    return {name: [b.reason]}
            models = [self.get(name)]
            return {m.name: m.manifest.problems(m.folder) for m in models}
        good, broken = self.scan()
        out = {m.name: m.manifest.problems(m.folder) for m in good}
        out.update({b.name: [b.reason] for b in broken})
        return dict(sorted(out.items()))

    def remove(self, name: str) -> None:
        _valid_name(name)
        folder = self.root / name
        if not (folder / MANIFEST_NAME).is_file():
            self.get(name)              # raises the usual "unknown model" line
        with self.changing(f"remove {name}"):
            trash = self.root / f".{name}.removing"
            shutil.rmtree(trash, ignore_errors=True)
            folder.rename(trash)        # one rename: the model is gone or still whole, never half-deleted
            shutil.rmtree(trash, ignore_errors=True)


def trial_before_install(folder: Path, manifest: Manifest, progress: ProgressFn | None) -> None:
    """Run a model about to be installed once, in a child process (engine.models.trial): a model that crashes,
    hangs, runs out of memory or answers nothing is refused before it can become anyone's default."""
    if manifest.runtime == "embedder":         # the catalog's encoders answer no question
        return
    if progress:
        progress("checking that it runs", 0, None)
    trial.trial_run(folder, manifest)


# (path, size, mtime) -> the problem found in its header, or "" (a store is scanned often; headers rarely change)
_HEADER_CHECKS: dict[tuple[str, int, int], str] = {}


def _check_runnable(m: InstalledModel) -> None:
    """An installed GGUF model whose hyperparameters llama.cpp would crash on is damaged: it is listed as such and
    never chosen (a missing or truncated file stays listed: loading it and `models verify` name the problem)."""
    if m.manifest.runtime not in ("gguf", "hybrid"):
        return
    for role in ("model", "mmproj"):
        path = m.path(role)
        try:
            st = path.stat()
        except OSError:
            continue
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _HEADER_CHECKS:
            _HEADER_CHECKS[key] = ""
            try:
                info = read_gguf(path)
                if info.complete:       # a cut-off file is named by the size check at load and by verify
                    check_hyperparameters(info)
            except ModelFault as e:
                _HEADER_CHECKS[key] = str(e)
            except VitrineError:
                pass
        if _HEADER_CHECKS[key]:
            raise VitrineError(_HEADER_CHECKS[key])


def onnx_folder_manifest(folder: Path, variant: str = "") -> Manifest:
    """A manifest for a published ONNX SmolVLM folder (no vitrine-model.json): its graphs and side files."""
    if not (folder / "config.json").is_file():
        raise VitrineError(f"{folder} has neither a vitrine-model.json nor a config.json: pass a folder written by "
                           "`vitrine export`, or a model folder in the onnx-community layout")
    files = {}
    for role, base in (("vision", "vision_encoder"), ("embed", "embed_tokens"), ("decoder", "decoder_model_merged")):
        cands = [folder / sub / f"{base}{variant}.onnx" for sub in ("onnx", ".")]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            raise VitrineError(f"{folder} has no onnx/{base}{variant}.onnx: choose a variant the folder has "
                               "(--variant, e.g. _int8, _q4, _fp16) or copy the whole folder")
        files[role] = file_entry(folder, found.relative_to(folder).as_posix())
    for side in ("config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
                 "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                 "chat_template.json"):
        if (folder / side).is_file():
            files[side.split(".")[0]] = file_entry(folder, side)
    return Manifest(name=folder.name, runtime="onnx", family="idefics3", files=files, quant=variant.strip("_") or "fp32",
                    source=str(folder))


