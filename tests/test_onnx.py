"""ONNX export, the onnxruntime backend, and agreement of every exported variant with transformers."""
import json
import shutil
import sys

import numpy as np
import pytest

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.models.manifest import Manifest
from engine.runtime.backends import GenerationOptions, load_backend
from engine.runtime.session import AskOptions, Session
from engine.settings import Settings
from tests.helpers import ROOT, run_cli

OPTS = GenerationOptions(max_tokens=12, ban_eos=True)
ASK = AskOptions(OPTS)


def frame(seed=0):
    return Frame(np.random.RandomState(seed).randint(0, 255, (90, 120, 3), dtype=np.uint8), f"r{seed}")


def test_export_layout_and_manifest(tiny_onnx_int8):
    names = {p.name for p in tiny_onnx_int8.iterdir()}
    assert {"vision_encoder.onnx", "embed_tokens.onnx", "decoder_model_merged.onnx", "tokenizer.json",
            "config.json", "preprocessor_config.json", "vitrine-model.json"} <= names
    m = Manifest.load(tiny_onnx_int8)
    assert m.runtime == "onnx" and m.quant == "int8" and m.problems(tiny_onnx_int8) == []
    assert {"greedy_identical_tokens", "teacher_forced_agreement", "max_abs_logit_diff", "image_cosine"} <= set(
        m.extra["parity"])


def test_fp32_onnx_is_transformers(tiny_onnx_fp32):
    # Same fp32 arithmetic up to operator order: measured max |logit diff| 2e-7 on the tiny model.
    p = Manifest.load(tiny_onnx_fp32).extra["parity"]
    assert p["greedy_all_identical"] and p["teacher_forced_agreement"] == 1.0
    assert p["max_abs_logit_diff"] < 1e-4 and p["image_cosine"] > 0.99999


def test_int8_onnx_stays_close(tiny_onnx_int8):
    # Measured on the tiny random model: teacher-forced top-1 93.8%, max |logit diff| 0.010, image cosine 0.9999.
    # Free-running greedy agreement is unstable on random weights (nearly flat logits: one flip changes the rest),
    # hence the teacher-forced figure.
    p = Manifest.load(tiny_onnx_int8).extra["parity"]
    assert p["teacher_forced_agreement"] >= 0.85 and p["max_abs_logit_diff"] < 0.05 and p["image_cosine"] > 0.999


def test_gguf_variants_agree_with_transformers(tiny_checkpoint, tiny_gguf, tiny_gguf_f16):
    from export.convert.parity import compare
    # Measured: F16 teacher-forced 96.9%, max |diff| 0.007; Q8_0 93.8%, max |diff| 0.011.
    f16 = compare(tiny_checkpoint, "gguf", tiny_gguf_f16)
    q8 = compare(tiny_checkpoint, "gguf", tiny_gguf)
    assert f16.teacher_forced_agreement >= 0.9 and f16.max_abs_logit_diff < 0.05
    assert q8.teacher_forced_agreement >= 0.85 and q8.max_abs_logit_diff < 0.05
    assert f16.image_cosine > 0.99 and q8.image_cosine > 0.99


def test_follow_up_skips_vision_and_image_prefill(tiny_onnx_int8, monkeypatch):
    b = load_backend(str(tiny_onnx_int8), settings=Settings.from_env())
    calls = []
    real = b.vision.session.run

    class Counting:
        def run(self, *a, **k):
            calls.append(1)
            return real(*a, **k)
    monkeypatch.setattr(b.vision, "session", Counting())
    s = Session(b, conversation_turns=0, settings=Settings.from_env())
    f = frame(1)
    first = s.ask(f, "What color are the pants?", ASK)
    again = s.ask(f, "What color are the pants?", ASK)
    other = s.ask(f, "Describe the blouse.", ASK)
    assert len(calls) == 1 and again.reused_image and other.reused_image
    assert again.text == first.text and first.timings.n_tokens == 12


def test_onnx_backend_streams_and_stops(tiny_onnx_fp32):
    import threading
    b = load_backend(str(tiny_onnx_fp32), settings=Settings.from_env())
    pieces, cancel = [], threading.Event()

    def on_token(p):
        pieces.append(p)
        if len(pieces) == 2:
            cancel.set()
    a = Session(b, settings=Settings.from_env()).ask(
        frame(2), "Describe everything.", AskOptions(GenerationOptions(max_tokens=40, ban_eos=True)),
        on_token=on_token, cancel=cancel)
    assert a.stopped and a.timings.n_tokens < 40 and "".join(pieces).strip() == a.text


