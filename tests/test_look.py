"""The look (every garment in a frame, with colours and catalog matches) and "find it in this video": regions from
a real photo and from dressed figures, the no-person fallback, the CLI's JSON and one-line errors, and a video
index that finds the right moments, is reused, and resumes after an interruption."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.errors import BadInput, Cancelled
from engine.media.frames import Frame
from engine.settings import Settings
from export.bench import look as lb
from tests.helpers import indexed_shop  # noqa: E402
from export.bench.catalog import write_catalog

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def finder():
    from engine.look.regions import PoseFinder
    f = PoseFinder()
    yield f
    f.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small synthetic catalog, indexed (rows by id, and the catalog folder)."""
    return indexed_shop(tmp_path_factory.mktemp("shop"), n=80)


def _pick(rows: dict, garment: str, avoid: set[str] = frozenset()) -> str:
    return next(pid for pid, r in rows.items() if r["garment"] == garment and r["colour"] not in avoid)


def _query(rows: dict, pid: str) -> str:
    from engine.language import vocabulary as voc
    g, c = rows[pid]["garment"], rows[pid]["colour"]
    noun = voc.GARMENTS[g]
    return f"{noun.pt} {voc.COLOURS[c].agree(noun)}"


# ---- regions ------------------------------------------------------------------------------------------------------
def test_a_real_photo_of_a_person_gets_an_upper_body_box_over_the_chest(finder):
    import skimage.data

    from engine.look.regions import find_regions
    rgb = skimage.data.astronaut()            # a bust: shoulders at y~250, the hips at the bottom edge
    how, regions = find_regions(rgb, finder)
    assert how == "pose"
    upper = next(r for r in regions if r.name == "upper")
    b = upper.box
    assert b.y < 250 < 450 < b.y + b.h and b.x < 120 and b.x + b.w > 300        # shoulder to shoulder, to the waist
    assert upper.mask is not None and 0.3 < upper.mask.mean() < 1.0             # the suit, not the background
    assert not any(r.name in ("lower", "feet") for r in regions)                # no legs in the picture


def test_a_dressed_figure_gets_upper_above_lower_above_feet(finder, shop):
    from engine.look.regions import find_regions
    rows, _ = shop
    scene = lb.Scene([lb.Worn("upper", _pick(rows, "shirt"), "shirt", ""),
                      lb.Worn("lower", _pick(rows, "trousers"), "trousers", ""),
                      lb.Worn("feet", _pick(rows, "shoes"), "shoes", "")], "", cx=0.5)
    rgb = lb.draw_scene(scene, rows, 960, 540, seed=2)
    how, regions = find_regions(rgb, finder)
    by = {r.name: r.box for r in regions}
    assert how in ("pose", "person") and {"upper", "lower", "feet"} <= set(by)
    assert by["upper"].y < by["lower"].y < by["feet"].y
    for w in scene.worn:                        # each drawn garment lies mostly inside its region
        assert lb.cover(by[w.region].to_list(), w.box) >= 0.5, w.region


def test_a_frame_with_no_person_is_cut_to_the_product(finder):
    from engine.look.regions import find_regions
    rgb = np.full((300, 400, 3), 200, np.uint8)
    rgb[100:200, 150:250] = (200, 30, 30)       # a product on a table
    how, regions = find_regions(rgb, finder)
    assert how == "frame" and len(regions) == 1
    x, y, w, h = regions[0].box.to_list()
    assert 140 <= x <= 150 and 90 <= y <= 100 and 100 <= w <= 115 and 100 <= h <= 115
    assert regions[0].mask is not None and regions[0].mask.mean() > 0.8       # the product's pixels, not the table
    blank = np.full((300, 400, 3), 200, np.uint8)                              # nothing stands out: the whole frame
    assert find_regions(blank, finder)[1][0].box.to_list() == [0, 0, 400, 300]


def test_a_product_shots_pieces_near_each_other_are_one_product():
    from engine.look.regions import product_region
    rgb = np.full((360, 640, 3), (185, 182, 172), np.uint8)
    rgb[150:250, 150:290] = (250, 140, 20)      # a pair of shoes: two pieces with a gap between
    rgb[150:250, 320:460] = (250, 140, 20)
    rgb[120:126, 200:400] = (30, 160, 50)       # something thin just above, under a tenth of a shoe (a handle)
    rgb[2:6, 600:604] = (20, 20, 20)            # a speck far away is not the product
    x, y, w, h = product_region(rgb).box.to_list()
    assert x <= 150 and x + w >= 460 and y <= 120 and y + h >= 250
    assert x >= 140 and y >= 110 and x + w <= 470


