"""How closely an exported model agrees with the transformers original.

For one image and a few questions: the original's 32 greedy tokens; the variant's free-running greedy tokens
(identical leading tokens); teacher-forced top-1 agreement over those 32 positions (both models see the same
prefix at each step, so one early flip does not count 32 times, which matters on random weights whose logits
are nearly flat); max and mean absolute logit difference over those positions; and the cosine between the
image embeddings (what the vision encoder + projector give the language model).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.media.frames import Frame
from engine.devices import resolve
from engine.models.manifest import Manifest
from engine.runtime.backends import backend_for_manifest
from engine.runtime.backends.base import GenerationOptions
from engine.runtime.backends.onnx import OnnxBackend
from engine.runtime.backends.torch import TorchBackend
from export.families import for_checkpoint

log = logging.getLogger(__name__)
QUESTIONS = ("What is the person wearing?", "What color are the pants?", "Describe the blouse.")
N_TOKENS = 32


@dataclass
class ParityResult:
    variant: str
    greedy_identical_tokens: float        # mean over questions of identical leading tokens (of N_TOKENS)
    greedy_all_identical: bool
    teacher_forced_agreement: float       # fraction of positions whose top-1 token matches
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    image_cosine: float
    per_question: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def parity_image(size: int):
    """A fixed image of exactly one tile (no resampling differences between runtimes)."""
    rng = np.random.RandomState(7)
    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 90)], -1).astype(np.uint8)
    rgb[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = rng.randint(0, 255, 3)
    return Frame(rgb, "parity")


def _load(runtime: str, folder: Path, family: str):
    if runtime == "onnx":     # also before its manifest exists (parity runs inside the export)
        return OnnxBackend(folder, threads=2, family=family)
    # the export's own folder, on the CPU threads the reference gets: no store, no VITRINE_* settings
    return backend_for_manifest(Manifest.load(folder), folder, 2, 1, resolve(None))


def compare(checkpoint: Path | str, runtime: str, folder: Path | str, reference=None,
            variant: str | None = None) -> ParityResult:
    ref = reference or TorchBackend(checkpoint, threads=2)
    ours = _load(runtime, Path(folder), for_checkpoint(Path(checkpoint)).name)
    try:
        frame = parity_image(ref.tile)
        r_img, o_img = ref.encode(frame), ours.encode(frame)
        a, b = ref.image_embedding(r_img).ravel(), ours.image_embedding(o_img).ravel()
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)) if a.shape == b.shape else float("nan")
        opts = GenerationOptions(max_tokens=N_TOKENS, ban_eos=True)
        per_q, diffs_max, diffs_mean, agree = [], [], [], []
        for q in QUESTIONS:
            want = ref.generate(r_img, q, opts).token_ids
            got = ours.generate(o_img, q, opts).token_ids
            same = next((i for i, (x, y) in enumerate(zip(want, got)) if x != y), min(len(want), len(got)))
            lr = ref.teacher_forced_logits(r_img, q, want[:-1])
            lo = ours.teacher_forced_logits(o_img, q, want[:-1])
            d = np.abs(lr - lo)
            tf = float(np.mean(lo.argmax(-1) == np.array(want)))
            per_q.append({"question": q, "identical_tokens": same, "teacher_forced_agreement": round(tf, 4),
                          "max_abs_logit_diff": float(d.max())})
            diffs_max.append(float(d.max()))
            diffs_mean.append(float(d.mean()))
            agree.append(tf)
        return ParityResult(
            variant=variant or Path(folder).name, greedy_identical_tokens=float(np.mean([p["identical_tokens"] for p in per_q])),
            greedy_all_identical=all(p["identical_tokens"] == N_TOKENS for p in per_q),
            teacher_forced_agreement=round(float(np.mean(agree)), 4), max_abs_logit_diff=max(diffs_max),
            mean_abs_logit_diff=float(np.mean(diffs_mean)), image_cosine=round(cosine, 6), per_question=per_q)
    finally:
        ours.close()
