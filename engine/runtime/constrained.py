"""Constrained decoding: the model can only write JSON that a schema allows.

A JSON schema (the subset product attributes need: objects with properties, string enums and consts, arrays
of them with min/max items, bounded free strings, integers, numbers, booleans) is checked and compiled once into a
small tree, written out two ways: a llama.cpp GBNF grammar (the GGUF backend hands it to llama.cpp's own grammar
sampler) and a regular expression (the ONNX and transformers backends mask the logits to the tokens whose text keeps
the output a prefix of a match, walking a trie of the vocabulary). Both spell the same compact layout
(`{"a": "x", "b": ["y"]}`), properties in the schema's order, all of them present: the output is valid by
construction, not retried. When the token budget runs short, both close what is open by the shortest way
(`BudgetCloser`): an answer cut by ``max_tokens`` is still valid JSON, and says it was cut.
"""
from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from engine.errors import BadInput

MAX_FREE_STRING = 60            # a string without maxLength
MAX_STRING = 500                # the largest maxLength accepted
MAX_DEPTH = 8
MAX_PROPERTIES = 64
MAX_ENUM = 256
MAX_ENUM_TEXT = 200             # characters in one enum value
MAX_ITEMS = 64
MAX_NODES = 512                 # all the schema's parts together: bounds the grammar and the regular expression

# keywords that only describe (annotations): accepted and ignored anywhere; "x-..." extensions too
_ANNOTATIONS = {"title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated",
                "readOnly", "writeOnly"}
_KEYWORDS = {"object": {"type", "properties", "required", "additionalProperties"},
             "array": {"type", "items", "minItems", "maxItems", "uniqueItems"},
             "string": {"type", "maxLength"},
             "integer": {"type"}, "number": {"type"}, "boolean": {"type"}, "null": {"type"},
             "enum": {"type", "enum", "const", "maxLength"}}
_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),)}


def _whole(v) -> bool:
    """A count as JSON may write it: 10, or 10.0 (a number with no fraction is an integer to JSON Schema)."""
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


