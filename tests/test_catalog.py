"""The store's catalog: similar products for a picture or a region, words in Portuguese or English, colours read
from the pixels, and a catalog that survives bad CSVs, a killed indexing run and a damaged file."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.catalog.products_csv import read_products_csv
from engine.catalog.sqlite_catalog import SqliteCatalog
from engine.errors import VitrineError
from engine.settings import Settings
from export.bench.catalog import colour_accuracy, recall_at_1, write_catalog
from tests.helpers import ROOT, small_csv


@pytest.fixture(scope="module")
def catalog_csv(tmp_path_factory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("shop"), n_synthetic=400, size=160)


@pytest.fixture(scope="module")
def built(catalog_csv, tmp_path_factory):
    read = read_products_csv(catalog_csv)
    cat = SqliteCatalog(tmp_path_factory.mktemp("store") / "catalog", settings=Settings.from_env())
    report = cat.add(read.products)
    yield cat, read, report
    cat.close()


def test_every_product_is_indexed_with_a_thumbnail(built):
    cat, read, report = built
    assert report.added == len(read.products) == report.indexed and not report.skipped
    info = cat.info()
    assert info.products == info.indexed == len(read.products) and info.pending == 0
    assert info.image_embedder.startswith("efficientnet-lite0-")
    assert cat.get(read.products[0].id).thumbnail[:2] == b"\xff\xd8"        # a JPEG


def test_augmented_copies_find_their_original(built):
    cat, read, _ = built
    assert recall_at_1(cat, read.products, copies=1) >= 0.9


def test_a_region_of_a_bigger_frame_finds_the_product(built):
    cat, read, _ = built
    from engine.catalog.product_images import load_rgb
    product = read.products[7]
    garment = load_rgb(product.image)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:360, 300:460] = garment
    hits = cat.search_image(frame[195:365, 295:465], k=3)
    assert hits[0].product.id == product.id and hits[0].score > hits[1].score


@pytest.mark.parametrize("query", ["vestido vermelho", "red dress"])
def test_words_in_either_language_find_the_product(built, query):
    cat, _, _ = built
    top = cat.search_text(query, k=1)[0].product
    assert top.attributes["garment"] == "dress" and top.attributes["colour"] == "red"


def test_synthetic_colours_are_named_exactly_in_both_languages():
    acc = colour_accuracy(n=200, seed=11)
    assert acc["colour_en"] >= 0.95 and acc["colour_pt"] >= 0.95


def test_pure_colours_are_named_in_portuguese_with_gender():
    from engine.media.colors import dominant_colors
    img = np.zeros((60, 60, 3), np.uint8)
    img[:] = (210, 30, 30)
    img[:, :20] = (245, 245, 245)
    colors = dominant_colors(img, mask=np.ones((60, 60)))
    assert [(c.en, c.pt, c.pt_f) for c in colors] == [("red", "vermelho", "vermelha"), ("white", "branco", "branca")]
    assert abs(colors[0].share - 2 / 3) < 0.02


def test_a_removed_product_leaves_the_results_also_after_reopening(tmp_path):
    read = read_products_csv(small_csv(tmp_path / "shop"))
    folder = tmp_path / "catalog"
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    cat.add(read.products)
    from engine.catalog.product_images import load_rgb
    gone = read.products[3]
    picture = load_rgb(gone.image)
    assert cat.search_image(picture, k=1)[0].product.id == gone.id
    assert cat.remove([gone.id, "not-there"]) == 1
    assert gone.id not in [h.product.id for h in cat.search_image(picture, k=20)]
    cat.close()
    again = SqliteCatalog(folder, settings=Settings.from_env())                   # the saved index is the one without it
    assert gone.id not in [h.product.id for h in again.search_image(picture, k=20)]
    assert gone.id not in [h.product.id for h in again.search_text("skirt dress shirt bag", k=20)]
    again.close()


def test_an_updated_row_is_reindexed_and_an_unchanged_one_is_not(tmp_path):
    csv_path = small_csv(tmp_path / "shop")
    folder = tmp_path / "catalog"
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    cat.add(read_products_csv(csv_path).products)
    text = csv_path.read_text().splitlines()
    text[1] = text[1].replace(text[1].split(",")[2], "Vestido de festa")
    csv_path.write_text("\n".join(text) + "\n")
    report = cat.add(read_products_csv(csv_path).products)
    assert (report.added, report.updated, report.indexed) == (0, 1, 0)
    assert report.unchanged == len(text) - 2
    assert cat.get(text[1].split(",")[0]).title == "Vestido de festa"
    cat.close()


def _cli(*args, env=None):
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True,
                          env=full, timeout=300, cwd=ROOT)


def test_a_killed_indexing_run_resumes(tmp_path):
    csv_path = write_catalog(tmp_path / "shop", n_synthetic=400, size=160, photos=False)
    total = len(read_products_csv(csv_path).products)
    folder = tmp_path / "catalog"
    env = dict(os.environ, PYTHONPATH=str(ROOT), VITRINE_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "catalog", "--catalog", str(folder), "add",
                             str(csv_path)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    indexed = 0
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(folder / "catalog.sqlite3", timeout=1) as db:
                    indexed = db.execute("SELECT COUNT(*) FROM products WHERE image_sig != ''").fetchone()[0]
            except sqlite3.Error:
                indexed = 0
            if indexed:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < indexed < total, "the run was not caught in the middle"
    out = _cli("catalog", "--catalog", folder, "show", "--json")
    assert out.returncode == 0, out.stderr
    assert 0 < json.loads(out.stdout)["pending"] < total
    out = _cli("catalog", "--catalog", folder, "index")
    assert out.returncode == 0, out.stderr
    info = json.loads(_cli("catalog", "--catalog", folder, "show", "--json").stdout)
    assert info["products"] == info["indexed"] == total and info["pending"] == 0
    found = json.loads(_cli("catalog", "--catalog", folder, "search", csv_path.parent / read_products_csv(
        csv_path).products[-1].image, "-k", "1", "--json").stdout)
    assert found["results"][0]["id"] == read_products_csv(csv_path).products[-1].id


def test_cli_add_search_by_region_and_words_and_colours(tmp_path):
    csv_path = small_csv(tmp_path / "shop", n=30)
    folder = tmp_path / "catalog"
    out = _cli("catalog", "--catalog", folder, "add", csv_path)
    assert out.returncode == 0, out.stderr
    assert "added" in out.stdout and "Traceback" not in out.stderr
    product = read_products_csv(csv_path).products[4]
    out = _cli("catalog", "--catalog", folder, "search", product.image, "--box", "4,4,88,88", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["results"][0]["id"] == product.id and result["focus"] == "box"
    colour = product.attributes["colour"]
    assert result["colors"][0]["en"] == colour
    out = _cli("catalog", "--catalog", folder, "search", "--text", f"{colour} {product.attributes['garment']}")
    assert out.returncode == 0 and product.attributes["garment"] in out.stdout.lower()
    out = _cli("colors", product.image, "--json")
    assert json.loads(out.stdout)["colors"][0]["en"] == colour


@pytest.mark.parametrize("header,row,message", [
    ("sku_code,picture,title", "1,a.png,Shirt", "no id or image column"),
    ("id,title", "1,Shirt", "no image column"),
])
def test_a_csv_without_id_or_image_columns_is_refused_in_one_line(tmp_path, header, row, message):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(f"{header}\n{row}\n")
    out = _cli("catalog", "--catalog", tmp_path / "c", "add", csv_path)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_missing_images_are_skipped_and_reported_not_fatal(tmp_path):
    csv_path = small_csv(tmp_path / "shop", n=5)
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines + ["ghost,images/ghost.png,Ghost dress,dress,red,plain",
                                           "escape,../../etc/passwd,Escape,dress,red,plain"]) + "\n")
    out = _cli("catalog", "--catalog", tmp_path / "c", "add", csv_path)
    assert out.returncode == 1, out.stderr                  # partial: the others are added
    assert "skipped ghost: image not found" in out.stderr and "skipped escape" in out.stderr
    assert f"{len(lines) - 1} added" in out.stdout


def test_duplicate_ids_add_nothing(tmp_path):
    csv_path = small_csv(tmp_path / "shop", n=5)
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines + [lines[1]]) + "\n")
    out = _cli("catalog", "--catalog", tmp_path / "c", "add", csv_path)
    assert out.returncode == 2 and "twice" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert json.loads(_cli("catalog", "--catalog", tmp_path / "c", "show", "--json").stdout)["products"] == 0


def test_an_index_built_with_another_embedder_is_not_mixed(tmp_path):
    read = read_products_csv(small_csv(tmp_path / "shop", n=5))
    folder = tmp_path / "c"
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    cat.add(read.products)
    cat.db.execute("UPDATE meta SET value = 'other-embedder-123' WHERE key = 'image_signature'")
    cat.close()
    out = _cli("catalog", "--catalog", folder, "search", read.products[0].image)
    assert out.returncode == 2 and "indexed with other-embedder-123" in out.stderr and "--reindex" in out.stderr
    # a CSV of new products (it exists, and its rows are good): refused for the embedder, nothing added
    more = small_csv(tmp_path / "more", n=8)
    lines = more.read_text().splitlines()
    more.write_text("\n".join(lines[:1] + lines[6:]) + "\n")
    out = _cli("catalog", "--catalog", folder, "add", more)
    assert out.returncode == 2 and "indexed with other-embedder-123" in out.stderr and "--reindex" in out.stderr, \
        out.stderr
    assert json.loads(_cli("catalog", "--catalog", folder, "show", "--json").stdout)["products"] == 5
    out = _cli("catalog", "--catalog", folder, "index", "--reindex")
    assert out.returncode == 0, out.stderr
    out = _cli("catalog", "--catalog", folder, "search", read.products[0].image, "--json")
    assert json.loads(out.stdout)["results"][0]["id"] == read.products[0].id


def test_a_damaged_catalog_file_is_reported_and_left_as_it_was(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    db = folder / "catalog.sqlite3"
    db.write_bytes(b"this is not a database" * 200)
    before = db.read_bytes()
    out = _cli("catalog", "--catalog", folder, "show")
    assert out.returncode == 2 and "damaged" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before


def test_a_second_writer_is_told_to_wait(tmp_path):
    from engine.files import store_lock
    read = read_products_csv(small_csv(tmp_path / "shop", n=3))
    cat = SqliteCatalog(tmp_path / "c", settings=Settings.from_env())
    with store_lock(tmp_path / "c", "another add", "the catalog"):
        with pytest.raises(VitrineError, match="another vitrine is changing"):
            cat.add(read.products)
    cat.close()


def test_the_second_writer_names_the_first_even_in_the_moment_it_takes_the_lock(tmp_path):
    """CI once caught the loser between the winner's lock and its "pid N" line: the loser named nobody."""
    import threading
    from filelock import FileLock
    from engine.errors import Busy
    from engine.files import store_lock
    (tmp_path / "s").mkdir()
    first = FileLock(str(tmp_path / "s" / ".lock"))
    first.acquire()
    late = threading.Timer(0.3, (tmp_path / "s" / ".lock.info").write_text, ("pid 4242: models pull",))
    late.start()
    try:
        with pytest.raises(Busy, match=r"\(pid 4242: models pull\)"):
            with store_lock(tmp_path / "s", "models pull", "the model store"):
                pass
    finally:
        late.join()
        first.release()
    with store_lock(tmp_path / "s", "models pull", "the model store"):
        pass
    assert not (tmp_path / "s" / ".lock.info").exists(), "a finished writer's line outlived it"


