"""`vitrine bundle`: one folder (and a .tar.gz) that a store's IT copies to any number of workstations and installs
with the network cut and no compiler.

Layout (bundle.json describes it; SHA256SUMS lists every file):
    wheelhouse/   every runtime wheel for this Python and platform: PyPI's, the llama-cpp-python wheel built once
                  with the portable flags (.ci/install), mediapipe (installed without its declared dependencies),
                  and Vitrine's own wheel (engine, desktop, assets)
    models/NAME/  each chosen model as the store holds it (files + vitrine-model.json with sha256 per file)
    home/         what the store's home starts with: the catalog embedder's ONNX file (the runtime has no torch to
                  export it), the store's catalog, glossary and prompts when given
    smoke/        a known image and the answer the first model gave to a known question when the bundle was made
    install.py    the installer (standard library only, so Windows and Linux run the same file), install.sh,
                  install.cmd
The studio builds bundles (it needs pip's network access to PyPI once and torch for the embedder's export); the
workstation needs only Python 3.11.
"""
from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.catalog.embedders.efficientnet_lite import image_embedder, onnx_file_name
from engine.errors import BadInput, NotFound, VitrineError
from engine.files import OutputKind, atomic_folder, atomic_path, check_output, sha256_file
from engine.paths import PROJECT_ROOT
from engine.settings import Settings, cache_dir, wheel_cache_dir

log = logging.getLogger(__name__)

ROOT = PROJECT_ROOT
INSTALLER = Path(__file__).resolve().parent / "bundle_installer.py"
SMOKE_IMAGE = ROOT / "assets" / "examples" / "look.jpg"
SMOKE_QUESTION = "What color is the shirt?"
SMOKE_TOKENS = 8
# installed with --no-deps: its declared numpy<2 / protobuf<5 / opencv-contrib would break the runtime (pyproject)
NO_DEPS = ("mediapipe==0.10.21",)
BUILT_HERE = ("llama-cpp-python",)     # no wheel on PyPI: .ci/install builds it once with the portable flags
Step = Callable[[str], None]


@dataclass
class BundleResult:
    folder: Path
    archive: Path | None
    wheels: int
    models: list[str]
    bytes: int
    seconds: float
    smoke: dict = field(default_factory=dict)


