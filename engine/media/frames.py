"""Frames from an image file, a video file (seek by time or index, step) or a camera (any OpenCV source)."""
from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import typing
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.errors import BadInput, VitrineError, os_error_message

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_PIXELS = 100_000_000   # larger "images" are almost certainly not photos; refuse before allocating
MIN_SIDE = 8               # the vision encoders need a few pixels each way; a box is held to the same
MAX_COORD = 1_000_000      # a box or a frame number beyond this is a typo, not a picture


@dataclass(frozen=True)
class Region:
    """A crop box in pixels of the frame: x, y from the top-left corner, then width and height."""
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> "Region":
        hint = "write it as x,y,w,h in pixels, e.g. --box 100,50,200,300"
        parts = [p.strip() for p in str(text).split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise VitrineError(f"bad box {text!r}: {hint}") from None
        if len(values) != 4:
            raise VitrineError(f"bad box {text!r}: it needs 4 numbers, not {len(values)}: {hint}")
        if not all(math.isfinite(v) and abs(v) <= MAX_COORD for v in values):
            raise VitrineError(f"bad box {text!r}: every number must be a finite pixel count up to {MAX_COORD}")
        x, y, w, h = (int(v) for v in values)
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise VitrineError(f"bad box {text!r}: x and y must be >= 0, width and height > 0")
        return cls(x, y, w, h)

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


@dataclass(frozen=True, eq=False)   # compared by .key, never by array equality
class Frame:
    rgb: np.ndarray = None          # H x W x 3, uint8, RGB
    source: str = ""
    index: int | None = None        # frame number in a video or camera stream
    timestamp: float | None = None  # seconds from the start of a video
    region: Region | None = None    # set when this frame is a crop of the source frame

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @cached_property
    def key(self) -> str:
        """Content hash: two frames with the same pixels share one encoded image (computed once per frame)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(str(self.rgb.shape).encode())
        h.update(np.ascontiguousarray(self.rgb).data)
        return h.hexdigest()

    def crop(self, region: Region) -> "Frame":
        if region.x >= self.width or region.y >= self.height:
            raise VitrineError(f"box {region} lies outside the {self.width}x{self.height} frame")
        w, h = min(region.w, self.width - region.x), min(region.h, self.height - region.y)
        if w < MIN_SIDE or h < MIN_SIDE:
            raise VitrineError(f"box {region} is too small: draw a box of at least {MIN_SIDE}x{MIN_SIDE} pixels")
        clipped = Region(region.x, region.y, w, h)
        return replace(self, rgb=np.ascontiguousarray(self.rgb[region.y:region.y + h, region.x:region.x + w]),
                       region=clipped)

    def square_tile(self, side: int) -> np.ndarray:
        """The frame as one ``side`` x ``side`` tile (LANCZOS), as the vision encoders see it on the CPU.

        One definition for the ONNX runtime and the transformers reference, so that parity measures the
        exported model, not two resizing recipes (transformers 5 scales the longest edge up to 4 tiles first).
        """
        if self.width == side and self.height == side:
            return self.rgb
        from PIL import Image
        return np.asarray(Image.fromarray(self.rgb).resize((side, side), Image.Resampling.LANCZOS))

    def encode(self, fmt: str = ".png") -> bytes:
        cv2 = import_cv2()
        ok, buf = cv2.imencode(fmt, self.rgb[:, :, ::-1])
        if not ok:
            raise VitrineError(f"could not encode frame as {fmt}")
        return buf.tobytes()

    def describe(self) -> str:
        where = Path(self.source).name if self.source else "frame"
        if self.timestamp is not None:
            where += f" @ {self.timestamp:.2f}s"
        elif self.index is not None:
            where += f" #{self.index}"
        if self.region:
            where += f" [{self.region}]"
        return where


_TIME = re.compile(r"^(?:(?:(?P<h>\d+):)?(?P<m>\d+):)?(?P<s>\d+(?:\.\d*)?|\.\d+)s?$")
_SPEC_HINT = "write seconds (clip.mp4@12.5 or clip.mp4@1:02.5) or a frame number (clip.mp4#300)"


def parse_time(text: str, spec: str = "") -> float:
    """``12.5``, ``12.5s``, ``1:02.5`` or ``1:00:02`` -> seconds."""
    m = _TIME.match(text.strip())
    if not m:
        where = f" in {spec!r}" if spec else ""
        if text.strip().startswith("-"):
            raise VitrineError(f"time {text!r}{where} is negative: times count from 0 at the start of the video")
        raise VitrineError(f"bad time {text!r}{where}: {_SPEC_HINT}")
    seconds = float(m.group("s")) + 60 * int(m.group("m") or 0) + 3600 * int(m.group("h") or 0)
    if not math.isfinite(seconds):
        raise VitrineError(f"bad time {text!r}: {_SPEC_HINT}")
    return seconds


def parse_spec(spec: str) -> tuple[str, float | None, int | None]:
    """``clip.mp4@12.5`` -> time 12.5 s; ``clip.mp4#300`` -> frame 300; anything else -> the whole path.

    A file whose own name holds '@' or '#' is taken as it is. A suffix after an existing file that is not a
    valid time or frame number is an error that says so (not "file not found").
    """
    if os.path.exists(spec):
        return spec, None, None
    for mark in ("@", "#"):
        path, sep, tail = spec.rpartition(mark)
        if not sep or not path:
            continue
        if mark == "@":
            if os.path.exists(path) or _TIME.match(tail.strip()):
                return path, parse_time(tail, spec), None
        else:
            if tail.strip().isdigit():
                index = int(tail)
                if index > MAX_COORD * 100:
                    raise VitrineError(f"frame {tail} in {spec!r} is past the end of any video")
                return path, None, index
            if os.path.exists(path):
                kind = "negative" if tail.strip().startswith("-") else "not a whole number"
                raise VitrineError(f"frame {tail!r} in {spec!r} is {kind}: {_SPEC_HINT}")
    return spec, None, None


def _camera_index(spec: str | int) -> int | None:
    if isinstance(spec, int):
        return spec
    m = re.fullmatch(r"(?:camera|cam|webcam):(\d+)", spec.strip())
    return int(m.group(1)) if m else None


def import_cv2():
    """OpenCV without its console chatter: our own errors say what went wrong, in one line."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2


class FrameSource:
    """One source of frames. ``kind`` is "image", "video" or "camera" (camera = any live OpenCV source)."""

    def __init__(self, spec: str | int):
        cv2 = self._cv2 = import_cv2()
        self.spec = spec
        self._cap = None
        self._image: np.ndarray | None = None
        self.position = 0                     # index of the next frame ``next()`` returns
        cam = _camera_index(spec)
        if cam is not None or (isinstance(spec, str) and "://" in spec):
            self.kind = "camera"
            self.name = f"camera:{cam}" if cam is not None else str(spec)
            self._cap = cv2.VideoCapture(cam if cam is not None else spec)
            if not self._cap.isOpened():
                raise VitrineError(f"no camera at {self.name}: connect one, choose another index, "
                                   "or open a video file instead")
            return
        path = Path(spec)
        self.name = str(path)
        if not path.exists():
            raise VitrineError(f"file not found: {path}")
        if path.is_dir():
            raise VitrineError(f"{path} is a folder: pass an image or video file")
        if path.stat().st_size == 0:
            raise VitrineError(f"{path.name} is empty (0 bytes): copy it again")
        ext = path.suffix.lower()
        if ext not in VIDEO_EXTS:
            img = probe_image(path)
            if img is not None:
                self.kind, self._image = "image", img
                return
            if ext in IMAGE_EXTS:
                raise VitrineError(f"{path.name} is damaged or not a readable image: open it in an image viewer "
                                   "to check, or export it again")
        self.kind = "video"
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened() or self.frame_count <= 0 or not self._probe():
            self._cap.release()
            self._cap = None
            if ext in VIDEO_EXTS:
                raise VitrineError(f"cannot read video {path.name}: the file is damaged or uses a codec "
                                   "OpenCV cannot decode (try converting it to MP4)")
            raise VitrineError(f"{path.name} is not an image or video Vitrine can read "
                               f"(images: {', '.join(sorted(e[1:] for e in IMAGE_EXTS))}; videos: mp4, avi, mkv, mov, webm)")

    def _probe(self) -> bool:
        ok, _ = self._cap.read()
        self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
        return bool(ok)

    # ----------------------------------------------------------------- properties
    @property
    def fps(self) -> float:
        if self._cap is None:
            return 0.0
        fps = self._cap.get(self._cv2.CAP_PROP_FPS)
        return float(fps) if fps and fps > 0 else 25.0

    @property
    def frame_count(self) -> int:
        if self.kind == "image":
            return 1
        if self.kind == "camera":
            return 0
        return int(self._cap.get(self._cv2.CAP_PROP_FRAME_COUNT) or 0)

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.kind == "video" else 0.0

    # ----------------------------------------------------------------- reading
    def read(self, at: float | None = None, index: int | None = None) -> Frame:
        """The frame at ``at`` seconds or at ``index`` (video), the image, or the camera's latest frame."""
        if self.kind == "image":
            return Frame(self._image, self.name, 0, None)
        if self.kind == "camera":
            return self.next()
        if at is not None:
            if not math.isfinite(at) or at < 0:
                raise VitrineError("time must be a number of seconds >= 0")
            if at >= self.duration:
                raise VitrineError(f"{at:g} s is past the end of {Path(self.name).name} "
                                   f"({self.duration:.2f} s long): choose a time before {self.duration:.2f} s")
            # the frame on screen at ``at``: the last one that started at or before it (1e-6 absorbs 0.1*fps noise)
            index = min(int(math.floor(at * self.fps + 1e-6)), self.frame_count - 1)
        index = 0 if index is None else index
        if not 0 <= index < self.frame_count:
            raise VitrineError(f"frame {index} is past the end of {Path(self.name).name} "
                               f"({self.frame_count} frames)")
        if index != self.position:
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, index)
            self.position = index
        return self.next()

    def next(self) -> Frame:
        """The next frame (video: step forward one frame; camera: a fresh frame)."""
        if self.kind == "image":
            return self.read()
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self.kind == "camera":
                raise VitrineError(f"{self.name} stopped sending frames: check the cable or choose another camera")
            raise VitrineError(f"no frame {self.position} in {Path(self.name).name}: end of video")
        idx = self.position
        self.position += 1
        ts = idx / self.fps if self.kind == "video" else None
        return Frame(np.ascontiguousarray(bgr[:, :, ::-1]), self.name, idx, ts)

    def step(self, delta: int = 1) -> Frame:
        """Move ``delta`` frames from the last frame read (negative goes back)."""
        return self.read(index=max(0, self.position - 1 + delta))

    def __iter__(self):
        while True:
            try:
                yield self.next()
            except VitrineError:
                return

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ImageTooLarge(BadInput):
    """An image over the pixel limit, refused from its header (the server answers 413)."""

    http_status = 413


