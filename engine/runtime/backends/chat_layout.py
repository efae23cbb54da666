"""Where a model's chat template puts the image, the questions and the answers of a conversation about one frame.

The runtimes evaluate the prompt in pieces: [head + image] once per frame, then per question only its own turn.
The pieces come from rendering the model's own template with sentinels in place of the texts, once with one
question and once with a question, an answer and a second question: what lies between the answer and the second
question is what a follow-up appends after an answer already in the cache.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from engine.errors import VitrineError

log = logging.getLogger(__name__)

QUESTION = "\u2063VITRINE-QUESTION\u2063"
ANSWER = "\u2063VITRINE-ANSWER\u2063"
FOLLOW_UP = "\u2063VITRINE-FOLLOW-UP\u2063"


@dataclass(frozen=True)
class Exchange:
    """An earlier question about the same frame and the model's answer, both as the model saw them."""
    question: str
    answer: str
    answer_ids: tuple[int, ...] = ()     # the answer's tokens as generated (reused as they are when present)


@dataclass(frozen=True)
class ChatLayout:
    head: str                 # the prompt before the image placeholder
    question_head: str        # between the image and the first question
    question_tail: str        # after the first question: the assistant's turn opens
    answer_lead: str = ""     # what the template writes before an earlier answer beyond ``question_tail``
    next_head: str | None = None   # after an answer, before the next question (None: single-turn template)
    next_tail: str = ""       # after a later question

    @property
    def multi_turn(self) -> bool:
        return self.next_head is not None

    def first_turn(self, question: str) -> str:
        return self.question_head + question + self.question_tail

    def next_turn(self, question: str) -> str:
        return (self.next_head or "") + question + self.next_tail

    def conversation_ids(self, history: tuple[Exchange, ...], question: str,
                         tokens: Callable[[str], list[int]]) -> list[int]:
        """The tokens after the image prefix: the earlier exchanges (their own answer tokens when known), then the
        new question's turn; ``tokens`` is the runtime's tokenizer for text that follows other tokens."""
        ids: list[int] = []
        for i, ex in enumerate(history):
            ids += tokens(self.next_turn(ex.question) if i else self.first_turn(ex.question))
            ids += list(ex.answer_ids) or tokens(self.answer_lead + ex.answer)
        return ids + tokens(self.next_turn(question) if history else self.first_turn(question))

    def fitted(self, history: tuple[Exchange, ...], question: str, tokens: Callable[[str], list[int]],
               before: int, n_ctx: int, answer_room: int) -> tuple[list[int], int]:
        """The conversation's tokens after ``before`` positions (the image prefix) with ``answer_room`` left in
        ``n_ctx``: the oldest exchanges are dropped until it fits (a single-turn template keeps none). Returns
        (tokens, earlier exchanges kept)."""
        history = tuple(history) if self.multi_turn else ()
        ids = self.conversation_ids(history, question, tokens)
        while history and before + len(ids) + answer_room > n_ctx:
            history = history[1:]
            ids = self.conversation_ids(history, question, tokens)
        return ids, len(history)


def kept_prefix(held: list[int], ids: list[int]) -> int:
    """How many of the tokens a cache holds a new prompt ``ids`` shares; its last token is always evaluated again,
    for its logits."""
    same = 0
    for a, b in zip(held, ids[:-1]):
        if a != b:
            break
        same += 1
    return same


def _environment():
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])


def layout_from_template(template: str, image_part: dict, placeholder: str, who: str) -> ChatLayout:
    """Render ``template`` with ``image_part`` (which the template writes as ``placeholder``) and split it.

    A template that cannot render a second turn, or renders it in a shape we cannot split, leaves the layout
    single-turn: follow-ups then start from the image again, as before."""
    compiled = _environment().from_string(template)

    def render(messages: list[dict]) -> str:
        return compiled.render(messages=messages, add_generation_prompt=True, bos_token="", eos_token="")

    first_user = {"role": "user", "content": [image_part, {"type": "text", "text": QUESTION}]}
    one = render([first_user])
    if one.count(placeholder) != 1 or one.count(QUESTION) != 1 or one.index(placeholder) > one.index(QUESTION):
        raise VitrineError(f"{who}: its chat template does not put one image before the question, which Vitrine "
                           "needs")
    head, _, rest = one.partition(placeholder)
    q_head, _, q_tail = rest.partition(QUESTION)
    layout = ChatLayout(head=head, question_head=q_head, question_tail=q_tail)
    for answer_content in ([{"type": "text", "text": ANSWER}], ANSWER):
        try:
            two = render([first_user, {"role": "assistant", "content": answer_content},
                          {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]}])
        except Exception as e:       # templates raise their own errors (raise_exception, type errors)
            log.debug("%s: no second turn with %r content: %s", who, type(answer_content).__name__, e)
            continue
        if not all(two.count(s) == 1 for s in (QUESTION, ANSWER, FOLLOW_UP)):
            continue
        before_answer, _, after = two.partition(QUESTION)[2].partition(ANSWER)
        next_head, _, next_tail = after.partition(FOLLOW_UP)
        if not next_head or not next_tail:
            continue
        lead = before_answer[len(q_tail):] if before_answer.startswith(q_tail) else ""
        return ChatLayout(head=head, question_head=q_head, question_tail=q_tail, answer_lead=lead,
                          next_head=next_head, next_tail=next_tail)
    log.info("%s: its chat template has no second turn we can follow; follow-ups start from the image", who)
    return layout
