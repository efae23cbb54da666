"""The per-video index behind "find it in this video": each sampled frame's looks (regions, colours, garment,
matches, image vectors) in one SQLite file under $VITRINE_HOME/video-index/, beside the history.

Built once and resumable: every sampled frame is committed with its items in one transaction, so a killed or
cancelled run keeps what it did and the next run starts at the first frame not yet indexed. The file is named
after the video's resolved path, size and modification time; a different sampling step or image signature starts
it again (vectors of two signatures never mix).

Kept within a cap: when the indexes together pass ``VITRINE_VIDEO_INDEX_MB`` (default 500 MB) or one was last used
more than ``VITRINE_VIDEO_INDEX_DAYS`` ago (default 90), the least recently used go first (an index is "used" each
time it is opened); the index in use is never removed. ``forget(video)`` removes a video's indexes now. A removal
renames the file out of the way first, so a crash leaves either the whole index or none of it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.database import SqlErrors, open_database
from engine.errors import BadInput, Busy, Cancelled
from engine.look.look import look_at
from engine.look.regions import Box, PoseFinder
from engine.media.frames import FrameSource
from engine.settings import Settings

log = logging.getLogger(__name__)

FOLDER = "video-index"
THUMB = 240
MAX_MB = 500.0                # all the indexes together; the least recently used go first
MAX_DAYS = 90.0               # an index not used for this long goes
SUFFIX = ".sqlite3"
# (stage label, done, total or None)
ProgressFn = Callable[[str, int, "int | None"], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frames (t REAL PRIMARY KEY, idx INTEGER, how TEXT NOT NULL, thumbnail BLOB,
                                   seconds REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL REFERENCES frames(t),
    region TEXT NOT NULL,
    box TEXT NOT NULL,
    colors TEXT NOT NULL,
    kinds TEXT NOT NULL,
    garment TEXT,
    category TEXT,
    attributes TEXT,
    matches TEXT NOT NULL DEFAULT '[]',
    vector BLOB
);
CREATE INDEX IF NOT EXISTS items_t ON items(t);
"""


@dataclass
class IndexedItem:
    t: float
    region: str
    box: Box
    colors: dict[str, float]         # colour name (en) -> share
    kinds: tuple[str, ...]
    garment: str | None
    category: str | None
    matches: list[dict]              # the top catalog matches: id, title, attributes, score
    vector: np.ndarray | None


def index_path(video: Path, settings: Settings) -> Path:
    video = video.resolve()
    st = video.stat()
    key = hashlib.blake2b(f"{video}|{st.st_size}|{st.st_mtime_ns}".encode(), digest_size=10).hexdigest()
    return index_folder(settings) / f"{key}{SUFFIX}"


def index_folder(settings: Settings) -> Path:
    return settings.home / FOLDER


