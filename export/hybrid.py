"""`vitrine export hybrid`: llama.cpp's text model with the faster of two vision encoders, measured here.

Writes the GGUF pair (text model + f16 projector, which libmtmd needs to lay out the prompt) and the ONNX int8
vision encoder of the same checkpoint, times both encoders on a 512 px frame on this machine, checks that they
agree (cosine of the image features) and records the choice and its reason in the manifest (runtime "hybrid").
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.backends.hybrid import measure_vision_encoders
from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder, check_output
from engine.manifest import MANIFEST_NAME, Manifest, file_entry

log = logging.getLogger(__name__)
StepFn = Callable[[str], None]
KEEP_ONNX = ("vision_encoder.onnx", "config.json", "preprocessor_config.json")


@dataclass
class HybridExport:
    folder: Path
    manifest: Manifest
    seconds: float


def export_hybrid(checkpoint: Path | str, out: Path | str, quant: str = "Q8_0", name: str | None = None,
                  on_step: StepFn | None = None, threads: int | None = None) -> HybridExport:
    from .families import families, for_checkpoint
    from .gguf import export_gguf
    from .onnx import export_onnx
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
        step("vision encoder (ONNX int8)")
        export_onnx(checkpoint, staging / "onnx", quant="int8", parity=False)
        for f in (staging / "onnx").iterdir():          # the ONNX text model is not used: llama.cpp's is
            if f.name not in KEEP_ONNX:
                f.unlink()
        (staging / "gguf" / MANIFEST_NAME).unlink()
        gguf = {role: Path("gguf") / e.path for role, e in g.manifest.files.items()}
        step("timing both vision encoders on this machine")
        vision = measure_vision_encoders(staging / gguf["model"], staging / gguf["mmproj"],
                                         staging / "onnx" / "vision_encoder.onnx", threads)
        files = {role: file_entry(staging, str(gguf[role].as_posix())) for role in ("model", "mmproj")}
        for role, f in (("vision", "vision_encoder.onnx"), ("config", "config.json"),
                        ("preprocessor", "preprocessor_config.json")):
            files[role] = file_entry(staging, f"onnx/{f}")
        manifest = Manifest(name=name or f"{checkpoint.name}-hybrid", runtime="hybrid", family=family.name,
                            files=files, chat_handler=g.manifest.chat_handler, languages=list(family.languages),
                            quant=quant.upper(), source=str(checkpoint), extra={"vision": vision})
        manifest.save(staging)
    log.info("hybrid %s: %s", manifest.name, vision["why"])
    return HybridExport(out, manifest, time.perf_counter() - t0)
