import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # Qt tests run headless; the screenshot test uses Xvfb
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures import media, models  # noqa: E402


@pytest.fixture(autouse=True)
def vitrine_home(tmp_path, monkeypatch):
    """Every test gets its own empty store: never the user's real one."""
    home = tmp_path / "vitrine-home"
    monkeypatch.setenv("VITRINE_HOME", str(home))
    monkeypatch.delenv("VITRINE_MODEL", raising=False)
    monkeypatch.setenv("VITRINE_THREADS", "2")
    return home


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    return models.tiny_checkpoint()


@pytest.fixture(scope="session")
def tiny_gguf() -> Path:
    """Folder with text-Q8_0.gguf, mmproj-f16.gguf and vitrine-model.json."""
    return models.tiny_gguf("Q8_0", "f16")


@pytest.fixture(scope="session")
def tiny_gguf_f16() -> Path:
    return models.tiny_gguf("F16", "f32")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    media.write_video(d / "clip.mp4")
    media.write_image(d / "look.png")
    media.write_image(d / "look.jpg")
    return d


@pytest.fixture
def installed_tiny(tiny_gguf, vitrine_home):
    from engine.models import ModelStore
    return ModelStore(vitrine_home / "models").import_folder("tiny", tiny_gguf)


def run_cli(*args, env=None, timeout=300):
    """Run `vitrine` as a user would: a separate process."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    argv = [a if isinstance(a, bytes) else str(a) for a in args]      # bytes: what a non-UTF-8 terminal sends
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_argos() -> Path:
    return models.tiny_argosmodels()


@pytest.fixture(scope="session")
def tiny_onnx_fp32() -> Path:
    return models.tiny_onnx("fp32")


@pytest.fixture(scope="session")
def tiny_onnx_int8() -> Path:
    return models.tiny_onnx("int8")


@pytest.fixture
def hub(tmp_path, tiny_gguf, tiny_onnx_int8):
    """A fake hub on 127.0.0.1 serving smolvlm-256m's files from its two repos (the tiny model under the real
    names): the GGUF pair and the ONNX int8 vision encoder with its settings."""
    from engine.models import PROFILES
    from tests.fixtures.hub import FakeHub
    profile = PROFILES["smolvlm-256m"]
    local = {"vision": "vision_encoder.onnx", "config": "config.json", "preprocessor": "preprocessor_config.json"}
    with FakeHub(tmp_path / "hub") as h:
        h.add(profile.repo, profile.files["model"], tiny_gguf / "text-Q8_0.gguf")
        h.add(profile.repo, profile.files["mmproj"], tiny_gguf / "mmproj-f16.gguf")
        for f in profile.more:
            if f.role == "vision":      # as the hub publishes it: an images axis and a mask input
                src = models.published_vision_layout(tiny_onnx_int8 / local[f.role], tmp_path / "published.onnx")
            else:
                src = tiny_onnx_int8 / local[f.role]
            h.add(f.repo, f.path, src)
        yield h
