"""Text files a store writes (glossaries, catalog CSVs, label files, JSONL sets): read in the encodings stores use.

Spreadsheets in Brazil export CSV as cp1252 (Windows) or Latin-1; Notepad adds a UTF-8 BOM. One reader for all of
them: UTF-8 with or without BOM first; otherwise cp1252 (a superset of Latin-1's printable range), reported so the
caller can say which encoding it read; bytes that neither decodes are one line naming the file and the line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.errors import BadInput, os_error_message

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
    except UnicodeDecodeError as e:
        # the file is mostly in one of the two: the bad spot is where the one that read further stopped
        raise BadInput(_undecodable(name, data, max(utf8_error, e.start))) from None
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


def note(decoded: DecodedText, name: str) -> str:
    """The one sentence a command's summary says when a file was read in the fallback encoding ("" otherwise)."""
    return f"{name} is not UTF-8: read it as Windows/Latin-1 (cp1252)" if decoded.guessed else ""


def csv_rows(decoded: DecodedText, name: str, **reader_options) -> Iterator[tuple[int, list[str]]]:
    """The rows of a decoded CSV with the line each starts on (a quoted field may span lines): errors name it."""
    import csv
    import io
    reader = csv.reader(io.StringIO(decoded.text, newline=""), **reader_options)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise BadInput(f"{name}, line {reader.line_num}: not readable as CSV ({e}): save it again as CSV "
                           "(\"CSV UTF-8\") and try again") from None
        yield start, fields
        start = reader.line_num + 1


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell for a CSV a person opens in a spreadsheet: text that a spreadsheet would run as a formula
    (=HYPERLINK(...), +, -, @, a tab or CR first) gets a leading apostrophe (OWASP's CSV-injection rule).
    Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


MAX_JSON_BYTES = 64 << 20        # a store's JSON file or one JSONL line; more is not a file Vitrine wrote
MAX_JSON_DEPTH = 32


def _depth(value: object, limit: int) -> int:
    """Nesting depth of parsed JSON, stopping once past ``limit``."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        nxt = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(v)
        level = nxt
    return depth


def parse_json(text: str, where: str, fix: str) -> object:
    """JSON text from a file (``where`` names it and the line); one line with ``fix`` when it is not JSON or
    nests deeper than anything Vitrine writes."""
    import json
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadInput(f"{where}: the JSON nests too deeply: {fix}") from None
    except ValueError as e:
        line = "" if not isinstance(e, json.JSONDecodeError) else f" (column {e.colno})" if "\n" not in text \
            else f" (line {e.lineno}, column {e.colno})"
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise BadInput(f"{where} is not valid JSON: {msg}{line}: {fix}") from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadInput(f"{where}: the JSON nests more than {MAX_JSON_DEPTH} levels: {fix}")
    return value


def read_json(path: Path | str, fix: str, kind: type = dict) -> object:
    """A store's JSON file (any of the encodings above), its top level of ``kind``; every problem one line
    naming the file and ending in ``fix``."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadInput(os_error_message(e, f"reading {path.name}")) from None
    if size > MAX_JSON_BYTES:
        raise BadInput(f"{path} is {size >> 20} MB: too big for a Vitrine JSON file: {fix}")
    value = parse_json(read_text(path).text, str(path), fix)
    if not isinstance(value, kind):
        raise BadInput(f"{path} must hold a JSON {_JSON_KIND.get(kind, kind.__name__)}, not "
                       f"{json_kind(value)}: {fix}")
    return value


def iter_jsonl(path: Path | str, fix: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line of a JSONL file; a line that is not a JSON object is one
    line naming the file, the line and ``fix``."""
    path = Path(path)
    decoded = read_text(path)
    if decoded.guessed:
        log.warning("%s", note(decoded, path.name))
    for n, line in enumerate(decoded.text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {n}"
        if len(line) > MAX_JSON_BYTES:
            raise BadInput(f"{where} is longer than {MAX_JSON_BYTES >> 20} MB: {fix}")
        value = parse_json(line, where, fix)
        if not isinstance(value, dict):
            raise BadInput(f"{where} is {json_kind(value)}, not a JSON object: {fix}")
        yield n, value


_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict, "list": list}


def check_fields(data: dict, cls: type, where: str, fix: str) -> dict:
    """``data`` fits dataclass ``cls`` (names and the simple types of its fields: str, int, float, bool, dict,
    list); else one line naming ``where``, the field and ``fix``. A file Vitrine wrote, edited or from another
    version, would otherwise fail later as a TypeError far from the file."""
    import dataclasses
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in fields:
            raise BadInput(f"{where}: \"{key}\" is not a field of this file: {fix}")
        want = _TYPES.get(str(fields[key].type).split(" ")[0].split("[")[0])
        if want is not None and (not isinstance(value, want) or (want is not bool and isinstance(value, bool))):
            raise BadInput(f"{where}: \"{key}\" is {json_kind(value)}: {fix}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise BadInput(f"{where}: no \"{missing[0]}\": {fix}")
    return data


_JSON_KIND = {dict: "object", list: "list", str: "text", int: "whole number", float: "number", bool: "true/false"}


def json_kind(value: object) -> str:
    """How a JSON value is called in a message ("a list", "a number"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    for t, name in _JSON_KIND.items():
        if isinstance(value, t):
            return ("an " if name[0] in "aeiou" else "a ") + name
    return type(value).__name__
