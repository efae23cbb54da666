"""The manifest beside every installed or exported model: which files, their hashes, how to run them."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .errors import VitrineError
from .files import sha256_file, write_text_atomic

MANIFEST_NAME = "vitrine-model.json"


@dataclass
class FileEntry:
    path: str          # relative to the manifest's folder
    sha256: str
    size: int


@dataclass
class Manifest:
    name: str
    runtime: str                      # "gguf" (llama-cpp-python) or "onnx" (onnxruntime)
    family: str                       # "idefics3" (SmolVLM), "minicpmv", ...
    files: dict[str, FileEntry]       # role ("model", "mmproj", ...) -> file
    chat_handler: str = "mtmd"        # llama-cpp-python handler family: "mtmd" or "minicpmv"
    languages: list[str] = field(default_factory=lambda: ["en"])  # what the model understands
    quant: str = ""
    source: str = ""                  # where it came from (hub repo, checkpoint path)
    extra: dict = field(default_factory=dict)   # parity figures, export options...

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        d = dict(d)
        d["files"] = {k: FileEntry(**v) for k, v in d.get("files", {}).items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def load(cls, folder: Path | str) -> "Manifest":
        path = Path(folder) / MANIFEST_NAME
        if not path.is_file():
            raise VitrineError(f"no {MANIFEST_NAME} in {folder}: is this a folder written by `vitrine export`?")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise VitrineError(f"{path} is damaged ({e}): export or import the model again") from None

    def save(self, folder: Path | str) -> Path:
        path = Path(folder) / MANIFEST_NAME
        write_text_atomic(path, self.to_json() + "\n")
        return path

    def problems(self, folder: Path | str, progress: Callable[[int], None] | None = None) -> list[str]:
        """Re-hash every file; return one line per missing, truncated or altered file (empty = all good)."""
        out = []
        for role, entry in self.files.items():
            p = Path(folder) / entry.path
            if not p.is_file():
                out.append(f"{role}: {entry.path} is missing")
            elif p.stat().st_size != entry.size:
                out.append(f"{role}: {entry.path} has {p.stat().st_size} bytes, expected {entry.size}")
            elif sha256_file(p, progress) != entry.sha256:
                out.append(f"{role}: {entry.path} does not match its sha256 (corrupted)")
        return out


def file_entry(folder: Path, relpath: str, progress: Callable[[int], None] | None = None) -> FileEntry:
    p = folder / relpath
    return FileEntry(path=relpath, sha256=sha256_file(p, progress), size=p.stat().st_size)
