"""Devices: which runtime and device run the image encoder, llama.cpp's layers and the ONNX graphs (engine/devices.py),
and OpenVINO as an encoder runtime (engine/runtime/backends/openvino_vision.py). CPU only: nothing here needs a GPU."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import BadInput, VitrineError
from engine.media.frames import Frame
from engine.models.manifest import Manifest, file_entry
from engine.runtime.backends import GenerationOptions, load_backend
from engine.devices import Device, Placement, Present, check_device, resolve
from engine.settings import Settings
from tests.helpers import run_cli

openvino = pytest.importorskip("openvino")      # the dev extra installs it; the CPU device is always there

CPU_ONLY = Present(openvino=("CPU",), ort_providers=("CPUExecutionProvider",))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """OpenVINO's compiled models and the encoder timings in this test's own cache folder."""
    monkeypatch.setenv("VITRINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VITRINE_DEVICE", raising=False)
    return tmp_path / "cache"


def frame(seed=0, size=64):
    return Frame(np.random.RandomState(seed).randint(0, 255, (size, size, 3), dtype=np.uint8), f"f{seed}")


def answer(backend, f, question="What is this?", n=12):
    image = backend.encode(f)
    return backend.generate(image, question, GenerationOptions(max_tokens=n, ban_eos=True)).text


# Frames whose greedy answers differ on the tiny random models (12 tokens): were the answers the same whatever the
# image, "the same answer" would prove nothing about the encoder.
PROBES = [frame(s) for s in range(4)] + [Frame(np.full((64, 64, 3), v, np.uint8), f"flat{v}") for v in (0, 255)]


def same_answers(a, b):
    ours, theirs = [answer(a, f) for f in PROBES], [answer(b, f) for f in PROBES]
    assert len(set(theirs)) > 1, "the answers do not depend on the image: this comparison cannot fail"
    assert ours == theirs


# ---------------------------------------------------------------------------------------------- choosing a device

def test_auto_picks_what_is_present():
    plain = resolve("auto", CPU_ONLY)
    assert plain.ort_providers == ("CPUExecutionProvider",) and plain.n_gpu_layers == 0 and plain.encoder is None
    cuda = Present(openvino=("CPU",), ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
                   llama_gpu=True)
    auto = resolve(None, cuda)
    assert auto.device is Device.AUTO
    assert auto.ort_providers[0] == "CUDAExecutionProvider" and auto.n_gpu_layers == -1
    igpu = Present(openvino=("CPU", "GPU.0", "NPU"))
    assert resolve("gpu", igpu).encoder == "GPU" and resolve("NPU", igpu).encoder == "NPU"
    assert igpu.names() == ["cpu", "gpu", "npu"]
    # half a CUDA install is used for the half it has, and says so
    ort_only = resolve("cuda", Present(ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider")))
    assert ort_only.n_gpu_layers == 0 and "llama.cpp has no GPU backend" in ort_only.notes[0]


def test_cpu_is_the_cpu_only_placement_whatever_is_present():
    everything = Present(openvino=("CPU", "GPU", "NPU"), llama_gpu=True,
                         ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    cpu = resolve("cpu", everything)
    assert cpu == Placement(Device.CPU) and cpu.ort_providers == ("CPUExecutionProvider",)
    assert cpu.n_gpu_layers == 0 and cpu.encoder is None


def test_an_absent_device_is_refused_in_one_line_naming_what_is_present():
    for word in ("gpu", "npu", "cuda"):
        with pytest.raises(BadInput) as e:
            resolve(word, CPU_ONLY)
        msg = str(e.value)
        assert "\n" not in msg and f"--device {word}" in msg and msg.endswith("present: cpu")
    with pytest.raises(BadInput, match="one of auto, cpu, gpu, npu, cuda"):
        check_device("tpu")


def test_the_cli_refuses_an_absent_device_before_loading_anything(media_dir):
    # no model is installed: the device is refused first, in one line, with exit status 2
    present = {d for d in ("gpu", "npu") if resolve_ok(d)}
    absent = next(d for d in ("npu", "gpu", "cuda") if d not in present and not resolve_ok(d))
    r = run_cli("ask", media_dir / "look.png", "What is this?", "--device", absent)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "present: cpu" in r.stderr
    r = run_cli("ask", media_dir / "look.png", "What is this?", env={"VITRINE_DEVICE": "quantum"})
    assert r.returncode == 2 and "VITRINE_DEVICE must be one of" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("eval", "x.jsonl", "--model", "m", "--out", "run", "--device", absent)
    assert r.returncode == 2 and "present: cpu" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("catalog", "--device", absent, "search", "--text", "vestido")
    assert r.returncode == 2 and "present: cpu" in r.stderr and "Traceback" not in r.stderr


def resolve_ok(word):
    try:
        resolve(word)
        return True
    except BadInput:
        return False


# ------------------------------------------------------------------------------------------- OpenVINO as encoder

def test_openvino_on_the_cpu_gives_onnxruntimes_features_and_answer(tiny_onnx_fp32, tiny_onnx_int8):
    from engine.runtime.backends.onnx import OnnxBackend
    from engine.runtime.backends.onnx_vision import SAME_GRAPH_COSINE, OnnxVision, cosine
    for folder in (tiny_onnx_fp32, tiny_onnx_int8):
        ort = OnnxVision.open(folder / "vision_encoder.onnx", folder, 2)
        ov = OnnxVision.open(folder / "vision_encoder.onnx", folder, 2, openvino="CPU")
        assert ov.describe().startswith("OpenVINO CPU")
        for seed in range(3):
            assert cosine(ov.features(frame(seed)), ort.features(frame(seed))) >= SAME_GRAPH_COSINE
    manifest = Manifest.load(tiny_onnx_fp32)
    files = {r: e.path for r, e in manifest.files.items() if r in ("vision", "embed", "decoder")}
    with OnnxBackend(tiny_onnx_fp32, files=files, threads=2) as before, \
            OnnxBackend(tiny_onnx_fp32, files=files, threads=2,
                        placement=Placement(Device.AUTO, encoder="CPU")) as on_openvino:
        assert on_openvino.device_note.startswith("OpenVINO CPU")
        same_answers(on_openvino, before)


def test_the_compiled_model_is_kept_and_used_on_the_second_load(tiny_onnx_fp32, own_cache):
    from engine.runtime.backends.openvino_vision import open_openvino, openvino_cache
    first = open_openvino(tiny_onnx_fp32 / "vision_encoder.onnx", 2)
    assert not first.loaded_from_cache and openvino_cache() == own_cache / "openvino"
    assert any(p.is_file() for p in openvino_cache().rglob("*"))
    second = open_openvino(tiny_onnx_fp32 / "vision_encoder.onnx", 2)
    assert second.loaded_from_cache


@pytest.mark.parametrize("capabilities, hint", [(["BF16", "FP32", "INT8"], "bf16"), (["FP32", "INT8"], "f32")])
def test_the_int8_model_runs_its_float_parts_in_bf16_only_where_the_cpu_computes_bf16(tmp_path, monkeypatch,
                                                                                      capabilities, hint):
    """OpenVINO's int8 model keeps float parts (attention's softmax, the norms, the connector's projection): bf16
    where the CPU has AVX512-BF16 or AMX (AMD EPYC Zen 5, SmolVLM-256M's encoder: 2.2 s a frame against 3.5 s with
    f32, a loaded machine, alternating), f32 where it does not (emulated bf16 is slower there). The CPU's features
    faked: what OpenVINO lists, and what Vitrine asks its compiler for."""
    from openvino import opset13 as ops

    from engine.runtime.backends.openvino_vision import open_openvino
    x = ops.parameter([1, 3, 8, 8], np.float32, name="pixel_values")
    y = ops.matmul(ops.reshape(x, ops.constant(np.array([1, 192], np.int64)), False),
                   ops.constant(np.ones((192, 4), np.float32)), False, False)
    xml = tmp_path / "vision_encoder_openvino_int8.xml"
    openvino.save_model(openvino.Model([y], [x]), str(xml))
    asked = []

    class Core(openvino.Core):
        def get_property(self, device, name, *rest):
            if name == "OPTIMIZATION_CAPABILITIES":
                return list(capabilities)
            return super().get_property(device, name, *rest)

        def compile_model(self, model, device=None, config=None):
            asked.append(dict(config or {}))
            return super().compile_model(model, device, config or {})
    monkeypatch.setattr(openvino, "Core", Core)
    session = open_openvino(xml, 2)
    assert session.precision == "int8" and asked and asked[-1]["INFERENCE_PRECISION_HINT"] == hint
    assert asked[-1]["INFERENCE_NUM_THREADS"] == 2
    assert session.run(None, {"pixel_values": np.ones((1, 3, 8, 8), np.float32)})[0].shape == (1, 4)


def test_a_graph_openvino_cannot_read_is_one_line(tmp_path):
    from engine.runtime.backends.openvino_vision import open_openvino
    bad = tmp_path / "vision_encoder.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(VitrineError) as e:
        open_openvino(bad, 2)
    assert "\n" not in str(e.value) and "--device cpu" in str(e.value)


# ------------------------------------------------------------------------------------------------- hybrid model

@pytest.fixture(scope="module")
def tiny_hybrid_built(tmp_path_factory, tiny_gguf, tiny_onnx_int8, tiny_onnx_fp32):
    """A hybrid folder made by hand from the tiny model's GGUF pair and its ONNX vision graphs (one checkpoint),
    its encoders timed once per module (OpenVINO's int8 model is built then: NNCF takes a while)."""
    out = tmp_path_factory.mktemp("built") / "tiny-hybrid"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VITRINE_CACHE", str(out.parent / "cache"))
        return _build_tiny_hybrid(out, tiny_gguf, tiny_onnx_int8, tiny_onnx_fp32)


@pytest.fixture
def tiny_hybrid(tmp_path, tiny_hybrid_built):
    """This test's own copy (tests rewrite its manifest)."""
    return Path(shutil.copytree(tiny_hybrid_built, tmp_path / "tiny-hybrid"))


def _build_tiny_hybrid(out, tiny_gguf, tiny_onnx_int8, tiny_onnx_fp32):
    (out / "gguf").mkdir(parents=True)
    (out / "onnx").mkdir()
    for f in ("text-Q8_0.gguf", "mmproj-f16.gguf"):
        shutil.copy(tiny_gguf / f, out / "gguf" / f)
    for f in ("vision_encoder.onnx", "config.json", "preprocessor_config.json"):
        shutil.copy(tiny_onnx_int8 / f, out / "onnx" / f)
    shutil.copy(tiny_onnx_fp32 / "vision_encoder.onnx", out / "onnx" / "vision_encoder_fp32.onnx")
    files = {"model": "gguf/text-Q8_0.gguf", "mmproj": "gguf/mmproj-f16.gguf", "vision": "onnx/vision_encoder.onnx",
             "vision_float": "onnx/vision_encoder_fp32.onnx", "config": "onnx/config.json",
             "preprocessor": "onnx/preprocessor_config.json"}
    gguf = Manifest.load(tiny_gguf)
    from engine.runtime.backends.hybrid import measure_vision_encoders
    vision = measure_vision_encoders(out / files["model"], out / files["mmproj"], out / files["vision"], 2,
                                     runs=2, vision_float=out / files["vision_float"])
    m = Manifest(name="tiny-hybrid", runtime="hybrid", family="idefics3",
                 files={r: file_entry(out, p) for r, p in files.items()}, chat_handler=gguf.chat_handler,
                 languages=["en"], quant="Q8_0", source="test", extra={"vision": vision})
    m.save(out)
    return out


def test_every_encoder_here_is_timed_and_the_fastest_that_agrees_is_chosen(tiny_hybrid):
    vision = Manifest.load(tiny_hybrid).extra["vision"]
    assert {"mmproj", "onnx-int8", "onnx-fp32", "openvino-cpu"} <= set(vision["encoders"])
    # agreeing: the same graph's features within SAME_GRAPH_COSINE of onnxruntime's, and the projector's within
    # MIN_COSINE (the record lists them; the tiny random model's int8 graph may fall between the two thresholds)
    agreeing = {n: vision["encoders"][n] for n in vision["agreeing"]}
    assert agreeing and all(vision["cosines"][n] >= 0.9 for n in agreeing)
    # the record keeps times to 0.1 ms: the tiny model's encoders (8-12 ms) can tie there on a loaded machine, and
    # min() of a tie takes the first listed (the whole suite, beside a benchmark, failed once so)
    assert agreeing[vision["choice"]] == min(agreeing.values())
    assert vision["cpu_choice"] in ("onnx-int8", "mmproj") and " ms here" in vision["why"]
    assert "OpenVINO CPU" in vision["why"]


def test_the_hybrid_answers_alike_on_openvino_and_cpu_is_todays_path(tiny_hybrid):
    from engine.runtime.backends.hybrid import HybridBackend
    m = Manifest.load(tiny_hybrid)
    with HybridBackend(tiny_hybrid, m, threads=2, vision="onnx-int8") as today, \
            HybridBackend(tiny_hybrid, m, threads=2, vision="openvino-cpu") as ov:
        assert ov.device_note.startswith("OpenVINO CPU") and today.device_note == "onnxruntime CPU"
        same_answers(ov, today)
    # --device cpu: onnxruntime or libmtmd as measured without OpenVINO, whatever the record chose
    recorded = dict(m.extra["vision"], choice="openvino-cpu", graph="vision_float")
    m.extra["vision"] = recorded
    m.save(tiny_hybrid)
    with load_backend(str(tiny_hybrid), device="cpu", settings=Settings.from_env()) as b:
        assert b.vision_choice == recorded["cpu_choice"] and "OpenVINO" not in b.device_note
    with load_backend(str(tiny_hybrid), device="auto", settings=Settings.from_env()) as b:
        assert b.vision_choice == "openvino-cpu"


def test_auto_falls_back_when_the_recorded_device_is_gone(monkeypatch):
    from engine.runtime.backends import hybrid
    monkeypatch.setattr(hybrid, "present", lambda: Present(openvino=("CPU",)))
    rec = {"choice": "openvino-gpu", "cpu_choice": "mmproj"}
    assert hybrid.HybridBackend.choose(rec, Placement(Device.AUTO)) == "mmproj"
    assert hybrid.HybridBackend.choose({"choice": "onnx-int8"}, Placement(Device.CPU)) == "onnx-int8"
    assert hybrid.HybridBackend.choose({}, Placement(Device.GPU, encoder="GPU")) == "openvino-gpu"


def test_openvino_int8_is_built_beside_the_float_graph_with_the_float_layers_left_float(tiny_hybrid):
    import re

    from engine.runtime.backends.openvino_vision import FC2, FLOAT_LAYERS, OPENVINO_INT8
    vision = Manifest.load(tiny_hybrid).extra["vision"]
    assert "openvino-int8-cpu" in vision["encoders"] and "OpenVINO CPU int8" in vision["why"]
    xml = tiny_hybrid / "onnx" / OPENVINO_INT8
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    model = openvino.Core().read_model(str(xml))
    fed = [t.get_node().get_friendly_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
           for t in op.output(0).get_target_inputs()]
    assert len(fed) >= 5, "nothing was quantized"
    assert any("fc1" in n for n in fed)
    fc2 = sorted({op.get_friendly_name() for op in model.get_ops() if FC2.match(op.get_friendly_name())},
                 key=lambda n: int(FC2.match(n).group(1)))
    assert fc2 and fc2[0] not in fed and set(fc2[1:]) <= set(fed)       # the others: two_layer_encoder's test
    assert not [n for n in fed if any(re.match(p, n) for p in FLOAT_LAYERS)]
    assert any(re.match(p, op.get_friendly_name()) for op in model.get_ops() for p in FLOAT_LAYERS)


def two_layer_encoder(path, width=32):
    """An ONNX graph named as the exported encoders are (two layers of fc1 -> GELU -> fc2, a residual each)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    nodes, inits, x = [], [], "pixel_values"
    for i in range(2):
        p = f"/encoder/layers.{i}/mlp"
        for name, shape in ((f"{p}/fc1.weight", (width, 4 * width)), (f"{p}/fc2.weight", (4 * width, width))):
            inits.append(numpy_helper.from_array(rng.randn(*shape).astype(np.float32) * 0.2, name))
        nodes += [helper.make_node("MatMul", [x, f"{p}/fc1.weight"], [f"{p}/h"], name=f"{p}/fc1/MatMul"),
                  helper.make_node("Gelu", [f"{p}/h"], [f"{p}/g"], name=f"{p}/act/Gelu", domain=""),
                  helper.make_node("MatMul", [f"{p}/g", f"{p}/fc2.weight"], [f"{p}/o"], name=f"{p}/fc2/MatMul"),
                  helper.make_node("Add", [x, f"{p}/o"], [f"{p}/out"], name=f"{p}/Add")]
        x = f"{p}/out"
    nodes.append(helper.make_node("Identity", [x], ["image_features"], name="image_features"))
    graph = helper.make_graph(nodes, "enc", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                                                           [1, 64, width])],
                              [helper.make_tensor_value_info("image_features", TensorProto.FLOAT, [1, 64, width])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def test_openvino_int8_keeps_the_first_layers_fc2_float_and_quantizes_the_others(tmp_path):
    """Every MLP output layer (fc2) int8 made SmolVLM-256M's encoder 18% cheaper at cosine 0.994 (SmoothQuant
    alpha 0.5); the first layer's stays float (the fine-tuned test model then changes no more answers)."""
    pytest.importorskip("nncf")
    from engine.runtime.backends.openvino_vision import FC2, quantize_int8
    graph = two_layer_encoder(tmp_path / "vision_encoder_fp32.onnx")
    rng = np.random.RandomState(1)
    xml = quantize_int8(graph, tmp_path / "int8.xml",
                        [{"pixel_values": rng.randn(1, 64, 32).astype(np.float32)} for _ in range(4)])
    model = openvino.Core().read_model(str(xml))
    fed = {t.get_node().get_friendly_name() for op in model.get_ops() if op.get_type_name() == "FakeQuantize"
           for t in op.output(0).get_target_inputs()}
    fc2 = sorted(op.get_friendly_name() for op in model.get_ops()
                 if op.get_type_name() == "MatMul" and FC2.match(op.get_friendly_name()))
    assert fc2 == ["/encoder/layers.0/mlp/fc2/MatMul", "/encoder/layers.1/mlp/fc2/MatMul"]
    assert "/encoder/layers.0/mlp/fc2/MatMul" not in fed and "/encoder/layers.1/mlp/fc2/MatMul" in fed
    assert {"/encoder/layers.0/mlp/fc1/MatMul", "/encoder/layers.1/mlp/fc1/MatMul"} <= fed


