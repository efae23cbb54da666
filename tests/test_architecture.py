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
