"""HTTP downloads from a model hub that survive a dropped connection and never install an unverified file.

Redirects (301/302/303/307/308) are followed for the listing and the files alike: the hub answers a renamed repo's
old name with one, and sends large files on to its storage host with another; a Range header travels with them.

What the hub states about each file (size, sha256) comes from its API (``/api/models/REPO/revision/REV?blobs=true``)
or, for mirrors without the API, from the file's own ``X-Linked-Size``/``X-Linked-Etag`` headers. Bytes go to
``NAME.part`` (resumed with Range), and the file appears under its own name only once size and hash agree.
"""
from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.errors import VitrineError, os_error_message
from engine.files import sha256_file

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
BLOCK = 1 << 20
TIMEOUT_S = 30.0          # per connect and per read: a stalled server ends the attempt, resumable


class Unreachable(VitrineError):
    """The server could not be reached at all (offline, DNS, refused)."""


@dataclass(frozen=True)
class RemoteFile:
    """What the hub states about one file; None where it states nothing."""
    name: str
    size: int | None = None
    sha256: str | None = None


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, keeping what the hub states about the file on the way: it sends a large
    file's sha256 and size (X-Linked-Etag / X-Linked-Size) with the redirect to its storage host, not from there."""

    def __init__(self):
        self.linked: dict[str, str] = {}

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        for key in ("X-Linked-Etag", "X-Linked-Size"):
            if headers.get(key):
                self.linked[key] = headers[key]
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, headers: dict | None = None, timeout: float = TIMEOUT_S):
    """The response, with ``linked``: the X-Linked-* headers of the redirects that led to it."""
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "vitrine", **(headers or {})})
        redirects = _Redirects()
        resp = urllib.request.build_opener(redirects).open(req, timeout=timeout)
        resp.linked = redirects.linked
        return resp
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        host = urllib.parse.urlsplit(url).netloc or url
        raise Unreachable(f"cannot reach {host} ({reason})") from None


