"""Every model family the tests can build goes the whole way: a tiny random checkpoint of the real architecture,
llama.cpp's converter, quantization, the store, and answers about a generated image — with follow-ups that reuse
the frame (the encoder runs once, and the follow-up's first-token logits equal a fresh full evaluation)."""
import json

import numpy as np
import pytest

from engine.media.frames import Frame
from engine.models.store import ModelStore
from engine import families
from engine.runtime.backends import GenerationOptions, load_backend
from engine.runtime.session import AskOptions, Session
from engine.settings import Settings
from tests.fixtures import models

OPTS = GenerationOptions(max_tokens=8, ban_eos=True)      # random weights: always generate 8 tokens
ASK = AskOptions(OPTS)
BUILT = ["idefics3", "minicpmv4_6", "llava"]                # families with an in-code tiny checkpoint


def frame(seed: int = 0, size=(240, 320)) -> Frame:
    return Frame(np.random.RandomState(seed).randint(0, 255, (*size, 3), dtype=np.uint8), f"random-{seed}")


@pytest.fixture(scope="module", params=BUILT)
def family_gguf(request):
    return request.param, models.tiny_gguf("Q8_0", "f16", family=request.param)


@pytest.fixture(scope="module")
def backend(family_gguf):
    b = load_backend(str(family_gguf[1]), threads=2, settings=Settings.from_env())
    yield b
    b.close()


def test_every_family_module_is_registered():
    fams = families.families()
    assert {"idefics3", "minicpmv4_6", "llava", "minicpmv"} <= set(fams)
    assert families.for_projector("minicpmv4_6").name == "minicpmv4_6"
    assert not fams["minicpmv"].tested          # MiniCPM-V 2.6/4.0: no tiny checkpoint can be built here


def test_export_import_and_answer(family_gguf, vitrine_home):
    family, folder = family_gguf
    m = ModelStore(vitrine_home / "models").import_folder(f"tiny-{family}", folder)
    assert m.manifest.family == family and m.manifest.quant == "Q8_0"
    with load_backend(f"tiny-{family}", threads=2, settings=Settings.from_env()) as b:
        answer = Session(b, settings=Settings.from_env()).ask(
            frame(), "What color are the pants?", AskOptions(OPTS, translate=False))
    assert answer.timings.n_tokens == 8 and answer.timings.image_encode_s > 0


def test_follow_up_reuses_the_frame_and_equals_a_fresh_evaluation(backend, monkeypatch):
    calls = []
    real = backend._mtmd.mtmd_encode_chunk
    monkeypatch.setattr(backend._mtmd, "mtmd_encode_chunk", lambda *a: calls.append(1) or real(*a))
    s = Session(backend, settings=Settings.from_env())
    f = frame(1)
    s.ask(f, "What is this?", AskOptions(OPTS, translate=False))
    n_encoder_runs = len(calls)
    image, reused = s.encoded(f)
    assert reused
    follow_up = backend.first_token_logits(image, "What color are the pants?")     # the reuse path
    assert len(calls) == n_encoder_runs                                             # no encoder run
    fresh = backend.teacher_forced_logits(image, "What color are the pants?", [])[0]  # prefix evaluated anew
    np.testing.assert_allclose(follow_up, fresh, atol=1e-4)
    # and again after a different question: the reuse path must not depend on what came before
    s.ask(f, "Describe the blouse in detail, please.", AskOptions(OPTS, translate=False))
    np.testing.assert_allclose(backend.first_token_logits(image, "What color are the pants?"), fresh, atol=1e-4)


def test_hybrid_models_restore_a_state_snapshot(family_gguf):
    family, folder = family_gguf
    with load_backend(str(folder), threads=2, settings=Settings.from_env()) as b:
        assert b.snapshots == (family == "minicpmv4_6")      # Qwen3.5 is hybrid: seq_rm cannot rewind it
        image = b.encode(frame(2))
        b.first_token_logits(image, "Hi?")
        assert (image.state.snapshot is not None) == b.snapshots


def test_one_view_by_default_more_with_tiles(family_gguf):
    family, folder = family_gguf
    with load_backend(str(folder), threads=2, tiles=1, settings=Settings.from_env()) as one, load_backend(str(folder), threads=2, tiles=4, settings=Settings.from_env()) as more:
        f = frame(3, size=(480, 640))
        if families.get(family).single_view:        # libmtmd slices: one view drops them unless --tiles asks
            assert one.encode(f).n_tokens < more.encode(f).n_tokens
        else:                                       # LLaVA: one 336 px view whatever --tiles says
            assert one.encode(f).n_tokens == more.encode(f).n_tokens == 576


class RefusingTranslator:
    name = "refusing"

    def translate(self, *a, **k):
        raise AssertionError("a multilingual model got a translated question")


