"""What a fine-tuning run is asked to do (`vitrine finetune`'s options, kept in its run.json) and what its
progress bar shows."""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import VitrineError


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-4
    lr_vision: float | None = None      # learning rate of the vision tower and projector when trained (default: lr)
    train: str = "lora"                 # "lora": adapters on the language model; "full": every parameter
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    vision: bool = False                # train the vision tower too
    projector: bool = False             # train the projector / connector too
    attributes: tuple[str, ...] = ()    # only questions about these (empty: all)
    langs: tuple[str, ...] = ()         # question languages learned as they are (empty: the family's own)
    translated: bool = True             # English-only model: learn Portuguese questions as the app translates them
    mix: str = ""                       # a general question set (.jsonl / folder) mixed in against forgetting
    mix_ratio: float = 0.0              # share of each batch drawn from ``mix``
    conversation: int = 3               # questions about one image learned as one conversation of up to N turns
    patience: int = 2                   # stop after this many epochs without a better validation loss
    val_limit: int = 512                # validation questions per evaluation (the first N)
    max_minutes: float | None = None    # stop (checkpointed, resumable) after this long
    max_steps: int | None = None        # the schedule ends after this many steps (default: the epochs')
    evals_per_epoch: int = 1            # validation + checkpoint this many times per epoch
    seed: int = 0
    threads: int | None = None
    device: str = "auto"                # "auto": a GPU when one is present, else the CPU

    @classmethod
    def from_dict(cls, d: dict, **override) -> "FinetuneOptions":
        """Options as run.json keeps them (lists back to tuples), with ``override`` applied."""
        try:
            return cls(**{**d, "attributes": tuple(d.get("attributes", ())), "langs": tuple(d.get("langs", ())),
                          **override})
        except TypeError as e:          # run.json edited or from another version: a field this one lacks
            raise VitrineError(f"the run's options do not fit this Vitrine ({e}): start a new run") from None

    def check(self) -> "FinetuneOptions":
        if self.train not in ("lora", "full"):
            raise VitrineError(f"--train {self.train!r}: choose lora or full")
        if self.epochs < 1 or self.batch_size < 1 or self.evals_per_epoch < 1:
            raise VitrineError("--epochs, --batch-size and --evals-per-epoch must be at least 1")
        if not 0 < self.lr < 1:
            raise VitrineError(f"--lr {self.lr}: give a learning rate such as 2e-4")
        if not 0 <= self.mix_ratio < 1:
            raise VitrineError(f"--mix-ratio {self.mix_ratio}: give a share between 0 and 1 (0.2: a fifth)")
        if self.mix_ratio and not self.mix:
            raise VitrineError("--mix-ratio needs --mix (a general question set to mix in)")
        if self.conversation < 1:
            raise VitrineError("--conversation must be at least 1 (1: every question on its own)")
        if self.lora_r < 1:
            raise VitrineError("--lora-r must be at least 1")
        return self


@dataclass
class Progress:
    """What a progress bar shows, after every step."""
    step: int
    total: int
    loss: float
    val_loss: float | None
    epoch: int
