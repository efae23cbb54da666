"""`vitrine eval`: any model on a question set, a report a data team can read, runs that survive being killed."""
import csv
import json

import pytest

from engine.evaluation.evaluate import ANSWERS_FILE, EvalOptions, evaluate
from engine.settings import Settings
from tests.helpers import run_cli
from tests.fixtures.catalogs import write_lnqa_parquet
from tests.helpers import assert_one_line_error


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalsets") / "synth"
    from export.datasets.build import BuildOptions, synth
    synth(out, 80, BuildOptions(), size=64)
    return out


def test_eval_500_rows_writes_report_csv_and_plots(tiny_gguf, tmp_path):
    data = tmp_path / "set"
    assert run_cli("dataset", "synth", "--out", data, "--n", "80", "--size", "64").returncode == 0
    run = tmp_path / "run"
    r = run_cli("eval", data / "train.jsonl", "--limit", "500", "--model", tiny_gguf, "--out", run,
                "--max-tokens", "4", "--no-translate")
    assert r.returncode == 0, r.stderr
    assert "Levenshtein min" in r.stdout and "harness" in r.stdout
    report = (run / "report.md").read_text()
    for needle in ("VQA acc", "| model | min | mean | variance | std |", "per attribute", "per language",
                   "harness ms/answer", "Semantic match: e5 cosine >="):
        assert needle in report
    with open(run / "answers.csv", newline="") as f:
        answers = list(csv.DictReader(f))
    assert len(answers) == 500 and {"vqa", "levenshtein", "anls", "cosine", "total_s"} <= set(answers[0])
    for png in ("metrics.png", "by_attribute.png", "latency.png"):
        assert (run / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((run / "metrics.json").read_text())["models"][0]
    assert metrics["answered"] == 500 and set(metrics["by_lang"]) == {"en", "pt"}
    assert metrics["harness_ms"] > 0
    # and runs side by side
    r = run_cli("eval", "compare", run, run, "--out", tmp_path / "cmp")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| run/tiny") == 2 and (tmp_path / "cmp" / "comparison.md").is_file()


def test_a_killed_run_continues_where_it_stopped(tiny_gguf, synth_set, tmp_path):
    run = tmp_path / "run"
    opts = EvalOptions(max_tokens=2, translate=False, limit=30)
    seen = []

    def stop_after_ten(stage, done, total):
        seen.append(done)
        if stage.startswith("eval") and done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(str(synth_set / "test.jsonl"), [str(tiny_gguf)], run, opts, progress=stop_after_ten,
                 settings=Settings.from_env())
    assert len((run / ANSWERS_FILE).read_text().splitlines()) == 10
    assert not (run / "report.md").exists()
    asked = []
    result = evaluate(str(synth_set / "test.jsonl"), [str(tiny_gguf)], run, opts,
                      progress=lambda s, d, t: asked.append(t) if s.startswith("eval") else None,
                      settings=Settings.from_env())
    assert set(asked) == {20}                                   # only what was left
    assert result.models[0].answered == 30
    assert len((run / ANSWERS_FILE).read_text().splitlines()) == 30
    # a different set in the same folder is refused rather than mixed in
    with pytest.raises(Exception, match="another question set"):
        evaluate(str(synth_set / "val.jsonl"), [str(tiny_gguf)], run, opts, settings=Settings.from_env())


def test_portuguese_questions_go_through_translation(tiny_gguf, synth_set, tmp_path):
    pt = [line for line in (synth_set / "test.jsonl").read_text(encoding="utf-8").splitlines()
          if '"lang": "pt"' in line][:3]
    (synth_set / "pt.jsonl").write_text("\n".join(pt) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    result = evaluate(str(synth_set / "pt.jsonl"), [str(tiny_gguf)], run, EvalOptions(max_tokens=4),
                      settings=Settings.from_env())
    assert result.models[0].answered == 3 and set(result.models[0].by_lang) == {"pt"}


def test_the_briefs_baselines_load_and_answer(synth_set, tmp_path):
    """BLIP VQA and Pix2Struct/MatCha checkpoints (tiny, random) run through the same harness."""
    from tests.fixtures.baselines import build_blip, build_pix2struct
    blip, pix = build_blip(tmp_path / "blip-vqa"), build_pix2struct(tmp_path / "matcha")
    result = evaluate(str(synth_set / "test.jsonl"), [str(blip), str(pix)], tmp_path / "run",
                      EvalOptions(max_tokens=4, translate=False, limit=6), settings=Settings.from_env())
    assert [m.model for m in result.models] == ["blip-vqa", "matcha"]
    assert all(m.answered == 6 and m.errors == 0 for m in result.models)


def test_lnqa_parquet_reproduces_the_briefs_table(tiny_gguf, tmp_path):
    data = write_lnqa_parquet(tmp_path / "lnqa.parquet", images=60, pairs=10)
    r = run_cli("eval", data, "--limit", "500", "--model", tiny_gguf, "--out", tmp_path / "run",
                "--max-tokens", "4")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["models"][0]
    assert m["answered"] == 500
    assert set(m["levenshtein"]) == {"min", "mean", "variance", "std"}
    # the report's Levenshtein figures against the same figures worked out here from answers.csv's predictions
    # and references, with an edit distance written out by hand (population variance, as the brief's table)
    with open(tmp_path / "run" / "answers.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["error"]]
    dist = [min(_edit_distance(r["prediction"].strip().lower(), a.strip().lower())
                for a in r["answers"].split(" | ")) for r in rows]
    mean = sum(dist) / len(dist)
    assert len(dist) == 500 and m["levenshtein"]["min"] == min(dist)
    assert m["levenshtein"]["mean"] == pytest.approx(mean)
    assert m["levenshtein"]["variance"] == pytest.approx(sum((d - mean) ** 2 for d in dist) / len(dist))


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_eval_mistakes_get_one_line(tiny_gguf, synth_set, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.png", "question": "What color?"}\n')
    assert_one_line_error(run_cli("eval", bad, "--model", tiny_gguf, "--out", tmp_path / "r1"), "line 1",
                          "answers")
    assert_one_line_error(run_cli("eval", synth_set, "--model", "no-such-model", "--out", tmp_path / "r2"),
                          "no-such-model")
    assert_one_line_error(run_cli("eval", synth_set, "--out", tmp_path / "r3"), "--model")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_one_line_error(run_cli("eval", empty, "--model", tiny_gguf, "--out", tmp_path / "r4"), "no questions")
    parquet = tmp_path / "x.parquet"
    parquet.write_text("not parquet")
    assert_one_line_error(run_cli("eval", parquet, "--model", tiny_gguf, "--out", tmp_path / "r5"), "parquet")
    assert_one_line_error(run_cli("eval", "compare", tmp_path / "r1"), "not a finished")


def test_missing_images_are_skipped_and_counted(tiny_gguf, synth_set, tmp_path):
    lines = (synth_set / "test.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    row = json.loads(lines[0])
    row["image"], row["id"] = "images/gone.png", "gone"
    outside = dict(row, image="../../../etc/hostname", id="outside")
    (synth_set / "holes.jsonl").write_text("\n".join(lines + [json.dumps(row), json.dumps(outside)]) + "\n")
    result = evaluate(str(synth_set / "holes.jsonl"), [str(tiny_gguf)], tmp_path / "run",
                      EvalOptions(max_tokens=2, translate=False), settings=Settings.from_env())
    assert result.models[0].answered == 6 and result.models[0].errors == 2
    with open(tmp_path / "run" / "answers.csv", newline="") as f:
        errors = {r["row"]: r["error"] for r in csv.DictReader(f) if r["error"]}
    assert "image not found" in errors["gone"] and "outside" in errors["outside"]


# ---- runs that go wrong say so (no model needed: the model's side is faked) ----------------------------------------
def _question_set(folder, n=150):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"q{i}", "image": f"images/{i}.png", "question": "What colour is the shirt?",
                         "answers": ["red"], "attribute": "colour"}) for i in range(n)]
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "test.jsonl"


def _fake_answers(monkeypatch, disk_full_at=None):
    """Answers every row "red"; with ``disk_full_at``, that row's line is half-written and the disk is full."""
    import errno
    from dataclasses import asdict

    import engine.evaluation.evaluate as ev
    asked = []

    def ask_all(run, model, todo, progress, f, settings):
        asked.append([r.id for r in todo])
        for i, row in enumerate(todo):
            rec = ev.Record(model=model, row=row.id, attribute=row.attribute, lang=row.lang, question=row.question,
                            answers=list(row.answers), prediction="red", total_s=0.01)
            if i == disk_full_at:
                line = json.dumps(asdict(rec)) + "\n"
                f.write(line[:len(line) // 2])
                f.flush()
                raise OSError(errno.ENOSPC, "No space left on device")
            run.append(f, rec)

    monkeypatch.setattr(ev, "check_model", lambda name, settings: None)
    monkeypatch.setattr(ev, "_ask_all", ask_all)
    return asked


def test_a_run_resumed_after_a_full_disk_reports_every_row(tmp_path, monkeypatch):
    data, run = _question_set(tmp_path / "set"), tmp_path / "run"
    opts = EvalOptions(max_tokens=2, translate=False)
    _fake_answers(monkeypatch, disk_full_at=149)
    with pytest.raises(OSError):
        evaluate(str(data), ["fake"], run, opts, settings=Settings.from_env())
    assert not (run / ANSWERS_FILE).read_bytes().endswith(b"\n")        # a half-written last line
    asked = _fake_answers(monkeypatch)
    result = evaluate(str(data), ["fake"], run, opts, settings=Settings.from_env())
    assert asked == [["q149"]]                                            # the cut question, asked again
    assert result.models[0].answered == 150 and result.models[0].vqa == 1.0
    lines = (run / ANSWERS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 150 and all(json.loads(line)["prediction"] == "red" for line in lines)


def test_a_run_that_answered_nothing_fails_in_one_line(tmp_path, monkeypatch, capsys):
    """Every image missing: no answer at all is not a report of zeros with exit 0."""
    import engine.evaluation.evaluate as ev
    from engine.cli import main

    class NoModel:
        model_id = "fake"

        def close(self):
            pass

    monkeypatch.setattr(ev, "check_model", lambda name, settings: None)
    monkeypatch.setattr(ev, "open_model", lambda name, threads, settings: NoModel())
    data = _question_set(tmp_path / "set", n=5)
    code = main(["eval", str(data), "--model", "fake", "--out", str(tmp_path / "run")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0 and len(err) == 1, err
    assert "fake answered none of the 5 questions" in err[0] and "image not found" in err[0]


def test_a_run_file_of_the_wrong_shape_is_one_line(tmp_path, monkeypatch):
    from engine.errors import VitrineError
    data, run = _question_set(tmp_path / "set", n=3), tmp_path / "run"
    _fake_answers(monkeypatch)
    evaluate(str(data), ["fake"], run, EvalOptions(), settings=Settings.from_env())
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps(dict(info, models="fake")))
    with pytest.raises(VitrineError, match='run.json: "models" is a text, not a list'):
        evaluate(str(data), ["fake"], run, EvalOptions(), settings=Settings.from_env())
    (run / "run.json").write_text("[]")
    with pytest.raises(VitrineError, match="must hold a JSON object"):
        evaluate(str(data), ["fake"], run, EvalOptions(), settings=Settings.from_env())


def test_a_damaged_metrics_file_is_one_line_in_compare(tmp_path, monkeypatch):
    data, run = _question_set(tmp_path / "set", n=3), tmp_path / "run"
    _fake_answers(monkeypatch)
    evaluate(str(data), ["fake"], run, EvalOptions(), settings=Settings.from_env())
    assert run_cli("eval", "compare", run).returncode == 0
    metrics = json.loads((run / "metrics.json").read_text())
    for damage, needle in ((dict(metrics, models=["x"]), "a model's metrics are a text"),
                           (dict(metrics, models=[dict(metrics["models"][0], vqa="high")]), '"vqa" is a text'),
                           (dict(metrics, rows=None), '"rows" is null')):
        (run / "metrics.json").write_text(json.dumps(damage))
        assert_one_line_error(run_cli("eval", "compare", run), "metrics.json", needle, "run the evaluation again")