def test_the_person_is_cut_out_of_a_photo():
    from engine.media.focus import PersonSegmenter, focus
    from export.bench.catalog import sample_photos
    astronaut = dict(sample_photos())["astronaut"]
    seg = PersonSegmenter()
    try:
        region = focus(astronaut, "auto", seg)
        assert region.how == "person" and 0.2 < region.mask.mean() < 0.95
        assert region.rgb.shape[0] < astronaut.shape[0] or region.rgb.shape[1] < astronaut.shape[1]
        assert focus(np.full((120, 120, 3), 200, np.uint8), "auto", seg).how == "frame"
    finally:
        seg.close()


def test_fashion_siglip_loads_from_the_store_and_searches(tmp_path, vitrine_home, monkeypatch):
    """The pullable embedder's loading code on a tiny random ONNX of the published signature, pulled from a
    fake hub on 127.0.0.1 like a user's one-time download."""
    from engine.catalog.embed import load_image_embedder, load_text_embedder
    from engine.catalog.similarity import ProductSignature
    from engine.models.hub import pull
    from engine.models.profiles import PROFILES
    from engine.models.store import ModelStore
    from tests.fixtures.embedders import tiny_fashion_siglip
    from tests.fixtures.hub import FakeHub
    files = tiny_fashion_siglip(tmp_path / "siglip")
    profile = PROFILES["fashion-siglip"]
    with FakeHub(tmp_path / "hub") as hub:
        for role, name in profile.files.items():
            hub.add(profile.repo, name, files[role])
        pull(ModelStore(vitrine_home / "models"), "fashion-siglip", hub.url)
    assert "fashion-siglip" not in [m.name for m in ModelStore(vitrine_home / "models").vlms()]
    image = load_image_embedder("fashion-siglip", Settings.from_env())
    v = image.embed_images([np.zeros((50, 80, 3), np.uint8), np.full((300, 200, 3), 255, np.uint8)])
    assert v.shape == (2, 32) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    t = load_text_embedder("fashion-siglip", Settings.from_env()).embed_texts(["red dress", "vestido vermelho"], query=True)
    assert t.shape == (2, 32)
    read = read_products_csv(small_csv(tmp_path / "shop", n=6))
    cat = SqliteCatalog(tmp_path / "c", signature=lambda: ProductSignature(image), settings=Settings.from_env())
    cat.add(read.products)
    assert cat.info().image_embedder.startswith("fashion-siglip-")
    from engine.catalog.product_images import load_rgb
    assert cat.search_image(load_rgb(read.products[2].image), k=1)[0].product.id == read.products[2].id
    cat.close()