def test_the_hybrid_runs_openvino_int8_when_recorded_and_cpu_stays_todays(tiny_hybrid):
    from engine.runtime.backends.hybrid import HybridBackend
    from engine.runtime.backends.openvino_vision import OPENVINO_INT8
    m = Manifest.load(tiny_hybrid)
    m.files["vision_openvino"] = file_entry(tiny_hybrid, f"onnx/{OPENVINO_INT8}")
    m.files["vision_openvino_weights"] = file_entry(tiny_hybrid, "onnx/" + OPENVINO_INT8.replace(".xml", ".bin"))
    m.extra["vision"] = dict(m.extra["vision"], choice="openvino-int8-cpu", graph="vision_openvino")
    m.save(tiny_hybrid)
    with load_backend(str(tiny_hybrid), device="auto", threads=2, settings=Settings.from_env()) as b:
        assert b.vision_choice == "openvino-int8-cpu" and b.device_note == "OpenVINO CPU int8"
        assert b.vision.session.compiled is not None
    with load_backend(str(tiny_hybrid), device="cpu", threads=2, settings=Settings.from_env()) as b:
        assert b.vision_choice == m.extra["vision"]["cpu_choice"] and "OpenVINO" not in b.device_note
    with HybridBackend(tiny_hybrid, m, threads=2, vision="openvino-cpu") as b:      # the float graph, as before
        assert b.device_note.startswith("OpenVINO CPU") and "int8" not in b.device_note