@pytest.mark.parametrize("pattern", ["dotted", "striped", "plain"])
def test_a_product_shots_pattern_is_read_from_its_second_colour(finder, pattern):
    """A product on a table fills the picture: its dots or stripes are read (only the very pattern: a plain shoe
    gives no hint), so the dotted product ranks above the plain one of its kind and colour."""
    from engine.look.look import look_at
    rgb = np.full((540, 960, 3), (185, 182, 172), np.uint8)
    img, mask = lb._garment_image({"garment": "shoes", "colour": "black", "pattern": pattern}, 4, 320)
    lb._paste(rgb, img, mask, (240, 120, 480, 300))
    look = look_at(Frame(rgb, "shot.png"), None, None, finder)
    assert look.how == "frame" and len(look.items) == 1
    assert look.items[0].pattern == (None if pattern == "plain" else pattern)


def test_a_silhouette_with_no_skin_is_not_a_person():
    from engine.look.regions import _shows_skin
    person = np.zeros((200, 100), np.float32)
    person[20:190, 30:70] = 1.0
    rgb = np.full((200, 100, 3), 245, np.uint8)                 # white shoes standing on a wall: no skin
    assert not _shows_skin(rgb, person)
    rgb[20:45, 40:60] = (224, 172, 140)                          # a face
    assert _shows_skin(rgb, person)


def test_the_clerks_boxes_replace_the_regions_and_are_checked(finder):
    from engine.look.look import look_at, parse_boxes
    rgb = np.full((300, 400, 3), 200, np.uint8)
    rgb[100:200, 150:250] = (30, 60, 210)
    look = look_at(Frame(rgb, "t.png"), finder=finder, boxes=parse_boxes(["150,100,100,100", "0,0,50,50"]))
    assert look.how == "box" and [i.box.to_list() for i in look.items] == [[150, 100, 100, 100], [0, 0, 50, 50]]
    assert look.items[0].colors[0].en == "blue"
    with pytest.raises(BadInput, match="outside"):
        look_at(Frame(rgb, "t.png"), finder=finder, boxes=parse_boxes(["500,500,20,20"]))


def test_the_look_finds_each_garment_and_its_product_in_the_top_3(finder, shop):
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.look.look import look_at
    rows, folder = shop
    shirt = _pick(rows, "shirt")
    trousers = _pick(rows, "trousers", {rows[shirt]["colour"]})
    scene = lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", "")], "")
    rgb = lb.draw_scene(scene, rows, 1280, 720, seed=4)
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    try:
        look = look_at(Frame(rgb, "scene.png"), cat, None, finder, k=3)
    finally:
        cat.close()
    d = look.to_dict()
    by = {i["region"]: i for i in d["items"]}
    assert by["upper"]["colors"][0]["en"] == rows[shirt]["colour"]
    assert shirt in [m["id"] for m in by["upper"]["matches"]]
    assert trousers in [m["id"] for m in by["lower"]["matches"]]
    assert by["lower"]["garment"] == "trousers" and by["lower"]["garment_pt"] == "calça"
    json.dumps(d)                               # what the API returns: plain JSON


# ---- the CLI ------------------------------------------------------------------------------------------------------
def test_look_json_has_the_items_shape(cli, tmp_path, shop):
    import cv2
    import skimage.data
    _, folder = shop
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), skimage.data.astronaut()[:, :, ::-1])
    r = cli("look", path, "--json", "--no-attributes", "--catalog", folder)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["how"] == "pose" and d["width"] == 512 and d["items"]
    item = d["items"][0]
    assert {"region", "region_pt", "box", "garment", "garment_pt", "colors", "attributes", "matches"} <= set(item)
    assert item["colors"][0]["en"] == "orange" and item["colors"][0]["pt"] == "laranja"     # her launch suit
    assert len(item["matches"]) == 3 and {"id", "title", "score"} <= set(item["matches"][0])


