"""Opening one of the user's SQLite files (history, catalog): WAL, a schema, and one line when it is damaged."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import VitrineError, os_error_message, sqlite_error_message


def is_damaged(e: sqlite3.DatabaseError) -> bool:
    return "not a database" in str(e) or "malformed" in str(e)


def open_database(path: Path | None, schema: str, what: str, if_damaged: str) -> sqlite3.Connection:
    """``path`` (None: in memory) opened for use from worker threads; ``if_damaged`` says what to do when the file
    is not a database any more (it is left as it is)."""
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        if path is not None:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        return db
    except OSError as e:
        raise VitrineError(os_error_message(e, f"opening the {what}")) from None
    except sqlite3.DatabaseError as e:
        if is_damaged(e):
            raise VitrineError(f"the {what} file {path} is damaged ({e}): {if_damaged}") from None
        raise VitrineError(sqlite_error_message(e, path, f"opening the {what}")) from None
