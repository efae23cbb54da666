"""Every question and answer, kept in SQLite in the user's data folder, exportable to CSV and JSON.

Each entry is one transaction: a crash loses at most the answer being written, never what was saved before.
Exports are written to a temporary file and renamed.
"""
from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.database import open_database
from engine.errors import VitrineError, sqlite_error_message
from engine.files import atomic_path
from engine.media.frames import Frame, import_cv2
from engine.runtime.answer import Answer
from engine.settings import Settings
from engine.text_files import csv_cell

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    frame_key TEXT NOT NULL,
    frame TEXT NOT NULL,
    source TEXT NOT NULL,
    frame_time REAL,
    region TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    question_lang TEXT, answer_lang TEXT, question_model TEXT, answer_model TEXT,
    model TEXT NOT NULL,
    ttft_s REAL, decode_tok_s REAL, image_encode_s REAL, reused_image INTEGER, stopped INTEGER,
    thumbnail BLOB,
    turn INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_frame ON entries(frame_key);
"""
EXPORT_FIELDS = ["id", "created", "source", "frame_time", "region", "frame", "question", "answer", "question_lang",
                 "answer_lang", "question_model", "answer_model", "model", "ttft_s", "decode_tok_s",
                 "image_encode_s", "reused_image", "stopped", "turn"]


@dataclass
class Entry:
    id: int
    created: float
    frame_key: str
    frame: str
    source: str
    frame_time: float | None
    region: str | None
    question: str
    answer: str
    question_lang: str
    answer_lang: str
    question_model: str
    answer_model: str
    model: str
    ttft_s: float
    decode_tok_s: float
    image_encode_s: float
    reused_image: bool
    stopped: bool
    thumbnail: bytes | None = None
    turn: int = 0          # earlier exchanges of its conversation the model saw (0: the conversation's first)


def thumbnail_jpeg(frame: Frame, size: int = 96) -> bytes:
    cv2 = import_cv2()
    scale = size / max(frame.width, frame.height)
    small = cv2.resize(frame.rgb, (max(1, int(frame.width * scale)), max(1, int(frame.height * scale))),
                       interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


class History:
    def __init__(self, path: Path | str):
        self.path = Path(path) if str(path) != ":memory:" else None
        self._lock = threading.Lock()
        self._db = open_database(self.path, SCHEMA, "history",
                                 "move it away and restart (a new, empty history will be created)")
        self._migrate()

    def _migrate(self) -> None:
        """A history written by an earlier version gains the columns it lacks (its rows keep their defaults)."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(entries)")}
        if "turn" not in have:
            try:
                with self._db:
                    self._db.execute("ALTER TABLE entries ADD COLUMN turn INTEGER DEFAULT 0")
            except sqlite3.Error as e:
                raise VitrineError(sqlite_error_message(e, self.path, "updating the history")) from None

    @classmethod
    def in_memory(cls) -> "History":
        """A history that lasts as long as the program: when the user's folder cannot be written."""
        return cls(":memory:")

    @classmethod
    def default(cls, settings: Settings) -> "History":
        """The history under ``settings.home`` (VITRINE_HOME)."""
        return cls(settings.home / "history.sqlite3")

    def add(self, answer: Answer, frame: Frame, frame_key: str | None = None) -> int:
        """Save one exchange. ``frame_key``: group it under this frame (the whole frame when asking about a crop)."""
        row = dict(created=time.time(), frame_key=frame_key or answer.frame_key, frame=answer.frame, source=frame.source,
                   frame_time=frame.timestamp, region=str(frame.region) if frame.region else None,
                   question=answer.question, answer=answer.text, question_lang=answer.question_lang,
                   answer_lang=answer.answer_lang, question_model=answer.question_model,
                   answer_model=answer.text_model, model=answer.model, ttft_s=answer.timings.ttft_s,
                   decode_tok_s=answer.timings.decode_tok_s, image_encode_s=answer.timings.image_encode_s,
                   reused_image=int(answer.reused_image), stopped=int(answer.stopped),
                   thumbnail=thumbnail_jpeg(frame), turn=answer.turn)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self._lock:
                with self._db:      # one transaction
                    cur = self._db.execute(f"INSERT INTO entries ({cols}) VALUES ({marks})", list(row.values()))
                return int(cur.lastrowid)
        except sqlite3.Error as e:
            raise VitrineError(sqlite_error_message(e, self.path, "saving the answer to the history")) from None

    def _rows(self, where: str = "", args: tuple = ()) -> list[Entry]:
        with self._lock:
            cur = self._db.execute(f"SELECT * FROM entries {where} ORDER BY id", args)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out = []
        for r in rows:
            d = dict(zip(names, r))
            d["reused_image"], d["stopped"] = bool(d["reused_image"]), bool(d["stopped"])
            d["turn"] = d.get("turn") or 0
            out.append(Entry(**d))
        return out

    def all(self) -> list[Entry]:
        return self._rows()

    def get(self, entry_id: int) -> Entry | None:
        rows = self._rows("WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    def for_frame(self, frame_key: str) -> list[Entry]:
        return self._rows("WHERE frame_key = ?", (frame_key,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def export_csv(self, dest: Path) -> int:
        rows = self.all()
        with atomic_path(dest) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8-sig") as f:   # BOM: Excel opens accents right
                w = csv.DictWriter(f, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
                w.writeheader()
                for e in rows:
                    w.writerow({k: csv_cell(v) for k, v in asdict(e).items()})   # an answer is no formula
        return len(rows)

    def export_json(self, dest: Path) -> int:
        rows = self.all()
        data = [{k: v for k, v in asdict(e).items() if k in EXPORT_FIELDS} for e in rows]
        with atomic_path(dest) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()
