"""Scores, tables and plots of an evaluation run, and runs side by side (`vitrine eval compare`).

Every file is written to a temp file and renamed: a report is whole or absent.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import VitrineError
from engine.evaluation import metrics
from engine.evaluation.semantic import Similarity
from engine.files import atomic_path, write_text_atomic
from engine.text_files import check_fields, csv_cell, json_kind, read_json

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
Progress = Callable[[str, int, int | None], None]


@dataclass
class ModelMetrics:
    model: str
    answered: int
    errors: int
    vqa: float
    exact: float
    contains: float
    f1: float
    anls: float
    cosine: float                  # mean best e5 cosine to a reference answer
    semantic: float                # share of answers at or above the calibrated threshold
    levenshtein: dict              # the brief's table: min, mean, variance, std
    latency_p50: float
    latency_p95: float
    new_frame_p50: float           # questions about a frame not seen before (vision encoder ran)
    follow_up_p50: float           # questions about a frame already encoded
    ttft_p50: float
    tok_s_median: float
    harness_ms: float              # mean time per answer outside the model, while answering
    scoring_ms: float              # mean time per answer to score it afterwards (all metrics, e5 included)
    by_attribute: dict = field(default_factory=dict)   # attribute -> {vqa, contains, n}
    by_lang: dict = field(default_factory=dict)        # lang -> {vqa, contains, n}


@dataclass
class RunMetrics:
    folder: str
    data: str
    rows: int
    semantic_threshold: float
    semantic_calibration: str
    models: list[ModelMetrics]
    semantic_near_chance: bool = False      # the threshold barely beats always answering "same": the headline says


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _label(model: str) -> str:
    return Path(model).name or model


def score_records(records: list, similarity) -> float:
    """Fills ``rec.scores`` of every answered record; returns the seconds it took."""
    t0 = time.perf_counter()
    for rec in records:
        if rec.error:
            continue
        lang = rec.lang if rec.lang in ("en", "pt") else "en"
        s = asdict(metrics.score(rec.prediction, rec.answers, lang))
        s["cosine"] = similarity.cosine(rec.prediction, rec.answers) if similarity else 0.0
        rec.scores = s
    return time.perf_counter() - t0


def _group(recs: list, key: str) -> dict:
    out: dict[str, dict] = {}
    for value in sorted({getattr(r, key) for r in recs}):
        sub = [r for r in recs if getattr(r, key) == value]
        out[value] = {"vqa": statistics.fmean(r.scores["vqa"] for r in sub),
                      "contains": statistics.fmean(r.scores["contains"] for r in sub), "n": len(sub)}
    return out


def model_metrics(model: str, records: list, threshold: float, scoring_s: float) -> ModelMetrics:
    ok = [r for r in records if not r.error]
    n = max(1, len(ok))
    lev = [r.scores["levenshtein"] for r in ok] or [0]
    latency = [r.total_s for r in ok]
    mean = {k: sum(r.scores[k] for r in ok) / n for k in ("vqa", "exact", "contains", "f1", "anls", "cosine")}
    return ModelMetrics(
        model=_label(model), answered=len(ok), errors=len(records) - len(ok), **mean,
        semantic=sum(r.scores["cosine"] >= threshold for r in ok) / n,
        levenshtein={"min": float(min(lev)), "mean": float(np.mean(lev)), "variance": float(np.var(lev)),
                     "std": float(np.std(lev))},
        latency_p50=_pct(latency, 50), latency_p95=_pct(latency, 95),
        new_frame_p50=_pct([r.total_s for r in ok if not r.reused_image], 50),
        follow_up_p50=_pct([r.total_s for r in ok if r.reused_image], 50),
        ttft_p50=_pct([r.ttft_s for r in ok], 50),
        tok_s_median=float(np.median([r.tok_s for r in ok if r.tok_s > 0])) if any(r.tok_s > 0 for r in ok) else 0.0,
        harness_ms=1000 * statistics.fmean(r.harness_s for r in records) if records else 0.0,
        scoring_ms=1000 * scoring_s / max(1, len(records)),
        by_attribute=_group(ok, "attribute"), by_lang=_group(ok, "lang"))


def write(folder: Path, info: dict, records: list, progress: Progress | None = None) -> RunMetrics:
    folder = Path(folder)
    similarity = Similarity()
    calibration = similarity.calibrate()
    by_model: dict[str, list] = {}
    order = {m: i for i, m in enumerate(info["models"])}
    rows = {}
    for rec in records:
        by_model.setdefault(rec.model, []).append(rec)
    results = []
    for i, model in enumerate(sorted(by_model, key=lambda m: order.get(m, len(order)))):
        recs = sorted(by_model[model], key=lambda r: r.row)
        scoring_s = score_records(recs, similarity)
        results.append(model_metrics(model, recs, calibration.threshold, scoring_s))
        rows[model] = recs
        if progress:
            progress("score", i + 1, len(by_model))
    run = RunMetrics(folder=str(folder), data=info["data"], rows=info["rows"],
                     semantic_threshold=calibration.threshold,
                     semantic_calibration=f"e5 cosine >= {calibration.threshold:.3f} separates {calibration.pairs} "
                     f"labelled paraphrase pairs (en/pt) with {calibration.accuracy:.0%} accuracy (always the "
                     f"commoner label: {calibration.chance:.0%})",
                     models=results, semantic_near_chance=calibration.accuracy - calibration.chance < 0.10)
    _write_csv(folder / "answers.csv", [r for m in rows.values() for r in m])
    write_text_atomic(folder / METRICS_FILE, json.dumps(asdict(run), indent=2, ensure_ascii=False))
    plots = write_plots(folder / "plots", results, {_label(m): [r.total_s for r in recs if not r.error]
                                                    for m, recs in rows.items()})
    write_text_atomic(folder / "report.md", to_markdown(run, plots))
    return run


def _write_csv(path: Path, records: list) -> None:
    cols = ["model", "row", "attribute", "lang", "question", "answers", "prediction", "error", "vqa", "exact",
            "contains", "f1", "levenshtein", "anls", "cosine", "total_s", "ttft_s", "tok_s", "n_tokens",
            "reused_image"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in records:
        s = r.scores
        w.writerow([csv_cell(c) for c in [_label(r.model), r.row, r.attribute, r.lang, r.question, " | ".join(r.answers), r.prediction,
                    r.error] + [round(s[k], 4) if k in s else "" for k in ("vqa", "exact", "contains", "f1")] +
                   [s.get("levenshtein", ""), round(s.get("anls", 0), 4) if s else "",
                    round(s.get("cosine", 0), 4) if s else "", round(r.total_s, 4), round(r.ttft_s, 4),
                    round(r.tok_s, 2), r.n_tokens, int(r.reused_image)]])     # a model's answer is no formula
    write_text_atomic(path, buf.getvalue())


def write_plots(folder: Path, results: list[ModelMetrics], latencies: dict[str, list[float]] | None = None) \
        -> list[str]:
    """PNG plots (metric per model, per attribute, and the latency distribution when ``latencies`` are given:
    seconds per answer by model); returns their names."""
    import matplotlib
    matplotlib.use("Agg")            # no display needed, and never the app's Qt
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    names = [m.model for m in results]
    made = []

    def save(fig, name):
        with atomic_path(folder / name, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        made.append(f"plots/{name}")

    keys = ("vqa", "contains", "f1", "anls", "semantic")
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names) + 3), 3.6))
    width = 0.8 / len(keys)
    x = np.arange(len(names))
    for k, key in enumerate(keys):
        ax.bar(x + k * width, [getattr(m, key) for m in results], width, label=key)
    ax.set_xticks(x + width * (len(keys) - 1) / 2, names, rotation=15, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Metrics per model")
    ax.legend(fontsize=8, ncols=len(keys))
    save(fig, "metrics.png")

    attributes = sorted({a for m in results for a in m.by_attribute})
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(attributes) * max(1, len(names)) + 2), 3.6))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(attributes))
    for k, m in enumerate(results):
        ax.bar(x + k * width, [m.by_attribute.get(a, {}).get("vqa", 0) for a in attributes], width, label=m.model)
    ax.set_xticks(x + width * (len(names) - 1) / 2, attributes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("VQA accuracy")
    ax.set_title("Accuracy per attribute")
    ax.legend(fontsize=8)
    save(fig, "by_attribute.png")

    if latencies:
        fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(latencies) + 2), 3.6))
        ax.boxplot(list(latencies.values()), tick_labels=list(latencies), showfliers=True)
        ax.set_ylabel("seconds per answer")
        ax.set_title("Latency per answer")
        save(fig, "latency.png")
    return made


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def to_markdown(run: RunMetrics, plots: list[str]) -> str:
    ms = run.models
    lines = [f"# Evaluation: {Path(run.data).name}", "",
             f"{run.rows} questions from `{run.data}`; run folder `{run.folder}`.", ""]
    if run.semantic_near_chance:
        lines += [f"**Semantic match is near chance, not a figure to trust**: {run.semantic_calibration}. Read VQA "
                  "accuracy and \"contains\".", ""]
    lines += _table(["model", "answered", "errors", "VQA acc", "contains", "exact", "token F1", "ANLS",
                     "e5 cosine", "semantic match"],
                    [[m.model, m.answered, m.errors, f"{m.vqa:.3f}", f"{m.contains:.3f}", f"{m.exact:.3f}",
                      f"{m.f1:.3f}", f"{m.anls:.3f}", f"{m.cosine:.3f}", f"{m.semantic:.3f}"] for m in ms])
    lines += ["", "VQA accuracy uses the official VQA normalisation (Portuguese rows: the Portuguese variant); "
              "\"contains\" counts an answer that holds a reference as whole words (chat models answer in "
              f"sentences). Semantic match: {run.semantic_calibration}.", "",
              "## Levenshtein distance (characters to the closest reference)", ""]
    lines += _table(["model", "min", "mean", "variance", "std"],
                    [[m.model] + [f"{m.levenshtein[k]:.2f}" for k in ("min", "mean", "variance", "std")]
                     for m in ms])
    attributes = sorted({a for m in ms for a in m.by_attribute})
    lines += ["", "## VQA accuracy per attribute (contains in brackets)", ""]
    lines += _table(["model"] + attributes,
                    [[m.model] + [f"{m.by_attribute[a]['vqa']:.3f} ({m.by_attribute[a]['contains']:.3f})"
                                  if a in m.by_attribute else "" for a in attributes] for m in ms])
    langs = sorted({a for m in ms for a in m.by_lang})
    lines += ["", "## VQA accuracy per language", ""]
    lines += _table(["model"] + langs, [[m.model] + [f"{m.by_lang[x]['vqa']:.3f} (n={m.by_lang[x]['n']})"
                                                     if x in m.by_lang else "" for x in langs] for m in ms])
    lines += ["", "## Speed", ""]
    lines += _table(["model", "latency p50 (s)", "p95 (s)", "new frame p50", "follow-up p50", "first token p50",
                     "tokens/s", "harness ms/answer", "scoring ms/answer"],
                    [[m.model, f"{m.latency_p50:.3f}", f"{m.latency_p95:.3f}", f"{m.new_frame_p50:.3f}",
                      f"{m.follow_up_p50:.3f}", f"{m.ttft_p50:.3f}", f"{m.tok_s_median:.1f}",
                      f"{m.harness_ms:.2f}", f"{m.scoring_ms:.2f}"] for m in ms])
    lines += ["", "Harness: time per answer spent outside the model while answering (reading the image, "
              "bookkeeping, appending the answer). Scoring runs after each model, in one batch.", ""]
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def load_metrics(folder: Path) -> RunMetrics:
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        raise VitrineError(f"{folder} has no {METRICS_FILE}: it is not a finished `vitrine eval` run (run it again "
                           "to finish it)")
    fix = "the file is damaged: run the evaluation again"
    d = check_fields(read_json(path, fix), RunMetrics, str(path), fix)
    models = []
    for m in d["models"]:
        if not isinstance(m, dict):
            raise VitrineError(f"{path}: a model's metrics are {json_kind(m)}, not a JSON object: {fix}")
        models.append(ModelMetrics(**check_fields(m, ModelMetrics, str(path), fix)))
    return RunMetrics(**{**d, "models": models})


def compare(folders: list[Path], out: Path | None = None) -> str:
    """Runs side by side: one row per (run, model), the same columns as each report's main table."""
    if not folders:
        raise VitrineError("give the run folders to compare: vitrine eval compare RUN_DIR RUN_DIR ...")
    runs = [load_metrics(f) for f in folders]
    rows = []
    results = []
    for run in runs:
        for m in run.models:
            label = f"{Path(run.folder).name}/{m.model}"
            rows.append([label, Path(run.data).name, m.answered, f"{m.vqa:.3f}", f"{m.contains:.3f}", f"{m.f1:.3f}",
                         f"{m.anls:.3f}", f"{m.levenshtein['mean']:.2f}", f"{m.cosine:.3f}", f"{m.latency_p50:.3f}",
                         f"{m.tok_s_median:.1f}"])
            results.append(ModelMetrics(**{**asdict(m), "model": label}))
    sets = {Path(r.data).name for r in runs}
    lines = ["# Runs compared", ""]
    if len(sets) > 1:
        lines += [f"Note: these runs used different question sets ({', '.join(sorted(sets))}): compare with care.",
                  ""]
    lines += _table(["run/model", "set", "answered", "VQA acc", "contains", "token F1", "ANLS", "Levenshtein mean",
                     "e5 cosine", "latency p50 (s)", "tokens/s"], rows)
    text = "\n".join(lines) + "\n"
    if out is not None:
        out = Path(out)
        plots = write_plots(out / "plots", results)
        write_text_atomic(out / "comparison.md", text + "\n" + "\n".join(f"![{Path(p).stem}]({p})" for p in plots)
                          + "\n")
    return text
