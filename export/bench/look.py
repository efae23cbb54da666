"""`vitrine look-bench` (or `python -m export.bench.look`): the look's figures on a test video built in code.

The video: people-shaped figures (a head with a face, arms, legs: mediapipe's pose finds them) wearing the
synthetic catalog's garments (export.datasets.synth draws them; the same garment, colour, pattern and sleeve as a catalog
product, drawn again with other jitter), in front of scikit-image's sample photos or a plain wall, plus scenes with
no person. Each scene holds still-ish for ``scene_s`` seconds (the figure sways).

Figures: region recall (garments whose box the look covers), the right product in the top 3 per found garment,
precision@5 of colour + garment queries in Portuguese, seconds to index a minute of 720p video at one frame a
second, seconds per query, and seconds per look of a 720p frame (regions, colours and matches; with a model, add
its attributes per region).
"""
from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import BadInput
from engine.language import vocabulary as voc
from engine.media.frames import Frame
from engine.settings import Settings
from export.bench.backends import prepare
from export.bench.catalog import sample_photos, write_catalog

log = logging.getLogger(__name__)
# This module registers a command into every `vitrine` call's parser: the catalog, the look, the runtime and the
# generators (OpenCV, mediapipe, llama.cpp behind them) are imported where the benchmark runs.

SKIN = [(224, 172, 140), (198, 134, 99), (141, 85, 56), (240, 200, 170)]
HAIR = [(60, 40, 20), (20, 15, 10), (150, 100, 40)]
BACKGROUNDS = ("chelsea", "coffee", "rocket", "motorcycle_left", "")


@dataclass
class Worn:
    region: str              # upper, lower, full, feet, hand: where it is worn
    product: str             # the catalog product's id
    garment: str
    colour: str
    box: tuple[int, int, int, int] = (0, 0, 0, 0)    # x, y, w, h in the frame (set when drawn)


@dataclass
class Scene:
    worn: list[Worn]
    background: str
    person: bool = True
    cx: float = 0.5           # the figure's centre, as a share of the width
    scale: float = 0.9        # the figure's height, as a share of the frame's
    times: list[float] = field(default_factory=list)


