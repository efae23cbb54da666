"""A product's image: read (scaled as it is decoded), its file's time, and the small JPEG the catalog keeps."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.media.frames import read_image

THUMB = 160     # the thumbnail's longer side, pixels


def load_rgb(path: str, fit: int | None = None) -> np.ndarray:
    """A product's image through the one image reader (header checked first), scaled down to ``fit`` as it is
    decoded, so that a batch never holds full-size originals; ``BadInput`` in one line when it cannot be read."""
    return read_image(Path(path), fit=fit)


def image_mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:                         # gone: indexing records it as failed, with the reason
        return 0.0


def thumbnail(rgb: np.ndarray) -> bytes:
    import cv2          # heavy (OpenCV): only when a catalog is indexed
    h, w = rgb.shape[:2]
    s = THUMB / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else rgb
    ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else b""
