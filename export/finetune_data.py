"""Training examples for fine-tuning: a question-set row becomes the exact prompt the runtimes send, followed by
the answer and the stop token, with the loss on the answer tokens only.

The prompt comes from the family's transformers reference (``engine.families``: one view, the layout the GGUF and
ONNX runtimes are checked against), so the model learns the prompt it will be asked with. An English-only model
is asked Portuguese questions through the app's translator: those are trained too, translated the same way and
answered with the English row's answers.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from engine.errors import VitrineError
from engine.qa_set import QARow, QASet, read_set

log = logging.getLogger(__name__)

IGNORE = -100       # the label of a token that is not learned (prompt, image, padding)


@dataclass(frozen=True)
class Example:
    row: QARow
    qa: QASet                 # where the row's image is
    question: str             # as the model is asked (translated for an English-only model)
    answer: str


def read_split(data: Path, split: str, required: bool = True) -> QASet | None:
    """``data``/``split``.jsonl of a question set folder (vitrine dataset build|synth)."""
    path = data / f"{split}.jsonl"
    if not path.is_file():
        if required:
            raise VitrineError(f"{data} has no {split}.jsonl: give a question set folder from `vitrine dataset "
                               "build` or `vitrine dataset synth`")
        return None
    return read_set(str(path))


def examples(qa: QASet, langs: tuple[str, ...], attributes: tuple[str, ...] = (), translator=None) -> list[Example]:
    """The rows to learn: in ``langs`` as they are; Portuguese rows translated to English (with their English
    twin's answers) when ``translator`` is given. ``attributes``: only these (empty: all)."""
    rows = [r for r in qa.rows if not attributes or r.attribute in attributes]
    english = {r.id[:-3]: r for r in rows if r.lang == "en" and r.id.endswith(".en")}
    out, cache = [], {}
    for r in rows:
        if r.lang in langs:
            out.append(Example(r, qa, r.question, r.answers[0]))
        elif translator is not None and r.lang == "pt" and r.id.endswith(".pt") and r.id[:-3] in english:
            if r.question not in cache:
                cache[r.question] = translator.translate(r.question, "pt", "en")
            out.append(Example(r, qa, cache[r.question], english[r.id[:-3]].answers[0]))
    if translator is not None and cache:
        log.info("%d Portuguese questions trained as the translator renders them", len(cache))
    return out


class Encoder:
    """Turns examples into model inputs for one checkpoint (its processor, its family's prompt layout)."""

    def __init__(self, family_reference, processor, tile: int, packed_pixels: bool = False):
        self.reference = family_reference
        self.packed_pixels = packed_pixels       # MiniCPM-V: images' patches end to end along the last axis
        self.processor = processor
        self.tile = tile
        tok = processor.tokenizer
        eos = family_reference.eos_token
        self.eos_id = tok.convert_tokens_to_ids(eos) if eos else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_id

    def _tile(self, ex: Example):
        from engine.frames import Frame
        return Frame(rgb=ex.qa.load_rgb(ex.row)).square_tile(self.tile)

    def encode(self, ex: Example) -> dict:
        """One example: the prompt's inputs (batch of one), with ``labels`` on the answer and the stop token."""
        import torch
        enc = dict(self.reference.inputs(self.processor, self._tile(ex), ex.question))
        prompt = enc["input_ids"][0].tolist()
        tok = self.processor.tokenizer
        # the answer continues the prompt as generation would: after "Assistant:" with a space, after a newline not
        lead = "" if tok.decode(prompt[-1:]).endswith(("\n", " ")) else " "
        answer = tok.encode(lead + ex.answer.strip(), add_special_tokens=False) + [self.eos_id]
        enc["input_ids"] = torch.tensor([prompt + answer])
        enc["attention_mask"] = torch.ones_like(enc["input_ids"])
        enc["labels"] = torch.tensor([[IGNORE] * len(prompt) + answer])
        return enc

    def collate(self, encoded: list[dict]) -> dict:
        """Right-padded text (padding ignored by the loss), image tensors stacked."""
        import torch
        longest = max(e["input_ids"].shape[1] for e in encoded)

        def pad(key, value):
            return torch.cat([torch.nn.functional.pad(e[key], (0, longest - e[key].shape[1]), value=value)
                              for e in encoded])
        batch = {"input_ids": pad("input_ids", self.pad_id), "attention_mask": pad("attention_mask", 0),
                 "labels": pad("labels", IGNORE)}
        for key in encoded[0]:
            if key not in batch and hasattr(encoded[0][key], "shape"):
                dim = -1 if key == "pixel_values" and self.packed_pixels else 0
                batch[key] = torch.cat([e[key] for e in encoded], dim=dim)
        return batch


def batches(items: list[Example], batch_size: int, seed: int, mix: list[Example] = (),
            mix_ratio: float = 0.0) -> list[list[Example]]:
    """One epoch's batches, shuffled with ``seed``. Not grouped by length: questions of one length are mostly
    one kind of question, and batches of one kind made a tiny model collapse to answering the commonest answer.
    Each batch carries ``mix_ratio`` of its places drawn from ``mix`` (general questions, against forgetting)."""
    r = random.Random(seed)
    order = items[:]
    r.shuffle(order)
    n_mix = round(batch_size * mix_ratio) if mix else 0
    own = max(1, batch_size - n_mix)
    out = [order[i:i + own] for i in range(0, len(order), own)]
    if n_mix:
        out = [b + r.sample(mix, min(n_mix, len(mix))) for b in out]
    return out
