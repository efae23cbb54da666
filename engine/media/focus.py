"""What part of a frame is "the garment": the box the clerk drew, or the person cut out of the frame.

The person comes from mediapipe's bundled selfie segmentation (`mediapipe==0.10.21`, landscape model,
``model_selection=1``: the only setting whose weights ship in the wheel; the others download and fail offline).
mediapipe is optional: without it, "person" falls back to the whole frame with a log line.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np

from engine.errors import VitrineError

log = logging.getLogger(__name__)

FOCUS_MODES = ("auto", "box", "person", "frame")
MIN_PERSON_SHARE = 0.05       # a mask smaller than this is noise, not a person


@dataclass
class Focus:
    rgb: np.ndarray                 # the region to embed and read colours from
    mask: np.ndarray | None         # the garment's pixels in ``rgb`` (None: all of it)
    how: str                        # "box", "person" or "frame"


@contextlib.contextmanager
def _quiet_stderr():
    """mediapipe's C++ prints TensorFlow Lite and glog banners straight to fd 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _protobuf_shim() -> None:
    """mediapipe 0.10.21 calls MessageFactory.GetPrototype, which protobuf 5+ replaced with GetMessageClass (onnx
    needs protobuf >= 6): without this its import reports an AttributeError through sys.excepthook."""
    from google.protobuf import message_factory
    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = lambda self, descriptor: \
            message_factory.GetMessageClass(descriptor)


def _plotting_shim() -> None:
    """mediapipe's package import loads its drawing helpers, which import matplotlib.pyplot at module level (the
    only use of matplotlib, for plotting landmarks, which Vitrine never does). A store workstation's runtime has no
    matplotlib (it is the studio's): an empty stand-in lets the segmenter load there."""
    import sys
    import types
    try:
        import matplotlib.pyplot  # noqa: F401  (the studio's machines have it: nothing to stand in for)
        return
    except ImportError:
        pass
    stand_in = types.ModuleType("matplotlib")
    stand_in.pyplot = types.ModuleType("matplotlib.pyplot")
    sys.modules.update({"matplotlib": stand_in, "matplotlib.pyplot": stand_in.pyplot})


class PersonSegmenter:
    """One mediapipe graph, used by one thread at a time."""

    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        _protobuf_shim()
        _plotting_shim()
        with _quiet_stderr():
            try:
                from mediapipe.python.solutions import selfie_segmentation
            except ImportError:
                raise VitrineError("cutting out the person needs mediapipe: pip install --no-deps "
                                   "mediapipe==0.10.21 (`bash .ci/install` does), or draw a box") from None
            self._seg = selfie_segmentation.SelfieSegmentation(model_selection=1)
        self._lock = threading.Lock()
        self._warm = False

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability per pixel (H, W float32 0..1)."""
        with self._lock:
            if not self._warm:              # the first run prints TensorFlow Lite's banners
                with _quiet_stderr():
                    result = self._seg.process(np.ascontiguousarray(rgb))
                self._warm = True
            else:
                result = self._seg.process(np.ascontiguousarray(rgb))
        return np.asarray(result.segmentation_mask, dtype=np.float32)

    def close(self) -> None:
        self._seg.close()


def focus(rgb: np.ndarray, mode: str = "auto", segmenter: PersonSegmenter | None = None,
          boxed: bool = False) -> Focus:
    """The garment's part of ``rgb``. ``boxed``: the frame was already cropped to the clerk's box.

    auto: the box when there is one, else the person when one fills enough of the frame, else the whole frame.
    """
    if mode not in FOCUS_MODES:
        raise VitrineError(f"unknown focus {mode!r}: use one of {', '.join(FOCUS_MODES)}")
    if mode == "box" and not boxed:
        raise VitrineError("--focus box needs a box: add --box x,y,w,h")
    if boxed and mode in ("auto", "box"):
        return Focus(rgb, None, "box")
    if mode == "frame" or segmenter is None and mode == "auto":
        return Focus(rgb, None, "frame")
    seg = segmenter or PersonSegmenter()
    try:
        mask = seg.mask(rgb)
    finally:
        if segmenter is None:
            seg.close()
    person = mask > 0.5
    if person.mean() < MIN_PERSON_SHARE:
        if mode == "person":
            log.info("no person found in the frame: using all of it")
        return Focus(rgb, None, "frame")
    ys, xs = np.nonzero(person)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1]).copy()
    crop_mask = person[y0:y1, x0:x1]
    # the embedder sees the person on a neutral grey, not the shop behind them
    crop[~crop_mask] = 128
    return Focus(crop, crop_mask, "person")
