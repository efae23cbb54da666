"""The layout's rules (pyproject.toml [tool.importlinter]) hold: checked by import-linter on every test run; and the
project's own imports sit at module level unless a comment on their line says why they wait."""
import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    r = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and r.stdout.count("KEPT") >= 4


PROJECT_PACKAGES = ("engine", "export", "desktop", "tests")


def _comment_lines(source: str) -> set[int]:
    return {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT}


def _imports_in_functions(tree: ast.AST):
    """Every import statement inside a function (at any depth: nested blocks, nested functions, methods)."""
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def _is_project_import(node) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in PROJECT_PACKAGES
    return any(alias.name.split(".")[0] in PROJECT_PACKAGES for alias in node.names)


def unexplained_function_imports(root: Path = ROOT) -> list[str]:
    """``path:line: statement`` for each import of the project's own modules made inside a function with no comment on
    its lines: such an import hides a circle or a slow start-up, so it says which (``# lazy: CLI startup, +0.3 s``)."""
    found = set()
    for top in ("engine", "export", "desktop"):
        for path in sorted((root / top).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            commented = _comment_lines(source)
            for node in _imports_in_functions(ast.parse(source, str(path))):
                if _is_project_import(node) and not commented & set(range(node.lineno, node.end_lineno + 1)):
                    found.add(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found)


def test_project_imports_inside_functions_say_why():
    bad = unexplained_function_imports()
    assert not bad, ("move these imports to the module's top, or say on their line why they must wait "
                     "(# lazy: circle A<->B / pulls torch / CLI startup):\n" + "\n".join(bad))


def _reads_vitrine_variable(node) -> str | None:
    """``os.environ.get("VITRINE_X")``, ``os.getenv("VITRINE_X")`` or ``os.environ["VITRINE_X"]`` read: the name."""
    key = None
    if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
        f = node.func
        if (f.attr == "get" and isinstance(f.value, ast.Attribute) and f.value.attr == "environ") or f.attr == "getenv":
            key = node.args[0]
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and \
            isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
        key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.startswith("VITRINE_"):
        return key.value
    return None


def test_only_the_settings_read_vitrine_variables():
    """A process reads VITRINE_* once, at its entry point, through engine/settings.py, and passes the Settings down
    (setting one for a child process is fine)."""
    bad = []
    for top in ("engine", "export", "desktop"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == ROOT / "engine" / "settings.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                name = _reads_vitrine_variable(node)
                if name:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: reads {name}")
    assert not bad, "read it in engine/settings.py's Settings and pass the Settings down:\n" + "\n".join(bad)


# The modules that start a process (or are the code a child process runs): the only places Settings are read from
# the environment. Everything below them takes the caller's Settings.
SETTINGS_ENTRY_POINTS = {
    "engine/cli/__init__.py": "the `vitrine` command (CommandArgs.settings)",
    "desktop/app.py": "`vitrine app`",
    "desktop/soak.py": "the app's soak run, a process of its own",
    "export/bench/look.py": "`vitrine look-bench`: a scratch home, for it and what it starts",
    "export/bench/backends.py": "the bench's worker process",
    "export/release/bundle_installer.py": "the installed bundle's own Python, a child process",
    "engine/language/translate_bench.py": "`python -m` and the fresh process whose first call is timed",
}


def settings_read_from_env(root: Path = ROOT) -> list[str]:
    """``path:line`` for each ``Settings.from_env()`` call (or a child process's code that makes one) outside
    engine/settings.py and the entry points."""
    found = []
    for top in ("engine", "export", "desktop"):
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == "engine/settings.py" or rel in SETTINGS_ENTRY_POINTS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "from_env"
                code = isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    "Settings.from_env(" in node.value
                if call or code:
                    found.append(f"{rel}:{node.lineno}")
    return found


def test_settings_are_read_from_the_environment_only_at_entry_points():
    """A library function takes the caller's Settings (required, never a fallback to the environment): one process,
    one reading, so a command's --device or a test's store is the one every layer sees."""
    bad = settings_read_from_env()
    assert not bad, ("take a `settings: Settings` parameter and pass the caller's down (or, for a new entry point, "
                     "add it to SETTINGS_ENTRY_POINTS):\n" + "\n".join(bad))
    for rel in SETTINGS_ENTRY_POINTS:               # the list names modules that exist and still read them
        assert "Settings.from_env(" in (ROOT / rel).read_text(encoding="utf-8"), rel
