"""`vitrine export parity`: export each variant of a checkpoint and compare it with the original (parity.py
compares; this module builds what it compares, so the comparison never imports the exporters)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from engine.errors import VitrineError
from engine.runtime.backends.torch import TorchBackend     # torch itself loads only when a sweep runs
from export.convert.gguf import export_gguf
from export.convert.onnx import export_onnx
from export.convert.parity import N_TOKENS, ParityResult, compare
from export.families import for_checkpoint

VARIANTS = {"onnx-fp32": ("onnx", "fp32"), "onnx-int8": ("onnx", "int8"), "onnx-int4": ("onnx", "int4"),
            "gguf-f16": ("gguf", "F16"), "gguf-q8_0": ("gguf", "Q8_0"), "gguf-q4_k_m": ("gguf", "Q4_K_M")}


def run_parity(checkpoint: Path | str, variants: list[str] | None = None, work: Path | None = None,
               on_step=None) -> list[ParityResult]:
    """Export each variant (into ``work``, a temporary folder by default) and compare it with the original."""
    checkpoint = Path(checkpoint)
    family = for_checkpoint(checkpoint)
    possible = [v for v, (runtime, _) in VARIANTS.items() if runtime == "gguf" or family.onnx]
    variants = variants or possible
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise VitrineError(f"unknown variant {unknown[0]!r}: choose from {', '.join(VARIANTS)}")
    missing = [v for v in variants if v not in possible]
    if missing:
        raise VitrineError(f"{checkpoint.name} ({family.name}) has no {missing[0]} export yet: choose from "
                           f"{', '.join(possible)}")
    step = on_step or (lambda s: None)
    tmp = Path(tempfile.mkdtemp(prefix="vitrine-parity-")) if work is None else Path(work)
    ref = TorchBackend(checkpoint, threads=2)
    results = []
    try:
        for v in variants:
            runtime, quant = VARIANTS[v]
            out = tmp / v
            step(f"exporting {v}")
            if not out.exists():
                if runtime == "onnx":
                    export_onnx(checkpoint, out, quant=quant, parity=False)
                else:
                    export_gguf(checkpoint, out, quant=quant, mmproj_type="f32" if quant == "F16" else "f16")
            step(f"comparing {v}")
            results.append(compare(checkpoint, runtime, out, reference=ref, variant=v))
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def format_table(results: list[ParityResult]) -> str:
    head = f"{'variant':<12} {'greedy same':>12} {'teacher-forced':>15} {'max |dlogit|':>13} {'mean |dlogit|':>14} {'image cos':>10}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r.variant:<12} {r.greedy_identical_tokens:>9.1f}/{N_TOKENS} {r.teacher_forced_agreement:>14.1%} "
                    f"{r.max_abs_logit_diff:>13.5f} {r.mean_abs_logit_diff:>14.6f} {r.image_cosine:>10.6f}")
    return "\n".join(rows)
