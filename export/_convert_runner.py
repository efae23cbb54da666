"""Runs llama.cpp's convert_hf_to_gguf.py from a llama.cpp source tree (in a subprocess).

usage: python -m export._convert_runner LLAMA_CPP_DIR TOKENIZER_PRE <convert_hf_to_gguf.py args...>

A tokenizer trained in code (our synthetic test models) has a BPE pre-tokenizer hash that llama.cpp's table
does not know; the converter would refuse it. We map an unknown hash to TOKENIZER_PRE (the family's real
pre-tokenizer, e.g. "smollm") with a warning. Real checkpoints ship known tokenizers and are unaffected.
"""
import logging
import os
import runpy
import sys


def main() -> None:
    llama_dir = os.path.abspath(sys.argv[1])
    fallback_pre = sys.argv[2]
    sys.path.insert(0, llama_dir)
    sys.path.insert(1, os.path.join(llama_dir, "gguf-py"))   # PyPI's gguf is too old for this converter
    import conversion.base as base

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            logging.getLogger("vitrine").warning("unknown BPE pre-tokenizer hash: using %r", fallback_pre)
            return fallback_pre

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    script = os.path.join(llama_dir, "convert_hf_to_gguf.py")
    sys.argv = [script, *sys.argv[3:]]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
