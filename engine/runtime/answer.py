"""What a question gets back: the answer text and how long each step took."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from engine.media.colors import NamedColor


@dataclass
class Timings:
    image_encode_s: float = 0.0    # 0 when the frame's encoded image was reused
    prefill_s: float = 0.0         # image + question tokens into the model's cache
    ttft_s: float = 0.0            # from the question to the first token of the answer
    decode_tok_s: float = 0.0      # answer tokens per second after the first
    n_tokens: int = 0
    total_s: float = 0.0
    prompt_tokens: int = 0         # image + conversation + question as the runtime counted them (see Session.ask)


@dataclass
class Answer:
    question: str
    text: str
    model: str
    frame: str                     # which frame was asked about (source @ time [box])
    frame_key: str
    timings: Timings = field(default_factory=Timings)
    reused_image: bool = False     # True when a follow-up skipped image encoding
    stopped: bool = False          # the user pressed Stop
    question_lang: str = "en"      # the language the user asked in
    answer_lang: str = "en"        # the language of ``text``
    question_model: str = ""       # what the model was asked (the question, translated when needed)
    text_model: str = ""           # the model's own answer before translation ("" when not translated)
    colors: list[NamedColor] = field(default_factory=list)   # measured from the pixels, for colour questions
    turn: int = 0                  # earlier exchanges about the frame the model saw (0: the conversation's first)
    truncated: bool = False        # max_tokens ended it (an API's finish_reason "length")

    def to_dict(self) -> dict:
        return asdict(self)
