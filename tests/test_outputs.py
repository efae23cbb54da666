"""Outputs never destroy inputs: a command's --out replaces only what Vitrine itself wrote there, an earlier
output of the same kind (its `.vitrine-output.json` marker says so). A catalog folder, a home folder, a plain file
or the current folder is refused with one line, before any work, and every byte stays in place."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import BadInput
from engine.files import MARKER, OutputKind, OutputState, atomic_folder, check_output, mark_output, remove_output
from tests.helpers import ROOT
from tests.fixtures.catalogs import write_styles_catalog
from tests.helpers import assert_one_line_error


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def vitrine(*args, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """`vitrine ARGS` in its own process, run from ``cwd`` (tests.conftest.run_cli always runs from the repo)."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=300)


# ---------------------------------------------------------------------- every command, through the CLI
@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The folders a hostile tester points --out at, each alone in its own parent (so leftovers beside show)."""
    root = tmp_path_factory.mktemp("outs")
    source = write_styles_catalog(root / "source" / "shop")            # what `dataset build` reads
    catalog = write_styles_catalog(root / "a" / "shop", n=30)          # someone's catalog: styles.csv + images
    home = root / "b" / "home"
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("my notes", encoding="utf-8")
    plain = root / "c" / "notes.txt"
    plain.parent.mkdir()
    plain.write_text("a file, not a folder", encoding="utf-8")
    dot = write_styles_catalog(root / "d" / "shop", n=30)               # `--out .` run from inside a catalog
    run, ckpt, data = root / "no-run", root / "no-checkpoint", root / "no-set"
    ckpt.mkdir()
    return {"root": root, "source": source, "catalog": catalog, "home": home, "plain": plain, "dot": dot,
            "run": run, "ckpt": ckpt, "data": data}


COMMANDS = {   # argv before --out (or --work); places() fills in the paths it names
    "dataset build": lambda p: ["dataset", "build", p["source"] / "styles.csv", "--min-count", "5"],
    "dataset build --force": lambda p: ["dataset", "build", p["source"] / "styles.csv", "--min-count", "5",
                                        "--force"],
    "dataset synth --force": lambda p: ["dataset", "synth", "--n", "10", "--size", "32", "--force"],
    "finetune merge": lambda p: ["finetune", "merge", p["run"]],
    "finetune (run)": lambda p: ["finetune", p["data"], "--base", p["ckpt"]],
    "export gguf": lambda p: ["export", "gguf", p["ckpt"]],
    "export onnx": lambda p: ["export", "onnx", p["ckpt"]],
    "export hybrid": lambda p: ["export", "hybrid", p["ckpt"]],
    "eval": lambda p: ["eval", p["data"], "--model", "no-such-model"],
    "finetune prove": lambda p: ["finetune", "prove"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_out_refuses_what_vitrine_did_not_write(places, command):
    """(a) a catalog folder, (b) a home folder ($HOME) with a file, (c) a plain file, (d) `.` inside a catalog:
    one line naming the folder and what to do, a non-zero exit, every byte left in place."""
    flag = "--work" if command == "finetune prove" else "--out"
    argv = COMMANDS[command](places)
    cases = [("a", places["catalog"], places["catalog"], ROOT, "holds files Vitrine did not write"),
             ("b", places["home"], places["home"], ROOT, "is your home folder"),
             ("c", places["plain"], places["plain"], ROOT, "is a file"),
             ("d", ".", places["dot"], places["dot"], "is the current folder")]
    for case, out, shown, cwd, why in cases:
        parent = places["root"] / case
        before = snapshot(parent)
        r = vitrine(*argv, flag, out, cwd=cwd, env={"HOME": str(places["home"])})
        assert_one_line_error(r, str(shown), why, f"choose another {flag}")
        assert snapshot(parent) == before, f"{command} {flag} {out} changed {parent}"


def test_dataset_replaces_its_own_set_only_with_force(tmp_path):
    source = write_styles_catalog(tmp_path / "shop")
    out = tmp_path / "set"
    args = ["dataset", "build", source / "styles.csv", "--min-count", "5", "--out", out]
    assert vitrine(*args).returncode == 0
    assert json.loads((out / MARKER).read_text()) == {"kind": "dataset", "version": 1}
    (out / "train.jsonl").write_text("stale", encoding="utf-8")
    assert_one_line_error(vitrine(*args), "already holds a question set", "--force")
    assert (out / "train.jsonl").read_text() == "stale"
    r = vitrine(*args, "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "train.jsonl").read_text() != "stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set", "shop"]      # no staging or old folder left


def test_synth_replaces_its_own_set_and_refuses_a_set_given_to_it_as_its_catalog(tmp_path):
    out = tmp_path / "synth"
    args = ["dataset", "synth", "--n", "10", "--size", "32", "--out", out]
    assert vitrine(*args).returncode == 0
    first = (out / "train.jsonl").read_bytes()
    r = vitrine(*args, "--seed", "1", "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "train.jsonl").read_bytes() != first
    # a question set is not a catalog's folder: `dataset build` may not replace the set it reads its images from
    cat = write_styles_catalog(tmp_path / "shop", n=30)
    assert_one_line_error(vitrine("dataset", "build", cat / "styles.csv", "--min-count", "5", "--out", cat,
                                  "--force"), str(cat), "choose another --out")


# ---------------------------------------------------------------------- the rule itself (engine.files)
@pytest.fixture
def user_folders(tmp_path):
    catalog = write_styles_catalog(tmp_path / "shop", n=20)
    other = tmp_path / "questions"                       # a folder of another kind Vitrine wrote
    other.mkdir()
    (other / "train.jsonl").write_text("{}", encoding="utf-8")
    mark_output(other, OutputKind.DATASET)
    unmarked = tmp_path / "lookalike"                    # a damaged marker is not Vitrine's word
    unmarked.mkdir()
    (unmarked / MARKER).write_text("{not json", encoding="utf-8")
    (unmarked / "thesis.docx").write_bytes(b"years of work")
    plain = tmp_path / "notes.txt"
    plain.write_text("notes", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(catalog, target_is_directory=True)
    return tmp_path, [catalog, other, unmarked, plain, link]


def test_atomic_folder_refuses_and_leaves_every_byte(user_folders):
    root, targets = user_folders
    before = snapshot(root)
    for dest in targets:
        with pytest.raises(BadInput, match="choose another --out, or empty/remove it yourself") as e:
            with atomic_folder(dest, OutputKind.EXPORT) as staging:
                (staging / "model.gguf").write_bytes(b"new")
        assert str(dest) in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(BadInput):
            remove_output(dest, OutputKind.EXPORT)
    assert snapshot(root) == before


def test_protected_places_are_refused_even_with_a_marker(tmp_path, monkeypatch):
    home = tmp_path / "home" / "me"
    work = home / "project"
    work.mkdir(parents=True)
    for folder in (home, home.parent, work):
        mark_output(folder, OutputKind.EXPORT)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for dest, why in ((".", "is the current folder"), (work, "is the current folder"),
                      (home, "holds the current folder"), (home.parent, "holds the current folder"),
                      ("/", "is the filesystem root")):
        with pytest.raises(BadInput, match=why):
            check_output(dest, OutputKind.EXPORT)
    monkeypatch.chdir(tmp_path)
    for dest, why in ((home, "is your home folder"), (home.parent, "holds your home folder")):
        with pytest.raises(BadInput, match=why):
            check_output(dest, OutputKind.EXPORT)
    assert (work / MARKER).is_file() and (home / MARKER).is_file()


def test_a_folder_holding_an_input_is_refused(tmp_path):
    out = tmp_path / "export"
    (out / "checkpoint").mkdir(parents=True)
    mark_output(out, OutputKind.EXPORT)
    with pytest.raises(BadInput, match="which this command reads"):
        check_output(out, OutputKind.EXPORT, inputs=(out / "checkpoint",))
    with pytest.raises(BadInput, match="is this command's input"):
        check_output(out, OutputKind.EXPORT, inputs=(out,))
    assert check_output(out, OutputKind.EXPORT, inputs=(tmp_path / "elsewhere",)) is OutputState.OURS


def test_atomic_folder_replaces_its_own_output_of_the_same_kind(tmp_path):
    dest = tmp_path / "export"
    assert check_output(dest, OutputKind.EXPORT) is OutputState.NEW
    with atomic_folder(dest, OutputKind.EXPORT) as staging:
        (staging / "old.gguf").write_bytes(b"old")
    assert check_output(dest, OutputKind.EXPORT) is OutputState.OURS
    with pytest.raises(BadInput, match="holds a Vitrine model export, not a question set"):
        check_output(dest, OutputKind.DATASET)
    with atomic_folder(dest, OutputKind.EXPORT) as staging:
        (staging / "new.gguf").write_bytes(b"new")
        (staging / MARKER).write_text("copied from elsewhere")        # the writer cannot mislabel its output
    assert sorted(p.name for p in dest.iterdir()) == [MARKER, "new.gguf"]
    assert json.loads((dest / MARKER).read_text())["kind"] == "export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]   # no staging or old folder left
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_folder(empty, OutputKind.DATASET) as staging:
        (staging / "train.jsonl").write_text("")
    assert (empty / "train.jsonl").is_file()


def test_legacy_outputs_are_known_by_what_only_vitrine_writes(tmp_path):
    """Store models and exports written before the marker existed (a vitrine-model.json) are still replaceable."""
    old = tmp_path / "tiny"
    old.mkdir()
    (old / "vitrine-model.json").write_text("{}")
    (old / "text.gguf").write_bytes(b"x")
    with atomic_folder(old, OutputKind.MODEL) as staging:
        (staging / "vitrine-model.json").write_text("{}")
    assert not (old / "text.gguf").exists()
    lookalike = tmp_path / "half"                 # a signature file alone is not enough: all of them
    lookalike.mkdir()
    (lookalike / "set.json").write_text("{}")
    (lookalike / "photos.zip").write_bytes(b"x")
    with pytest.raises(BadInput, match="holds files Vitrine did not write"):
        check_output(lookalike, OutputKind.DATASET)


def test_failure_or_a_change_during_the_work_leaves_dest_as_it_was(tmp_path):
    dest = tmp_path / "set"
    with atomic_folder(dest, OutputKind.DATASET) as staging:
        (staging / "train.jsonl").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_folder(dest, OutputKind.DATASET) as staging:
            (staging / "train.jsonl").write_text("second")
            raise RuntimeError("the work failed")
    assert (dest / "train.jsonl").read_text() == "first"
    # someone empties the folder and puts their own files there while a long export runs: they are kept
    with pytest.raises(BadInput, match="holds files Vitrine did not write"):
        with atomic_folder(dest, OutputKind.DATASET) as staging:
            (staging / "train.jsonl").write_text("third")
            for f in dest.iterdir():
                f.unlink()
            (dest / "mine.txt").write_text("mine")
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_leftovers_of_a_crash_are_cleared_only_when_ours(tmp_path):
    dest = tmp_path / "export"
    stale = tmp_path / ".export.staging"
    stale.mkdir()
    mark_output(stale, OutputKind.EXPORT)
    (stale / "half.gguf").write_bytes(b"half")
    with atomic_folder(dest, OutputKind.EXPORT) as staging:
        assert not (staging / "half.gguf").exists()
    foreign = tmp_path / ".export.old"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("mine")
    with pytest.raises(BadInput, match=r"\.export\.old holds files Vitrine did not write"):
        with atomic_folder(dest, OutputKind.EXPORT):
            pass
    assert (foreign / "mine.txt").read_text() == "mine"


# ---------------------------------------------------------------------- Vitrine's own outputs, with a model
def test_merge_and_export_replace_their_own_output_and_nothing_else(tiny_checkpoint, tmp_path):
    """A run, merged twice into one --out, exported twice into one --out; each refuses the other's folder."""
    from export.datasets.build import BuildOptions, synth
    data = tmp_path / "set"
    synth(data, 20, BuildOptions(describe=False), size=32)
    run = tmp_path / "run"
    r = vitrine("finetune", data, "--base", tiny_checkpoint, "--out", run, "--max-steps", "1", "--batch-size", "2",
                "--no-translated", "--attributes", "colour")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / MARKER).read_text())["kind"] == "finetune-run"
    merged, exported = tmp_path / "merged", tmp_path / "gguf"
    for _ in range(2):
        r = vitrine("finetune", "merge", run, "--out", merged)
        assert r.returncode == 0, r.stderr
        r = vitrine("export", "gguf", merged, "--out", exported, "--quant", "F16")
        assert r.returncode == 0, r.stderr
    assert json.loads((merged / MARKER).read_text())["kind"] == "merged"
    assert json.loads((exported / MARKER).read_text())["kind"] == "export"
    assert (exported / "text-F16.gguf").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gguf", "merged", "run", "set"]    # nothing left beside
    before = snapshot(tmp_path)
    assert_one_line_error(vitrine("finetune", "merge", run, "--out", exported), "holds a Vitrine model export, not a "
                          "merged checkpoint")
    assert_one_line_error(vitrine("export", "gguf", merged, "--out", run), "holds a Vitrine fine-tuning run")
    assert_one_line_error(vitrine("export", "gguf", merged, "--out", merged), "is this command's input")
    assert_one_line_error(vitrine("finetune", "merge", run, "--out", data), "holds a Vitrine question set")
    assert snapshot(tmp_path) == before
