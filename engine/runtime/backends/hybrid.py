"""A hybrid model: llama.cpp's text model fed by an ONNX int8 vision encoder of the same checkpoint.

On the development machine onnxruntime's int8 vision encoder took 0.59 s where libmtmd's f16 projector took 0.73 s
(SmolVLM-256M dimensions), while llama.cpp decodes faster than onnxruntime: `vitrine export hybrid` writes both,
measures both encoders on the machine it runs on and records which one is faster (``extra["vision"]``, with its
reason, shown by `vitrine models list`). libmtmd still lays out the prompt (its chunks); only the encoder's output
is swapped. Single view (one tile) only. When the ONNX encoder is not the faster one, or the machine lacks the
memory for it, the model runs libmtmd's own encoder and says why in the log.

Where OpenVINO is installed its encoders are timed too (on the CPU, and the Intel iGPU/NPU it lists): on a Xeon
with AMX, OpenVINO with bf16 precision on the float graph took 0.158 s a frame against onnxruntime int8's 0.34 s.
Where nncf is installed too, OpenVINO's own int8 model of the float graph (NNCF, calibrated on a few frames) is
built and timed as well ("openvino-int8-cpu"): the fast one on a CPU with VNNI and no AMX.
Which one runs also depends on the device asked for (engine/devices.py).

Where a new frame's time goes (SmolVLM-256M at real dimensions, 2-vCPU AMD EPYC Zen 5 with AVX512-VNNI/BF16, no AMX;
one-thread CPU time from OpenVINO's profile and perf, so a loaded machine does not skew it; issue 29):
- the OpenVINO int8 encoder, 738 ms of CPU (340-370 ms on two threads): the int8 fully-connected layers 65%
  (brgemm_avx512 u8 x i8; q/k/v/o and fc2 at 94-96% of the 233 G int8 MAC/s one core's vpdpbusd reaches here,
  fc1 at 75%: its fused tanh-GELU and requantization), the int8 attention subgraphs 26% (~50% of that peak: the
  softmax), the two bf16 layers kept float 4%, layer norms, transposes and reorders 5%; no ref, jit_avx2 or f32
  fallback anywhere. At peak everywhere it would still take ~0.23 s on two cores.
- llama.cpp on the 64 image embeddings and the 26 tokens after them (Q8_0): ~160-200 + 90-110 ms of CPU, 83% in
  its tinyBLAS Q8_0 kernel (256-bit vpdpbusd) at ~50 G MAC/s, a fifth of that peak. The build has AVX512, VNNI,
  BF16 and VBMI (llama_print_system_info); llama.cpp repacks Q8_0 only on ARM and RISC-V. Measured and not kept:
  BF16 text weights (the prefill 29% less CPU, but decoding 14% slower, and other weights), F16 (slower both
  ways), a bit-identical 512-bit VNNI variant of the Q8_0 kernel (4-10% less CPU: it is bound by its 34-byte block
  loads and per-block scales, not by instructions), n_ubatch (the batches are under 512). An embedding batch costs
  what a token batch of the same length does.
- Python, copies, the frame's table normalisation and libmtmd's tokenizing: under 1.5% of a new frame (py-spy).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.runtime.backends.gguf import GgufBackend
from engine.runtime.backends.onnx_vision import (
    SAME_GRAPH_COSINE,
    EncoderTiming,
    OnnxVision,
    cosine,
    median_encode,
    openvino_devices_here,
    probe_frames,
    tile_side,
    time_graph_encoders,
)
from engine.devices import Device, Placement, available_mb, present
from engine.runtime.backends.openvino_vision import OPENVINO_INT8 as OPENVINO_INT8_FILE
from engine.runtime.backends.openvino_vision import (
    calibration_frames,
    float_from_dynamic_int8,
    nncf_available,
    quantize_int8,
)

log = logging.getLogger(__name__)
ONNX_VISION = "onnx-int8"          # onnxruntime on the int8 graph (files["vision"]), the CPU
ONNX_FP32_VISION = "onnx-fp32"     # onnxruntime on the float graph (files["vision_float"])
MMPROJ_VISION = "mmproj"           # libmtmd's f16 projector
LAYOUT_ROLE = "layout"            # the weightless projector libmtmd lays the prompt out with (optional)
OPENVINO_PREFIX = "openvino-"      # "openvino-cpu", "openvino-gpu", "openvino-npu": OpenVINO on a graph
OPENVINO_INT8 = "openvino-int8-cpu"    # OpenVINO's int8 model (NNCF) of the float graph (files["vision_openvino"])


def _openvino_device(choice: str) -> str | None:
    if choice == OPENVINO_INT8:
        return "CPU"
    return choice[len(OPENVINO_PREFIX):].upper() if choice.startswith(OPENVINO_PREFIX) else None


def _vision_role(choice: str, recorded: dict, files: dict) -> str:
    """The manifest's file an encoder choice runs: the int8 graph (onnxruntime), the float one, or OpenVINO's
    int8 IR; OpenVINO on another device takes the float graph, else the int8 IR (an export that kept only it)."""
    if choice == OPENVINO_INT8:
        role = "vision_openvino"
    elif choice == ONNX_FP32_VISION:
        role = "vision_float"
    elif _openvino_device(choice):
        role = recorded.get("graph") if recorded.get("graph") in ("vision_float", "vision_openvino") else "vision"
        if role == "vision_openvino" or role not in files:
            role = "vision_float" if "vision_float" in files else role
    else:
        role = "vision"
    return role if role in files else "vision"      # an older export without the float graph


class HybridBackend(GgufBackend):
    def __init__(self, folder: Path, manifest, threads: int | None = None, vision: str | None = None,
                 placement: Placement | None = None):
        folder = Path(folder)
        placement = placement or Placement(Device.AUTO)
        recorded = manifest.extra.get("vision", {})
        self.vision_choice = vision or self.choose(recorded, placement)
        # a weightless projector lays the prompt out when ONNX encodes (export/convert/layout_projector.py): then
        # the ONNX encoder replaces the projector's memory instead of adding to it
        has_layout = LAYOUT_ROLE in manifest.files
        role = None
        if self.vision_choice != MMPROJ_VISION:
            role = _vision_role(self.vision_choice, recorded, manifest.files)
            if role == "vision_openvino" and "vision_openvino_weights" not in manifest.files:
                role = "vision"
            weights = manifest.files["vision_openvino_weights" if role == "vision_openvino" else role]
            need_mb = weights.size * 3 / 1e6      # weights + activations, measured ~2.5x
            free_mb = available_mb()
            # a device asked for (gpu, npu) is never swapped for another: it fails in one line if it must
            if not has_layout and free_mb is not None and free_mb < need_mb + 256 and not placement.encoder:
                self.vision_choice, role = MMPROJ_VISION, None
                log.info("%s: %.0f MB free, the ONNX vision encoder needs about %.0f: using the projector's own",
                         manifest.name, free_mb, need_mb)
        self.layout_only = bool(role and has_layout)      # libmtmd has the weightless projector: it cannot encode
        # and then the text model is read, not mapped: llama.cpp repacks its weights for the CPU, and a mapped
        # file keeps the pages it read beside the repacked copy (MiniCPM-V 4.6 Q4_K_M: 847 MB resident, 640 read)
        projector = manifest.files[LAYOUT_ROLE if self.layout_only else "mmproj"]
        self._vision: OnnxVision | None = None
        if role is not None:      # first: loading a graph peaks above what it keeps, better before the text model
            vision_path = folder / manifest.files[role].path
            self._vision = OnnxVision.open(vision_path, vision_path.parent, threads or os.cpu_count() or 2,
                                           openvino=_openvino_device(self.vision_choice),
                                           providers=placement.ort_providers)
        super().__init__(folder / manifest.files["model"].path, folder / projector.path,
                         model_id=manifest.name, family=manifest.family, chat_handler=manifest.chat_handler,
                         threads=threads, tiles=1, languages=tuple(manifest.languages),
                         n_gpu_layers=placement.n_gpu_layers, use_mmap=not self.layout_only)
        self.device_note = (self._vision.describe() if self._vision else
                            "libmtmd " + ("GPU" if self.n_gpu_layers else "CPU")) + \
            (", llama.cpp on the GPU" if self.n_gpu_layers else "")
        log.info("%s: vision encoder %s (%s)", self.model_id, self.vision_choice, self.device_note)
        self._warming: threading.Thread | None = None
        if self._vision is not None and hasattr(self._vision.session, "compiled"):
            # OpenVINO's first inference prepares what its compiled model needs for the input's shape: ~100 ms
            # more than the next (SmolVLM-256M int8, 2-core EPYC: 495 then 390 ms). One blank tile after the text
            # model has loaded (and its decode threads were timed), so the user's first frame does not pay it;
            # an encode waits for it (HybridBackend.encode)
            self._warming = threading.Thread(target=self._warm_up, name="encoder-warm-up", daemon=True)
            self._warming.start()

    def _warm_up(self) -> None:
        side = self._vision.image_size
        try:
            self._vision.features(Frame(np.zeros((side, side, 3), np.uint8), "warm-up"))
        except Exception as e:          # the first real frame says what is wrong, in its own words
            log.info("%s: the encoder's warm-up failed (%s)", self.model_id, e)

    def _warmed(self) -> None:
        warming = self._warming
        if warming is not None:
            warming.join()
            self._warming = None

    def encode(self, frame: Frame):
        """libmtmd lays out the tokens of the image it is given: give it the square tile the ONNX graph encodes,
        so that both count the same tokens (MiniCPM-V keeps a frame's aspect ratio: a 16:9 frame would be a
        different grid). The key stays the frame's: a follow-up on it finds this encoding."""
        if self._vision is not None:
            self._warmed()
            side = self._vision.image_size
            if (frame.width, frame.height) != (side, side):
                key = frame.key
                frame = replace(frame, rgb=frame.square_tile(side))
                frame.__dict__["key"] = key
        return super().encode(frame)

    def close(self) -> None:
        self._warmed()
        super().close()

    @property
    def vision(self):
        """The vision encoder in use (ONNX or OpenVINO), or None when the projector's own encodes."""
        return self._vision

    @staticmethod
    def choose(recorded: dict, placement: Placement) -> str:
        """The encoder for this placement: cpu is what Vitrine ran before OpenVINO (onnxruntime or libmtmd, as
        measured then); gpu/npu is OpenVINO there (asked for, so never swapped for another); auto is the fastest
        measured at export/pull, unless its device is gone (the model was copied to another machine)."""
        choice = recorded.get("choice", ONNX_VISION)
        cpu_choice = recorded.get("cpu_choice", choice if choice in (ONNX_VISION, MMPROJ_VISION) else ONNX_VISION)
        if placement.device is Device.CPU:
            return cpu_choice
        if placement.encoder:
            return OPENVINO_PREFIX + placement.encoder.lower()
        if placement.device is Device.CUDA:      # the projector runs with llama.cpp's layers; else onnxruntime's
            return MMPROJ_VISION if placement.n_gpu_layers else ONNX_VISION
        dev = _openvino_device(choice)
        if dev and dev not in present().openvino:
            log.info("the recorded encoder %s is not available here (OpenVINO devices: %s): using %s", choice,
                     ", ".join(present().openvino) or "none", cpu_choice)
            return cpu_choice
        return choice

    def _encode_chunk(self, chunk, frame: Frame) -> np.ndarray:
        if self._vision is None:
            return super()._encode_chunk(chunk, frame)
        feats = self._vision.features(frame)
        n_tok = self._mtmd.mtmd_input_chunk_get_n_tokens(chunk)
        if feats.shape != (n_tok, self._n_embd):
            raise VitrineError(f"ONNX vision gives {feats.shape}, llama.cpp expects {(n_tok, self._n_embd)}: the "
                               "hybrid model's files do not belong together; export it again")
        return np.ascontiguousarray(feats, np.float32).ravel()


