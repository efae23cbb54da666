"""Opening one of the user's SQLite files (history, catalog): WAL, a schema, and one line when it is damaged."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from engine.errors import VitrineError, os_error_message, sqlite_error_message


class SqlErrors:
    """A context in which SQLite's (and the disk's) errors become one line saying what was being done; the rows
    stay as the last commit left them. ``if_damaged``: what to do about a damaged file (the file is named as
    ``what``)."""

    def __init__(self, path: Path, doing: str, what: str = "file", if_damaged: str | None = None):
        self.path, self.doing, self.what, self.if_damaged = path, doing, what, if_damaged

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if self.if_damaged and isinstance(e, sqlite3.DatabaseError) and is_damaged(e):
            raise VitrineError(f"the {self.what} {self.path} is damaged ({e}): {self.if_damaged}") from None
        if isinstance(e, sqlite3.Error):
            raise VitrineError(sqlite_error_message(e, self.path, self.doing)) from None
        if isinstance(e, OSError) and not isinstance(e, VitrineError):
            raise VitrineError(os_error_message(e, self.doing)) from None
        return False


def is_damaged(e: sqlite3.DatabaseError) -> bool:
    return "not a database" in str(e) or "malformed" in str(e)


BUSY_WAIT_S = 5.0      # how long a statement waits for another process's write to end (sqlite3's default)


def _while_locked(step, wait_s: float = BUSY_WAIT_S):
    """``step()``, tried again while another connection holds the file: SQLite answers a change of journal mode
    (a new file's first WAL) "database is locked" at once, without waiting as it does for other statements (two
    searches opening one new video index together: one of them failed in 1 of 3 tries)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return step()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_database(path: Path | None, schema: str, what: str, if_damaged: str) -> sqlite3.Connection:
    """``path`` (None: in memory) opened for use from worker threads; ``if_damaged`` says what to do when the file
    is not a database any more (it is left as it is)."""
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None,
                             timeout=BUSY_WAIT_S)
        if path is not None:
            _while_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")
        _while_locked(lambda: db.executescript(schema))
        return db
    except OSError as e:
        raise VitrineError(os_error_message(e, f"opening the {what}")) from None
    except sqlite3.DatabaseError as e:
        if is_damaged(e):
            raise VitrineError(f"the {what} file {path} is damaged ({e}): {if_damaged}") from None
        raise VitrineError(sqlite_error_message(e, path, f"opening the {what}")) from None