@pytest.mark.parametrize("crops", [False, True])
def test_look_with_the_model_adds_schema_attributes(cli, tmp_path, installed_tiny, shop, crops):
    import cv2

    from engine.look.regions import KINDS
    rows, _ = shop
    scene = lb.Scene([lb.Worn("upper", _pick(rows, "shirt"), "shirt", ""),
                      lb.Worn("lower", _pick(rows, "trousers"), "trousers", "")], "")
    path = tmp_path / "figure.png"
    cv2.imwrite(str(path), lb.draw_scene(scene, rows, 960, 540, seed=2)[:, :, ::-1])
    r = cli("look", path, "--json", "--model", "tiny", "--max-tokens", "400", *(["--crops"] if crops else []))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["how"] == "pose" and d["items"] and d["model"] == "tiny"
    for item in d["items"]:     # a region the model calls empty is dropped; the others hold what the region can
        assert item["category"] == item["attributes"]["category"] != "nothing"
        assert item["category"] in KINDS[item["region"]]
        assert set(item["attributes_pt"]) == set(item["attributes"])


def test_the_model_reads_every_region_in_one_answer_about_the_frame(finder, shop, installed_tiny):
    from engine.look.look import look_at
    from engine.runtime.backends import load_backend
    from engine.runtime.session import Session
    rows, _ = shop
    scene = lb.Scene([lb.Worn("upper", _pick(rows, "shirt"), "shirt", ""),
                      lb.Worn("lower", _pick(rows, "trousers"), "trousers", ""),
                      lb.Worn("feet", _pick(rows, "shoes"), "shoes", "")], "")
    frame = Frame(lb.draw_scene(scene, rows, 960, 540, seed=2), "figure.png")
    session = Session(load_backend("tiny", settings=Settings.from_env()), settings=Settings.from_env())
    asked = []
    ask = session.ask

    def counted(frame, question, options, **kw):
        asked.append(options.schema)
        return ask(frame, question, options, **kw)
    session.ask = counted
    try:
        look = look_at(frame, None, session, finder, max_tokens=400)
        n_regions = len(asked[0]["properties"]) if asked else 0
        assert len(asked) == 1 and n_regions >= 3          # one question, an entry per region
        assert all(i.attributes and i.attributes_pt and i.category != "nothing" for i in look.items)
        asked.clear()
        look_at(frame, None, session, finder, max_tokens=400, crops=True)
        assert len(asked) == n_regions                      # --crops: one question per region's crop
    finally:
        session.close()


def test_the_looks_ask_on_a_real_runtime_that_never_ends_stays_within_the_bounds(tiny_gguf, finder):
    """The look on the tiny GGUF model (random weights), the end token banned: one question, asked as choices,
    its tokens and the model's runs (steps and fed batches) within the bounds of its schema in that vocabulary."""
    from dataclasses import replace

    import jsonschema

    from engine.look.look import look_at
    from engine.runtime.backends import load_backend
    from engine.runtime.constrained import ChoiceConstraint, compile_schema
    from engine.runtime.session import Session
    rows = {"s": {"garment": "shirt", "colour": "red", "pattern": "plain", "sleeve": "long"},
            "t": {"garment": "trousers", "colour": "blue", "pattern": "plain", "sleeve": ""},
            "f": {"garment": "shoes", "colour": "black", "pattern": "plain", "sleeve": ""}}
    scene = lb.Scene([lb.Worn("upper", "s", "shirt", "red"), lb.Worn("lower", "t", "trousers", "blue"),
                      lb.Worn("feet", "f", "shoes", "black")], "")
    frame = Frame(lb.draw_scene(scene, rows, 960, 540, seed=2), "figure.png")
    session = Session(load_backend(str(tiny_gguf), settings=Settings.from_env()), settings=Settings.from_env())
    backend = session.backend
    runs: list[int] = []
    step, feed = backend._step, backend._feed
    backend._step = lambda tok: runs.append(1) or step(tok)
    backend._feed = lambda tokens: runs.append(len(tokens)) or feed(tokens)
    asked = []
    ask = session.ask

    def never_ending(frame, question, options, **kw):
        options = replace(options, generation=replace(options.generation, ban_eos=True))
        answer = ask(frame, question, options, **kw)
        asked.append((options, answer))
        return answer
    session.ask = never_ending
    try:
        look_at(frame, None, session, finder)
        (options, answer), = asked
        assert options.choices and len(options.schema["properties"]) >= 3
        most_tokens, most_runs = ChoiceConstraint.over(backend.constraint_for(compile_schema(options.schema))).bounds()
    finally:
        session.close()
    jsonschema.validate(json.loads(answer.text), options.schema)
    assert answer.timings.n_tokens <= most_tokens and not answer.truncated
    assert 0 < len(runs) <= most_runs and sum(runs) < answer.timings.n_tokens


