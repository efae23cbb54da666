"""Which device runs what: the image encoder (onnxruntime, OpenVINO), llama.cpp's layers and the ONNX decoder.

One word chooses (``--device``, else VITRINE_DEVICE, else ``auto``):
  cpu   onnxruntime and llama.cpp on the CPU, exactly as before OpenVINO existed here (the escape hatch)
  auto  what is present and measured fastest: the encoder a hybrid model measured at export/pull (which may be
        OpenVINO on the CPU), OpenVINO for an ONNX model's float vision graph when it was measured faster here,
        CUDA when onnxruntime-gpu / a CUDA llama.cpp build are installed
  gpu   OpenVINO's GPU (an Intel iGPU or Arc) for the image encoder
  npu   OpenVINO's NPU (Intel Core Ultra) for the image encoder
  cuda  onnxruntime's CUDAExecutionProvider for the ONNX graphs, llama.cpp's layers offloaded
A device asked for and absent is refused in one line that names what is present: a silent fallback to the CPU
would make a slow machine look like a broken accelerator.
"""
from __future__ import annotations

import enum
import functools
import logging
from dataclasses import dataclass, field

from engine.errors import BadInput

log = logging.getLogger(__name__)


class Device(str, enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"
    NPU = "npu"
    CUDA = "cuda"


def check_device(value: str | Device | None, what: str = "--device") -> Device | None:
    """A device word a person gave (None or empty: not given)."""
    if value is None or isinstance(value, Device):
        return value
    word = str(value).strip().lower()
    if not word:
        return None
    try:
        return Device(word)
    except ValueError:
        raise BadInput(f"{what} must be one of {', '.join(d.value for d in Device)}, not {value!r}") from None


@dataclass(frozen=True)
class Present:
    """What this machine (and this install) can run on."""
    openvino: tuple[str, ...] = ()          # OpenVINO's devices: "CPU", "GPU", "GPU.1", "NPU"; () without openvino
    ort_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    llama_gpu: bool = False                 # llama.cpp built with a GPU backend (llama_supports_gpu_offload)
    cpu_bf16: bool = False                  # the CPU computes in bf16 natively (AMX or AVX512-BF16)

    @property
    def ort_cuda(self) -> bool:
        return "CUDAExecutionProvider" in self.ort_providers

    def has(self, device: Device) -> bool:
        if device in (Device.AUTO, Device.CPU):
            return True
        if device is Device.CUDA:
            return self.ort_cuda or self.llama_gpu
        return any(d.split(".")[0] == device.value.upper() for d in self.openvino)

    def names(self) -> list[str]:
        """The devices present, as the words --device takes."""
        return [d.value for d in Device if d is not Device.AUTO and self.has(d)]


@functools.lru_cache(maxsize=1)
def present() -> Present:
    """Asked once per process (OpenVINO's device query takes a moment)."""
    ov_devices: tuple[str, ...] = ()
    bf16 = _cpuinfo_bf16()
    try:
        import openvino as ov
        core = ov.Core()
        ov_devices = tuple(core.available_devices)
        if "CPU" in ov_devices:
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except ImportError:
        pass
    except Exception as e:      # a broken driver must not stop the CPU path
        log.warning("OpenVINO could not list its devices (%s): the CPU only", str(e).splitlines()[0][:120])
    try:
        import onnxruntime as ort
        providers = tuple(ort.get_available_providers())
    except ImportError:
        providers = ()
    try:
        import llama_cpp
        llama_gpu = bool(llama_cpp.llama_supports_gpu_offload())
    except (ImportError, AttributeError, OSError):
        llama_gpu = False
    return Present(openvino=ov_devices, ort_providers=providers, llama_gpu=llama_gpu, cpu_bf16=bf16)


def _cpuinfo_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class Placement:
    """Where each part runs, resolved from a device word and what is present."""
    device: Device
    encoder: str | None = None            # OpenVINO device for the image encoder ("CPU", "GPU", "NPU"); None: ORT
    ort_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    n_gpu_layers: int = 0                 # llama.cpp layers offloaded (-1: all)
    notes: tuple[str, ...] = field(default=())

    @property
    def cpu_only(self) -> bool:
        return self.device is Device.CPU


def resolve(device: Device | str | None, have: Present | None = None) -> Placement:
    """The placement for a device word; an absent device is a BadInput naming what is present."""
    device = check_device(device) or Device.AUTO
    if device is Device.CPU:        # today's path: nothing to ask of OpenVINO or the GPU builds
        return Placement(device)
    have = have or present()
    if not have.has(device):
        what = {Device.GPU: "OpenVINO GPU (an Intel iGPU/Arc with its driver, and `pip install vitrine[openvino]`)",
                Device.NPU: "OpenVINO NPU (an Intel Core Ultra with its driver, and `pip install vitrine[openvino]`)",
                Device.CUDA: "CUDA (onnxruntime-gpu or a llama.cpp built with -DGGML_CUDA=ON: "
                             "VITRINE_ACCEL=cuda bash .ci/install)"}[device]
        raise BadInput(f"--device {device.value}: this machine has no {what}; present: {', '.join(have.names())}")
    cuda_providers = ("CUDAExecutionProvider", "CPUExecutionProvider")
    if device is Device.CUDA:
        notes = []
        if not have.ort_cuda:
            notes.append("onnxruntime has no CUDA provider: ONNX graphs on the CPU")
        if not have.llama_gpu:
            notes.append("llama.cpp has no GPU backend: its layers on the CPU")
        for note in notes:
            log.info("--device cuda: %s", note)
        return Placement(device, None, cuda_providers if have.ort_cuda else ("CPUExecutionProvider",),
                         -1 if have.llama_gpu else 0, tuple(notes))
    if device in (Device.GPU, Device.NPU):
        return Placement(device, device.value.upper())
    # auto: CUDA where present; else the measured choice (a hybrid's record, onnx_vision.measured_encoder)
    return Placement(device, None, cuda_providers if have.ort_cuda else ("CPUExecutionProvider",),
                     -1 if have.llama_gpu else 0)


def use_device_for_command(value: str | None) -> Placement | None:
    """A command's ``--device``: checked and resolved now, so that an absent device is refused before any model
    loads (the command then passes ``Settings.with_device(value)`` down, so that every model it opens, through
    evaluate or the catalog's embedder, is placed alike). None: no --device (the settings' VITRINE_DEVICE)."""
    device = check_device(value)
    return None if device is None else resolve(device)


def available_mb() -> float | None:
    """Memory free now, in MB (None where it cannot be read): what a pull or a hybrid checks before choosing."""
    try:
        import psutil
        return psutil.virtual_memory().available / 1e6
    except (ImportError, OSError):
        return None