# Formats Vitrine reads: what cameras, phones and catalog exports write (JPEG includes MPO). Pillow's other
# plugins (EPS runs Ghostscript, the rarer decoders) are never asked to parse a hostile file.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")


def read_image(path: Path | str | typing.BinaryIO, name: str = "", *, max_pixels: int = MAX_PIXELS,
               fit: int | None = None) -> np.ndarray:
    """An image file (or an open binary stream called ``name``) as an H x W x 3 uint8 RGB array.

    The one image reader of every surface (CLI, app, live mode, catalog, server): the header gives the size
    before anything is decoded (a 69-byte PNG claiming 60000x60000 is refused in microseconds, not after
    gigabytes), then the pixels are decoded once, by Pillow, which refuses a truncated file (OpenCV returned it
    half-drawn); EXIF orientation is applied. ``fit``: scale the picture down so its longer side is at most
    ``fit`` pixels as it is decoded (JPEG decodes at the reduced scale; the full-size copy is dropped at once).
    Raises ``BadInput`` (``ImageTooLarge`` over ``max_pixels``) with one line naming the file.
    """
    name = name or _name_of(path)
    rgb = probe_image(path, name, max_pixels=max_pixels, fit=fit)
    if rgb is None:
        raise BadInput(f"{name} is not an image Vitrine can read (send JPEG, PNG, WebP, BMP, TIFF or GIF)")
    return rgb


