"""The tiny models' cache keys cover every module that builds or measures them (tests/fixtures/models.py): a module
added to a folder, or edited, rebuilds what depends on it, with no hand-kept list to miss it."""
from tests.fixtures import models


def test_a_key_covers_every_module_of_its_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "ROOT", tmp_path)
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    first = models.key("pkg")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")          # a module added, one folder down
    added = models.key("pkg")
    assert added != first
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")          # and edited
    assert models.key("pkg") != added
    (tmp_path / "pkg" / "notes.txt").write_text("not code\n")
    assert models.key("pkg") == models.key("pkg")                    # stable from one run to the next


def test_the_onnx_exports_are_keyed_by_the_backends_that_measure_their_parity():
    names = {f.relative_to(models.ROOT).as_posix()
             for f in models.sources(*models.FAMILY_SOURCES, *models.CONVERT_SOURCES, *models.RUNTIME_SOURCES)}
    assert {"engine/runtime/backends/onnx.py", "engine/runtime/backends/torch.py", "export/convert/onnx.py",
            "export/convert/parity.py", "export/families/idefics3.py"} <= names
    fashion = {f.relative_to(models.ROOT).as_posix() for f in models.sources(*models.FASHION_SOURCES)}
    assert {"export/training/finetune.py", "export/training/checkpoints.py", "export/datasets/synth.py",
            "engine/language/vocabulary.py"} <= fashion
