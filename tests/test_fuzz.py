"""Property-based fuzzing of what Vitrine reads from untrusted files: manifests and GGUF headers.

Whatever the bytes, the readers either accept the input or raise VitrineError (one line for the user); an
accepted manifest never names a file outside its own folder.
"""
from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import VitrineError
from engine.models.gguf_file import read_gguf
from engine.models.manifest import MANIFEST_NAME, Manifest, contained

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
paths = st.sampled_from(["text.gguf", "../x.gguf", "/etc/passwd", "a/../../b", "a\\..\\b", "", ".", "./a", "a//b",
                         "C:/x", "onnx/decoder.onnx", "..", "a/..", "\x00"]) | st.text(max_size=20)
entries = st.fixed_dictionaries({"path": paths, "sha256": st.sampled_from(["0" * 64, "x", "A" * 64]) | st.text(),
                                 "size": st.integers(-3, 10**12) | st.text(max_size=3) | st.booleans()})
manifests = st.fixed_dictionaries(
    {"name": st.text(max_size=12) | json_scalars, "runtime": st.sampled_from(["gguf", "onnx", "x"]) | json_scalars,
     "family": st.text(max_size=8), "files": st.dictionaries(st.sampled_from(["model", "mmproj", "vision", "embed",
                                                                               "decoder", "../r", "x"]),
                                                             entries | json_values, max_size=5) | json_values},
    optional={"languages": json_values, "extra": json_values, "quant": json_values, "chat_handler": json_values})


@FUZZ
@given(manifests)
def test_any_manifest_is_accepted_safely_or_refused_in_one_line(data):
    folder = Path(tempfile.mkdtemp())
    (folder / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    try:
        m = Manifest.load(folder)
    except VitrineError as e:
        assert "\n" not in str(e)
        return
    for entry in m.files.values():
        assert contained(folder, entry.path).resolve().is_relative_to(folder.resolve())
        assert not Path(entry.path).is_absolute() and ".." not in entry.path.split("/")


@FUZZ
@given(st.binary(max_size=400))
def test_any_manifest_bytes_are_refused_in_one_line(raw):
    folder = Path(tempfile.mkdtemp())
    (folder / MANIFEST_NAME).write_bytes(raw)
    try:
        Manifest.load(folder)
    except VitrineError as e:
        assert "\n" not in str(e)


def _kv(key: bytes, vtype: int, payload: bytes) -> bytes:
    return struct.pack("<Q", len(key)) + key + struct.pack("<I", vtype) + payload


# a plausible header, then fuzzed: counts, lengths and types near the edges are where readers break
headers = st.builds(
    lambda version, n_tensors, n_kv, body: b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body,
    st.integers(0, 4), st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)),
    st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)),
    st.one_of(st.binary(max_size=300),
              st.builds(lambda k, t, p: _kv(k, t, p), st.binary(max_size=20), st.integers(0, 14), st.binary(max_size=40)),
              st.builds(lambda n: _kv(b"general.architecture", 9, struct.pack("<IQ", 9, n)), st.integers(0, 2**64 - 1)),
              st.builds(lambda n: struct.pack("<Q", n) + b"abc", st.integers(0, 2**64 - 1))))


@FUZZ
@given(headers)
def test_any_gguf_header_is_read_or_refused_in_one_line(raw):
    path = Path(tempfile.mkdtemp()) / "m.gguf"
    path.write_bytes(raw)
    try:
        info = read_gguf(path)
    except VitrineError as e:
        assert "\n" not in str(e)
        return
    assert info.n_tensors >= 0 and info.expected_size >= 0


@FUZZ
@given(st.data())
def test_flipped_bytes_in_a_real_gguf_header(tiny_gguf, data):
    real = (tiny_gguf / "mmproj-f16.gguf").read_bytes()[:4096]
    raw = bytearray(real)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(4, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = Path(tempfile.mkdtemp()) / "m.gguf"
    path.write_bytes(bytes(raw))
    try:
        read_gguf(path)
    except VitrineError as e:
        assert "\n" not in str(e)


# ------------------------------------------------------------------ values, not only structure (issue 24)
import math  # noqa: E402
import shutil  # noqa: E402

from engine.models.gguf_file import check_gguf  # noqa: E402
from tests.fixtures.gguf_edit import numeric_keys, set_number  # noqa: E402

# the values a damaged file holds: not a number, infinite, zero, negative, huge, tiny
DAMAGED_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 1, 2, 3, 7, 999, 65_535, 2**31, 2**32 - 1,
                                   2**63, 1e-30, 1e30, -1e30, 0.5]) | st.integers(-2**40, 2**40) | st.floats()
GGUF_FILES = ("text-Q8_0.gguf", "mmproj-f16.gguf")


def _family_gguf(tiny_gguf, data) -> Path:
    """The tiny SmolVLM (llama text) or the tiny MiniCPM-V 4.6 (hybrid Qwen3.5 text): their numbers differ."""
    from tests.fixtures import models
    family = data.draw(st.sampled_from(["idefics3", "minicpmv4_6"]))
    return tiny_gguf if family == "idefics3" else models.tiny_gguf("Q8_0", "f16", family=family)


def _mutated(tiny_gguf, data) -> tuple[str, bytes, list[tuple[str, object]]]:
    file = data.draw(st.sampled_from(GGUF_FILES))
    raw = (tiny_gguf / file).read_bytes()
    keys = sorted(numeric_keys(raw))
    changes = []
    for _ in range(data.draw(st.integers(1, 3))):
        key, value = data.draw(st.sampled_from(keys)), data.draw(DAMAGED_NUMBERS)
        index = data.draw(st.none() | st.integers(0, 2))
        raw = set_number(raw, key, value, index)
        changes.append((key, value))
    return file, raw, changes


@FUZZ
@given(st.data())
def test_damaged_numbers_in_a_real_gguf_are_accepted_or_refused_in_one_line(tiny_gguf, data):
    """Cheap and many: the header checks alone, in this process (they never call llama.cpp)."""
    file, raw, _ = _mutated(_family_gguf(tiny_gguf, data), data)
    path = Path(tempfile.mkdtemp()) / file
    path.write_bytes(raw)
    try:
        check_gguf(path, "model" if file.startswith("text") else "mmproj")
    except VitrineError as e:
        assert "\n" not in str(e)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_model_with_damaged_numbers_answers_or_is_refused_in_one_line(tiny_gguf, data):
    """The whole way: `models import` of the mutated pair, whose trial run loads it in a child process. Whatever
    the numbers, this process never crashes: the model answers (and is installed) or one line refuses it and
    nothing is installed."""
    from engine.models.store import ModelStore
    from engine.models import trial as model_trial
    source = _family_gguf(tiny_gguf, data)
    file, raw, changes = _mutated(source, data)
    folder = Path(tempfile.mkdtemp())
    for name in GGUF_FILES:
        shutil.copy(source / name, folder / name)
    (folder / file).write_bytes(raw)
    store = ModelStore(folder / "store")
    base, model_trial.BASE_TIMEOUT_S = model_trial.BASE_TIMEOUT_S, 20.0   # a hang costs 20 s, not a minute
    try:
        m = store.import_files("fuzzed", folder / "text-Q8_0.gguf", folder / "mmproj-f16.gguf")
    except VitrineError as e:
        assert "\n" not in str(e), changes
        assert store.installed() == [] and not list(store.root.glob(".fuzzed*")), changes
    else:
        assert store.verify("fuzzed") == {"fuzzed": []} and m.folder.is_dir(), changes
    finally:
        model_trial.BASE_TIMEOUT_S = base
        shutil.rmtree(folder, ignore_errors=True)
