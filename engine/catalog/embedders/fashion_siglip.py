"""Marqo-FashionSigLIP (ViT-B/16 SigLIP fine-tuned on fashion products), pulled into the model store as ONNX
image and text encoders: `vitrine models pull fashion-siglip`, then `vitrine catalog index --reindex --embedder
fashion-siglip`. It leads published fashion retrieval (text->image R@10 0.340 over six datasets, FashionCLIP 2.0
0.249), at about 150M parameters.

The encoders' contract (what a tiny random ONNX of the same signature is tested against): the vision graph takes
``pixel_values`` float32 (N, 3, 224, 224), SigLIP's normalisation (x/255 - 0.5) / 0.5, and returns the image
embedding first; the text graph takes ``input_ids`` int64 (N, 64), padded to 64 with the tokenizer's pad id, and
returns the text embedding first. Both are L2-normalised here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from engine.catalog.embed import EmbedderInfo, ImageEmbedder, ProgressFn, TextEmbedder, onnx_session, unit_rows
from engine.errors import VitrineError
from engine.models.store import ModelStore
from engine.settings import Settings

NAME = "fashion-siglip"
SIZE = 224
TEXT_LEN = 64
BATCH = 16


class FashionSiglip(ImageEmbedder, TextEmbedder):
    def __init__(self, folder: Path, files: dict[str, str], weights_id: str, threads: int, device: str):
        self.vision = onnx_session(folder / files["vision"], threads, device)
        self.text = onnx_session(folder / files["text"], threads, device) if "text" in files else None
        self.tokenizer = None
        if "tokenizer" in files:
            from tokenizers import Tokenizer
            try:
                self.tokenizer = Tokenizer.from_file(str(folder / files["tokenizer"]))
            except Exception as e:      # the tokenizers library raises plain Exceptions
                raise VitrineError(f"{NAME}'s tokenizer is damaged ({e}): pull the model again") from None
        shape = self.vision.get_outputs()[0].shape
        dim = shape[-1] if isinstance(shape[-1], int) else int(self.vision.run(
            None, {self.vision.get_inputs()[0].name: np.zeros((1, 3, SIZE, SIZE), np.float32)})[0].shape[-1])
        self.info = EmbedderInfo(NAME, f"{NAME}-{weights_id}", dim)

    @staticmethod
    def pixels(images: Sequence[np.ndarray]) -> np.ndarray:
        import cv2
        # SigLIP squashes to 224x224 (no crop, no letterbox), bicubic
        batch = np.stack([cv2.resize(np.ascontiguousarray(im), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
                          for im in images]).astype(np.float32)
        return ((batch / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        name = self.vision.get_inputs()[0].name
        out = [self.vision.run(None, {name: self.pixels(images[i:i + BATCH])})[0]
               for i in range(0, len(images), BATCH)]
        return unit_rows(np.concatenate(out)) if out else np.zeros((0, self.info.dim), np.float32)

    def ids(self, texts: Sequence[str]) -> np.ndarray:
        if self.tokenizer is None:
            raise VitrineError(f"{NAME} has no tokenizer installed: pull it again")
        pad = self.tokenizer.token_to_id("<pad>")
        pad = 1 if pad is None else pad
        rows = []
        for t in texts:
            ids = self.tokenizer.encode(" ".join(t.lower().split())).ids[:TEXT_LEN]
            rows.append(ids + [pad] * (TEXT_LEN - len(ids)))
        return np.array(rows, np.int64)

    def embed_texts(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        if self.text is None:
            raise VitrineError(f"{NAME} was installed without its text encoder: pull it again")
        if not texts:
            return np.zeros((0, self.info.dim), np.float32)
        name = self.text.get_inputs()[0].name
        return unit_rows(self.text.run(None, {name: self.ids(texts)})[0])


def _installed(settings: Settings, threads: int) -> FashionSiglip:
    store = ModelStore(settings.models_dir)
    try:
        model = store.get(NAME)
    except VitrineError:
        raise VitrineError(f"the {NAME} embedder is not installed: run `vitrine models pull {NAME}` (needs internet "
                           "once), or keep the bundled efficientnet-lite0") from None
    if model.manifest.runtime != "embedder":
        raise VitrineError(f"the model named {NAME!r} is not an embedder: remove it (`vitrine models remove {NAME}`) "
                           "and pull it again")
    bad = model.manifest.size_problems(model.folder)
    if bad:
        raise VitrineError(f"{NAME} is damaged ({bad[0]}): run `vitrine models pull {NAME}` again")
    files = {r: e.path for r, e in model.manifest.files.items()}
    weights_id = model.manifest.files["vision"].sha256[:12]
    return FashionSiglip(model.folder, files, weights_id, threads, settings.device)


def image_embedder(settings: Settings, threads: int, progress: ProgressFn | None = None) -> ImageEmbedder:
    return _installed(settings, threads)


def text_embedder(settings: Settings, threads: int) -> TextEmbedder:
    return _installed(settings, threads)
