import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.media.frames import Frame, Region
from engine.runtime.answer import Answer, Timings
from engine.runtime.history import History


def make(i: int, key="k1"):
    f = Frame(np.full((40, 60, 3), i, np.uint8), "/videos/loja.mp4", index=i, timestamp=i / 25)
    a = Answer(question=f"Qual é a cor {i}?", text=f"A calça é azul {i}.", model="tiny", frame=f.describe(),
               frame_key=key, timings=Timings(ttft_s=0.1, decode_tok_s=50), question_lang="pt", answer_lang="pt")
    return a, f


def test_history_survives_restart_and_groups_by_frame(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    h.add(*make(1))
    h.add(*make(2, key="k2"))
    h.add(*make(3))
    h.close()
    h = History(tmp_path / "h.sqlite3")
    assert len(h) == 3
    assert [e.question for e in h.for_frame("k1")] == ["Qual é a cor 1?", "Qual é a cor 3?"]
    assert h.all()[0].thumbnail[:2] == b"\xff\xd8"          # a JPEG thumbnail


def test_export_csv_and_json_read_back(tmp_path):
    h = History(tmp_path / "h.sqlite3")
    a, f = make(1)
    h.add(a, f.crop(Region(0, 0, 20, 20)))
    assert h.export_csv(tmp_path / "out.csv") == 1
    assert h.export_json(tmp_path / "out.json") == 1
    with open(tmp_path / "out.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["answer"] == "A calça é azul 1." and rows[0]["region"] == "0,0,20,20"
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert data[0]["question"] == "Qual é a cor 1?" and "thumbnail" not in data[0]


def test_a_crash_mid_write_loses_nothing_saved(tmp_path):
    db = tmp_path / "h.sqlite3"
    h = History(db)
    h.add(*make(1))
    h.close()
    # a process that starts a write and dies before committing it
    code = ("import sqlite3,os; c=sqlite3.connect(%r, isolation_level=None); c.execute('BEGIN'); "
            "c.execute(\"INSERT INTO entries (created, frame_key, frame, source, question, answer, model) "
            "VALUES (0,'x','x','x','q','a','m')\"); os._exit(9)") % str(db)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    h = History(db)
    assert [e.question for e in h.all()] == ["Qual é a cor 1?"]


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_export_never_leaves_a_half_file(tmp_path, monkeypatch, kind):
    """The disk fills half-way through the export's writing: the previous export is still whole, no temporary
    file is left, and the error reaches the caller."""
    import builtins
    import errno
    import io

    from engine.errors import VitrineError
    h = History(tmp_path / "h.sqlite3")
    for i in range(40):
        h.add(*make(i))
    dest = tmp_path / f"out.{kind}"
    dest.write_text("previous export")
    real_open = io.open
    written = []

    class HalfFull:
        """A file whose disk fills after some text: part of it is on disk, then ENOSPC."""

        def __init__(self, f):
            self.f = f

        def write(self, text):
            if sum(written) + len(text) > 300:
                self.f.write(text[:10])
                self.f.flush()
                written.append(10)
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(len(text))
            return self.f.write(text)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def filling_open(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        inside = str(file).startswith(str(tmp_path)) and not str(file).endswith(".sqlite3")
        return HalfFull(f) if inside and ("w" in mode or "a" in mode) else f
    monkeypatch.setattr(io, "open", filling_open)           # Path.open and Path.write_text come here
    monkeypatch.setattr(builtins, "open", filling_open)
    with pytest.raises((OSError, VitrineError)):
        h.export_json(dest) if kind == "json" else h.export_csv(dest)
    monkeypatch.undo()
    assert sum(written) >= 10, "the export never began writing: the test did not test anything"
    assert dest.read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(f".out.{kind}")] == []