# Below this cosine the ONNX graph and libmtmd's projector do not describe the image alike: the files are not of
# one checkpoint (or one was quantized too far), and the projector's own encoder is kept. (An encoder on another
# runtime must agree with onnxruntime on its own graph far more closely: SAME_GRAPH_COSINE.)
MIN_COSINE = 0.9
# A float graph this heavy costs its encoder that much memory: OpenVINO bf16 on MiniCPM-V 4.6's 2.2 GB float graph
# peaked at 5279 MB answering where onnxruntime on its 550 MB int8 graph peaked at 1885 MB (random weights at the
# real dimensions), for 9.0 s a frame against 10.3 s on a loaded machine. Such an encoder is chosen over ONNX int8
# only when this much faster.
HEAVY_FLOAT_BYTES = 1 << 30
HEAVY_FLOAT_SPEEDUP = 1.5


def measure_vision_encoders(model: Path, mmproj: Path, vision: Path, threads: int | None = None,
                            runs: int = 3, vision_float: Path | None = None,
                            calibration: list[Frame] | None = None) -> dict:
    """Every encoder this machine can run, on the same frames: libmtmd's projector, onnxruntime on the int8 graph
    (``vision``) and, where installed, OpenVINO on each of its devices (on ``vision_float``, the float graph, when
    given: OpenVINO runs onnxruntime's int8 format slowly). Median seconds each, their agreement, and the fastest
    that agrees, with its reason (what `vitrine models list` shows). ``cpu_choice`` is the same choice among
    libmtmd and onnxruntime int8 alone: what `--device cpu` runs. ``vision``'s folder holds its config.json.
    With the float graph, OpenVINO on the CPU and nncf, OpenVINO's int8 model is built beside the float graph
    (calibrated on ``calibration``, else frames drawn in code) and timed too; ``graph`` "vision_openvino" when it
    is chosen (the caller keeps its two files)."""
    side = tile_side(json.loads((vision.parent / "config.json").read_text()))
    # libmtmd gets the square tile the graphs encode, as the hybrid gives it (HybridBackend.encode)
    frames = [replace(f, rgb=f.square_tile(side)) for f in probe_frames(runs)]
    ov_devices = openvino_devices_here()
    rebuilt = None
    if vision_float is None and "CPU" in ov_devices and nncf_available():
        # a pulled model: the hub publishes onnxruntime's int8 graph only, which OpenVINO runs slowly; its float
        # form, rebuilt from it, is what OpenVINO (bf16) and NNCF (OpenVINO's int8) take
        try:
            rebuilt = vision_float = float_from_dynamic_int8(vision, vision.with_name(REBUILT_FLOAT))
        except VitrineError as e:
            log.info("OpenVINO's encoders are not timed: %s", e)
    with GgufBackend(model, mmproj, threads=threads, tiles=1) as g:
        mmproj_s = median_encode(g.encode, frames)
        a = g.image_embedding(g.encode(frames[0])).ravel()
        threads = g.threads
    int8, b = time_graph_encoders(vision, vision.parent, threads, frames, ONNX_VISION,
                                  () if vision_float else ov_devices)
    if a.shape != b.ravel().shape:
        raise VitrineError(f"the ONNX vision encoder gives {b.size} values where the projector gives {a.size}: "
                           "they are not the same model")
    timings = {t.name: t for t in int8}
    flt_names: set[str] = set()
    projector_cos = {t.name: cosine(a, b) for t in int8}        # each graph against the projector
    graph = "vision"
    if vision_float:
        flt, c = time_graph_encoders(vision_float, vision.parent, threads, frames, ONNX_FP32_VISION, ov_devices)
        flt_names = {t.name for t in flt}
        timings.update({t.name: t for t in flt})
        projector_cos.update({t.name: cosine(a, c) for t in flt})
        graph = "vision_float"
        int8 = int8_encoder(vision_float, vision.parent, threads, frames, c, calibration) \
            if "CPU" in ov_devices else None
        if int8 is not None:
            timings[int8[0].name] = int8[0]
            projector_cos[int8[0].name] = cosine(a, int8[1])

    timings[MMPROJ_VISION] = EncoderTiming(MMPROJ_VISION, mmproj_s, 1.0, "the f16 projector")
    projector_cos[MMPROJ_VISION] = 1.0
    agree = {n: t for n, t in timings.items()
             if t.cosine >= SAME_GRAPH_COSINE and projector_cos[n] >= MIN_COSINE}
    heavy = []
    if vision_float and _graph_bytes(vision_float) > HEAVY_FLOAT_BYTES and ONNX_VISION in agree:
        # the float graph's encoders hold its weights: chosen over int8 only when much faster
        heavy = [n for n in sorted(flt_names) if n in agree
                 and timings[n].seconds * HEAVY_FLOAT_SPEEDUP > timings[ONNX_VISION].seconds]
        for n in heavy:
            del agree[n]
    choice = min(agree, key=lambda n: agree[n].seconds)
    cpu_choice = ONNX_VISION if ONNX_VISION in agree and timings[ONNX_VISION].seconds < mmproj_s else MMPROJ_VISION
    ranked = sorted(timings.values(), key=lambda t: t.seconds)
    why = (f"{ranked[0].label} encodes a frame in {ranked[0].seconds * 1000:.1f} ms, "
           + ", ".join(f"{t.label} in {t.seconds * 1000:.1f} ms" for t in ranked[1:]) + " here")
    left_out = [n for n in timings if n not in agree and n not in heavy]
    if left_out:
        why += "; " + ", ".join(
            f"{timings[n].label} disagrees (cosine {min(timings[n].cosine, projector_cos[n]):.3f})"
            for n in left_out) + f": {timings[choice].label} is used"
    if heavy:
        why += (f"; {', '.join(timings[n].label for n in heavy)} would hold the {_graph_bytes(vision_float) / 1e9:.1f} "
                f"GB float graph for less than {HEAVY_FLOAT_SPEEDUP}x ONNX int8's speed: {timings[choice].label} is used")
    record_graph = "vision_openvino" if choice == OPENVINO_INT8 else \
        graph if _openvino_device(choice) or choice == ONNX_FP32_VISION else "vision"
    made = _keep_made(rebuilt, record_graph) if rebuilt else None
    return {"choice": choice, "cpu_choice": cpu_choice,
            "onnx_s": round(timings[ONNX_VISION].seconds, 4), "mmproj_s": round(mmproj_s, 4),
            "cosine": round(projector_cos[ONNX_VISION], 5), "why": why,
            "graph": record_graph, **({"made": made} if made is not None else {}),
            "encoders": {n: round(t.seconds, 4) for n, t in timings.items()},
            "cosines": {n: round(min(t.cosine, projector_cos[n]), 5) for n, t in timings.items()},
            "agreeing": sorted(agree)}


