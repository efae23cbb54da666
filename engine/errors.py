"""The one exception type a user sees, and the one place where operating-system errors become sentences."""
from __future__ import annotations

import errno
import sqlite3


class VitrineError(Exception):
    """A problem the user can act on (bad input, missing model, no network...).

    The CLI prints ``str(err)`` on one line and exits non-zero; the desktop app shows it in a dialog.
    Anything else that escapes is a bug.
    """

    exit_code = 2
    http_status = 400       # the server's answer when a request meets it (the kinds below say otherwise)


class BadInput(VitrineError):
    """What the user (or a client) sent cannot be used: a bad image, box, question, file or option."""


class NotFound(VitrineError):
    """A named thing is not there: a file, a model, a product, an endpoint's subject."""

    http_status = 404


class Busy(VitrineError):
    """Another job holds what this one needs (a store lock, the model): try again shortly."""

    http_status = 429


class ModelFault(VitrineError):
    """The model or its runtime failed: not the caller's mistake (a damaged file, a state that cannot be
    restored, a runtime that crashed in a child process)."""

    http_status = 500


class Cancelled(VitrineError):
    """The user asked to stop (Ctrl-C, the Stop button); what was saved before stays saved."""

    exit_code = 130

    def __init__(self, message: str = "cancelled: nothing was changed by the unfinished step"):
        super().__init__(message)


def os_error_message(e: OSError, doing: str = "") -> str:
    """One sentence for an OSError: what failed, where, and what to do about it."""
    where = e.filename or ""
    what = f"{doing} " if doing else ""
    place = f" {where}" if where else ""
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"{what}failed: the disk is full{' at' + place if place else ''}: free some space "
                "(or set VITRINE_HOME to a folder on another disk) and try again")
    if code == errno.EROFS:
        return (f"{what}failed:{place or ' the folder'} is on a read-only disk: set VITRINE_HOME to a writable "
                "folder, or remount the disk read-write")
    if code in (errno.EACCES, errno.EPERM):
        return (f"{what}failed: permission denied{' for' + place if place else ''}: give your user write access "
                "to it, or set VITRINE_HOME to a folder you own")
    if code == errno.ENOENT:
        return f"{what}failed: not found:{place or ' a file'}: check the path"
    if code == errno.EISDIR:
        return f"{what}failed:{place} is a folder, not a file"
    if code == errno.ENOTDIR:
        return f"{what}failed: a part of{place or ' the path'} is a file, not a folder"
    if code == errno.EMFILE:
        return f"{what}failed: too many open files: close other programs and try again"
    if code in (errno.EIO,):
        return f"{what}failed: the disk reported an input/output error{' at' + place if place else ''}: check it"
    reason = e.strerror or str(e)
    return f"{what}failed: {reason}{' (' + where + ')' if where else ''}"


def sqlite_error_message(e: sqlite3.Error, path, doing: str = "saving") -> str:
    """SQLite reports the disk in its own words; say the same things as for other files."""
    text = str(e).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return os_error_message(OSError(errno.ENOSPC, "disk full", str(path)), doing)
    if "readonly" in text or "read-only" in text:
        return os_error_message(OSError(errno.EROFS, "read-only", str(path)), doing)
    if "unable to open" in text or "disk i/o" in text:
        return (f"cannot open {path}: check that the folder exists and is writable, or set VITRINE_HOME to a "
                "writable folder")
    return f"{path}: {e}"
