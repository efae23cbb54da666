"""Files the user keeps: atomic writes (temp file + rename), output folders that never replace what Vitrine did
not write, and content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Callable, Iterator

from engine.errors import BadInput, Busy, VitrineError

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


MARKER = ".vitrine-output.json"


class OutputKind(str, Enum):
    """What an output folder holds. A folder is only ever replaced by an output of its own kind."""
    DATASET = "dataset"                        # vitrine dataset build|synth
    EVAL_RUN = "eval-run"                      # vitrine eval --out
    FINETUNE_RUN = "finetune-run"              # vitrine finetune --out
    TRAINING_CHECKPOINT = "training-checkpoint"    # a fine-tuning run's checkpoints/step-N
    MERGED = "merged"                          # vitrine finetune merge
    EXPORT = "export"                          # vitrine export gguf|onnx|hybrid
    CHECKPOINT = "checkpoint"                  # a random-weight checkpoint built in code
    PROOF = "proof"                            # vitrine finetune prove --work
    MODEL = "model"                            # an installed model in the model store
    CONVERTER = "converter"                    # llama.cpp's converter, extracted into the cache
    BUNDLE = "bundle"                          # vitrine bundle --out
    APP = "app"                                # vitrine package --out (the PyInstaller app)

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {OutputKind.DATASET: "question set", OutputKind.EVAL_RUN: "evaluation run",
           OutputKind.FINETUNE_RUN: "fine-tuning run", OutputKind.TRAINING_CHECKPOINT: "training checkpoint",
           OutputKind.MERGED: "merged checkpoint", OutputKind.EXPORT: "model export",
           OutputKind.CHECKPOINT: "random checkpoint", OutputKind.PROOF: "fine-tuning proof",
           OutputKind.MODEL: "installed model", OutputKind.CONVERTER: "llama.cpp converter",
           OutputKind.BUNDLE: "install bundle", OutputKind.APP: "packaged app"}
# Folders Vitrine wrote before the marker existed, known by files only Vitrine writes there (all of them present).
_LEGACY: dict[OutputKind, tuple[str, ...]] = {
    OutputKind.DATASET: ("set.json", "summary.json", "train.jsonl"),
    OutputKind.EVAL_RUN: ("run.json",), OutputKind.FINETUNE_RUN: ("run.json",),
    OutputKind.TRAINING_CHECKPOINT: ("state.json", "optimizer.pt"), OutputKind.MERGED: ("vitrine-finetune.json",),
    OutputKind.EXPORT: ("vitrine-model.json",), OutputKind.MODEL: ("vitrine-model.json",),
    OutputKind.CHECKPOINT: ("vitrine-synthetic.json",), OutputKind.CONVERTER: ("convert_hf_to_gguf.py",)}


class OutputState(Enum):
    NEW = "new"              # nothing there yet
    EMPTY = "empty"          # an empty folder
    OURS = "ours"            # Vitrine's own earlier output of the same kind


def output_kind(folder: Path | str) -> str | None:
    """The kind named by ``folder``'s marker (None: no marker, or not one Vitrine wrote)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def mark_output(folder: Path | str, kind: OutputKind) -> None:
    """Say in ``folder`` that Vitrine wrote it, as an output of ``kind``."""
    (Path(folder) / MARKER).write_text(json.dumps({"kind": kind.value, "version": 1}), encoding="utf-8")


def _absolute(dest: Path | str) -> Path:
    return Path(os.path.abspath(dest))       # "." and "x/.." get a name (with_name needs one); links stay links


def _protected(dest: Path) -> str:
    """Why ``dest`` may never be an output folder, whatever it holds ("" when it may)."""
    real = Path(os.path.realpath(dest))
    if real.parent == real:
        return "is the filesystem root"
    for name, where in (("the current folder", Path.cwd), ("your home folder", Path.home)):
        try:
            here = where().resolve()
        except (OSError, RuntimeError):
            continue
        if real == here:
            return f"is {name}"
        if real in here.parents:
            return f"holds {name}"
    return ""