@pytest.mark.parametrize("args, words", [
    (("look", "missing.png"), "file not found"),
    (("look", "{img}", "--box", "1,2,3"), "4 numbers"),
    (("look", "{img}", "--box", "900,900,10,10", "--no-attributes"), "outside"),
    (("look", "{img}", "-k", "0"), "-k must be"),
    (("look", "{img}", "--catalog", "{tmp}/none", "--no-attributes"), "no catalog in"),
    (("find", "{img}", "vestido vermelho"), "is not a video"),
    (("find", "missing.mp4", "vestido vermelho"), "video not found"),
    (("find", "{video}", "xyz"), "no colour or garment"),
    (("find", "{video}", "vestido", "--every", "0"), "--every must be"),
])
def test_bad_input_gets_one_line(cli, tmp_path, media_dir, args, words):
    args = [a.format(img=media_dir / "look.png", video=media_dir / "clip.mp4", tmp=tmp_path) for a in args]
    r = cli(*args)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


# ---- find in a video ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video(tmp_path_factory, shop):
    """Six seconds at 5 fps, 640x360: seconds 0-2 a shirt and trousers, 3-5 a dress of another colour."""
    rows, _ = shop
    dress = _pick(rows, "dress")
    shirt = _pick(rows, "shirt", {rows[dress]["colour"]})
    trousers = _pick(rows, "trousers", {rows[dress]["colour"], rows[shirt]["colour"]})
    scenes = [lb.Scene([lb.Worn("upper", shirt, "shirt", ""), lb.Worn("lower", trousers, "trousers", "")], "",
                       cx=0.4),
              lb.Scene([lb.Worn("full", dress, "dress", "")], "", cx=0.6)]
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    lb.write_video(path, scenes, rows, scene_s=3.0, fps=5.0, size=(640, 360))
    return path, _query(rows, dress), _query(rows, shirt)


def test_find_returns_the_right_moments_first_and_reuses_its_index(cli, video, shop):
    path, dress_query, shirt_query = video
    _, folder = shop
    r = cli("find", path, dress_query, "--catalog", folder, "--json", "-n", "3")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["indexed_now"] == d["frames"] == 6
    assert [m["time"] for m in d["moments"]] and {m["time"] for m in d["moments"]} <= {3.0, 4.0, 5.0}
    assert d["moments"][0]["garment"] == "dress"
    r = cli("find", path, shirt_query, "--catalog", folder, "--json", "-n", "3", "--thumbs", path.parent / "thumbs")
    d = json.loads(r.stdout)
    assert d["indexed_now"] == 0                        # the index from the first search
    assert {m["time"] for m in d["moments"]} <= {0.0, 1.0, 2.0}
    assert all(Path(m["thumbnail"]).read_bytes()[:2] == b"\xff\xd8" for m in d["moments"])


def test_an_interrupted_index_resumes_where_it_stopped(video, shop, tmp_path, monkeypatch):
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.look.find import Query, find
    from engine.look.query import parse
    from engine.look.video_index import VideoIndex
    from engine.settings import Settings
    path, dress_query, _ = video
    _, folder = shop
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    stop = threading.Event()
    seen = []

    def progress(stage, done, total):
        seen.append(done)
        if done >= 2:
            stop.set()                                  # Ctrl-C after the second frame
    index = VideoIndex(path, 1.0, cat.signature.info.id, False, Settings.from_env())
    try:
        with pytest.raises(Cancelled, match="2 of 6"):
            index.build(cat, progress=progress, cancel=stop)
        assert index.frame_count() == 2 and not index.is_complete()
        index.close()
        index = VideoIndex(path, 1.0, cat.signature.info.id, False, Settings.from_env())
        assert index.build(cat) == 4 and index.is_complete()      # only the four it had not done
        assert index.build(cat) == 0
        moments, seconds = find(index, Query(parse(dress_query)), 3)
        assert moments and {m.t for m in moments} <= {3.0, 4.0, 5.0} and seconds < 0.2
        index.close()
        index = VideoIndex(path, 2.0, cat.signature.info.id, False, Settings.from_env())
        assert index.frame_count() == 0                 # another step: built again, never mixed
        index.build(cat)
        index.close()
        import engine.look.video_index as video_index
        monkeypatch.setattr(video_index, "LOOK_VERSION", video_index.LOOK_VERSION + "-next")
        index = VideoIndex(path, 2.0, cat.signature.info.id, False, Settings.from_env())
        assert index.frame_count() == 0                 # the look cuts regions another way: built again
        index.build(cat)
        index.db.execute("DELETE FROM meta WHERE key = 'look'")      # an index from before the key existed
        index.close()
        index = VideoIndex(path, 2.0, cat.signature.info.id, False, Settings.from_env())
        assert index.frame_count() == 0
    finally:
        index.close()
        cat.close()


