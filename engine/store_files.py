"""Files a store may edit in $VITRINE_HOME (a copy of one in assets/ replaces it): the attribute schema, the
description templates and the suggested questions. Each is checked when loaded; a problem is one line naming the
file, the field and the fix.

Where the bundled copy is a safe stand-in (the suggested questions) it is used meanwhile and a warning says so;
the schema and templates shape what `describe` writes into a store's product texts, so a broken copy refuses
`describe` (with that one line) rather than quietly describing with other values. ``store_file_warnings`` lists
every problem at once, for the app to show when it starts.
"""
from __future__ import annotations

import logging

from engine.errors import BadInput, VitrineError
from engine.language.translate import LANGS
from engine.paths import ASSETS
from engine.runtime.describe import AttributeSchema, load_templates
from engine.settings import Settings
from engine.text_files import json_kind, read_json

log = logging.getLogger(__name__)

PROMPTS_NAME = "prompts.json"
MAX_PROMPTS, MAX_PROMPT_CHARS = 50, 300


def check_prompts(prompts: dict, where: str) -> None:
    """{"pt": [question, ...], "en": [...]}: a list of short texts per language the app speaks."""
    fix = f"fix it (the bundled assets/{PROMPTS_NAME} shows the layout) or delete it to use the bundled one"
    for lang, questions in prompts.items():
        if lang not in LANGS:
            raise BadInput(f"{where}: {lang}: not a language of the app (use {', '.join(LANGS)}): {fix}")
        if not isinstance(questions, list):
            raise BadInput(f"{where}: {lang}: is {json_kind(questions)}, not a list of questions: {fix}")
        if len(questions) > MAX_PROMPTS:
            raise BadInput(f"{where}: {lang}: {len(questions)} questions, at most {MAX_PROMPTS}: {fix}")
        for i, q in enumerate(questions, 1):
            if not isinstance(q, str) or not q.strip() or len(q) > MAX_PROMPT_CHARS:
                what = json_kind(q) if not isinstance(q, str) else "empty" if not q.strip() else "too long"
                raise BadInput(f"{where}: {lang}, question {i}: is {what} (a question is a text of up to "
                               f"{MAX_PROMPT_CHARS} characters): {fix}")


def load_prompts(settings: Settings) -> tuple[dict[str, list[str]], str]:
    """The suggested questions per language and a warning ("" when none): the store's prompts.json when it is
    right, else the bundled one (a suggestion list is safe to replace)."""
    own = settings.home / PROMPTS_NAME
    if own.is_file():
        try:
            prompts = read_json(own, "fix it or delete it to use the bundled one")
            check_prompts(prompts, str(own))
            return prompts, ""
        except VitrineError as e:
            warning = f"{e} (the bundled questions are shown meanwhile)"
            log.warning("%s", warning)
            return read_json(ASSETS / PROMPTS_NAME, "reinstall Vitrine"), warning
    return read_json(ASSETS / PROMPTS_NAME, "reinstall Vitrine"), ""


def store_file_warnings(settings: Settings) -> list[str]:
    """Every problem with the store's own copies of the files above, one line each (empty: all fine)."""
    # the schema's checks are the constrained decoder's, which brings the runtime with it: the app imports this
    # module at start-up for its quick questions, and loads the runtime only with a model
    out = []
    try:
        schema = AttributeSchema.load(settings)
    except VitrineError as e:
        out.append(f"{e} (describe is refused until then)")
        schema = None
    if schema is not None:
        try:
            load_templates(settings, schema)
        except VitrineError as e:
            out.append(f"{e} (describe is refused until then)")
    warning = load_prompts(settings)[1]
    if warning:
        out.append(warning)
    return out
