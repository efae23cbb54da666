"""`vitrine export hybrid`: llama.cpp's text model with the fastest vision encoder, measured here.

Writes the GGUF pair (text model + f16 projector, which libmtmd needs to lay out the prompt) and the ONNX int8
vision encoder of the same checkpoint (its vision graph alone: llama.cpp runs the text model), times the encoders on a 512 px frame on this machine (libmtmd,
onnxruntime int8 and, where installed, OpenVINO on the float graph), checks that they agree (cosine of the image
features) and records the choice and its reason in the manifest (runtime "hybrid"). Where nncf is installed,
OpenVINO's int8 model of the float graph is built too, calibrated on frames of the synthetic set. The float
graph and OpenVINO's int8 model are kept only when the chosen encoder runs them. For families that ask for it
(MiniCPM-V 4.6, whose f16 projector is 1.1 GB) a weightless copy of the projector is written too
(export/convert/layout_projector.py): with it libmtmd lays the prompt out without loading the projector's weights
while ONNX encodes.
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
from engine.media.frames import Frame
from engine.models.manifest import MANIFEST_NAME, Manifest, file_entry
from engine.runtime.backends.hybrid import LAYOUT_ROLE, measure_vision_encoders
from engine.runtime.backends.openvino_vision import OPENVINO_INT8
from export.convert.gguf import export_gguf
from export.convert.layout_projector import LAYOUT_NAME, write_layout_projector
from export.convert.onnx import _quantize_int8, export_vision_fp32
from export.datasets.synth import products
from export.families import families, for_checkpoint

log = logging.getLogger(__name__)
StepFn = Callable[[str], None]
KEEP_ONNX = ("vision_encoder.onnx", "config.json", "preprocessor_config.json")
FLOAT_VISION = "vision_encoder_fp32.onnx"
FLOAT_DATA = FLOAT_VISION + ".data"   # its weights, when the graph is over protobuf's 2 GB (MiniCPM-V 4.6's 2.2 GB)
PROTOBUF_LIMIT = 2_000_000_000


def _copy_graph(src: Path, dest: Path) -> None:
    """A copy of an exported graph. torch writes a graph over 2 GB as a loose file per weight beside it: the
    copy keeps them in one file of its own (FLOAT_DATA), so the originals can go."""
    loose = sum(f.stat().st_size for f in src.parent.iterdir() if f.is_file()) - src.stat().st_size
    if loose < PROTOBUF_LIMIT // 4 and src.stat().st_size < PROTOBUF_LIMIT:
        shutil.copy(src, dest)
        return
    import onnx
    model = onnx.load(str(src))
    onnx.save_model(model, str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=dest.name + ".data", size_threshold=1024)


def _vision_exports(family) -> bool:
    """Its vision encoder exports to ONNX: with the whole model (``onnx``) or alone (``vision_onnx``: MiniCPM-V
    4.6, whose Qwen3.5 text model does not)."""
    return family.onnx or getattr(family, "vision_onnx", False)


CALIBRATION_IMAGES = 8          # NNCF's activation ranges: synthetic-set pictures at the encoder's input size


def calibration_frames(n: int = CALIBRATION_IMAGES, size: int = 512) -> list:
    """Pictures of the synthetic fashion set (a seed of its own, not the training or test rows' one)."""
    import numpy as np

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
    t0 = time.perf_counter()
    checkpoint, out = Path(checkpoint).resolve(), Path(out)
    check_output(out, OutputKind.EXPORT, inputs=(checkpoint,))      # before any work
    family = for_checkpoint(checkpoint)
    if not _vision_exports(family):
        able = ", ".join(f.name for f in families().values() if _vision_exports(f))
        raise VitrineError(f"{checkpoint.name}: a hybrid model needs the ONNX vision encoder, which exists for "
                           f"{able} checkpoints, not {family.name} (export it to GGUF instead)")
    step = on_step or (lambda s: None)
    with atomic_folder(out, OutputKind.EXPORT, inputs=(checkpoint,)) as staging:
        step("text model and projector (GGUF)")
        g = export_gguf(checkpoint, staging / "gguf", quant=quant, mmproj_type="f16", name=name)
        step("vision encoder (ONNX fp32 and int8)")
        onnx_dir = staging / "onnx"
        onnx_dir.mkdir()
        export_vision_fp32(checkpoint, onnx_dir, family)
        # OpenVINO runs the float graph (with bf16 precision where the CPU has it) faster than onnxruntime's int8,
        # and runs onnxruntime's int8 format slowly: keep the float graph beside the int8 one until timed
        _copy_graph(onnx_dir / "vision_encoder.onnx", onnx_dir / FLOAT_VISION)
        _quantize_int8(onnx_dir, ("vision",))    # the same int8 graph `export onnx --quant int8` writes
        for f in onnx_dir.iterdir():          # and the exporter's loose weight files (a graph over 2 GB)
            if f.name not in KEEP_ONNX + (FLOAT_VISION, FLOAT_DATA):
                f.unlink()
        (staging / "gguf" / MANIFEST_NAME).unlink()
        gguf = {role: Path("gguf") / e.path for role, e in g.manifest.files.items()}
        step("timing the vision encoders on this machine")
        vision = measure_vision_encoders(staging / gguf["model"], staging / gguf["mmproj"],
                                         onnx_dir / "vision_encoder.onnx", threads,
                                         vision_float=onnx_dir / FLOAT_VISION, calibration=calibration_frames())
        files = {role: file_entry(staging, str(gguf[role].as_posix())) for role in ("model", "mmproj")}
        if getattr(family, "layout_projector", False):
            step("a weightless projector for the prompt layout")
            layout = staging / "gguf" / LAYOUT_NAME
            try:
                write_layout_projector(staging / gguf["mmproj"], layout)
                files[LAYOUT_ROLE] = file_entry(staging, f"gguf/{LAYOUT_NAME}")
            except VitrineError as e:           # the hybrid then loads the projector whole, as before
                log.warning("no weightless projector: %s", e)
        kept = [("vision", "vision_encoder.onnx"), ("config", "config.json"),
                ("preprocessor", "preprocessor_config.json")]
        if vision["graph"] == "vision_float" or keep_float:
            kept.append(("vision_float", FLOAT_VISION))
            if (onnx_dir / FLOAT_DATA).is_file():
                kept.append(("vision_float_data", FLOAT_DATA))
        else:       # the chosen encoder does not run it: not worth its disk space
            (onnx_dir / FLOAT_VISION).unlink()
            (onnx_dir / FLOAT_DATA).unlink(missing_ok=True)
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
