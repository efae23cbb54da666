"""What several test modules share that is not a fixture: running `vitrine` as a user would, the one-line error
check, a small catalog, images that lie about their size. (Fixtures live in conftest.py; tiny models, media and
the fake hub in tests/fixtures/.)"""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

from engine.catalog.embed import EmbedderInfo, ImageEmbedder

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, env=None, timeout=300):
    """Run `vitrine` as a user would: a separate process."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    argv = [a if isinstance(a, bytes) else str(a) for a in args]      # bytes: what a non-UTF-8 terminal sends
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)


def assert_one_line_error(r, *needles):
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def small_csv(folder: Path, n: int = 12) -> Path:
    """A few products copied from the generated catalog's first rows (fresh per test: tests change it)."""
    from export.bench.catalog import write_catalog      # the studio's generator: only the tests that use it load it
    return write_catalog(folder, n_synthetic=n, size=96, photos=False)


def indexed_shop(folder: Path, n: int) -> tuple[dict, Path]:
    """The look bench's synthetic catalog of ``n`` products, indexed: (rows by id, the catalog folder)."""
    from engine.catalog.products_csv import read_products_csv
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.settings import Settings
    from export.bench import look as lb
    csv_path, rows = lb.build_catalog(folder / "csv", n=n)
    cat = SqliteCatalog(folder / "catalog", settings=Settings.from_env())
    cat.add(read_products_csv(csv_path).products)
    cat.close()
    return rows, folder / "catalog"


class Echo:
    """A translator from a fixed table (it fails on anything else), recording what it was asked."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, text):
        self.calls.append(text)
        return self.table[text]


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG (under 100 bytes) whose header claims ``width`` x ``height``: a few bytes of pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 12)) + chunk(b"IEND", b""))


def encoded(size: tuple[int, int], fmt: str = "PNG", colour=(200, 30, 30), **save) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt, **save)
    return buf.getvalue()


BOMB = png_claiming(60000, 60000)


class SeenEmbedder(ImageEmbedder):
    """An image embedder that keeps what it was shown (every picture gets the same 4-number vector): what a
    catalog signature hands the embedder, checked without a model."""
    info = EmbedderInfo("seen", "seen-1", 4)

    def __init__(self):
        self.images = []

    def embed_images(self, images):
        self.images += [np.array(im) for im in images]
        return np.tile(np.eye(4, dtype=np.float32)[:1], (len(images), 1))
