"""Frames from an image file, a video file (seek by time or index, step) or a camera (any OpenCV source)."""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import VitrineError

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MAX_PIXELS = 100_000_000   # larger "images" are almost certainly not photos; refuse before allocating


@dataclass(frozen=True)
class Region:
    """A crop box in pixels of the frame: x, y from the top-left corner, then width and height."""
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> "Region":
        parts = [p.strip() for p in str(text).split(",")]
        try:
            x, y, w, h = (int(float(p)) for p in parts)
        except ValueError:
            raise VitrineError(f"bad box {text!r}: write it as x,y,w,h in pixels, e.g. --box 100,50,200,300") from None
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
        if w < 8 or h < 8:
            raise VitrineError(f"box {region} is too small: draw a box of at least 8x8 pixels")
        clipped = Region(region.x, region.y, w, h)
        return replace(self, rgb=np.ascontiguousarray(self.rgb[region.y:region.y + h, region.x:region.x + w]),
                       region=clipped)

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


_SPEC = re.compile(r"^(?P<path>.+?)(?:@(?P<time>\d+(?:\.\d+)?)s?|#(?P<index>\d+))$")


def parse_spec(spec: str) -> tuple[str, float | None, int | None]:
    """``clip.mp4@12.5`` -> time 12.5 s; ``clip.mp4#300`` -> frame 300; anything else -> the whole path."""
    if not os.path.exists(spec):
        m = _SPEC.match(spec)
        if m:
            t = m.group("time")
            i = m.group("index")
            return m.group("path"), (float(t) if t else None), (int(i) if i else None)
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
            img = self._read_image(path)
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

    def _read_image(self, path: Path) -> np.ndarray | None:
        cv2 = self._cv2
        data = np.fromfile(str(path), dtype=np.uint8)      # imdecode copes with non-ASCII paths
        header = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) if data.size else None
        if header is not None and header.shape[0] * header.shape[1] * 64 > MAX_PIXELS:
            raise VitrineError(f"{path.name} is too large (over {MAX_PIXELS // 1_000_000} megapixels): "
                               "resize it first")
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])

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
            if at < 0:
                raise VitrineError("time must be >= 0 seconds")
            index = int(round(at * self.fps))
            if index >= self.frame_count:
                raise VitrineError(f"{at:g} s is past the end of {Path(self.name).name} "
                                   f"({self.duration:.2f} s long)")
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
