"""`vitrine describe`: a garment's attributes as JSON (the model constrained to the store's schema) and a
Portuguese description rendered from them.

The schema (`assets/attributes.schema.json`, or the store's own copy in $VITRINE_HOME) lists each attribute's
values in English with their Portuguese names (``x-pt``, ``x-pt-f`` for feminine, ``x-pt-plural``...): values reach
Portuguese through the schema, never through machine translation. The description comes from per-category
templates (`assets/descriptions.json`); a sentence about an attribute the model could not see is left out.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import BadInput, VitrineError
from engine.media.colors import NamedColor, dominant_colors
from engine.media.frames import Frame
from engine.paths import ASSETS
from engine.runtime.backends.base import GenerationOptions
from engine.runtime.constrained import compile_schema
from engine.runtime.session import AskOptions
from engine.settings import Settings
from engine.text_files import json_kind, read_json

SCHEMA_NAME = "attributes.schema.json"
TEMPLATES_NAME = "descriptions.json"
UNKNOWN = {"not visible", "not applicable", "none"}
MAX_TOKENS = 400


def _read_json(path: Path, what: str) -> dict:
    """A store's JSON file (UTF-8 or Windows/Latin-1, a bad line named), an object, or one line saying why."""
    return read_json(path, f"fix the {what} or delete it to use the bundled one")


# What the decoder constrains (constrained.py) and the description uses: a keyword outside this set would be
# silently ignored while decoding, and the answer then fail validation, so it is refused when the file is read.
_KEYWORDS = {"type", "enum", "const", "items", "minItems", "maxItems", "maxLength", "title", "description",
             "default", "examples", "$comment"}
_PT_NAMES = ("x-pt", "x-pt-f", "x-pt-plural", "x-pt-f-plural")
GENDERS = ("m", "f", "mp", "fp")


def _say(where: str, field: str, problem: str) -> BadInput:
    return BadInput(f"{where}: {field}: {problem}: fix it (the bundled assets/{SCHEMA_NAME} shows the layout) or "
                    "delete it to use the bundled one")


def _check_value_schema(prop: dict, where: str, field: str, array_item: bool = False) -> None:
    unknown = sorted(k for k in prop if k not in _KEYWORDS and not k.startswith("x-"))
    if unknown:
        raise _say(where, field, f"{', '.join(unknown)} cannot be constrained while decoding (supported: type, enum, "
                   "const, items, minItems, maxItems, maxLength)")
    kind = prop.get("type", "string" if "enum" in prop or "const" in prop else None)
    allowed = ("string", "integer", "number", "boolean") if array_item else \
        ("string", "array", "integer", "number", "boolean")
    if kind not in allowed:
        raise _say(where, field, f"type {kind!r} is not supported here (use {' or '.join(allowed)})")
    if "enum" in prop:
        values = prop["enum"]
        if not isinstance(values, list) or not values:
            raise _say(where, field + ".enum", "must be a non-empty list of texts")
        bad = [v for v in values if not isinstance(v, str) or not v.strip()]
        if bad:
            raise _say(where, field + ".enum", f"{bad[0]!r} is {json_kind(bad[0])}: every value must be a text "
                       "(the model's English word)")
        if len(set(values)) != len(values):
            raise _say(where, field + ".enum", "a value is listed twice")
    if kind == "array":
        items = prop.get("items")
        if not isinstance(items, dict):
            raise _say(where, field + ".items", "an array needs \"items\" (e.g. {\"type\": \"string\", \"enum\": "
                       "[...]})")
        _check_value_schema(items, where, field + ".items", array_item=True)
        lo, hi = prop.get("minItems", 0), prop.get("maxItems", max(prop.get("minItems", 0), 8))
        if not (isinstance(lo, int) and isinstance(hi, int)) or not 0 <= lo <= hi <= 64:
            raise _say(where, field, "needs whole numbers 0 <= minItems <= maxItems <= 64")
    if "maxLength" in prop and not 1 <= prop["maxLength"] <= 500:
        raise _say(where, field + ".maxLength", "must be from 1 to 500")
    for key in _PT_NAMES:
        names = prop.get(key)
        if names is not None and (not isinstance(names, dict) or
                                  not all(isinstance(v, str) for v in names.values())):
            raise _say(where, f"{field}.{key}", "must map each English value to its Portuguese name (texts)")
    genders = prop.get("x-pt-gender")
    if genders is not None:
        if not isinstance(genders, dict):
            raise _say(where, field + ".x-pt-gender", f"must map each value to one of {', '.join(GENDERS)}")
        bad = next((k for k, v in genders.items() if v not in GENDERS), None)
        if bad is not None:
            raise _say(where, f"{field}.x-pt-gender.{bad}", f"{genders[bad]!r} is not one of {', '.join(GENDERS)} "
                       "(masculine, feminine, and their plurals)")


