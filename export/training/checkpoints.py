"""A run's ``checkpoints/step-N/``: the trainable weights (safetensors), the optimizer, the data position; written
in a staging folder and renamed, so a crash or a full disk leaves the previous checkpoint whole. The best (lowest
validation loss) and the last are kept."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.errors import VitrineError, os_error_message
from engine.files import OutputKind, OutputState, atomic_folder, check_output
from engine.text_files import read_json
from export.training.model import trainable_state
from export.training.run_file import RunInfo, read_run

TRAINABLE = "trainable.safetensors"


def save_checkpoint(folder: Path, name: str, model, optimizer, state: dict) -> None:
    import errno

    import torch
    from safetensors.torch import save

    try:
        with atomic_folder(folder / "checkpoints" / name, OutputKind.TRAINING_CHECKPOINT) as staging:
            # every byte through Python's own file writes: a full disk is then OSError(ENOSPC) for both files
            # (given a path, torch.save reports it as a bare RuntimeError: "unexpected pos")
            with open(staging / TRAINABLE, "wb") as f:
                f.write(save(trainable_state(model)))
            with open(staging / "optimizer.pt", "wb") as f:
                torch.save(optimizer.state_dict(), f)
            (staging / "state.json").write_text(json.dumps(state), encoding="utf-8")
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise VitrineError(f"the disk is full: checkpoint {name} was not saved (the previous one is intact); "
                               f"free some space and continue with --resume") from None
        raise VitrineError(f"{os_error_message(e, f'saving checkpoint {name}')} (checkpoint not saved; the "
                           "previous one is intact)") from None


def read_state(checkpoint: Path) -> dict:
    state = read_json(checkpoint / "state.json", "the checkpoint is damaged: start a new run")
    if not all(isinstance(state.get(k), int) and not isinstance(state.get(k), bool) and state[k] >= 0
               for k in ("step", "since_best")):
        raise VitrineError(f"{checkpoint / 'state.json'}: \"step\" and \"since_best\" must be whole numbers: the "
                           "checkpoint is damaged: start a new run")
    return state


def prune(folder: Path, keep: set[str]) -> None:
    for d in (folder / "checkpoints").glob("step-*"):
        if d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


def check_out(out: Path, resume: bool) -> RunInfo | None:
    if resume:
        info = read_run(out)
        if not info.last:
            raise VitrineError(f"{out} has no checkpoint to resume from yet: start it again without --resume")
        return info
    if check_output(out, OutputKind.FINETUNE_RUN) is OutputState.OURS:      # a run is continued, never replaced
        raise VitrineError(f"{out} already holds a fine-tuning run: continue it with --resume, or choose another "
                           "--out")
    return None
