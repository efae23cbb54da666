"""An ONNX vision graph run by OpenVINO (CPU, Intel iGPU or NPU), behind the part of onnxruntime's session API
that OnnxVision uses (``get_inputs``, ``run``), so the encoder's pre- and post-processing is written once.

Measured on a 2-vCPU Xeon with AMX (SmolVLM-256M's 512 px encoder, fp32 ONNX graph): OpenVINO with a bf16
inference precision 0.158 s a frame against onnxruntime's int8 graph 0.34 s, features at cosine 0.99995 to fp32.
OpenVINO on onnxruntime's dynamic-int8 graph was slower (0.95 s): that is not its int8 format, so the float graph
is the one to give it. Compiling takes seconds: compiled models are kept under Vitrine's cache folder
(OpenVINO's CACHE_DIR), so a second load, and every frame after the first, pays none of it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import VitrineError

log = logging.getLogger(__name__)
_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "i64": "tensor(int64)", "boolean": "tensor(bool)"}


@dataclass(frozen=True)
class _Port:
    """What onnxruntime's NodeArg tells: name, shape (None for a dynamic dimension), element type."""
    name: str
    shape: list
    type: str


def openvino_cache() -> Path:
    from engine.settings import cache_dir
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
    if device == "CPU":
        if bf16 is None:
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        precision = "bf16" if bf16 else "f32"
        # without it OpenVINO takes every core, whatever --threads said
        config.update({"INFERENCE_NUM_THREADS": int(threads), "INFERENCE_PRECISION_HINT": precision})
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


def _static_shape(port, image_size: int) -> list[int]:
    rank = port.get_partial_shape().rank.get_length()
    if port.get_any_name() == "pixel_attention_mask":
        return [1] * (rank - 2) + [image_size, image_size]
    return [1] * (rank - 3) + [3, image_size, image_size]
