"""`vitrine eval`: ask every question of a set to one or more models and score the answers.

A run lives in one folder: ``run.json`` (the set, its hash, the options, the models), ``answers.jsonl`` (one
line per answer, appended and flushed as it comes, so a killed run continues where it stopped), and, once every
model is done, ``answers.csv``, ``metrics.json``, ``report.md`` and ``plots/`` (eval_report.py), each written to
a temp file and renamed.

Models go through the app's own path (Session: cached frames, translation of Portuguese questions for
English-only models), so the figures are what a clerk gets. Answers are scored after each model finishes, in one
batch (the e5 embeddings are cached per distinct text); the time the harness adds per answer beyond the model's
own is measured and reported.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import ModelFault, VitrineError
from engine.evaluation import report as eval_report
from engine.evaluation.qa_set import QARow, QASet, iter_answers, read_set, repair_log
from engine.files import OutputKind, check_output, mark_output, write_text_atomic
from engine.media.frames import Frame
from engine.models.store import ModelStore
from engine.runtime.backends import GenerationOptions, load_backend
from engine.runtime.backends.reference import open_checkpoint
from engine.runtime.session import AskOptions, Session
from engine.settings import Settings
from engine.text_files import json_kind, read_json

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
ANSWERS_FILE = "answers.jsonl"
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class EvalOptions:
    max_tokens: int = 32
    translate: bool = True         # Portuguese questions go through the app's translation for English models
    threads: int | None = None
    limit: int | None = None       # the first N rows of the set (the brief's protocol: 500)

    def check(self) -> "EvalOptions":
        if not 1 <= self.max_tokens <= 2048:
            raise VitrineError("--max-tokens must be between 1 and 2048")
        if self.limit is not None and self.limit < 1:
            raise VitrineError("--limit must be at least 1")
        return self


@dataclass
class Record:
    """One model's answer to one row, with its timings (scores are added when the model is done)."""
    model: str
    row: str
    attribute: str
    lang: str
    question: str
    answers: list[str]
    prediction: str = ""
    error: str = ""                # why there is no answer (an unreadable image...): counted, not scored
    total_s: float = 0.0
    ttft_s: float = 0.0
    tok_s: float = 0.0
    n_tokens: int = 0
    reused_image: bool = False
    harness_s: float = 0.0         # this row's time outside the model (image loading, bookkeeping, writing)
    scores: dict = field(default_factory=dict)


def set_fingerprint(qa: QASet) -> str:
    h = hashlib.sha256()
    for r in qa.rows:
        h.update(r.to_json().encode())
    return h.hexdigest()[:16]


def open_model(name: str, threads: int | None, settings: Settings):
    """An installed model, an exported folder, a .gguf file, or a transformers checkpoint folder (config.json)
    run by its family's reference (chat VLMs, BLIP VQA, Pix2Struct/MatCha)."""
    path = Path(name)
    if (path / "config.json").is_file() and not (path / "vitrine-model.json").is_file():
        return open_checkpoint(path, threads=threads)
    return load_backend(name, threads=threads, settings=settings)


def check_model(name: str, settings: Settings) -> None:
    """Before anything is written: the model exists (a path, or an installed name). Loading it may still fail."""
    path = Path(name)
    if path.exists():
        if path.is_dir() and not ((path / "config.json").is_file() or (path / "vitrine-model.json").is_file()):
            raise VitrineError(f"{name} is neither a Vitrine model folder (vitrine-model.json) nor a transformers "
                               "checkpoint (config.json)")
        return
    if os.sep in name or name.endswith(".gguf"):
        raise VitrineError(f"model not found: {name}")
    ModelStore.default(settings).get(name)


class Run:
    """A run folder: created for a set and models, or opened again to continue."""

    def __init__(self, folder: Path, data: str, qa: QASet, models: list[str], opts: EvalOptions):
        self.folder = Path(folder)
        self.qa = qa
        self.models = models
        self.opts = opts
        # threads change the speed, not the answers: a run may continue with other threads
        answers_opts = {k: v for k, v in asdict(opts).items() if k != "threads"}
        info = {"data": str(Path(data).resolve()), "set": set_fingerprint(qa), "rows": len(qa.rows),
                "models": models, "options": answers_opts}
        check_output(self.folder, OutputKind.EVAL_RUN)     # new, empty or a run: never a file or others' folder
        run_file = self.folder / RUN_FILE
        if run_file.is_file():
            old = read_json(run_file, "use a new --out folder (this one's run file is damaged)")
            if not isinstance(old.get("models", []), list):
                raise VitrineError(f"{run_file}: \"models\" is {json_kind(old['models'])}, not a list: use a new "
                                   "--out folder (this one's run file is damaged)")
            repair_log(self.folder / ANSWERS_FILE)       # a half-written last line: asked again, not glued onto
            if old.get("set") != info["set"] or old.get("options") != info["options"]:
                raise VitrineError(f"{self.folder} holds a run on another question set or with other options: use a "
                                   "new --out folder (or the same set and options to continue it)")
            answered = {m for m, _ in self.done()}        # a model that never answered is not carried over
            info["models"] = list(dict.fromkeys([m for m in old.get("models", []) if m in answered] + models))
        self.info = info
        self.folder.mkdir(parents=True, exist_ok=True)
        mark_output(self.folder, OutputKind.EVAL_RUN)
        write_text_atomic(run_file, json.dumps(info, indent=2))

    def done(self) -> dict[tuple[str, str], Record]:
        out = {}
        for d in iter_answers(self.folder / ANSWERS_FILE):
            try:
                rec = Record(**d)
            except TypeError:
                continue
            out[(rec.model, rec.row)] = rec
        return out

    def append(self, f, rec: Record) -> None:
        f.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")
        f.flush()


