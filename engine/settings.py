"""Where Vitrine keeps its files and how hard it may use the machine; environment variables override."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_HUB = "https://huggingface.co"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(1, int(raw))
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    home: Path      # VITRINE_HOME: models, history, catalog live under it
    threads: int    # VITRINE_THREADS: CPU threads for text and image encoder (default: all cores)
    hub_url: str    # VITRINE_HUB_URL (or HF_ENDPOINT): where `models pull` downloads from

    @classmethod
    def from_env(cls) -> "Settings":
        home = os.environ.get("VITRINE_HOME") or platformdirs.user_data_dir("vitrine", appauthor=False)
        hub = os.environ.get("VITRINE_HUB_URL") or os.environ.get("HF_ENDPOINT") or DEFAULT_HUB
        return cls(home=Path(home).expanduser(), threads=_int_env("VITRINE_THREADS", os.cpu_count() or 2),
                   hub_url=hub.rstrip("/"))

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
