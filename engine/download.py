"""HTTP downloads that survive a dropped connection: resume with Range, write to .part, rename when whole."""
from __future__ import annotations

import logging
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import VitrineError
from .files import sha256_file

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
BLOCK = 1 << 20


class Unreachable(VitrineError):
    """The server could not be reached at all (offline, DNS, refused)."""


def _expected_sha256(headers) -> str | None:
    # The hub sends the LFS object's sha256 as (X-Linked-)ETag for large files.
    for key in ("X-Linked-Etag", "ETag"):
        value = (headers.get(key) or "").strip().strip('"').removeprefix("W/").strip('"')
        if _SHA256.match(value):
            return value
    return None


def download(url: str, dest: Path, progress: Callable[[int, int | None], None] | None = None,
             timeout: float = 30.0) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); return the file's sha256.

    The file appears at ``dest`` only when complete and, where the server states a sha256, verified.
    """
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "vitrine"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:      # the .part is already whole
            resp = None
        elif e.code in (401, 403, 404):
            raise VitrineError(f"{url} answered {e.code}: the file is not on the hub under that name "
                               "(check the model name with `vitrine models list`)") from None
        else:
            raise VitrineError(f"download failed: {url} answered HTTP {e.code}; run the same command again "
                               "to resume") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise Unreachable(f"cannot reach {url.split('/')[2]} ({reason})") from None

    expected = None
    if resp is not None:
        with resp:
            expected = _expected_sha256(resp.headers)
            if have and resp.status != 206:          # server ignored Range: start over
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            if progress:
                progress(have, total)
            try:
                with open(part, "ab" if have else "wb") as f:
                    while block := resp.read(BLOCK):
                        f.write(block)
                        have += len(block)
                        if progress:
                            progress(have, total)
            except (socket.timeout, ConnectionError, OSError) as e:
                raise VitrineError(f"download of {dest.name} was interrupted ({e}); run the same command "
                                   "again to resume") from None
            if total is not None and have < total:
                raise VitrineError(f"download of {dest.name} stopped at {have} of {total} bytes; run the same "
                                   "command again to resume")
    digest = sha256_file(part)
    if expected and digest != expected:
        part.unlink()
        raise VitrineError(f"{dest.name} arrived corrupted (sha256 mismatch); run the same command again")
    os.replace(part, dest)
    log.info("downloaded %s (%d bytes)", dest.name, dest.stat().st_size)
    return digest
