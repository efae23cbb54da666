"""What a store workstation runs works without the studio's packages (issue: runtime and studio), and studio
commands say in one line what to install. The studio packages are made unimportable in the child process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import STUDIO_PACKAGES
from tests.helpers import ROOT, run_cli

LEAN = Path(__file__).resolve().parent / "fixtures" / "lean"
BLOCK = ",".join(sorted(STUDIO_PACKAGES))


def lean_cli(*args, env_extra=None, **kw):
    env = {"PYTHONPATH": f"{LEAN}{os.pathsep}{ROOT}", "VITRINE_BLOCK": BLOCK, **(env_extra or {})}
    return run_cli(*args, env=env, **kw)


def test_the_blocker_blocks():
    env = dict(os.environ, PYTHONPATH=f"{LEAN}{os.pathsep}{ROOT}", VITRINE_BLOCK=BLOCK)
    r = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "blocked" in r.stderr


def test_ask_and_translate_run_without_the_studio(installed_tiny, media_dir):
    r = lean_cli("ask", media_dir / "look.jpg", "What color are the pants?", "--max-tokens", "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    r = lean_cli("ask", media_dir / "look.jpg", "Qual é a cor da calça?", "--max-tokens", "4")
    assert r.returncode == 0, r.stderr
    r = lean_cli("translate", "The blouse is red.")
    assert r.returncode == 0, r.stderr
    assert "blusa" in r.stdout.lower()


def test_models_commands_run_without_the_studio(installed_tiny):
    r = lean_cli("models", "list")
    assert r.returncode == 0, r.stderr
    assert "tiny" in r.stdout


@pytest.mark.parametrize("argv", [
    ("export", "gguf", "CHECKPOINT", "--out", "OUT"),
    ("export", "onnx", "CHECKPOINT", "--out", "OUT"),
])
def test_studio_commands_say_what_to_install(argv, tiny_checkpoint, tmp_path):
    argv = [str(tiny_checkpoint) if a == "CHECKPOINT" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    r = lean_cli(*argv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert "part of the studio" in r.stderr and "vitrine[studio]" in r.stderr
    assert not (tmp_path / "out").exists()


def test_catalog_colours_and_describe_run_without_the_studio(tmp_path, installed_tiny):
    from tests.helpers import small_csv
    csv_path = small_csv(tmp_path / "shop", n=6)
    cache = {"VITRINE_CACHE": str(tmp_path / "cache")}
    # the studio side exports the bundled embedder's ONNX file once (a bundle carries it); the runtime reads it
    out = run_cli("catalog", "--catalog", tmp_path / "warm", "add", csv_path, env=cache)
    assert out.returncode == 0, out.stderr
    env = {"PYTHONPATH": f"{LEAN}{os.pathsep}{ROOT}", "VITRINE_BLOCK": BLOCK, **cache}
    out = run_cli("catalog", "--catalog", tmp_path / "c", "add", csv_path, env=env)
    assert out.returncode == 0, out.stderr
    image = tmp_path / "shop" / "images"
    first = sorted(image.iterdir())[0]
    out = run_cli("catalog", "--catalog", tmp_path / "c", "search", first, "--focus", "person", "--json", env=env)
    assert out.returncode == 0, out.stderr
    out = run_cli("colors", first, "--json", env=env)
    assert out.returncode == 0, out.stderr
    out = run_cli("describe", first, "--max-tokens", "1024", env=env)
    assert out.returncode == 0, out.stderr


def test_without_the_studio_the_embedder_says_where_its_file_comes_from(tmp_path):
    from tests.helpers import small_csv
    csv_path = small_csv(tmp_path / "shop", n=2)
    out = lean_cli("catalog", "--catalog", tmp_path / "c", "add", csv_path,
                   env_extra={"VITRINE_CACHE": str(tmp_path / "empty-cache")})
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "studio" in out.stderr