class SchemaError(BadInput):
    """A schema outside the subset the decoder can follow; ``field`` names the part (``schema.properties.x``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


# ---- the schema as a tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    kind: str                       # object | enum | array | string | integer | number | boolean | null
    children: tuple = ()            # object: ((key, Node), ...); array: (item,)
    values: tuple = ()              # enum: the allowed JSON values (already JSON-encoded)
    min_items: int = 0
    max_items: int = 0
    max_length: int = 0


class _Counter:
    def __init__(self):
        self.n = 0


def compile_schema(schema: dict, path: str = "schema", depth: int = 0, _count: _Counter | None = None) -> Node:
    """The schema as a tree the decoder can follow; anything outside the supported subset is a BadInput that
    names the field (``path``) and says what is accepted."""
    count = _count or _Counter()
    count.n += 1
    if count.n > MAX_NODES:
        raise SchemaError(path, f"the JSON schema has too many parts (at most {MAX_NODES})")
    if depth > MAX_DEPTH:
        raise SchemaError(path, f"the JSON schema nests too deeply (at most {MAX_DEPTH} levels)")
    if not isinstance(schema, dict):
        raise SchemaError(path, "a JSON schema must be an object")
    kind = schema.get("type")
    if isinstance(kind, list):          # ["string", "null"]: the decoder writes the first non-null one
        if not kind or len(kind) > 2 or not all(isinstance(k, str) for k in kind) or \
                (len(kind) == 2 and "null" not in kind):
            raise SchemaError(path + ".type", 'a list of types must be one type, or one type and "null"')
        kind = next((k for k in kind if k != "null"), "null")
    if kind is not None and not (isinstance(kind, str) and kind in _KEYWORDS and kind != "enum"):
        raise SchemaError(path + ".type", f"{kind!r} is not supported for constrained answers (use object, array, "
                       "string, integer, number, boolean or null)")
    if "const" in schema or "enum" in schema:
        node = _compile_enum(schema, kind, path)
        _check_keywords(schema, "enum", path)
        return node
    if kind == "object" or (kind is None and "properties" in schema):
        _check_keywords(schema, "object", path)
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            raise SchemaError(path + ".properties", "an object needs properties (free-form objects cannot be "
                              "constrained)")
        if len(props) > MAX_PROPERTIES:
            raise SchemaError(path + ".properties", f"at most {MAX_PROPERTIES} properties ({len(props)} given)")
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(path + ".required", "must be a list of property names")
        missing = [r for r in required if r not in props]
        if missing:
            raise SchemaError(path + ".required", f"{missing[0]!r} is not among the properties (every property is "
                           "written, so required may only name them)")
        extra = schema.get("additionalProperties", True)
        if not isinstance(extra, (bool, dict)):
            raise SchemaError(path + ".additionalProperties", "must be true, false or a schema")
        for key in props:
            if len(key) > 200:
                raise SchemaError(path + ".properties", "a property name is longer than 200 characters")
        return Node("object", children=tuple((k, compile_schema(v, f"{path}.properties.{k}", depth + 1, count))
                                             for k, v in props.items()))
    if kind == "array":
        _check_keywords(schema, "array", path)
        if schema.get("uniqueItems", False) is not False:
            raise SchemaError(path + ".uniqueItems", "not supported for constrained answers (leave it out)")
        items = schema.get("items", {"type": "string"})
        if not isinstance(items, dict):
            raise SchemaError(path + ".items", "must be one schema (tuple forms are not supported)")
        item = compile_schema(items, f"{path}.items", depth + 1, count)
        lo = schema.get("minItems", 0)
        if not _whole(lo) or not 0 <= lo <= MAX_ITEMS:
            raise SchemaError(path + ".minItems", f"must be a whole number from 0 to {MAX_ITEMS}")
        hi = schema.get("maxItems", max(lo, 8))
        if not _whole(hi) or not lo <= hi <= MAX_ITEMS:
            raise SchemaError(path + ".maxItems", f"must be a whole number from minItems ({lo}) to {MAX_ITEMS}")
        return Node("array", children=(item,), min_items=int(lo), max_items=int(hi))
    if kind == "string":
        _check_keywords(schema, "string", path)
        n = schema.get("maxLength", MAX_FREE_STRING)
        if not _whole(n) or not 0 <= n <= MAX_STRING:
            raise SchemaError(path + ".maxLength", f"must be a whole number from 0 to {MAX_STRING}")
        return Node("string", max_length=int(n))
    if kind in ("integer", "number", "boolean", "null"):
        _check_keywords(schema, kind, path)
        return Node(kind)
    for key in schema:          # no type to go by: name what was given instead
        if key not in _ANNOTATIONS and not str(key).startswith("x-"):
            raise SchemaError(f"{path}.{key}", "not supported for constrained answers (use type, properties, "
                              "items, enum or const)")
    raise SchemaError(path, "say the type (object with properties, array, string, integer, number, boolean, "
                      "null) or give an enum")


def _check_keywords(schema: dict, kind: str, path: str) -> None:
    for key in schema:
        if not isinstance(key, str) or not (key in _KEYWORDS[kind] or key in _ANNOTATIONS or key.startswith("x-")):
            allowed = ", ".join(sorted(_KEYWORDS[kind] - {"type"})) or "nothing but type"
            raise SchemaError(f"{path}.{key}", f"not supported for constrained answers (accepted here: {allowed})")


def _compile_enum(schema: dict, kind: str | None, path: str) -> Node:
    if "const" in schema:
        values, where = [schema["const"]], f"{path}.const"
        if "enum" in schema:
            raise SchemaError(path, "give enum or const, not both")
    else:
        values, where = schema["enum"], f"{path}.enum"
        if not isinstance(values, list) or not values:
            raise SchemaError(where, "must be a non-empty list")
        if len(values) > MAX_ENUM:
            raise SchemaError(where, f"at most {MAX_ENUM} values ({len(values)} given)")
    limit = schema.get("maxLength")
    if limit is not None and (not _whole(limit) or limit < 0):
        raise SchemaError(path + ".maxLength", f"must be a whole number from 0 to {MAX_STRING}")
    for v in values:
        if not isinstance(v, (str, int, float, bool, type(None))) or \
                (isinstance(v, float) and not math.isfinite(v)):
            raise SchemaError(where, f"a {type(v).__name__} value is not supported: enum values must be strings, "
                              "numbers, booleans or null")
        if isinstance(v, str) and len(v) > MAX_ENUM_TEXT:
            raise SchemaError(where, f"a value is longer than {MAX_ENUM_TEXT} characters")
        if kind is not None and not (isinstance(v, _JSON_TYPES[kind]) and not (kind in ("integer", "number")
                                                                             and isinstance(v, bool))):
            if not (kind == "integer" and isinstance(v, float) and v.is_integer()):
                raise SchemaError(where, f"{json.dumps(v)[:60]} is not of the schema's type {kind!r}")
        if limit is not None and isinstance(v, str) and len(v) > limit:
            raise SchemaError(where, f"{v[:60]!r} is longer than maxLength ({limit})")
    return Node("enum", values=tuple(dict.fromkeys(json.dumps(v, ensure_ascii=False) for v in values)))


# ---- the tree as a regular expression and as a GBNF grammar ------------------------------------------------------
def to_regex(node: Node) -> str:
    if node.kind == "object":
        parts = [re.escape(json.dumps(k, ensure_ascii=False) + ": ") + to_regex(v) for k, v in node.children]
        return r"\{" + re.escape(", ").join(parts) + r"\}"
    if node.kind == "enum":
        return "(?:" + "|".join(re.escape(v) for v in node.values) + ")"
    if node.kind == "array":
        item = to_regex(node.children[0])
        if node.max_items == 0:
            return r"\[\]"
        body = f"{item}(?:, {item}){{{max(0, node.min_items - 1)},{node.max_items - 1}}}"
        return r"\[" + (body if node.min_items else f"(?:{body})?") + r"\]"
    if node.kind == "string":
        return '"' + r'[^"\\\x00-\x1f]' + f"{{0,{node.max_length}}}" + '"'
    if node.kind == "integer":
        return r"-?(?:0|[1-9][0-9]{0,14})"
    if node.kind == "number":
        return r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,8})?"
    if node.kind == "boolean":
        return "(?:true|false)"
    return "null"


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_gbnf(node: Node) -> str:
    rules: list[str] = []

    def rule(n: Node) -> str:
        name = f"r{len(rules)}"
        rules.append("")                # reserve the slot: children get later numbers
        slot = len(rules) - 1
        if n.kind == "object":
            body = ' ", " '.join(f"{_gbnf_literal(json.dumps(k, ensure_ascii=False) + ': ')} {rule(v)}"
                                 for k, v in n.children)
            text = f'"{{" {body} "}}"'
        elif n.kind == "enum":
            text = "(" + " | ".join(_gbnf_literal(v) for v in n.values) + ")"
        elif n.kind == "array":
            item = rule(n.children[0])
            if n.max_items == 0:
                text = '"[" "]"'
            else:
                more = f'(", " {item}){{{max(0, n.min_items - 1)},{n.max_items - 1}}}'
                inner = f"{item} {more}" if n.min_items else f"({item} {more})?"
                text = f'"[" {inner} "]"'
        elif n.kind == "string":
            text = f'"\\"" [^"\\\\\\x00-\\x1f]{{0,{n.max_length}}} "\\""'
        elif n.kind == "integer":
            text = '"-"? ("0" | [1-9] [0-9]{0,14})'
        elif n.kind == "number":
            text = '"-"? ("0" | [1-9] [0-9]{0,14}) ("." [0-9]{1,8})?'
        elif n.kind == "boolean":
            text = '("true" | "false")'
        else:
            text = '"null"'
        rules[slot] = f"{name} ::= {text}"
        return name

    top = rule(node)
    return "\n".join([f"root ::= {top}"] + rules) + "\n"


# ---- the shortest way to finish ------------------------------------------------------------------------------------
def _lit(lit: str, text: str, pos: int):
    """``lit`` at ``pos``: the position after it, the part still to write when the text ends inside it, or None."""
    if text.startswith(lit, pos):
        return pos + len(lit)
    rest = text[pos:]
    return lit[len(rest):] if lit.startswith(rest) else None


def min_text(node: Node) -> str:
    """The shortest text the node allows."""
    if node.kind == "object":
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + min_text(v) for k, v in node.children) + "}"
    if node.kind == "enum":
        return min(node.values, key=len)
    if node.kind == "array":
        return "[" + ", ".join([min_text(node.children[0])] * node.min_items) + "]"
    return {"string": '""', "integer": "0", "number": "0", "boolean": "true", "null": "null"}[node.kind]


def _object_items(node: Node) -> list:
    items: list = ["{"]
    for i, (k, v) in enumerate(node.children):
        items += [(", " if i else "") + json.dumps(k, ensure_ascii=False) + ": ", v]
    return items + ["}"]


def _seq(items: Sequence, text: str, pos: int) -> Iterator:
    if not items:
        yield pos
        return
    first, rest = items[0], items[1:]
    results = [_lit(first, text, pos)] if isinstance(first, str) else _ends(first, text, pos)
    for r in results:
        if isinstance(r, str):
            yield r + "".join(i if isinstance(i, str) else min_text(i) for i in rest)
        elif r is not None:
            yield from _seq(rest, text, r)


def _digits(text: str, i: int, most: int) -> int:
    n = 0
    while i < len(text) and n < most and text[i] in "0123456789":
        i, n = i + 1, n + 1
    return i


def _ends(node: Node, text: str, pos: int) -> Iterator:
    """Every way ``node`` can read ``text`` from ``pos``: the position where it ends (ints), or, where the text
    ends inside it, what must still be written to finish it (strs)."""
    end = len(text)
    if pos == end:
        yield min_text(node)
        return
    if node.kind == "object":
        yield from _seq(_object_items(node), text, pos)
    elif node.kind in ("enum", "boolean", "null"):
        values = node.values if node.kind == "enum" else ("true", "false") if node.kind == "boolean" else ("null",)
        for v in values:
            r = _lit(v, text, pos)
            if r is not None:
                yield r
    elif node.kind == "string":
        if text[pos] != '"':
            return
        i = pos + 1
        while i < end and text[i] != '"' and i - pos - 1 < node.max_length:
            if text[i] == "\\" or text[i] < " ":
                return
            i += 1
        if i == end:
            yield '"'
        elif text[i] == '"':
            yield i + 1
    elif node.kind in ("integer", "number"):
        i = pos + (text[pos] == "-")
        if i == end:
            yield "0"
            return
        if text[i] == "0":
            i += 1
        elif text[i] in "123456789":
            i = _digits(text, i + 1, 14)
        else:
            return
        if node.kind == "number" and i < end and text[i] == ".":
            j = _digits(text, i + 1, 8)
            if j == i + 1:
                if j == end:
                    yield "0"
                return
            i = j
        yield i
    elif node.kind == "array":
        r = _lit("[", text, pos)
        if isinstance(r, int):
            yield from _array_items(node, text, r, 0)


def _array_items(node: Node, text: str, pos: int, count: int) -> Iterator:
    item = node.children[0]
    def after(c: int) -> str:        # what a finished array still needs after c items
        return "".join(", " + min_text(item) for _ in range(max(0, node.min_items - c))) + "]"
    if count >= node.min_items:
        r = _lit("]", text, pos)
        if r is not None:
            yield r
    if count < node.max_items:
        r = _lit(", ", text, pos) if count else pos
        if isinstance(r, str):
            yield r + min_text(item) + after(count + 1)
        elif r is not None:
            for s in _ends(item, text, r):
                if isinstance(s, str):
                    yield s + after(count + 1)
                else:
                    yield from _array_items(node, text, s, count + 1)


def shortest_completion(node: Node, text: str) -> str | None:
    """The shortest text that makes ``text`` (a prefix the node allows) a whole answer; None if it is none."""
    best = None
    for r in _ends(node, text, 0):
        if r == len(text):
            return ""
        if isinstance(r, str) and (best is None or len(r) < len(best)):
            best = r
    return best


def _literals(node: Node) -> set[str]:
    """The fixed texts an answer may have to write: punctuation, names, enum values, the digits of numbers."""
    if node.kind == "object":
        out = {"{", "}", ", "} | {json.dumps(k, ensure_ascii=False) + ": " for k, _ in node.children}
        return out.union(*(_literals(v) for _, v in node.children))
    if node.kind == "array":
        return {"[", "]", ", "} | _literals(node.children[0])
    if node.kind == "enum":
        return set(node.values)
    return {"string": {'"'}, "integer": {"0"}, "number": {"0"}, "boolean": {"true", "false"},
            "null": {"null"}}[node.kind]


def growth(node: Node) -> int:
    """At most how many characters one token can add to the shortest completion (a new array item, a longer enum
    value, a digit after a minus or a point): how early closing must start to stay within the budget."""
    if node.kind == "object":
        return max(growth(v) for _, v in node.children)
    if node.kind == "array":
        return len(min_text(node.children[0])) + 2 + growth(node.children[0])
    if node.kind == "enum":
        return max(len(v) for v in node.values)
    return {"string": 1, "integer": 2, "number": 2, "boolean": 5, "null": 4}[node.kind]


# ---- masking logits ------------------------------------------------------------------------------------------------
class VocabularyTrie:
    """The vocabulary's token texts as a character trie (built once per tokenizer)."""

    def __init__(self, token_texts: Sequence[str]):
        self.root: dict = {}
        for tid, text in enumerate(token_texts):
            if not text or "\ufffd" in text:
                continue            # special, empty or partial-byte tokens never extend JSON text
            node = self.root
            for ch in text:
                node = node.setdefault(ch, {})
            node.setdefault(None, []).append(tid)

    def tokens_for(self, text: str) -> list[int] | None:
        """``text`` as tokens, the longest token at each step (None where a character has no token)."""
        out, pos = [], 0
        while pos < len(text):
            node, j, best = self.root, pos, None
            while j < len(text) and text[j] in node:
                node, j = node[text[j]], j + 1
                if node.get(None):
                    best = (j, node[None][0])
            if best is None:
                return None
            pos = best[0]
            out.append(best[1])
        return out


