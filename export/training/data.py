"""Training examples for fine-tuning: a question-set row becomes the exact prompt the runtimes send, followed by
the answer and the stop token, with the loss on the answer tokens only.

The prompt comes from the family's transformers reference (``engine.families``: one view, the layout the GGUF and
ONNX runtimes are checked against), so the model learns the prompt it will be asked with. An English-only model
is asked Portuguese questions through the app's translator: those are trained too, translated the same way and
answered with the English row's answers.

The app asks follow-ups in a conversation about the frame (engine.runtime.session), so questions about one image are
learned as conversations too: the first turn is the runtime's prompt, each later question is appended as the
model's chat template writes a next turn, and every answer (with the stop token closing it) is learned. One pass
of the vision tower then teaches several answers.

Where a standard runtime cannot show the image as one view, the fine-tuning also learns the views it does show:
llama.cpp's own tools (llama-mtmd-cli, llama-server) always give an Idefics3 (SmolVLM) image a 1x1 grid's slice
before the overview, so every other example is learned in that layout too (``GridView``), and an export answers
the same there as in Vitrine.
"""
from __future__ import annotations

import logging
import random
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from engine.errors import VitrineError
from engine.evaluation.qa_set import QARow, QASet, read_set
from engine.media.frames import Frame
from engine.runtime.backends.chat_layout import layout_from_template

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


@dataclass(frozen=True)
class GridView:
    """libmtmd's Idefics3 layout of one tile: "<fake><row_1_col_1>[slice]\\n\\n<fake><global-img>[overview]<fake>",
    where the runtimes and transformers' unsplit processor write "<fake><global-img>[image]<fake>". The slice and the
    overview are the same tile (a 1x1 grid of an image resized to one tile)."""
    fake: int
    overview: int
    slice: int
    image: int
    separator: tuple[int, ...]

    @classmethod
    def for_tokenizer(cls, tok) -> "GridView | None":
        ids = [tok.convert_tokens_to_ids(t) for t in
               ("<fake_token_around_image>", "<global-img>", "<row_1_col_1>", "<image>")]
        if tok.unk_token_id in ids or None in ids:
            return None             # not an Idefics3 tokenizer
        return cls(*ids, separator=tuple(tok.encode("\n\n", add_special_tokens=False)))

    def apply(self, prompt: list[int], images: dict) -> tuple[list[int], dict] | None:
        """``prompt`` and its one image as the grid layout; None when the prompt is not one unsplit image."""
        import torch
        try:
            start = next(i for i in range(len(prompt) - 1) if prompt[i:i + 2] == [self.fake, self.overview])
        except StopIteration:
            return None
        n = 0
        while start + 2 + n < len(prompt) and prompt[start + 2 + n] == self.image:
            n += 1
        pixels = images.get("pixel_values")
        if not n or pixels is None or pixels.dim() != 5 or pixels.shape[1] != 1:
            return None
        block = [self.fake, self.slice] + [self.image] * n + list(self.separator) + [self.fake, self.overview]
        return prompt[:start] + block + prompt[start + 2:], {k: torch.cat([v, v], dim=1) for k, v in images.items()}


