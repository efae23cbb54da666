"""The per-video index behind "find it in this video": each sampled frame's looks (regions, colours, garment,
matches, image vectors) in one SQLite file under $VITRINE_HOME/video-index/, beside the history.

Built once and resumable: every sampled frame is committed with its items in one transaction, so a killed or
cancelled run keeps what it did and the next run starts at the first frame not yet indexed. The file is named
after the video's resolved path, size and modification time; a different sampling step or image signature starts
it again (vectors of two signatures never mix).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.database import SqlErrors, open_database
from engine.errors import BadInput, Cancelled
from engine.look.regions import Box, PoseFinder
from engine.settings import Settings

log = logging.getLogger(__name__)

FOLDER = "video-index"
THUMB = 240
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


def index_path(video: Path, settings: Settings | None = None) -> Path:
    video = video.resolve()
    st = video.stat()
    key = hashlib.blake2b(f"{video}|{st.st_size}|{st.st_mtime_ns}".encode(), digest_size=10).hexdigest()
    return (settings or Settings.from_env()).home / FOLDER / f"{key}.sqlite3"


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


class VideoIndex:
    def __init__(self, video: Path | str, every: float = 1.0, signature_id: str = "",
                 attributes: bool = False, settings: Settings | None = None):
        if not (math.isfinite(every) and 0.04 <= every <= 3600):
            raise BadInput("--every must be between 0.04 and 3600 seconds")
        self.video = Path(video)
        self.every = float(every)
        self.path = index_path(self.video, settings)
        self.db = open_database(self.path, SCHEMA, "video index",
                                f"delete {self.path} and run the search again (it is rebuilt from the video)")
        self._lock = threading.Lock()
        want = {"video": str(self.video.resolve()), "every": f"{self.every:g}", "signature": signature_id,
                "attributes": "1" if attributes else "0"}
        have = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if any(have.get(k) not in (None, v) for k, v in want.items() if k != "attributes") or \
                (attributes and have.get("attributes") == "0"):
            log.info("the video index %s was built with other settings: starting it again", self.path)
            with self._sql("clearing the video index"):
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("DELETE FROM items")
                self.db.execute("DELETE FROM frames")
                self.db.execute("DELETE FROM meta")
                self.db.execute("COMMIT")
            have = {}
        with self._sql("writing the video index"):
            for k, v in want.items():
                if k not in have:
                    self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, v))

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
        from engine.look.look import look_at
        from engine.media.frames import FrameSource
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