def check_schema(schema: dict, where: str) -> None:
    """A store's attribute schema: a valid JSON Schema (Draft 2020-12) within what constrained decoding and the
    descriptions support; one line naming the file, the field and the fix otherwise."""
    import jsonschema
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        field = ".".join(str(p) for p in e.absolute_path) or "the top level"
        message = e.message if len(e.message) <= 160 else e.message[:157] + "..."
        raise _say(where, field, message) from None
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, dict) or not props:
        raise _say(where, "the top level", "must be {\"type\": \"object\", \"properties\": {...}}")
    for name, prop in props.items():
        if not re.fullmatch(r"\w+", name):
            raise _say(where, f"properties.{name}", "a property name is letters, digits and _ (templates name it)")
        if not isinstance(prop, dict):
            raise _say(where, f"properties.{name}", f"is {json_kind(prop)}, not a schema object")
        _check_value_schema(prop, where, f"properties.{name}")
    compile_schema(schema)                 # the decoder's own check, last


_TEMPLATE_VALUES = ("noun", "Noun", "o", "colours")        # what render_pt adds to the schema's properties


def _agreeing_with(name: str) -> tuple[str, str | None]:
    """``fit_f`` -> ("fit", "f"): a field that agrees with the sentence's own noun ("Modelagem {fit_f}": modelagem
    is feminine whatever the garment), not with the garment's."""
    base, _, gender = name.rpartition("_")
    return (base, gender) if base and gender in ("m", "f") else (name, None)


def check_templates(templates: dict, schema: dict, where: str) -> None:
    """Description templates: lists of sentences per category whose {fields} the schema (or render_pt) has."""
    import string
    known = set(schema.get("properties") or {}) | set(_TEMPLATE_VALUES)
    fix = f"fix it (the bundled assets/{TEMPLATES_NAME} shows the layout) or delete it to use the bundled one"
    for category, sentences in templates.items():
        if category.startswith("_"):                      # "_about" and other notes
            continue
        if not isinstance(sentences, list) or not all(isinstance(t, str) for t in sentences):
            raise BadInput(f"{where}: {category}: must be a list of sentences (texts): {fix}")
        for i, template in enumerate(sentences, 1):
            try:
                fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)
                          if name is not None]
            except ValueError as e:
                raise BadInput(f"{where}: {category}, sentence {i}: {e} (a literal brace is written {{{{ or }}}}): "
                               f"{fix}") from None
            for name, spec, conv in fields:
                if not re.fullmatch(r"\w+", name) or spec or conv:
                    raise BadInput(f"{where}: {category}, sentence {i}: {{{name}{'!' + conv if conv else ''}"
                                   f"{':' + spec if spec else ''}}} is not a plain {{field}}: {fix}")
                if name not in known and _agreeing_with(name)[0] not in known:
                    raise BadInput(f"{where}: {category}, sentence {i}: {{{name}}} is not a field of the schema "
                                   f"(fields: {', '.join(sorted(known))}): {fix}")


