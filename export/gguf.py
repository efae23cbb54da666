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
from engine.files import atomic_folder
from engine.manifest import Manifest, file_entry

log = logging.getLogger(__name__)

QUANTS = ("F16", "Q8_0", "Q4_K_M", "Q4_0")
# family (from config.json model_type) -> pre-tokenizer used if the tokenizer's hash is unknown
_FAMILIES = {"idefics3": ("idefics3", "smollm", "mtmd", ["en"])}
StepFn = Callable[[str], None]


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        raise VitrineError("llama-cpp-python is not installed: run `bash .ci/install`") from None


def _wheel_cache() -> Path:
    return Path(os.environ.get("VITRINE_WHEEL_CACHE") or Path(platformdirs.user_cache_dir("vitrine")) / "wheels")


def llama_cpp_source(version: str | None = None) -> Path:
    """A folder with convert_hf_to_gguf.py, conversion/ and gguf-py/ for the installed llama-cpp-python."""
    version = version or llama_cpp_version()
    env = os.environ.get("VITRINE_LLAMA_CPP_SRC")
    if env:
        if not (Path(env) / "convert_hf_to_gguf.py").is_file():
            raise VitrineError(f"VITRINE_LLAMA_CPP_SRC={env} has no convert_hf_to_gguf.py: point it at a "
                               f"llama.cpp source tree matching llama-cpp-python {version}")
        return Path(env)
    cache = Path(platformdirs.user_cache_dir("vitrine")) / f"llama.cpp-{version}"
    if (cache / "convert_hf_to_gguf.py").is_file():
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
    keep = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    with atomic_folder(dest) as staging:
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/vendor/llama.cpp/", 1)
                if len(parts) == 2 and parts[1].startswith(keep) and (member.isfile() or member.isdir()):
                    member.name = parts[1]
                    tar.extract(member, staging, filter="data")
        if not (staging / "convert_hf_to_gguf.py").is_file():
            raise VitrineError(f"{sdist.name} has no vendor/llama.cpp/convert_hf_to_gguf.py: it is not a "
                               "llama-cpp-python source package")


def _checkpoint_family(checkpoint: Path) -> tuple[str, str, str, list[str]]:
    cfg_path = checkpoint / "config.json"
    if not cfg_path.is_file():
        raise VitrineError(f"{checkpoint} is not a Hugging Face checkpoint folder (no config.json)")
    model_type = json.loads(cfg_path.read_text()).get("model_type", "")
    if model_type not in _FAMILIES:
        raise VitrineError(f"{checkpoint.name}: GGUF export supports {', '.join(_FAMILIES)} checkpoints, "
                           f"not {model_type or 'unknown'!r}")
    return _FAMILIES[model_type]


def _convert(src: Path, checkpoint: Path, tokenizer_pre: str, args: list[str], log_file: Path, keep: Path) -> None:
    cmd = [sys.executable, "-m", "export._convert_runner", str(src), tokenizer_pre, str(checkpoint), *args]
    env = dict(os.environ, NO_LOCAL_GGUF="")
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with open(log_file, "a") as lf:
        r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        shutil.copy(log_file, keep)       # the staging folder goes away; the log stays for the user
        tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise VitrineError(f"llama.cpp's converter failed on {checkpoint.name}: {tail[0][:200]} (full log: {keep})")


def quantize(src: Path, dest: Path, quant: str, threads: int | None = None) -> None:
    """Quantize a text-model GGUF with libllama's quantizer (the projector cannot be quantized this way)."""
    from engine.native import import_llama_cpp
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
    quant = quant.upper()
    if quant not in QUANTS:
        raise VitrineError(f"unknown quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    if mmproj_type not in ("f16", "f32", "q8_0"):
        raise VitrineError(f"unknown projector type {mmproj_type!r}: choose f16, f32 or q8_0")
    family, tokenizer_pre, handler, langs = _checkpoint_family(checkpoint)
    step = on_step or (lambda s: None)
    step("locating llama.cpp's converter")
    src = llama_cpp_source()
    keep_log = out.with_name(f"{out.name}-export-error.log")
    with atomic_folder(out) as staging:
        log_file = staging / "convert.log"
        f16 = staging / "text-F16.gguf"
        step("converting the text model")
        _convert(src, checkpoint, tokenizer_pre, ["--outfile", str(f16), "--outtype", "f16"], log_file, keep_log)
        mmproj = staging / f"mmproj-{mmproj_type}.gguf"
        step("converting the vision projector")
        _convert(src, checkpoint, tokenizer_pre, ["--mmproj", "--outfile", str(mmproj), "--outtype", mmproj_type],
                 log_file, keep_log)
        text = f16
        if quant != "F16":
            step(f"quantizing to {quant}")
            text = staging / f"text-{quant}.gguf"
            quantize(f16, text, quant)
            f16.unlink()
        step("hashing")
        from engine.models import describe_gguf_pair   # verify what we built with the engine's own checks
        describe_gguf_pair(text, mmproj)
        manifest = Manifest(name=name or checkpoint.name, runtime="gguf", family=family,
                            files={"model": file_entry(staging, text.name), "mmproj": file_entry(staging, mmproj.name)},
                            chat_handler=handler, languages=langs, quant=quant, source=str(checkpoint),
                            extra={"mmproj_type": mmproj_type, "llama_cpp_python": llama_cpp_version()})
        manifest.save(staging)
        log_file.rename(staging / "export.log")
    return GgufExport(out, manifest, time.perf_counter() - t0)