def test_cli_export_import_ask_without_torch(tiny_checkpoint, tmp_path, media_dir):
    out = tmp_path / "shop-onnx"
    r = run_cli("export", "onnx", tiny_checkpoint, "--quant", "int8", "--out", out, "--name", "shop-onnx")
    assert r.returncode == 0, r.stderr
    assert "agreement with transformers" in r.stdout
    assert run_cli("models", "import", "shop-onnx", "--from", out).returncode == 0
    r = run_cli("ask", media_dir / "look.png", "What is this?", "--model", "shop-onnx", "--max-tokens", "4", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"] == "shop-onnx"
    # onnxruntime alone at run time: neither torch nor transformers is imported
    code = ("import sys, numpy as np; from engine.runtime.backends import load_backend; "
            "from engine.runtime.session import AskOptions, Session;"
            "from engine.media.frames import Frame; from engine.runtime.backends.base import GenerationOptions;"
            "from engine.settings import Settings;"
            f"s = Settings.from_env(); b = load_backend({str(out)!r}, settings=s);"
            " Session(b, settings=s).ask(Frame(np.zeros((64, 64, 3), np.uint8)), 'Hi?',"
            " AskOptions(GenerationOptions(max_tokens=3), translate=False));"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    import subprocess
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.strip() == "False False", r.stderr


def test_broken_onnx_folders_get_one_clear_line(tiny_onnx_fp32, tmp_path, media_dir):
    def broken(name, fix):
        d = tmp_path / name
        shutil.copytree(tiny_onnx_fp32, d)
        (d / "vitrine-model.json").unlink()       # a bare folder, as copied by hand
        fix(d)
        return d
    missing = broken("missing", lambda d: (d / "decoder_model_merged.onnx").unlink())
    corrupt = broken("corrupt", lambda d: (d / "vision_encoder.onnx").write_bytes(b"\x08\x01garbage" * 100))
    wrong = broken("wrong", lambda d: shutil.copy(d / "embed_tokens.onnx", d / "vision_encoder.onnx"))
    from engine.runtime.backends.onnx import OnnxBackend
    with pytest.raises(VitrineError, match="has no decoder_model_merged.onnx"):
        OnnxBackend(missing)
    with pytest.raises(VitrineError, match="vision_encoder.onnx is damaged"):
        OnnxBackend(corrupt)
    with pytest.raises(VitrineError, match="does not take pixel_values"):
        OnnxBackend(wrong)
    # and through the CLI: one line, no traceback
    from engine.models.manifest import file_entry
    for d in (missing, corrupt):
        files = {r: file_entry(d, n) for r, n in (("vision", "vision_encoder.onnx"), ("embed", "embed_tokens.onnx"),
                                                  ("decoder", "decoder_model_merged.onnx")) if (d / n).exists()}
        Manifest(name=d.name, runtime="onnx", family="idefics3", files=files).save(d)
        r = run_cli("ask", media_dir / "look.png", "Hi?", "--model", d)
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_parity_cli_unsupported_architecture(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_vl"}')
    r = run_cli("parity", tmp_path)
    assert r.returncode == 2 and "not 'qwen2_vl'" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    r = run_cli("parity", tmp_path)
    assert r.returncode == 2 and "no weights" in r.stderr and "Traceback" not in r.stderr


def test_import_a_published_onnx_folder(tiny_onnx_int8, tmp_path, media_dir):
    """The onnx-community layout: graphs under onnx/ with a variant suffix, no vitrine manifest."""
    pub = tmp_path / "SmolVLM-published"
    (pub / "onnx").mkdir(parents=True)
    for f in tiny_onnx_int8.iterdir():
        if f.suffix == ".onnx":
            shutil.copy(f, pub / "onnx" / f.name.replace(".onnx", "_int8.onnx"))
        elif f.name != "vitrine-model.json":
            shutil.copy(f, pub / f.name)
    r = run_cli("models", "import", "published", "--from", pub)
    assert r.returncode == 2 and "--variant" in r.stderr
    assert run_cli("models", "import", "published", "--from", pub, "--variant", "_int8").returncode == 0
    r = run_cli("ask", media_dir / "look.png", "Hi?", "--model", "published", "--max-tokens", "3")
    assert r.returncode == 0, r.stderr


def test_a_hybrid_model_runs_the_faster_vision_encoder_and_says_why(tiny_checkpoint, tmp_path, media_dir):
    out = tmp_path / "shop-hybrid"
    r = run_cli("export", "hybrid", tiny_checkpoint, "--out", out, "--name", "shop-hybrid")
    assert r.returncode == 0, r.stderr
    vision = Manifest.load(out).extra["vision"]
    assert vision["choice"] in ("onnx-int8", "onnx-fp32", "mmproj", "openvino-cpu", "openvino-int8-cpu") and vision["cosine"] > 0.98   # the same image, both ways
    assert not (out / "onnx" / "decoder_model_merged.onnx").exists()      # llama.cpp's text model, not ONNX's
    assert run_cli("models", "import", "shop-hybrid", "--from", out).returncode == 0
    listed = run_cli("models", "list").stdout
    assert f"vision encoder {vision['choice']}" in listed and " ms here" in listed
    r = run_cli("ask", media_dir / "look.png", "What is this?", "What color?", "--model", "shop-hybrid",
                "--max-tokens", "4", "--json")
    assert r.returncode == 0, r.stderr
    first, second = json.loads(r.stdout)
    assert second["reused_image"] and second["turn"] == 1
    # the ONNX encoder really feeds llama.cpp, and a hybrid of one checkpoint answers like its GGUF otherwise
    from engine.runtime.backends.hybrid import HybridBackend
    b = load_backend(str(out), settings=Settings.from_env())
    assert isinstance(b, HybridBackend)
    forced = HybridBackend(out, Manifest.load(out), vision="onnx-int8")
    f = frame(3)
    feats = forced.image_embedding(forced.encode(f))
    np.testing.assert_allclose(feats, forced.vision.features(f), atol=1e-6)
    # (MiniCPM-V 4.6, refused here before, exports its vision encoder alone now: test_families.py's hybrid test)


def test_the_hubs_vision_layout_feeds_the_same_features(tiny_onnx_int8, tmp_path):
    from engine.runtime.backends.onnx_vision import OnnxVision
    from tests.fixtures import models
    for f in ("config.json", "preprocessor_config.json"):
        shutil.copy(tiny_onnx_int8 / f, tmp_path / f)
    ours = OnnxVision.open(tiny_onnx_int8 / "vision_encoder.onnx", tiny_onnx_int8, 1)
    hubs = OnnxVision.open(models.published_vision_layout(tiny_onnx_int8 / "vision_encoder.onnx",
                                                   tmp_path / "vision_encoder_int8.onnx"), tmp_path, 1)
    assert len(hubs.inputs["pixel_values"].shape) == 5 and "pixel_attention_mask" in hubs.inputs
    f = frame(4)
    np.testing.assert_allclose(hubs.features(f), ours.features(f), atol=1e-6)


def test_the_vision_preprocessing_is_one_lookup_per_pixel_with_the_same_values():
    """A frame's pixels are normalised through a per-channel table of the 256 uint8 values (1.3 ms at 512 px
    instead of 5.7 for the float arithmetic on every pixel), to the same float32 values, bit for bit."""
    from types import SimpleNamespace

    from engine.runtime.backends.onnx_vision import OnnxVision
    session = SimpleNamespace(get_inputs=lambda: [SimpleNamespace(name="pixel_values", shape=[None, 3, 32, 32],
                                                                    type="tensor(float)")])
    pre = {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
           "rescale_factor": 0.00392156862745098}
    vision = OnnxVision(session, {"vision_config": {"image_size": 32}}, pre)
    rgb = np.random.RandomState(3).randint(0, 256, (32, 32, 3), dtype=np.uint8)
    mean, std = np.array(pre["image_mean"], np.float32), np.array(pre["image_std"], np.float32)
    expected = ((rgb.astype(np.float32) * pre["rescale_factor"] - mean) / std).transpose(2, 0, 1)[None]
    got = vision.preprocess(Frame(rgb, "lut"))
    assert got.dtype == np.float32 and got.shape == (1, 3, 32, 32) and got.flags.c_contiguous
    assert np.array_equal(got, expected)
    assert vision.feeds(Frame(rgb, "lut"))["pixel_values"].shape == (1, 3, 32, 32)
    # the values come from the table: a table of the channel's index makes every pixel that index
    vision._lut = np.repeat(np.arange(3, dtype=np.float32)[:, None], 256, axis=1)
    assert np.array_equal(vision.preprocess(Frame(rgb, "lut"))[0, :, 5, 7], [0, 1, 2])
