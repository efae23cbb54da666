"""Model families on the runtime side: what differs per family, one module each (adding a family = adding a module).

A family module defines ``FAMILY = Family(...)``; the registry finds every module of this package. The GGUF
backend, the store (which family is this projector?) and the CLI ask the registry, never an if-chain.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache

from engine.kinds import ChatHandler


@dataclass(frozen=True)
class SingleView:
    """How to keep only the overview when libmtmd also emits slices (one tile on the CPU, ``--tiles 1``).

    ``overview``: where libmtmd puts the overview image among the image chunks ("first" or "last").
    ``drop_before``: text tokens to drop just before the kept overview when it comes last (the slice's opening).
    ``skip_between``: text tokens between the images to skip before the kept text resumes (a separator).
    ``keep_after``: with the overview first, text tokens kept right after it (its closing tag).
    ``drop_tail``: with the overview first, tokens dropped from the text after the last slice (its closing).
    """
    overview: str
    drop_before: int = 0
    skip_between: int = 0
    keep_after: int = 0
    drop_tail: int = 0


class Reference:
    """How the transformers reference (engine.runtime.backends.torch) feeds a family: one view, the same prompt layout
    the GGUF backend sends, so that parity measures the export. The default uses the processor's own chat
    template; a family whose processor lays the prompt out differently overrides ``inputs``."""

    # how engine.runtime.backends.reference runs it: "step" (chat VLMs, step-by-step greedy, backends/torch.py) or
    # "generate" (encoder-decoder VQA models through transformers' generate, backends/seq2seq.py); families
    # declare, backends construct
    runner: str = "step"
    feature_keys: tuple[str, ...] = ("pixel_values",)   # what get_image_features takes from the inputs
    eos_token: str = ""                                  # "" = the tokenizer's eos

    def tile_size(self, config) -> int:
        """The side of the one view the runtimes give the vision encoder."""
        return config.vision_config.image_size

    def load_processor(self, checkpoint):
        """The checkpoint's processor (tokenizer + image processor), set to one view."""
        from transformers import AutoProcessor
        return AutoProcessor.from_pretrained(checkpoint)

    def inputs(self, processor, tile, question: str) -> dict:
        from PIL import Image
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        prompt = processor.apply_chat_template(msgs, add_generation_prompt=True)
        return processor(text=prompt, images=[Image.fromarray(tile)], do_resize=False, return_tensors="pt")


@dataclass(frozen=True)
class Family:
    name: str                          # the manifest's "family"
    about: str
    projector_types: tuple[str, ...]   # clip.projector_type values of its mmproj GGUF
    languages: tuple[str, ...] = ("en",)  # "multi": answers in the question's language itself
    chat_handler: ChatHandler = ChatHandler.MTMD   # MTMD: the GGUF's own chat template; MINICPMV: llama-cpp-python's
    image_prefix: str = ""             # text the prompt writes before the image (libmtmd does not)
    single_view: SingleView | None = None
    tested: bool = True                # exercised end to end by the tests (models list says so otherwise)
    model_types: tuple[str, ...] = ()  # config.json model_type of its transformers checkpoints
    onnx_image_block: str = "{image}"  # the prompt text an image becomes in the ONNX layout ({image}: its tokens)
    reference: Reference | None = None  # how the transformers reference runs it (None: no reference)


@cache
def families() -> dict[str, Family]:
    out = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        fam = getattr(module, "FAMILY", None)
        if isinstance(fam, Family):
            out[fam.name] = fam
    return out


def get(name: str) -> Family | None:
    return families().get(name)


def for_model_type(model_type: str) -> Family | None:
    """The family of a transformers checkpoint (config.json ``model_type``)."""
    for fam in families().values():
        if model_type in fam.model_types:
            return fam
    return None


def for_projector(projector_type: str) -> Family | None:
    """The family whose vision projector GGUF says ``clip.projector_type = projector_type``."""
    for fam in families().values():
        if projector_type in fam.projector_types:
            return fam
    return None
