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

from .colors import NamedColor, dominant_colors
from .errors import VitrineError
from .frames import Frame
from .settings import Settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SCHEMA_NAME = "attributes.schema.json"
TEMPLATES_NAME = "descriptions.json"
UNKNOWN = {"not visible", "not applicable", "none"}
MAX_TOKENS = 400


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise VitrineError(f"cannot read the {what} {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise VitrineError(f"the {what} {path} is not valid JSON ({e}): fix it or delete it to use the bundled "
                           "one") from None
    if not isinstance(data, dict):
        raise VitrineError(f"the {what} {path} must be a JSON object")
    return data


@dataclass
class AttributeSchema:
    schema: dict
    path: Path

    @classmethod
    def load(cls, settings: Settings | None = None) -> "AttributeSchema":
        """The store's copy ($VITRINE_HOME/attributes.schema.json) when there is one, else the bundled one."""
        own = (settings or Settings.from_env()).home / SCHEMA_NAME
        path = own if own.is_file() else ASSETS / SCHEMA_NAME
        schema = _read_json(path, "attribute schema")
        props = schema.get("properties")
        if schema.get("type") != "object" or not isinstance(props, dict) or not props:
            raise VitrineError(f"{path} must describe an object with properties (see the bundled {SCHEMA_NAME})")
        from .constrained import compile_schema
        compile_schema(schema)                 # every property must be one the decoder can constrain
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


def load_templates(settings: Settings | None = None) -> dict:
    own = (settings or Settings.from_env()).home / TEMPLATES_NAME
    return _read_json(own if own.is_file() else ASSETS / TEMPLATES_NAME, "description templates")


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
    sentences = []
    for template in templates.get(category) or templates.get("default") or []:
        fields = re.findall(r"\{(\w+)\}", template)
        if any(f in attrs and (attrs[f] in ([], "") or isinstance(attrs[f], str) and attrs[f] in UNKNOWN)
               for f in fields):
            continue
        if any(f not in values for f in fields):
            continue
        if "pattern" in fields and attrs.get("pattern") == "plain" and "colours" in fields:
            template = template.replace(" {pattern}", "")     # "vestido vermelho liso" says nothing more
        sentences.append(" ".join(template.format(**values).split()))
    return " ".join(sentences)


def describe(session, frame: Frame, schema: AttributeSchema | None = None, templates: dict | None = None,
             max_tokens: int = MAX_TOKENS) -> Description:
    """Ask the session's model for the schema's attributes (constrained), validate, and render Portuguese."""
    import jsonschema

    from .backends import GenerationOptions
    schema = schema or AttributeSchema.load()
    templates = templates if templates is not None else load_templates()
    model_schema = schema.model_schema
    answer = session.ask(frame, schema.prompt(), GenerationOptions(max_tokens=max_tokens), lang="en",
                         translate=False, schema=model_schema)
    try:
        attrs = json.loads(answer.text)
        jsonschema.validate(attrs, model_schema)
    except (ValueError, jsonschema.ValidationError) as e:
        # the decoder allows only valid JSON; this means the answer ran out of tokens
        raise VitrineError(f"the model's attributes were cut short ({type(e).__name__}): raise --max-tokens") \
            from None
    for name, value in attrs.items():       # "grey, grey, grey": the decoder cannot forbid repeats cheaply
        if isinstance(value, list):
            attrs[name] = list(dict.fromkeys(value))
    attrs_pt = {}
    g = schema.gender(attrs.get("category", ""))
    for name, value in attrs.items():
        attrs_pt[name] = [schema.pt(name, v, g) for v in value] if isinstance(value, list) else \
            schema.pt(name, value, g)
    # the prompt names "colours", so the session usually measured them already
    measured = answer.colors or dominant_colors(frame.rgb)
    return Description(attrs, attrs_pt, render_pt(attrs, schema, templates), measured, answer.model,
                       frame.describe())
