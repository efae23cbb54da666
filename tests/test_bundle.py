"""`vitrine bundle` and its installer: a store workstation installs Vitrine with the network cut and no compiler.

The bundle is built once per session (its wheelhouse comes from PyPI through pip's cache, as a studio machine
would make it); the install runs in a fresh virtual environment inside a network namespace with no interface up
(`unshare -n`) and a PATH holding no compiler. Slow: minutes (the wheels of PySide6, onnxruntime, OpenCV...).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

TOOLS = ("sh", "env", "uname", "ldconfig", "cat", "ls")   # what pip and Python's venv call; no cc, gcc, cmake, make


def _no_network() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"]).returncode == 0:
        return [unshare, "-n"]
    pytest.skip("cannot cut the network here (unshare -n needs root)")


def _bare_path(tmp: Path) -> str:
    bin_ = tmp / "bare-bin"
    bin_.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_ / tool).symlink_to(found)
    return str(bin_)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_gguf):
    from engine.models.store import ModelStore
    from engine.settings import Settings
    from export.release.bundle import build_bundle
    work = tmp_path_factory.mktemp("bundle")
    home = work / "studio-home"
    old = os.environ.get("VITRINE_HOME")
    os.environ["VITRINE_HOME"] = str(home)
    try:
        store = ModelStore(home / "models")
        store.import_folder("tiny", tiny_gguf)
        glossary = work / "glossary.tsv"
        glossary.write_text("# the store's own terms\nen\tpt\tgender\ncardigan\tcasaquinho\tm\n", encoding="utf-8")
        result = build_bundle(work / "loja-bundle", ["tiny"], store, Settings.from_env(), glossary=glossary,
                              archive=True)
    finally:
        if old is None:
            os.environ.pop("VITRINE_HOME", None)
        else:
            os.environ["VITRINE_HOME"] = old
    return result


def _install(bundle_dir: Path, venv: Path, home: Path, tmp: Path, *extra) -> tuple[subprocess.CompletedProcess, float]:
    env = {"PATH": _bare_path(tmp) if not (tmp / "bare-bin").exists() else str(tmp / "bare-bin"),
           "HOME": str(tmp / "user"), "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
           "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "VITRINE_THREADS": "2"}
    t0 = time.perf_counter()
    r = subprocess.run([*_no_network(), sys.executable, str(bundle_dir / "install.py"), "--venv", str(venv),
                        "--home", str(home), *extra], capture_output=True, text=True, env=env, timeout=1200)
    return r, time.perf_counter() - t0


def test_a_bundle_installs_offline_without_a_compiler_and_answers(bundle, tmp_path):
    folder = bundle.folder
    meta = json.loads((folder / "bundle.json").read_text())
    assert meta["models"] == ["tiny"] and meta["smoke"]["answer"]
    assert (folder / "SHA256SUMS").is_file() and bundle.archive.is_file()
    assert any(p.name.startswith("llama_cpp_python-") for p in (folder / "wheelhouse").iterdir())
    assert not any(p.name.startswith(("torch-", "transformers-")) for p in (folder / "wheelhouse").iterdir())
    venv, home = tmp_path / "venv", tmp_path / "home"
    r, seconds = _install(folder, venv, home, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke test passed" in r.stdout
    print(f"\nbundle {bundle.bytes / 1e6:.0f} MB, {bundle.wheels} wheels; offline install {seconds:.0f} s; "
          f"venv {sum(p.stat().st_size for p in venv.rglob('*') if p.is_file()) / 1e6:.0f} MB")
    assert (home / "glossary.tsv").read_text().count("casaquinho") == 1
    # the installed runtime, alone (no PYTHONPATH, no studio): ask, and the app opens offscreen
    env = {"PATH": str(venv / "bin") + os.pathsep + "/usr/bin:/bin", "HOME": str(tmp_path / "user"),
           "VITRINE_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "VITRINE_THREADS": "2"}
    ask = subprocess.run([*_no_network(), str(venv / "bin" / "vitrine"), "ask", str(ROOT / "assets" / "examples" /
                          "look.jpg"), "Qual é a cor da camisa?", "--max-tokens", "6"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert ask.returncode == 0, ask.stderr
    code = ("from PySide6.QtCore import QTimer; from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from desktop.main_window import MainWindow; from engine.settings import Settings; "
            "w = MainWindow(ui_lang='pt', config=Settings.from_env()); w.show(); "
            "QTimer.singleShot(300, lambda: (print('shown', w.isVisible()), app.quit())); app.exec()")
    app = subprocess.run([*_no_network(), str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                         env=env, timeout=300)
    assert app.returncode == 0 and "shown True" in app.stdout, app.stderr[-2000:]
    torch = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True, env=env)
    assert torch.returncode != 0, "the runtime environment must not carry torch"

    # a newer bundle over it keeps the workstation's own history, catalog and the model already installed
    (home / "history.sqlite").write_bytes(b"the clerk's history")
    (home / "catalog").mkdir(exist_ok=True)
    (home / "catalog" / "catalog.sqlite").write_bytes(b"the store's own catalog")
    r2, _ = _install(folder, venv, home, tmp_path, "--no-smoke")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert "tiny (already installed)" in r2.stdout
    assert (home / "history.sqlite").read_bytes() == b"the clerk's history"
    assert (home / "catalog" / "catalog.sqlite").read_bytes() == b"the store's own catalog"


def test_a_damaged_bundle_stops_before_installing(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle.folder, copy, symlinks=True)
    model = next((copy / "models" / "tiny").glob("*.gguf"))
    with open(model, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    r, _ = _install(copy, tmp_path / "venv", tmp_path / "home", tmp_path)
    assert r.returncode == 2
    assert "damaged" in r.stdout and model.name in r.stdout
    assert not (tmp_path / "venv").exists()
