"""`vitrine dataset build|synth`: question sets a data team can trust (labels normalised, splits by product)."""
import json

import pytest

from engine.evaluation.qa_set import read_set
from tests.helpers import run_cli
from tests.fixtures.catalogs import write_deepfashion, write_styles_catalog
from tests.helpers import assert_one_line_error


def rows(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("sets") / "synth"
    r = run_cli("dataset", "synth", "--out", out, "--n", "120")
    assert r.returncode == 0, r.stderr
    assert "120 products" in r.stdout
    return out


def test_synth_set_is_split_by_product_in_two_languages(synth_set):
    splits = {s: rows(synth_set, s) for s in ("train", "val", "test")}
    products = {s: {r["product"] for r in v} for s, v in splits.items()}
    assert not (products["train"] & products["val"] or products["train"] & products["test"]
                or products["val"] & products["test"])
    every = [r for v in splits.values() for r in v]
    assert {r["lang"] for r in every} == {"en", "pt"}
    assert {"garment", "colour", "pattern", "sleeve", "describe"} <= {r["attribute"] for r in every}
    for r in every:
        assert (synth_set / r["image"]).is_file() and r["answers"]
    summary = json.loads((synth_set / "summary.json").read_text())
    assert summary["rows"] == {s: len(v) for s, v in splits.items()}
    assert "| split |" in (synth_set / "summary.md").read_text()


def test_portuguese_answers_agree_with_the_garment(synth_set):
    every = [r for s in ("train", "val", "test") for r in rows(synth_set, s)]
    by_id = {r["id"]: r for r in every}
    for r in every:
        if r["lang"] != "pt" or r["attribute"] != "colour":
            continue
        en = by_id.get(r["id"][:-2] + "en")
        if en and en["answers"] == ["red"]:
            q = r["question"]
            expected = {"da camisa?": "vermelha", "do vestido?": "vermelho", "dos sapatos?": "vermelhos",
                        "da calça?": "vermelha"}
            for tail, word in expected.items():
                if q.endswith(tail):
                    assert r["answers"] == [word], r


def test_synth_refuses_to_overwrite_and_too_few_images(synth_set, tmp_path):
    assert_one_line_error(run_cli("dataset", "synth", "--out", synth_set, "--n", "20"), "--force")
    assert_one_line_error(run_cli("dataset", "synth", "--out", tmp_path / "x", "--n", "3"), "at least 10")
    assert not (tmp_path / "x").exists()


def test_styles_csv_catalog(tmp_path):
    cat = write_styles_catalog(tmp_path / "fashion")
    out = tmp_path / "set"
    r = run_cli("dataset", "build", cat / "styles.csv", "--out", out, "--min-count", "5")
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layout"] == "fashion-product-images"
    assert summary["missing_images"] == 3 and summary["unreadable_images"] == 1     # skipped and counted
    assert summary["merged"]["colour"]["navy blue -> navy"] > 0
    assert summary["merged"]["garment"]["tshirts -> t-shirt"] > 0
    assert summary["merged"]["colour"]["teal -> blue"] == 2          # a shade merged into its family
    assert summary["dropped"] == {"colour": {"purple": 1}}            # "Mauve" on one product: no question
    qa = read_set(out / "train.jsonl")
    answers = {r.answers[0] for r in qa.rows if r.attribute == "colour" and r.lang == "en"}
    assert answers <= {"red", "blue", "navy"}         # commas in names did not shift the colour column
    assert qa.load_rgb(qa.rows[0]).shape[2] == 3       # images resolve into the catalog folder (set.json)


def test_deepfashion_na_means_no_question(tmp_path):
    cat = write_deepfashion(tmp_path / "df")
    out = tmp_path / "set"
    r = run_cli("dataset", "build", cat, "--out", out, "--min-count", "2")
    assert r.returncode == 0, r.stderr
    every = [r for s in ("train", "val", "test") for r in rows(out, s)]
    attrs = {r["attribute"] for r in every}
    assert {"sleeve", "fabric", "pattern"} <= attrs
    necklines = [r for r in every if r["attribute"] == "neckline" and r["lang"] == "en"]
    assert len(necklines) < 40          # the NA rows asked nothing
    assert all(r["answers"] == ["round"] for r in necklines)
    fabrics = {r["question"] for r in every if r["attribute"] == "fabric" and r["lang"] == "en"}
    assert fabrics == {"What fabric is the top made of?"}       # the lower and outer garment were NA
    products = {s: {r["product"] for r in rows(out, s)} for s in ("train", "test")}
    assert not products["train"] & products["test"]             # front/back views of one product stay together


def test_catalog_mistakes_get_one_line(tmp_path):
    bad = tmp_path / "cat.csv"
    bad.write_text("picture,colour\na.jpg,red\n")
    assert_one_line_error(run_cli("dataset", "build", bad, "--out", tmp_path / "o", "--image-column", "image",
                                  "--attributes", "colour"), "no column 'image'")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "styles.csv").write_text("id,articleType\n")
    assert_one_line_error(run_cli("dataset", "build", empty, "--out", tmp_path / "o"), "baseColour")
    cat = write_styles_catalog(tmp_path / "few", n=6, missing=0)
    assert_one_line_error(run_cli("dataset", "build", cat, "--out", tmp_path / "o"), "too few for a train/val/test split")
    assert not (tmp_path / "o").exists()                        # nothing half-written