def test_fashion_siglip_not_installed_says_how_to_get_it():
    from engine.catalog.embed import load_image_embedder
    with pytest.raises(VitrineError, match="vitrine models pull fashion-siglip"):
        load_image_embedder("fashion-siglip", Settings.from_env())


def test_colour_questions_are_recognised_in_both_languages():
    from engine.media.colors import asks_about_color
    assert asks_about_color("Qual é a cor da calça?") and asks_about_color("What colour is the shirt?")
    assert asks_about_color("what color is it") and not asks_about_color("Que peça é esta?")
    assert not asks_about_color("Describe the collar")


# ---- images the reader refuses: one product fails, with its reason; the others are indexed ----------------------
def _with_rows(csv_path: Path, rows: list[str], at: int | None = None) -> Path:
    lines = csv_path.read_text().splitlines()
    lines[at if at is not None else len(lines):at if at is not None else len(lines)] = rows
    csv_path.write_text("\n".join(lines) + "\n")
    return csv_path


def test_an_unreadable_image_fails_its_product_only_and_blocks_nothing(tmp_path):
    from tests.helpers import BOMB, encoded
    csv_path = small_csv(tmp_path / "shop", n=40)
    good = read_products_csv(csv_path).products
    images = csv_path.parent / "images"
    (images / "bomb.png").write_bytes(BOMB)                 # 60000x60000 in its header, under 100 bytes
    (images / "dot.png").write_bytes(encoded((1, 1)))
    _with_rows(csv_path, ["bomb,images/bomb.png,Bomb dress,dress,red,plain"], at=3)   # inside the first batch
    _with_rows(csv_path, ["dot,images/dot.png,Dot shirt,shirt,blue,plain"])
    folder = tmp_path / "catalog"

    out = _cli("catalog", "--catalog", folder, "add", csv_path)
    assert out.returncode == 1, out.stderr                  # partial: done, but not everything
    assert "Traceback" not in out.stderr and "unexpected" not in out.stderr
    assert "failed bomb: bomb.png is too large (3600 megapixels" in out.stderr
    assert "failed dot: dot.png is too small (1x1 pixels)" in out.stderr
    assert "catalog show --failed" in out.stderr
    info = json.loads(_cli("catalog", "--catalog", folder, "show", "--json").stdout)
    assert (info["products"], info["indexed"], info["failed"], info["pending"]) == (len(good) + 2, len(good), 2, 0)
    out = _cli("catalog", "--catalog", folder, "show", "--failed")
    assert out.returncode == 0, out.stderr
    listed = [line.split("\t") for line in out.stdout.strip().splitlines()]
    assert [i for i, _ in listed] == ["bomb", "dot"]
    assert "too large" in listed[0][1] and "too small" in listed[1][1]

    # later runs are not blocked and do not read the bad images again; a new product goes in
    out = _cli("catalog", "--catalog", folder, "index")
    assert out.returncode == 0 and out.stdout.startswith("0 products indexed"), out.stdout + out.stderr
    _with_rows(csv_path, [f"extra,{Path(good[0].image).relative_to(csv_path.parent)},Extra,dress,red,plain"])
    out = _cli("catalog", "--catalog", folder, "add", csv_path, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["added"], report["indexed"], report["failed"]) == (1, 1, [])
    found = json.loads(_cli("catalog", "--catalog", folder, "search", "--text", "Bomb dress", "-k", "60",
                            "--json").stdout)
    assert "bomb" not in [r["id"] for r in found["results"]]    # a failed product is not in the vectors

    # a fixed image is indexed on the next add, and leaves the failed list
    (images / "bomb.png").write_bytes(encoded((96, 96), colour=(200, 30, 30)))
    os.utime(images / "bomb.png", (time.time() + 5, time.time() + 5))
    out = _cli("catalog", "--catalog", folder, "add", csv_path, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["indexed"] == 1
    failed = json.loads(_cli("catalog", "--catalog", folder, "show", "--failed", "--json").stdout)["failed"]
    assert [f["id"] for f in failed] == ["dot"]


def test_the_app_import_counts_the_failed_products(tmp_path, qtbot):
    from desktop.catalog_worker import CatalogWorker
    from tests.helpers import BOMB
    csv_path = small_csv(tmp_path / "shop", n=4)
    (csv_path.parent / "images" / "bomb.png").write_bytes(BOMB)
    _with_rows(csv_path, ["bomb,images/bomb.png,Bomb dress,dress,red,plain"], at=1)
    worker = CatalogWorker(tmp_path / "catalog", config=Settings.from_env())
    got, errors = [], []
    worker.added.connect(got.append)
    worker.add_failed.connect(errors.append)
    worker.add_csv(str(csv_path))
    worker.shutdown()
    assert not errors and len(got) == 1
    assert [i for i, _ in got[0].skipped] == ["bomb"]
    assert got[0].indexed == len(read_products_csv(csv_path).products) - 1


def test_a_batch_holds_images_scaled_down_to_what_the_embedder_needs(tmp_path):
    from PIL import Image
    csv_path = small_csv(tmp_path / "shop", n=3)
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(csv_path.parent / "images" / "big.png")
    _with_rows(csv_path, ["big,images/big.png,Big red dress,dress,red,plain"])
    cat = SqliteCatalog(tmp_path / "catalog", settings=Settings.from_env())
    seen, vectors = [], cat.signature.vectors
    cat.signature.vectors = lambda images, masks=None: (seen.extend(im.shape for im in images), vectors(images))[1]
    report = cat.add(read_products_csv(csv_path).products)
    side = cat.signature.embedder.decode_side
    cat.close()
    assert report.indexed == report.added and not report.failed
    assert max(max(s[:2]) for s in seen) == side < 3000       # the 3000-pixel original never reached a batch
