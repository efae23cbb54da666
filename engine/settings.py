"""Where Vitrine keeps its files and how hard it may use the machine; environment variables override."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from engine.devices import Device, check_device
from engine.errors import BadInput, VitrineError

log = logging.getLogger(__name__)
DEFAULT_HUB = "https://huggingface.co"


def cpu_cores() -> int:
    """Cores this process may use (a container or taskset may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def check_threads(value: int | str | None, what: str = "--threads") -> int | None:
    """A thread count a person gave: a whole number from 1 up; more than the cores is capped (it only slows
    everything down: 999 threads took 13 s where 2 took 1.2 s)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    cores = cpu_cores()
    try:
        n = int(str(value).strip())
    except ValueError:
        raise VitrineError(f"{what} must be a whole number of CPU threads from 1 to {cores}, not {value!r}") from None
    if n < 1:
        raise VitrineError(f"{what} must be at least 1 (this machine has {cores} cores), not {n}")
    if n > cores:
        log.warning("%s %d is more than the %d cores here: using %d", what, n, cores, cores)
        n = cores
    return n


def check_turns(value: int | str, what: str = "--turns") -> int:
    """How many earlier exchanges a follow-up sees: a whole number from 0 (each question on its own) to 32."""
    try:
        n = int(str(value).strip())
    except ValueError:
        raise VitrineError(f"{what} must be a whole number of earlier questions from 0 to 32, not {value!r}") from None
    if not 0 <= n <= 32:
        raise VitrineError(f"{what} must be from 0 (each question on its own) to 32, not {n}")
    return n


def check_hub_url(url: str, what: str = "--hub") -> str:
    """A hub base URL a person gave (--hub, VITRINE_HUB_URL): http(s), a host, no control characters or spaces
    (urllib refuses those deep inside a download, as an internal error)."""
    bad = next((ch for ch in url if ord(ch) < 0x20 or ord(ch) == 0x7f or ch.isspace()), None)
    if bad is not None:
        raise BadInput(f"{what} {url!r} holds a control character or space ({bad!r}): give the hub's address, "
                       f"like {DEFAULT_HUB}")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:          # a malformed port or IPv6 address
        ok = False
    if not ok:
        raise BadInput(f"{what} {url!r} is not an http(s) address: give the hub's address, like {DEFAULT_HUB}")
    return url.rstrip("/")


# This module is the only reader of VITRINE_* variables. A process reads them once, at its entry point (the
# `vitrine` command, the app, the server: ``Settings.from_env()``), and passes the Settings down. The functions
# below are for the few places deep inside a converter or an encoder cache that have no Settings in reach: they
# read one path each, and nothing else.

def cache_dir() -> Path:
    """Where rebuildable files go (VITRINE_CACHE, else the user's cache folder): losing them costs time only."""
    return Path(os.environ.get("VITRINE_CACHE") or platformdirs.user_cache_dir("vitrine")).expanduser()


def wheel_cache_dir() -> Path:
    """Where .ci/install keeps the portable llama-cpp-python wheel a bundle carries (VITRINE_WHEEL_CACHE)."""
    return Path(os.environ.get("VITRINE_WHEEL_CACHE") or Path(platformdirs.user_cache_dir("vitrine")) / "wheels")


def llama_cpp_src() -> Path | None:
    """A llama.cpp source tree the GGUF converter uses instead of fetching one (VITRINE_LLAMA_CPP_SRC), or None."""
    value = os.environ.get("VITRINE_LLAMA_CPP_SRC")
    return Path(value) if value else None


def bench_cache_dir() -> Path:
    """Where `vitrine bench` keeps the real-dimension exports it measures (VITRINE_BENCH_CACHE)."""
    return Path(os.environ.get("VITRINE_BENCH_CACHE") or Path(platformdirs.user_cache_dir("vitrine")) / "bench")


def _device_from_env() -> str:
    return (check_device(os.environ.get("VITRINE_DEVICE"), "VITRINE_DEVICE") or Device.AUTO).value


@dataclass(frozen=True)
class Settings:
    home: Path      # VITRINE_HOME: models, history, catalog live under it
    threads: int    # VITRINE_THREADS: CPU threads for text and image encoder (default: all cores usable)
    hub_url: str    # VITRINE_HUB_URL (or HF_ENDPOINT): where `models pull` downloads from
    conversation_turns: int = 4   # VITRINE_CONVERSATION_TURNS: earlier exchanges a follow-up sees (0: none)
    device: str = "auto"          # VITRINE_DEVICE: auto, cpu, gpu, npu or cuda (engine/devices.py)
    model: str | None = None      # VITRINE_MODEL: the model used when none is named (else the first installed)
    translator: str | None = None  # VITRINE_TRANSLATOR: "argos" or "bundled" forces one (else whichever is present)
    api_key: str | None = None    # VITRINE_API_KEY: the key `vitrine serve` asks for when --api-key is not given
    # VITRINE_VIDEO_INDEX_MB / _DAYS: the video indexes' cap as written, checked where used (engine/look/video_index.py:
    # a command that opens no index is not refused for them); "": the default
    video_index_mb: str = ""
    video_index_days: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        home = os.environ.get("VITRINE_HOME") or platformdirs.user_data_dir("vitrine", appauthor=False)
        hub = os.environ.get("VITRINE_HUB_URL") or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB
        threads = check_threads(os.environ.get("VITRINE_THREADS"), "VITRINE_THREADS") or cpu_cores()
        return cls(home=Path(home).expanduser(), threads=threads, hub_url=hub.rstrip("/"),
                   conversation_turns=check_turns(os.environ.get("VITRINE_CONVERSATION_TURNS", "4"),
                                                  "VITRINE_CONVERSATION_TURNS"),
                   device=_device_from_env(), model=os.environ.get("VITRINE_MODEL") or None,
                   translator=os.environ.get("VITRINE_TRANSLATOR") or None,
                   api_key=os.environ.get("VITRINE_API_KEY") or None,
                   video_index_mb=os.environ.get("VITRINE_VIDEO_INDEX_MB", ""),
                   video_index_days=os.environ.get("VITRINE_VIDEO_INDEX_DAYS", ""))

    def threads_for(self, requested: int | None) -> int:
        """``--threads`` when given (checked), else VITRINE_THREADS, else every usable core."""
        return check_threads(requested) or self.threads

    def with_device(self, device: str | None) -> "Settings":
        """These settings with a command's ``--device`` (checked) in place of VITRINE_DEVICE; None: unchanged."""
        checked = check_device(device)
        return self if checked is None else replace(self, device=checked.value)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
