"""The runtimes and chat handlers a model names: enums inside the program, their values as text on disk.

A manifest (engine/models/manifest.py) writes them as plain strings and turns them into these at load; both are
``StrEnum``s, so a member still equals its text and is written as it (JSON included)."""
from __future__ import annotations

from enum import StrEnum


class Runtime(StrEnum):
    """What runs a model."""
    GGUF = "gguf"             # llama.cpp (llama-cpp-python): text model + libmtmd vision projector
    ONNX = "onnx"             # onnxruntime: SmolVLM's three graphs
    HYBRID = "hybrid"         # llama.cpp text + an ONNX (or OpenVINO) vision encoder
    EMBEDDER = "embedder"     # the catalog's image(+text) embedder: answers no question
    TORCH = "torch"           # transformers on a checkpoint: the reference (benchmarks, parity), never installed


class ChatHandler(StrEnum):
    """How a GGUF model's prompt is written."""
    MTMD = "mtmd"             # the GGUF's own chat template
    MINICPMV = "minicpmv"     # llama-cpp-python's MiniCPM-V 2.6 format
    NONE = ""                 # an ONNX folder: its own chat_template.jinja


def known(kind: type[StrEnum]) -> str:
    """The values a user may write, for an error message."""
    return ", ".join(repr(m.value) for m in kind if m.value)
