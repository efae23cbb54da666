"""A catalogue of bad inputs and faults, as a new user meets them: each ends in one line on stderr that says what
to do, a non-zero exit (or a correct success), no traceback, and — for the store — nothing outside the model's
own folder touched. Classes: 1 images at the edges, 2 what a person types, 3 the model store, 4 downloads,
5 the machine around it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest

from engine.models.profiles import PROFILES
from engine.runtime.backends.hybrid import measure_vision_encoders
from engine.settings import Settings
from tests.helpers import ROOT, run_cli
from tests.fixtures import media

PROFILE = PROFILES["smolvlm-256m"]


def one_line(r, needle: str = "", code: int | None = None) -> str:
    """The run failed (or exited with ``code``) with exactly one line on stderr holding ``needle``."""
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("vitrine: "), lines[0]
    if code is None:
        assert r.returncode != 0, r.stdout
    else:
        assert r.returncode == code, r.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


def succeeded(r) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its hash (the store's own lock files aside)."""
    out = {}
    if folder.exists():
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.startswith(".lock"):
                out[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ------------------------------------------------------------------ files made for the cases
def png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h, with a few bytes of pixel data: decoding it would allocate w*h*3."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def image(path: Path, w: int, h: int) -> Path:
    from PIL import Image
    pixels = np.random.default_rng(w * h).integers(0, 255, (h, w, 3), dtype=np.uint8)   # noise: no tiny files
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad-inputs")
    image(d / "tiny7.png", 7, 7)
    image(d / "wide.png", 4000, 1)
    image(d / "tall.png", 1, 4000)
    image(d / "ok.gif", 64, 48)
    image(d / "ok.tiff", 64, 48)
    image(d / "ok.bmp", 64, 48)
    image(d / "min8.png", 8, 8)
    png_header_only(d / "huge.png", 30000, 30000)
    png_header_only(d / "over_opencv.png", 40000, 30000)
    png_header_only(d / "claims_0.png", 0, 10)
    good = image(d / "good.jpg", 64, 48).read_bytes()
    (d / "cut.jpg").write_bytes(good[: len(good) // 2])
    full_png = image(d / "full.png", 64, 48).read_bytes()
    (d / "cut.png").write_bytes(full_png[: len(full_png) // 2])
    (d / "empty.jpg").write_bytes(b"")
    (d / "noise.png").write_bytes(os.urandom(3000))
    (d / "text.jpg").write_text("this is not a picture\n")
    (d / "folder.png").mkdir()
    media.write_video(d / "clip20.mp4", n_frames=201, fps=20.0)     # 10.05 s long
    return d


@dataclass
class Case:
    id: str
    args: list                       # after `vitrine`; "{f}" is the files folder, "{m}" the media folder
    needle: str = ""                 # in the one stderr line ("" with code 0: a success)
    code: int = 2
    env: dict = field(default_factory=dict)
    needs_model: bool = False


def _fmt(args, f, m):
    return [a.replace("{f}", str(f)).replace("{m}", str(m)) if isinstance(a, str) else a for a in args]


Q = "What is this?"
CASES = [
    # 1. images at the edges: the size comes from the header, before anything is decoded
    Case("img-7x7", ["ask", "{f}/tiny7.png", Q], "too small (7x7"),
    Case("img-4000x1", ["ask", "{f}/wide.png", Q], "too small (4000x1"),
    Case("img-1x4000", ["ask", "{f}/tall.png", Q], "too small (1x4000"),
    Case("img-30000-square", ["ask", "{f}/huge.png", Q], "too large"),
    Case("img-over-opencv-limit", ["ask", "{f}/over_opencv.png", Q], "too large"),
    Case("img-zero-width", ["ask", "{f}/claims_0.png", Q], "claims_0.png"),
    Case("img-cut-jpeg", ["ask", "{f}/cut.jpg", Q], "damaged"),
    Case("img-cut-png", ["ask", "{f}/cut.png", Q], "damaged"),
    Case("img-empty", ["ask", "{f}/empty.jpg", Q], "empty (0 bytes)"),
    Case("img-noise", ["ask", "{f}/noise.png", Q], "damaged"),
    Case("img-text-as-jpg", ["ask", "{f}/text.jpg", Q], "damaged"),
    Case("img-folder", ["ask", "{f}/folder.png", Q], "is a folder"),
    Case("img-missing", ["ask", "{f}/nope.png", Q], "file not found"),
    Case("img-with-time", ["ask", "{f}/good.jpg@1", Q], "apply to videos only"),
    Case("img-gif-ok", ["ask", "{f}/ok.gif", Q, "--max-tokens", "2"], code=0, needs_model=True),
    Case("img-tiff-ok", ["ask", "{f}/ok.tiff", Q, "--max-tokens", "2"], code=0, needs_model=True),
    Case("img-8x8-ok", ["ask", "{f}/min8.png", Q, "--max-tokens", "2"], code=0, needs_model=True),
    # 2. what a person types
    Case("box-inf", ["ask", "{f}/good.jpg", Q, "--box", "inf,0,10,10"], "finite"),
    Case("box-nan", ["ask", "{f}/good.jpg", Q, "--box", "0,nan,10,10"], "finite"),
    Case("box-overflow", ["ask", "{f}/good.jpg", Q, "--box", "1e400,0,10,10"], "finite"),
    Case("box-huge", ["ask", "{f}/good.jpg", Q, "--box", "99999999999,0,10,10"], "finite"),
    Case("box-three", ["ask", "{f}/good.jpg", Q, "--box", "1,2,3"], "4 numbers"),
    Case("box-words", ["ask", "{f}/good.jpg", Q, "--box", "a,b,c,d"], "x,y,w,h"),
    Case("box-negative", ["ask", "{f}/good.jpg", Q, "--box=-1,0,10,10"], ">= 0"),
    Case("box-negative-spaced", ["ask", "{f}/good.jpg", Q, "--box", "-1,0,10,10"], "--box"),
    Case("unknown-option", ["ask", "{f}/good.jpg", Q, "--colour"], "unrecognized arguments"),
    Case("tiles-words", ["ask", "{f}/good.jpg", Q, "--tiles", "many"], "--tiles"),
    Case("box-empty", ["ask", "{f}/good.jpg", Q, "--box", ""], "bad box"),
    Case("box-tiny", ["ask", "{f}/good.jpg", Q, "--box", "0,0,3,3"], "too small"),
    Case("box-outside", ["ask", "{f}/good.jpg", Q, "--box", "500,0,10,10"], "outside"),
    Case("q-not-utf8", ["ask", "{f}/good.jpg", b"Qual \xe9 a cor?"], "not UTF-8"),
    Case("q-empty", ["ask", "{f}/good.jpg", "   "], "question is empty"),
    Case("q-too-long", ["ask", "{f}/good.jpg", "why " * 400], "too long"),
    Case("translate-not-utf8", ["translate", b"vestido \xff vermelho", "--to", "en"], "not UTF-8"),
    Case("time-negative", ["ask", "{f}/clip20.mp4@-1", Q], "negative"),
    Case("time-words", ["ask", "{f}/clip20.mp4@abc", Q], "bad time 'abc'"),
    Case("time-nan", ["ask", "{f}/clip20.mp4@nan", Q], "bad time"),
    Case("time-inf", ["ask", "{f}/clip20.mp4@inf", Q], "bad time"),
    Case("time-past-end", ["ask", "{f}/clip20.mp4@99", Q], "10.05 s long"),
    Case("time-at-end", ["ask", "{f}/clip20.mp4@10.05", Q], "past the end"),
    Case("frame-negative", ["ask", "{f}/clip20.mp4#-3", Q], "negative"),
    Case("frame-words", ["ask", "{f}/clip20.mp4#abc", Q], "not a whole number"),
    Case("frame-past-end", ["ask", "{f}/clip20.mp4#999999", Q], "201 frames"),
    Case("time-just-before-end", ["ask", "{f}/clip20.mp4@10.03", Q, "--max-tokens", "2"], code=0, needs_model=True),
    Case("time-minutes", ["ask", "{f}/clip20.mp4@0:09.5", Q, "--max-tokens", "2"], code=0, needs_model=True),
    Case("threads-env-words", ["ask", "{f}/good.jpg", Q], "VITRINE_THREADS", env={"VITRINE_THREADS": "lots"}),
    Case("threads-env-zero", ["ask", "{f}/good.jpg", Q], "VITRINE_THREADS", env={"VITRINE_THREADS": "0"}),
    Case("threads-env-negative", ["ask", "{f}/good.jpg", Q], "at least 1", env={"VITRINE_THREADS": "-2"}),
    Case("threads-flag-zero", ["ask", "{f}/good.jpg", Q, "--threads", "0"], "--threads"),
    Case("threads-flag-words", ["ask", "{f}/good.jpg", Q, "--threads", "many"], "--threads"),
    Case("threads-flag-999-capped", ["ask", "{f}/good.jpg", Q, "--threads", "999", "--max-tokens", "2"], code=0,
         needs_model=True),
    Case("threads-env-999-capped", ["ask", "{f}/good.jpg", Q, "--max-tokens", "2"], code=0, needs_model=True,
         env={"VITRINE_THREADS": "999"}),
    Case("tiles-zero", ["ask", "{f}/good.jpg", Q, "--tiles", "0"], "--tiles"),
    Case("max-tokens-zero", ["ask", "{f}/good.jpg", Q, "--max-tokens", "0"], "--max-tokens"),
    Case("model-name-dots", ["ask", "{f}/good.jpg", Q, "--model", "..evil"], "model not found"),
    Case("model-name-traversal", ["ask", "{f}/good.jpg", Q, "--model", "a/../../evil"], "model not found"),
    Case("bench-threads-env", ["bench", "--size", "tiny"], "VITRINE_THREADS", env={"VITRINE_THREADS": "x"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_case(case, files, media_dir, request):
    if case.needs_model:
        request.getfixturevalue("installed_tiny")
    r = run_cli(*_fmt(case.args, files, media_dir), env=case.env)
    if case.code == 0:
        succeeded(r)
    else:
        one_line(r, case.needle, case.code)


def test_image_sizes_are_refused_before_decoding(files):
    """The 30000x30000 PNG is refused from its header: no 2.7 GB allocation, no 8 s decode."""
    import time

    from engine.errors import VitrineError
    from engine.media.frames import read_image
    t0 = time.perf_counter()
    with pytest.raises(VitrineError, match="too large"):
        read_image(files / "huge.png")
    assert time.perf_counter() - t0 < 0.5


def test_the_app_shows_the_same_sentences(files, qtbot):
    """The app and live mode read through the same FrameSource: the same words, not OpenCV's."""
    from desktop.workers import FrameReader
    reader = FrameReader()
    got = []
    reader.failed.connect(got.append)
    for name in ("tiny7.png", "huge.png", "cut.jpg"):
        reader.open(str(files / name))
    assert len(got) == 3
    assert "too small (7x7" in got[0] and "too large" in got[1] and "damaged" in got[2]
    assert not any("cv2" in m or "OpenCV" in m or "error:" in m for m in got)


# ------------------------------------------------------------------ 3. the model store
def _store_root(home: Path) -> Path:
    return home / "models"


def _forged_export(tmp_path: Path, tiny_gguf: Path, edit: Callable[[dict], None]) -> Path:
    """An exported folder (real GGUFs) whose manifest was edited."""
    d = tmp_path / "forged"
    shutil.copytree(tiny_gguf, d)
    data = json.loads((d / "vitrine-model.json").read_text())
    edit(data)
    (d / "vitrine-model.json").write_text(json.dumps(data))
    return d


def _traversal(data):
    data["files"]["mmproj"]["path"] = "../victim/mmproj-f16.gguf"


def _absolute(data):
    data["files"]["model"]["path"] = "/etc/hostname"


def _backslash(data):
    data["files"]["model"]["path"] = "..\\victim\\text-Q8_0.gguf"


def _no_mmproj(data):
    del data["files"]["mmproj"]


def _files_list(data):
    data["files"] = [data["files"]["model"]]


def _bad_sha(data):
    data["files"]["model"]["sha256"] = "not-a-hash"


def _negative_size(data):
    data["files"]["model"]["size"] = -5


def _runtime(data):
    data["runtime"] = "tensorrt"


def _dot_path(data):
    data["files"]["model"]["path"] = "./text-Q8_0.gguf"


FORGED = {"traversal": (_traversal, "outside its model folder"), "absolute": (_absolute, "outside its model folder"),
          "backslash": (_backslash, "outside its model folder"), "no-mmproj": (_no_mmproj, "no mmproj"),
          "files-list": (_files_list, "'files'"), "bad-sha": (_bad_sha, "sha256"),
          "negative-size": (_negative_size, "size"), "runtime": (_runtime, "'tensorrt' runtime"),
          "dot-path": (_dot_path, "outside its model folder")}


@pytest.mark.parametrize("kind", list(FORGED))
def test_import_of_a_forged_manifest_touches_nothing(kind, tiny_gguf, tmp_path, vitrine_home):
    edit, needle = FORGED[kind]
    assert run_cli("models", "import", "victim", "--from", tiny_gguf).returncode == 0
    before = snapshot(vitrine_home)
    r = run_cli("models", "import", "evil", "--from", _forged_export(tmp_path, tiny_gguf, edit))
    one_line(r, needle)
    assert snapshot(vitrine_home) == before
    assert run_cli("models", "verify").stdout.strip() == "victim: ok"


def test_import_refuses_a_link_leading_outside(tiny_gguf, tmp_path, vitrine_home):
    d = _forged_export(tmp_path, tiny_gguf, lambda data: None)
    outside = tmp_path / "outside.gguf"
    (d / "mmproj-f16.gguf").rename(outside)
    (d / "mmproj-f16.gguf").symlink_to(outside)
    before = snapshot(vitrine_home)
    one_line(run_cli("models", "import", "evil", "--from", d), "outside its model folder")
    assert snapshot(vitrine_home) == before


BROKEN_MANIFESTS = {
    "not-object": b"[1, 2, 3]",
    "not-utf8": b'{"name": "\xff\xfe"}',
    "not-json": b"{name: tiny",
    "no-mmproj-role": None,          # built from the real one
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("kind", list(BROKEN_MANIFESTS))
def test_one_broken_model_disables_only_itself(kind, installed_tiny, media_dir, vitrine_home):
    bad = _store_root(vitrine_home) / "broken"
    shutil.copytree(installed_tiny.folder, bad)
    raw = BROKEN_MANIFESTS[kind]
    if raw is None:
        data = json.loads((bad / "vitrine-model.json").read_text())
        del data["files"]["mmproj"]
        raw = json.dumps(data).encode()
    (bad / "vitrine-model.json").write_bytes(raw)
    r = run_cli("models", "list")
    succeeded(r)
    assert "broken" in r.stdout and "damaged" in r.stdout and "tiny" in r.stdout
    r = run_cli("models", "verify")
    assert r.returncode == 1 and "tiny: ok" in r.stdout and "broken: DAMAGED" in r.stdout
    one_line(run_cli("ask", media_dir / "look.png", Q, "--model", "broken"), "damaged")
    succeeded(run_cli("ask", media_dir / "look.png", Q, "--model", "tiny", "--max-tokens", "2"))
    succeeded(run_cli("models", "remove", "broken"))


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_install_is_caught_at_load(damage, installed_tiny, media_dir):
    p = installed_tiny.path("model")
    if damage == "truncated":
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    else:
        p.unlink()
    one_line(run_cli("ask", media_dir / "look.png", Q, "--model", "tiny"), "damaged")
    r = run_cli("models", "verify", "tiny")
    assert r.returncode == 1 and "DAMAGED" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["models", "import", "../escape", "--from", "{g}"], "invalid model name"),
    (["models", "import", ".hidden", "--from", "{g}"], "invalid model name"),
    (["models", "import", "a/b", "--model", "{g}/text-Q8_0.gguf", "--mmproj", "{g}/mmproj-f16.gguf"],
     "invalid model name"),
    (["models", "remove", "../models"], "invalid model name"),
    (["models", "remove", "ghost"], "unknown model"),
    (["models", "verify", "ghost"], "unknown model"),
    (["models", "import", "x", "--from", "{g}/text-Q8_0.gguf"], "not a folder"),
    (["models", "import", "x", "--model", "{g}/text-Q8_0.gguf"], "say what to import"),
    (["models", "import", "x", "--model", "{g}/mmproj-f16.gguf", "--mmproj", "{g}/text-Q8_0.gguf"],
     "vision projector"),
    (["models", "import", "x", "--from", "{g}", "--model", "{g}/text-Q8_0.gguf"], "not both"),
    (["models", "pull", "gpt-9"], "unknown model"),
])
def test_store_commands_refuse_in_one_line(args, needle, tiny_gguf, vitrine_home):
    before = snapshot(vitrine_home)
    one_line(run_cli(*[a.replace("{g}", str(tiny_gguf)) for a in args]), needle)
    assert snapshot(vitrine_home) == before


def test_two_imports_of_one_name_at_once(tiny_gguf, vitrine_home):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "engine.cli", "models", "import", "same", "--from",
                               str(tiny_gguf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT) for _ in range(3)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert any(code == 0 for code, _, _ in results)
    for code, out, err in results:
        assert code == 0 or ("another vitrine is changing the model store" in err and len(err.splitlines()) == 1), err
    r = run_cli("models", "verify")
    assert r.returncode == 0 and r.stdout.strip() == "same: ok"


def test_two_pulls_of_one_name_at_once(hub, vitrine_home):
    hub.delay_s = 0.5
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "engine.cli", "models", "pull", "smolvlm-256m", "--hub",
                               hub.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT) for _ in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0, results
    loser = [err for code, _, err in results if code != 0]
    assert all("another vitrine is changing the model store (pid" in err for err in loser), loser
    assert run_cli("models", "verify").stdout.strip() == "smolvlm-256m: ok"


# ------------------------------------------------------------------ 4. downloads
def _pull(hub):
    return run_cli("models", "pull", "smolvlm-256m", "--hub", hub.url)


def _nothing_installed(home: Path) -> None:
    models = _store_root(home)
    assert not models.exists() or not [p for p in models.iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("mode,needle", [
    ("html", "web page"), ("html-mislabelled", "web page"), ("no-hash-anywhere", "does not state a sha256"),
])
def test_a_mirror_that_cannot_be_verified_installs_nothing(mode, needle, hub, vitrine_home):
    hub.html = mode.startswith("html")
    hub.html_content_type = mode == "html"
    if mode == "no-hash-anywhere":
        hub.api, hub.etags = False, False
    one_line(_pull(hub), needle)
    _nothing_installed(vitrine_home)
    assert not list(_store_root(vitrine_home).rglob("*.gguf")), "an unverified file was kept"
    hub.html, hub.api, hub.etags = False, True, True       # the mirror is fixed: a retry starts clean
    succeeded(_pull(hub))
    assert run_cli("models", "verify").stdout.strip() == "smolvlm-256m: ok"


def test_a_mirror_without_the_api_is_verified_by_etag(hub, vitrine_home):
    hub.api = False
    succeeded(_pull(hub))
    assert run_cli("models", "verify").returncode == 0


def test_a_drop_without_content_length_is_not_taken_as_complete(hub, vitrine_home):
    hub.content_length, hub.drop_after = False, 30_000
    one_line(_pull(hub), "again to resume")
    _nothing_installed(vitrine_home)
    succeeded(_pull(hub))
    assert [r for _, r in hub.requests if r] == ["bytes=30000-"]
    assert run_cli("models", "verify").returncode == 0


def test_a_repo_the_hub_does_not_have(hub, vitrine_home):
    shutil.rmtree(hub.root / PROFILE.repo.split("/")[0])
    one_line(_pull(hub), "not on")


def test_a_hub_address_that_is_not_a_url(vitrine_home):
    one_line(run_cli("models", "pull", "smolvlm-256m", "--hub", "not a url"), "give the hub's address")


def test_a_full_disk_while_downloading(monkeypatch, hub, vitrine_home):
    """ENOSPC mid-file: the partial file is removed (it only keeps the disk full) and the line says so."""
    import errno

    import engine.models.download as dl
    from engine.errors import VitrineError
    from engine.models.hub import pull
    from engine.models.store import ModelStore
    real_open = open

    class Full:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, b):
            self.n += len(b)
            if self.n > 20_000:
                raise OSError(errno.ENOSPC, "No space left on device", self.f.name)
            return self.f.write(b)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(dl, "open", lambda p, mode="r", *a, **k: Full(real_open(p, mode, *a, **k)), raising=False)
    store = ModelStore(_store_root(vitrine_home))
    with pytest.raises(VitrineError, match="disk is full") as e:
        pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)
    assert "resume" not in str(e.value)
    assert not list(_store_root(vitrine_home).rglob("*.part"))
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: SimpleNamespace(total=10, used=10, free=5))
    with pytest.raises(VitrineError, match="not enough disk space"):
        pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)


# ------------------------------------------------------------------ 5. the machine around it
@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KB tmpfs (smaller than the tiny model) (needs root and mount rights; skipped where the machine has none)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _home_with_work(home: Path, tmp_path: Path) -> None:
    """What each command needs besides a writable home: a model to remove, a valid translation package."""
    (home / "models" / "x").mkdir(parents=True)
    (home / "models" / "x" / "vitrine-model.json").write_text("{}")
    _zip(tmp_path / "en_pt.argosmodel", {"en_pt/metadata.json": b'{"from_code": "en", "to_code": "pt"}',
                                         "en_pt/model/x": b""})


@pytest.mark.parametrize("args,needle,in_a_writable_home", [
    (["models", "import", "y", "--from", "{g}"], "read-only", "ok"),
    (["models", "remove", "x"], "read-only", "ok"),
    (["models", "pull", "smolvlm-256m", "--hub", "http://127.0.0.1:9"], "read-only", "fails otherwise"),
    (["translate", "install", "{t}/en_pt.argosmodel"], "read-only", "ok"),
    (["models", "list"], None, "ok"),
])
def test_a_read_only_home(args, needle, in_a_writable_home, small_disk, tiny_gguf, tmp_path):
    """Each command fails on the read-only disk and for that reason alone: the same command with the same
    inputs succeeds in a writable home (or, for the pull with no hub, fails for another reason there)."""
    argv = [a.replace("{g}", str(tiny_gguf)).replace("{t}", str(tmp_path)) for a in args]
    writable = tmp_path / "writable-home"
    _home_with_work(writable, tmp_path)
    control = run_cli(*argv, env={"VITRINE_HOME": str(writable)})
    if in_a_writable_home == "ok":
        succeeded(control)
    else:
        assert control.returncode != 0 and "read-only" not in control.stderr, control.stderr
    _home_with_work(small_disk, tmp_path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    r = run_cli(*argv, env={"VITRINE_HOME": str(small_disk)})
    if needle is None:
        succeeded(r)
    else:
        one_line(r, needle)
        assert (small_disk / "models" / "x" / "vitrine-model.json").is_file()


def test_a_full_home(small_disk, tiny_gguf):
    r = run_cli("models", "import", "x", "--from", tiny_gguf, env={"VITRINE_HOME": str(small_disk)})
    one_line(r, "disk is full")
    assert not [p for p in (small_disk / "models").iterdir() if not p.name.startswith(".lock")]


def test_a_full_stdout():
    r = subprocess.run(f"{sys.executable} -m engine.cli models list > /dev/full", shell=True, capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    one_line(r, "disk is full")


def test_a_closed_stdout():
    r = subprocess.run(f"{sys.executable} -m engine.cli models list >&-", shell=True, capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    one_line(r, "standard output is closed")


def test_a_reader_that_left():
    read, write = os.pipe()
    os.close(read)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "models", "list"], stdout=write, stderr=subprocess.PIPE,
                       text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(write)
    assert r.returncode == 141 and r.stderr == "", r.stderr


@pytest.mark.parametrize("display", ["", ":97"])
def test_the_app_without_a_display(display):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = display
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "app"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=60)
    one_line(r, "QT_QPA_PLATFORM")


def test_ctrl_c_wherever_it_lands(installed_tiny, media_dir):
    """SIGINT at several moments of `ask` (start-up, model load, encoding, answering): exit 130 with one line,
    or the answer was already complete (exit 0); never a traceback, never an answer after Ctrl-C."""
    import signal
    import time
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    seen = set()
    # from inside main(), where the CLI owns Ctrl-C: Python's own start-up (0.3 s quiet, over 1 s on a loaded
    # 2-core machine) is measured first, so the early delays do not land in the interpreter's imports
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, env=env, cwd=ROOT)
    startup = time.monotonic() - started
    for delay in (0.2, 0.4, 0.6, 0.9, 1.3, 1.9):
        delay += 1.5 * startup
        # 300 follow-ups keep the tiny model busy for a few seconds (it writes 64 tokens in 4 ms): the signal
        # lands while it loads or answers
        p = subprocess.Popen([sys.executable, "-m", "engine.cli", "ask", str(media_dir / "look.png"), *[Q] * 300,
                              "--max-tokens", "256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=ROOT)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        assert "Traceback" not in err and "Exception ignored" not in err, err
        seen.add(p.returncode)
        if p.returncode == 130:
            assert err.strip().splitlines()[-1] == "vitrine: cancelled (Ctrl-C)", err
        else:
            assert p.returncode == 0, err
    assert 130 in seen


def test_a_late_ctrl_c_while_the_handler_is_taken_down_still_exits_130(monkeypatch, capsys):
    """CI once saw exit -2 after "cancelled": a KeyboardInterrupt escaping main() makes Python kill itself."""
    import contextlib
    import engine.cli as cli

    @contextlib.contextmanager
    def late(whole_process=False):
        yield
        raise KeyboardInterrupt              # lands in the handler's own clean-up

    monkeypatch.setattr(cli, "ctrl_c_stops", late)
    assert cli.main(["models", "list"]) == 130


def test_ctrl_c_inside_a_native_callback_is_delivered_after_it(monkeypatch):
    """The handler never raises inside llama.cpp's log callback (ctypes would swallow it): it retries."""
    import engine.cli.interrupt as interrupt
    retried = []
    monkeypatch.setattr(interrupt, "in_native_callback", lambda frame: True)
    monkeypatch.setattr(interrupt.threading, "Timer", lambda s, fn: type("T", (), {"start": lambda self: retried.append(fn)})())
    handler = interrupt.CtrlC()
    handler(2, None)                       # inside the callback: no exception, a retry is scheduled
    assert retried and handler.presses == 1
    monkeypatch.setattr(interrupt, "in_native_callback", lambda frame: False)
    with pytest.raises(KeyboardInterrupt):
        handler(2, None)                   # the retry, back in Python: now it stops
    assert handler.presses == 1            # a retry is not a second press


def test_history_that_cannot_be_saved_keeps_the_answer(qtbot):
    """A full or read-only disk when the answer is saved: the answer is shown, and a line says it was not saved."""
    from desktop.workers import EngineWorker
    from engine.errors import VitrineError
    from engine.runtime.answer import Answer, Timings

    class FullHistory:
        def add(self, *a, **k):
            raise VitrineError("saving the answer to the history failed: the disk is full")

    class FakeSession:
        def ask(self, frame, question, *a, **k):
            return Answer(question=question, text="A calça é azul.", model="tiny", frame="f", frame_key="k",
                          timings=Timings())

    worker = EngineWorker(history=FullHistory(), config=Settings.from_env())
    worker.session = FakeSession()
    answered, not_saved = [], []
    worker.answered.connect(lambda a, entry: answered.append((a.text, entry)))
    worker.save_failed.connect(not_saved.append)
    worker.ask({"frame": None, "question": "Qual é a cor da calça?"})
    assert answered == [("A calça é azul.", None)] and "disk is full" in not_saved[0]


def test_the_app_starts_with_a_history_it_cannot_write(qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop.main_window import MainWindow
    from engine.errors import VitrineError
    from engine.models.store import ModelStore
    from engine.runtime.history import History

    def refuse(settings):
        raise VitrineError("opening the history failed: /x is on a read-only disk")
    monkeypatch.setattr(History, "default", staticmethod(refuse))
    w = MainWindow(store=ModelStore(tmp_path / "models"), ui_lang="en",
                   settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), config=Settings.from_env())
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: "read-only" in w.last_error, timeout=5000)
    assert len(w.history) == 0            # in memory: answers are kept while the app runs
    w.close()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    import zipfile
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("members,needle", [
    (None, "not a zip archive"),
    ({"readme.txt": b"hi"}, "not an argos translation package"),
    ({"pkg/metadata.json": b"\xff\xfe", "pkg/model/x": b""}, "damaged metadata.json"),
    ({"pkg/metadata.json": b"[1]", "pkg/model/x": b""}, "damaged metadata.json"),
    ({"pkg/metadata.json": b'{"from_code": "../en", "to_code": "pt"}', "pkg/model/x": b""}, "no valid language pair"),
    # names that climb out of the staging folder (home/translate/argos/.installing-x/): two levels land in
    # home/translate, four in the test's own folder, an absolute name anywhere
    ({"../../escape/metadata.json": b'{"from_code": "en", "to_code": "pt"}', "../../escape/model/x": b"",
      "../../../../escape4/x": b"", "/tmp/vitrine-zip-slip-escape/x": b""}, ""),
])
def test_translation_packages_from_files(members, needle, tmp_path, vitrine_home):
    f = tmp_path / "pkg.argosmodel"
    if members is None:
        f.write_bytes(b"not a zip at all" * 10)
    else:
        _zip(f, members)
    shutil.rmtree("/tmp/vitrine-zip-slip-escape", ignore_errors=True)
    r = run_cli("translate", "install", f)
    if needle:
        one_line(r, needle)
    packages = vitrine_home / "translate" / "argos"      # a name cleaned of its '..' is a package in there
    escaped = [p for p in tmp_path.rglob("escape*") if not p.is_relative_to(packages)]
    assert escaped == [] and not Path("/tmp/vitrine-zip-slip-escape").exists(), escaped
    leftovers = [p for p in (vitrine_home / "translate" / "argos").glob(".installing-*")] \
        if (vitrine_home / "translate" / "argos").exists() else []
    assert leftovers == []