def _garment_image(row: dict, seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The product drawn again (new jitter): its pixels and its mask, cropped to the garment."""
    from export.datasets import synth  # lazy: CLI startup, +0.25 s (PIL)
    bg = "green" if row["colour"] != "green" else "blue"
    r = random.Random(seed)
    img = np.asarray(synth.draw(row["garment"], row["colour"], row["pattern"], row.get("sleeve", ""), r, size,
                                background=bg)).copy()
    corner = img[:4, :4].reshape(-1, 3).mean(0)
    mask = np.abs(img.astype(int) - corner).sum(-1) > 60
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return img[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def _paste(frame: np.ndarray, img: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> None:
    import cv2
    x, y, w, h = box
    im = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    H, W = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    sub = frame[y0:y1, x0:x1]
    mm = m[y0 - y:y1 - y, x0 - x:x1 - x]
    sub[mm] = im[y0 - y:y1 - y, x0 - x:x1 - x][mm]


def _background(name: str, width: int, height: int) -> np.ndarray:
    import cv2
    if name:
        photos = dict(sample_photos())
        if name in photos:
            return cv2.resize(photos[name], (width, height), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    out[:] = (185, 182, 172)
    return out


def draw_scene(scene: Scene, rows: dict[str, dict], width: int = 1280, height: int = 720, sway: float = 0.0,
               seed: int = 0) -> np.ndarray:
    """One frame of ``scene``; sets each worn garment's box."""
    import cv2
    frame = _background(scene.background, width, height).copy()
    if not scene.person:
        for k, w in enumerate(scene.worn):       # a product shot: one product on a table, filling the picture
            img, mask = _garment_image(rows[w.product], seed + k)
            bh = int(height * 0.6)
            bw = min(int(bh * img.shape[1] / img.shape[0]), int(width * 0.6))
            w.box = (int(width * scene.cx - bw / 2 + sway * 10), int(height * 0.2), bw, bh)
            _paste(frame, img, mask, w.box)
        return frame
    r = random.Random(seed)
    s = height / 720 * scene.scale
    top = height * (1 - scene.scale) / 2 + 4
    cx = int(width * scene.cx + sway * 20 * s)
    skin, hair = SKIN[seed % len(SKIN)], HAIR[seed % len(HAIR)]
    dark = tuple(int(c * 0.8) for c in skin)

    def P(x, y):
        return int(cx + x * s), int(top + y * s)

    def S(v):
        return max(1, int(v * s))
    # human proportions (a 720-unit figure: head 0-95, shoulders 125, hips 365, knees 530, soles 705): the skin
    # body first, the garments over it, then the head, forearms and hands
    cv2.rectangle(frame, P(-15, 80), P(15, 135), skin, -1)
    cv2.ellipse(frame, P(0, 140), (S(82), S(30)), 0, 180, 360, skin, -1)
    for side in (-1, 1):
        cv2.line(frame, P(side * 78, 135), P(side * 92, 250), skin, S(28))
        cv2.line(frame, P(side * 92, 250), P(side * 104, 360), skin, S(24))
        cv2.line(frame, P(side * 38, 370), P(side * 42, 530), skin, S(46))
        cv2.line(frame, P(side * 42, 530), P(side * 44, 680), skin, S(38))
    boxes = {"upper": (P(-135, 118), P(135, 375)), "lower": (P(-85, 350), P(85, 685)),
             "full": (P(-135, 118), P(135, 600)), "feet": (P(-95, 668), P(95, 718)),
             "hand": (P(50, 372), P(170, 500)), "skirt": (P(-95, 350), P(95, 545))}
    order = {"lower": 0, "feet": 1, "upper": 2, "full": 2, "hand": 3}
    for k, w in sorted(enumerate(scene.worn), key=lambda kw: order[kw[1].region]):
        (x0, y0), (x1, y1) = boxes["skirt" if w.garment == "skirt" else w.region]
        img, mask = _garment_image(rows[w.product], seed * 7 + k + r.randint(0, 3))
        w.box = (x0, y0, x1 - x0, y1 - y0)
        _paste(frame, img, mask, w.box)
    if not any(w.region in ("upper", "full") for w in scene.worn):
        cv2.rectangle(frame, P(-80, 128), P(80, 365), (235, 235, 230), -1)     # a plain vest
    for side in (-1, 1):                                     # forearms and hands over the sleeves
        cv2.line(frame, P(side * 98, 300), P(side * 106, 365), skin, S(20))
        cv2.circle(frame, P(side * 107, 375), S(14), skin, -1)
    cv2.ellipse(frame, P(0, 50), (S(36), S(46)), 0, 0, 360, skin, -1)                # head
    cv2.ellipse(frame, P(0, 20), (S(40), S(22)), 0, 180, 360, hair, -1)
    for side in (-1, 1):
        cv2.ellipse(frame, P(side * 36, 52), (S(6), S(11)), 0, 0, 360, dark, -1)   # ears
        cv2.ellipse(frame, P(side * 14, 45), (S(8), S(5)), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(frame, P(side * 14, 45), S(3), (40, 30, 30), -1)
        cv2.line(frame, P(side * 22, 34), P(side * 7, 34), hair, S(3))           # eyebrows
    cv2.line(frame, P(0, 46), P(-3, 62), dark, S(3))                             # nose
    cv2.ellipse(frame, P(0, 74), (S(11), S(5)), 0, 0, 180, (150, 60, 60), S(3))
    return frame


def build_catalog(folder: Path, n: int = 400) -> tuple[Path, dict[str, dict]]:
    """The synthetic catalog (unique garment/colour/pattern/sleeve) and its rows by id."""
    import csv

    csv_path = write_catalog(folder, n_synthetic=n, size=160, photos=False)
    with open(csv_path, encoding="utf-8") as f:       # the sleeve is only in the title: "Red plain dress long sleeves"
        rows = {r["id"]: {**r, "sleeve": r["title"].split()[-2] if r["title"].endswith(" sleeves") else ""}
                for r in csv.DictReader(f)}
    return csv_path, rows


def plan(rows: dict[str, dict], seconds: float = 60.0, scene_s: float = 5.0, seed: int = 1) -> list[Scene]:
    """Scenes that fill ``seconds``: outfits of catalog products, every few scenes one with no person."""
    r = random.Random(seed)
    by = {}
    for pid, row in rows.items():
        by.setdefault(row["garment"], []).append(pid)
    scenes = []
    for i in range(int(seconds // scene_s)):
        bg = BACKGROUNDS[i % len(BACKGROUNDS)]
        if i % 6 == 5:
            p = r.choice(by["bag"] + by["shoes"])
            scenes.append(Scene([Worn("frame", p, rows[p]["garment"], rows[p]["colour"])], "", person=False))
            continue
        worn = []
        used = set()

        def pick(kinds):
            while True:
                p = r.choice([p for g in kinds for p in by.get(g, [])])
                if rows[p]["colour"] not in used:
                    used.add(rows[p]["colour"])
                    return p
        if r.random() < 0.3:
            p = pick(["dress"])
            worn.append(Worn("full", p, "dress", rows[p]["colour"]))
        else:
            p = pick(["shirt", "t-shirt"])
            worn.append(Worn("upper", p, rows[p]["garment"], rows[p]["colour"]))
            p = pick(["trousers", "skirt"])
            worn.append(Worn("lower", p, rows[p]["garment"], rows[p]["colour"]))
        p = pick(["shoes"])
        worn.append(Worn("feet", p, "shoes", rows[p]["colour"]))
        if r.random() < 0.4:
            p = pick(["bag"])
            worn.append(Worn("hand", p, "bag", rows[p]["colour"]))
        scenes.append(Scene(worn, bg, cx=r.uniform(0.3, 0.7)))
    return scenes


def write_video(path: Path, scenes: list[Scene], rows: dict[str, dict], scene_s: float = 5.0, fps: float = 10.0,
                size: tuple[int, int] = (1280, 720)) -> dict[float, Scene]:
    """The video; returns which scene each whole second shows."""
    import cv2
    w, h = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not out.isOpened():
        raise RuntimeError(f"cannot write {path}")
    at = {}
    n_per = int(round(scene_s * fps))
    for si, scene in enumerate(scenes):
        for f in range(n_per):
            t = (si * n_per + f) / fps
            rgb = draw_scene(scene, rows, w, h, sway=np.sin(f / fps * 2.0), seed=si)
            if abs(t - round(t)) < 1e-6:
                at[round(t, 3)] = scene
            out.write(np.ascontiguousarray(rgb[:, :, ::-1]))
    out.release()
    return at


def cover(item_box: list[int], true_box: tuple[int, int, int, int]) -> float:
    x, y, w, h = item_box
    X, Y, W, H = true_box
    iw = max(0, min(x + w, X + W) - max(x, X))
    ih = max(0, min(y + h, Y + H) - max(y, Y))
    return iw * ih / max(1, W * H)


def evaluate_looks(index, at: dict[float, Scene]) -> dict:
    """Region recall and top-3 from the index's items (each sampled frame's look)."""
    by_t: dict[float, list] = {}
    for it in index.items():
        by_t.setdefault(round(it.t, 3), []).append(it)
    garments = found = top3 = 0
    per: dict[str, list[int]] = {}          # worn region -> [garments, found, right in the top 3]
    for t, scene in at.items():
        items = by_t.get(t, [])
        for w in scene.worn:
            garments += 1
            row = per.setdefault(w.region, [0, 0, 0])
            row[0] += 1
            best = max(items, key=lambda it: (cover(it.box.to_list(), w.box) >= 0.5,
                                              _region_fit(it.region, w.region), cover(it.box.to_list(), w.box)),
                       default=None)
            if best is None or cover(best.box.to_list(), w.box) < 0.5:
                continue
            if scene.person and best.region == "frame":
                continue
            found += 1
            right = any(m["id"] == w.product for m in best.matches[:3])
            top3 += right
            row[1] += 1
            row[2] += right
    return {"garments": garments, "found": found, "region_recall": found / max(garments, 1),
            "top3": top3 / max(found, 1), "by_region": per}


def _region_fit(item_region: str, worn_region: str) -> int:
    return int(item_region == worn_region or (item_region == "frame" and worn_region == "frame"))


PT_QUERY = {"dress": "vestido", "shirt": "camisa", "t-shirt": "camiseta", "trousers": "calça", "skirt": "saia",
            "shoes": "sapatos", "bag": "bolsa"}


def precision_at_5(index, at: dict[float, Scene], catalog=None) -> tuple[float, list[dict], float]:
    from engine.look.find import Query, find  # lazy: CLI startup, +0.35 s (the runtime)
    from engine.look.query import parse  # lazy: CLI startup, +0.03 s
    combos = sorted({(w.colour, w.garment) for s in at.values() for w in s.worn})
    out, times = [], []
    for colour, garment in combos:
        noun = voc.GARMENTS[garment]
        text = f"{PT_QUERY[garment]} {voc.COLOURS[colour].agree(noun)}"
        relevant = {t for t, s in at.items() if any((w.colour, w.garment) == (colour, garment) for w in s.worn)}
        start = time.perf_counter()
        moments, _ = find(index, Query(parse(text), None, text), 5)
        times.append(time.perf_counter() - start)
        hits = sum(round(m.t, 3) in relevant for m in moments)
        out.append({"query": text, "relevant": len(relevant), "p5": hits / min(5, len(relevant))})
    return float(np.mean([q["p5"] for q in out])) if out else 0.0, out, max(times) if times else 0.0


# The bench's videos are split by seed (each seed plans other scenes: other outfits, backgrounds and places):
# mechanisms are tuned on the dev seeds only; the test seeds are reported, never looked at to tune. Seed 1 was the
# single video the figures were first reported on, so it is dev. Turn 8 tuned on three dev videos and saw dev 93.5% /
# test 83.2% in the top 3: three videos were too few to tune on, so dev has nine since turn 9 (seeds 7-12 added).
# holdout (13-15) is run once per release, after the tuning of that release is over: the test seeds' totals have been
# read every turn since turn 6, so holdout is the set nobody has seen.
DEV_SEEDS = (1, 2, 3, 7, 8, 9, 10, 11, 12)
TEST_SEEDS = (4, 5, 6)
HOLDOUT_SEEDS = (13, 14, 15)
# A number fitted on dev (a weight, a threshold) is fitted on dev-fit and checked on dev-check before it is kept.
SPLITS = {"dev": DEV_SEEDS, "dev-fit": (1, 2, 7, 8, 9, 10), "dev-check": (3, 11, 12), "test": TEST_SEEDS,
          "holdout": HOLDOUT_SEEDS}


def _merge(parts: list[dict]) -> dict:
    """The looks' figures of several videos as one: counts summed, shares recomputed."""
    garments = sum(p["garments"] for p in parts)
    found = sum(p["found"] for p in parts)
    right = sum(round(p["top3"] * p["found"]) for p in parts)
    per: dict[str, list[int]] = {}
    for p in parts:
        for name, row in p["by_region"].items():
            acc = per.setdefault(name, [0, 0, 0])
            for i in range(3):
                acc[i] += row[i]
    return {"garments": garments, "found": found, "region_recall": found / max(garments, 1),
            "top3": right / max(found, 1), "by_region": per}


def run_split(cat, rows: dict, finder, work: Path, seeds, seconds: float, stage, settings: Settings) -> dict:
    """Each seed's video built, indexed and scored; the looks' figures over all of them, p@5 and index time per
    video averaged."""
    from engine.look.video_index import VideoIndex  # lazy: CLI startup, +0.35 s (the runtime)
    looks, p5s, queries, index_s, query_s, frames = [], [], [], [], [], 0
    for seed in seeds:
        stage(f"video, seed {seed}")
        video = work / f"look-{seed}.mp4"
        at = write_video(video, plan(rows, seconds, seed=seed), rows)
        index = VideoIndex(video, 1.0, cat.signature.info.id, False, settings)
        try:
            start = time.perf_counter()
            frames += index.build(cat, finder=finder)
            index_s.append(time.perf_counter() - start)
            looks.append(evaluate_looks(index, at))
            p5, qs, q_s = precision_at_5(index, at, cat)
        finally:
            index.close()
        p5s.append(p5)
        queries += [{**q, "seed": seed} for q in qs]
        query_s.append(q_s)
    return {**_merge(looks), "seeds": list(seeds), "precision_at_5": float(np.mean(p5s)), "queries": queries,
            "frames_indexed": frames, "index_s_per_minute": float(np.median(index_s)) * 60.0 / max(seconds, 1e-9),
            "query_s_max": max(query_s)}


def run(work: Path | None = None, seconds: float = 60.0, on_stage=None, model: str | None = None,
        splits: tuple[str, ...] = ("dev", "test"), real_dim: bool = False, runs: int = 3) -> dict:
    """The figures per split (dev: tune on it; test: report it), the look's time on a 720p frame without a model,
    with ``model`` (a model name) and, with ``real_dim``, with the default model's real dimensions and random
    weights (export.bench.backends builds it once)."""
    import os

    from engine.catalog.products_csv import read_products_csv  # lazy: CLI startup, +0.02 s
    from engine.catalog.sqlite_catalog import SqliteCatalog  # lazy: CLI startup, +0.08 s
    from engine.look.regions import PoseFinder  # lazy: CLI startup, +0.03 s

    def stage(s):
        log.info(s)
        if on_stage:
            on_stage(s)
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="look-bench-")
        work = Path(tmp.name)
    try:
        # the bench is an entry point: a scratch home unless the caller named one, for it and anything it starts
        os.environ.setdefault("VITRINE_HOME", str(work / "home"))
        settings = Settings.from_env()          # the bench's entry point: read once, passed down
        stage("catalog")
        csv_path, rows = build_catalog(work / "shop")
        cat = SqliteCatalog(work / "catalog", settings=settings)
        cat.add(read_products_csv(csv_path).products)
        finder = PoseFinder()
        try:
            out = {name: run_split(cat, rows, finder, work, SPLITS[name], seconds, stage, settings) for name in splits}
            stage("look timing")
            out.update(time_looks(cat, rows, finder, work, model, real_dim, settings, runs))
        finally:
            finder.close()
            cat.close()
        out["threads"] = settings.threads
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


def _timing_frame(rows: dict, work: Path):
    """A 720p frame of a person wearing four garments (a bag among them) in front of a wall: every region is
    found, so every region is asked about (on a photo background the pose may fail and fewer are)."""
    by: dict[str, list[str]] = {}
    for pid, row in rows.items():
        by.setdefault(row["garment"], []).append(pid)
    scene = Scene([Worn("upper", by["shirt"][0], "shirt", ""), Worn("lower", by["trousers"][0], "trousers", ""),
                   Worn("feet", by["shoes"][0], "shoes", ""), Worn("hand", by["bag"][0], "bag", "")], "")
    return Frame(draw_scene(scene, rows, 1280, 720, seed=3), "timing-720p.png")


def time_looks(cat, rows: dict, finder, work: Path, model: str | None, real_dim: bool, settings: Settings,
               runs: int = 3) -> dict:
    """Seconds per look of a 720p frame (median of ``runs``): regions, colours and matches alone; and with a model
    reading every region's attributes, each region asked about the one encoded frame (the session encodes it once)."""
    from engine.look.look import look_at  # lazy: CLI startup, +0.35 s (the runtime)
    frame = _timing_frame(rows, work)
    look_at(frame, cat, None, finder)                 # warm: the pose graph and the embedder load once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        look = look_at(frame, cat, None, finder)
        times.append(time.perf_counter() - start)
    out: dict = {"look_720p_s_no_model": float(np.median(times)), "look_720p_regions": len(look.items)}
    wanted = []
    if model:
        wanted.append(("look_720p_with_model", model))
    if real_dim:
        _, folder = prepare("256m", "hybrid")
        wanted.append(("look_720p_real_dim", str(folder)))
    for key, name in wanted:
        out[key] = _time_model_look(frame, cat, finder, name, runs, settings)
    return out


def _time_model_look(frame, cat, finder, name: str, runs: int, settings: Settings) -> dict:
    from engine.look.look import look_at  # lazy: CLI startup, +0.35 s (the runtime)
    from engine.runtime.backends import load_backend  # lazy: CLI startup, +0.15 s (the runtime)
    from engine.runtime.session import Session  # lazy: CLI startup, +0.3 s (the runtime)
    threads = settings.threads
    start = time.perf_counter()
    session = Session(load_backend(name, threads=threads, settings=settings), settings=settings)
    load_s = time.perf_counter() - start
    answers: list = []
    ask = session.ask

    def counted(*a, **kw):                          # each region's answer: its tokens and where the time went
        answer = ask(*a, **kw)
        answers.append(answer)
        return answer
    session.ask = counted
    try:
        times, cpu, regions, model, parts = [], [], 0, "", []
        for i in range(runs + 1):                   # the first run warms up (graphs compiled): not counted
            answers.clear()
            rgb = frame.rgb.copy()
            rgb[0, 0] = (i * 37 % 256, 0, 0)        # a new picture each run (the session keys images by content)
            f = Frame(rgb, f"timing-{i}.png")
            start, start_cpu = time.perf_counter(), time.process_time()
            look = look_at(f, cat, session, finder)
            if i:
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                tm = [a.timings for a in answers]
                parts.append({"asked": len(tm), "encode_s": sum(t.image_encode_s for t in tm),
                              "prefill_s": sum(t.prefill_s for t in tm), "tokens": sum(t.n_tokens for t in tm),
                              "prompt_tokens": sum(t.prompt_tokens for t in tm),
                              "decode_s": sum(t.total_s - t.ttft_s for t in tm)})
            regions, model = max(regions, len(look.items)), look.model
    finally:
        session.close()
    mid = parts[int(np.argsort(times)[len(times) // 2])] if parts else {}
    # per frame: wall seconds and the process's CPU seconds (all its threads): on a shared machine the wall time
    # is what the other processes leave; the CPU time is the work itself
    return {"model": model or Path(name).name, "seconds": float(np.median(times)), "runs": runs,
            "frames_s": [round(t, 3) for t in times], "cpu_s": float(np.median(cpu)),
            "regions": regions, "load_s": load_s, "threads": threads, "median_run": mid}


def _split_lines(name: str, r: dict) -> list[str]:
    lines = [f"{name} (seeds {', '.join(map(str, r['seeds']))}): {r['garments']} garments, {r['found']} found",
             f"  region recall                {r['region_recall']:.1%}   (target >= 90%)",
             f"  right product in the top 3   {r['top3']:.1%}   (target >= 90% of found garments)",
             f"  precision@5 colour+garment   {r['precision_at_5']:.2f}    (target >= 0.8)",
             f"  index a minute of 720p       {r['index_s_per_minute']:.1f} s  (target <= 60 s)",
             f"  slowest query                {r['query_s_max'] * 1000:.1f} ms (target <= 200 ms)"]
    lines += [f"    {region:6s} {n} garments, {f} found, {t3} right in the top 3"
              for region, (n, f, t3) in r["by_region"].items()]
    return lines


def format_result(r: dict, queries: bool = False) -> str:
    lines = []
    for name in SPLITS:
        if name in r:
            lines += _split_lines(name, r[name])
            if queries:
                lines += [f"    seed {q['seed']} {q['query']:24s} p@5 {q['p5']:.2f} ({q['relevant']} relevant)"
                          for q in r[name]["queries"]]
    lines.append(f"look, 720p, no model           {r['look_720p_s_no_model']:.2f} s ({r['look_720p_regions']} regions; "
                 f"{r['threads']} threads)")
    for key, label in (("look_720p_with_model", "look, 720p,"), ("look_720p_real_dim", "look, 720p, real dims,")):
        m = r.get(key)
        if m:
            lines.append(f"{label} {m['model']}: {m['seconds']:.2f} s for {m['regions']} region(s), median of "
                         f"{m['runs']}, {m['threads']} threads (target <= 3 s)")
            if m.get("frames_s"):
                lines.append(f"  per frame {', '.join(f'{t:.2f}' for t in m['frames_s'])} s; CPU {m['cpu_s']:.2f} s "
                             "a frame (median, all threads)")
            p = m.get("median_run") or {}
            if p:
                lines.append(f"  {p['asked']} questions: image encoded {p['encode_s']:.2f} s, prefill {p['prefill_s']:.2f} s "
                             f"({p.get('prompt_tokens', 0)} prompt tokens), {p['tokens']} tokens decoded in "
                             f"{p['decode_s']:.2f} s")
    return "\n".join(lines)


def cmd_look_bench(args) -> int:
    import json

    splits = ("dev", "test") if args.split == "both" else (args.split,)
    if args.timing_only:
        splits = ()
    if not 1 <= args.runs <= 50:
        raise BadInput("--runs must be between 1 and 50")
    r = run(Path(args.work) if args.work else None, args.seconds, model=args.model, splits=splits,
            real_dim=args.real_dim, runs=args.runs)
    print(json.dumps(r, indent=2) if args.json else format_result(r, args.queries))
    return 0


def _arguments(b) -> None:
    b.add_argument("--seconds", type=float, default=60.0, help="length of each test video (default 60)")
    b.add_argument("--split", choices=("dev", "dev-fit", "dev-check", "test", "holdout", "both"), default="both",
                   help="which videos: dev (seeds 1-3 and 7-12, tune on these; dev-fit: 1, 2, 7-10 to fit a number, "
                   "dev-check: 3, 11, 12 to check it), test (seeds 4-6, report these), holdout (seeds 13-15, once per "
                   "release, after tuning) or both (dev and test)")
    b.add_argument("--work", help="keep the catalog, videos and indexes in this folder")
    b.add_argument("--model", help="also time the look with this model reading each region")
    b.add_argument("--real-dim", action="store_true",
                   help="also time the look with the default model (smolvlm-256m hybrid) at its real dimensions "
                   "and random weights (built once, cached)")
    b.add_argument("--timing-only", action="store_true",
                   help="only time the look on a 720p frame (no test videos): with --real-dim or --model, the "
                   "model's part too")
    b.add_argument("--runs", type=int, default=3, help="frames timed, after one to warm up (default 3; the median "
                   "is reported)")
    b.add_argument("--queries", action="store_true", help="list each query's precision@5")
    b.add_argument("--json", action="store_true")


def register(sub) -> None:
    b = sub.add_parser("look-bench", help="the look's and find-in-video's figures on generated test videos")
    _arguments(b)
    b.set_defaults(func=cmd_look_bench)


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m export.bench.look")
    _arguments(p)
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(cmd_look_bench(p.parse_args()))