def runtime_requirements() -> list[str]:
    """What `pip install vitrine` installs (no extras): the project's own pyproject.toml, which the wheel in the
    bundle is built from (an installed copy's metadata may be older than the tree)."""
    import tomllib
    try:
        with open(ROOT / "pyproject.toml", "rb") as f:
            return list(tomllib.load(f)["project"]["dependencies"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        raise VitrineError(f"{ROOT / 'pyproject.toml'} is missing or damaged: a bundle is made from Vitrine's "
                           "source tree (a clone)") from None


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("=")[0].split("<")[0].split(">")[0].split("[")[0].strip().lower()


def llama_wheel() -> Path:
    """The llama-cpp-python wheel .ci/install built (portable flags), matching the installed version."""
    version = importlib.metadata.version("llama-cpp-python")
    cache = wheel_cache_dir()
    found = sorted(cache.glob(f"llama-*/llama_cpp_python-{version}-*.whl"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise NotFound(f"no llama-cpp-python {version} wheel in {cache}: run `bash .ci/install` once (it builds "
                       "the portable wheel a bundle carries)")
    return found[-1]


def _pip(args: list[str], what: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["?"])[-1]
        raise VitrineError(f"{what} failed: {last}: check the network to PyPI (needed once, when the bundle is "
                           "made), then run this again")


def fill_wheelhouse(dest: Path, step: Step) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    reqs = [r.split(";")[0].strip() for r in runtime_requirements() if _name(r) not in BUILT_HERE]
    step(f"downloading {len(reqs)} runtime packages and their dependencies (pip's cache is used)")
    # the local llama-cpp-python wheel goes in the same resolve, so its own dependencies come too
    _pip(["download", "-q", "--only-binary=:all:", "--dest", str(dest), *reqs, str(llama_wheel())],
         "downloading the runtime wheels")
    _pip(["download", "-q", "--only-binary=:all:", "--no-deps", "--dest", str(dest), *NO_DEPS],
         "downloading mediapipe")
    step("building Vitrine's own wheel")
    _pip(["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest), str(ROOT)], "building Vitrine's wheel")
    return len(list(dest.glob("*.whl")))


def _copy_model(store, name: str, dest: Path) -> None:
    folder = store.root / name
    if not (folder / "vitrine-model.json").is_file():
        installed = ", ".join(sorted(p.name for p in store.root.iterdir() if (p / "vitrine-model.json").is_file())) \
            if store.root.is_dir() else ""
        raise NotFound(f"no installed model named {name!r} (installed: {installed or 'none'}): "
                       "see `vitrine models list`")
    shutil.copytree(folder, dest / name, ignore=shutil.ignore_patterns(".*"))


def _smoke_answer(model_folder: Path, step: Step) -> dict:
    """The first model's answer to a known question about a known image, asked the way install.py will."""
    step("asking the smoke-test question")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "engine.cli", "ask", str(SMOKE_IMAGE), SMOKE_QUESTION, "--model",
                        str(model_folder), "--lang", "en", "--answer-lang", "en", "--max-tokens", str(SMOKE_TOKENS),
                        "--json"], capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise VitrineError(f"the model in {model_folder.name} did not answer the smoke test: "
                           f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return {"image": SMOKE_IMAGE.name, "question": SMOKE_QUESTION, "max_tokens": SMOKE_TOKENS,
            "answer": _answer_text(r.stdout)}


def _answer_text(stdout: str) -> str:
    data = json.loads(stdout)
    return (data[0] if isinstance(data, list) else data)["text"]


def _embedder_file(settings: Settings, dest: Path, step: Step) -> str:
    step("exporting the catalog's image embedder to ONNX (once)")
    image_embedder(settings, threads=1)           # writes the cached ONNX file when it is not there yet
    name = onnx_file_name()
    for candidate in (settings.home / "embedders" / name, cache_dir() / "embedders" / name):
        if candidate.is_file():
            (dest / "embedders").mkdir(parents=True, exist_ok=True)
            shutil.copy2(candidate, dest / "embedders" / name)
            return name
    raise VitrineError(f"the image embedder's ONNX file {name} was not written: run `vitrine catalog add` once "
                       "on this machine, then make the bundle again")


def write_checksums(folder: Path) -> int:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{sha256_file(path)}  {path.relative_to(folder).as_posix()}")
    with atomic_path(folder / "SHA256SUMS") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def build_bundle(out: Path | str, models: list[str], store, settings: Settings, catalog: Path | None = None,
                 glossary: Path | None = None, prompts: Path | None = None, archive: bool = True,
                 on_step: Step | None = None, wheelhouse: Callable[[Path, Step], int] = fill_wheelhouse
                 ) -> BundleResult:
    """Write the bundle into ``out`` (through a staging folder: a failure leaves nothing half-made)."""
    t0 = time.perf_counter()
    step = on_step or (lambda s: None)
    out = Path(out).resolve()
    for given, what in ((catalog, "--catalog"), (glossary, "--glossary"), (prompts, "--prompts")):
        if given is not None and not Path(given).exists():
            raise BadInput(f"{what} {given} does not exist: check the path")
    if catalog is not None and not (Path(catalog) / "catalog.sqlite").is_file():
        raise BadInput(f"--catalog {catalog} is not a Vitrine catalog folder (no catalog.sqlite): give the folder "
                       "`vitrine catalog add` wrote ($VITRINE_HOME/catalog by default)")
    check_output(out, OutputKind.BUNDLE, inputs=tuple(p for p in (catalog, glossary, prompts) if p))
    if not models:
        raise BadInput("name at least one installed model with --model (see `vitrine models list`): a "
                       "workstation without a model cannot answer")
    with atomic_folder(out, OutputKind.BUNDLE) as staging:
        n_wheels = wheelhouse(staging / "wheelhouse", step)
        step(f"copying {len(models)} model(s)")
        (staging / "models").mkdir()
        for name in models:
            _copy_model(store, name, staging / "models")
        home = staging / "home"
        home.mkdir()
        embedder = _embedder_file(settings, home, step)
        if catalog is not None:
            shutil.copytree(catalog, home / "catalog", ignore=shutil.ignore_patterns(".lock*", "*.staging", "*.old"))
        if glossary is not None:
            shutil.copy2(glossary, home / "glossary.tsv")
        if prompts is not None:
            shutil.copy2(prompts, home / "prompts.json")
        (staging / "smoke").mkdir()
        shutil.copy2(SMOKE_IMAGE, staging / "smoke" / SMOKE_IMAGE.name)
        smoke = _smoke_answer(staging / "models" / models[0], step) | {"model": models[0]}
        shutil.copy2(INSTALLER, staging / "install.py")
        (staging / "install.sh").write_text('#!/bin/sh\n# Offline install of this Vitrine bundle (see install.py '
                                            '--help).\nexec python3.11 "$(dirname "$0")/install.py" "$@"\n',
                                            encoding="utf-8")
        (staging / "install.sh").chmod(0o755)
        (staging / "install.cmd").write_text('@echo off\r\nrem Offline install of this Vitrine bundle (see install.py '
                                             '--help).\r\npy -3.11 "%~dp0install.py" %*\r\n', encoding="utf-8")
        meta = {"vitrine": importlib.metadata.version("vitrine"), "python": f"{sys.version_info[0]}."
                f"{sys.version_info[1]}", "platform": sys.platform, "models": models, "embedder": embedder,
                "catalog": catalog is not None, "glossary": glossary is not None, "prompts": prompts is not None,
                "smoke": smoke, "made": time.strftime("%Y-%m-%d %H:%M:%S")}
        (staging / "bundle.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        step("listing checksums")
        write_checksums(staging)
    tar = None
    if archive:
        step("writing the .tar.gz")
        tar = out.with_name(out.name + ".tar.gz")
        with atomic_path(tar) as tmp, tarfile.open(tmp, "w:gz") as t:
            t.add(out, arcname=out.name)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return BundleResult(out, tar, n_wheels, list(models), size, time.perf_counter() - t0, smoke)
