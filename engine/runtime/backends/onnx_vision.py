"""An ONNX vision encoder on its own: a frame in, the projected image features out (the tokens the text model
takes). The ONNX backend runs it in front of its decoder; a hybrid model runs it in front of llama.cpp's. The graph
runs on onnxruntime (CPU, or CUDA with onnxruntime-gpu) or on OpenVINO (openvino_vision.py), per engine/devices.py."""
from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import families
from engine.devices import present
from engine.errors import VitrineError
from engine.files import write_text_atomic
from engine.media.frames import Frame
from engine.runtime.backends.openvino_vision import open_openvino
from engine.settings import cache_dir

log = logging.getLogger(__name__)
_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


def session_options(threads: int, spin_within_run: bool = False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # Spinning threads fight each other (and the other session) on 2 cores: measured 20 -> 3-7 tok/s. One long
    # run (a vision encoder) may spin inside itself if its threads stop when it ends: 0.41 s a frame, not 0.44,
    # and no core taken afterwards (SmolVLM-256M int8, 2 threads).
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_within_run else "0")
    if spin_within_run:
        so.add_session_config_entry("session.force_spinning_stop", "1")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Memory patterns pre-plan one block per input shape; with the vision encoder's large activations they
    # piled up to 811 MB peak on SmolVLM-256M int8, 690 MB without (same speed, measured).
    so.enable_mem_pattern = False
    return so


CPU_ONLY = ("CPUExecutionProvider",)


# onnxruntime packs a copy of every int8 weight for its kernels next to the original: on MiniCPM-V 4.6's 550 MB int8
# vision graph, 964 MB resident after loading instead of 604 and 1057 MB after an encode instead of 705, for an
# encode about 8% faster (2.6 vs 2.8 CPU-seconds). Above this size a vision graph runs without the copy.
PREPACK_MAX_BYTES = 256 << 20


def open_session(path: Path, threads: int, spin_within_run: bool = False, providers: tuple[str, ...] = CPU_ONLY,
                 prepack: bool = True):
    """``providers``: onnxruntime's execution providers in order (engine/devices.py's placement); ``prepack``:
    let onnxruntime keep packed copies of the weights (faster, more memory)."""
    import onnxruntime as ort
    so = session_options(threads, spin_within_run)
    if not prepack:
        so.add_session_config_entry("session.disable_prepacking", "1")
    try:
        return ort.InferenceSession(str(path), so, providers=list(providers))
    except Exception as e:      # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise VitrineError(f"{path.name} is damaged or not an ONNX model ({str(e).splitlines()[0][:120]}): "
                           "export or copy it again") from None


def release_freed_memory() -> None:
    """Hand the heap onnxruntime freed while loading a graph back to the system: glibc keeps it otherwise (260 MB
    resident after loading MiniCPM-V 4.6's 550 MB int8 vision graph, measured). Nothing where there is no glibc."""
    import ctypes
    import ctypes.util
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def image_processor_config(folder: Path) -> dict:
    """Normalisation settings: preprocessor_config.json (onnx-community, transformers 4), else the
    "image_processor" part of processor_config.json (transformers 5 saves them there)."""
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        return json.loads(pre.read_text())
    proc = folder / "processor_config.json"
    if proc.is_file():
        return json.loads(proc.read_text()).get("image_processor", {})
    return {}


def tile_side(config: dict) -> int:
    """The side of the square tile a vision graph takes: the family's (what the transformers reference gives its
    vision tower: MiniCPM-V 4.6's merger resolution, 448, not its position grid's 980), else the vision config's."""
    from types import SimpleNamespace


    def attrs(d):
        return SimpleNamespace(**{k: attrs(v) if isinstance(v, dict) else v for k, v in d.items()})

    fam = families.for_model_type(str(config.get("model_type", "")))
    if fam is not None and fam.reference is not None:
        try:
            return int(fam.reference.tile_size(attrs(config)))
        except (AttributeError, TypeError, ValueError):
            pass
    return int(config.get("vision_config", {}).get("image_size", 512))