@dataclass
class AttributeSchema:
    schema: dict
    path: Path

    @classmethod
    def load(cls, settings: Settings) -> "AttributeSchema":
        """The store's copy ($VITRINE_HOME/attributes.schema.json) when there is one, else the bundled one.
        ``settings``: the caller's, read once at its entry point."""
        own = settings.home / SCHEMA_NAME
        path = own if own.is_file() else ASSETS / SCHEMA_NAME
        schema = _read_json(path, "attribute schema")
        check_schema(schema, str(path))        # every property one the decoder can constrain and render
        return cls(schema, path)

    @property
    def model_schema(self) -> dict:
        """The schema without Vitrine's x- annotations: what the model is constrained to and validated against."""
        def strip(d):
            if isinstance(d, dict):
                return {k: strip(v) for k, v in d.items() if not k.startswith("x-")}
            if isinstance(d, list):
                return [strip(v) for v in d]
            return d
        return strip(copy.deepcopy(self.schema))

    def prompt(self) -> str:
        fields = []
        for name, prop in self.schema["properties"].items():
            options = prop.get("enum") or (prop.get("items") or {}).get("enum")
            fields.append(f"{name} ({', '.join(options)})" if options else name)
        return "Describe the main garment in the picture as JSON with " + "; ".join(fields) + "."

    def pt(self, attribute: str, value: str, gender: str = "m") -> str:
        """A value in Portuguese agreeing with ``gender`` (m, f, mp, fp), falling back to the invariable form."""
        prop = self.schema["properties"].get(attribute, {})
        keys = {"m": ["x-pt"], "f": ["x-pt-f", "x-pt"], "mp": ["x-pt-plural", "x-pt"],
                "fp": ["x-pt-f-plural", "x-pt-plural", "x-pt"]}[gender]
        for key in keys:
            name = (prop.get(key) or {}).get(value)
            if name:
                return name
        return value

    def gender(self, category: str) -> str:
        return (self.schema["properties"].get("category", {}).get("x-pt-gender") or {}).get(category, "m")


@dataclass
class Description:
    attributes: dict                       # the model's values, in English, valid under the schema
    attributes_pt: dict                    # the same through the schema's Portuguese names
    description_pt: str
    measured_colors: list[NamedColor] = field(default_factory=list)
    model: str = ""
    frame: str = ""

    def to_dict(self) -> dict:
        return {"attributes": self.attributes, "attributes_pt": self.attributes_pt,
                "description_pt": self.description_pt, "measured_colors": [c.to_dict() for c in self.measured_colors],
                "model": self.model, "frame": self.frame}


