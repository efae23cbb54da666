"""Model profiles a user can pull, and the local store of installed models (import, pull, verify, remove)."""
from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import ModelFault, VitrineError
from engine.files import OutputKind, atomic_folder, sha256_file, store_lock
from engine.models.download import RemoteFile, Unreachable, download, hub_files
from engine.models.gguf_file import check_gguf, check_hyperparameters, read_gguf
from engine.models.manifest import MANIFEST_NAME, FileEntry, Manifest, check_relpath, contained
from engine.settings import Settings

log = logging.getLogger(__name__)

# (stage label, bytes or steps done, total or None)
ProgressFn = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class RepoFile:
    """A file a profile takes from another repo than its own, and where it lands in the model's folder."""
    role: str
    repo: str
    path: str                       # in the repo
    local: str                      # in the installed folder
    revision: str = "main"


@dataclass(frozen=True)
class Profile:
    name: str
    repo: str                       # Hugging Face repo id
    files: dict[str, str]           # role -> file name in the repo
    family: str
    chat_handler: str
    languages: tuple[str, ...]
    about: str
    revision: str = "main"
    verified: bool = True           # file names confirmed by a real download (False: taken from public docs)
    convert_to: str = ""            # a checkpoint (no GGUF is published): converted here to this quantization
    runtime: str = "gguf"           # "embedder": ONNX encoders for the catalog (engine.catalog.embedders), not a VLM;
                                    # "hybrid": the GGUF pair and an ONNX vision encoder (``more``), timed at pull
    more: tuple[RepoFile, ...] = ()  # files from other repos (a hybrid's vision encoder)


# the files of a transformers checkpoint a conversion needs (weights, configs, tokenizer, processor)
CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".model", ".jinja", ".txt", ".tiktoken")
# Converts a downloaded checkpoint into an exported folder: (checkpoint, out, quant, name, step) -> None.
# It lives in export/ (engine never imports it): the CLI finds it through the "vitrine.converters" entry point.
ConvertFn = Callable[[Path, Path, str, str, Callable[[str], None]], None]
# (text GGUF, projector GGUF, ONNX vision encoder) -> {"choice", "why", ...}: engine.runtime.backends.hybrid's timer
MeasureFn = Callable[[Path, Path, Path], dict]


# SmolVLM 256M/500M: the f16 projector, not the Q8_0 one the repos also have: its encoder ran faster here
# (one 512 px tile, SmolVLM-256M size, 2 threads: f16 1.59-1.69 s, Q8_0 1.84-1.89 s).
# smolvlm-256m, the default: a hybrid (llama.cpp's text model, the vision encoder of the checkpoint's own int8 ONNX
# export, whichever of it and the projector is faster on the machine, timed when it is pulled). The ONNX file
# names follow the repo's onnx/ listing, not yet confirmed by a download from here.
_SMOLVLM_256M_ONNX = "HuggingFaceTB/SmolVLM-256M-Instruct"
_SMOLVLM_256M_GGUF = ("ggml-org/SmolVLM-256M-Instruct-GGUF",
                      {"model": "SmolVLM-256M-Instruct-Q8_0.gguf", "mmproj": "mmproj-SmolVLM-256M-Instruct-f16.gguf"})
PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile("smolvlm-256m", *_SMOLVLM_256M_GGUF, "idefics3", "mtmd", ("en",),
            "fastest on the CPU: llama.cpp text, ONNX int8 vision (English; questions are translated)",
            runtime="hybrid",
            more=(RepoFile("vision", _SMOLVLM_256M_ONNX, "onnx/vision_encoder_int8.onnx", "onnx/vision_encoder.onnx"),
                  RepoFile("config", _SMOLVLM_256M_ONNX, "config.json", "onnx/config.json"),
                  RepoFile("preprocessor", _SMOLVLM_256M_ONNX, "preprocessor_config.json",
                           "onnx/preprocessor_config.json"))),
    Profile("smolvlm-256m-gguf", *_SMOLVLM_256M_GGUF, "idefics3", "mtmd", ("en",),
            "smolvlm-256m in GGUF only: 270 MB less memory, a slower new frame"),
    Profile("smolvlm-500m", "ggml-org/SmolVLM-500M-Instruct-GGUF",
            {"model": "SmolVLM-500M-Instruct-Q8_0.gguf", "mmproj": "mmproj-SmolVLM-500M-Instruct-f16.gguf"},
            "idefics3", "mtmd", ("en",), "fast, better answers than 256M (English)"),
    Profile("smolvlm2-2.2b", "ggml-org/SmolVLM2-2.2B-Instruct-GGUF",
            {"model": "SmolVLM2-2.2B-Instruct-Q4_K_M.gguf", "mmproj": "mmproj-SmolVLM2-2.2B-Instruct-Q8_0.gguf"},
            "idefics3", "mtmd", ("en",), "better answers, slower (English)"),
    # MiniCPM-V 4.6: the card's family; hybrid Qwen3.5 text model, multilingual. Names as openbmb's repo lists them
    # (public copies, not yet a download from here): the repo answers under its dotted name (the underscore one
    # redirects), the projector is mmproj-model-f16.gguf.
    Profile("minicpm-v-4.6", "openbmb/MiniCPM-V-4.6-gguf",
            {"model": "MiniCPM-V-4_6-Q4_K_M.gguf", "mmproj": "mmproj-model-f16.gguf"},
            "minicpmv4_6", "mtmd", ("en", "pt", "multi"), "multilingual (answers in Portuguese itself), 1.3B",
            verified=False),
    # the same model from ggml-org: a Q8_0 projector (728 MB), about 380 MB smaller than openbmb's f16 one
    Profile("minicpm-v-4.6-q8", "ggml-org/MiniCPM-V-4.6-GGUF",
            {"model": "MiniCPM-V-4.6-Q4_K_M.gguf", "mmproj": "mmproj-MiniCPM-V-4.6-Q8_0.gguf"},
            "minicpmv4_6", "mtmd", ("en", "pt", "multi"), "minicpm-v-4.6 with a Q8_0 projector: 380 MB smaller",
            verified=False),
    # TinyLLaVA: no GGUF is published; the transformers-layout checkpoint is downloaded and converted here. As
    # published: two fp32 safetensors shards (4.98 GB + 661 MB) with their index, tokenizer.json and no
    # tokenizer.model (the converter reads the tokenizer.json vocabulary), preprocessor_config.json.
    Profile("tinyllava-1.1b", "bczhou/tiny-llava-v1-hf", {}, "llava", "mtmd", ("en",),
            "TinyLLaVA 1.1B (CLIP-L + TinyLlama), English; converted to GGUF Q8_0 after download", verified=False,
            convert_to="Q8_0"),
    Profile("minicpm-v-4", "openbmb/MiniCPM-V-4-gguf",
            {"model": "ggml-model-Q4_K_M.gguf", "mmproj": "mmproj-model-f16.gguf"},
            "minicpmv", "minicpmv", ("en", "pt", "multi"), "best quality, multilingual, slowest"),
    Profile("minicpm-v-2.6", "openbmb/MiniCPM-V-2_6-gguf",
            {"model": "ggml-model-Q4_K_M.gguf", "mmproj": "mmproj-model-f16.gguf"},
            "minicpmv", "minicpmv", ("en", "pt", "multi"), "high quality, multilingual, slowest"),
    # the catalog's fashion embedder (`vitrine catalog add --embedder fashion-siglip`): Marqo-FashionSigLIP's ONNX
    # image and text encoders. File names follow the usual onnx/ layout, not yet confirmed by a download.
    Profile("fashion-siglip", "Marqo/marqo-fashionSigLIP",
            {"vision": "onnx/vision_model.onnx", "text": "onnx/text_model.onnx", "tokenizer": "tokenizer.json"},
            "siglip", "", ("multi",), "catalog embedder for fashion (image + text, 150M); leads published fashion "
            "retrieval", verified=False, runtime="embedder"),
]}



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
    from engine.families import for_projector
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
    def default(cls) -> "ModelStore":
        return cls(Settings.from_env().models_dir)

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
    def _commit(self, name: str, staging: Path, manifest: Manifest) -> InstalledModel:
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
                         languages=langs, quant=_quant_from_name(model.name), source=source or str(model.parent))
            m.save(staging)
            _trial(staging, m, progress)        # a failure removes the staging folder: nothing is installed
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
            _trial(staging, src, progress)
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

    def pull(self, name: str, hub_url: str, progress: ProgressFn | None = None,
             convert: ConvertFn | None = None, measure_encoders: MeasureFn | None = None) -> InstalledModel:
        """Download a profile's files from a hub (the real one, or any server in its layout); resumable.

        Sizes and sha256 come from the hub's API (or its ETags); nothing is installed that was not verified.
        A profile with no published GGUF (``convert_to``) downloads the checkpoint and converts it with
        ``convert``; the download is kept until the conversion succeeds, so a failed conversion never downloads
        again. A hybrid profile times its two vision encoders with ``measure_encoders`` (the runtime's, given by
        the caller: the store does not import the runtime).
        """
        if name not in PROFILES:
            raise VitrineError(f"unknown model {name!r}: choose one of {', '.join(PROFILES)} "
                               "(or import your own files with `vitrine models import`)")
        prof = PROFILES[name]
        if prof.runtime == "hybrid" and measure_encoders is None:
            raise VitrineError(f"{name} times its vision encoders when it is pulled: pull it with `vitrine models "
                               "pull`, which gives the store the runtime's timer")
        if prof.convert_to and convert is None:
            raise VitrineError(f"{name} is converted after download, which needs Vitrine's export tools: install "
                               "Vitrine whole (`bash .ci/install`)")
        with self.changing(f"pull {name}"):
            try:
                wanted = self.plan_pull(name, hub_url)
                staging = self.root / f".{name}.pulling"    # kept between attempts: .part files resume
                staging.mkdir(parents=True, exist_ok=True)
                files = {}
                for want, expected in wanted:
                    role = want.role
                    dest = contained(staging, want.local)
                    # a file left whole by an earlier attempt is kept only if it matches what the hub states
                    digest = expected.sha256 if dest.exists() and _still_good(dest, expected) else None
                    if digest is None:
                        dest.unlink(missing_ok=True)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        url = f"{hub_url.rstrip('/')}/{want.repo}/resolve/{want.revision}/{want.path}"
                        cb = (lambda done, total, _r=role: progress(f"download {_r}", done, total)) \
                            if progress else None
                        digest = download(url, dest, expected, cb)     # hashed once, while verifying
                    files[role] = FileEntry(want.local, digest, dest.stat().st_size)
            except Unreachable as e:
                raise VitrineError(f"{e}: {_by_hand(prof)}") from None
            if prof.convert_to:
                return self._convert_pulled(prof, staging, convert, progress)
            if prof.runtime == "embedder":
                m = Manifest(name=name, runtime="embedder", family=prof.family, files=files,
                             languages=list(prof.languages), source=f"{prof.repo}@{prof.revision}")
                return self._commit(name, staging, m)
            family, handler, langs = describe_gguf_pair(staging / prof.files["model"], staging / prof.files["mmproj"])
            # the GGUF pair runs once before anything else loads it in this process (the hybrid's timing does)
            pair = Manifest(name=name, runtime="gguf", family=family, files={r: files[r] for r in ("model", "mmproj")},
                            chat_handler=handler, languages=list(prof.languages))
            try:
                _trial(staging, pair, progress)
            except VitrineError:
                shutil.rmtree(staging, ignore_errors=True)     # verified against the hub, and still unusable
                raise
            extra = {}
            if prof.runtime == "hybrid":
                if progress:
                    progress("timing both vision encoders on this machine", 0, None)
                extra["vision"] = measure_encoders(staging / prof.files["model"], staging / prof.files["mmproj"],
                                                          staging / files["vision"].path)
                # what the timer made for the chosen encoder (OpenVINO's int8 model, or the float graph rebuilt
                # from the published int8 one) is the model's too: listed, hashed, verified like the rest
                for role, made in extra["vision"].pop("made", {}).items():
                    rel = (Path(files["vision"].path).parent / made).as_posix()
                    files[role] = FileEntry(rel, sha256_file(staging / rel), (staging / rel).stat().st_size)
                log.info("%s: %s", name, extra["vision"]["why"])
            sources = sorted({f"{w.repo}@{w.revision}" for w in prof.more} | {f"{prof.repo}@{prof.revision}"})
            m = Manifest(name=name, runtime=prof.runtime, family=family, files=files, chat_handler=handler,
                         languages=list(prof.languages), quant=_quant_from_name(prof.files["model"]),
                         source=" + ".join(sources), extra=extra)
            return self._commit(name, staging, m)

    @staticmethod
    def plan_pull(name: str, hub_url: str) -> list[tuple[RepoFile, RemoteFile]]:
        """What a pull of profile ``name`` downloads, with what the hub states about each file; a name the hub's
        listing lacks is refused here, before any download."""
        prof = PROFILES[name]
        remote = hub_files(hub_url, prof.repo, prof.revision)
        wanted = [RepoFile(role, prof.repo, f, f, prof.revision)
                  for role, f in ModelStore._wanted_files(prof, remote, hub_url).items()]
        listings = {(prof.repo, prof.revision): remote}
        for extra in prof.more:
            key = (extra.repo, extra.revision)
            if key not in listings:
                listings[key] = hub_files(hub_url, extra.repo, extra.revision)
            if listings[key] and extra.path not in listings[key]:
                raise VitrineError(f"{extra.path} is not in {extra.repo} on {hub_url}: the hub's copy of the "
                                   "model changed; update Vitrine, or import the files by hand")
            wanted.append(extra)
        return [(w, listings[(w.repo, w.revision)].get(w.path, RemoteFile(w.path))) for w in wanted]

    @staticmethod
    def _wanted_files(prof: Profile, remote: dict[str, RemoteFile], hub_url: str) -> dict[str, str]:
        """role -> file name: a GGUF profile's two files, or every checkpoint file the hub lists."""
        if not prof.convert_to:
            missing = [f for f in prof.files.values() if remote and f not in remote]
            if missing:
                raise VitrineError(f"{missing[0]} is not in {prof.repo} on {hub_url}: the hub's copy of the model "
                                   "changed; update Vitrine, or import the files by hand")
            return dict(prof.files)
        if not remote:
            raise VitrineError(f"{hub_url} does not list the files of {prof.repo} (no hub API), which a checkpoint "
                               "download needs: use a mirror with the Hugging Face API, or download it by hand and "
                               "run `vitrine export gguf`")
        names = sorted(f for f in remote if f.endswith(CHECKPOINT_SUFFIXES) and "/" not in f)
        if "config.json" not in names or not any(f.endswith(".safetensors") for f in names):
            raise VitrineError(f"{prof.repo} on {hub_url} has no config.json and .safetensors weights: it is not a "
                               "transformers checkpoint Vitrine can convert")
        if "tokenizer.json" not in names and "tokenizer.model" not in names:
            raise VitrineError(f"{prof.repo} on {hub_url} has neither tokenizer.json nor tokenizer.model: the "
                               "conversion needs one of them; update Vitrine, or convert it by hand")
        # sharded weights (model-00001-of-00002.safetensors ...): every shard and the index that names them
        shards = [re.fullmatch(r"(.+)-(\d{5})-of-(\d{5})\.safetensors", f) for f in names]
        for m in filter(None, shards):
            base, total = m.group(1), int(m.group(3))
            need = [f"{base}-{i:05d}-of-{total:05d}.safetensors" for i in range(1, total + 1)]
            need.append(f"{base}.safetensors.index.json")
            missing = [f for f in need if f not in names]
            if missing:
                raise VitrineError(f"{prof.repo} on {hub_url} lists {m.group(0)} but not {missing[0]}: the hub's "
                                   "copy is incomplete; try again later, or convert a complete copy by hand")
        return {f: f for f in names}

    def _convert_pulled(self, prof: Profile, checkpoint: Path, convert: ConvertFn,
                        progress: ProgressFn | None) -> InstalledModel:
        """Convert a downloaded checkpoint (held under the store lock) and install the result by rename."""
        out = self.root / f".{prof.name}.converted"
        shutil.rmtree(out, ignore_errors=True)
        n = [0]

        def step(label: str) -> None:
            n[0] += 1
            if progress:
                progress(f"convert: {label}", n[0], None)
        convert(checkpoint, out, prof.convert_to, prof.name, step)
        manifest = Manifest.load(out)
        bad = manifest.problems(out)
        if bad:
            raise VitrineError(f"the conversion of {prof.name} is incomplete ({bad[0]}): run the same command again")
        manifest.name, manifest.source = prof.name, f"{prof.repo}@{prof.revision} (converted here)"
        try:
            _trial(out, manifest, progress)
        except VitrineError:
            shutil.rmtree(out, ignore_errors=True)      # the downloaded checkpoint stays: no second download
            raise
        installed = self._commit(prof.name, out, manifest)
        shutil.rmtree(checkpoint, ignore_errors=True)      # the checkpoint is only needed again to re-convert
        return installed

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


