"""Text files a store writes (glossaries, catalog CSVs, label files, JSONL sets): read in the encodings stores use.

Spreadsheets in Brazil export CSV as cp1252 (Windows) or Latin-1; Notepad adds a UTF-8 BOM. One reader for all of
them: UTF-8 with or without BOM first; otherwise cp1252 (a superset of Latin-1's printable range), reported so the
caller can say which encoding it read; bytes that neither decodes are one line naming the file and the line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput, os_error_message

log = logging.getLogger(__name__)

# Bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D): a file holding them is neither UTF-8 nor cp1252.
_FALLBACK = "cp1252"


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str            # "utf-8", "utf-8-sig" or "cp1252"

    @property
    def guessed(self) -> bool:
        """True when the file was not UTF-8 and was read as cp1252 (worth telling the user once)."""
        return self.encoding == _FALLBACK


def decode_text(data: bytes, name: str = "the file") -> DecodedText:
    """Decode a store's text file; raise BadInput naming the first line that no encoding reads."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return DecodedText(data[3:].decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError as e:
            raise BadInput(_undecodable(name, data[3:], e.start)) from None
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as e:
        utf8_error = e.start
    try:
        text = data.decode(_FALLBACK)
    except UnicodeDecodeError:
        raise BadInput(_undecodable(name, data, utf8_error)) from None
    if "\x00" in text:       # UTF-16 or a binary file: cp1252 "reads" it as text with NULs
        raise BadInput(f"{name} is not a text file (or is UTF-16): save it as UTF-8 (\"CSV UTF-8\" in a "
                       "spreadsheet) and try again")
    log.info("%s is not UTF-8: read as %s (Windows/Latin-1)", name, _FALLBACK)
    return DecodedText(text, _FALLBACK)


def read_text(path: Path | str, what: str = "") -> DecodedText:
    """Read ``path`` as a store's text file (see decode_text); an unreadable file is one BadInput line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(os_error_message(e, f"reading {what or path.name}")) from None
    return decode_text(data, str(path))


def _undecodable(name: str, data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    return (f"{name}, line {line}: the text is neither UTF-8 nor Windows/Latin-1: open it in a spreadsheet or "
            "editor and save it as UTF-8 (\"CSV UTF-8\"), then try again")