def _ask_all(run: Run, model: str, todo: list[QARow], progress: Progress | None, f, settings: Settings) -> None:
    opts = run.opts
    t_load = time.perf_counter()
    backend = open_model(model, opts.threads, settings)
    log.info("%s loaded in %.1fs", model, time.perf_counter() - t_load)
    session = Session(backend, conversation_turns=0, settings=settings)     # every question on its own, as scored
    generation = GenerationOptions(max_tokens=opts.max_tokens)
    last: tuple[object, Frame] | None = None     # a set asks several questions in a row about one image
    try:
        for i, row in enumerate(todo):
            t0 = time.perf_counter()
            rec = Record(model=model, row=row.id, attribute=row.attribute, lang=row.lang, question=row.question,
                         answers=list(row.answers))
            model_s = 0.0
            try:
                image_id = row.image or id(row.image_bytes)
                if last is None or last[0] != image_id:
                    last = (image_id, Frame(rgb=run.qa.load_rgb(row), source=row.image or row.id))
                frame = last[1]
                t_ask = time.perf_counter()
                answer = session.ask(frame, row.question, AskOptions(generation, lang=row.lang,
                                                                     translate=opts.translate))
                # the clerk's wait: translation both ways included (Session's own total starts after it)
                model_s = time.perf_counter() - t_ask
                rec.prediction = answer.text
                rec.total_s, rec.ttft_s = model_s, answer.timings.ttft_s
                rec.tok_s, rec.n_tokens = answer.timings.decode_tok_s, answer.timings.n_tokens
                rec.reused_image = answer.reused_image
            except VitrineError as e:
                rec.error = str(e)
            rec.harness_s = max(0.0, time.perf_counter() - t0 - model_s)
            run.append(f, rec)
            if progress:
                progress(f"eval {backend.model_id or model}", i + 1, len(todo))
    finally:
        session.close()


def evaluate(data: str, models: list[str], out: Path, opts: EvalOptions = EvalOptions(),
             progress: Progress | None = None, *, settings: Settings):
    """Answers every row with every model (continuing a killed run), then writes the report. Returns its
    metrics (eval_report.RunMetrics). ``settings``: the caller's, read once at its entry point (`vitrine eval`,
    with its --device; `vitrine finetune prove`)."""
    opts = opts.check()
    check_output(out, OutputKind.EVAL_RUN)          # before the set is read or a model looked up
    if not models:
        raise VitrineError("name at least one --model (an installed model, an exported folder or a checkpoint)")
    for model in models:
        check_model(model, settings)
    qa = read_set(data, limit=opts.limit)
    run = Run(out, data, qa, list(dict.fromkeys(models)), opts)
    done = run.done()
    with open(run.folder / ANSWERS_FILE, "a", encoding="utf-8") as f:
        for model in run.info["models"]:
            todo = [r for r in qa.rows if (model, r.id) not in done]
            if todo:
                if len(todo) < len(qa.rows):
                    log.warning("%s: continuing, %d of %d questions left", model, len(todo), len(qa.rows))
                _ask_all(run, model, todo, progress, f, settings)
            os.fsync(f.fileno())
    records = list(run.done().values())
    metrics = eval_report.write(run.folder, run.info, records, progress=progress)
    silent = [m for m in run.info["models"] if not any(r.model == m and not r.error for r in records)]
    if silent:
        # a report of zeros is not a result: say why, and fail, so a script does not take it for one
        first = next((r.error for r in records if r.model == silent[0] and r.error), "no answer was recorded")
        raise ModelFault(f"{', '.join(silent)} answered none of the {len(qa.rows)} questions (first error: {first})"
                         f"; the errors are in {run.folder / 'answers.csv'}")
    return metrics
