"""Model families on the export side: one module per family (adding a family = adding a module).

Each module defines ``FAMILY``, an ``ExportFamily``: which checkpoints it takes (config.json ``model_type``), how
llama.cpp converts them to GGUF, and how to build a tiny random-weight checkpoint of the real architecture in
code (tests and benchmarks never download weights). What differs at run time lives in ``engine.families``.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
from functools import cache
from pathlib import Path

from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder


class ExportFamily:
    name: str = ""                    # engine.families name, written to the manifest
    model_types: tuple[str, ...] = ()  # config.json model_type values it exports
    tokenizer_pre: str = ""           # llama.cpp pre-tokenizer for an in-code tokenizer whose hash it does not know
    text_args: tuple[str, ...] = ()   # extra converter arguments for the text model
    sizes: tuple[str, ...] = ("tiny",)
    languages: tuple[str, ...] = ("en",)
    chat_handler: str = "mtmd"
    onnx: bool = False                # export.convert.onnx can export it
    # fine-tuning (export.training.finetune): where the parts sit in the transformers model
    language_module: str = "model.language_model"   # LoRA goes on its layers' linear projections
    vision_module: str = "model.vision_tower"       # frozen unless --vision
    projector_module: str = "model.multi_modal_projector"   # trainable with --projector
    packed_pixels: bool = False       # a batch's pixel_values are one row of patches end to end (not stacked)

    def build(self, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        """Write a random-weight checkpoint (model, tokenizer, processor) of this family to ``out``."""
        raise NotImplementedError

    def onnx_vision(self, model):
        """A torch module: one full tile's pixel_values [n, 3, S, S] -> image_features [n, tokens, hidden], in
        exportable operations (export.convert.onnx traces it)."""
        raise NotImplementedError

    def onnx_text_model(self, model):
        """(the language model that takes inputs_embeds, its lm_head)."""
        raise NotImplementedError

    def convert_gguf(self, tools, checkpoint: Path, text_out: Path, mmproj_out: Path, mmproj_type: str,
                     work: Path) -> None:
        """Text model to ``text_out`` (f16) and vision projector to ``mmproj_out`` with llama.cpp's tools
        (``export.convert.gguf.LlamaCppTools``); its converter does both for most families. ``work``: a scratch folder."""
        tools.convert_hf(checkpoint, ["--outfile", str(text_out), "--outtype", "f16", *self.text_args])
        tools.convert_hf(checkpoint, ["--mmproj", "--outfile", str(mmproj_out), "--outtype", mmproj_type])

    def gguf_metadata(self, checkpoint: Path) -> tuple[dict[str, str | int], dict[str, str | int]]:
        """Keys to set in (the text GGUF, the projector GGUF) over what llama.cpp's converter wrote, so that
        llama.cpp's own tools (llama-mtmd-cli, llama-server) feed the model as Vitrine does: a chat template that
        renders Vitrine's prompt, the image as the model was trained to see it. Strings, or integers (uint32)."""
        return {}, {}


@cache
def families() -> dict[str, ExportFamily]:
    out = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        fam = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FAMILY", None)
        if isinstance(fam, ExportFamily):
            out[fam.name] = fam
    return out


def for_checkpoint(checkpoint: Path) -> ExportFamily:
    cfg = checkpoint / "config.json"
    if not cfg.is_file():
        raise VitrineError(f"{checkpoint} is not a Hugging Face checkpoint folder (no config.json)")
    try:
        model_type = json.loads(cfg.read_text()).get("model_type", "")
    except (ValueError, AttributeError):
        raise VitrineError(f"{cfg} is damaged (not a JSON object): copy the checkpoint again") from None
    for fam in families().values():
        if model_type in fam.model_types:
            if not any(checkpoint.glob("*.safetensors")) and not (checkpoint / "pytorch_model.bin").is_file():
                raise VitrineError(f"{checkpoint.name} has a config.json but no weights (model.safetensors): copy "
                                   "the whole checkpoint folder")
            return fam
    known = ", ".join(t for f in families().values() for t in f.model_types)
    raise VitrineError(f"{checkpoint.name}: export supports {known} checkpoints, not {model_type or 'unknown'!r}")


def build_checkpoint(family: str, out: Path | str, size: str = "tiny", seed: int = 0) -> Path:
    """A random-weight checkpoint of ``family`` at ``size``, written whole or not at all."""
    fams = families()
    if family not in fams:
        raise VitrineError(f"unknown family {family!r}: choose one of {', '.join(fams)}")
    fam = fams[family]
    if size not in fam.sizes:
        raise VitrineError(f"{family} has no size {size!r}: choose one of {', '.join(fam.sizes)}")
    out = Path(out)
    with atomic_folder(out, OutputKind.CHECKPOINT) as tmp:
        fam.build(tmp, size, seed)
        (tmp / "vitrine-synthetic.json").write_text(json.dumps({"family": family, "size": size, "seed": seed}))
    return out
