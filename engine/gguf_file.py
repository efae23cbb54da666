"""Read a GGUF file's header without loading it: what it is (text model or projector) and whether it is whole.

llama.cpp answers a truncated or foreign file with a crash or a vague error; reading the header first lets us
say exactly what is wrong ("truncated: 41 MB of 98 MB", "this is a projector, not a text model").
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VitrineError

QK_K = 256
# ggml type id -> (block size in elements, bytes per block); from gguf-py's GGML_QUANT_SIZES
TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18), 42: (64, 18),
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass
class GgufInfo:
    path: Path
    metadata: dict = field(repr=False)
    n_tensors: int
    expected_size: int
    actual_size: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def is_projector(self) -> bool:
        return self.architecture == "clip"

    @property
    def complete(self) -> bool:
        return self.actual_size >= self.expected_size


class _Reader:
    def __init__(self, f, size: int):
        self.f = f
        self.size = size

    def take(self, fmt: str):
        n = struct.calcsize(fmt)
        raw = self.f.read(n)
        if len(raw) != n:
            raise EOFError
        return struct.unpack(fmt, raw)[0]

    def string(self) -> str:
        n = self.take("<Q")
        if n > self.size - self.f.tell():     # never allocate more than the file could hold
            raise EOFError
        raw = self.f.read(n)
        if len(raw) != n:
            raise EOFError
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True):
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, n = self.take("<I"), self.take("<Q")
            if n > self.size - self.f.tell():     # each item takes at least a byte
                raise EOFError
            if itype in _SCALARS and not keep:  # skip big arrays (token lists) without decoding them
                self.f.seek(struct.calcsize(_SCALARS[itype]) * n, 1)
                return None
            items = [self.value(itype, keep) for _ in range(n)]
            return items if keep else None
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf(path: Path | str) -> GgufInfo:
    """Parse the header of a GGUF file; raise VitrineError with one actionable line if it is not usable."""
    path = Path(path)
    if not path.is_file():
        raise VitrineError(f"model file not found: {path}")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise VitrineError(f"{path.name} is not a GGUF model file (wrong header): pick the .gguf file "
                                   "you downloaded or exported")
            r = _Reader(f, size)
            version = r.take("<I")
            if version < 2:
                raise VitrineError(f"{path.name} is an old GGUF v{version} file: convert it again with a "
                                   "current llama.cpp")
            n_tensors, n_kv = r.take("<Q"), r.take("<Q")
            if n_tensors > size or n_kv > size:
                raise EOFError
            meta = {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.take("<I")
                # token tables are huge and not needed here
                meta[key] = r.value(vtype, keep=not key.startswith("tokenizer.ggml."))
            end = 0
            for _ in range(n_tensors):
                r.string()
                dims = [r.take("<Q") for _ in range(r.take("<I"))]
                ttype, offset = r.take("<I"), r.take("<Q")
                block, nbytes = TYPE_SIZES.get(ttype, (1, 0))
                n = 1
                for d in dims:
                    n *= d
                end = max(end, offset + n // block * nbytes)
            align = meta.get("general.alignment", 32)
            if not isinstance(align, int) or isinstance(align, bool) or not 1 <= align <= 1 << 20:
                raise ValueError(f"bad alignment {align!r}")
            data_start = (f.tell() + align - 1) // align * align
    except EOFError:
        raise VitrineError(f"{path.name} is truncated (its header is cut off): download or copy it again, "
                           "then run `vitrine models verify`") from None
    except OSError as e:
        from .errors import os_error_message
        raise VitrineError(os_error_message(e, f"reading {path.name}")) from None
    except (ValueError, struct.error, UnicodeDecodeError, RecursionError, OverflowError, MemoryError) as e:
        raise VitrineError(f"{path.name} is not a valid GGUF file ({e}): download or export it again") from None
    return GgufInfo(path=path, metadata=meta, n_tensors=n_tensors, expected_size=data_start + end,
                    actual_size=size)


def check_gguf(path: Path | str, role: str) -> GgufInfo:
    """``role`` is "model" (the text model) or "mmproj" (the vision projector)."""
    info = read_gguf(path)
    if not info.complete:
        raise VitrineError(
            f"{info.path.name} is truncated ({info.actual_size / 1e6:.1f} MB of {info.expected_size / 1e6:.1f} MB): "
            "download or copy it again (`vitrine models pull NAME` resumes)")
    if role == "model" and info.is_projector:
        raise VitrineError(f"{info.path.name} is a vision projector (mmproj), not a text model: pass it as "
                           "--mmproj and the text model as --model")
    if role == "mmproj" and not info.is_projector:
        raise VitrineError(f"{info.path.name} is a text model, not a vision projector: pass the mmproj-*.gguf "
                           "file that came with it as --mmproj")
    return info
