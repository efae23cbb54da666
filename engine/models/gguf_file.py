"""Read a GGUF file's header without loading it: what it is (text model or projector) and whether it is whole.

llama.cpp answers a truncated or foreign file with a crash or a vague error; reading the header first lets us
say exactly what is wrong ("truncated: 41 MB of 98 MB", "this is a projector, not a text model"). A well-formed file
with a damaged value is worse: llama.cpp asserts on it (exit 134, often nothing printed) or allocates gigabytes, so
the hyperparameters it trusts are checked here first (``check_hyperparameters``): finite, in range, and consistent
with the tensors the file really holds.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ModelFault, VitrineError, os_error_message

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
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)   # name -> dims (ggml order)
    array_lengths: dict[str, int] = field(default_factory=dict, repr=False)   # token tables read past, not kept

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

    def skip_strings(self, count: int) -> None:
        """Read past ``count`` strings (a 150k-token table) in 1 MB blocks: 4x faster than one read each."""
        buf, off = b"", 0
        unpack = struct.Struct("<Q").unpack_from
        for _ in range(count):
            if off + 8 > len(buf):
                buf, off = buf[off:] + self.f.read(1 << 20), 0
                if len(buf) < 8:
                    raise EOFError
            n = unpack(buf, off)[0]
            off += 8 + n
            if off > len(buf):              # a string longer than the block: skip the rest of it on disk
                if n > self.size:
                    raise EOFError
                self.f.seek(off - len(buf), 1)
                buf, off = b"", 0
        self.f.seek(off - len(buf), 1)      # give back what was read ahead
        if self.f.tell() > self.size:
            raise EOFError

    def value(self, vtype: int, keep: bool = True):
        """One value; with ``keep`` False an array is read past and only its length returned (``Skipped``)."""
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, n = self.take("<I"), self.take("<Q")
            if n > self.size - self.f.tell():     # each item takes at least a byte
                raise EOFError
            if not keep and itype in _SCALARS:    # skip big arrays (token lists) without decoding them
                self.f.seek(struct.calcsize(_SCALARS[itype]) * n, 1)
                return Skipped(n)
            if not keep and itype == _STRING:
                self.skip_strings(n)
                return Skipped(n)
            items = [self.value(itype, keep) for _ in range(n)]
            return items if keep else Skipped(n)
        raise ValueError(f"unknown GGUF value type {vtype}")


@dataclass(frozen=True)
class Skipped:
    """An array read past without keeping its items (a token table): how many it held."""
    length: int


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
            meta, lengths = {}, {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.take("<I")
                # token tables are huge and not needed here: only their length (the vocabulary's size)
                value = r.value(vtype, keep=not key.startswith("tokenizer.ggml."))
                if isinstance(value, Skipped):
                    lengths[key] = value.length
                else:
                    meta[key] = value
            end = 0
            tensors = {}
            for _ in range(n_tensors):
                tname = r.string()
                n_dims = r.take("<I")
                if n_dims > 8:          # ggml tensors have at most 4 dimensions
                    raise ValueError(f"tensor {tname[:60]!r} has {n_dims} dimensions")
                dims = [r.take("<Q") for _ in range(n_dims)]
                tensors[tname] = tuple(dims)
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
        raise VitrineError(os_error_message(e, f"reading {path.name}")) from None
    except (ValueError, struct.error, UnicodeDecodeError, RecursionError, OverflowError, MemoryError) as e:
        raise VitrineError(f"{path.name} is not a valid GGUF file ({e}): download or export it again") from None
    return GgufInfo(path=path, metadata=meta, n_tensors=n_tensors, expected_size=data_start + end,
                    actual_size=size, tensors=tensors, array_lengths=lengths)


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
    check_hyperparameters(info)
    return info


# -------------------------------------------------------------------------------------------- hyperparameters
MAX_LAYERS = 1024               # llama.cpp's own limit is 512 layers; no released model comes near
MAX_WIDTH = 1 << 17             # embedding / feed-forward widths
MAX_CONTEXT = 1 << 24           # trained context lengths: 1M-token models exist, 16M do not
MAX_IMAGE_SIZE = 8192           # pixels per side of one encoder view
MAX_PATCHES = 1 << 14           # patches per view (a 1024 px view of 8 px patches); attention is quadratic in it


def _show(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return f"[{', '.join(_show(v) for v in value[:4])}{', ...' if len(value) > 4 else ''}]"
    return repr(value)[:60]


def machine_memory() -> int:
    """The machine's physical memory in bytes (0 if unknown)."""
    try:
        import psutil
        return int(psutil.virtual_memory().total)
    except Exception:       # noqa: BLE001 - unknown memory: skip the comparison, the trial run still limits it
        return 0


