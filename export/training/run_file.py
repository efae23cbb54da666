"""A run's ``run.json``: base checkpoint, data, options, history (loss per epoch), best and last checkpoint;
rewritten atomically after every checkpoint."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.errors import VitrineError
from engine.files import write_text_atomic
from engine.text_files import check_fields, read_json

RUN_FILE = "run.json"
KIND = "vitrine-finetune"


@dataclass
class RunInfo:
    base: str
    family: str
    data: str
    options: dict
    kind: str = KIND
    status: str = "running"             # running, stopped (resumable), finished, early-stopped
    step: int = 0
    total_steps: int = 0
    examples: int = 0
    trainable_params: int = 0
    best: dict = field(default_factory=dict)       # {"step", "val_loss", "checkpoint"}
    last: str = ""                                 # the last checkpoint's folder name
    history: list = field(default_factory=list)    # [{"epoch", "step", "train_loss", "val_loss", "minutes"}]
    minutes: float = 0.0


def read_run(folder: Path) -> RunInfo:
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise VitrineError(f"{folder} is not a fine-tuning run (no {RUN_FILE}): give the --out folder of "
                           "`vitrine finetune`")
    fix = "give the --out folder of a `vitrine finetune` run, or start a new one"
    data = read_json(path, fix)
    if data.get("kind") != KIND:
        raise VitrineError(f"{path} is not a Vitrine fine-tuning run (no \"kind\": \"{KIND}\"): {fix}")
    return RunInfo(**check_fields(data, RunInfo, str(path), f"the run file is damaged: {fix}"))


def write_run(folder: Path, info: RunInfo) -> None:
    write_text_atomic(folder / RUN_FILE, json.dumps(asdict(info), indent=2))