def test_openvino_is_warmed_up_once_loaded_so_the_first_frame_does_not_pay_it(tiny_hybrid, monkeypatch):
    """OpenVINO's first inference costs ~100 ms more than the next (SmolVLM-256M int8, 495 then 390 ms): the
    hybrid runs one blank tile once its text model has loaded, and the first frame's encode waits for it rather
    than running beside it. onnxruntime needs no warm-up (~15 ms): none."""
    from engine.runtime.backends.hybrid import HybridBackend
    from engine.runtime.backends.openvino_vision import OpenVinoSession
    fed = []
    real = OpenVinoSession.run
    monkeypatch.setattr(OpenVinoSession, "run", lambda self, names, feeds: fed.append(feeds["pixel_values"].copy())
                        or real(self, names, feeds))
    m = Manifest.load(tiny_hybrid)
    with HybridBackend(tiny_hybrid, m, threads=2, vision="openvino-cpu") as b:
        b.encode(frame(5))
        assert len(fed) == 2 and b._warming is None
        assert np.ptp(fed[0]) == 0 and np.ptp(fed[1]) > 0        # the blank tile first, then the frame
    fed.clear()
    with HybridBackend(tiny_hybrid, m, threads=2, vision="onnx-int8") as b:
        assert b._warming is None
        b.encode(frame(5))
    assert fed == []


