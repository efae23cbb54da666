"""Run a model once, in a child process, before the store trusts it.

Hashes prove a file is the one its manifest names, not that it runs: a well-formed GGUF with a damaged value can
abort inside llama.cpp (exit 134, often nothing printed) or allocate gigabytes. ``models import`` and ``models pull``
therefore load the model in a child process with a time limit (and, on POSIX, a memory limit: RLIMIT_AS), encode a
small image and decode a few tokens. A child that crashes, hangs, runs out of memory or answers nothing costs the
install, never the caller: one line says why, and nothing is installed.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from engine.errors import ModelFault
from engine.models.gguf_file import machine_memory
from engine.models.manifest import Manifest
from engine.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

MARK = "VITRINE-TRIAL "          # the child's one result line on stdout (llama.cpp may print around it)
BASE_TIMEOUT_S = 60.0            # a tiny model answers in well under a second; the child's imports take longer
TIMEOUT_S_PER_GB = 120.0         # a 1.6 GB pair loads and encodes one image in seconds here; a slow PC needs more
HEADROOM_BYTES = 3 << 30         # interpreter, runtimes, thread stacks and the compute buffers of a small view
TRIAL_TOKENS = 3


def _files_bytes(folder: Path, manifest: Manifest) -> int:
    return sum((folder / e.path).stat().st_size for e in manifest.files.values() if (folder / e.path).is_file())


def limits_for(folder: Path, manifest: Manifest) -> tuple[float, int]:
    """(seconds, bytes of address space) a trial of this model may take: scaled by its files' size."""
    size = _files_bytes(folder, manifest)
    memory = 2 * size + HEADROOM_BYTES
    total = machine_memory()
    if total:       # never more than the machine has, never less than the files plus a margin
        memory = max(min(memory, total), size + (1 << 30))
    return BASE_TIMEOUT_S + TIMEOUT_S_PER_GB * size / 1e9, memory


def _child_command() -> list[str]:
    # the child is the runtime's (engine.runtime.backends.trial_child): the store never imports the runtime
    return [sys.executable, "-m", "engine.runtime.backends.trial_child"]


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def trial_run(folder: Path, manifest: Manifest, *, timeout_s: float | None = None,
              memory_bytes: int | None = None) -> dict:
    """Load ``manifest``'s model from ``folder`` in a child process and make it answer once.

    Returns the child's report ({"tokens": n, "seconds": s}); raises ModelFault in one line if the model crashed,
    hung, ran out of memory, failed to load or answered nothing.
    """
    folder = Path(folder)
    t, m = limits_for(folder, manifest)
    timeout_s = t if timeout_s is None else timeout_s
    memory_bytes = m if memory_bytes is None else memory_bytes
    job = json.dumps({"folder": str(folder.resolve()), "manifest": json.loads(manifest.to_json()),
                      "memory": memory_bytes})
    env = dict(os.environ)
    root = str(PROJECT_ROOT)      # this engine, whether installed or run from a tree
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    name = manifest.name
    refused = f"{name} was not installed: it failed when run once to check it"
    try:
        r = subprocess.run(_child_command(), input=job, capture_output=True, text=True, timeout=timeout_s, env=env,
                           errors="replace")
    except subprocess.TimeoutExpired:
        raise ModelFault(f"{refused} (no answer within {timeout_s:.0f} s: it hangs, or is far too slow for this "
                         "computer)") from None
    except OSError as e:
        raise ModelFault(f"{refused} (the check could not start: {e})") from None
    report = None
    for line in r.stdout.splitlines():
        if line.startswith(MARK):
            try:
                report = json.loads(line[len(MARK):])
            except ValueError:
                report = None
    if isinstance(report, dict) and isinstance(report.get("error"), str):
        raise ModelFault(f"{refused}: {report['error']}")
    if r.returncode < 0:
        raise ModelFault(f"{refused} (it crashed inside the runtime, {_signal_name(r.returncode)}): the file is "
                         "damaged or made for another version of llama.cpp; download or export it again")
    if r.returncode != 0 or not isinstance(report, dict):
        tail = (r.stderr.strip().splitlines() or ["nothing printed"])[-1][:160]
        if "MemoryError" in r.stderr or "bad_alloc" in r.stderr or "failed to allocate" in r.stderr:
            raise ModelFault(f"{refused} (it needed more than the {memory_bytes / 1e9:.1f} GB allowed: its settings "
                             "are damaged, or it is too large for this computer)")
        raise ModelFault(f"{refused} (it stopped with exit code {r.returncode} and no answer: {tail})")
    if not isinstance(report.get("tokens"), int) or report["tokens"] < 1:
        raise ModelFault(f"{refused} (it loaded but answered nothing): download or export it again")
    log.info("%s ran once: %d tokens in %.2f s", name, report["tokens"], report.get("seconds", 0.0))
    return report