def hub_files(hub_url: str, repo: str, revision: str = "main") -> dict[str, RemoteFile]:
    """Sizes and sha256 of a repo's files from the hub's API; empty if the server has no API (a plain mirror)."""
    url = f"{hub_url.rstrip('/')}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
    try:
        with _open(url) as resp:
            if resp.geturl() != url:      # a renamed repo: the hub redirects its old name (urllib follows 30x)
                log.info("%s answers as %s", repo, urllib.parse.urlsplit(resp.geturl()).path)
            if "json" not in (resp.headers.get("Content-Type") or "json"):
                return {}
            data = json.loads(resp.read(32 << 20).decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code in (401, 403) or (e.code == 404 and "Repository not found" in _body(e)):
            raise VitrineError(f"{repo} is not on {hub_url} (HTTP {e.code}): check VITRINE_HUB_URL, or import the "
                               "files by hand with `vitrine models import`") from None
        log.info("hub API unavailable (%s): relying on each file's own headers", e.code)
        return {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        log.info("hub API answered something that is not JSON: relying on each file's own headers")
        return {}
    out = {}
    for s in data.get("siblings", []) if isinstance(data, dict) else []:
        if not isinstance(s, dict) or not isinstance(s.get("rfilename"), str):
            continue
        lfs = s.get("lfs") if isinstance(s.get("lfs"), dict) else {}
        sha = lfs.get("sha256") or lfs.get("oid")
        size = lfs.get("size", s.get("size"))
        out[s["rfilename"]] = RemoteFile(s["rfilename"], size if isinstance(size, int) else None,
                                         sha if isinstance(sha, str) and _SHA256.match(sha) else None)
    return out


def _body(e: urllib.error.HTTPError) -> str:
    try:
        return e.read(2048).decode("utf-8", "replace")
    except Exception:       # noqa: BLE001 - only used to refine a message
        return ""


def _header_sha256(headers) -> str | None:
    # The hub sends the LFS object's sha256 as (X-Linked-)ETag for large files.
    for key in ("X-Linked-Etag", "ETag"):
        value = (headers.get(key) or "").strip().removeprefix("W/").strip('"')
        if _SHA256.match(value):
            return value
    return None


def _header_size(headers) -> int | None:
    raw = headers.get("X-Linked-Size")
    return int(raw) if raw and raw.strip().isdigit() else None


def _looks_like_html(first: bytes) -> bool:
    head = first[:512].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml"))


def download(url: str, dest: Path, expected: RemoteFile | None = None,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = TIMEOUT_S) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); return the file's sha256.

    The file appears at ``dest`` only when whole and verified against the sha256 (and size) the hub states.
    """
    expected = expected or RemoteFile(dest.name)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if expected.size is not None and have > expected.size:
        part.unlink()
        have = 0
    host = urllib.parse.urlsplit(url).netloc
    try:
        resp = _open(url, {"Range": f"bytes={have}-"} if have else None, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:      # the .part is already whole
            resp = None
        elif e.code in (401, 403, 404):
            raise VitrineError(f"{url} answered {e.code}: the file is not on the hub under that name "
                               "(check the model name with `vitrine models list`)") from None
        else:
            raise VitrineError(f"download failed: {host} answered HTTP {e.code}; run the same command again "
                               "to resume") from None

    sha = expected.sha256
    size = expected.size
    if resp is not None:
        with resp:
            sha = sha or _header_sha256(resp.headers) or _header_sha256(resp.linked)
            if size is None:
                size = _header_size(resp.headers)
                size = _header_size(resp.linked) if size is None else size
            ctype = (resp.headers.get("Content-Type") or "").lower()
            if "text/html" in ctype:
                raise VitrineError(f"{host} answered with a web page instead of {dest.name} (a login, error or "
                                   "proxy page): check VITRINE_HUB_URL / --hub, or import the files by hand")
            if have and resp.status != 206:          # server ignored Range: start over
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else size
            need = (total or 0) - have
            free = shutil.disk_usage(part.parent).free
            if need > free:
                raise VitrineError(f"not enough disk space for {dest.name}: it needs {need / 1e6:.0f} MB more, "
                                   f"{free / 1e6:.0f} MB are free in {part.parent}: free some space (or set "
                                   "VITRINE_HOME to another disk) and run the same command again")
            if progress:
                progress(have, total)
            first = True
            try:
                with open(part, "ab" if have else "wb") as f:
                    while block := resp.read(BLOCK):
                        if first and not have and _looks_like_html(block):
                            raise VitrineError(f"{host} sent a web page instead of {dest.name}: check "
                                               "VITRINE_HUB_URL / --hub, or import the files by hand")
                        first = False
                        f.write(block)
                        have += len(block)
                        if progress:
                            progress(have, total)
            except VitrineError:
                part.unlink(missing_ok=True)
                raise
            except (OSError, http.client.HTTPException) as e:
                if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                    part.unlink(missing_ok=True)     # a partial file on a full disk only keeps it full
                    raise VitrineError(os_error_message(e, f"saving {dest.name}")) from None
                raise VitrineError(f"download of {dest.name} was interrupted ({e}); run the same command "
                                   "again to resume") from None
    if size is not None and have < size:
        raise VitrineError(f"download of {dest.name} stopped at {have} of {size} bytes; run the same command "
                           "again to resume")
    if size is not None and have > size:
        part.unlink()
        raise VitrineError(f"{dest.name} arrived longer than the hub says ({have} bytes, not {size}); run the same "
                           "command again")
    if sha is None:
        part.unlink()
        raise VitrineError(f"{host} does not state a sha256 for {dest.name}, so the download cannot be verified: use "
                           "a mirror that does (the Hugging Face layout), or download by hand and "
                           "`vitrine models import`")
    digest = sha256_file(part)
    if digest != sha:
        part.unlink()
        raise VitrineError(f"{dest.name} arrived corrupted (sha256 mismatch); run the same command again")
    os.replace(part, dest)
    log.info("downloaded %s (%d bytes)", dest.name, dest.stat().st_size)
    return digest
