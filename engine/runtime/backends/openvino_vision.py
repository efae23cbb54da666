"""An ONNX vision graph run by OpenVINO (CPU, Intel iGPU or NPU), behind the part of onnxruntime's session API
that OnnxVision uses (``get_inputs``, ``run``), so the encoder's pre- and post-processing is written once.

Measured on a 2-vCPU Xeon with AMX (SmolVLM-256M's 512 px encoder, fp32 ONNX graph): OpenVINO with a bf16
inference precision 0.158 s a frame against onnxruntime's int8 graph 0.34 s, features at cosine 0.99995 to fp32.
OpenVINO on onnxruntime's dynamic-int8 graph was slower (0.95 s): that is not its int8 format, so the float graph
is the one to give it. Compiling takes seconds: compiled models are kept under Vitrine's cache folder
(OpenVINO's CACHE_DIR), so a second load, and every frame after the first, pays none of it.

Where the CPU has VNNI (int8 dot products) but no AMX, OpenVINO's own int8 model is the fast one: NNCF's
post-training quantization of the float graph, calibrated on a few frames (``quantize_int8``), saved as OpenVINO
IR beside the graphs. It is chosen only where its features agree with the float graph's (cosine >= 0.99).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.settings import cache_dir

log = logging.getLogger(__name__)
_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "i64": "tensor(int64)", "boolean": "tensor(bool)"}


@dataclass(frozen=True)
class _Port:
    """What onnxruntime's NodeArg tells: name, shape (None for a dynamic dimension), element type."""
    name: str
    shape: list
    type: str


def openvino_cache() -> Path:
    return cache_dir() / "openvino"


class OpenVinoSession:
    def __init__(self, compiled, device: str, precision: str, loaded_from_cache: bool, compile_s: float):
        self.compiled = compiled
        self.device = device
        self.precision = precision              # "bf16", "f32" or the device's own default ("")
        self.loaded_from_cache = loaded_from_cache
        self.compile_s = compile_s
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()           # one infer request: one frame at a time
        self._inputs = []
        for port in compiled.inputs:
            shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
            self._inputs.append(_Port(port.get_any_name(), shape,
                                      _TYPES.get(port.get_element_type().get_type_name(), "tensor(float)")))

    def get_inputs(self) -> list[_Port]:
        return list(self._inputs)

    def run(self, output_names, feeds: dict) -> list[np.ndarray]:
        with self._lock:
            result = self._request.infer(feeds)
            # the request reuses its output memory on the next frame: copy out
            outs = self.compiled.outputs if not output_names else [self.compiled.output(n) for n in output_names]
            return [np.array(result[o], copy=True) for o in outs]

    def describe(self) -> str:
        return f"OpenVINO {self.device}" + (f" {self.precision}" if self.precision else "")


def open_openvino(path: Path, threads: int, device: str = "CPU", bf16: bool | None = None,
                  image_size: int | None = None) -> OpenVinoSession:
    """``path``: an ONNX graph. On the CPU, bf16 inference precision where the CPU computes bf16 natively (AMX,
    AVX512-BF16; ``bf16`` None: asked of OpenVINO), f32 otherwise. The NPU needs static shapes: ``image_size``
    fixes pixel_values to one image of that size."""
    try:
        import openvino as ov
    except ImportError:
        raise VitrineError("OpenVINO is not installed: pip install 'vitrine[openvino]' (or choose --device cpu)") \
            from None
    core = ov.Core()
    cache = openvino_cache()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        core.set_property({"CACHE_DIR": str(cache)})
    except OSError as e:        # no cache: slower loads, same answers
        log.warning("OpenVINO's model cache %s is not writable (%s): compiling on every load", cache, e)
    config: dict = {"PERFORMANCE_HINT": "LATENCY"}
    precision = ""
    int8 = Path(path).suffix == ".xml"        # our IR is NNCF's int8 model (quantize_int8)
    if device == "CPU":
        if bf16 is None:
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        precision = "bf16" if bf16 else "f32"
        # without it OpenVINO takes every core, whatever --threads said
        config.update({"INFERENCE_NUM_THREADS": int(threads), "INFERENCE_PRECISION_HINT": precision})
    if int8:
        precision = "int8"
    t0 = time.perf_counter()
    try:
        if device.startswith("NPU") and image_size:
            model = core.read_model(str(path))
            model.reshape({p.get_any_name(): _static_shape(p, image_size) for p in model.inputs})
            compiled = core.compile_model(model, device, config)
        else:       # from the path: a cached blob is imported without reading the ONNX file
            compiled = core.compile_model(str(path), device, config)
    except Exception as e:      # OpenVINO raises RuntimeError for everything, from a bad file to a bad driver
        raise VitrineError(f"OpenVINO could not compile {Path(path).name} for {device} "
                           f"({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__}): "
                           "try --device cpu") from None
    try:
        cached = bool(compiled.get_property("LOADED_FROM_CACHE"))
    except Exception:
        cached = False
    session = OpenVinoSession(compiled, device, precision, cached, time.perf_counter() - t0)
    log.info("%s on %s in %.2fs%s", Path(path).name, session.describe(), session.compile_s,
             " (compiled model from the cache)" if cached else "")
    return session