def test_a_published_int8_graph_is_rebuilt_float_for_openvino(tiny_onnx_int8, tiny_onnx_fp32, tmp_path):
    """A pulled model has onnxruntime's dynamic-int8 vision graph only: its float form (weights dequantized,
    activations float) describes images as the int8 graph does, with no integer op left."""
    import onnx

    from engine.runtime.backends.onnx_vision import OnnxVision, cosine
    from engine.runtime.backends.openvino_vision import float_from_dynamic_int8
    folder = tmp_path / "onnx"
    folder.mkdir()
    for f in ("config.json", "preprocessor_config.json"):
        shutil.copy(tiny_onnx_int8 / f, folder / f)
    rebuilt = float_from_dynamic_int8(tiny_onnx_int8 / "vision_encoder.onnx", folder / "float.onnx")
    ops = {n.op_type for n in onnx.load(str(rebuilt)).graph.node}
    assert not ops & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear"} and "MatMul" in ops
    int8 = OnnxVision.open(tiny_onnx_int8 / "vision_encoder.onnx", tiny_onnx_int8, 2)
    flt = OnnxVision.open(rebuilt, folder, 2)
    for seed in range(3):
        assert cosine(flt.features(frame(seed)), int8.features(frame(seed))) >= 0.999
    with pytest.raises(VitrineError) as e:          # already float: nothing to rebuild
        float_from_dynamic_int8(tiny_onnx_fp32 / "vision_encoder.onnx", folder / "again.onnx")
    assert "\n" not in str(e.value) and not (folder / "again.onnx").exists()