class OnnxVision:
    def __init__(self, session, config: dict, preprocessor: dict):
        self.session = session
        self.inputs = {i.name: i for i in session.get_inputs()}
        if "pixel_values" not in self.inputs:
            have = ", ".join(self.inputs) or "nothing"
            raise VitrineError(f"the vision graph does not take pixel_values (it takes {have}): it is not a vision "
                               "encoder export")
        self.image_size = tile_side(config)
        self.mean = np.array(preprocessor.get("image_mean", [0.5] * 3), np.float32)
        self.std = np.array(preprocessor.get("image_std", [0.5] * 3), np.float32)
        self.rescale = float(preprocessor.get("rescale_factor", 1 / 255))
        # every uint8 value of each channel, normalised as preprocess does it: a frame is then one lookup per pixel
        # (1.3 ms at 512 px instead of 5.7, the same float32 values to the bit)
        self._lut = np.ascontiguousarray(((np.arange(256, dtype=np.float32)[:, None] * self.rescale - self.mean)
                                          / self.std).T)

    @classmethod
    def open(cls, path: Path, folder: Path, threads: int, openvino: str | None = None,
             providers: tuple[str, ...] = CPU_ONLY) -> "OnnxVision":
        """``path``: the vision_encoder.onnx; ``folder``: where its config.json and preprocessor settings are;
        ``openvino``: an OpenVINO device ("CPU", "GPU", "NPU") to run it on instead of onnxruntime."""
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise VitrineError(f"{folder} has no config.json: copy the whole exported folder")
        cfg = json.loads(cfg_path.read_text())
        if openvino:
            session = open_openvino(path, threads, openvino, image_size=tile_side(cfg))
        else:
            try:
                prepack = path.stat().st_size <= PREPACK_MAX_BYTES
            except OSError:
                prepack = True      # onnxruntime says what is wrong with the path
            session = open_session(path, threads, spin_within_run=True, providers=providers, prepack=prepack)
            release_freed_memory()
        return cls(session, cfg, image_processor_config(folder))

    def describe(self) -> str:
        """Which runtime and device encode: the `ask` status line and `vitrine bench` show it."""
        if hasattr(self.session, "describe"):
            return self.session.describe()
        used = self.session.get_providers()[0] if hasattr(self.session, "get_providers") else "CPUExecutionProvider"
        return "onnxruntime " + used.replace("ExecutionProvider", "")

    def preprocess(self, frame: Frame) -> np.ndarray:
        """One tile: the frame resized to the encoder's square input, normalised: 1, 3, S, S float32."""
        rgb = frame.square_tile(self.image_size)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != self._lut.shape[0]:
            x = (rgb.astype(np.float32) * self.rescale - self.mean) / self.std
            return np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)
        out = np.empty((1, rgb.shape[2], *rgb.shape[:2]), np.float32)
        for c in range(rgb.shape[2]):
            self._lut[c].take(np.ascontiguousarray(rgb[:, :, c]), out=out[0, c])
        return out

    def features(self, frame: Frame) -> np.ndarray:
        """n_tokens x hidden, float32."""
        out = self.session.run(None, self.feeds(frame))[0]
        return out.reshape(-1, out.shape[-1]).astype(np.float32)

    def feeds(self, frame: Frame) -> dict[str, np.ndarray]:
        """The graph's inputs for one frame (what NNCF calibrates OpenVINO's int8 model on)."""
        pv = self.preprocess(frame)
        declared = self.inputs
        if len(declared["pixel_values"].shape) == 5:      # onnx-community: batch, images, 3, S, S (+ mask)
            pv = pv[None]
        feeds = {"pixel_values": pv.astype(_NP.get(declared["pixel_values"].type, np.float32), copy=False)}
        if "pixel_attention_mask" in declared:
            feeds["pixel_attention_mask"] = np.ones((1, 1, self.image_size, self.image_size), np.bool_)
        return feeds