# NNCF's calibration: a few frames are enough for the activation ranges of a ViT (more cost a second each on two
# cores and moved the cosine by < 0.001 at SmolVLM-256M's dimensions)
CALIBRATION_FRAMES = 8


# Layers whose inputs stay float: the connector's last projection (onnx-community's, our export's image_features),
# 1% of the work, and the first encoder layer's MLP output layer (first_fc2). Every fc2 (after GELU, whose outputs
# an 8-bit range covers badly) stayed float until SmoothQuant's alpha was lowered (SMOOTH_QUANT_ALPHA): float, those
# 12 layers were a third of the int8 model's time on a CPU without AMX (AMD EPYC Zen 5, AVX512-BF16 + VNNI: 500 of
# 1530 ms in OpenVINO's profile).
FLOAT_LAYERS = (r".*modality_projection.*MatMul.*", r"^image_features$")
FC2 = re.compile(r".*layers[./](\d+)[./]mlp[./]fc2.*MatMul.*")
# SmoothQuant moves each MatMul input's outlier channels into its weights by scale**alpha. NNCF's transformer default,
# 0.95, leaves fc2's GELU outputs badly covered: SmolVLM-256M's encoder (random weights at the real dimensions)
# with every layer int8 was at cosine 0.977 to the float graph; alpha 0.5, 0.994 (every fc2 float, alpha 0.95: 0.991),
# for 19% less CPU time a frame. With every fc2 int8 the fine-tuned test model changed one more near-tie answer of the
# synthetic set's dev rows than with every fc2 float; with the first layer's fc2 float, none more (see first_fc2).
SMOOTH_QUANT_ALPHA = 0.5


def first_fc2(names) -> list[str]:
    """The first encoder layer's fc2 MatMul(s) among ``names`` (node names), as exact patterns: it stays float.
    The first layer sees the patch embeddings themselves, whose range is the widest."""
    layers = {n: int(m.group(1)) for n in names if (m := FC2.match(n))}
    first = min(layers.values(), default=None)
    return [f"^{re.escape(n)}$" for n, i in layers.items() if i == first]


def quantize_int8(graph: Path, out: Path, feeds: list[dict]) -> Path:
    """OpenVINO's int8 model of the float ONNX graph ``graph``: NNCF post-training quantization (transformer
    preset: attention's softmax and the norms stay float; SmoothQuant at SMOOTH_QUANT_ALPHA; FLOAT_LAYERS and
    the first layer's fc2 float) with activation ranges from ``feeds`` (the encoder's inputs for a few frames).
    Written as OpenVINO IR, ``out`` (.xml) and its .bin, each through a temporary name: a stopped run leaves
    nothing half-written."""
    try:
        import nncf
        import openvino as ov
        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            AdvancedSmoothQuantParameters,
        )
    except ImportError:
        raise VitrineError("OpenVINO's int8 encoder needs openvino and nncf: pip install 'vitrine[openvino]'") \
            from None
    import contextlib
    import sys
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)          # its INFO lines are not ours to print
    try:
        model = ov.Core().read_model(str(graph))
        float_layers = list(FLOAT_LAYERS) + first_fc2(op.get_friendly_name() for op in model.get_ops())
        t0 = time.perf_counter()
        # its progress bars go to stdout: stderr, where progress belongs (stdout may carry JSON)
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds),
                                      model_type=nncf.ModelType.TRANSFORMER,
                                      ignored_scope=nncf.IgnoredScope(patterns=float_layers, validate=False),
                                      advanced_parameters=AdvancedQuantizationParameters(
                                          smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=SMOOTH_QUANT_ALPHA)))
    except Exception as e:      # NNCF and OpenVINO raise RuntimeError/ValueError/their own for a graph they refuse
        raise VitrineError(f"NNCF could not quantize {Path(graph).name} "
                           f"({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__})") \
            from None
    finally:
        nncf_log.setLevel(level)
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.partial.xml")
    ov.save_model(quantized, str(tmp))          # float constants left as f16, like any IR
    tmp.with_suffix(".bin").replace(out.with_suffix(".bin"))
    tmp.replace(out)
    log.info("%s: OpenVINO int8 model %s in %.1fs (%d calibration frames)", Path(graph).name, out.name,
             time.perf_counter() - t0, len(feeds))
    return out


OPENVINO_INT8 = "vision_encoder_openvino_int8.xml"     # beside the float graph; its weights in the .bin


def nncf_available() -> bool:
    try:
        import nncf  # noqa: F401
        return True
    except ImportError:
        return False


