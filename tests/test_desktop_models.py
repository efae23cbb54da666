"""The Modelos dialog and the first-run page (issue 27 point 3): what is installed (size, type, languages, the image
encoder and why), import, default, remove, and the list following the store on disk while the app is open."""
import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from engine.models.store import ModelStore  # noqa: E402
from tests.test_desktop import make_window  # noqa: E402

SHA = "0" * 64


def fake_model(store: ModelStore, name: str, runtime: str = "hybrid", size: int = 180_000_000) -> Path:
    """A model folder as an import leaves it (written aside, then renamed in: what the watcher sees)."""
    files = {"model": "text.gguf", "mmproj": "mmproj.gguf"}
    if runtime == "hybrid":
        files.update(vision="onnx/vision.onnx", config="config.json")
    manifest = {"name": name, "runtime": runtime, "family": "idefics3", "languages": ["en"], "quant": "Q8_0",
                "files": {role: {"path": p, "sha256": SHA, "size": size // len(files)} for role, p in files.items()},
                "extra": {"vision": {"choice": "onnx", "why": "ONNX int8 encodes a frame in 180.0 ms, the f16 projector in "
                                     "420.0 ms here"}} if runtime == "hybrid" else {}}
    store.root.mkdir(parents=True, exist_ok=True)
    staging = store.root / f".{name}.partial"
    staging.mkdir()
    (staging / "vitrine-model.json").write_text(json.dumps(manifest))
    staging.rename(store.root / name)
    return store.root / name


def cells(dlg) -> list[list[str]]:
    return [[dlg.table.item(r, c).text() for c in range(dlg.table.columnCount())] for r in range(dlg.table.rowCount())]


def test_the_models_dialog_lists_what_is_installed_and_follows_the_store(qtbot, vitrine_home, tmp_path):
    store = ModelStore(vitrine_home / "models")
    fake_model(store, "loja")
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        assert w.pages.currentIndex() == 0 and [w.model_combo.itemText(i) for i in range(w.model_combo.count())] \
            == ["loja"]
        dlg = w.show_models()
        (row,) = cells(dlg)
        assert row[0] == "loja" and row[1] == "180,0 MB" and "hybrid" in row[2] and "Q8_0" in row[2]
        assert row[3] == "en" and row[4] == ("onnx — ONNX int8 codifica um quadro em 180,0 ms e o projetor f16 em "
                                             "420,0 ms neste computador: usa-se o mais rápido.")

        fake_model(store, "vitrine-fashion", runtime="gguf", size=90_000_000)      # imported from a terminal
        qtbot.waitUntil(lambda: len(cells(dlg)) == 2, timeout=5000)
        qtbot.waitUntil(lambda: w.model_combo.count() == 2, timeout=5000)         # the window sees it too
        fashion = [r for r in cells(dlg) if r[0] == "vitrine-fashion"][0]
        assert fashion[4] == "o do projetor (llama.cpp)"

        dlg.table.selectRow(dlg.names().index("vitrine-fashion"))
        dlg.make_default()
        assert w.settings.value("model") == "vitrine-fashion"
        assert "vitrine-fashion (padrão)" in [r[0] for r in cells(dlg)]

        dlg.table.selectRow(dlg.names().index("loja"))
        dlg.remove_selected(confirm=False)
        qtbot.waitUntil(lambda: dlg.names() == ["vitrine-fashion"], timeout=10_000)
        assert "removido" in dlg.status.text() and not (store.root / "loja").exists()
        qtbot.waitUntil(lambda: w.model_combo.count() == 1, timeout=5000)
        dlg.close()
    finally:
        w.close()


def test_the_window_leaves_the_first_run_page_when_a_model_lands(qtbot, vitrine_home, tmp_path):
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        assert w.pages.currentWidget() is w.first_run
        fake_model(ModelStore(vitrine_home / "models"), "loja")
        qtbot.waitUntil(lambda: w.pages.currentIndex() == 0, timeout=5000)
        assert w.model_combo.currentText() == "loja"
    finally:
        w.close()


def test_a_damaged_model_is_listed_with_its_reason_and_gguf_pairs_are_told_apart(qtbot, vitrine_home, tmp_path):
    from desktop.dialogs.models_dialog import ModelsDialog
    from desktop.strings import Texts
    store = ModelStore(vitrine_home / "models")
    bad = store.root / "quebrado"
    bad.mkdir(parents=True)
    (bad / "vitrine-model.json").write_text("{not json")
    dlg = ModelsDialog(store, Texts("pt"))
    qtbot.addWidget(dlg)
    (row,) = cells(dlg)
    assert row[0] == "quebrado" and row[4].startswith("danificado")
    a, b = Path("/m/SmolVLM-Q8_0.gguf"), Path("/m/mmproj-SmolVLM-f16.gguf")
    assert ModelsDialog.split_pair([b, a]) == (a, b)
    assert ModelsDialog.split_pair([a]) is None and ModelsDialog.split_pair([a, a]) is None
    dlg.close()


def test_importing_a_model_folder_from_the_dialog(qtbot, vitrine_home, tmp_path, tiny_gguf):
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        dlg = w.show_models()
        dlg.import_folder("tiny", tiny_gguf)
        qtbot.waitUntil(lambda: dlg.names() == ["tiny"], timeout=60_000)
        assert "importado" in dlg.status.text()
        qtbot.waitUntil(lambda: w.model_ready, timeout=60_000)          # the window loads it by itself
        assert w.pages.currentIndex() == 0
        dlg.import_folder("../x", tiny_gguf)
        qtbot.waitUntil(lambda: bool(dlg.last_error), timeout=10_000)
        assert dlg.last_error.startswith("Nome de modelo inválido")
        dlg.close()
    finally:
        w.close()


def test_importing_an_install_bundle_from_the_dialog_takes_every_model_it_carries(qtbot, vitrine_home, tmp_path,
                                                                                    tiny_gguf, monkeypatch):
    import shutil

    from PySide6.QtWidgets import QFileDialog
    bundle = tmp_path / "loja-bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "bundle.json").write_text(json.dumps({"models": ["tiny", "tiny2"]}))
    for name in ("tiny", "tiny2"):
        shutil.copytree(tiny_gguf, bundle / "models" / name)
    w = make_window(qtbot, vitrine_home, tmp_path, wait_model=False)
    try:
        dlg = w.show_models()
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(bundle))
        dlg.choose_folder()                       # no name asked: a bundle's models keep their own names
        qtbot.waitUntil(lambda: dlg.names() == ["tiny", "tiny2"], timeout=120_000)
        dlg.close()
    finally:
        w.close()
