"""The look's ask is bounded by construction: the model only picks among the schema's values (ChoiceConstraint),
the fixed text between is fed without asking it, and the answer's tokens and the model's runs never exceed what
the schema and the vocabulary allow, even for a model that never writes the end token (random weights)."""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from engine.errors import BadInput
from engine.runtime.constrained import (
    ChoiceConstraint,
    VocabularyTrie,
    choosable,
    compile_schema,
)
from engine.runtime.decoding import GenerationOptions, Prefilled, generate
from engine.settings import Settings

END = 0
# a vocabulary with every character alone and some longer pieces (a random model may spell a value either way)
PIECES = ['{"', '"}', '": "', '", "', '"}, "', '": {"', "category", "pattern", "sleeve", "_length", "neck", "line",
          "fit", "upper", "lower", "feet", "hand", "shirt", "sh", "irt", "oes", "not", " applicable", "nothing",
          "plain", "striped", "long", "short", "round", "bag", "trousers", "skirt", "s", "t-"]
TEXTS = [""] + [chr(c) for c in range(32, 127)] + PIECES


class RandomModel:
    """Random logits at every step, the end token never likelier than any other: a model that would write on.
    Counts how often it runs (a step or a fed batch after the prefill)."""
    end_tokens = (END,)

    def __init__(self, seed: int, batches: bool = True):
        self.rng = np.random.default_rng(seed)
        self.runs, self.fed, self.batches = 0, 0, batches

    def _logits(self) -> np.ndarray:
        x = self.rng.normal(size=len(TEXTS)).astype(np.float32)
        x[END] = -1e9
        return x

    def prefill(self, image, question, history, answer_room) -> Prefilled:
        def step(tok):
            self.runs += 1
            self.fed += 1
            return self._logits()

        def feed(tokens):
            self.runs += 1
            self.fed += len(tokens)
            return self._logits()
        return Prefilled(logits=self._logits(), step=step, feed=feed if self.batches else None)

    def is_end(self, token):
        return token == END

    def detokenize(self, ids):
        return "".join(TEXTS[i] for i in ids)


def look_schema() -> dict:
    from engine.look.look import question_for
    from engine.look.regions import KINDS
    from engine.runtime.describe import AttributeSchema
    places = [(name, KINDS[name]) for name in ("upper", "lower", "feet", "hand")]
    return question_for(AttributeSchema.load(Settings.from_env()), places)[1]


def choices(schema: dict) -> ChoiceConstraint:
    return ChoiceConstraint(compile_schema(schema), VocabularyTrie(TEXTS), TEXTS, [END])


@pytest.mark.parametrize("seed", range(6))
def test_a_random_model_that_never_ends_gets_a_valid_answer_within_the_schemas_bounds(seed):
    schema = look_schema()
    constraint = choices(schema)
    most_tokens, most_runs = constraint.bounds()
    model = RandomModel(seed)
    stats = generate(model, None, "q", GenerationOptions(max_tokens=4096, constraint=constraint, ban_eos=True))
    jsonschema.validate(json.loads(stats.text), schema)
    assert stats.n_tokens <= most_tokens and not stats.truncated
    assert model.runs <= most_runs            # the model ran once per branch, never once per token
    assert model.runs < stats.n_tokens / 3
    assert most_tokens < 4096 // 8            # the bound, not max_tokens, ends it


def test_the_bounds_hold_for_every_answer_and_the_longest_reaches_them():
    schema = look_schema()
    lengths = []
    for seed in range(40):
        model = RandomModel(100 + seed)
        constraint = choices(schema)
        stats = generate(model, None, "q", GenerationOptions(max_tokens=4096, constraint=constraint, ban_eos=True))
        lengths.append(stats.n_tokens)
        assert stats.n_tokens <= constraint.bounds()[0] and model.runs <= constraint.bounds()[1]
    assert len(set(lengths)) > 1          # the values chosen differ, the bound holds for all of them


def test_without_batches_the_forced_tokens_are_stepped_one_by_one_and_the_answer_is_the_same():
    schema = look_schema()
    a = generate(RandomModel(7), None, "q", GenerationOptions(max_tokens=4096, constraint=choices(schema)))
    plain = RandomModel(7, batches=False)
    b = generate(plain, None, "q", GenerationOptions(max_tokens=4096, constraint=choices(schema)))
    assert json.loads(b.text) and b.n_tokens <= choices(schema).bounds()[0]
    assert plain.runs == plain.fed            # one token per run
    assert a.text.startswith('{"upper": {"category": "')


def test_a_short_budget_still_closes_a_valid_answer():
    schema = look_schema()
    constraint = choices(schema)
    stats = generate(RandomModel(3), None, "q", GenerationOptions(max_tokens=constraint.bounds()[0] // 2,
                                                                   constraint=constraint, ban_eos=True))
    jsonschema.validate(json.loads(stats.text), schema)
    assert stats.truncated


def test_only_schemas_of_choices_are_laid_out_as_choices():
    free = {"type": "object", "properties": {"note": {"type": "string", "maxLength": 20}}}
    number = {"type": "object", "properties": {"n": {"type": "integer"}}}
    ok = {"type": "object", "properties": {"c": {"enum": ["a", "b"]}, "l": {"type": "array", "items": {
        "enum": ["x", "y"]}, "maxItems": 2}, "b": {"type": "boolean"}, "k": {"const": "fixed"}}}
    assert choosable(compile_schema(ok))
    assert not choosable(compile_schema(free)) and not choosable(compile_schema(number))
    with pytest.raises(BadInput, match="free text or numbers"):
        choices(free)
    for seed in range(5):
        stats = generate(RandomModel(seed), None, "q", GenerationOptions(max_tokens=200, constraint=choices(ok),
                                                                        ban_eos=True))
        jsonschema.validate(json.loads(stats.text), ok)
        assert json.loads(stats.text)["k"] == "fixed"


def test_the_looks_schema_has_no_free_text_even_when_the_stores_has():
    from engine.look.look import question_for
    from engine.runtime.describe import AttributeSchema
    base = AttributeSchema.load(Settings.from_env())
    own = json.loads(json.dumps(base.schema))
    own["properties"]["note"] = {"type": "string", "maxLength": 200}
    own["properties"]["pattern"] = {"type": "string", "maxLength": 40}       # a store's free-text pattern
    schema = question_for(AttributeSchema(own, base.path), [("upper", ("shirt",)), ("feet", ("shoes",))])[1]
    assert choosable(compile_schema(schema))
    upper = schema["properties"]["upper"]["properties"]
    assert "note" not in upper and "pattern" not in upper and "colours" not in upper
    assert upper["category"]["enum"] == ["shirt", "nothing"]
