"""`vitrine finetune prove`: show, end to end on this machine, that fine-tuning teaches a model and that the
exports keep what it learned.

On the synthetic fashion set (drawn in code, exact answers): a tiny random SmolVLM (``idefics3`` size
``fashion``) is evaluated on held-out colour, garment and pattern questions in English and Portuguese with the
evaluation harness (`vitrine eval`'s code), fine-tuned with `vitrine finetune`'s code, evaluated again, exported to
GGUF Q8_0 and ONNX int8 with `vitrine export`'s code and evaluated through the app's runtimes.

A random model has nothing for LoRA to adapt: it must learn to see. The proof trains every parameter
(``train="full"``, the same option as `vitrine finetune --train full`); LoRA is for a real base.

Forgetting: the base first learns a general task it is not fine-tuned on (the background's colour) and the
general task is evaluated before and after fine-tuning. The full proof fine-tunes twice, without and with that
task mixed in (``mix_ratio``); ``--quick`` fine-tunes once, mixed.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from engine.evaluation.evaluate import EvalOptions, evaluate
from engine.evaluation.qa_set import SET_FILE, QARow, read_set, write_jsonl
from engine.files import OutputKind, atomic_folder, check_output, mark_output, remove_output
from engine.settings import Settings
from export.convert.gguf import export_gguf
from export.convert.onnx import export_onnx
from export.datasets.build import BuildOptions, synth
from export.datasets.synth import COLOURS, GARMENTS, PATTERNS, draw
from export.families import build_checkpoint
from export.training.finetune import finetune
from export.training.merge import merge
from export.training.options import FinetuneOptions, Progress

log = logging.getLogger(__name__)

ATTRIBUTES = ("garment", "colour", "pattern")
GENERAL_QUESTION = "What color is the background?"
Step = Callable[[str], None]


@dataclass(frozen=True)
class ProofPlan:
    products: int            # synthetic fashion products drawn (80% train, 10% val, 10% test)
    test_questions: int      # held-out questions evaluated (colour, garment, pattern; en and pt)
    epochs: int
    general_products: int = 0    # 0: no general task
    general_epochs: int = 2
    compare_mixing: bool = True  # fine-tune twice (without, then with the general task mixed in); else once, mixed
    mix_ratio: float = 0.25
    batch_size: int = 32
    lr: float = 5e-4
    # the vision tower and connector learn from scratch best below the text model's rate (quick proof, garment
    # accuracy: 2e-3 -> 0.34, 5e-4 -> 0.57, 2e-4 -> 0.70, 1e-4 -> 0.55); None: the same as lr
    lr_vision: float | None = None
    image_size: int = 96


EPOCHS_QUICK = 4
# more drawn products, not more epochs, taught garment shapes (conversations, 5 epochs: 3000 products garment 0.65,
# 5000 products 0.92); an image's tensors cached between its questions pay for the larger set
QUICK = ProofPlan(products=5000, test_questions=300, epochs=EPOCHS_QUICK, general_products=1500, compare_mixing=False,
                  lr_vision=2e-4)
FULL = ProofPlan(products=4000, test_questions=600, epochs=6, general_products=1500)


@dataclass
class ProofResult:
    before: float
    after: float
    gguf_q8_0: float
    onnx_int8: float
    general_before: float | None       # None when the plan has no general task
    general_after: float | None
    minutes: float
    general_after_mixed: float | None = None
    after_mixed: float | None = None
    by_attribute: dict = field(default_factory=dict)     # after: {attribute: vqa}
    by_lang: dict = field(default_factory=dict)
    train_minutes: float = 0.0
    steps: int = 0
    work: str = ""

    def to_json(self) -> str:
        return json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()},
                          indent=2)


def _fashion_set(work: Path, plan: ProofPlan, seed: int) -> Path:
    out = work / "fashion"
    if not (out / "test.jsonl").is_file():
        synth(out, plan.products, BuildOptions(min_count=1, balance=1000, langs=("en", "pt"), seed=seed,
                                               describe=False), size=128, force=True)
    return out


def _general_set(work: Path, n: int, seed: int) -> Path:
    """"What color is the background?" on drawn garments whose background is a named colour."""
    out = work / "general"
    if (out / "test.jsonl").is_file():
        return out
    r = random.Random(seed)
    splits: dict[str, list[QARow]] = {"train": [], "val": [], "test": []}
    with atomic_folder(out, OutputKind.DATASET, flag="--work") as staging:
        (staging / "images").mkdir()
        for i in range(n):
            colour = r.choice(COLOURS)
            background = r.choice([c for c in COLOURS if c != colour])
            name = f"images/bg-{i:05d}.png"
            draw(r.choice(GARMENTS), colour, r.choice(PATTERNS), "", r, 128,
                 background=background).save(staging / name)
            split = "test" if i % 10 == 0 else "val" if i % 10 == 1 else "train"
            splits[split].append(QARow(id=f"bg-{i:05d}.0.background.en", image=name, question=GENERAL_QUESTION,
                                       answers=(background,), lang="en", attribute="background",
                                       product=f"bg-{i}"))
        for split, rows in splits.items():
            write_jsonl(staging / f"{split}.jsonl", rows)
        (staging / SET_FILE).write_text(json.dumps({"images": "."}))
    return out


def _test_file(fashion: Path, limit: int) -> Path:
    """The held-out questions the proof scores: colour, garment and pattern, English and Portuguese."""
    path = fashion / "proof-test.jsonl"
    if not path.is_file():
        rows = [r for r in read_set(str(fashion / "test.jsonl")).rows if r.attribute in ATTRIBUTES]
        write_jsonl(path, rows[:limit])
    return path


def _vqa(data: Path, model: Path, out: Path, settings: Settings) -> tuple[float, dict, dict]:
    remove_output(out, OutputKind.EVAL_RUN, flag="--work")        # an earlier proof's, in the proof's folder
    m = evaluate(str(data), [str(model)], out, EvalOptions(max_tokens=8), settings=settings).models[0]
    return m.vqa, {k: round(v["vqa"], 4) for k, v in m.by_attribute.items()}, \
        {k: round(v["vqa"], 4) for k, v in m.by_lang.items()}


def train_fashion(work: Path, plan: ProofPlan, base: Path, name: str, mix: Path | None = None,
                  on_progress: Callable[[Progress], None] | None = None, threads: int | None = None,
                  max_steps: int | None = None, *, settings: Settings) -> tuple[Path, object]:
    """Fine-tune ``base`` on the synthetic fashion set (every parameter) and merge it: (checkpoint, run info)."""
    fashion = _fashion_set(work, plan, seed=0)
    run = work / "runs" / name
    remove_output(run, OutputKind.FINETUNE_RUN, flag="--work")
    opts = FinetuneOptions(train="full", lr=plan.lr, lr_vision=plan.lr_vision, epochs=plan.epochs,
                           batch_size=plan.batch_size,
                           attributes=ATTRIBUTES, patience=plan.epochs, threads=threads, max_steps=max_steps,
                           mix=str(mix / "train.jsonl") if mix else "", mix_ratio=plan.mix_ratio if mix else 0.0)
    info = finetune(fashion, base, run, opts, on_progress=on_progress, settings=settings)
    return merge(run), info


def fashion_base(work: Path, seed: int = 0) -> Path:
    base = work / "base"
    if not (base / "config.json").is_file():
        build_checkpoint("idefics3", base, "fashion", seed=seed)
    return base


def prove(work: Path, quick: bool = True, threads: int | None = None, step: Step | None = None,
          on_progress: Callable[[Progress], None] | None = None, plan: ProofPlan | None = None, *,
          settings: Settings) -> ProofResult:
    """``settings``: the caller's, read once at its entry point (`vitrine finetune prove`); the evaluations and
    the training's translator get them."""
    t0 = time.perf_counter()
    plan = plan or (QUICK if quick else FULL)
    say = step or (lambda s: log.info("%s", s))
    work = Path(work).resolve()
    check_output(work, OutputKind.PROOF, flag="--work")     # a new, empty or earlier proof's folder, never another
    work.mkdir(parents=True, exist_ok=True)
    mark_output(work, OutputKind.PROOF)

    say("draw the synthetic fashion set")
    fashion = _fashion_set(work, plan, seed=0)
    test = _test_file(fashion, plan.test_questions)
    base = fashion_base(work)
    general = general_test = None
    if plan.general_products:
        say("teach the base a general task (the background's colour)")
        general = _general_set(work, plan.general_products, seed=1)
        general_test = general / "test.jsonl"
        run = work / "runs" / "general"
        remove_output(run, OutputKind.FINETUNE_RUN, flag="--work")
        finetune(general, base, run, FinetuneOptions(train="full", lr=plan.lr, lr_vision=plan.lr_vision,
                                                     epochs=plan.general_epochs,
                                                     batch_size=plan.batch_size, patience=plan.general_epochs,
                                                     threads=threads), on_progress=on_progress, settings=settings)
        base = merge(run, work / "base-general")
    say("evaluate the base")
    before, _, _ = _vqa(test, base, work / "evals" / "before", settings)
    general_before = (_vqa(general_test, base, work / "evals" / "general-before", settings)[0] if general_test
                      else None)

    say("fine-tune on fashion questions")
    t_train = time.perf_counter()
    mix_now = general if general is not None and not plan.compare_mixing else None
    tuned, info = train_fashion(work, plan, base, "fashion", mix=mix_now, on_progress=on_progress,
                                threads=threads, settings=settings)
    train_minutes = (time.perf_counter() - t_train) / 60
    say("evaluate the fine-tuned model")
    after, by_attribute, by_lang = _vqa(test, tuned, work / "evals" / "after", settings)
    general_after = (_vqa(general_test, tuned, work / "evals" / "general-after", settings)[0] if general_test
                     else None)

    say("export to GGUF Q8_0 and evaluate it")
    gguf = export_gguf(tuned, work / "exports" / "gguf-q8_0", quant="Q8_0", name="fashion-tiny").folder
    gguf_score, _, _ = _vqa(test, gguf, work / "evals" / "gguf-q8_0", settings)
    say("export to ONNX int8 and evaluate it")
    onnx = export_onnx(tuned, work / "exports" / "onnx-int8", quant="int8", name="fashion-tiny-onnx",
                       parity=False).folder
    onnx_score, _, _ = _vqa(test, onnx, work / "evals" / "onnx-int8", settings)

    result = ProofResult(before=before, after=after, gguf_q8_0=gguf_score, onnx_int8=onnx_score,
                         general_before=general_before, general_after=general_after, minutes=0.0,
                         by_attribute=by_attribute, by_lang=by_lang, train_minutes=train_minutes,
                         steps=info.step, work=str(work))
    if general is not None and plan.compare_mixing:
        say("fine-tune again with the general task mixed in")
        mixed, _ = train_fashion(work, plan, base, "fashion-mixed", mix=general, on_progress=on_progress,
                                 threads=threads, settings=settings)
        result.after_mixed = _vqa(test, mixed, work / "evals" / "after-mixed", settings)[0]
        result.general_after_mixed = _vqa(general_test, mixed, work / "evals" / "general-after-mixed",
                                          settings)[0]
    result.minutes = (time.perf_counter() - t0) / 60
    return result
