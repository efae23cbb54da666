"""transformers reference (fp32, PyTorch): the yardstick for speed and for agreement of exported models.

It behaves like plain ``model.generate``: every question runs the vision tower again. ``encode`` only
preprocesses the frame. Used by `vitrine bench` and by parity checks; the app uses GGUF or ONNX.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine import families
from engine.runtime.backends.base import DecodingBackend, EncodedImage, Prefilled


class TorchBackend(DecodingBackend):
    def __init__(self, checkpoint: Path | str, *, threads: int | None = None, model_id: str = ""):
        import torch
        from transformers import AutoModelForImageTextToText

        checkpoint = Path(checkpoint)
        if not (checkpoint / "config.json").is_file():
            raise VitrineError(f"{checkpoint} is not a Hugging Face checkpoint folder (no config.json)")
        model_type = json.loads((checkpoint / "config.json").read_text()).get("model_type", "")
        family = families.for_model_type(model_type)
        if family is None or family.reference is None:
            raise VitrineError(f"{checkpoint.name}: no transformers reference for {model_type or 'unknown'!r} "
                               f"checkpoints (it runs: {', '.join(families.families())})")
        self._torch = torch
        self.reference = family.reference
        torch.set_num_threads(threads or os.cpu_count() or 2)
        self.model_id = model_id or checkpoint.name
        self.model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).eval()
        self.processor = self.reference.load_processor(checkpoint)
        self.tile = self.reference.tile_size(self.model.config)
        tok = self.processor.tokenizer
        eos = self.reference.eos_token
        self._eos = tok.convert_tokens_to_ids(eos) if eos else tok.eos_token_id

    def inputs(self, image: EncodedImage, question: str) -> dict:
        return self.reference.inputs(self.processor, image.state, question)

    def encode(self, frame: Frame) -> EncodedImage:
        return EncodedImage(key=frame.key, n_tokens=0, encode_s=0.0, state=frame.square_tile(self.tile))

    def image_embedding(self, image: EncodedImage) -> np.ndarray:
        torch = self._torch
        inp = self.inputs(image, "x")
        with torch.inference_mode():
            out = self.model.model.get_image_features(**{k: inp[k] for k in self.reference.feature_keys if k in inp})
        feats = out.pooler_output                     # transformers 5: the projected features, per image or whole
        feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
        return feats.reshape(-1, feats.shape[-1]).float().numpy()

    def teacher_forced_logits(self, image: EncodedImage, question: str, answer_ids: list[int]) -> np.ndarray:
        return self.logits(image, question, answer_ids)

    def logits(self, image: EncodedImage, question: str, answer_ids: list[int] | None = None) -> np.ndarray:
        """Next-token logits after the prompt and after each of ``answer_ids`` (rows: len + 1).

        The answer goes in through the KV cache, not the prompt: a random model may emit the <image> token,
        which inside the prompt would be taken for an image slot."""
        torch = self._torch
        inp = self.inputs(image, question)
        with torch.inference_mode():
            out = self.model(**inp, use_cache=True)
            rows = [out.logits[0, -1:]]
            if answer_ids:
                mask = torch.cat([inp["attention_mask"], torch.ones((1, len(answer_ids)), dtype=torch.long)], 1)
                more = self.model(input_ids=torch.tensor([answer_ids]), attention_mask=mask,
                                  past_key_values=out.past_key_values, use_cache=True)
                rows.append(more.logits[0])
        return torch.cat(rows).float().numpy()

    # ------------------------------------------------------------------ decoding (engine/runtime/decoding.py)
    def prefill(self, image: EncodedImage, question: str, history: tuple, answer_room: int) -> Prefilled:
        """Single-turn: a reference answers each question on its own (``history`` is not used)."""
        torch = self._torch
        inp = self.inputs(image, question)
        with torch.inference_mode():
            out = self.model(**inp, use_cache=True)
        kv = {"past": out.past_key_values, "mask": inp["attention_mask"]}

        def step(tok: int) -> np.ndarray:
            kv["mask"] = torch.cat([kv["mask"], torch.ones((1, 1), dtype=kv["mask"].dtype)], 1)
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([[tok]]), attention_mask=kv["mask"],
                                 past_key_values=kv["past"], use_cache=True)
            kv["past"] = out.past_key_values
            return out.logits[0, -1].float().numpy()
        return Prefilled(logits=out.logits[0, -1].float().numpy(), step=step)

    @property
    def end_tokens(self) -> tuple[int, ...]:
        return (self._eos,)

    def is_end(self, token: int) -> bool:
        return token == self._eos

    def detokenize(self, ids) -> str:
        return self.processor.tokenizer.decode(list(ids), skip_special_tokens=True)