class TokenConstraint(ABC):
    """Used by a backend's decoding loop: ``begin(budget)``, then per token ``finished``, ``mask`` and ``advance``.

    The subclasses say which tokens the language allows; this class keeps the answer's text and the budget: when
    the tokens left only just cover the shortest way to finish (plus what one token can add to it), it writes that
    way itself, token by token, so a cut answer is whole JSON (``closed_on_budget`` says it happened)."""

    def __init__(self, node: Node, trie: VocabularyTrie, token_texts: Sequence[str], stop_ids: Sequence[int]):
        self.node, self.trie, self.token_texts = node, trie, token_texts
        self.stop_ids = list(stop_ids)
        self.text = ""
        self.budget: int | None = None
        self.plan: list[int] | None = None         # the closing tokens still to write, once closing started
        self.closed_on_budget = False
        self._growth = growth(node) + 4         # + the bytes of one character written a byte at a time
        self._watch = len(min_text(node)) + 2 * self._growth + 8   # below this many tokens left, look each step

    def begin(self, budget: int) -> None:
        """The answer may have at most ``budget`` tokens; BadInput when even the shortest valid one needs more,
        or when the vocabulary has no whole-character tokens for a fixed part (an enum value in a script the
        tokenizer only spells byte by byte): the decoder could start it and never finish it."""
        for text in _literals(self.node):
            if self.trie.tokens_for(text) is None:
                raise BadInput(f"this model cannot write {text[:40]!r} from the JSON schema (its vocabulary has no "
                               "whole-character tokens for it): use plainer characters in enum values and names")
        need = self.trie.tokens_for(shortest_completion(self.node, self.text) or "")
        if need is not None and len(need) > budget:
            raise BadInput(f"max_tokens {budget} is too small for this JSON schema: its shortest valid answer "
                           f"takes {len(need)} tokens")
        self.budget = budget

    def _close(self, rest: str | None = None) -> bool:
        rest = shortest_completion(self.node, self.text) if rest is None else rest
        plan = self.trie.tokens_for(rest) if rest is not None else None
        if plan is None:
            return False            # no tokens spell it: leave the language to the subclass
        self.plan, self.closed_on_budget = plan, True
        return True

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """Logits with every token the constraint forbids at -inf (end-of-answer allowed only when complete)."""
        if self.plan is None and self.budget is not None and self.budget <= self._watch and not self._pending():
            rest = shortest_completion(self.node, self.text)
            if rest is not None and len(rest) + self._growth >= self.budget:
                self._close(rest)
        if self.plan is not None:
            out = np.full_like(logits, -np.inf)
            out[self.plan[0] if self.plan else self.stop_ids] = 0.0
            return out
        return self._mask(logits)

    def advance(self, token_id: int) -> None:
        if self.budget is not None:
            self.budget -= 1
        if self.plan:
            self.plan.pop(0)
        if token_id not in self.stop_ids:
            self.text += self._piece(token_id)
        self._advance(token_id)

    def _piece(self, token_id: int) -> str:
        return self.token_texts[token_id]

    def _pending(self) -> bool:
        """Part of a character is written (a byte token): closing waits for the rest."""
        return False

    @property
    def finished(self) -> bool:
        """Complete, and nothing more may follow: stop without asking the model."""
        return (self.plan is not None and not self.plan) or self._finished()

    @abstractmethod
    def _mask(self, logits: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _advance(self, token_id: int) -> None: ...

    @abstractmethod
    def _finished(self) -> bool: ...


class RegexConstraint(TokenConstraint):
    def __init__(self, node: Node, trie: VocabularyTrie, token_texts: Sequence[str], eos_ids: Sequence[int]):
        import regex
        super().__init__(node, trie, token_texts, eos_ids)
        self.pattern = regex.compile(to_regex(node))
        self.eos_ids = self.stop_ids

    def _viable(self, text: str) -> bool:
        return self.pattern.fullmatch(text, partial=True) is not None

    def complete(self) -> bool:
        return self.pattern.fullmatch(self.text) is not None

    def _finished(self) -> bool:
        return self.complete() and self.text.endswith(("}", "]", '"')) and not any(
            self._viable(self.text + c) for c in ",]}\"0123456789.")

    def allowed(self) -> list[int]:
        out, stack = [], [(self.trie.root, "")]
        while stack:
            node, prefix = stack.pop()
            for ch, child in node.items():
                if ch is None:
                    continue
                candidate = prefix + ch
                if self._viable(self.text + candidate):
                    out.extend(child.get(None, ()))
                    stack.append((child, candidate))
        return out

    def _mask(self, logits: np.ndarray) -> np.ndarray:
        ids = self.allowed()
        if not ids and not self.complete() and self._close():      # no token goes on: finish the shortest way
            return self.mask(logits)
        masked = np.full_like(logits, -np.inf)
        if ids:
            masked[ids] = logits[ids]
        if self.complete() or not ids:
            masked[self.eos_ids] = logits[self.eos_ids]
        return masked

    def _advance(self, token_id: int) -> None:
        pass


class LlamaGrammarConstraint(TokenConstraint):
    """llama.cpp's grammar sampler over the same language (GBNF from the same tree). ``token_bytes``: each
    token as the answer is decoded; ``blocked``: tokens that spell nothing there (control tokens), never offered."""

    def __init__(self, node: Node, llama_cpp, vocab, n_vocab: int, eog, trie: VocabularyTrie,
                 token_texts: Sequence[str], eog_ids: Sequence[int], blocked: np.ndarray,
                 token_bytes: Sequence[bytes]):
        import codecs

        from llama_cpp._internals import LlamaTokenDataArray
        super().__init__(node, trie, token_texts, eog_ids)
        self.L, self.n_vocab, self.eog, self.blocked = llama_cpp, n_vocab, eog, blocked
        self.token_bytes = token_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.grammar = to_gbnf(node)
        self.sampler = llama_cpp.llama_sampler_init_grammar(vocab, self.grammar.encode(), b"root")
        if not self.sampler:
            raise BadInput("llama.cpp refused the grammar built from the schema")
        self.candidates = LlamaTokenDataArray(n_vocab=n_vocab)
        self._done = False

    def _mask(self, logits: np.ndarray) -> np.ndarray:
        import ctypes
        c = self.candidates
        c.copy_logits(np.ascontiguousarray(logits[:self.n_vocab], dtype=np.single))
        self.L.llama_sampler_apply(self.sampler, ctypes.byref(c.candidates))
        out = np.full_like(logits, -np.inf)
        data = c.candidates_data[:c.candidates.size]
        ok = np.isfinite(data.logit)
        out[data.id[ok]] = data.logit[ok]
        out[self.blocked] = -np.inf
        return out

    def _advance(self, token_id: int) -> None:
        if self.eog(token_id):
            self._done = True
            return
        self.L.llama_sampler_accept(self.sampler, token_id)

    def _finished(self) -> bool:
        return self._done

    def _piece(self, token_id: int) -> str:
        return self._utf8.decode(self.token_bytes[token_id])

    def _pending(self) -> bool:
        return bool(self._utf8.getstate()[0])

    def close(self) -> None:
        if self.sampler:
            self.L.llama_sampler_free(self.sampler)
            self.sampler = None

    def __del__(self):
        self.close()


# ---- choices: an answer that only picks among the schema's values ---------------------------------------------------
# A schema whose every free part is a choice among fixed texts (objects of string enums, booleans, consts, arrays
# of string enums: what an attribute schema is) needs the model only where the answer branches. ChoiceConstraint
# lays the answer out in the vocabulary's tokens (each value with the fixed text after it, up to the next choice),
# lets the model pick only among the first tokens of what may come next, and hands every token that is the only
# one possible to the decoding loop as ``forced`` (fed to the model in one batch, never picked): the model runs
# once per branch, the answer's length is the layout's, whatever the weights say (a random model that would never
# write the end token ends it too), and ``most_tokens``/``most_picks`` bound it before it starts.
@dataclass(frozen=True)
class _Pick:
    """A branch of the layout: an enum's value, or (``rest``) an array's next item or its end."""
    values: tuple                   # JSON texts
    rest: tuple | None = None       # arrays: (min_items, max_items, items so far)


def choosable(node: Node) -> bool:
    """Whether an answer to ``node`` is choices among fixed texts only (ChoiceConstraint can lay it out): an object
    of string enums, consts, booleans, nulls, arrays of string enums and such objects."""
    def part(n: Node, top: bool = False) -> bool:
        if n.kind == "object":
            return all(part(v) for _, v in n.children)
        if n.kind == "enum":
            return len(n.values) == 1 or all(v.startswith('"') for v in n.values)
        if n.kind == "array":
            item = n.children[0]
            return n.max_items == 0 or (item.kind == "enum" and all(v.startswith('"') for v in item.values))
        return n.kind in ("boolean", "null") and not top
    return node.kind == "object" and part(node, True)


def _layout(node: Node) -> list:
    """The answer as fixed texts and _Picks, in order (compact JSON, as to_regex spells it)."""
    if node.kind == "object":
        out: list = ["{"]
        for i, (k, v) in enumerate(node.children):
            out.append((", " if i else "") + json.dumps(k, ensure_ascii=False) + ": ")
            out += _layout(v)
        return out + ["}"]
    if node.kind == "enum":
        return [node.values[0]] if len(node.values) == 1 else [_Pick(node.values)]
    if node.kind == "boolean":
        return [_Pick(("true", "false"))]
    if node.kind == "null":
        return ["null"]
    if node.max_items == 0:
        return ["[]"]
    return ["[", _Pick(node.children[0].values, (node.min_items, node.max_items, 0))]


def _options(pick: _Pick) -> list[tuple[str, tuple]]:
    """What a _Pick may write: (text, the layout items it adds before what follows)."""
    if pick.rest is None:
        return [(v, ()) for v in pick.values]
    lo, hi, n = pick.rest
    out = [("]", ())] if n >= lo else []
    if n < hi:
        nxt = _Pick(pick.values, (lo, hi, n + 1))
        out += [((", " if n else "") + v, (nxt,)) for v in pick.values]
    return out


def _lead(queue: tuple) -> tuple[str, tuple]:
    """The fixed text at the front of ``queue`` and what follows it (a _Pick first, or nothing)."""
    i = 0
    while i < len(queue) and isinstance(queue[i], str):
        i += 1
    return "".join(queue[:i]), queue[i:]


class ChoiceConstraint(TokenConstraint):
    """Only the schema's choices asked of the model (see above). Built over a backend's own constraint for the
    same schema (its vocabulary: ``over``); ``choosable(node)`` must hold."""

    def __init__(self, node: Node, trie: VocabularyTrie, token_texts: Sequence[str], stop_ids: Sequence[int]):
        if not choosable(node):
            raise BadInput("this JSON schema has free text or numbers: it cannot be answered by choices alone")
        super().__init__(node, trie, token_texts, stop_ids)
        self._tokens: dict[str, list[int]] = {}
        self._cands: list[tuple[list[int], tuple | None]] = []   # (tokens to the next branch, what follows them)
        self._pos = 0                                             # tokens of the candidates written
        self._done = False
        self._bounds: tuple[int, int] | None = None
        self._open(tuple(_layout(node)))

    @classmethod
    def over(cls, constraint: TokenConstraint) -> ChoiceConstraint:
        """The choices of ``constraint``'s schema in its vocabulary (a backend's ``constraint_for``); the
        backend's own is released."""
        out = cls(constraint.node, constraint.trie, constraint.token_texts, constraint.stop_ids)
        close = getattr(constraint, "close", None)
        if close:
            close()
        return out

    def begin(self, budget: int) -> None:
        super().begin(budget)
        if budget >= self.bounds()[0]:
            self._watch = -1            # the longest answer fits: it is never closed early

    def _spell(self, text: str) -> list[int]:
        ids = self._tokens.get(text)
        if ids is None:
            ids = self.trie.tokens_for(text)
            if not ids:
                raise BadInput(f"this model cannot write {text[:40]!r} from the JSON schema (its vocabulary has no "
                               "whole-character tokens for it): use plainer characters in enum values and names")
            self._tokens[text] = ids
        return ids

    def _branches(self, queue: tuple) -> list[tuple[list[int], tuple | None]]:
        """The candidates from ``queue``: each option's tokens with the fixed text after it, and what follows."""
        lit, q = _lead(queue)
        if not q:
            return [(self._spell(lit), None)] if lit else []
        out = []
        for text, more in _options(q[0]):
            after_lit, after = _lead(more + q[1:])
            out.append((self._spell(lit + text + after_lit), after))
        if any(len(a) <= len(b) and b[:len(a)] == a for i, (a, _) in enumerate(out)
               for j, (b, _) in enumerate(out) if i != j):
            raise BadInput("this JSON schema's values cannot be told apart token by token (one is spelled as the "
                           "start of another): the answer cannot be laid out as choices")
        return out

    def _open(self, queue: tuple | None) -> None:
        self._cands, self._pos = (self._branches(queue) if queue is not None else []), 0
        if not self._cands:
            self._done = True

    def allowed(self) -> list[int]:
        return sorted({c[self._pos] for c, _ in self._cands}) if not self._done else []

    def _mask(self, logits: np.ndarray) -> np.ndarray:
        out = np.full_like(logits, -np.inf)
        ids = self.allowed()
        if ids:
            out[ids] = logits[ids]
        else:
            out[self.stop_ids] = 0.0
        return out

    def _advance(self, token_id: int) -> None:
        if self.plan is not None or self._done:      # closing on the budget (the base's plan writes the rest)
            return
        self._cands = [c for c in self._cands if c[0][self._pos] == token_id]
        self._pos += 1
        if not self._cands:
            raise BadInput(f"token {token_id} is not one the JSON schema allows here")
        if len(self._cands) == 1 and self._pos == len(self._cands[0][0]):
            self._open(self._cands[0][1])

    def _finished(self) -> bool:
        return self._done

    def forced(self) -> list[int]:
        """The tokens that must come next, the only ones possible, until the next branch or the end: the loop
        feeds them without asking the model (and calls ``advance`` for each)."""
        if self.plan is not None or self._watch >= 0:
            return []                   # a budget short of the longest answer: each step checks for closing
        cands, pos, out = self._cands, self._pos, []
        while cands and len({c[pos] for c, _ in cands}) == 1:
            out.append(cands[0][0][pos])
            pos += 1
            if len(cands) == 1 and pos == len(cands[0][0]):
                nxt = self._branches(cands[0][1]) if cands[0][1] is not None else []
                cands, pos = nxt, 0
        return out

    def _most(self, queue: tuple | None, memo: dict) -> tuple[int, int]:
        """(most tokens, most model picks) from ``queue`` to the end."""
        if queue is None:
            return 0, 0
        if queue in memo:
            return memo[queue]
        cands = self._branches(queue)
        tokens = picks = 0
        groups: dict = {}
        for ids, after in cands:
            groups.setdefault(after, []).append(ids)
        for after, ids in groups.items():
            t, p = self._most(after, memo)
            tokens = max(tokens, max(len(i) for i in ids) + t)
            picks = max(picks, _depth([i for c in groups.values() for i in c]) + p)
        memo[queue] = (tokens, picks)
        return tokens, picks

    def bounds(self) -> tuple[int, int]:
        """(the most tokens an answer can have, the most times the model is asked to pick), from the schema and
        the vocabulary alone: what the answer's budget and time are bounded by."""
        if self._bounds is None:
            self._bounds = self._most(tuple(_layout(self.node)), {})
        return self._bounds


def _depth(seqs: list[list[int]]) -> int:
    """How many picks at most it takes to tell ``seqs`` apart token by token (a token that only one of them, or
    all of them, can have next is not a pick)."""
    def walk(group: list[list[int]], pos: int) -> int:
        if len(group) <= 1:
            return 0
        by: dict[int, list] = {}
        for s in group:
            by.setdefault(s[pos], []).append(s)
        return (1 if len(by) > 1 else 0) + max(walk(g, pos + 1) for g in by.values())
    return walk(seqs, 0)