def calibration_frames(n: int = CALIBRATION_FRAMES, size: int = 512) -> list:
    """Frames drawn in code for NNCF's activation ranges where the synthetic set is not at hand (a pulled model:
    the store does not import export/): a garment-like shape in a flat colour, stripes or dots, on a shaded
    background, like the synthetic set's pictures. ``vitrine export hybrid`` calibrates on the set itself."""
    from PIL import Image, ImageDraw

    rng = np.random.RandomState(29)
    frames = []
    for i in range(n):
        bg = rng.randint(60, 200, 3)
        shade = np.linspace(0.8, 1.1, size)[:, None, None]
        img = Image.fromarray(np.clip(bg[None, None, :] * shade * np.ones((size, size, 3)), 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        colour = tuple(int(c) for c in rng.randint(0, 255, 3))
        cx, cy, w, h = size / 2, size / 2, size * rng.uniform(0.25, 0.4), size * rng.uniform(0.3, 0.45)
        d.polygon([(cx - w, cy - h), (cx + w, cy - h), (cx + w * 1.2, cy + h), (cx - w * 1.2, cy + h)], fill=colour)
        other = tuple(int(c) for c in rng.randint(0, 255, 3))
        if i % 3 == 1:          # stripes
            for y in range(int(cy - h), int(cy + h), size // 16):
                d.rectangle([cx - w, y, cx + w, y + size // 40], fill=other)
        elif i % 3 == 2:        # dots
            for _ in range(12):
                x, y = rng.uniform(cx - w, cx + w), rng.uniform(cy - h, cy + h)
                d.ellipse([x - 6, y - 6, x + 6, y + 6], fill=other)
        rgb = np.asarray(img).astype(np.int16) + rng.randint(-8, 9, (size, size, 3))
        frames.append(Frame(np.clip(rgb, 0, 255).astype(np.uint8), f"calibration-{i}"))
    return frames


def float_from_dynamic_int8(src: Path, dst: Path) -> Path:
    """A float ONNX graph from onnxruntime's dynamic-int8 one (what the hub publishes for a pulled model): each
    DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul(scales) becomes a MatMul/Conv on the float
    input with the weights dequantized, (W - zero point) * scale. The weights keep their int8 rounding; the
    activations are float again, which OpenVINO quantizes its own way (``quantize_int8``). Raises VitrineError
    for a graph not in that form."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(str(src))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    made = {n.output[0]: n for n in g.node if n.op_type == "Constant"}

    def const(name: str) -> np.ndarray:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in made:
            return numpy_helper.to_array(made[name].attribute[0].t)
        raise VitrineError(f"{Path(src).name}: {name} is not a constant: not onnxruntime's dynamic-int8 form")

    producer = {o: n for n in g.node for o in n.output}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    replace, drop, new_inits = {}, set(), []
    for n in g.node:
        if n.op_type not in ("MatMulInteger", "ConvInteger"):
            continue
        dql = producer.get(n.input[0])
        cast = (users.get(n.output[0]) or [None])[0]
        mul = (users.get(cast.output[0]) or [None])[0] if cast is not None else None
        if dql is None or dql.op_type != "DynamicQuantizeLinear" or cast is None or cast.op_type != "Cast" \
                or mul is None or mul.op_type != "Mul":
            raise VitrineError(f"{Path(src).name}: {n.name} is not in onnxruntime's dynamic-int8 form")
        scales = producer[mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]]
        w_scale = const(scales.input[1] if scales.input[0] == dql.output[1] else scales.input[0])
        wq = const(n.input[1]).astype(np.float32)
        wz = const(n.input[3]).astype(np.float32) if len(n.input) > 3 and n.input[3] else np.float32(0)
        if n.op_type == "ConvInteger":          # per output channel: the first axis
            def per_channel(v, rank=wq.ndim):
                return np.reshape(v, (-1,) + (1,) * (rank - 1)) if np.ndim(v) else v
            w = (wq - per_channel(wz)) * per_channel(w_scale)
        else:                                   # per output column: the last axis
            w = (wq - wz) * w_scale
        name = f"{n.input[1]}_float"
        new_inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        op = "MatMul" if n.op_type == "MatMulInteger" else "Conv"
        replace[n.name] = helper.make_node(op, [dql.input[0], name], [mul.output[0]], name=f"{n.name}_float",
                                           **({a.name: helper.get_attribute_value(a) for a in n.attribute}
                                              if op == "Conv" else {}))
        drop |= {id(cast), id(mul)}
    if not replace:
        raise VitrineError(f"{Path(src).name} has no MatMulInteger/ConvInteger: it is not a dynamic-int8 graph")
    nodes = [replace.get(n.name, n) for n in g.node if id(n) not in drop]
    # what nothing reads any more (the quantizers, the scale products, the int8 weights) goes
    needed = {o.name for o in g.output}
    kept = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed |= set(n.input)
    del g.node[:]
    g.node.extend(reversed(kept))
    keep_inits = [i for i in g.initializer if i.name in needed] + new_inits
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.partial")
    onnx.save(m, str(tmp))
    tmp.replace(dst)
    return dst


def _static_shape(port, image_size: int) -> list[int]:
    rank = port.get_partial_shape().rank.get_length()
    if port.get_any_name() == "pixel_attention_mask":
        return [1] * (rank - 2) + [image_size, image_size]
    return [1] * (rank - 3) + [3, image_size, image_size]