def test_a_multilingual_model_gets_portuguese_as_it_is(vitrine_home):
    folder = models.tiny_gguf("Q8_0", "f16", family="minicpmv4_6")
    with load_backend(str(folder), threads=2, settings=Settings.from_env()) as b:
        assert "multi" in b.languages
        answer = Session(b, translator=RefusingTranslator(), settings=Settings.from_env()).ask(
            frame(), "Qual é a cor da calça?", ASK)
    assert answer.question_lang == "pt" and answer.question_model == "Qual é a cor da calça?"
    assert answer.answer_lang == "pt" and answer.text_model == ""      # the model's own words, not a translation


@pytest.mark.parametrize("family", BUILT)
def test_parity_with_transformers(family):
    """`vitrine parity` rows for each family: F16 >= 95% teacher-forced top-1 agreement, Q8_0 >= 90%."""
    from engine.runtime.backends.torch import TorchBackend
    from export.convert.parity import compare
    ckpt = models.tiny_checkpoint(family)
    ref = TorchBackend(ckpt, threads=2)
    f16 = compare(ckpt, "gguf", models.tiny_gguf("F16", "f16", family=family), reference=ref, variant="gguf-f16")
    q8 = compare(ckpt, "gguf", models.tiny_gguf("Q8_0", "f16", family=family), reference=ref, variant="gguf-q8_0")
    assert f16.teacher_forced_agreement >= 0.95 and f16.max_abs_logit_diff < 0.05, f16
    assert q8.teacher_forced_agreement >= 0.90, q8
    # the vision side: libmtmd and transformers give the same image embedding (LLaVA: all but the last of 576
    # tokens, which libmtmd 0.3.36's llava graph fills with the CLS token)
    assert f16.image_cosine > (0.85 if family == "llava" else 0.999), f16


def test_tinyllava_profile_downloads_the_checkpoint_and_converts_it(tmp_path, vitrine_home, media_dir):
    """No GGUF of TinyLLaVA is published: `models pull` fetches the transformers checkpoint (here from a fake hub
    on 127.0.0.1 serving the tiny one under the real repo name) and converts it on this machine."""
    from engine.models.profiles import PROFILES
    from tests.helpers import run_cli
    from tests.fixtures.hub import FakeHub
    profile = PROFILES["tinyllava-1.1b"]
    ckpt = models.tiny_checkpoint("llava")
    with FakeHub(tmp_path / "hub") as hub:
        for f in ckpt.iterdir():
            if f.is_file() and f.name != "vitrine-synthetic.json":
                hub.add(profile.repo, f.name, f)
        (hub.root / profile.repo / "README.md").write_text("not downloaded")
        r = run_cli("models", "pull", "tinyllava-1.1b", "--hub", hub.url)
        assert r.returncode == 0, r.stderr
        assert not any(p.endswith("README.md") for p, _ in hub.requests)
    m = ModelStore(vitrine_home / "models").get("tinyllava-1.1b")
    assert m.manifest.family == "llava" and m.manifest.quant == "Q8_0" and "converted here" in m.manifest.source
    assert not (vitrine_home / "models" / ".tinyllava-1.1b.pulling").exists()      # the checkpoint is gone
    assert run_cli("models", "verify", "tinyllava-1.1b").returncode == 0
    r = run_cli("ask", media_dir / "look.png", "What color are the pants?", "--model", "tinyllava-1.1b",
                "--max-tokens", "4")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("quant", ["fp32", "int8"])
def test_tinyllava_through_onnx(quant, vitrine_home):
    """TinyLLaVA in the onnx-community three-graph layout: fp32 is transformers (same tokens, logits within
    1e-5); int8 stays close; installed, it answers with follow-ups that skip the vision graph."""
    folder = models.tiny_onnx(quant, family="llava")
    p = json.loads((folder / "vitrine-model.json").read_text())["extra"]["parity"]
    if quant == "fp32":
        assert p["greedy_all_identical"] and p["max_abs_logit_diff"] < 1e-4 and p["image_cosine"] > 0.9999
    else:
        assert p["teacher_forced_agreement"] >= 0.85 and p["image_cosine"] > 0.99
    ModelStore(vitrine_home / "models").import_folder("tl-onnx", folder)
    with load_backend("tl-onnx", threads=2, settings=Settings.from_env()) as b:
        assert b.family.name == "llava"
        s = Session(b, settings=Settings.from_env())
        f = frame(4)
        first = s.ask(f, "What is this?", ASK)
        second = s.ask(f, "What color are the pants?", ASK)
    assert not first.reused_image and second.reused_image and s.encodes == 1


# ---------------------------------------------------------------------------------- MiniCPM-V 4.6's hybrid model

@pytest.fixture(scope="module")
def minicpm_hybrid():
    return models.tiny_hybrid("minicpmv4_6")