def _trial(folder: Path, manifest: Manifest, progress: ProgressFn | None) -> None:
    """Run a model about to be installed once, in a child process (engine.models.trial): a model that crashes,
    hangs, runs out of memory or answers nothing is refused before it can become anyone's default."""
    if manifest.runtime == "embedder":         # the catalog's encoders answer no question
        return
    if progress:
        progress("checking that it runs", 0, None)
    from engine.models.trial import trial_run
    trial_run(folder, manifest)


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


def _by_hand(prof: Profile) -> str:
    if prof.convert_to:
        return (f"no network? On a machine with internet, download the checkpoint https://huggingface.co/{prof.repo}, "
                f"copy the folder here and run: vitrine export gguf FOLDER --quant {prof.convert_to} --out "
                f"{prof.name}-gguf && vitrine models import {prof.name} --from {prof.name}-gguf")
    gguf = (f"download {' and '.join(prof.files.values())} from https://huggingface.co/{prof.repo}, copy them here "
            f"and run: vitrine models import {prof.name} --model {prof.files['model']} --mmproj "
            f"{prof.files['mmproj']}")
    if prof.more:       # the GGUF pair alone runs too (the projector encodes the image)
        return f"no network? On a machine with internet, {gguf} (the GGUF pair alone; no ONNX vision encoder)"
    return f"no network? On a machine with internet, {gguf}"


def _still_good(path: Path, expected: RemoteFile) -> bool:
    """Does a file left by an earlier pull attempt match the size and sha256 the hub states?"""
    if expected.size is not None and path.stat().st_size != expected.size:
        return False
    return expected.sha256 is not None and sha256_file(path) == expected.sha256


def onnx_folder_manifest(folder: Path, variant: str = "") -> Manifest:
    """A manifest for a published ONNX SmolVLM folder (no vitrine-model.json): its graphs and side files."""
    from engine.models.manifest import file_entry
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


def _quant_from_name(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]
    for q in ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "F16", "F32", "BF16"):
        if stem.upper().endswith(q):
            return q
    return ""
