"""Runs one of llama.cpp's Python conversion tools from a llama.cpp source tree (in a subprocess).

usage: python -m export.convert.runner LLAMA_CPP_DIR TOKENIZER_PRE SCRIPT <script args...>

SCRIPT is a path inside LLAMA_CPP_DIR. Two patches make the tools work on what Vitrine feeds them:
- convert_hf_to_gguf.py: a tokenizer trained in code (our synthetic test models) has a BPE pre-tokenizer hash
  llama.cpp's table does not know; the converter would refuse it. An unknown hash maps to TOKENIZER_PRE (the
  family's real pre-tokenizer, e.g. "smollm") with a warning. Real checkpoints ship known tokenizers.
- the legacy convert_image_encoder_to_gguf.py (LLaVA's CLIP projector): transformers 5's CLIPVisionModel has no
  `.vision_model` submodule any more (its weights are 'embeddings.*', 'encoder.*'); the script pops a layer from
  model.vision_model.encoder and maps 'vision_model.*' names. A thin wrapper restores that shape.
"""
import logging
import os
import runpy
import sys


def _map_unknown_pre_tokenizer(fallback_pre: str) -> None:
    import conversion.base as base

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            logging.getLogger("vitrine").warning("unknown BPE pre-tokenizer hash: using %r", fallback_pre)
            return fallback_pre

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre


def _clip_vision_model_with_vision_model() -> None:
    import torch
    import transformers.models.clip as clip_package
    import transformers.models.clip.modeling_clip as clip_module

    real = clip_module.CLIPVisionModel

    class CLIPVisionModel(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.vision_model = inner      # state_dict keys become 'vision_model.*' as in transformers 4

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return cls(real.from_pretrained(*args, **kwargs))

    # transformers' lazy top-level module ignores attributes set on it: patch where the class is defined
    clip_module.CLIPVisionModel = CLIPVisionModel
    clip_package.CLIPVisionModel = CLIPVisionModel


def main() -> None:
    llama_dir = os.path.abspath(sys.argv[1])
    fallback_pre, script = sys.argv[2], os.path.join(llama_dir, sys.argv[3])
    sys.path.insert(0, llama_dir)
    sys.path.insert(1, os.path.join(llama_dir, "gguf-py"))   # PyPI's gguf is too old for these tools
    name = os.path.basename(script)
    if name == "convert_hf_to_gguf.py":
        _map_unknown_pre_tokenizer(fallback_pre)
    elif name == "convert_image_encoder_to_gguf.py":
        _clip_vision_model_with_vision_model()
    sys.argv = [script, *sys.argv[4:]]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