def median_encode(encode, frames: list[Frame]) -> float:
    """Median seconds of ``encode`` over ``frames[1:]`` (the first one warms up)."""
    encode(frames[0])
    times = []
    for f in frames[1:]:
        t0 = time.perf_counter()
        encode(f)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def probe_frames(runs: int) -> list[Frame]:
    rng = np.random.RandomState(0)
    return [Frame(rng.randint(0, 255, (512, 512, 3), dtype=np.uint8), f"probe-{i}") for i in range(runs + 1)]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.shape != b.shape:
        return 0.0
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


# An encoder on another runtime or precision agrees with onnxruntime on the same graph at this cosine or above
# (OpenVINO bf16 against onnxruntime fp32: 0.99995 on SmolVLM-256M); below it, it is not used.
SAME_GRAPH_COSINE = 0.99


@dataclass
class EncoderTiming:
    name: str                  # "onnx-int8", "onnx-fp32", "openvino-cpu", "openvino-gpu", "openvino-npu"
    seconds: float
    cosine: float              # to onnxruntime on the same graph (1.0 for onnxruntime itself)
    label: str                 # how the status line and the reason say it: "OpenVINO CPU bf16"


def time_graph_encoders(path: Path, folder: Path, threads: int, frames: list[Frame], ort_name: str,
                        openvino_devices: tuple[str, ...]) -> tuple[list[EncoderTiming], np.ndarray]:
    """onnxruntime (CPU) and OpenVINO on each of ``openvino_devices`` running one graph, on the same frames.
    Returns the timings and onnxruntime's features of ``frames[0]`` (the reference). An OpenVINO device that
    fails to compile is left out with a warning: the measurement is there to choose, not to fail."""
    ort = OnnxVision.open(path, folder, threads)
    ref = ort.features(frames[0])
    out = [EncoderTiming(ort_name, median_encode(ort.features, frames), 1.0, ort_label(ort_name))]
    for dev in openvino_devices:
        try:
            ov = OnnxVision.open(path, folder, threads, openvino=dev)
        except VitrineError as e:
            log.warning("%s: not timed on OpenVINO %s (%s)", path.name, dev, e)
            continue
        out.append(EncoderTiming(f"openvino-{dev.lower()}", median_encode(ov.features, frames),
                                 cosine(ov.features(frames[0]), ref), ov.describe()))
    return out, ref


def ort_label(name: str) -> str:
    return {"onnx-int8": "ONNX int8", "onnx-fp32": "ONNX fp32"}.get(name, name)


def openvino_devices_here() -> tuple[str, ...]:
    """OpenVINO's devices that can run an encoder (CPU, GPU, NPU; not its virtual AUTO/HETERO)."""
    return tuple(d for d in present().openvino if d.split(".")[0] in ("CPU", "GPU", "NPU"))


def measured_encoder(path: Path, folder: Path, threads: int) -> str:
    """For an ONNX model under --device auto: "onnx" or the OpenVINO device ("CPU", ...) that encodes this graph
    fastest here while agreeing with onnxruntime. Timed once per graph, thread count and OpenVINO version, and
    kept in the cache folder (a few seconds, the first time only)."""
    devices = openvino_devices_here()
    if not devices:
        return "onnx"
    import openvino

    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{threads}|{openvino.__version__}|{','.join(devices)}"
    record = cache_dir() / "encoders.json"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    timings, _ = time_graph_encoders(path, folder, threads, probe_frames(2), "onnx", devices)
    agree = [t for t in timings if t.cosine >= SAME_GRAPH_COSINE]
    best = min(agree, key=lambda t: t.seconds)
    choice = "onnx" if best.name == "onnx" else best.name.split("-", 1)[1].upper()
    log.info("%s: %s", path.name, ", ".join(f"{t.label} {t.seconds * 1000:.1f} ms" for t in timings))
    known[key] = choice
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(record, json.dumps(known, indent=1))
    except OSError as e:
        log.warning("could not keep the encoder timing in %s (%s): it is timed again next time", record, e)
    return choice
