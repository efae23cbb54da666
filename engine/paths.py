"""Where the project's own folders are, whether run from a tree or installed: the one place that counts parents."""
from __future__ import annotations

from pathlib import Path

# the folder holding engine/, export/, desktop/ and assets/ (a checkout, or site-packages for an installed wheel)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS = PROJECT_ROOT / "assets"
