"""`vitrine export hybrid`: llama.cpp's text model with the fastest vision encoder, measured here.

Writes the GGUF pair (text model + f16 projector, which libmtmd needs to lay out the prompt) and the ONNX int8
vision encoder of the same checkpoint, times the encoders on a 512 px frame on this machine (libmtmd,
onnxruntime int8 and, where installed, OpenVINO on the float graph), checks that they agree (cosine of the image
features) and records the choice and its reason in the manifest (runtime "hybrid"). Where nncf is installed,
OpenVINO's int8 model of the float graph is built too, calibrated on frames of the synthetic set. The float
graph and OpenVINO's int8 model are kept only when the chosen encoder runs them.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder, check_output
from engine.models.manifest import MANIFEST_NAME, Manifest, file_entry
from engine.runtime.backends.hybrid import measure_vision_encoders
from engine.runtime.backends.openvino_vision import OPENVINO_INT8

log = logging.getLogger(__name__)
StepFn = Callable[[str], None]
KEEP_ONNX = ("vision_encoder.onnx", "config.json", "preprocessor_config.json")
FLOAT_VISION = "vision_encoder_fp32.onnx"
CALIBRATION_IMAGES = 8          # NNCF's activation ranges: synthetic-set pictures at the encoder's input size


def calibration_frames(n: int = CALIBRATION_IMAGES, size: int = 512) -> list:
    """Pictures of the synthetic fashion set (a seed of its own, not the training or test rows' one)."""
    import numpy as np

    from engine.media.frames import Frame
    from export.datasets.synth import products
    return [Frame(np.asarray(img.convert("RGB")), p.id) for p, img in products(n, seed=2929, size=size)]


@dataclass
class HybridExport:
    folder: Path
    manifest: Manifest
    seconds: float


def export_hybrid(checkpoint: Path | str, out: Path | str, quant: str = "Q8_0", name: str | None = None,
                  on_step: StepFn | None = None, threads: int | None = None, keep_float: bool = False) -> HybridExport:
    """``keep_float``: keep the float vision graph even when the chosen encoder does not run it (`vitrine bench`
    times OpenVINO on it every time)."""
    from export.families import families, for_checkpoint
    from export.convert.gguf import export_gguf
    from export.convert.onnx import _quantize_int8, export_onnx
    t0 = time.perf_counter()
    checkpoint, out = Path(checkpoint).resolve(), Path(out)
    check_output(out, OutputKind.EXPORT, inputs=(checkpoint,))      # before any work
    family = for_checkpoint(checkpoint)
    if not family.onnx:
        able = ", ".join(f.name for f in families().values() if f.onnx)
        raise VitrineError(f"{checkpoint.name}: a hybrid model needs the ONNX vision encoder, which exists for "
                           f"{able} checkpoints, not {family.name} (export it to GGUF instead)")
    step = on_step or (lambda s: None)
    with atomic_folder(out, OutputKind.EXPORT, inputs=(checkpoint,)) as staging:
        step("text model and projector (GGUF)")
        g = export_gguf(checkpoint, staging / "gguf", quant=quant, mmproj_type="f16", name=name)
        step("vision encoder (ONNX fp32 and int8)")
        onnx_dir = staging / "onnx"
        export_onnx(checkpoint, onnx_dir, quant="fp32", parity=False)
        # OpenVINO runs the float graph (with bf16 precision where the CPU has it) faster than onnxruntime's int8,
        # and runs onnxruntime's int8 format slowly: keep the float graph beside the int8 one until timed
        shutil.copy(onnx_dir / "vision_encoder.onnx", onnx_dir / FLOAT_VISION)
        _quantize_int8(onnx_dir)          # the same int8 graph `export onnx --quant int8` writes
        for f in onnx_dir.iterdir():          # the ONNX text model is not used: llama.cpp's is
            if f.name not in KEEP_ONNX + (FLOAT_VISION,):
                f.unlink()
        (staging / "gguf" / MANIFEST_NAME).unlink()
        gguf = {role: Path("gguf") / e.path for role, e in g.manifest.files.items()}
        step("timing the vision encoders on this machine")
        vision = measure_vision_encoders(staging / gguf["model"], staging / gguf["mmproj"],
                                         onnx_dir / "vision_encoder.onnx", threads,
                                         vision_float=onnx_dir / FLOAT_VISION, calibration=calibration_frames())
        files = {role: file_entry(staging, str(gguf[role].as_posix())) for role in ("model", "mmproj")}
        kept = [("vision", "vision_encoder.onnx"), ("config", "config.json"),
                ("preprocessor", "preprocessor_config.json")]
        if vision["graph"] == "vision_float" or keep_float:
            kept.append(("vision_float", FLOAT_VISION))
        else:       # the chosen encoder does not run it: not worth its disk space
            (onnx_dir / FLOAT_VISION).unlink()
        ov_int8 = onnx_dir / OPENVINO_INT8
        if ov_int8.is_file() and (vision["graph"] == "vision_openvino" or keep_float):
            kept += [("vision_openvino", OPENVINO_INT8), ("vision_openvino_weights", ov_int8.with_suffix(".bin").name)]
        else:
            ov_int8.unlink(missing_ok=True)
            ov_int8.with_suffix(".bin").unlink(missing_ok=True)
        for role, f in kept:
            files[role] = file_entry(staging, f"onnx/{f}")
        manifest = Manifest(name=name or f"{checkpoint.name}-hybrid", runtime="hybrid", family=family.name,
                            files=files, chat_handler=g.manifest.chat_handler, languages=list(family.languages),
                            quant=quant.upper(), source=str(checkpoint), extra={"vision": vision})
        manifest.save(staging)
    log.info("hybrid %s: %s", manifest.name, vision["why"])
    return HybridExport(out, manifest, time.perf_counter() - t0)