# ----------------------------------------------------------------------------------------------- today's path

def test_device_cpu_is_todays_onnx_path_with_the_same_answer(tiny_onnx_fp32):
    from engine.runtime.backends.onnx import OnnxBackend
    manifest = Manifest.load(tiny_onnx_fp32)
    files = {r: e.path for r, e in manifest.files.items() if r in ("vision", "embed", "decoder")}
    with OnnxBackend(tiny_onnx_fp32, files=files, threads=2) as before, \
            load_backend(str(tiny_onnx_fp32), device="cpu", threads=2, settings=Settings.from_env()) as cpu:
        assert all(s.get_providers() == ["CPUExecutionProvider"] for s in cpu.sessions.values())
        assert cpu.device_note == "onnxruntime CPU"
        same_answers(cpu, before)


def test_ask_says_where_it_ran_and_cpu_answers_as_before(installed_tiny, media_dir):
    args = ("ask", media_dir / "look.png", "What is this?", "--max-tokens", "4")
    plain, cpu = run_cli(*args), run_cli(*args, "--device", "cpu")
    assert plain.returncode == 0 and cpu.returncode == 0, plain.stderr + cpu.stderr
    assert cpu.stdout == plain.stdout
    assert "· CPU ·" in cpu.stderr


def test_bench_names_the_cpu_and_lists_every_encoder_with_the_chosen_one():
    from export.bench.backends import cpu_name, format_bench
    assert "(" in cpu_name() and "AVX-512" in cpu_name()
    row = {"new_frame_ttft_s": 1.0, "followup_ttft_s": 0.1, "decode_tok_s": 50.0, "peak_rss_mb": 300.0}
    r = {"model": "random SmolVLM-256m", "frame_px": 512, "threads": 2, "cpu": "Some CPU (AMX, AVX-512)",
         "backend": "hybrid: ...", **row, "device": "OpenVINO CPU bf16",
         "reference": dict(row, new_frame_ttft_s=3.0), "reference_bf16": dict(row, new_frame_ttft_s=2.0),
         "reference_for_speedup": "transformers bf16", "speedup": {"new_frame_ttft": 2.0, "followup_ttft": 1.0,
                                                                   "decode": 1.0},
         "encoders": {"choice": "openvino-cpu", "why": "OpenVINO CPU bf16 encodes a frame in 158.0 ms ...",
                      "encoders": {"mmproj": 1.68, "onnx-int8": 0.34, "openvino-cpu": 0.158},
                      "cosines": {"mmproj": 1.0, "onnx-int8": 0.995, "openvino-cpu": 0.99995}}}
    text = format_bench(r)
    assert "Some CPU (AMX, AVX-512)" in text and "transf. bf16" in text and "ran on: OpenVINO CPU bf16" in text
    assert "against transformers bf16" in text
    listed = text.split("image encoders here")[1].splitlines()[1:4]
    assert [ln.split()[0] for ln in listed] == ["openvino-cpu", "onnx-int8", "mmproj"]      # fastest first
    assert "<- chosen" in next(ln for ln in text.splitlines() if ln.strip().startswith("openvino-cpu"))