class Encoder:
    """Turns examples into model inputs for one checkpoint (its processor, its family's prompt layout)."""

    def __init__(self, family_reference, processor, tile: int, packed_pixels: bool = False,
                 cache_bytes: int = 1 << 30):
        self.reference = family_reference
        self.packed_pixels = packed_pixels       # MiniCPM-V: images' patches end to end along the last axis
        self.processor = processor
        self.tile = tile
        tok = processor.tokenizer
        # An image is asked several questions each epoch, and decoding + processing it was 40% of a training step
        # (the proof's model, 2 cores): its tensors are kept (least recently used first out, within
        # ``cache_bytes``), and so is each question's prompt (the tile is fixed, so its image tokens are too).
        self.cache_bytes = cache_bytes
        self._images: OrderedDict[tuple, dict] = OrderedDict()
        self._image_bytes = 0
        self._prompts: dict[tuple, list[int]] = {}
        template = getattr(processor, "chat_template", None) or getattr(tok, "chat_template", None)
        try:      # only the text between turns matters here: the image part may be any text
            self.layout = layout_from_template(template, {"type": "text", "text": "<image>"}, "<image>",
                                               "the base") if isinstance(template, str) else None
        except VitrineError:
            self.layout = None
        self.grid = GridView.for_tokenizer(tok)
        eos = family_reference.eos_token
        self.eos_id = tok.convert_tokens_to_ids(eos) if eos else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eos_id

    def frame_tile(self, ex: Example):
        return Frame(rgb=ex.qa.load_rgb(ex.row)).square_tile(self.tile)

    @property
    def conversations(self) -> bool:
        """Can this model's template hold several exchanges?"""
        return self.layout is not None and self.layout.multi_turn

    def _continuation(self, text: str) -> list[int]:
        """``text``'s tokens as they follow other tokens (a sentencepiece tokenizer would start them with a
        word-boundary piece when encoded alone): encoded behind the stop token, which is then cut."""
        tok = self.processor.tokenizer
        stop = tok.convert_ids_to_tokens(self.eos_id)
        ids = tok.encode(stop + text, add_special_tokens=False)
        return ids[1:] if ids and ids[0] == self.eos_id else tok.encode(text, add_special_tokens=False)

    def _answer(self, before: list[int], answer: str) -> list[int]:
        """The answer's tokens as generation continues ``before``: after "Assistant:" with a space, after a
        newline not."""
        tok = self.processor.tokenizer
        lead = "" if tok.decode(before[-1:]).endswith(("\n", " ")) else " "
        return tok.encode(lead + answer.strip(), add_special_tokens=False)

    def encode_conversation(self, exchanges: list[Example]) -> dict:
        """Questions about one image as one conversation (batch of one); ``labels`` on every answer and the stop
        token after it."""
        import torch
        enc = self.encode(exchanges[0])
        if len(exchanges) == 1:
            return enc
        ids, labels = enc["input_ids"][0].tolist(), enc["labels"][0].tolist()
        for ex in exchanges[1:]:
            # generation stops at the stop token without feeding it; the next turn's text then follows (and
            # usually opens with that token: learned there, it ends the answer)
            ids, labels = ids[:-1], labels[:-1]
            turn = self._continuation(self.layout.next_turn(ex.question))
            turn_labels = [IGNORE] * len(turn)
            if turn and turn[0] == self.eos_id:
                turn_labels[0] = self.eos_id
            answer = self._answer(ids + turn, ex.answer) + [self.eos_id]
            ids += turn + answer
            labels += turn_labels + answer
        enc["input_ids"] = torch.tensor([ids])
        enc["attention_mask"] = torch.ones_like(enc["input_ids"])
        enc["labels"] = torch.tensor([labels])
        return enc

    def encode(self, ex: Example) -> dict:
        """One example: the prompt's inputs (batch of one), with ``labels`` on the answer and the stop token."""
        import torch
        image_key = (id(ex.qa), ex.row.image or ex.row.id)
        images = self._images.get(image_key)
        prompt = self._prompts.get((ex.question, _shapes(images))) if images is not None else None
        if prompt is None:
            enc = dict(self.reference.inputs(self.processor, self.frame_tile(ex), ex.question))
            prompt = enc.pop("input_ids")[0].tolist()
            enc.pop("attention_mask", None)
            images = {k: v for k, v in enc.items() if hasattr(v, "shape")}
            self._prompts[(ex.question, _shapes(images))] = prompt
            self._remember(image_key, images)
        else:
            self._images.move_to_end(image_key)
        if self.grid is not None and zlib.crc32(f"{image_key[1]}|{ex.question}".encode()) % 2:
            # every other (image, question), the same in every epoch and in validation: the layout of llama.cpp's
            # own tools, so the model answers the same there
            prompt, images = self.grid.apply(prompt, images) or (prompt, images)
        enc = dict(images)
        answer = self._answer(prompt, ex.answer) + [self.eos_id]
        enc["input_ids"] = torch.tensor([prompt + answer])
        enc["attention_mask"] = torch.ones_like(enc["input_ids"])
        enc["labels"] = torch.tensor([[IGNORE] * len(prompt) + answer])
        return enc

    def _remember(self, key: tuple, images: dict) -> None:
        size = sum(v.element_size() * v.nelement() for v in images.values())
        if key in self._images or size > self.cache_bytes:
            return
        self._images[key] = images
        self._image_bytes += size
        while self._image_bytes > self.cache_bytes:
            _, dropped = self._images.popitem(last=False)
            self._image_bytes -= sum(v.element_size() * v.nelement() for v in dropped.values())

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
                parts = [e[key] for e in encoded]
                if key == "pixel_values" and self.packed_pixels:
                    batch[key] = torch.cat(parts, dim=-1)
                    continue
                most = max(p.shape[1] for p in parts) if parts[0].dim() > 1 else 0
                # examples with fewer images (one view beside a grid's two) get all-zero padding images, as
                # transformers' processor pads them: the model drops those
                parts = [torch.cat([p, p.new_zeros((p.shape[0], most - p.shape[1], *p.shape[2:]))], dim=1)
                         if p.dim() > 1 and p.shape[1] < most else p for p in parts]
                batch[key] = torch.cat(parts, dim=0)
        return batch


def _shapes(images: dict | None) -> tuple:
    return tuple((k, tuple(v.shape)) for k, v in sorted(images.items())) if images else ()


def _gives_away(earlier: Example, later: Example) -> bool:
    """Does ``earlier``'s question name ``later``'s answer ("What colour is the dress?" before "What is this?")?"""
    answer = later.answer.strip().lower()
    return bool(answer) and f" {answer} " in f" {earlier.question.lower().rstrip('?.!')} "


def conversations(items: list[Example], turns: int, seed: int) -> list[list[Example]]:
    """The questions about each image (in one language) in a random order, cut into conversations of 1 to
    ``turns`` exchanges (1: every question on its own). An answer is learned from the image, never from an earlier
    question that names it: such a question comes after the one it gives away."""
    if turns <= 1:
        return [[e] for e in items]
    groups: dict[tuple, list[Example]] = {}
    for e in items:
        groups.setdefault((id(e.qa), e.row.image or e.row.id, e.row.lang), []).append(e)
    r = random.Random(seed)
    out = []
    for group in groups.values():
        r.shuffle(group)
        ordered: list[Example] = []
        for e in group:     # insert before the first exchange whose question names this one's answer
            at = next((i for i, o in enumerate(ordered) if _gives_away(o, e)), len(ordered))
            ordered.insert(at, e)
        i = 0
        while i < len(ordered):
            n = r.randint(1, turns)
            out.append(ordered[i:i + n])
            i += n
    return out


def batches(items: list, batch_size: int, seed: int, mix: list = (), mix_ratio: float = 0.0) -> list[list]:
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
