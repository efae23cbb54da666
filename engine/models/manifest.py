"""The manifest beside every installed or exported model: which files, their hashes, how to run them.

One loader and validator for the store, import, verify and load: a manifest is read as untrusted input (it can
come from any folder a user imports), so its shape is checked field by field and every path it names must stay
inside its own model folder before anything is opened, copied or deleted.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from engine.errors import VitrineError, os_error_message
from engine.files import sha256_file, write_text_atomic
from engine.kinds import ChatHandler, Runtime, known

MANIFEST_NAME = "vitrine-model.json"
MAX_MANIFEST_BYTES = 4 << 20             # a manifest is a few KB; a huge one is not ours
# the files each runtime needs before a model can answer
REQUIRED_ROLES = {Runtime.GGUF: ("model", "mmproj"), Runtime.ONNX: ("vision", "embed", "decoder"),
                  Runtime.HYBRID: ("model", "mmproj", "vision", "config"),   # llama.cpp text + ONNX vision
                  Runtime.EMBEDDER: ("vision",)}          # an image(+text) embedder for the catalog, not a VLM
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ROLE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class FileEntry:
    path: str          # relative to the manifest's folder, '/'-separated, never leaving it
    sha256: str
    size: int


@dataclass
class Manifest:
    name: str
    runtime: Runtime                  # gguf (llama-cpp-python), onnx (onnxruntime), hybrid, embedder
    family: str                       # "idefics3" (SmolVLM), "minicpmv", ...
    files: dict[str, FileEntry]       # role ("model", "mmproj", ...) -> file
    chat_handler: ChatHandler = ChatHandler.MTMD   # how a GGUF's prompt is written (engine/kinds.py)
    languages: list[str] = field(default_factory=lambda: ["en"])  # what the model understands
    quant: str = ""
    source: str = ""                  # where it came from (hub repo, checkpoint path)
    extra: dict = field(default_factory=dict)   # parity figures, export options...

    def __post_init__(self):      # the text a writer passes ("gguf") as the enum; a value unknown raises ValueError
        self.runtime = Runtime(self.runtime)
        self.chat_handler = ChatHandler(self.chat_handler)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: object, where: str = "the manifest") -> "Manifest":
        """Build a manifest from parsed JSON, checking every field; one line says what is wrong."""
        def bad(what: str) -> VitrineError:
            return VitrineError(f"{where} is damaged ({what}): export or import the model again")

        if not isinstance(d, dict):
            raise bad(f"it holds a {type(d).__name__}, not an object")
        for key in ("name", "runtime", "family"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise bad(f"'{key}' is missing or not text")
        for key in ("chat_handler", "quant", "source"):
            if key in d and not isinstance(d[key], str):
                raise bad(f"'{key}' is not text")
        if d.get("chat_handler", "mtmd") not in set(ChatHandler):
            raise bad(f"'chat_handler' {d['chat_handler'][:40]!r} is not one Vitrine knows ({known(ChatHandler)})")
        if d["runtime"] not in REQUIRED_ROLES:
            raise VitrineError(f"{where} needs the {d['runtime']!r} runtime, which this version of Vitrine does not "
                               f"have (it runs: {', '.join(REQUIRED_ROLES)})")
        langs = d.get("languages", ["en"])
        if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
            raise bad("'languages' is not a list of language codes")
        extra = d.get("extra", {})
        if not isinstance(extra, dict):
            raise bad("'extra' is not an object")
        raw_files = d.get("files")
        if not isinstance(raw_files, dict) or not raw_files:
            raise bad("'files' is missing or empty")
        files = {}
        for role, entry in raw_files.items():
            if not _ROLE.match(role):
                raise bad(f"file role {role[:40]!r} is not a plain name")
            if not isinstance(entry, dict):
                raise bad(f"the {role} entry is not an object")
            path, sha, size = entry.get("path"), entry.get("sha256"), entry.get("size")
            if not isinstance(path, str):
                raise bad(f"the {role} entry has no path")
            if not isinstance(sha, str) or not _SHA256.match(sha):
                raise bad(f"the {role} entry has no valid sha256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise bad(f"the {role} entry has no valid size")
            files[role] = FileEntry(path=check_relpath(path, where), sha256=sha, size=size)
        missing = [r for r in REQUIRED_ROLES[d["runtime"]] if r not in files]
        if missing:
            raise bad(f"no {' or '.join(missing)} file listed")
        return cls(name=d["name"], runtime=d["runtime"], family=d["family"], files=files,
                   chat_handler=d.get("chat_handler", "mtmd"), languages=list(langs), quant=d.get("quant", ""),
                   source=d.get("source", ""), extra=extra)

    @classmethod
    def load(cls, folder: Path | str) -> "Manifest":
        """Read and validate ``folder``'s manifest; every file it names is checked to lie inside ``folder``."""
        folder = Path(folder)
        path = folder / MANIFEST_NAME
        if not path.is_file():
            raise VitrineError(f"no {MANIFEST_NAME} in {folder}: is this a folder written by `vitrine export`?")
        where = str(path)
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise VitrineError(f"{where} is damaged (far too large for a manifest): export or import the "
                                   "model again")
            data = json.loads(path.read_bytes().decode("utf-8"))
        except OSError as e:
            raise VitrineError(os_error_message(e, f"reading {where}")) from None
        except UnicodeDecodeError:
            raise VitrineError(f"{where} is damaged (not UTF-8 text): export or import the model again") from None
        except (ValueError, RecursionError) as e:
            raise VitrineError(f"{where} is damaged (not valid JSON: {str(e)[:80]}): export or import the model "
                               "again") from None
        manifest = cls.from_dict(data, where)
        for entry in manifest.files.values():
            contained(folder, entry.path, where)
        return manifest

    def save(self, folder: Path | str) -> Path:
        path = Path(folder) / MANIFEST_NAME
        write_text_atomic(path, self.to_json() + "\n")
        return path

    def size_problems(self, folder: Path | str) -> list[str]:
        """The cheap check before loading: every file present, with the size the manifest records."""
        out = []
        for role, entry in self.files.items():
            p = contained(Path(folder), entry.path)
            if not p.is_file():
                out.append(f"{role}: {entry.path} is missing")
            elif p.stat().st_size < entry.size:
                out.append(f"{role}: {entry.path} is truncated ({p.stat().st_size} of {entry.size} bytes)")
            elif p.stat().st_size > entry.size:
                out.append(f"{role}: {entry.path} has {p.stat().st_size} bytes, expected {entry.size}")
        return out

    def problems(self, folder: Path | str, progress: Callable[[int], None] | None = None) -> list[str]:
        """Sizes, then a re-hash of every file; one line per missing, truncated or altered file (empty = good)."""
        out = self.size_problems(folder)
        damaged = {line.split(":", 1)[0] for line in out}
        for role, entry in self.files.items():
            if role not in damaged and sha256_file(contained(Path(folder), entry.path), progress) != entry.sha256:
                out.append(f"{role}: {entry.path} does not match its sha256 (corrupted)")
        return out


def check_relpath(path: str, where: str = "the manifest") -> str:
    """A manifest path: relative, '/'-separated, no '..', no drive, no empty or hidden tricks."""
    p = PurePosixPath(path)
    if (not path or "\\" in path or "\x00" in path or p.is_absolute() or ":" in p.parts[0]
            or any(part in ("..", ".", "") for part in path.split("/")) or len(path) > 512):
        raise VitrineError(f"{where} names the file {path[:80]!r}, which is outside its model folder: refusing it "
                           "(a model may only use files inside its own folder); export the model again")
    return path


def contained(folder: Path, relpath: str, where: str = "the manifest") -> Path:
    """``folder/relpath``, checked (links resolved) to stay inside ``folder``."""
    check_relpath(relpath, where)
    root = folder.resolve()
    target = (folder / relpath).resolve()
    if target != root and root not in target.parents:
        raise VitrineError(f"{where} names {relpath!r}, which leads outside its model folder (a link?): "
                           "refusing it; export the model again")
    return folder / relpath


def file_entry(folder: Path, relpath: str, progress: Callable[[int], None] | None = None) -> FileEntry:
    p = folder / relpath
    return FileEntry(path=relpath, sha256=sha256_file(p, progress), size=p.stat().st_size)