def test_the_app_and_serve_get_their_device_from_vitrine_device(tiny_onnx_fp32, tiny_gguf, monkeypatch):
    # they call load_backend without a device: VITRINE_DEVICE (Settings) decides, through the same checks
    monkeypatch.setenv("VITRINE_DEVICE", "cpu")
    with load_backend(str(tiny_onnx_fp32), threads=2, settings=Settings.from_env()) as b:
        assert b.device_note == "onnxruntime CPU"
    from engine import devices
    monkeypatch.setattr(devices, "present", lambda: CPU_ONLY)
    monkeypatch.setenv("VITRINE_DEVICE", "npu")
    with pytest.raises(BadInput, match="present: cpu"):
        load_backend(str(tiny_onnx_fp32), threads=2, settings=Settings.from_env())
    # a GGUF model's encoder is libmtmd's: OpenVINO's GPU cannot take it, said in one line
    monkeypatch.setattr(devices, "present", lambda: Present(openvino=("CPU", "GPU")))
    with pytest.raises(BadInput, match="GGUF model"):
        load_backend(str(tiny_gguf / "text-Q8_0.gguf"), device="gpu", threads=2, settings=Settings.from_env())


def test_bench_gives_each_encoder_its_new_frame_speedup_against_the_faster_reference():
    from export.bench.backends import _encoder_speedups, format_bench
    enc = {"choice": "openvino-int8-cpu", "why": "OpenVINO CPU int8 encodes a frame in 200.0 ms ...",
           "encoders": {"openvino-int8-cpu": 0.2, "openvino-cpu": 0.3, "mmproj": 1.5},
           "cosines": {"openvino-int8-cpu": 0.992, "openvino-cpu": 0.9999, "mmproj": 1.0}}
    # the hybrid's new frame took 0.5 s, 0.3 s of it encoding: 0.2 s for the rest, whichever encoder
    enc["speedup"] = _encoder_speedups(enc, {"new_frame_ttft_s": 0.5, "image_encode_s": 0.3},
                                       {"new_frame_ttft_s": 1.0})
    assert enc["speedup"] == {"openvino-int8-cpu": 2.5, "openvino-cpu": 2.0, "mmproj": 0.59}
    row = {"new_frame_ttft_s": 0.5, "followup_ttft_s": 0.1, "decode_tok_s": 50.0, "peak_rss_mb": 300.0}
    text = format_bench({"model": "m", "frame_px": 512, "threads": 2, "backend": "hybrid: ...", **row,
                         "reference_for_speedup": "transformers bf16", "encoders": enc})
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("openvino-int8-cpu"))
    assert "2.50x" in line and "<- chosen" in line and "vs transformers bf16" in text


def test_the_bench_rebuilds_an_export_whose_recipe_changed(tmp_path, monkeypatch):
    """`vitrine bench` caches its real-dimension exports; each one's folder is keyed by the sources that build it,
    the OpenVINO int8 recipe (a runtime module) included, so a changed recipe is rebuilt, never measured stale."""
    from export.bench import backends
    for rel in ("export/convert/hybrid.py", "engine/runtime/backends/openvino_vision.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    monkeypatch.setattr(backends, "PROJECT_ROOT", tmp_path)
    key = backends._sources_key(*backends.EXPORT_SOURCES["hybrid"])
    assert backends._sources_key(*backends.EXPORT_SOURCES["hybrid"]) == key          # stable
    (tmp_path / "engine/runtime/backends/openvino_vision.py").write_text("x = 2\n")  # the int8 recipe changed
    assert backends._sources_key(*backends.EXPORT_SOURCES["hybrid"]) != key