def test_a_cp1252_styles_csv_builds_and_says_so_once(tmp_path):
    """What a spreadsheet in Brazil saves: Windows/Latin-1, accents in the names."""
    cat = write_styles_catalog(tmp_path / "fashion")
    text = (cat / "styles.csv").read_text(encoding="utf-8").replace("Brand Men", "Calça jeans Masculina")
    (cat / "styles.csv").write_bytes(text.encode("cp1252"))
    r = run_cli("dataset", "build", cat / "styles.csv", "--out", tmp_path / "set", "--min-count", "5")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("not UTF-8") == 1 and "cp1252" in r.stderr
    assert read_set(tmp_path / "set" / "train.jsonl").rows
    # bytes no encoding reads: one line naming the file and the line
    (cat / "styles.csv").write_bytes(text.encode("cp1252") + b"9999,Men,\x81\xc3(\n")
    assert_one_line_error(run_cli("dataset", "build", cat / "styles.csv", "--out", tmp_path / "o"),
                          "styles.csv, line 92", "UTF-8")


def write_store_csv(root, n=30):
    """A Brazilian store's catalog: Portuguese columns and values, ``n`` products."""
    import random as _random

    from export.datasets.synth import draw
    r = _random.Random(3)
    (root / "fotos").mkdir(parents=True)
    kinds = [("Camisa", "shirt"), ("Calça", "trousers"), ("Bolsa", "bag")]
    colours = [("vermelha", "red"), ("Azul", "blue"), ("preta", "black")]
    patterns = ["listrada", "lisa"]
    lines = ["sku,foto,produto,cor,estampa"]
    for i in range(n):
        (pt, _), (cor, drawn) = kinds[i % 3], colours[(i // 3) % 3]
        draw("shirt", drawn, "plain", "long", r, 48).save(root / "fotos" / f"{i}.jpg")
        lines.append(f"P{i},fotos/{i}.jpg,{pt},{cor},{patterns[i % 2]}")
    (root / "catalogo.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "catalogo.csv"


def store_build(csv, out, *extra):
    return run_cli("dataset", "build", csv, "--out", out, "--image-column", "foto", "--id-column", "sku",
                   "--attributes", "produto,cor,estampa", *extra)


def test_a_small_portuguese_store_catalog(tmp_path):
    """30 products with the default --min-count: scaled down and said, never every value dropped in silence;
    Portuguese columns and values reach the vocabulary, and both languages get their questions."""
    csv = write_store_csv(tmp_path / "loja")
    out = tmp_path / "set"
    r = store_build(csv, out)
    assert r.returncode == 0, r.stderr
    assert "--min-count 2 (scaled from 20 for a catalog of 30 products" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["min_count"] == 2 and summary["dropped"] == {}
    every = [x for s in ("train", "val", "test") for x in rows(out, s)]
    en = {(x["attribute"], x["answers"][0]) for x in every if x["lang"] == "en"}
    assert {("colour", "red"), ("colour", "black"), ("pattern", "striped"), ("pattern", "plain"),
            ("garment", "bag"), ("garment", "trousers")} <= en
    assert not any("the item" in x["question"] for x in every)
    pt = {x["question"]: x["answers"] for x in every if x["lang"] == "pt"}
    assert pt["Qual é a cor da bolsa?"] and pt["Qual é a estampa da calça?"]
    assert not any("cor of" in q or "estampa" in q for q in (x["question"] for x in every if x["lang"] == "en"))
    red_bag = [x for x in every if x["lang"] == "pt" and x["question"] == "Qual é a cor da bolsa?"
               and x["product"] in {f"P{i}" for i in range(30) if i % 3 == 2 and (i // 3) % 3 == 0}]
    assert red_bag and all(x["answers"] == ["vermelha"] for x in red_bag)
    for attribute in ("colour", "pattern", "garment"):     # counts per attribute and language, said and stored
        n_en = sum(1 for x in every if x["attribute"] == attribute and x["lang"] == "en")
        n_pt = sum(1 for x in every if x["attribute"] == attribute and x["lang"] == "pt")
        assert summary["questions"][attribute] == {"en": n_en, "pt": n_pt} and n_pt > 0
        assert f"{attribute} en {n_en} pt {n_pt}" in r.stdout
    assert "| colour |" in (out / "summary.md").read_text()


def test_a_min_count_that_drops_everything_is_an_error(tmp_path):
    csv = write_store_csv(tmp_path / "loja")
    assert_one_line_error(store_build(csv, tmp_path / "set", "--min-count", "20"),
                          "every value was seen on fewer than 20 products", "lower --min-count")
    assert not (tmp_path / "set").exists()