def _cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_minicpm_hybrid_round_trips_and_answers_as_its_gguf(minicpm_hybrid):
    """`vitrine export hybrid` of MiniCPM-V 4.6: its SigLIP2 tower and mergers in ONNX (int8) give the projector's
    features, libmtmd lays the prompt out from the weightless projector (the real one is never loaded while ONNX
    encodes), a frame of any shape is laid out as the square tile ONNX encodes, and the greedy answers are the
    GGUF pair's on that tile."""
    from engine.models.manifest import Manifest
    from engine.runtime.backends.gguf import GgufBackend
    from engine.runtime.backends.hybrid import HybridBackend
    folder = minicpm_hybrid
    m = Manifest.load(folder)
    assert m.runtime == "hybrid" and m.family == "minicpmv4_6"
    assert not (folder / "onnx" / "decoder_model_merged.onnx").exists()      # the vision graph alone
    assert m.files["layout"].size < m.files["mmproj"].size / 2
    assert m.extra["vision"]["cosine"] >= 0.99
    with HybridBackend(folder, m, threads=2, vision="onnx-int8") as h, \
            GgufBackend(folder / m.files["model"].path, folder / m.files["mmproj"].path, family="minicpmv4_6",
                        threads=2, tiles=1) as g:
        assert h.layout_only and h.device_note == "onnxruntime CPU"
        side = h.vision.image_size
        assert side == 448
        ours, theirs, logits = [], [], []
        # 16:9 video frames (libmtmd would lay one out as another grid: 66 tokens, not 64) and a tile
        for f in [frame(s, (360, 640)) for s in range(4)] + [frame(9, (side, side))]:
            tile = Frame(f.square_tile(side), f"tile-{f.key}")
            a, b = h.encode(f), g.encode(tile)
            assert a.key == f.key                      # the follow-up finds it by the frame's own key
            layout = [[len(s.tokens) if s.chunk is None else -1 for s in x.state.steps] for x in (a, b)]
            assert layout[0] == layout[1] and a.state.n_pos == b.state.n_pos
            assert _cosine(h.image_embedding(a), g.image_embedding(b)) >= 0.99
            logits.append((h.first_token_logits(a, "What is this?"), g.first_token_logits(b, "What is this?")))
            ours.append(h.generate(a, "What is this?", OPTS).text)
            theirs.append(g.generate(b, "What is this?", OPTS).text)
    assert ours == theirs
    # the tiny random model's greedy answer hardly depends on the image, so the logits say more: the two paths
    # differ far less on one frame than two frames differ on one path
    between_paths = max(float(np.abs(x - y).max()) for x, y in logits)
    between_frames = min(float(np.abs(logits[i][1] - logits[i + 1][1]).max()) for i in range(len(logits) - 1))
    assert between_paths < between_frames / 5, (between_paths, between_frames)
    assert all(int(x.argmax()) == int(y.argmax()) for x, y in logits)


def test_minicpm_vision_graph_computes_transformers_own_features(tmp_path):
    """What `export hybrid` traces for MiniCPM-V 4.6 (fixed reshapes, batched window attention) gives
    get_image_features' tokens of one 448 px tile, image by image in a batch."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

    from export.families import build_checkpoint, families
    ckpt = build_checkpoint("minicpmv4_6", tmp_path / "ckpt", "tiny")
    model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.float32).eval()
    tiles = [np.random.RandomState(s).randint(0, 255, (448, 448, 3), dtype=np.uint8) for s in (0, 1)]
    processor = MiniCPMV4_6ImageProcessorPil.from_pretrained(ckpt)
    x = (torch.tensor(np.stack(tiles), dtype=torch.float32).permute(0, 3, 1, 2) / 255 - 0.5) / 0.5
    with torch.no_grad():
        ours = families()["minicpmv4_6"].onnx_vision(model)(x)
        for i, tile in enumerate(tiles):
            packed = processor(Image.fromarray(tile), slice_mode=False, return_tensors="pt")
            theirs = model.model.get_image_features(packed["pixel_values"], packed["target_sizes"]).pooler_output[0]
            assert theirs.shape == ours[i].shape == (64, model.config.text_config.hidden_size)
            torch.testing.assert_close(ours[i], theirs, atol=1e-5, rtol=1e-4)


def test_a_heavy_float_graph_is_chosen_only_when_much_faster(minicpm_hybrid, monkeypatch):
    """OpenVINO on MiniCPM-V 4.6's 2.2 GB float graph peaked at 5.3 GB answering, onnxruntime int8 at 1.9: a float
    graph over HEAVY_FLOAT_BYTES must beat int8 by HEAVY_FLOAT_SPEEDUP to be chosen (here it never can)."""
    from engine.models.manifest import Manifest
    from engine.runtime.backends import hybrid
    m = Manifest.load(minicpm_hybrid)
    if "vision_float" not in m.files:
        pytest.skip("no float graph was kept: no encoder here runs it faster")
    path = {role: minicpm_hybrid / e.path for role, e in m.files.items()}
    monkeypatch.setattr(hybrid, "HEAVY_FLOAT_BYTES", 0)
    monkeypatch.setattr(hybrid, "HEAVY_FLOAT_SPEEDUP", 1e9)
    v = hybrid.measure_vision_encoders(path["model"], path["mmproj"], path["vision"], 2, runs=1,
                                       vision_float=path["vision_float"])
    assert v["choice"] in ("onnx-int8", "mmproj") and "float graph" in v["why"], v