class _Checker:
    """One file's metadata against the ranges and tensors llama.cpp relies on; the first problem is raised."""

    def __init__(self, info: GgufInfo):
        self.info, self.meta = info, info.metadata

    def bad(self, key: str, value, why: str) -> ModelFault:
        return ModelFault(f"{self.info.path.name} is damaged: {key} = {_show(value)} ({why}); llama.cpp would crash "
                          "on it: download or export the model again")

    def number(self, key: str, lo: float, hi: float, *, integer: bool = True, per_layer: int | None = None,
               required: bool = False):
        """The value of ``key`` (a number, or one per layer), each in [lo, hi]; None when absent."""
        if key not in self.meta:
            if required:
                raise ModelFault(f"{self.info.path.name} is damaged: it has no {key}; download or export the model "
                                 "again")
            return None
        value = self.meta[key]
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and per_layer is not None and len(value) != per_layer:
            raise self.bad(key, value, f"{len(value)} values where it has {per_layer} layers")
        for x in items:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (integer and not isinstance(x, int)):
                raise self.bad(key, x, "not a whole number" if integer else "not a number")
            if not math.isfinite(x):
                raise self.bad(key, x, "not a finite number")
            if not lo <= x <= hi:
                raise self.bad(key, x, f"must be from {_show(lo)} to {_show(hi)}")
        return value

    def finite_floats(self) -> None:
        """No NaN or infinity in any number the file states (none is meaningful, several are fatal)."""
        for key, value in self.meta.items():
            for x in value if isinstance(value, list) else [value]:
                if isinstance(x, float) and not math.isfinite(x):
                    raise self.bad(key, x, "not a finite number")

    def layers(self, key: str, prefix: str, extra: int = 0, exact: bool = True) -> int | None:
        """``key`` (a block count) against the ``prefix``N. tensors present: every index below it, and (``exact``)
        no more layers claimed than the file holds (``extra``: layers a converter may leave out, e.g. MTP)."""
        n = self.number(key, 1, MAX_LAYERS)
        if n is None:
            return None
        found = set()
        for name in self.info.tensors:
            if name.startswith(prefix):
                head = name[len(prefix):].split(".", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        if not found:
            raise self.bad(key, n, f"the file has no {prefix}N tensors at all")
        top = max(found) + 1
        if n > top + extra:
            raise self.bad(key, n, f"the file holds tensors for {top} layers")
        if exact and top > n + extra:
            raise self.bad(key, n, f"the file holds tensors for {top} layers")
        return n

    def dims(self, name: str) -> tuple[int, ...] | None:
        return self.info.tensors.get(name)


def _text_checks(c: _Checker) -> int:
    """A text model; returns the bytes it needs at a modest context (weights + KV cache)."""
    arch = c.info.architecture
    k = f"{arch}."
    nextn = c.number(k + "nextn_predict_layers", 0, 16) or 0
    n_layer = c.layers(k + "block_count", "blk.", extra=nextn)
    per = n_layer
    n_embd = c.number(k + "embedding_length", 1, MAX_WIDTH)
    c.number(k + "feed_forward_length", 0, MAX_WIDTH * 8, per_layer=per)
    c.number(k + "expert_feed_forward_length", 0, MAX_WIDTH * 8)
    n_ctx = c.number(k + "context_length", 1, MAX_CONTEXT)
    heads = c.number(k + "attention.head_count", 0, 4096, per_layer=per)
    heads_kv = c.number(k + "attention.head_count_kv", 0, 4096, per_layer=per)
    key_len = c.number(k + "attention.key_length", 1, 65536)
    c.number(k + "attention.value_length", 1, 65536)
    for eps in ("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"):
        c.number(k + eps, 1e-30, 0.1, integer=False)
    c.number(k + "rope.freq_base", 1e-6, 1e15, integer=False)
    c.number(k + "rope.scaling.factor", 0, 1e6, integer=False)
    c.number(k + "vocab_size", 1, 1 << 24)
    experts = c.number(k + "expert_count", 0, 4096)
    used = c.number(k + "expert_used_count", 0, 4096)
    if experts is not None and used is not None and used > experts:
        raise c.bad(k + "expert_used_count", used, f"more than the {experts} experts it has")
    for key in ("ssm.conv_kernel", "ssm.state_size", "ssm.time_step_rank", "ssm.group_count",
                "full_attention_interval"):
        c.number(k + key, 0, MAX_WIDTH * 8)
    head_list = heads if isinstance(heads, list) else [heads] if heads is not None else []
    kv_list = heads_kv if isinstance(heads_kv, list) else [heads_kv] * len(head_list) if heads_kv is not None else []
    if head_list and not any(head_list):
        raise c.bad(k + "attention.head_count", heads, "no layer has an attention head")
    for h, kv in zip(head_list, kv_list):
        if h and kv and (kv > h or h % kv):
            raise c.bad(k + "attention.head_count_kv", heads_kv, f"must divide the {h} attention heads")
    n_head = max(head_list, default=0)
    head_dim = key_len
    if n_embd and n_head and key_len is None:
        if n_embd % n_head:
            raise c.bad(k + "attention.head_count", heads, f"does not divide the embedding length {n_embd}")
        head_dim = n_embd // n_head
    # found by fuzzing the tiny Qwen3.5 (MiniCPM-V 4.6): a rotary width of 0 hangs llama.cpp, an odd one aborts it,
    # as do M-RoPE sections wider than it and an SSM width the tensors do not have
    rot = c.number(k + "rope.dimension_count", 2, 65536)
    if rot is not None and rot % 2:
        raise c.bad(k + "rope.dimension_count", rot, "must be even: dimensions rotate in pairs")
    if rot and head_dim and rot > head_dim:
        raise c.bad(k + "rope.dimension_count", rot, f"more than the {head_dim} dimensions of a head")
    sections = c.number(k + "rope.dimension_sections", 0, 65536)
    if sections is not None:
        total = sum(sections) if isinstance(sections, list) else sections
        if total < 1 or (rot and 2 * total > rot):
            raise c.bad(k + "rope.dimension_sections", sections,
                        f"must share out at most {rot // 2 if rot else 'half the rotary'} dimension pairs")
    inner = c.number(k + "ssm.inner_size", 0, MAX_WIDTH * 8)
    ssm_out = c.dims("blk.0.ssm_out.weight") or next((d for n, d in c.info.tensors.items()
                                                      if n.endswith(".ssm_out.weight")), None)
    if inner is not None and ssm_out and ssm_out[0] != inner:
        raise c.bad(k + "ssm.inner_size", inner, f"the ssm_out tensors take {ssm_out[0]} values")
    embd = c.dims("token_embd.weight")
    if embd and len(embd) >= 2:
        if n_embd is not None and embd[0] != n_embd:
            raise c.bad(k + "embedding_length", n_embd, f"token_embd.weight is {embd[0]} wide")
        n_vocab = c.info.array_lengths.get("tokenizer.ggml.tokens")
        if n_vocab is not None and n_vocab != embd[1]:
            raise c.bad("tokenizer.ggml.tokens", f"{n_vocab} tokens", f"token_embd.weight has {embd[1]} rows")
    # the KV cache at a modest context (Vitrine asks for a few thousand tokens at most)
    kv_heads = max(kv_list or head_list or [0])
    kv = 2 * 2 * (n_layer or 0) * min(n_ctx or 4096, 8192) * kv_heads * (head_dim or 0)
    return c.info.expected_size + kv


def _projector_checks(c: _Checker) -> int:
    """A vision projector (clip.*); returns the bytes encoding one view needs (weights + attention)."""
    v = "clip.vision."
    size = c.number(v + "image_size", 1, MAX_IMAGE_SIZE, required=c.meta.get("clip.has_vision_encoder") is True)
    patch = c.number(v + "patch_size", 1, MAX_IMAGE_SIZE, required=size is not None)
    n_embd = c.number(v + "embedding_length", 1, MAX_WIDTH)
    c.number(v + "feed_forward_length", 1, MAX_WIDTH * 8)
    c.number(v + "projection_dim", 1, MAX_WIDTH)
    heads = c.number(v + "attention.head_count", 1, 4096)
    c.number(v + "attention.layer_norm_epsilon", 1e-30, 0.1, integer=False)
    c.layers(v + "block_count", "v.blk.", exact=False)    # LLaVA's converter may keep a layer the model skips
    scale = c.number(v + "projector.scale_factor", 1, 64)      # 0 aborts MiniCPM-V 4.6's merger (fuzzed)
    c.number(v + "spatial_merge_size", 0, 64)
    for key in ("image_mean", "image_std"):
        values = c.number(v + key, -1e3 if key == "image_mean" else 1e-6, 1e3, integer=False)
        if values is not None and (not isinstance(values, list) or len(values) != 3):
            raise c.bad(v + key, values, "must be three numbers, one per colour")
    if n_embd and heads and n_embd % heads:
        raise c.bad(v + "attention.head_count", heads, f"does not divide the embedding length {n_embd}")
    if size is None or patch is None:
        return c.info.expected_size
    if patch > size:
        raise c.bad(v + "patch_size", patch, f"larger than the {size} px image")
    side = size // patch
    if side * side > MAX_PATCHES:
        raise c.bad(v + "image_size", size, f"{side * side} patches of {patch} px per view; at most {MAX_PATCHES}")
    if scale and scale > 1 and side % scale:
        raise c.bad(v + "projector.scale_factor", scale, f"does not divide the {side} patches a side")
    kernel = c.dims("v.patch_embd.weight")
    if kernel and len(kernel) == 4:
        if kernel[0] != patch or kernel[1] != patch:
            raise c.bad(v + "patch_size", patch, f"v.patch_embd.weight has {kernel[0]}x{kernel[1]} px patches")
        if n_embd is not None and kernel[3] != n_embd:
            raise c.bad(v + "embedding_length", n_embd, f"v.patch_embd.weight makes {kernel[3]} values a patch")
    pos = c.dims("v.position_embd.weight")
    positions = math.prod(pos[1:]) if pos and len(pos) >= 2 else None     # a table, or a grid of them
    if positions is not None and positions < side * side:
        raise c.bad(v + "image_size", size, f"{side * side} patches, and v.position_embd.weight has {positions} "
                    "positions")
    # one layer's attention scores (f32) and a few activations per patch, beside the weights
    n = side * side
    return c.info.expected_size + 4 * n * n * (heads or 1) + 4 * 16 * n * (n_embd or 0)


def check_hyperparameters(info: GgufInfo, memory: int | None = None) -> int:
    """Refuse, in one line naming the key and its value, what llama.cpp would assert on or over-allocate for;
    return the bytes the file implies it needs. ``memory``: the machine's (default: measured)."""
    c = _Checker(info)
    c.finite_floats()
    c.number("general.alignment", 1, 1 << 20)
    need = _projector_checks(c) if info.is_projector else _text_checks(c)
    memory = machine_memory() if memory is None else memory
    if memory and need > memory:
        raise ModelFault(f"{info.path.name} would need about {need / 1e9:.1f} GB of memory, more than the "
                         f"{memory / 1e9:.1f} GB this machine has: its settings are damaged, or it is far too large "
                         "for this computer")
    return need
