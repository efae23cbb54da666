"""HF checkpoint folder -> text GGUF + mmproj GGUF -> quantized text GGUF, with a manifest the store imports.

llama.cpp's converter (convert_hf_to_gguf.py + its conversion/ package + gguf-py) ships only in
llama-cpp-python's *source* package, not in the installed wheel. We use the tree matching the installed
version: $VITRINE_LLAMA_CPP_SRC, else a cached extract, else the source package kept by .ci/install,
else one fetched with pip from PyPI (the only network this needs, once).
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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import platformdirs

from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder, check_output, mark_output
from engine.models.manifest import Manifest, file_entry
from engine.models.store import describe_gguf_pair
from engine.paths import PROJECT_ROOT
from engine.runtime.native import import_llama_cpp
from engine.settings import llama_cpp_src, wheel_cache_dir
from export.families import for_checkpoint

log = logging.getLogger(__name__)

QUANTS = ("F16", "Q8_0", "Q4_K_M", "Q4_0")
LEGACY = "tools/mtmd/legacy-models/"       # the projector route for LLaVA-layout models (CLIP towers)
NEEDED = ("convert_hf_to_gguf.py", LEGACY + "llava_surgery_v2.py", LEGACY + "convert_image_encoder_to_gguf.py")
StepFn = Callable[[str], None]


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise VitrineError("llama-cpp-python is not installed: run `bash .ci/install`") from None


def _wheel_cache() -> Path:
    return wheel_cache_dir()


def llama_cpp_source(version: str | None = None) -> Path:
    """A folder with convert_hf_to_gguf.py, conversion/ and gguf-py/ for the installed llama-cpp-python."""
    version = version or llama_cpp_version()
    env = llama_cpp_src()
    if env:
        if not (env / "convert_hf_to_gguf.py").is_file():
            raise VitrineError(f"VITRINE_LLAMA_CPP_SRC={env} has no convert_hf_to_gguf.py: point it at a "
                               f"llama.cpp source tree matching llama-cpp-python {version}")
        return env
    cache = Path(platformdirs.user_cache_dir("vitrine")) / f"llama.cpp-{version}"
    if all((cache / f).is_file() for f in NEEDED):
        return cache
    sdist = _wheel_cache() / "src" / f"llama_cpp_python-{version}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        if not sdist.is_file():
            log.info("fetching llama-cpp-python %s source package for llama.cpp's converter", version)
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                "-d", tmp, f"llama-cpp-python=={version}"], capture_output=True, text=True)
            found = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
            if r.returncode != 0 or not found:
                raise VitrineError(
                    f"llama.cpp's converter for llama-cpp-python {version} is not available and PyPI cannot be "
                    "reached: set VITRINE_LLAMA_CPP_SRC to a llama.cpp source tree of that version")
            sdist = found[0]
        _extract_converter(sdist, cache)
    return cache


def _extract_converter(sdist: Path, dest: Path) -> None:
    keep = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", LEGACY)
    with atomic_folder(dest, OutputKind.CONVERTER, flag="cache folder") as staging:
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/vendor/llama.cpp/", 1)
                if len(parts) == 2 and parts[1].startswith(keep) and (member.isfile() or member.isdir()):
                    member.name = parts[1]
                    tar.extract(member, staging, filter="data")
        if not (staging / "convert_hf_to_gguf.py").is_file():
            raise VitrineError(f"{sdist.name} has no vendor/llama.cpp/convert_hf_to_gguf.py: it is not a "
                               "llama-cpp-python source package")


@dataclass
class LlamaCppTools:
    """llama.cpp's Python conversion tools for one export: output goes to one log, kept if a step fails."""
    src: Path                 # the llama.cpp tree (llama_cpp_source)
    tokenizer_pre: str        # the family's pre-tokenizer, for in-code tokenizers llama.cpp does not know
    log_file: Path
    keep_log: Path

    def convert_hf(self, checkpoint: Path, args: list[str]) -> None:
        """convert_hf_to_gguf.py CHECKPOINT ARGS"""
        self.run("convert_hf_to_gguf.py", [str(checkpoint), *args], checkpoint.name)

    def set_keys(self, gguf_file: Path, keys: dict[str, str | int]) -> None:
        """Rewrite ``gguf_file`` with ``keys`` set (strings, or integers written as uint32), the rest as it was."""
        tmp = gguf_file.with_name(gguf_file.name + ".keys")
        self.run(str(Path(__file__).with_name("gguf_keys.py")), [str(gguf_file), str(tmp), json.dumps(keys)],
                 gguf_file.name)
        os.replace(tmp, gguf_file)

    def run(self, script: str, args: list[str], what: str) -> None:
        cmd = [sys.executable, "-m", "export.convert.runner", str(self.src), self.tokenizer_pre, script, *args]
        env = dict(os.environ, NO_LOCAL_GGUF="")
        root = str(PROJECT_ROOT)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log_file, "a") as lf:
            lf.write(f"\n$ {script} {' '.join(args)}\n")
            lf.flush()
            r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, env=env)
        if r.returncode != 0:
            shutil.copy(self.log_file, self.keep_log)     # the staging folder goes away; the log stays
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise VitrineError(f"llama.cpp's {Path(script).name} failed on {what}: {tail[0][:200]} "
                               f"(full log: {self.keep_log})")


