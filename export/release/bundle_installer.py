"""Install this Vitrine bundle on a store workstation, offline: `python install.py` (install.sh / install.cmd call it).

Copied into every bundle by `vitrine bundle` as install.py. Standard library only (it runs before anything is
installed), the same file on Windows and Linux. What it does, each step checked:
  1. every file against SHA256SUMS (a damaged copy stops here, naming the file);
  2. a virtual environment (--venv), and the runtime from the bundle's wheelhouse with --no-index (no network, no
     compiler: every wheel is in the bundle);
  3. the store's home (VITRINE_HOME or the user's default): the catalog embedder's ONNX file; the bundle's
     glossary and prompts (an older copy is kept as .previous); its catalog only where the workstation has none
     (a workstation's own catalog and its history are never touched);
  4. each model through `vitrine models import` (one already installed with the same files is kept);
  5. a smoke test: the first model answers the known question about the known image as it did when the bundle
     was made.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Stop(Exception):
    """One line for the person installing, then exit 2."""


def say(message: str) -> None:
    print(f"vitrine install: {message}", flush=True)


def default_venv() -> Path:
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "vitrine" / "venv"


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def exe(env: Path, name: str) -> str:
    return str(bin_dir(env) / (name + (".exe" if os.name == "nt" else "")))


def verify_checksums() -> int:
    sums = HERE / "SHA256SUMS"
    if not sums.is_file():
        raise Stop(f"{sums} is missing: copy the whole bundle folder again")
    n = 0
    for line in sums.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, rel = line.split("  ", 1)
        path = (HERE / rel).resolve()
        if HERE not in path.parents:
            raise Stop(f"SHA256SUMS names {rel!r}, outside the bundle: the bundle was tampered with; make it again")
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        except OSError:
            raise Stop(f"{rel} is missing from the bundle: copy the whole bundle folder again") from None
        if h.hexdigest() != digest:
            raise Stop(f"{rel} is damaged (its sha256 differs from SHA256SUMS): copy the bundle again")
        n += 1
    return n


def run(argv: list[str], what: str, env: dict | None = None, timeout: int = 1800) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["?"])[-1]
        raise Stop(f"{what} failed: {last}")
    return r.stdout


def install_runtime(env: Path) -> None:
    if not Path(exe(env, "python")).exists():
        venv.create(env, with_pip=True)       # ensurepip: pip comes from Python itself, offline
    wheels = HERE / "wheelhouse"
    own = sorted(wheels.glob("vitrine-*.whl"))
    if not own:
        raise Stop("the bundle has no vitrine wheel: make the bundle again")
    pip = [exe(env, "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels),
           "--disable-pip-version-check"]
    run(pip + ["--upgrade", str(own[-1])], "installing the runtime from the wheelhouse")
    for wheel in wheels.glob("mediapipe-*.whl"):         # its declared dependencies would break the runtime
        run(pip + ["--no-deps", str(wheel)], "installing the person cut-out (mediapipe)")


def vitrine_env(home: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)                          # only what the bundle installed
    if home is not None:
        env["VITRINE_HOME"] = str(home)
    return env


def store_home(env: Path, environ: dict) -> Path:
    # the installed bundle's own Python, a child process: its entry point, so it reads its settings itself
    code = "from engine.settings import Settings; print(Settings.from_env().home)"
    return Path(run([exe(env, "python"), "-c", code], "finding the store's home", environ).strip())


def fill_home(home: Path) -> list[str]:
    done = []
    src = HERE / "home"
    for f in sorted((src / "embedders").glob("*")):
        (home / "embedders").mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, home / "embedders" / f.name)
        done.append(f"embedder {f.name}")
    for name in ("glossary.tsv", "prompts.json"):
        if (src / name).is_file():
            dest = home / name
            if dest.is_file() and dest.read_bytes() != (src / name).read_bytes():
                shutil.copy2(dest, dest.with_name(name + ".previous"))
            home.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{name}.tmp")
            shutil.copy2(src / name, tmp)
            os.replace(tmp, dest)
            done.append(name)
    if (src / "catalog").is_dir():
        if (home / "catalog" / "catalog.sqlite").exists():
            done.append("catalog kept (this workstation has its own)")
        else:
            staging = home / ".catalog.installing"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(src / "catalog", staging)
            os.replace(staging, home / "catalog")
            done.append("catalog")
    return done


def _file_hashes(manifest: Path) -> dict:
    try:
        files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError):
        return {}
    return {role: (entry or {}).get("sha256") for role, entry in files.items()}


def install_models(env: Path, environ: dict, home: Path, models: list[str]) -> list[str]:
    done = []
    for name in models:
        folder = HERE / "models" / name
        mine = home / "models" / name / "vitrine-model.json"
        if mine.is_file():
            if _file_hashes(mine) == _file_hashes(folder / "vitrine-model.json"):
                done.append(f"{name} (already installed)")
                continue
            run([exe(env, "vitrine"), "models", "remove", name], f"replacing the older {name}", environ)
        run([exe(env, "vitrine"), "models", "import", name, "--from", str(folder)], f"installing model {name}",
            environ)
        done.append(name)
    return done


def smoke_test(env: Path, environ: dict, smoke: dict) -> float:
    t0 = time.perf_counter()
    out = run([exe(env, "vitrine"), "ask", str(HERE / "smoke" / smoke["image"]), smoke["question"], "--model",
               smoke["model"], "--lang", "en", "--answer-lang", "en", "--max-tokens", str(smoke["max_tokens"]),
               "--json"], "the smoke test", environ, timeout=600)
    data = json.loads(out)
    got = (data[0] if isinstance(data, list) else data)["text"]
    if got != smoke["answer"]:
        raise Stop(f"the smoke test answered {got!r}, the bundle expects {smoke['answer']!r}: this machine runs the "
                   "model differently; report it with `vitrine -v ask`")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="install.py", description="Install this Vitrine bundle offline.")
    p.add_argument("--venv", type=Path, default=None, help=f"where the runtime goes (default {default_venv()})")
    p.add_argument("--home", type=Path, default=None, help="the store's home (default: VITRINE_HOME, else the "
                   "user's data folder)")
    p.add_argument("--no-smoke", action="store_true", help="skip the smoke test")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        meta = json.loads((HERE / "bundle.json").read_text(encoding="utf-8"))
        want = meta["python"]
        have = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if want != have or meta["platform"] != sys.platform:
            raise Stop(f"this bundle is for Python {want} on {meta['platform']}; this is Python {have} on "
                       f"{sys.platform}: run it with Python {want}, or make a bundle on a machine like this one")
        say(f"checked {verify_checksums()} files against SHA256SUMS")
        env = (args.venv or default_venv()).resolve()
        install_runtime(env)
        say(f"runtime installed in {env}")
        environ = vitrine_env(args.home.resolve() if args.home else None)
        home = store_home(env, environ)
        for line in fill_home(home):
            say(f"home {home}: {line}")
        for line in install_models(env, environ, home, meta["models"]):
            say(f"model {line}")
        if not args.no_smoke:
            say(f"smoke test passed ({smoke_test(env, environ, meta['smoke']):.1f} s): "
                f"{meta['smoke']['model']} answered {meta['smoke']['answer']!r}")
    except Stop as e:
        say(str(e))
        return 2
    except KeyboardInterrupt:
        say("cancelled: run it again to finish (finished steps are kept)")
        return 130
    say(f"done in {time.perf_counter() - t0:.0f} s: start the app with {exe(env, 'vitrine-app')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
