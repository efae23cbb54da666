"""The `vitrine` command: one module per command group; export and app commands register from their own packages.

Every failure a user can cause ends in one line on stderr and a non-zero exit, never a traceback:
VitrineError says what to do, OS errors become sentences in one place (engine.errors), Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
from functools import cached_property
from importlib.metadata import entry_points

from engine.cli.interrupt import ctrl_c_stops
from engine.errors import VitrineError, os_error_message, sqlite_error_message
from engine.settings import Settings

log = logging.getLogger("vitrine")

# engine's own command groups; other packages add theirs under the "vitrine.commands" entry point group
# (export: export gguf|onnx, parity, bench; desktop: app), so engine never imports them until they are run.
ENGINE_GROUPS = ("engine.cli.ask", "engine.cli.translate", "engine.cli.models", "engine.cli.evaluate",
                 "engine.cli.catalog", "engine.cli.describe", "engine.cli.serve", "engine.cli.look")
ENTRY_POINT_GROUP = "vitrine.commands"
# What `pip install 'vitrine[studio]'` adds to a store workstation's runtime (pyproject.toml): a command that
# reaches one of these without it is studio work (export, fine-tuning, evaluation, benchmarks) and says so.
STUDIO_PACKAGES = frozenset({"torch", "transformers", "optimum", "onnx", "onnx_ir", "peft", "accelerate",
                             "safetensors", "pyarrow", "matplotlib", "rapidfuzz", "efficientnet_lite_pytorch",
                             "gguf", "datasets"})


def _studio_present(func) -> None:
    """A command of the studio's packages (export/) checks for them first: one line, not a failure half-way."""
    if not (getattr(func, "__module__", "") or "").startswith("export."):
        return
    import importlib.util
    for package in ("torch", "transformers"):
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)


def _group_modules():
    for name in ENGINE_GROUPS:
        yield importlib.import_module(name)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            yield ep.load()
        except ImportError as e:          # a package of the install is missing: its commands are, too
            log.debug("command group %s not available: %s", ep.name, e)


def actions_of(parser: argparse.ArgumentParser):
    """The sub-command table of a command group's parser, so another package can add an action to it
    (export adds `catalog bench`)."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


class CommandArgs(argparse.Namespace):
    """A command's arguments, and this process's settings (VITRINE_*), read once, when a command first needs them
    (a command that needs none is not refused for a bad VITRINE_THREADS it never uses); commands pass them down."""

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()      # the `vitrine` command's entry point: read once, passed down


class OneLineParser(argparse.ArgumentParser):
    """argparse's mistakes in one line, like every other mistake (its usage block is one --help away)."""

    def error(self, message: str):
        hint = " (a value that starts with '-' goes as --option=VALUE)" if "expected one argument" in message else ""
        self.exit(2, f"vitrine: {self.prog}: {message}{hint}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vitrine", description="Ask a vision-language model about clothes in an "
                                "image or video frame, offline, on the CPU.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in _group_modules():
        module.register(sub)
    return p


def _guard_standard_fds() -> bool:
    """Closed stdin/stdout/stderr get /dev/null, so no file opened later lands on fd 1 and receives C libraries'
    prints. Returns whether stdout was usable."""
    stdout_ok = True
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1:
                stdout_ok = False
    return stdout_ok and sys.stdout is not None


def _silence_stdout() -> None:
    """After a broken or full stdout: send the rest (and Python's exit-time flush) to /dev/null."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def _say(message: str) -> None:
    try:
        print(f"vitrine: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    stdout_ok = _guard_standard_fds()
    try:
        with ctrl_c_stops(whole_process=argv is None):     # from the first moment: Ctrl-C while parsing too
            try:
                return _run(argv, stdout_ok)
            except KeyboardInterrupt:
                _say("cancelled (Ctrl-C)")
                return 130
    except KeyboardInterrupt:   # one landing while the handler is taken down: the line is said, the code stays
        return 130              # (escaping, Python would kill itself with SIGINT: CI saw exit -2 once)


def _undecodable_argument(argv: list[str]) -> str | None:
    """An argument whose bytes were not UTF-8 (Python keeps them as lone surrogates: they would fail later, in
    a path or a print, as an internal error)."""
    for arg in argv:
        if any("\udc80" <= ch <= "\udcff" for ch in arg):
            return arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return None


def _run(argv: list[str] | None, stdout_ok: bool) -> int:
    bad = _undecodable_argument(sys.argv[1:] if argv is None else argv)
    if bad is not None:
        _say(f"the argument {bad!r} is not UTF-8 text: set the terminal to UTF-8 (LANG=pt_BR.UTF-8) or rename the "
             "file with UTF-8 characters, and try again")
        return 2
    parser = build_parser()
    args = parser.parse_args(argv, namespace=CommandArgs())
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not stdout_ok and not getattr(args, "needs_no_stdout", False):
        _say("standard output is closed: run the command with its output going to the terminal, a file or a pipe")
        return 2
    try:
        _studio_present(args.func)
        code = args.func(args)
        sys.stdout.flush()
        return code
    except VitrineError as e:
        _say(str(e))
        return e.exit_code
    except BrokenPipeError:               # `vitrine ... | head`: the reader left; nothing to say
        _silence_stdout()
        return 141
    except MemoryError:
        _say("out of memory: close other programs, use a smaller model (smolvlm-256m) or --tiles 1")
        return 3
    except OSError as e:
        if e.errno is not None and _is_stdout_error():
            _silence_stdout()
            _say(os_error_message(e, "writing the output"))
            return 2
        if args.verbose:
            raise
        _say(os_error_message(e))
        return 2
    except sqlite3.Error as e:
        if args.verbose:
            raise
        _say(sqlite_error_message(e, "a Vitrine database"))
        return 2
    except Exception as e:      # a bug: still one line, details with -v
        missing = (e.name or "").split(".")[0] if isinstance(e, ModuleNotFoundError) else ""
        if missing in STUDIO_PACKAGES:
            _say(f"`vitrine {args.command}` is part of the studio ({missing} is not installed here): "
                 "pip install 'vitrine[studio]' on a machine that builds models, or run it there")
            return 2
        if args.verbose:
            raise
        _say(f"internal error: {type(e).__name__}: {e} (run with -v for details and report it)")
        return 70


def _is_stdout_error() -> bool:
    """Did the OSError come from writing our own output (a full disk behind `> file`, /dev/full)?"""
    try:
        sys.stdout.flush()
    except OSError:
        return True
    except (ValueError, AttributeError):
        return False
    return False
