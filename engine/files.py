"""Files the user keeps: atomic writes (temp file + rename) and content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(dest: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest`` in one rename.

    A crash or an exception leaves ``dest`` as it was (never half-written).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; the user's files get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_folder(dest: Path | str) -> Iterator[Path]:
    """Yield an empty staging folder beside ``dest``; on success it becomes ``dest`` (replacing an older one).

    Readers see the old folder or the new one, whole; a failure leaves no staging folder behind.
    """
    dest = Path(dest)
    staging = dest.with_name(f".{dest.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def store_lock(root: Path, action: str, what: str) -> Iterator[None]:
    """One writer at a time in a store, across processes: a lock file in ``root``, held while ``action`` runs.

    A second writer gets one line naming the first, at once: it never waits behind a download that may take an
    hour, and never works on the same staging folders. The lock is the operating system's (flock / LockFileEx):
    a crashed holder releases it.
    """
    from filelock import FileLock, Timeout

    from .errors import Busy
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    info = root / ".lock.info"
    probe = root / ".lock"
    with open(probe, "a"):              # a read-only or full disk fails here with its own errno, not "locked"
        pass
    lock = FileLock(str(probe))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            other = info.read_text(encoding="utf-8").strip()
        except OSError:
            other = "another command"
        raise Busy(f"another vitrine is changing {what} ({other}): wait for it to finish, then run this "
                           "again") from None
    try:
        try:
            info.write_text(f"pid {os.getpid()}: {action}", encoding="utf-8")
        except OSError:
            pass
        yield
    finally:
        lock.release()


def write_text_atomic(dest: Path | str, text: str) -> None:
    with atomic_path(dest) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def sha256_file(path: Path | str, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()
