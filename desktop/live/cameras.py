"""Which cameras this computer has: indices 0..N that OpenCV opens, with the name the platform gives (Linux:
/sys/class/video4linux), probed quickly for the live dialog."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
MAX_INDEX = 6
V4L = Path("/sys/class/video4linux")


@dataclass(frozen=True)
class Camera:
    index: int
    name: str = ""

    @property
    def spec(self) -> str:
        return f"camera:{self.index}"


def _linux_names() -> dict[int, str]:
    names = {}
    if V4L.is_dir():
        for d in V4L.glob("video*"):
            try:
                names[int(d.name[5:])] = (d / "name").read_text(encoding="utf-8", errors="replace").strip()
            except (OSError, ValueError):
                continue
    return names


def probe_cameras(max_index: int = MAX_INDEX) -> list[Camera]:
    """Cameras that open. On Linux only the /dev/video* that exist are tried (no device: no wait); elsewhere
    indices 0..max_index-1, stopping after two misses in a row (indices are dense)."""
    import cv2
    found, misses = [], 0
    if sys.platform == "linux":
        names = _linux_names()
        candidates = sorted(i for i in names if i < max_index * 4) if names else []
    else:
        names, candidates = {}, list(range(max_index))
    for i in candidates:
        cap = cv2.VideoCapture(i)
        try:
            ok = cap.isOpened()
        finally:
            cap.release()
        if ok:
            found.append(Camera(i, names.get(i, "")))
            misses = 0
        else:
            misses += 1
            if sys.platform != "linux" and misses >= 2:
                break
    log.debug("cameras: %s", found)
    return found
