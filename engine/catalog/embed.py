"""Embedders: images and texts to unit vectors, for finding similar products.

One factory (``load_image_embedder`` / ``load_text_embedder``), a base class per kind, one module per embedder
in ``engine/catalog/embedders/``. Every embedder names itself with an ``EmbedderInfo`` whose ``id`` changes when its
weights change: the catalog records the id that built its vectors and re-indexes when it differs.
"""
from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engine.errors import VitrineError
from engine.settings import Settings

log = logging.getLogger(__name__)

# (stage label, done, total or None)
ProgressFn = Callable[[str, int, "int | None"], None]

# name -> module in engine/catalog/embedders (imported only when that embedder is used)
IMAGE_EMBEDDERS = {"efficientnet-lite0": "efficientnet_lite", "fashion-siglip": "fashion_siglip"}
TEXT_EMBEDDERS = {"e5-small": "e5_small", "fashion-siglip": "fashion_siglip"}
DEFAULT_IMAGE_EMBEDDER = "efficientnet-lite0"
DEFAULT_TEXT_EMBEDDER = "e5-small"


@dataclass(frozen=True)
class EmbedderInfo:
    name: str        # "efficientnet-lite0"
    id: str          # name + a short hash of the weights: vectors from different ids never mix
    dim: int


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


class ImageEmbedder(ABC):
    info: EmbedderInfo
    # The catalog decodes product images no larger than this (longer side) and drops the original at once: the
    # embedders see 224-pixel squares and the colour signature a sample of pixels, so a 9000-pixel product shot
    # only costs memory (three of them held at full size took 4.7 GB).
    decode_side: int = 4 * 224

    @abstractmethod
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 arrays (any size) -> (n, dim) float32 unit vectors."""

    def close(self) -> None:
        pass


class TextEmbedder(ABC):
    info: EmbedderInfo

    @abstractmethod
    def embed_texts(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Texts -> (n, dim) float32 unit vectors; ``query`` for a search query, else a product's text."""

    def close(self) -> None:
        pass


def _module(table: dict[str, str], name: str, kind: str):
    if name not in table:
        raise VitrineError(f"unknown {kind} embedder {name!r}: choose one of {', '.join(table)}")
    return importlib.import_module(f"engine.catalog.embedders.{table[name]}")


def load_image_embedder(name: str, settings: Settings, threads: int | None = None,
                        progress: ProgressFn | None = None) -> ImageEmbedder:
    return _module(IMAGE_EMBEDDERS, name, "image").image_embedder(settings, threads or settings.threads, progress)


def load_text_embedder(name: str, settings: Settings, threads: int | None = None) -> TextEmbedder:
    return _module(TEXT_EMBEDDERS, name, "text").text_embedder(settings, threads or settings.threads)


def onnx_session(path, threads: int, device: str):
    """An onnxruntime session (the CPU, or CUDA first where ``device``, the settings' placement, says so:
    engine/devices.py),
    or one line saying the file is not a model. OpenVINO's gpu/npu are for the VLM's image encoder; the
    embedder stays on onnxruntime's CPU there."""
    import onnxruntime as ort
    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=providers)
    except Exception as e:          # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise VitrineError(f"{path} is not a usable ONNX model ({type(e).__name__}): remove it and try again, "
                           "or reinstall the embedder") from None


def square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Letterbox to a square (edge colour padding keeps the garment's proportions) and resize to ``size``."""
    import cv2
    h, w = rgb.shape[:2]
    if h < 2 or w < 2:
        raise VitrineError("the image or region is too small to compare: draw a larger box")
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), top, side - h - top, left, side - w - left,
                                cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(padded, (size, size), interpolation=interp)