def check_output(dest: Path | str, kind: OutputKind, inputs: tuple[Path | str, ...] = (),
                 flag: str = "--out") -> OutputState:
    """May ``dest`` receive an output of ``kind``? Only if it is new, an empty folder, or Vitrine's own earlier
    output of that kind (its marker says so). Anything else is refused with one line: a file, a folder Vitrine did
    not write (a catalog, a home folder, a question set given to an export), the current folder or one above it,
    the home folder, the root, or a folder holding one of the command's ``inputs``. Cheap: call it before the work.
    """
    dest = _absolute(dest)

    def refusal(why: str, fix: str = f"choose another {flag}, or empty/remove it yourself") -> BadInput:
        return BadInput(f"{dest} {why}: {fix}")
    why = _protected(dest)
    if why:
        raise refusal(why, f"choose another {flag} (a new folder)")
    real = Path(os.path.realpath(dest))
    for src in inputs:
        src_real = Path(os.path.realpath(src))
        if src_real == real:
            raise refusal("is this command's input")
        if real in src_real.parents:
            raise refusal(f"holds {src}, which this command reads")
    if dest.is_symlink():
        raise refusal("is a link")
    if not dest.exists():
        return OutputState.NEW
    if not dest.is_dir():
        raise refusal("is a file, not a folder Vitrine wrote")
    try:
        if not any(dest.iterdir()):
            return OutputState.EMPTY
    except OSError as e:
        raise refusal(f"cannot be read ({e.strerror})") from None
    found = output_kind(dest)
    if found == kind.value:
        return OutputState.OURS
    if found is not None:
        other = next((k.label for k in OutputKind if k.value == found), found)
        raise refusal(f"holds a Vitrine {other}, not a {kind.label}")
    legacy = _LEGACY.get(kind, ())
    if legacy and not (dest / MARKER).exists() and all((dest / f).exists() for f in legacy):
        return OutputState.OURS
    raise refusal("holds files Vitrine did not write")


def remove_output(dest: Path | str, kind: OutputKind, flag: str = "--out") -> None:
    """Delete Vitrine's own earlier output of ``kind`` at ``dest`` (anything else is refused, never deleted)."""
    dest = _absolute(dest)
    if check_output(dest, kind, flag=flag) is not OutputState.NEW:
        shutil.rmtree(dest)


@contextlib.contextmanager
def atomic_folder(dest: Path | str, kind: OutputKind, inputs: tuple[Path | str, ...] = (),
                  flag: str = "--out") -> Iterator[Path]:
    """Yield a staging folder beside ``dest`` (marked as ``kind``); on success it becomes ``dest``.

    ``dest`` is replaced only when ``check_output`` allows it (new, empty, or an earlier output of the same kind),
    checked before the work and again before the swap. Readers see the old folder or the new one, whole; a
    failure leaves no staging folder behind.
    """
    dest = _absolute(dest)
    check_output(dest, kind, inputs, flag)
    staging = dest.with_name(f".{dest.name}.staging")
    old = dest.with_name(f".{dest.name}.old")
    for scratch in (staging, old):       # left by a crash: removed only if they are ours too
        remove_output(scratch, kind, flag)
    staging.mkdir(parents=True)
    try:
        mark_output(staging, kind)
        yield staging
        mark_output(staging, kind)       # whatever the writer copied in, the marker says what this is
        check_output(dest, kind, inputs, flag)     # the work may have taken an hour: look again
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
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
        raise Busy(f"another vitrine is changing {what} ({_holder(info)}): wait for it to finish, then run "
                   "this again") from None
    try:
        try:
            info.write_text(f"pid {os.getpid()}: {action}", encoding="utf-8")
        except OSError:
            pass
        yield
    finally:
        with contextlib.suppress(OSError):     # gone before the lock is: never names a finished command
            info.unlink()
        lock.release()


def _holder(info: Path, wait_s: float = 2.0) -> str:
    """The holder's "pid N: action" line; it writes it just after taking the lock, so a loser racing that
    moment waits for it (CI saw the gap once under load) rather than naming nobody."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            text = info.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text or time.monotonic() > deadline:
            return text or "another command"
        time.sleep(0.02)


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


def resolve_inside(root: Path, relpath: str) -> Path:
    """``root/relpath``, refused when it points outside ``root`` (``..``, an absolute path, a link out)."""
    root = root.resolve()
    if not relpath:
        raise VitrineError("a row has no image path: every row needs an \"image\" relative to the set's folder")
    path = (root / relpath).resolve()
    if path != root and root not in path.parents:
        raise VitrineError(f"image path {relpath!r} points outside the set's folder {root}: keep images inside it")
    return path
