"""The models a user can pull (`vitrine models pull NAME`): where each one's files are, and what it is."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
    peak_mb: int = 0                # peak resident memory answering (`vitrine bench` at its real dimensions)
    low_memory: str = ""            # the profile pulled instead where less than peak_mb + LOW_MEMORY_HEADROOM is free


LOW_MEMORY_HEADROOM = 512     # MB left to the app and the system beside a model's peak


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
    # Peaks at 2100 MB answering with the f16 projector, 1737 MB with the Q8_0 one (`vitrine bench --family
    # minicpm-v-4.6`, random weights at its real dimensions): where that is more than is free, pull the Q8_0 one.
    Profile("minicpm-v-4.6", "openbmb/MiniCPM-V-4.6-gguf",
            {"model": "MiniCPM-V-4_6-Q4_K_M.gguf", "mmproj": "mmproj-model-f16.gguf"},
            "minicpmv4_6", "mtmd", ("en", "pt", "multi"), "multilingual (answers in Portuguese itself), 1.3B",
            verified=False, peak_mb=2100, low_memory="minicpm-v-4.6-q8"),
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


def profile_for(name: str, free_mb: float | None) -> Profile:
    """The profile a pull of ``name`` takes with ``free_mb`` of memory free: its low-memory variant where the
    model's peak (and some headroom) is more than that, else itself."""
    prof = PROFILES[name]
    if prof.low_memory and prof.peak_mb and free_mb is not None and free_mb < prof.peak_mb + LOW_MEMORY_HEADROOM:
        return PROFILES[prof.low_memory]
    return prof


def by_hand(prof: Profile) -> str:
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


def quant_from_name(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]
    for q in ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "F16", "F32", "BF16"):
        if stem.upper().endswith(q):
            return q
    return ""
