"""The app's settings: one INI file under $VITRINE_HOME (beside the models, history and catalog), read back with
the types the app wrote, whatever the QSettings backend returns."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine.settings import Settings

SETTINGS_NAME = "settings.ini"


def settings_path(config: Settings) -> Path:
    return config.home / SETTINGS_NAME


def open_settings(config: Settings) -> QSettings:
    """QSettings as an INI file under $VITRINE_HOME (not ~/.config/Vitrine): everything the app keeps honours the
    one variable."""
    return QSettings(str(settings_path(config)), QSettings.Format.IniFormat)


def read_list(settings: QSettings, key: str) -> list[str]:
    """A list of strings. An INI file (and some other backends) gives a one-item list back as a bare str; iterating
    it would yield its characters."""
    value = settings.value(key, [])
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def read_bytes(settings: QSettings, key: str) -> QByteArray | None:
    value = settings.value(key)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None
