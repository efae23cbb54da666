"""`vitrine package`: the PyInstaller one-folder app starts from an empty environment (no site-packages, no
PYTHONPATH, no studio) under a real X server, and answers as the installed runtime does. Slow: the build takes
minutes; its size and cold start are printed."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    pytest.importorskip("PyInstaller")
    from export.release.package import build_app
    return build_app(tmp_path_factory.mktemp("pkg") / "vitrine-app")


def _bare_env(home: Path, **more) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "VITRINE_HOME": str(home / "vitrine"),
            "VITRINE_THREADS": "2", **more}


def test_the_packaged_app_starts_from_nothing_under_x_and_answers_as_installed(app, installed_tiny, vitrine_home,
                                                                                 tmp_path):
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    folder = app.folder
    assert (folder / "vitrine").is_file() and (folder / "vitrine-app").is_file()
    entry = (folder / "vitrine.desktop").read_text()
    assert "MimeType=video/mp4;" in entry and "Exec=" in entry and "Icon=" in entry
    assert not list((folder / "_internal").glob("torch*")), "the studio's torch must not be in the app"
    home = tmp_path / "user"
    shutil.copytree(vitrine_home, home / "vitrine")          # the tiny model, installed
    display = f":{80 + os.getpid() % 9}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        starts = []
        for _ in range(3):                                   # the first start reads the files from disk: cold
            r = subprocess.run([str(folder / "vitrine-app"), "--smoke"], capture_output=True, text=True,
                               env=_bare_env(home, DISPLAY=display, QT_QPA_PLATFORM="xcb"), timeout=120)
            assert r.returncode == 0 and "shown True" in r.stdout, r.stdout + r.stderr[-2000:]
            starts.append(float(r.stdout.split("after")[1].split()[0]))
    finally:
        xvfb.terminate()
        xvfb.wait()
    image = ROOT / "assets" / "examples" / "look.jpg"
    q = ["What color is the shirt?", "--max-tokens", "8", "--json"]
    packaged = subprocess.run([str(folder / "vitrine"), "ask", str(image), *q], capture_output=True, text=True,
                              env=_bare_env(home), timeout=300)
    assert packaged.returncode == 0, packaged.stderr
    installed = run_cli("ask", image, *q)
    assert installed.returncode == 0, installed.stderr
    assert json.loads(packaged.stdout)["text"] == json.loads(installed.stdout)["text"]
    print(f"\npackaged app {app.bytes / 1e6:.0f} MB, built in {app.seconds:.0f} s; window shown after "
          f"{starts[0]:.2f} s (first start), {sorted(starts)[1]:.2f} s (median of 3)")
    studio = subprocess.run([str(folder / "vitrine"), "export", "gguf", "x", "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, env=_bare_env(home), timeout=120)
    assert studio.returncode == 2 and len(studio.stderr.strip().splitlines()) == 1, studio.stderr