def _join_pt(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " e " + words[-1]


def load_templates(settings: Settings, schema: AttributeSchema | None = None) -> dict:
    """The store's templates ($VITRINE_HOME/descriptions.json) or the bundled ones, checked against the schema in
    use (``schema``, else the store's): a sentence naming a field the schema lacks is one line, not a sentence
    silently left out of every description. ``settings``: the caller's, read once at its entry point."""
    own = settings.home / TEMPLATES_NAME
    path = own if own.is_file() else ASSETS / TEMPLATES_NAME
    templates = _read_json(path, "description templates")
    if path == own:              # the bundled templates are written for any schema: a missing field is left out
        check_templates(templates, (schema or AttributeSchema.load(settings)).schema, str(path))
    return templates


def render_pt(attrs: dict, schema: AttributeSchema, templates: dict) -> str:
    """The description in Portuguese, only from ``attrs``: no sentence states an unknown value."""
    category = attrs.get("category", "")
    g = schema.gender(category)
    noun = schema.pt("category", category)
    colours = attrs.get("colours") or []
    values = {
        "noun": noun, "Noun": noun[:1].upper() + noun[1:],
        "o": {"m": "o", "f": "a", "mp": "os", "fp": "as"}[g],
        "colours": _join_pt([schema.pt("colours", c, g) for c in colours]) if colours else "",
    }
    for name in schema.schema["properties"]:
        if name not in ("category", "colours") and isinstance(attrs.get(name), str):
            values[name] = schema.pt(name, attrs[name], g)
            for own in ("m", "f"):                  # {fit_f}: agreeing with the sentence's own noun
                values[f"{name}_{own}"] = schema.pt(name, attrs[name], own)
    sentences = []
    for template in templates.get(category) or templates.get("default") or []:
        fields = re.findall(r"\{(\w+)\}", template)
        asked = [f if f in attrs else _agreeing_with(f)[0] for f in fields]
        if any(f in attrs and (attrs[f] in ([], "") or isinstance(attrs[f], str) and attrs[f] in UNKNOWN)
               for f in asked):
            continue
        if any(f not in values for f in fields):
            continue
        if "pattern" in fields and attrs.get("pattern") == "plain" and "colours" in fields:
            template = template.replace(" {pattern}", "")     # "vestido vermelho liso" says nothing more
        sentence = " ".join(template.format(**values).split())
        if sentence.startswith("Com sem "):         # "Com sem mangas e decote em V" -> "Sem mangas e com decote em V"
            rest = sentence[len("Com sem "):]
            sentence = "Sem " + (rest.replace(" e ", " e com ", 1) if " e sem " not in rest else rest)
        sentences.append(sentence)
    return " ".join(sentences)


def ask_attributes(session, frame: Frame, prompt: str, json_schema: dict, max_tokens: int, choices: bool = False):
    """The model's answer to ``prompt`` under ``json_schema`` (constrained decoding), parsed and validated, and the
    Answer itself. ``choices``: the answer as choices among the schema's values only (AskOptions.choices)."""
    import jsonschema

    answer = session.ask(frame, prompt, AskOptions(GenerationOptions(max_tokens=max_tokens), lang="en",
                                                   translate=False, schema=json_schema, choices=choices))
    try:
        data = json.loads(answer.text)
        jsonschema.validate(data, json_schema)
    except (ValueError, jsonschema.ValidationError) as e:
        # the decoder allows only valid JSON; this means the answer ran out of tokens
        raise VitrineError(f"the model's attributes were cut short ({type(e).__name__}): raise --max-tokens") \
            from None
    return data, answer


def in_portuguese(schema: AttributeSchema, attrs: dict) -> tuple[dict, dict]:
    """``attrs`` with repeated values dropped ("grey, grey, grey": the decoder cannot forbid repeats cheaply), and
    the same in Portuguese, each value in the gender of the category."""
    attrs = {n: list(dict.fromkeys(v)) if isinstance(v, list) else v for n, v in attrs.items()}
    g = schema.gender(attrs.get("category", ""))
    return attrs, {n: [schema.pt(n, x, g) for x in v] if isinstance(v, list) else schema.pt(n, v, g)
                   for n, v in attrs.items()}


def describe(session, frame: Frame, schema: AttributeSchema | None = None, templates: dict | None = None,
             max_tokens: int = MAX_TOKENS, choices: bool = False) -> Description:
    """Ask the session's model for the schema's attributes (constrained), validate, and render Portuguese.
    ``choices``: the answer as choices among the schema's values only (AskOptions.choices: a schema of enums).
    ``schema``, ``templates``: None reads the store's (or the bundled ones) with the session's settings."""
    schema = schema or AttributeSchema.load(session.settings)
    templates = templates if templates is not None else load_templates(session.settings)
    data, answer = ask_attributes(session, frame, schema.prompt(), schema.model_schema, max_tokens, choices)
    attrs, attrs_pt = in_portuguese(schema, data)
    # the prompt names "colours", so the session usually measured them already
    measured = answer.colors or dominant_colors(frame.rgb)
    return Description(attrs, attrs_pt, render_pt(attrs, schema, templates), measured, answer.model,
                       frame.describe())