def decode_image_bytes(data: bytes, name: str = "image", *, max_pixels: int = MAX_PIXELS,
                       fit: int | None = None) -> np.ndarray:
    """``read_image`` for an image held in memory (an upload, a data: URL, a dataset row)."""
    if not data:
        raise BadInput(f"{name} is empty (0 bytes): send the image again")
    return read_image(io.BytesIO(data), name, max_pixels=max_pixels, fit=fit)


def probe_image(path: Path | str | typing.BinaryIO, name: str = "", *, max_pixels: int = MAX_PIXELS,
                fit: int | None = None) -> np.ndarray | None:
    """``read_image``, but None when the file is not an image at all (``FrameSource`` then tries it as video)."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError
    name = name or _name_of(path)
    too_large = f"{name} is too large (over {max_pixels / 1e6:.3g} megapixels): resize it first"
    try:
        with warnings.catch_warnings():    # Pillow warns about big images on stderr: we decide with max_pixels
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path, formats=IMAGE_FORMATS)   # lazy: reads the header only
    except Image.DecompressionBombError as e:     # Pillow's own limit (~179 MP) met first; it says the count
        count = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageTooLarge(too_large if not count else f"{name} is too large ({round(int(count[1]) / 1e6)} "
                            f"megapixels, over {max_pixels / 1e6:.3g}): resize it first") from None
    except UnidentifiedImageError:
        return None
    except Exception as e:                 # noqa: BLE001 - a hostile header can make a plugin raise anything
        raise _unreadable(name, e) from None
    try:
        with im:
            width, height = im.size
            if width < 1 or height < 1:
                raise BadInput(f"{name} has no pixels ({width}x{height}): export the image again")
            if width * height > max_pixels:
                raise ImageTooLarge(f"{name} is too large ({width}x{height} pixels, over "
                                    f"{max_pixels / 1e6:.3g} megapixels): resize it first")
            if width < MIN_SIDE or height < MIN_SIDE:
                raise BadInput(f"{name} is too small ({width}x{height} pixels): Vitrine needs at least "
                               f"{MIN_SIDE}x{MIN_SIDE}; use a larger picture")
            if fit and max(width, height) > fit:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale (still >= 3 x fit); the full-size pixels go at once
                im.thumbnail((fit, fit), Image.Resampling.LANCZOS, reducing_gap=3.0)
            im = ImageOps.exif_transpose(im)        # phone photos stand the right way up
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                white = Image.new("RGB", im.size, (255, 255, 255))  # product shots on transparent backgrounds
                white.paste(rgba, mask=rgba.getchannel("A"))
                im = white
            elif im.mode != "RGB":
                im = im.convert("RGB")
            return np.array(im)                     # a writable copy; raises on a truncated file
    except Image.DecompressionBombError:
        raise ImageTooLarge(too_large) from None
    except VitrineError:
        raise
    except Exception as e:                 # noqa: BLE001 - truncated data, a lying chunk, a decoder's own error
        raise _unreadable(name, e) from None


def _name_of(path) -> str:
    if isinstance(path, (str, Path)):
        return Path(path).name
    return Path(getattr(path, "name", "") or "image").name


def _unreadable(name: str, e: BaseException) -> VitrineError:
    """The disk's fault (errno set: permissions, I/O) or the file's (Pillow's decoders say "truncated"...)."""
    if isinstance(e, OSError) and e.errno is not None:
        return BadInput(os_error_message(e, f"reading {name}"))
    if isinstance(e, MemoryError):
        return BadInput(f"{name} needs more memory to decode than is free: resize it or close other programs")
    log.debug("unreadable image %s", name, exc_info=e)
    return BadInput(f"{name} is damaged or not a readable image ({type(e).__name__}): open it in an image viewer "
                    "to check, or export it again")


def load_frame(spec: str, box: str | Region | None = None) -> Frame:
    """One frame from ``image.jpg``, ``clip.mp4@12.5`` (seconds) or ``clip.mp4#300`` (frame), optionally cropped."""
    path, at, index = parse_spec(spec)
    with FrameSource(path) as src:
        if src.kind == "image" and (at is not None or index is not None):
            raise VitrineError(f"{Path(path).name} is an image: @time and #frame apply to videos only")
        frame = src.read(at=at, index=index)
    if box is not None:
        frame = frame.crop(box if isinstance(box, Region) else Region.parse(box))
    return frame
