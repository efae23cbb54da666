"""A weightless vision projector: the prompt layout of a real one, none of its weights.

A hybrid model encodes images with ONNX, but libmtmd still lays the prompt out (how many image tokens, the
text around them, their positions), and for that it loads a projector GGUF whole: MiniCPM-V 4.6's f16 projector
is 1.1 GB of resident memory that never encodes a frame. This writes a copy with the same metadata (image size,
patch size, merge factor, projector type, output width: everything the layout reads) and the same tensors at a
tiny width (vision hidden 16, zeros), so libmtmd loads it in a few MB and lays out the same chunks. The real
projector stays beside it for when libmtmd must encode (`engine/runtime/backends/hybrid.py`).

gguf-py comes from the llama.cpp source the converter uses (PyPI's gguf is too old for these files).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from engine.errors import VitrineError
from export.convert.gguf import llama_cpp_source

log = logging.getLogger(__name__)
WIDTH = 16                  # the vision hidden size of the stub (one attention head of 16)
LAYOUT_NAME = "mmproj-layout.gguf"


def _gguf():
    path = str(llama_cpp_source() / "gguf-py")
    if path not in sys.path:
        sys.path.insert(0, path)
    import gguf
    return gguf


def _value(reader, key: str) -> int:
    field = reader.fields.get(key)
    if field is None:
        raise VitrineError(f"the projector has no {key}: it cannot be laid out without its weights")
    return int(field.contents())


def write_layout_projector(src: Path, dest: Path) -> Path:
    """Write ``dest``, the weightless copy of the projector ``src``; VitrineError if its widths cannot be told
    apart (then the hybrid keeps loading the real one)."""
    import numpy as np
    gguf = _gguf()
    r = gguf.GGUFReader(src)
    e = _value(r, "clip.vision.embedding_length")
    f = _value(r, "clip.vision.feed_forward_length")
    out = _value(r, "clip.vision.projection_dim")
    # every width of the vision tower and its mergers is one of these: shrink each, keep the rest (patch size,
    # channels, position table, the text model's width the projector ends in)
    widths: dict[int, int] = {}
    for old, new in ((e, WIDTH), (4 * e, 4 * WIDTH), (f, 4 * WIDTH), (4 * f, 16 * WIDTH)):
        if widths.setdefault(old, new) != new:
            raise VitrineError(f"{src.name}: its widths coincide ({e}, {f}): no weightless layout for it")
    overrides = {"clip.vision.embedding_length": WIDTH, "clip.vision.feed_forward_length": 4 * WIDTH,
                 "clip.vision.attention.head_count": 1}
    tmp = dest.with_name(f".{dest.name}.tmp")
    w = gguf.GGUFWriter(tmp, arch=str(r.fields["general.architecture"].contents()))
    for field in r.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = overrides.get(field.name, field.contents())
        w.add_key_value(field.name, value, vtype, sub_type=sub)
    for t in r.tensors:
        dims = [int(d) for d in t.shape]           # ggml order: the input width first
        new = []
        for i, d in enumerate(dims):
            keep = t.name.startswith("mm.") and d == out and i == len(dims) - 1   # the projector's output
            new.append(d if keep or d not in widths else widths[d])
        dtype = np.float32 if t.tensor_type == gguf.GGMLQuantizationType.F32 or len(dims) == 1 else np.float16
        w.add_tensor(t.name, np.zeros(tuple(reversed(new)), dtype))
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: weightless layout projector %s (%.1f MB instead of %.0f MB)", src.name, dest.name,
             dest.stat().st_size / 1e6, src.stat().st_size / 1e6)
    return dest
