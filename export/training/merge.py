"""`vitrine finetune merge`: a run's best (or last) weights folded into its base, written as a plain checkpoint
(with the base's processor and tokenizer) that `vitrine export gguf|onnx` takes as it is."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from engine.errors import VitrineError
from engine.files import MARKER, OutputKind, atomic_folder, check_output
from export.families import for_checkpoint
from export.training.checkpoints import TRAINABLE
from export.training.model import load_trainable, prepare_model
from export.training.options import FinetuneOptions
from export.training.run_file import read_run

log = logging.getLogger(__name__)


def merge(run: Path, out: Path | None = None, which: str = "best") -> Path:
    """Fold a run's best (or last) weights into its base and write a plain checkpoint (default: RUN/merged)."""
    run = Path(run).resolve()
    dest = Path(out).resolve() if out else run / "merged"
    check_output(dest, OutputKind.MERGED, inputs=(run,))     # before the model loads
    info = read_run(run)
    name = info.best.get("checkpoint") if which == "best" else info.last
    if not name or not (run / "checkpoints" / name / TRAINABLE).is_file():
        raise VitrineError(f"{run} has no saved checkpoint yet: train it (or --resume it) first")
    base = Path(info.base)
    if not (base / "config.json").is_file():
        raise VitrineError(f"the run's base checkpoint {base} is gone: put it back to merge")
    family = for_checkpoint(base)
    opts = FinetuneOptions.from_dict(info.options, device="cpu")
    model = prepare_model(base, family, opts)
    load_trainable(model, run / "checkpoints" / name / TRAINABLE)
    if opts.train == "lora":
        model = model.merge_and_unload()
    for p in model.parameters():
        p.requires_grad_(False)
    with atomic_folder(dest, OutputKind.MERGED, inputs=(run, base)) as tmp:
        model.save_pretrained(tmp)
        for f in base.iterdir():       # processor, tokenizer, chat template, generation config: the base's
            if f.is_file() and not f.name.endswith((".safetensors", ".bin")) and f.name not in (
                    "config.json", "model.safetensors.index.json", "vitrine-synthetic.json", MARKER):
                shutil.copy2(f, tmp / f.name)
        (tmp / "vitrine-finetune.json").write_text(json.dumps(
            {"run": str(run), "checkpoint": name, "base": str(base), "val_loss": info.best.get("val_loss")}))
    log.info("merged %s (%s) into %s", run.name, name, dest)
    return dest
