"""A transformers checkpoint folder (config.json) opened by its family's reference: the chat VLMs step by step
(torch.py), the brief's VQA models (BLIP, Pix2Struct/MatCha) through ``generate`` (seq2seq.py)."""
from __future__ import annotations

import json
from pathlib import Path

from engine import families
from engine.errors import VitrineError
from engine.runtime.backends.base import Backend
from engine.runtime.backends.seq2seq import Seq2SeqBackend
from engine.runtime.backends.torch import TorchBackend


def checkpoint_model_type(checkpoint: Path) -> str:
    try:
        return json.loads((checkpoint / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, json.JSONDecodeError, AttributeError):
        raise VitrineError(f"{checkpoint}/config.json is not readable JSON: download the checkpoint again") from None


def open_checkpoint(checkpoint: Path | str, threads: int | None = None) -> Backend:
    checkpoint = Path(checkpoint)
    model_type = checkpoint_model_type(checkpoint)
    family = families.for_model_type(model_type)
    if family is None or family.reference is None:
        known = sorted(t for f in families.families().values() if f.reference for t in f.model_types)
        raise VitrineError(f"{checkpoint.name}: Vitrine has no reference for {model_type or 'unknown'!r} checkpoints "
                           f"(it runs: {', '.join(known)})")
    # torch and transformers load only when a reference runs (engine's runtime never needs them)
    if family.reference.runner == "generate":
        return Seq2SeqBackend(checkpoint, family.reference, threads=threads)
    return TorchBackend(checkpoint, threads=threads)