def quantize(src: Path, dest: Path, quant: str, threads: int | None = None) -> None:
    """Quantize a text-model GGUF with libllama's quantizer (the projector cannot be quantized this way)."""
    llama_cpp, _ = import_llama_cpp()

    quant = quant.upper()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant}", None)
    if ftype is None:
        raise VitrineError(f"unknown quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or os.cpu_count() or 2
    tmp = dest.with_name(dest.name + ".tmp")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise VitrineError(f"quantizing {src.name} to {quant} failed (code {rc})")
    os.replace(tmp, dest)


@dataclass
class GgufExport:
    folder: Path
    manifest: Manifest
    seconds: float


def export_gguf(checkpoint: Path | str, out: Path | str, quant: str = "Q8_0", mmproj_type: str = "f16",
                name: str | None = None, on_step: StepFn | None = None) -> GgufExport:
    """Convert ``checkpoint`` into ``out`` (text-<quant>.gguf, mmproj-<type>.gguf, vitrine-model.json)."""
    t0 = time.perf_counter()
    checkpoint, out = Path(checkpoint).resolve(), Path(out)
    check_output(out, OutputKind.EXPORT, inputs=(checkpoint,))      # before the converter is located or fetched
    quant = quant.upper()
    if quant not in QUANTS:
        raise VitrineError(f"unknown quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    if mmproj_type not in ("f16", "f32", "q8_0"):
        raise VitrineError(f"unknown projector type {mmproj_type!r}: choose f16, f32 or q8_0")
    family = for_checkpoint(checkpoint)
    step = on_step or (lambda s: None)
    step("locating llama.cpp's converter")
    src = llama_cpp_source()
    keep_log = out.with_name(f"{out.name}-export-error.log")
    with atomic_folder(out, OutputKind.EXPORT, inputs=(checkpoint,)) as staging:
        log_file = staging / "convert.log"
        f16 = staging / "text-F16.gguf"
        mmproj = staging / f"mmproj-{mmproj_type}.gguf"
        step("converting the text model and the vision projector")
        tools = LlamaCppTools(src, family.tokenizer_pre, log_file, keep_log)
        with tempfile.TemporaryDirectory(dir=staging) as work:
            family.convert_gguf(tools, checkpoint, f16, mmproj, mmproj_type, Path(work))
        # what llama.cpp's own tools need to see the model as Vitrine runs it (its chat template, its view)
        text_keys, mmproj_keys = family.gguf_metadata(checkpoint)
        if text_keys:
            tools.set_keys(f16, text_keys)
        if mmproj_keys:
            tools.set_keys(mmproj, mmproj_keys)
        text = f16
        if quant != "F16":
            step(f"quantizing to {quant}")
            text = staging / f"text-{quant}.gguf"
            quantize(f16, text, quant)
            f16.unlink()
        step("hashing")
        describe_gguf_pair(text, mmproj)      # verify what we built with the engine's own checks
        manifest = Manifest(name=name or checkpoint.name, runtime="gguf", family=family.name,
                            files={"model": file_entry(staging, text.name), "mmproj": file_entry(staging, mmproj.name)},
                            chat_handler=family.chat_handler, languages=list(family.languages), quant=quant,
                            source=str(checkpoint),
                            extra={"mmproj_type": mmproj_type, "llama_cpp_python": llama_cpp_version()})
        manifest.save(staging)
        log_file.rename(staging / "export.log")
    return GgufExport(out, manifest, time.perf_counter() - t0)


def convert_for_store(checkpoint: Path, out: Path, quant: str, name: str, step: StepFn) -> None:
    """The model store's converter (entry point "vitrine.converters": gguf) for profiles that publish no GGUF."""
    export_gguf(checkpoint, out, quant=quant, name=name, on_step=step)
    mark_output(out, OutputKind.MODEL)      # the store installs this folder as it is: one of its models
