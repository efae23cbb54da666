"""The model store: import, verify, remove, and pull from a hub (a local fake one on 127.0.0.1)."""
import socket

import numpy as np
import pytest

from engine.backends.base import GenerationOptions
from engine.errors import VitrineError
from engine.frames import Frame
from engine.manifest import Manifest
from engine.models import PROFILES, ModelStore

PROFILE = PROFILES["smolvlm-256m"]


@pytest.fixture
def store(vitrine_home):
    return ModelStore(vitrine_home / "models")


def test_import_files_then_list_verify_remove(store, tiny_gguf):
    m = store.import_files("mine", tiny_gguf / "text-Q8_0.gguf", tiny_gguf / "mmproj-f16.gguf")
    assert m.manifest.family == "idefics3" and m.manifest.quant == "Q8_0" and m.manifest.runtime == "gguf"
    assert [x.name for x in store.installed()] == ["mine"]
    assert store.verify() == {"mine": []}
    # flip one byte: verify must notice
    p = m.path("model")
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    assert "sha256" in store.verify("mine")["mine"][0]
    store.remove("mine")
    assert store.installed() == [] and not m.folder.exists()


def test_import_exported_folder_keeps_its_manifest(store, tiny_gguf):
    m = store.import_folder("tiny2", tiny_gguf)
    assert m.manifest.name == "tiny2" and m.manifest.files == Manifest.load(tiny_gguf).files


def test_import_refuses_truncated_and_swapped_files(store, tiny_gguf, tmp_path):
    half = tmp_path / "half.gguf"
    half.write_bytes((tiny_gguf / "text-Q8_0.gguf").read_bytes()[:50_000])
    with pytest.raises(VitrineError, match="truncated"):
        store.import_files("x", half, tiny_gguf / "mmproj-f16.gguf")
    with pytest.raises(VitrineError, match="not a text model"):
        store.import_files("x", tiny_gguf / "mmproj-f16.gguf", tiny_gguf / "text-Q8_0.gguf")
    assert store.installed() == []          # nothing half-installed


def test_unknown_model_names_the_fix(store):
    with pytest.raises(VitrineError, match="not installed: run `vitrine models pull smolvlm-256m`"):
        store.get("smolvlm-256m")
    with pytest.raises(VitrineError, match="not a known model"):
        store.get("gpt-9")


def test_pull_downloads_in_hub_layout_and_records_sha256(store, hub):
    m = store.pull("smolvlm-256m-gguf", hub.url)
    assert m.manifest.source == f"{PROFILE.repo}@main" and m.manifest.runtime == "gguf"
    assert {e.path for e in m.manifest.files.values()} == set(PROFILE.files.values())
    assert store.verify("smolvlm-256m-gguf") == {"smolvlm-256m-gguf": []}
    assert all(path.startswith(f"/{PROFILE.repo}/resolve/main/") for path, _ in hub.requests)


def test_the_default_pull_is_a_hybrid_whose_vision_encoder_was_timed_here(store, hub):
    from engine.backends import load_backend
    from engine.backends.hybrid import HybridBackend
    m = store.pull("smolvlm-256m", hub.url)
    assert m.manifest.runtime == "hybrid"
    onnx_repo = PROFILE.more[0].repo
    assert {p.split("/resolve/")[0].strip("/") for p, _ in hub.requests} == {PROFILE.repo, onnx_repo}
    assert m.manifest.files["vision"].path == "onnx/vision_encoder.onnx"
    vision = m.manifest.extra["vision"]
    assert vision["choice"] in ("onnx-int8", "onnx-fp32", "mmproj", "openvino-cpu") and "ms here" in vision["why"] and vision["cosine"] > 0.9
    assert store.verify("smolvlm-256m") == {"smolvlm-256m": []}
    from tests.conftest import run_cli
    listed = next(line for line in run_cli("models", "list").stdout.splitlines() if line.startswith("smolvlm-256m "))
    assert f"hybrid, vision encoder {vision['choice']}: {vision['why']}" in listed
    with load_backend("smolvlm-256m", store=store, threads=1) as b:
        assert isinstance(b, HybridBackend) and b.vision_choice == vision["choice"]
        image = b.encode(Frame(np.full((64, 64, 3), 200, np.uint8), "pulled"))
        assert b.generate(image, "What is this?", GenerationOptions(max_tokens=3, ban_eos=True)).n_tokens == 3


def test_pull_resumes_after_a_dropped_connection(store, hub):
    hub.drop_after = 40_000
    with pytest.raises(VitrineError, match="again to resume"):
        store.pull("smolvlm-256m", hub.url)
    assert store.installed() == []
    store.pull("smolvlm-256m", hub.url)
    ranges = [r for _, r in hub.requests if r]
    assert ranges == ["bytes=40000-"]               # the second attempt asked only for the rest
    assert store.verify() == {"smolvlm-256m": []}


def test_pull_rejects_corrupted_download(store, hub):
    hub.corrupt_next = True
    with pytest.raises(VitrineError, match="corrupted"):
        store.pull("smolvlm-256m", hub.url)
    store.pull("smolvlm-256m", hub.url)             # a clean retry works
    assert store.verify() == {"smolvlm-256m": []}


def test_pull_offline_says_how_to_import_by_hand(store):
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(VitrineError) as e:
        store.pull("smolvlm-256m", f"http://127.0.0.1:{port}")
    msg = str(e.value)
    assert "\n" not in msg and "vitrine models import smolvlm-256m --model" in msg


def test_pull_unknown_name(store, hub):
    with pytest.raises(VitrineError, match="unknown model"):
        store.pull("nope", hub.url)
