"""Constrained decoding: the model can only write JSON that a schema allows.

A JSON schema (the subset product attributes need: objects with properties, string enums and consts, arrays
of them with min/max items, bounded free strings, integers, numbers, booleans) is compiled once into a small tree,
written out two ways: a llama.cpp GBNF grammar (the GGUF backend hands it to llama.cpp's own grammar sampler) and
a regular expression (the ONNX and transformers backends mask the logits to the tokens whose text keeps the
output a prefix of a match, walking a trie of the vocabulary). Both spell the same compact layout
(`{"a": "x", "b": ["y"]}`), properties in the schema's order, all of them present: the output is valid by
construction, not retried.
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import VitrineError

MAX_FREE_STRING = 60


# ---- the schema as a tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    kind: str                       # object | enum | array | string | integer | number | boolean | null
    children: tuple = ()            # object: ((key, Node), ...); array: (item,)
    values: tuple = ()              # enum: the allowed JSON values (already JSON-encoded)
    min_items: int = 0
    max_items: int = 0
    max_length: int = 0


def compile_schema(schema: dict, depth: int = 0) -> Node:
    if depth > 8:
        raise VitrineError("the JSON schema nests too deeply (at most 8 levels)")
    if not isinstance(schema, dict):
        raise VitrineError("a JSON schema must be an object")
    if "const" in schema:
        return Node("enum", values=(json.dumps(schema["const"], ensure_ascii=False),))
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise VitrineError("a schema enum must be a non-empty list")
        return Node("enum", values=tuple(json.dumps(v, ensure_ascii=False) for v in values))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        if not isinstance(props, dict) or not props:
            raise VitrineError("a schema object needs properties (free-form objects cannot be constrained)")
        return Node("object", children=tuple((k, compile_schema(v, depth + 1)) for k, v in props.items()))
    if kind == "array":
        item = compile_schema(schema.get("items") or {"type": "string"}, depth + 1)
        lo = _whole(schema, "minItems", 0)
        hi = _whole(schema, "maxItems", max(lo, 8))
        if hi < lo or hi > 64:
            raise VitrineError("a schema array needs minItems <= maxItems <= 64")
        return Node("array", children=(item,), min_items=lo, max_items=hi)
    if kind == "string":
        return Node("string", max_length=min(_whole(schema, "maxLength", MAX_FREE_STRING), 500))
    if kind in ("integer", "number", "boolean", "null"):
        return Node(kind)
    raise VitrineError(f"the JSON schema type {kind!r} is not supported for constrained answers")


def _whole(schema: dict, key: str, default: int) -> int:
    """A count keyword (maxLength, minItems, maxItems): a whole number from 0, not "long" or 2.5."""
    value = schema.get(key, default)
    if isinstance(value, float) and value.is_integer():       # JSON Schema counts 2.0 as an integer too
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VitrineError(f"the JSON schema's {key} must be a whole number from 0, not {value!r}")
    return value


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


# ---- masking logits ------------------------------------------------------------------------------------------------
class TokenConstraint(ABC):
    """Used by a backend's decoding loop: mask the logits, then tell it which token was chosen."""

    @abstractmethod
    def mask(self, logits: np.ndarray) -> np.ndarray:
        """Logits with every token the constraint forbids at -inf (end-of-answer allowed only when complete)."""

    @abstractmethod
    def advance(self, token_id: int) -> None: ...

    @property
    @abstractmethod
    def finished(self) -> bool:
        """Complete, and nothing more may follow: stop without asking the model."""


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


class RegexConstraint(TokenConstraint):
    def __init__(self, node: Node, trie: VocabularyTrie, token_texts: Sequence[str], eos_ids: Sequence[int]):
        import regex
        self.pattern = regex.compile(to_regex(node))
        self.trie, self.token_texts, self.eos_ids = trie, token_texts, list(eos_ids)
        self.text = ""

    def _viable(self, text: str) -> bool:
        return self.pattern.fullmatch(text, partial=True) is not None

    def complete(self) -> bool:
        return self.pattern.fullmatch(self.text) is not None

    @property
    def finished(self) -> bool:
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

    def mask(self, logits: np.ndarray) -> np.ndarray:
        masked = np.full_like(logits, -np.inf)
        ids = self.allowed()
        if ids:
            masked[ids] = logits[ids]
        if self.complete() or not ids:
            masked[self.eos_ids] = logits[self.eos_ids]
        return masked

    def advance(self, token_id: int) -> None:
        if token_id not in self.eos_ids:
            self.text += self.token_texts[token_id]


class LlamaGrammarConstraint(TokenConstraint):
    """llama.cpp's grammar sampler over the same language (GBNF from the same tree)."""

    def __init__(self, node: Node, llama_cpp, vocab, n_vocab: int, eog):
        from llama_cpp._internals import LlamaTokenDataArray
        self.L, self.n_vocab, self.eog = llama_cpp, n_vocab, eog
        self.grammar = to_gbnf(node)
        self.sampler = llama_cpp.llama_sampler_init_grammar(vocab, self.grammar.encode(), b"root")
        if not self.sampler:
            raise VitrineError("llama.cpp refused the grammar built from the schema")
        self.candidates = LlamaTokenDataArray(n_vocab=n_vocab)
        self.node = node
        self._done = False

    def mask(self, logits: np.ndarray) -> np.ndarray:
        import ctypes
        c = self.candidates
        c.copy_logits(np.ascontiguousarray(logits[:self.n_vocab], dtype=np.single))
        self.L.llama_sampler_apply(self.sampler, ctypes.byref(c.candidates))
        out = np.full_like(logits, -np.inf)
        data = c.candidates_data[:c.candidates.size]
        ok = np.isfinite(data.logit)
        out[data.id[ok]] = data.logit[ok]
        return out

    def advance(self, token_id: int) -> None:
        if self.eog(token_id):
            self._done = True
            return
        self.L.llama_sampler_accept(self.sampler, token_id)

    @property
    def finished(self) -> bool:
        return self._done

    def close(self) -> None:
        if self.sampler:
            self.L.llama_sampler_free(self.sampler)
            self.sampler = None

    def __del__(self):
        self.close()
