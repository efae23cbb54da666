"""Fine-tuning on several GPUs with an existing engine: ``accelerate launch -m export.training.trainer SET BASE OUT``.

`vitrine finetune` runs on one device (its own loop: resumable checkpoints, early stop, the proof). For runs bigger
than one GPU, transformers' ``Trainer`` under ``accelerate launch`` (one process per GPU, DDP / FSDP / DeepSpeed as
accelerate is configured) does the distribution; this module only hands it the same model preparation (LoRA on the
language model) and the same examples and batches (runtime prompt, answer-only loss) as `vitrine finetune`.
The result is a peft adapter in OUT/adapter: merge it with peft's ``merge_and_unload`` before `vitrine export`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine import families
from engine.errors import VitrineError
from export.families import for_checkpoint
from export.training.data import Encoder, examples, read_split
from export.training.model import prepare_model
from export.training.options import FinetuneOptions


def main(argv: list[str] | None = None) -> None:
    from transformers import Trainer, TrainingArguments

    p = argparse.ArgumentParser(prog="accelerate launch -m export.training.trainer")
    p.add_argument("data", type=Path, help="a question set folder (train.jsonl)")
    p.add_argument("base", type=Path, help="the transformers checkpoint to fine-tune")
    p.add_argument("out", type=Path, help="Trainer's output folder; the adapter goes to OUT/adapter")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--batch-size", type=int, default=16, help="per GPU")
    p.add_argument("--max-steps", type=int, default=-1)
    args = p.parse_args(argv)

    family = for_checkpoint(args.base)
    opts = FinetuneOptions()
    model = prepare_model(args.base, family, opts)
    reference = families.get(family.name).reference
    processor = reference.load_processor(args.base)
    encoder = Encoder(reference, processor, reference.tile_size(model.config), family.packed_pixels)
    rows = examples(read_split(args.data, "train"), tuple(x for x in family.languages if x != "multi"))
    training = TrainingArguments(str(args.out), per_device_train_batch_size=args.batch_size, learning_rate=opts.lr,
                                 num_train_epochs=args.epochs, max_steps=args.max_steps,
                                 remove_unused_columns=False, report_to=[], save_strategy="epoch")
    Trainer(model=model, args=training, train_dataset=rows,
            data_collator=lambda batch: encoder.collate([encoder.encode(e) for e in batch])).train()
    model.save_pretrained(args.out / "adapter")


if __name__ == "__main__":
    try:
        main()
    except VitrineError as e:       # a set of the wrong shape, an unreadable file: one line, as `vitrine` says it
        sys.exit(f"vitrine: {e}")