def _setting_float(name: str, text: str, default: float) -> float:
    """A VITRINE_* number as the settings hold it (the environment's text), checked; "" is ``default``."""
    text = text.strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{name}={text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise BadInput(f"{name} must be 0 or more (0: no limit)")
    return value


@dataclass(frozen=True)
class StoredIndex:
    path: Path
    video: str                 # the video's resolved path when it was indexed ("" when unreadable)
    bytes: int
    used: float                # when it was last opened (the file's modification time)


def _files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def stored_indexes(settings: Settings) -> list[StoredIndex]:
    """Every video index on disk, least recently used first."""
    folder = index_folder(settings)
    out = []
    for path in folder.glob(f"*{SUFFIX}") if folder.is_dir() else []:
        try:
            size = sum(f.stat().st_size for f in _files(path) if f.exists())
            used = path.stat().st_mtime
        except OSError:
            continue
        out.append(StoredIndex(path, _video_of(path), size, used))
    return sorted(out, key=lambda s: (s.used, s.path.name))


def _video_of(path: Path) -> str:
    import sqlite3
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'video'").fetchone()
        finally:
            db.close()
        return row[0] if row else ""
    except sqlite3.Error:
        return ""


def remove_index(path: Path) -> bool:
    """Remove one index atomically: renamed out of the way (a crash leaves a ``.removing`` file, never a half
    index), then its files deleted. False when it was already gone."""
    gone = path.with_name(path.name + f".{os.getpid()}.removing")
    try:
        os.replace(path, gone)
    except FileNotFoundError:
        return False
    for f in _files(path)[1:] + [gone]:
        try:
            f.unlink()
        except FileNotFoundError:
            pass
    return True


def prune(settings: Settings, keep: Path | None = None, max_mb: float | None = None,
          max_days: float | None = None, now: float | None = None) -> list[StoredIndex]:
    """Remove indexes unused for ``max_days`` and then the least recently used until the rest fit in ``max_mb``
    (0: no limit); ``keep`` (the index in use) stays whatever its size. Returns those removed."""
    if max_mb is None:
        max_mb = _setting_float("VITRINE_VIDEO_INDEX_MB", settings.video_index_mb, MAX_MB)
    if max_days is None:
        max_days = _setting_float("VITRINE_VIDEO_INDEX_DAYS", settings.video_index_days, MAX_DAYS)
    now = time.time() if now is None else now
    folder = index_folder(settings)
    for leftover in folder.glob("*.removing") if folder.is_dir() else []:     # a removal a crash interrupted
        leftover.unlink(missing_ok=True)
    stored = [s for s in stored_indexes(settings) if keep is None or s.path.resolve() != keep.resolve()]
    total = sum(s.bytes for s in stored) + (sum(f.stat().st_size for f in _files(keep) if f.exists())
                                            if keep is not None and keep.exists() else 0)
    removed = []
    for s in stored:                         # least recently used first
        old = max_days > 0 and now - s.used > max_days * 86400
        over = max_mb > 0 and total > max_mb * 1e6
        if (old or over) and remove_index(s.path):
            removed.append(s)
            total -= s.bytes
            log.info("removed the video index of %s (%.1f MB, last used %s)", s.video or s.path.name,
                     s.bytes / 1e6, time.strftime("%Y-%m-%d", time.localtime(s.used)))
    return removed


def forget(video: Path | str, settings: Settings) -> list[StoredIndex]:
    """Remove every index of ``video`` (any sampling step, any earlier version of the file); the video itself may
    be gone already."""
    target = str(Path(video).resolve())
    removed = []
    for s in stored_indexes(settings):
        if s.video == target and remove_index(s.path):
            removed.append(s)
    return removed


def sample_times(duration: float, every: float) -> list[float]:
    n = max(1, math.ceil(duration / every - 1e-9))
    return [round(i * every, 3) for i in range(n) if i * every < duration]


def _thumbnail(rgb: np.ndarray) -> bytes:
    import cv2
    h, w = rgb.shape[:2]
    s = min(1.0, THUMB / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(small[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


# How the look cuts and pads a frame's garments before their vectors are kept: an index built another way would
# mix vectors a picture query compares against (turn 9: cut-outs padded on grey, the feet's box spans both legs).
# Bump it with any change to the regions or the cut-out; the index then starts again, as for another signature.
LOOK_VERSION = "3"


class VideoIndex:
    def __init__(self, video: Path | str, every: float, signature_id: str, attributes: bool, settings: Settings):
        if not (math.isfinite(every) and 0.04 <= every <= 3600):
            raise BadInput("--every must be between 0.04 and 3600 seconds")
        self.video = Path(video)
        self.every = float(every)
        self.path = index_path(self.video, settings)
        try:
            prune(settings, keep=self.path)
        except OSError as e:             # housekeeping must not stop a search
            log.warning("could not clean old video indexes: %s", e)
        self.db = open_database(self.path, SCHEMA, "video index",
                                f"delete {self.path} and run the search again (it is rebuilt from the video)")
        self._lock = threading.Lock()
        want = {"video": str(self.video.resolve()), "every": f"{self.every:g}", "signature": signature_id,
                "look": LOOK_VERSION, "attributes": "1" if attributes else "0"}
        # One transaction from reading the settings to writing this opening's mark: two searches opening the index
        # at once must agree on one mark (read apart, each wrote its own and the first stopped the second).
        with self._sql("writing the video index"):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                have = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
                if any(have.get(k) not in (None, v) for k, v in want.items() if k != "attributes") or \
                        (attributes and have.get("attributes") == "0") or (have and have.get("look") != LOOK_VERSION):
                    log.info("the video index %s was built with other settings: starting it again", self.path)
                    self.db.execute("DELETE FROM items")
                    self.db.execute("DELETE FROM frames")
                    self.db.execute("DELETE FROM meta")
                    have = {}
                # This opening's mark: another search that starts the index again (other settings) writes its own,
                # and a build still running here stops at its next frame instead of saving it under the other's
                # settings.
                self._build = have.get("build") or uuid.uuid4().hex
                for k, v in {**want, "build": self._build}.items():
                    if k not in have:
                        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, v))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        try:
            os.utime(self.path)          # used now: the cap removes the least recently used first
        except OSError:
            pass

    def _sql(self, doing: str):
        return SqlErrors(self.path, doing, "video index")

    def done_times(self) -> set[float]:
        with self._sql("reading the video index"):
            return {round(r[0], 3) for r in self.db.execute("SELECT t FROM frames")}

    def is_complete(self) -> bool:
        with self._sql("reading the video index"):
            row = self.db.execute("SELECT value FROM meta WHERE key = 'planned'").fetchone()
        return row is not None and len(self.done_times()) >= int(row[0])

    def build(self, catalog=None, session=None, finder: PoseFinder | None = None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, limit: int | None = None) -> int:
        """Index every sampled frame not yet indexed; returns how many were indexed now. ``limit``: stop after that
        many (a resumable partial run)."""
        own = finder is None
        indexed = 0
        with FrameSource(str(self.video)) as src:
            if src.kind != "video":
                raise BadInput(f"{self.video.name} is not a video: `vitrine find` searches videos; for one picture "
                               "use `vitrine look`")
            times = sample_times(src.duration, self.every)
            with self._sql("writing the video index"):
                self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('planned', ?)", (str(len(times)),))
            done = self.done_times()
            todo = [t for t in times if t not in done]
            if progress:
                progress("indexing the video", len(times) - len(todo), len(times))
            if not todo:
                return 0
            finder = finder or PoseFinder()
            try:
                for t in todo:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"cancelled: {len(times) - len(todo) + indexed} of {len(times)} frames "
                                        "are indexed; the next search carries on from there")
                    if limit is not None and indexed >= limit:
                        break
                    start = time.perf_counter()
                    frame = src.read(at=t)
                    look = look_at(frame, catalog, session, finder, k=3)
                    self._save(t, frame.index, look, frame.rgb, time.perf_counter() - start)
                    indexed += 1
                    if progress:
                        progress("indexing the video", len(times) - len(todo) + indexed, len(times))
            finally:
                if own:
                    finder.close()
        return indexed

    def _save(self, t: float, idx: int | None, look, rgb: np.ndarray, seconds: float) -> None:
        thumb = _thumbnail(rgb)
        with self._lock, self._sql("writing the video index"):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                mark = self.db.execute("SELECT value FROM meta WHERE key = 'build'").fetchone()
                if mark is None or mark[0] != self._build:
                    raise Busy(f"another search started the index of {self.video.name} again with other settings "
                               "while this one was building it: search again when it is done")
                self.db.execute("DELETE FROM items WHERE t = ?", (t,))
                self.db.execute("INSERT OR REPLACE INTO frames(t, idx, how, thumbnail, seconds) VALUES (?, ?, ?, ?, ?)",
                                (t, idx, look.how, thumb, seconds))
                for item in look.items:
                    self.db.execute(
                        "INSERT INTO items(t, region, box, colors, kinds, garment, category, attributes, matches, "
                        "vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (t, item.region, json.dumps(item.box.to_list()),
                         json.dumps({c.en: round(c.share, 4) for c in item.colors}), json.dumps(list(item.kinds)),
                         item.garment, item.category,
                         json.dumps(item.attributes, ensure_ascii=False) if item.attributes else None,
                         json.dumps([m.to_dict() for m in item.matches], ensure_ascii=False),
                         None if item.vector is None else np.asarray(item.vector, np.float32).tobytes()))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def items(self) -> list[IndexedItem]:
        with self._sql("reading the video index"):
            rows = self.db.execute("SELECT t, region, box, colors, kinds, garment, category, matches, vector FROM "
                                   "items ORDER BY t, id").fetchall()
        return [IndexedItem(r[0], r[1], Box(*json.loads(r[2])), json.loads(r[3]), tuple(json.loads(r[4])), r[5], r[6],
                            json.loads(r[7]), None if r[8] is None else np.frombuffer(r[8], np.float32))
                for r in rows]

    def frame_count(self) -> int:
        with self._sql("reading the video index"):
            return self.db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]

    def thumbnail(self, t: float) -> bytes | None:
        with self._sql("reading the video index"):
            row = self.db.execute("SELECT thumbnail FROM frames WHERE t = ?", (t,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.db.close()