def test_an_index_started_again_by_another_search_stops_the_build_still_running_on_it(video, shop):
    """Two searches of one video with other steps share its index file: the one that starts it again wins, the
    other stops at its next frame (Busy, one line) rather than saving frames under the other's settings."""
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.errors import Busy
    from engine.look.video_index import VideoIndex
    from engine.settings import Settings
    path, _, _ = video
    _, folder = shop
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    first = VideoIndex(path, 1.0, cat.signature.info.id, False, Settings.from_env())
    second = None
    try:
        assert first.build(cat, limit=1) == 1
        same = VideoIndex(path, 1.0, cat.signature.info.id, False, Settings.from_env())
        assert same.build(cat, limit=1) == 1               # the same settings: both may carry on
        same.close()
        second = VideoIndex(path, 2.0, cat.signature.info.id, False, Settings.from_env())   # starts it again
        with pytest.raises(Busy, match="search again"):
            first.build(cat, limit=1)
        assert second.build(cat) == 3 and second.is_complete()
        assert {round(t) for t in second.done_times()} == {0, 2, 4}     # nothing of the first's step in it
    finally:
        first.close()
        if second is not None:
            second.close()
        cat.close()


def test_a_catalog_sku_or_its_picture_finds_its_moments(video, shop, cli):
    from engine.catalog.sqlite_catalog import SqliteCatalog
    path, dress_query, _ = video
    rows, folder = shop
    dress = next(pid for pid, r in rows.items() if r["garment"] == "dress")
    r = cli("find", path, dress, "--catalog", folder, "--json", "-n", "2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["query"] == f"product {dress}" and {m["time"] for m in d["moments"]} <= {3.0, 4.0, 5.0}
    cat = SqliteCatalog(folder, settings=Settings.from_env())
    picture = cat.get(dress).image
    cat.close()
    r = cli("find", path, picture, "--catalog", folder, "--json", "-n", "1")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["query"].startswith("picture ") and d["moments"][0]["time"] in (3.0, 4.0, 5.0)


def test_two_searches_opening_one_index_at_once_agree_on_its_mark(vitrine_home, tmp_path, monkeypatch):
    """Both read the index's settings before either writes (two CLI runs, or the app and a CLI run, sharing one
    home): they must end with one mark, so neither stops the other's build."""
    import threading
    import types

    import engine.look.video_index as vi
    from engine.settings import Settings
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x" * 100)                     # the constructor only names the index after the file
    real_open = vi.open_database
    both_read = threading.Barrier(2)

    class ReadsThenWaits:                             # each opening waits, after reading the settings, for the other
        def __init__(self, db):
            self.db = db

        def __getattr__(self, name):
            return getattr(self.db, name)

        def execute(self, sql, *args):
            cur = self.db.execute(sql, *args)
            if sql.startswith("SELECT key, value FROM meta"):
                rows = cur.fetchall()
                try:
                    both_read.wait(0.5)                # the mend: the other is held at BEGIN IMMEDIATE meanwhile
                except threading.BrokenBarrierError:
                    pass
                return types.SimpleNamespace(fetchall=lambda: rows)
            return cur
    monkeypatch.setattr(vi, "open_database", lambda *a, **k: ReadsThenWaits(real_open(*a, **k)))
    opened = {}
    threads = [threading.Thread(target=lambda n=n: opened.__setitem__(n, vi.VideoIndex(video, 1.0, "sig", False,
                                                                                       Settings.from_env())))
               for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert set(opened) == {"a", "b"} and opened["a"]._build == opened["b"]._build
    finally:
        for index in opened.values():
            index.close()


def test_opening_a_store_file_waits_while_another_holds_it():
    """SQLite answers a new file's change to WAL "database is locked" at once, without its usual wait: opening is
    tried again for a while (two searches opening one new index together failed 7 times in 80 before)."""
    import sqlite3

    from engine.database import _while_locked
    tries = []

    def locked_twice():
        tries.append(1)
        if len(tries) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "opened"
    assert _while_locked(locked_twice) == "opened" and len(tries) == 3

    def broken():
        tries.append(1)
        raise sqlite3.OperationalError("no such table: meta")
    tries.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _while_locked(broken)
    assert len(tries) == 1                            # other errors are not tried again

    def always_locked():
        raise sqlite3.OperationalError("database is locked")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _while_locked(always_locked, wait_s=0.1)       # and the wait ends


def test_text_queries_read_portuguese_and_english():
    from engine.look.query import parse
    for text, colours, garments in [("vestido vermelho", ["red"], ["dress"]), ("red dress", ["red"], ["dress"]),
                                    ("Tênis Brancos", ["white"], ["sneakers"]), ("calca jeans", [], ["jeans"]),
                                    ("saia azul-marinho", ["navy"], ["skirt"]), ("bolsa preta", ["black"], ["bag"])]:
        q = parse(text)
        assert (q.colours, q.garments) == (colours, garments), text
    with pytest.raises(BadInput):
        parse("   ")


# ---- the indexes on disk: a cap, and forgetting one ---------------------------------------------------------------
def _fake_index(folder: Path, name: str, video: str, size: int, used: float) -> Path:
    import os
    import sqlite3
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE pad (b BLOB)")
    db.execute("INSERT INTO meta VALUES ('video', ?)", (video,))
    db.execute("INSERT INTO pad VALUES (?)", (b"\0" * size,))
    db.commit()
    db.close()
    os.utime(path, (used, used))
    return path


def test_old_indexes_go_least_recently_used_first_and_the_one_in_use_stays(vitrine_home):
    from engine.look.video_index import FOLDER, prune, stored_indexes
    folder = vitrine_home / FOLDER
    now = 1_000_000_000.0
    day = 86400
    a = _fake_index(folder, "a", "/v/a.mp4", 400_000, now - 5 * day)      # least recently used
    b = _fake_index(folder, "b", "/v/b.mp4", 400_000, now - 3 * day)
    c = _fake_index(folder, "c", "/v/c.mp4", 400_000, now - 1 * day)
    old = _fake_index(folder, "old", "/v/old.mp4", 10_000, now - 100 * day)
    (folder / "x.sqlite3.7.removing").write_bytes(b"half")                  # a removal a crash cut short
    assert [s.path.name for s in stored_indexes(Settings.from_env())] == ["old.sqlite3", "a.sqlite3", "b.sqlite3", "c.sqlite3"]
    # no size limit: only the one unused for 100 days goes
    assert [s.path.name for s in prune(Settings.from_env(), max_mb=0, max_days=90, now=now)] == ["old.sqlite3"]
    # 1 MB for all: the least recently used go until the rest fit; ``a`` is in use: it stays
    assert [s.path.name for s in prune(Settings.from_env(), max_mb=1.0, max_days=0, now=now, keep=a)] == ["b.sqlite3"]
    assert a.exists() and c.exists() and not b.exists() and not old.exists()
    assert not list(folder.glob("*.removing"))
    assert prune(Settings.from_env(), max_mb=0, max_days=0, now=now) == []                      # 0: no limit


def test_find_forget_removes_the_videos_index(cli, video, shop, vitrine_home):
    from engine.look.video_index import FOLDER
    path, dress_query, _ = video
    _, folder = shop
    import time
    other = _fake_index(vitrine_home / FOLDER, "other", "/v/other.mp4", 1000, time.time())
    r = cli("find", path, dress_query, "--catalog", folder, "--json", "-n", "1")
    assert r.returncode == 0, r.stderr
    assert len(list((vitrine_home / FOLDER).glob("*.sqlite3"))) == 2
    r = cli("find", path, "--forget")
    assert r.returncode == 0 and r.stdout.startswith("forgot 1 index"), r.stdout + r.stderr
    assert [p.name for p in (vitrine_home / FOLDER).iterdir()] == [other.name]     # only the other video's
    r = cli("find", path, "--forget")
    assert r.returncode == 0 and "no index" in r.stdout
    r = cli("find", path)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "say what to find" in r.stderr