def _graph_bytes(path: Path) -> int:
    """An ONNX graph's size with its weights file, when it has one (a graph over 2 GB)."""
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.is_file() else 0)


REBUILT_FLOAT = "vision_encoder_float.onnx"      # a pulled model's float graph, rebuilt from the published int8


def _keep_made(rebuilt: Path, graph: str) -> dict[str, str]:
    """Of the files made beside a pulled model's int8 graph (its rebuilt float graph, OpenVINO's int8 model),
    those the chosen encoder runs: role -> file name in that folder (the store adds them to the manifest); the
    others are deleted (the float graph is 4x the int8 one on disk)."""
    xml = rebuilt.with_name(OPENVINO_INT8_FILE)
    made = {"vision_float": rebuilt} if graph == "vision_float" else \
        {"vision_openvino": xml, "vision_openvino_weights": xml.with_suffix(".bin")} if graph == "vision_openvino" \
        else {}
    for f in (rebuilt, xml, xml.with_suffix(".bin")):
        if f not in made.values():
            f.unlink(missing_ok=True)
    return {role: f.name for role, f in made.items()}


def int8_encoder(float_graph: Path, folder: Path, threads: int, frames: list, reference: np.ndarray,
                 calibration: list | None = None):
    """OpenVINO's int8 model of ``float_graph`` (built by NNCF beside it unless it is there already), timed on the
    CPU on ``frames`` and compared with ``reference`` (onnxruntime's float features of ``frames[0]``). An
    EncoderTiming named "openvino-int8-cpu" and its features of ``frames[0]``, or None where nncf is not installed
    or the quantization fails (logged: the measurement is there to choose, not to fail)."""
    if not nncf_available():
        log.info("nncf is not installed: OpenVINO's int8 encoder is not built (pip install 'vitrine[openvino]')")
        return None
    xml = Path(float_graph).with_name(OPENVINO_INT8_FILE)
    try:
        if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
            flt = OnnxVision.open(float_graph, folder, threads, openvino="CPU")
            quantize_int8(float_graph, xml, [flt.feeds(f) for f in (calibration or calibration_frames())])
            del flt
        enc = OnnxVision.open(xml, folder, threads, openvino="CPU")
    except VitrineError as e:
        log.warning("%s: OpenVINO's int8 encoder not timed (%s)", Path(float_graph).name, e)
        return None
    seconds = median_encode(enc.features, frames)
    feats = enc.features(frames[0])
    return EncoderTiming("openvino-int8-cpu", seconds, cosine(feats, reference), enc.describe()), feats
